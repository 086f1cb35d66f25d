//! Key management: list, read, create, delete, rotate / config / trim, export, backup and
//! restore.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{B64, TransitKey, b64_field, key_path, load, new_key, new_version, save, str_field};
use crate::api::Reply;
use crate::error::{Error, Result};
use crate::util;
use crate::vault::{MountEntry, Unsealed, Vault};

/// `LIST keys`.
pub(super) async fn list_keys(u: &Unsealed, m: &MountEntry) -> Result<Reply> {
    let prefix = format!("{}policy/", m.data_prefix());
    let keys: Vec<String> = u
        .list(&prefix)
        .await?
        .into_iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    if keys.is_empty() {
        Err(Error::NotFound)
    } else {
        Ok(Reply::Data(json!({ "keys": keys })))
    }
}

/// `GET keys/:name`.
pub(super) async fn read_key(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
) -> Result<Reply> {
    let _g = vault.lock_key(&key_path(m, name)).await;
    load(u, m, name)
        .await?
        .map(|k| Reply::Data(k.json()))
        .ok_or(Error::NotFound)
}

/// `POST keys/:name`: create (an existing key is left alone).
pub(super) async fn create_key(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    let _g = vault.lock_key(&key_path(m, name)).await;
    let kind = match str_field(d, "type") {
        "" => "aes256-gcm96",
        k @ ("aes256-gcm96" | "ed25519") => k,
        other => {
            return Err(Error::bad(format!(
                "unsupported key type \"{other}\" (opshelf transit supports aes256-gcm96 and ed25519)"
            )));
        }
    };
    if load(u, m, name).await?.is_some() {
        return Ok(Reply::NoContent);
    }
    let k = new_key(name, kind, d);
    save(u, m, &k).await?;
    Ok(Reply::Data(k.json()))
}

/// `DELETE keys/:name` (only with `deletion_allowed`).
pub(super) async fn delete_key(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
) -> Result<Reply> {
    let _g = vault.lock_key(&key_path(m, name)).await;
    let Some(k) = load(u, m, name).await? else {
        return Ok(Reply::NoContent);
    };
    if !k.deletion_allowed {
        return Err(Error::bad("deletion is not allowed for this key"));
    }
    u.delete(&key_path(m, name)).await?;
    Ok(Reply::NoContent)
}

/// `POST keys/:name/<action>`: load the key under its lock, apply `change`, save it.
pub(super) async fn change_key(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    change: impl FnOnce(&mut TransitKey) -> Result<()>,
) -> Result<Reply> {
    let _g = vault.lock_key(&key_path(m, name)).await;
    let Some(mut k) = load(u, m, name).await? else {
        return Err(Error::bad("key not found"));
    };
    change(&mut k)?;
    save(u, m, &k).await?;
    Ok(Reply::Data(k.json()))
}

/// `keys/:name/rotate`.
pub(super) fn rotate_key(k: &mut TransitKey) -> Result<()> {
    k.latest += 1;
    k.versions.insert(k.latest, new_version());
    Ok(())
}

/// `keys/:name/config`.
pub(super) fn configure_key(k: &mut TransitKey, d: &Map<String, Value>) -> Result<()> {
    if let Some(b) = util::as_bool(d.get("deletion_allowed")) {
        k.deletion_allowed = b;
    }
    if let Some(b) = util::as_bool(d.get("exportable")) {
        if k.exportable && !b {
            return Err(Error::bad(
                "exportability cannot be disabled after enabling",
            ));
        }
        k.exportable = b;
    }
    if let Some(b) = util::as_bool(d.get("allow_plaintext_backup")) {
        k.allow_plaintext_backup = b;
    }
    if let Some(n) = util::as_i64(d.get("min_decryption_version")) {
        k.min_decryption_version = u32::try_from(n.max(1)).unwrap_or(1).min(k.latest);
    }
    if let Some(n) = util::as_i64(d.get("min_encryption_version")) {
        k.min_encryption_version = u32::try_from(n.max(0)).unwrap_or(0).min(k.latest);
    }
    if let Some(p) = d.get("auto_rotate_period").and_then(util::parse_duration) {
        k.auto_rotate_period = p;
    }
    Ok(())
}

/// `keys/:name/trim`.
pub(super) fn trim_key(k: &mut TransitKey, d: &Map<String, Value>) -> Result<()> {
    let min = util::as_i64(d.get("min_available_version"))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    if min == 0 {
        return Err(Error::bad("missing min_available_version"));
    }
    if min > k.min_decryption_version {
        return Err(Error::bad(
            "cannot set min_available_version higher than min_decryption_version",
        ));
    }
    k.versions.retain(|v, _| *v >= min);
    Ok(())
}

/// `GET export/{encryption-key,hmac-key}/:name[/:version]` (only exportable keys).
pub(super) async fn export_key(
    u: &Unsealed,
    m: &MountEntry,
    kind: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Reply> {
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::NotFound);
    };
    if !k.exportable {
        return Err(Error::bad("key is not exportable"));
    }
    let mut keys = Map::new();
    let wanted = version.and_then(|v| {
        if v == "latest" {
            Some(k.latest)
        } else {
            v.parse().ok()
        }
    });
    for (v, kv) in &k.versions {
        if wanted.is_some_and(|w| w != *v) {
            continue;
        }
        let material = match kind {
            "encryption-key" => kv.key.clone(),
            "hmac-key" => kv.hmac_key.clone(),
            other => return Err(Error::bad(format!("invalid export type: {other}"))),
        };
        keys.insert(v.to_string(), json!(material));
    }
    Ok(Reply::Data(
        json!({ "name": k.name, "type": k.kind, "keys": keys }),
    ))
}

/// `GET backup/:name` (only with `allow_plaintext_backup` and `exportable`).
pub(super) async fn backup_key(u: &Unsealed, m: &MountEntry, name: &str) -> Result<Reply> {
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::NotFound);
    };
    if !k.allow_plaintext_backup || !k.exportable {
        return Err(Error::ServerMsg(
            "plaintext backup is disallowed on the policy".to_owned(),
        ));
    }
    let raw = serde_json::to_vec(&k).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Reply::Data(json!({ "backup": B64.encode(raw) })))
}

/// `restore[/:name]` (an existing key only with `force`).
pub(super) async fn restore_key(
    u: &Unsealed,
    m: &MountEntry,
    name: Option<&str>,
    d: &Map<String, Value>,
) -> Result<Reply> {
    let raw = b64_field(d, "backup")?;
    let mut k: TransitKey =
        serde_json::from_slice(&raw).map_err(|_| Error::bad("invalid backup"))?;
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        n.clone_into(&mut k.name);
    }
    let force = util::as_bool(d.get("force")).unwrap_or(false);
    if !force && load(u, m, &k.name).await?.is_some() {
        return Err(Error::ServerMsg(format!(
            "key \"{}\" already exists",
            k.name
        )));
    }
    save(u, m, &k).await?;
    Ok(Reply::NoContent)
}
