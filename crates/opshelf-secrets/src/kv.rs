//! The KV secrets engines, version 1 and version 2, over the barrier.
//!
//! KV v2 keeps one metadata record per key (`<mount>/metadata/<path>`, the versions map
//! inside it) and one value per version (`<mount>/versions/<sha256(path)>/<n>`), so a read
//! is two cached barrier reads and a write is one transaction. Writers of one key are
//! serialised by the service's striped locks, which makes check-and-set exact.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::api::{Op, Reply};
use crate::error::{Error, Result};
use crate::util;
use crate::vault::{MountEntry, Unsealed, Vault};

const DEFAULT_MAX_VERSIONS: u64 = 10;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct VersionMeta {
    created: i64,
    /// nanoseconds; 0 = not deleted (may lie in the future with delete_version_after)
    deleted: i64,
    destroyed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeyMeta {
    created: i64,
    updated: i64,
    current_version: u64,
    oldest_version: u64,
    max_versions: u64,
    cas_required: bool,
    delete_version_after: i64,
    custom_metadata: Option<BTreeMap<String, String>>,
    versions: BTreeMap<u64, VersionMeta>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct MountConfig {
    max_versions: u64,
    cas_required: bool,
    delete_version_after: i64,
}

fn time_str(nanos: i64) -> String {
    if nanos == 0 {
        String::new()
    } else {
        util::rfc3339_nanos(i128::from(nanos))
    }
}

fn now() -> i64 {
    i64::try_from(util::now_nanos()).unwrap_or(i64::MAX)
}

impl VersionMeta {
    fn is_deleted(&self, now: i64) -> bool {
        self.deleted != 0 && self.deleted <= now
    }

    fn json(&self, version: u64, custom: &Option<BTreeMap<String, String>>, now: i64) -> Value {
        let deletion = if self.is_deleted(now) || self.deleted != 0 {
            time_str(self.deleted)
        } else {
            String::new()
        };
        json!({
            "created_time": time_str(self.created),
            "custom_metadata": custom,
            "deletion_time": deletion,
            "destroyed": self.destroyed,
            "version": version,
        })
    }
}

impl KeyMeta {
    fn json(&self) -> Value {
        let mut versions = Map::new();
        for (n, v) in &self.versions {
            versions.insert(
                n.to_string(),
                json!({
                    "created_time": time_str(v.created),
                    "deletion_time": time_str(v.deleted),
                    "destroyed": v.destroyed,
                }),
            );
        }
        json!({
            "cas_required": self.cas_required,
            "created_time": time_str(self.created),
            "current_metadata_version": 0,
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata,
            "delete_version_after": util::format_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": false,
            "oldest_version": self.oldest_version,
            "updated_time": time_str(self.updated),
            "versions": versions,
        })
    }
}

fn meta_key(m: &MountEntry, path: &str) -> String {
    format!("{}metadata/{path}", m.data_prefix())
}

fn version_prefix(m: &MountEntry, path: &str) -> String {
    let digest = Sha256::digest(path.as_bytes());
    format!("{}versions/{}/", m.data_prefix(), hex::encode(digest))
}

fn version_key(m: &MountEntry, path: &str, v: u64) -> String {
    format!("{}{v:020}", version_prefix(m, path))
}

fn config_key(m: &MountEntry) -> String {
    format!("{}config", m.data_prefix())
}

fn to_json_bytes<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(e.to_string()))
}

/// Apply an RFC 7386 merge patch.
#[must_use]
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// Direct children of `folder` among `keys` (already stripped of the common prefix):
/// leaves as-is, deeper paths as `name/`, de-duplicated and sorted.
#[must_use]
pub fn folder_children(keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        let child = match k.find('/') {
            Some(i) => k[..=i].to_owned(),
            None => k.clone(),
        };
        if child.is_empty() {
            continue;
        }
        if out.last() != Some(&child) && !out.contains(&child) {
            out.push(child);
        }
    }
    out.sort();
    out
}

fn list_reply(keys: &[String]) -> Reply {
    if keys.is_empty() {
        Reply::Err(Error::NotFound)
    } else {
        Reply::Data(json!({ "keys": keys }))
    }
}

// ---------------------------------------------------------------- KV v1

/// Serve a KV v1 request on `m` for `path` (relative to the mount).
pub async fn v1(
    u: &Unsealed,
    m: &MountEntry,
    op: Op,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let key = format!("{}{path}", m.data_prefix());
    match op {
        Op::Read => match u.get(&key).await? {
            None => Err(Error::NotFound),
            Some(bytes) => {
                let v: Value =
                    serde_json::from_slice(&bytes).map_err(|e| Error::Internal(e.to_string()))?;
                Ok(Reply::Data(v))
            }
        },
        Op::List => {
            let folder = if path.is_empty() || path.ends_with('/') {
                key.clone()
            } else {
                format!("{key}/")
            };
            let keys: Vec<String> = u
                .list(&folder)
                .await?
                .into_iter()
                .filter_map(|k| k.strip_prefix(&folder).map(str::to_owned))
                .collect();
            Ok(list_reply(&folder_children(&keys)))
        }
        Op::Create | Op::Update => {
            if path.is_empty() {
                return Err(Error::bad("missing path"));
            }
            u.put(&key, &to_json_bytes(&Value::Object(data.clone()))?)
                .await?;
            Ok(Reply::NoContent)
        }
        Op::Delete => {
            u.delete(&key).await?;
            Ok(Reply::NoContent)
        }
        Op::Patch => Err(Error::UnsupportedOperation),
    }
}

/// Whether a KV v1 key exists (for create vs update in ACL checks).
pub async fn v1_exists(u: &Unsealed, m: &MountEntry, path: &str) -> Result<bool> {
    Ok(u.get(&format!("{}{path}", m.data_prefix()))
        .await?
        .is_some())
}

/// Whether a KV v2 key has a live current version (create vs update).
pub async fn v2_exists(u: &Unsealed, m: &MountEntry, rest: &str) -> Result<bool> {
    let Some(path) = rest.strip_prefix("data/") else {
        return Ok(true);
    };
    let meta: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    Ok(meta.is_some_and(|k| k.current_version > 0))
}

// ---------------------------------------------------------------- KV v2

async fn mount_config(u: &Unsealed, m: &MountEntry) -> Result<MountConfig> {
    Ok(u.get_json(&config_key(m)).await?.unwrap_or_default())
}

fn effective_max(meta: &KeyMeta, cfg: &MountConfig) -> u64 {
    if meta.max_versions > 0 {
        meta.max_versions
    } else if cfg.max_versions > 0 {
        cfg.max_versions
    } else {
        DEFAULT_MAX_VERSIONS
    }
}

/// Serve a KV v2 request on `m`; `rest` is the path relative to the mount.
pub async fn v2(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    op: Op,
    rest: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let (section, path) = match rest.split_once('/') {
        Some((s, p)) => (s, p),
        None => (rest, ""),
    };
    match (section, op) {
        ("config", Op::Read) => read_config(u, m).await,
        ("config", Op::Create | Op::Update) => write_config(vault, u, m, data).await,
        ("data", _) if path.is_empty() => Err(Error::UnsupportedOperation),
        ("data", Op::Read) => read_data(u, m, path, data).await,
        ("data", Op::Create | Op::Update) => write_data(vault, u, m, path, data).await,
        ("data", Op::Patch) => patch_data(vault, u, m, path, data).await,
        ("data", Op::Delete) => delete_current(vault, u, m, path).await,
        ("delete" | "undelete" | "destroy", Op::Create | Op::Update) => {
            change_versions(vault, u, m, section, path, data).await
        }
        ("metadata", Op::List) => list_metadata(u, m, path).await,
        ("metadata", Op::Read) => read_metadata(u, m, path).await,
        ("metadata", Op::Create | Op::Update | Op::Patch) => {
            write_metadata(vault, u, m, op, path, data).await
        }
        ("metadata", Op::Delete) => delete_metadata(vault, u, m, path).await,
        ("subkeys", Op::Read) => read_subkeys(u, m, path, data).await,
        ("config" | "delete" | "undelete" | "destroy" | "subkeys", _) => {
            Err(Error::UnsupportedOperation)
        }
        _ => Err(Error::NotFoundMsg(format!(
            "no handler for route \"{}{rest}\". route entry not found.",
            m.path
        ))),
    }
}

/// `GET config`.
async fn read_config(u: &Unsealed, m: &MountEntry) -> Result<Reply> {
    let cfg = mount_config(u, m).await?;
    Ok(Reply::Data(json!({
        "cas_required": cfg.cas_required,
        "delete_version_after": util::format_duration(cfg.delete_version_after),
        "max_versions": cfg.max_versions,
    })))
}

/// `POST config`: mount-wide `max_versions`, `cas_required`, `delete_version_after`.
async fn write_config(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let _g = vault.lock_key(&config_key(m)).await;
    let mut cfg = mount_config(u, m).await?;
    if let Some(n) = util::as_i64(data.get("max_versions")) {
        cfg.max_versions =
            u64::try_from(n).map_err(|_| Error::bad("max_versions must be positive"))?;
    }
    if let Some(b) = util::as_bool(data.get("cas_required")) {
        cfg.cas_required = b;
    }
    if let Some(v) = data.get("delete_version_after") {
        cfg.delete_version_after = util::parse_duration(v)
            .ok_or_else(|| Error::bad("invalid delete_version_after"))?
            .max(0);
    }
    u.put_json(&config_key(m), &cfg).await?;
    Ok(Reply::NoContent)
}

/// `POST data/:path`: a new version (check-and-set with `options.cas`).
async fn write_data(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let Some(Value::Object(values)) = data.get("data") else {
        return Err(Error::bad("no data provided"));
    };
    let cas = data.get("options").and_then(|o| util::as_i64(o.get("cas")));
    let _g = vault.lock_key(&meta_key(m, path)).await;
    write_version(u, m, path, Value::Object(values.clone()), cas).await
}

/// `PATCH data/:path`: a JSON merge patch (RFC 7386) of the current version, as a new version.
async fn patch_data(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let Some(patch @ Value::Object(_)) = data.get("data") else {
        return Err(Error::bad("no data provided"));
    };
    let cas = data.get("options").and_then(|o| util::as_i64(o.get("cas")));
    let _g = vault.lock_key(&meta_key(m, path)).await;
    let meta: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    let Some(meta) = meta else {
        return Err(Error::NotFound);
    };
    let cur = meta.current_version;
    let live = meta
        .versions
        .get(&cur)
        .is_some_and(|v| !v.destroyed && !v.is_deleted(now()));
    if !live {
        return Err(Error::NotFound);
    }
    let current: Value = match u.get(&version_key(m, path, cur)).await? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| Error::Internal(e.to_string()))?,
        None => return Err(Error::NotFound),
    };
    let merged = merge_patch(&current, patch);
    write_version(
        u,
        m,
        path,
        merged,
        cas.or(Some(i64::try_from(cur).unwrap_or(0))),
    )
    .await
}

/// `DELETE data/:path`: soft-delete the current version.
async fn delete_current(vault: &Vault, u: &Unsealed, m: &MountEntry, path: &str) -> Result<Reply> {
    let _g = vault.lock_key(&meta_key(m, path)).await;
    let meta: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    let Some(mut meta) = meta else {
        return Ok(Reply::NoContent);
    };
    let cur = meta.current_version;
    let t = now();
    if let Some(v) = meta.versions.get_mut(&cur)
        && !v.is_deleted(t)
        && !v.destroyed
    {
        v.deleted = t;
    }
    u.put_json(&meta_key(m, path), &meta).await?;
    Ok(Reply::NoContent)
}

/// `POST {delete,undelete,destroy}/:path` with `versions`: soft-delete, restore or destroy them.
async fn change_versions(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    section: &str,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    if path.is_empty() {
        return Err(Error::UnsupportedOperation);
    }
    let versions = util::as_int_list(data.get("versions")).unwrap_or_default();
    if versions.is_empty() {
        return Err(Error::bad("no version number provided"));
    }
    let _g = vault.lock_key(&meta_key(m, path)).await;
    let meta: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    let Some(mut meta) = meta else {
        return Ok(Reply::NoContent);
    };
    let t = now();
    let mut drop_keys = Vec::new();
    for n in versions {
        let Ok(n) = u64::try_from(n) else { continue };
        let Some(v) = meta.versions.get_mut(&n) else {
            continue;
        };
        match section {
            "delete" => {
                if !v.is_deleted(t) && !v.destroyed {
                    v.deleted = t;
                }
            }
            "undelete" => {
                if !v.destroyed {
                    v.deleted = 0;
                }
            }
            _ => {
                v.destroyed = true;
                drop_keys.push(version_key(m, path, n));
            }
        }
    }
    let mj = to_json_bytes(&meta)?;
    u.write_batch(&[(meta_key(m, path), mj)], &drop_keys)
        .await?;
    Ok(Reply::NoContent)
}

/// `LIST metadata/:path`.
async fn list_metadata(u: &Unsealed, m: &MountEntry, path: &str) -> Result<Reply> {
    let folder = if path.is_empty() || path.ends_with('/') {
        meta_key(m, path)
    } else {
        format!("{}/", meta_key(m, path))
    };
    let keys: Vec<String> = u
        .list(&folder)
        .await?
        .into_iter()
        .filter_map(|k| k.strip_prefix(&folder).map(str::to_owned))
        .collect();
    Ok(list_reply(&folder_children(&keys)))
}

/// `GET metadata/:path`.
async fn read_metadata(u: &Unsealed, m: &MountEntry, path: &str) -> Result<Reply> {
    if path.is_empty() {
        return Err(Error::UnsupportedOperation);
    }
    let meta: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    match meta {
        Some(k) => Ok(Reply::Data(k.json())),
        None => Err(Error::NotFound),
    }
}

/// `POST` / `PATCH metadata/:path`: key settings and custom metadata (a lowered
/// `max_versions` prunes at once).
async fn write_metadata(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    op: Op,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    if path.is_empty() {
        return Err(Error::UnsupportedOperation);
    }
    let _g = vault.lock_key(&meta_key(m, path)).await;
    let existing: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    if op == Op::Patch && existing.is_none() {
        return Err(Error::NotFound);
    }
    let t = now();
    let mut meta = existing.unwrap_or_else(|| KeyMeta {
        created: t,
        ..KeyMeta::default()
    });
    meta.updated = t;
    if let Some(n) = util::as_i64(data.get("max_versions")) {
        meta.max_versions =
            u64::try_from(n).map_err(|_| Error::bad("max_versions must be positive"))?;
    }
    if let Some(b) = util::as_bool(data.get("cas_required")) {
        meta.cas_required = b;
    }
    if let Some(v) = data.get("delete_version_after") {
        meta.delete_version_after = util::parse_duration(v)
            .ok_or_else(|| Error::bad("invalid delete_version_after"))?
            .max(0);
    }
    match data.get("custom_metadata") {
        Some(Value::Object(cm)) => {
            let mut map: BTreeMap<String, String> = if op == Op::Patch {
                meta.custom_metadata.clone().unwrap_or_default()
            } else {
                BTreeMap::new()
            };
            for (k, v) in cm {
                match v {
                    Value::Null => {
                        map.remove(k);
                    }
                    Value::String(s) => {
                        map.insert(k.clone(), s.clone());
                    }
                    other => {
                        map.insert(k.clone(), other.to_string());
                    }
                }
            }
            meta.custom_metadata = Some(map);
        }
        Some(Value::Null) if op != Op::Patch => meta.custom_metadata = None,
        _ => {}
    }
    // apply a lowered max_versions now
    let cfg = mount_config(u, m).await?;
    let max = effective_max(&meta, &cfg);
    let drops = prune(&mut meta, max, m, path);
    let mj = to_json_bytes(&meta)?;
    u.write_batch(&[(meta_key(m, path), mj)], &drops).await?;
    Ok(Reply::NoContent)
}

/// `DELETE metadata/:path`: the key with every version.
async fn delete_metadata(vault: &Vault, u: &Unsealed, m: &MountEntry, path: &str) -> Result<Reply> {
    if path.is_empty() {
        return Err(Error::UnsupportedOperation);
    }
    let _g = vault.lock_key(&meta_key(m, path)).await;
    let mut deletes = u.list(&version_prefix(m, path)).await?;
    deletes.push(meta_key(m, path));
    u.write_batch(&[], &deletes).await?;
    Ok(Reply::NoContent)
}

/// `GET subkeys/:path` (`depth` limits nesting; 0 = all).
async fn read_subkeys(
    u: &Unsealed,
    m: &MountEntry,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let Reply::DataStatus(StatusCode::OK, full) = read_data(u, m, path, data).await? else {
        return Err(Error::NotFound);
    };
    let depth = util::as_i64(data.get("depth")).unwrap_or(0);
    let sub = subkeys(&full["data"], depth, 1);
    Ok(Reply::Data(
        json!({ "subkeys": sub, "metadata": full["metadata"] }),
    ))
}

fn subkeys(v: &Value, max_depth: i64, depth: i64) -> Value {
    let Value::Object(map) = v else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (k, child) in map {
        let nested = if child.is_object() && (max_depth == 0 || depth < max_depth) {
            subkeys(child, max_depth, depth + 1)
        } else {
            Value::Null
        };
        out.insert(k.clone(), nested);
    }
    Value::Object(out)
}

/// Remove the oldest versions beyond `max`; returns the storage keys to delete.
fn prune(meta: &mut KeyMeta, max: u64, m: &MountEntry, path: &str) -> Vec<String> {
    let mut drops = Vec::new();
    while meta.versions.len() as u64 > max {
        let Some((&oldest, _)) = meta.versions.iter().next() else {
            break;
        };
        meta.versions.remove(&oldest);
        drops.push(version_key(m, path, oldest));
    }
    if !drops.is_empty() {
        meta.oldest_version = meta.versions.keys().next().copied().unwrap_or(0);
    }
    drops
}

async fn read_data(
    u: &Unsealed,
    m: &MountEntry,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let meta: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    let Some(meta) = meta else {
        return Err(Error::NotFound);
    };
    let requested = util::as_i64(data.get("version")).unwrap_or(0);
    let n = if requested <= 0 {
        meta.current_version
    } else {
        u64::try_from(requested).unwrap_or(0)
    };
    let Some(vm) = meta.versions.get(&n) else {
        return Err(Error::NotFound);
    };
    let t = now();
    let md = vm.json(n, &meta.custom_metadata, t);
    if vm.destroyed || vm.is_deleted(t) {
        return Ok(Reply::DataStatus(
            StatusCode::NOT_FOUND,
            json!({ "data": null, "metadata": md }),
        ));
    }
    let value: Value = match u.get(&version_key(m, path, n)).await? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| Error::Internal(e.to_string()))?,
        None => Value::Null,
    };
    Ok(Reply::DataStatus(
        StatusCode::OK,
        json!({ "data": value, "metadata": md }),
    ))
}

async fn write_version(
    u: &Unsealed,
    m: &MountEntry,
    path: &str,
    value: Value,
    cas: Option<i64>,
) -> Result<Reply> {
    let cfg = mount_config(u, m).await?;
    let existing: Option<KeyMeta> = u.get_json(&meta_key(m, path)).await?;
    let t = now();
    let mut meta = existing.unwrap_or_else(|| KeyMeta {
        created: t,
        ..KeyMeta::default()
    });
    if (meta.cas_required || cfg.cas_required) && cas.is_none() {
        return Err(Error::bad("check-and-set parameter required for this call"));
    }
    if let Some(c) = cas
        && u64::try_from(c).ok() != Some(meta.current_version)
    {
        return Err(Error::bad(
            "check-and-set parameter did not match the current version",
        ));
    }
    let n = meta.current_version + 1;
    let dva = if meta.delete_version_after > 0 {
        meta.delete_version_after
    } else {
        cfg.delete_version_after
    };
    let deleted = if dva > 0 {
        t.saturating_add(dva.saturating_mul(1_000_000_000))
    } else {
        0
    };
    let vm = VersionMeta {
        created: t,
        deleted,
        destroyed: false,
    };
    meta.versions.insert(n, vm.clone());
    meta.current_version = n;
    meta.updated = t;
    let max = effective_max(&meta, &cfg);
    let drops = prune(&mut meta, max, m, path);
    let puts = vec![
        (version_key(m, path, n), to_json_bytes(&value)?),
        (meta_key(m, path), to_json_bytes(&meta)?),
    ];
    u.write_batch(&puts, &drops).await?;
    Ok(Reply::Data(vm.json(n, &meta.custom_metadata, t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let p = json!({"a": "z", "c": {"f": null}});
        assert_eq!(merge_patch(&t, &p), json!({"a": "z", "c": {"d": "e"}}));
        assert_eq!(
            merge_patch(&json!({"a": 1}), &json!({"b": [1]})),
            json!({"a": 1, "b": [1]})
        );
    }

    #[test]
    fn folders_end_in_slash() {
        let keys: Vec<String> = ["a", "b/c", "b/d/e", "c/", "a2"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(folder_children(&keys), vec!["a", "a2", "b/", "c/"]);
    }

    #[test]
    fn subkeys_respects_depth() {
        let v = json!({"a": {"b": {"c": 1}}, "d": 2});
        assert_eq!(
            subkeys(&v, 0, 1),
            json!({"a": {"b": {"c": null}}, "d": null})
        );
        assert_eq!(subkeys(&v, 1, 1), json!({"a": null, "d": null}));
    }
}
