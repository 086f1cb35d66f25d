//! Vault's `sys/*` endpoints: health, seal and init, mounts and auth methods, policies,
//! capabilities, audit devices.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::{Ctx, Op, Reply, Req, wrapping};
use crate::error::{Error, Result};
use crate::policy;
use crate::tokens;
use crate::vault::{MountEntry, Unsealed, VERSION, Vault, read, write};
use crate::{audit, util};

// ---------------------------------------------------------------- unauthenticated sys

pub(super) async fn health(vault: &Vault, req: &Req) -> Result<Reply> {
    if req.op != Op::Read {
        return Err(Error::UnsupportedOperation);
    }
    let code = |name: &str, default: u16| -> Result<StatusCode> {
        match req.data.get(name).and_then(Value::as_str) {
            None => Ok(StatusCode::from_u16(default).unwrap_or(StatusCode::OK)),
            Some(s) => s
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| Error::bad(format!("bad code: {s}"))),
        }
    };
    let initialized = vault.seal_config().await?.is_some();
    let sealed = vault.unsealed().is_none();
    let now = util::now_secs();
    let (status, body) = if !initialized {
        (
            code("uninitcode", 501)?,
            json!({"initialized": false, "sealed": true, "standby": true,
                "replication_performance_mode": "unknown", "replication_dr_mode": "unknown",
                "server_time_utc": now, "version": VERSION}),
        )
    } else if sealed {
        (
            code("sealedcode", 503)?,
            json!({"initialized": true, "sealed": true, "standby": true,
                "replication_performance_mode": "unknown", "replication_dr_mode": "unknown",
                "server_time_utc": now, "version": VERSION}),
        )
    } else {
        let (name, id) = vault.cluster();
        // validate the other codes even though this node is never a standby
        for c in [
            "standbycode",
            "drsecondarycode",
            "performancestandbycode",
            "removedcode",
        ] {
            code(c, 200)?;
        }
        (
            code("activecode", 200)?,
            json!({"initialized": true, "sealed": false, "standby": false,
                "replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
                "server_time_utc": now, "version": VERSION, "cluster_name": name, "cluster_id": id}),
        )
    };
    Ok(Reply::Flat(status, body))
}

async fn seal_status_json(vault: &Vault) -> Result<Value> {
    let cfg = vault.seal_config().await?;
    let sealed = vault.unsealed().is_none();
    let (progress, nonce) = vault.progress();
    let mut body = json!({
        "type": "shamir",
        "initialized": cfg.is_some(),
        "sealed": sealed,
        "t": cfg.map_or(0, |c| c.secret_threshold),
        "n": cfg.map_or(0, |c| c.secret_shares),
        "progress": if sealed { progress } else { 0 },
        "nonce": if sealed { nonce } else { String::new() },
        "recovery_seal": false,
        "version": VERSION,
        "build_date": "",
        "migration": false,
        "storage_type": vault.storage.inner().backend(),
    });
    if !sealed {
        let (name, id) = vault.cluster();
        body["cluster_name"] = json!(name);
        body["cluster_id"] = json!(id);
    }
    Ok(body)
}

pub(super) async fn seal_status(vault: &Vault) -> Result<Reply> {
    Ok(Reply::Flat(StatusCode::OK, seal_status_json(vault).await?))
}

pub(super) async fn init(vault: &Vault, req: &Req) -> Result<Reply> {
    match req.op {
        Op::Read => {
            let initialized = vault.seal_config().await?.is_some();
            Ok(Reply::Flat(
                StatusCode::OK,
                json!({ "initialized": initialized }),
            ))
        }
        Op::Update => {
            let shares = util::as_i64(req.data.get("secret_shares")).unwrap_or(0);
            let threshold = util::as_i64(req.data.get("secret_threshold")).unwrap_or(0);
            if req
                .data
                .get("pgp_keys")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                return Err(Error::bad("pgp_keys are not supported"));
            }
            let (Ok(shares), Ok(threshold)) = (usize::try_from(shares), usize::try_from(threshold))
            else {
                return Err(Error::bad(
                    "invalid seal configuration: shares and threshold must be positive",
                ));
            };
            let out = vault.initialize(shares, threshold).await?;
            let keys: Vec<String> = out.keys.iter().map(hex::encode).collect();
            let keys_b64: Vec<String> = out.keys.iter().map(|k| B64.encode(k.as_slice())).collect();
            Ok(Reply::Flat(
                StatusCode::OK,
                json!({ "keys": keys, "keys_base64": keys_b64, "root_token": out.root_token.as_str() }),
            ))
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

pub(super) async fn unseal(vault: &Vault, req: &Req) -> Result<Reply> {
    if vault.seal_config().await?.is_none() {
        return Err(Error::bad("Vault is not initialized"));
    }
    if util::as_bool(req.data.get("reset")) == Some(true) {
        vault.reset_progress();
    } else {
        let Some(key) = req.data.get("key").and_then(Value::as_str) else {
            return Err(Error::bad(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            ));
        };
        vault.submit_share(key.trim()).await?;
    }
    seal_status(vault).await
}

pub(super) fn leader() -> Reply {
    Reply::Flat(
        StatusCode::OK,
        json!({
            "ha_enabled": false,
            "is_self": false,
            "active_time": "0001-01-01T00:00:00Z",
            "leader_address": "",
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
        }),
    )
}

// ---------------------------------------------------------------- authenticated sys

pub(super) async fn sys(c: &Ctx<'_>, rest: &str) -> Result<Reply> {
    let op = c.op;
    let is_write = matches!(op, Op::Create | Op::Update);
    match rest {
        "seal" if is_write => {
            c.vault.seal();
            return Ok(Reply::NoContent);
        }
        "key-status" if op == Op::Read => {
            let (term, installed) = c.u.key_status();
            return Ok(Reply::DataAndTop(
                json!({ "term": term, "install_time": installed, "encryptions": 0 }),
            ));
        }
        "rotate" | "rotate/keyring" if is_write => {
            c.u.rotate().await?;
            return Ok(Reply::NoContent);
        }
        "mounts" if op == Op::Read => {
            let mut out = Map::new();
            for m in read(&c.u.mounts).iter() {
                out.insert(m.path.clone(), mount_json(c.vault, m));
            }
            return Ok(Reply::DataAndTop(Value::Object(out)));
        }
        "auth" if op == Op::Read => {
            let mut out = Map::new();
            for m in read(&c.u.auth_mounts).iter() {
                out.insert(m.path.clone(), mount_json(c.vault, m));
            }
            return Ok(Reply::DataAndTop(Value::Object(out)));
        }
        "policy" | "policies/acl" if matches!(op, Op::Read | Op::List) => {
            let names = c.u.policy_names().await?;
            return Ok(if rest == "policy" {
                Reply::DataAndTop(json!({ "policies": names, "keys": names }))
            } else {
                Reply::Data(json!({ "keys": names }))
            });
        }
        "capabilities-self" | "capabilities" | "capabilities-accessor" if is_write => {
            return capabilities(c, rest).await;
        }
        "remount" | "mounts/remount" if is_write => return remount(c).await,
        "audit" if op == Op::Read => {
            let mut out = Map::new();
            for d in read(&c.u.audit).iter() {
                out.insert(d.config.path.clone(), d.config.to_json());
            }
            return Ok(Reply::DataAndTop(Value::Object(out)));
        }
        // Vault's count of the token store (`countActiveTokens`: every stored id).
        "internal/counters/tokens" if op == Op::Read => {
            let total = tokens::count(c.u).await?;
            return Ok(Reply::Data(
                json!({ "counters": { "service_tokens": { "total": total } } }),
            ));
        }
        "wrapping/unwrap" | "wrapping/lookup" if is_write => {
            return wrapping(c, rest.trim_start_matches("wrapping/")).await;
        }
        "internal/ui/mounts" if op == Op::Read => {
            let mut secret = Map::new();
            for m in read(&c.u.mounts).iter() {
                secret.insert(m.path.clone(), mount_json(c.vault, m));
            }
            let mut auth = Map::new();
            for m in read(&c.u.auth_mounts).iter() {
                auth.insert(m.path.clone(), mount_json(c.vault, m));
            }
            return Ok(Reply::Data(json!({ "secret": secret, "auth": auth })));
        }
        _ => {}
    }
    if let Some(p) = rest.strip_prefix("internal/ui/mounts/") {
        return ui_mount(c, p);
    }
    if let Some(p) = rest.strip_prefix("mounts/") {
        return mounts(c, p, false).await;
    }
    if let Some(p) = rest.strip_prefix("audit/") {
        return audit_device(c, p).await;
    }
    if let Some(p) = rest.strip_prefix("audit-hash/") {
        if !is_write {
            return Err(Error::UnsupportedOperation);
        }
        let path = format!("{}/", p.trim_matches('/'));
        let input = c.data.get("input").and_then(Value::as_str).unwrap_or("");
        let dev = read(&c.u.audit)
            .iter()
            .find(|d| d.config.path == path)
            .cloned();
        let Some(dev) = dev else {
            return Err(Error::bad("unknown audit backend"));
        };
        return Ok(Reply::DataAndTop(json!({ "hash": dev.hash(input) })));
    }
    if let Some(p) = rest.strip_prefix("auth/") {
        return mounts(c, p, true).await;
    }
    if let Some(name) = rest.strip_prefix("policy/") {
        return policy_crud(c, name, true).await;
    }
    if let Some(name) = rest.strip_prefix("policies/acl/") {
        return policy_crud(c, name, false).await;
    }
    Err(Error::NotFoundMsg(format!(
        "no handler for route \"sys/{rest}\". route entry not found."
    )))
}

async fn audit_device(c: &Ctx<'_>, p: &str) -> Result<Reply> {
    let path = format!("{}/", p.trim_matches('/'));
    if path == "/" {
        return Err(Error::bad("path cannot be empty"));
    }
    match c.op {
        Op::Create | Op::Update => {
            let kind = c.data.get("type").and_then(Value::as_str).unwrap_or("");
            if kind != "file" {
                return Err(Error::bad(format!("unknown backend type: \"{kind}\"")));
            }
            let opts = c.data.get("options");
            let file_path = opts
                .and_then(|o| o.get("file_path").or_else(|| o.get("path")))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::bad("file_path is required"))?;
            if file_path == "stdout" || file_path == "discard" {
                return Err(Error::bad(
                    "only file paths are supported by opshelf's file audit device",
                ));
            }
            if read(&c.u.audit).iter().any(|d| d.config.path == path) {
                return Err(Error::bad(format!("path already in use: {path}")));
            }
            let config = audit::DeviceConfig {
                path: path.clone(),
                kind: "file".to_owned(),
                description: c
                    .data
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                file_path: file_path.to_owned(),
                salt: opshelf_core::token::new_salt(),
                local: util::as_bool(c.data.get("local")).unwrap_or(false),
            };
            let dev = audit::Device::open(config).map_err(|e| {
                Error::bad(format!(
                    "sanity check failed; unable to open \"{file_path}\" for writing: {e}"
                ))
            })?;
            write(&c.u.audit).push(Arc::new(dev));
            save_audit(c.u).await?;
            Ok(Reply::NoContent)
        }
        Op::Delete => {
            write(&c.u.audit).retain(|d| d.config.path != path);
            save_audit(c.u).await?;
            Ok(Reply::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn save_audit(u: &Unsealed) -> Result<()> {
    let configs: Vec<audit::DeviceConfig> = read(&u.audit)
        .iter()
        .filter(|d| d.config.path != "opshelf-config/")
        .map(|d| d.config.clone())
        .collect();
    u.put_json(crate::vault::AUDIT, &configs).await
}

fn mount_json(vault: &Vault, m: &MountEntry) -> Value {
    let mut v = m.to_json();
    let _ = vault;
    if m.kind == "system" || m.kind == "identity" || m.kind == "cubbyhole" || m.kind == "token" {
        v["options"] = Value::Null;
    }
    v
}

fn ui_mount(c: &Ctx<'_>, path: &str) -> Result<Reply> {
    let Some(m) = c.u.mount_for(path) else {
        return Err(Error::bad(format!("no mount for path \"{path}\"")));
    };
    let mut v = mount_json(c.vault, &m);
    v["path"] = json!(m.path);
    Ok(Reply::Data(v))
}

fn mount_options(data: &Map<String, Value>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(Value::Object(o)) = data.get("options") {
        for (k, v) in o {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}

fn ttl_field(cfg: Option<&Value>, name: &str) -> Result<Option<i64>> {
    let Some(v) = cfg.and_then(|c| c.get(name)) else {
        return Ok(None);
    };
    if v.as_str() == Some("system") {
        return Ok(Some(0));
    }
    util::parse_duration(v)
        .map(Some)
        .ok_or_else(|| Error::bad(format!("invalid {name}")))
}

async fn mounts(c: &Ctx<'_>, p: &str, auth: bool) -> Result<Reply> {
    let (mount_path, tune) = match p.strip_suffix("/tune") {
        Some(base) => (base, true),
        None => (p, false),
    };
    let mount_path = format!("{}/", mount_path.trim_matches('/'));
    if mount_path == "/" {
        return Err(Error::bad("path cannot be empty"));
    }
    let table = if auth { &c.u.auth_mounts } else { &c.u.mounts };
    let defaults = (c.vault.default_ttl(), c.vault.max_ttl());
    let find = |t: &Vec<MountEntry>| t.iter().find(|m| m.path == mount_path).cloned();
    if tune {
        let Some(mut m) = find(&read(table)) else {
            return Err(Error::bad(format!(
                "cannot fetch sysview for path \"{mount_path}\""
            )));
        };
        return match c.op {
            Op::Read => Ok(Reply::DataAndTop(tune_json(&m, defaults))),
            Op::Create | Op::Update => {
                let cfg = Value::Object(c.data.clone());
                if let Some(t) = ttl_field(Some(&cfg), "default_lease_ttl")? {
                    m.default_lease_ttl = t;
                }
                if let Some(t) = ttl_field(Some(&cfg), "max_lease_ttl")? {
                    m.max_lease_ttl = t;
                }
                if let Some(d) = c.data.get("description").and_then(Value::as_str) {
                    d.clone_into(&mut m.description);
                }
                let opts = mount_options(c.data);
                if !opts.is_empty() {
                    for (k, v) in opts {
                        m.options.insert(k, v);
                    }
                }
                {
                    let mut t = write(table);
                    if let Some(slot) = t.iter_mut().find(|x| x.path == mount_path) {
                        *slot = m;
                    }
                }
                if auth {
                    c.u.save_auth_mounts().await?;
                } else {
                    c.u.save_mounts().await?;
                }
                Ok(Reply::NoContent)
            }
            _ => Err(Error::UnsupportedOperation),
        };
    }
    match c.op {
        Op::Read => match find(&read(table)) {
            Some(m) => Ok(Reply::DataAndTop(mount_json(c.vault, &m))),
            None => Err(Error::bad(format!(
                "No secret engine mount at {mount_path}"
            ))),
        },
        Op::Create | Op::Update => {
            let mut kind = c
                .data
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let mut options = mount_options(c.data);
            if kind == "generic" {
                // Vault's old name for KV version 1
                kind = "kv".to_owned();
            }
            if kind == "kv-v2" {
                kind = "kv".to_owned();
                options.insert("version".to_owned(), "2".to_owned());
            }
            if kind == "kv" && !options.contains_key("version") {
                options.insert("version".to_owned(), "1".to_owned());
            }
            let supported: &[&str] = if auth {
                &["approle"]
            } else {
                &["kv", "transit"]
            };
            if !supported.contains(&kind.as_str()) {
                return Err(Error::bad(format!(
                    "plugin not found in the catalog: {kind}"
                )));
            }
            let reserved = ["sys/", "auth/", "cubbyhole/", "identity/", "token/"];
            if !auth && reserved.iter().any(|r| mount_path.starts_with(r))
                || auth && mount_path == "token/"
            {
                return Err(Error::bad(format!(
                    "cannot mount at reserved path \"{mount_path}\""
                )));
            }
            let description = c
                .data
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            let mut m = MountEntry::new(&mount_path, &kind, description, options);
            let cfg = c.data.get("config");
            if let Some(t) = ttl_field(cfg, "default_lease_ttl")? {
                m.default_lease_ttl = t;
            }
            if let Some(t) = ttl_field(cfg, "max_lease_ttl")? {
                m.max_lease_ttl = t;
            }
            m.local = util::as_bool(c.data.get("local")).unwrap_or(false);
            m.seal_wrap = util::as_bool(c.data.get("seal_wrap")).unwrap_or(false);
            {
                let mut t = write(table);
                if t.iter()
                    .any(|x| x.path.starts_with(&mount_path) || mount_path.starts_with(&x.path))
                {
                    return Err(Error::bad(format!(
                        "path is already in use at {mount_path}"
                    )));
                }
                t.push(m);
            }
            if auth {
                c.u.save_auth_mounts().await?;
            } else {
                c.u.save_mounts().await?;
            }
            Ok(Reply::NoContent)
        }
        Op::Delete => {
            let removed = {
                let mut t = write(table);
                let before = t.len();
                let found = t.iter().find(|x| x.path == mount_path).cloned();
                if found.as_ref().is_some_and(|m| {
                    ["system", "identity", "cubbyhole", "token"].contains(&m.kind.as_str())
                }) {
                    return Err(Error::bad(format!("cannot unmount \"{mount_path}\"")));
                }
                t.retain(|x| x.path != mount_path);
                if t.len() == before { None } else { found }
            };
            if let Some(m) = removed {
                if auth {
                    c.u.save_auth_mounts().await?;
                } else {
                    c.u.save_mounts().await?;
                }
                c.u.delete_prefix(&m.data_prefix()).await?;
            }
            Ok(Reply::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

fn tune_json(m: &MountEntry, (default_ttl, max_ttl): (i64, i64)) -> Value {
    let mut v = json!({
        "default_lease_ttl": if m.default_lease_ttl > 0 { m.default_lease_ttl } else { default_ttl },
        "max_lease_ttl": if m.max_lease_ttl > 0 { m.max_lease_ttl } else { max_ttl },
        "force_no_cache": false,
        "description": m.description,
    });
    if !m.options.is_empty() {
        v["options"] = json!(m.options);
    }
    v
}

async fn remount(c: &Ctx<'_>) -> Result<Reply> {
    let from = c
        .data
        .get("from")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_matches('/');
    let to = c
        .data
        .get("to")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_matches('/');
    if from.is_empty() || to.is_empty() {
        return Err(Error::bad("both 'from' and 'to' must be specified"));
    }
    let (from, to) = (format!("{from}/"), format!("{to}/"));
    {
        let mut t = write(&c.u.mounts);
        if t.iter().any(|m| m.path == to) {
            return Err(Error::bad(format!("path already in use at \"{to}\"")));
        }
        let Some(m) = t.iter_mut().find(|m| m.path == from) else {
            return Err(Error::bad(format!("no matching mount at \"{from}\"")));
        };
        if ["system", "identity", "cubbyhole"].contains(&m.kind.as_str()) {
            return Err(Error::bad(format!("cannot remount \"{from}\"")));
        }
        m.path = to;
    }
    c.u.save_mounts().await?;
    Ok(Reply::DataAndTop(
        json!({ "migration_id": uuid::Uuid::new_v4().to_string() }),
    ))
}

async fn policy_crud(c: &Ctx<'_>, name: &str, legacy: bool) -> Result<Reply> {
    let name = name.trim().to_lowercase();
    if name.is_empty() {
        return Err(Error::bad("policy name must be provided"));
    }
    match c.op {
        Op::Read => {
            let text = if name == "root" {
                Some(String::new())
            } else {
                c.u.policy(&name).await?.map(|p| p.raw.clone())
            };
            let Some(text) = text else {
                return Err(Error::NotFound);
            };
            Ok(if legacy {
                Reply::DataAndTop(json!({ "name": name, "rules": text }))
            } else {
                Reply::Data(json!({ "name": name, "policy": text }))
            })
        }
        Op::Create | Op::Update => {
            if name == "root" {
                return Err(Error::bad("cannot update \"root\" policy"));
            }
            let text = match c.data.get("policy").or_else(|| c.data.get("rules")) {
                Some(Value::String(s)) => s.clone(),
                Some(v @ Value::Object(_)) => v.to_string(),
                _ => return Err(Error::bad("'policy' parameter not supplied or empty")),
            };
            let text = match B64.decode(text.trim()) {
                // the CLI may send base64-encoded policies
                Ok(raw) if !text.trim().is_empty() && !text.contains('{') => {
                    String::from_utf8(raw).unwrap_or(text)
                }
                _ => text,
            };
            let parsed = policy::parse(&name, &text).map_err(|e| Error::bad(e.to_string()))?;
            c.u.put_policy(parsed).await?;
            Ok(Reply::NoContent)
        }
        Op::Delete => {
            if name == "root" || name == "default" {
                return Err(Error::bad(format!("cannot delete \"{name}\" policy")));
            }
            c.u.delete_policy(&name).await?;
            Ok(Reply::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn capabilities(c: &Ctx<'_>, which: &str) -> Result<Reply> {
    let paths =
        util::as_str_list(c.data.get("paths").or_else(|| c.data.get("path"))).unwrap_or_default();
    if paths.is_empty() {
        return Err(Error::bad("'paths' must be specified"));
    }
    let policies: Vec<String> = match which {
        "capabilities" => match c.data.get("token").and_then(Value::as_str) {
            Some(t) => match tokens::lookup(c.u, t).await? {
                Some(e) => e.policies.clone(),
                None => return Err(Error::bad("invalid token")),
            },
            None => c.entry.policies.clone(),
        },
        "capabilities-accessor" => {
            let a = c.data.get("accessor").and_then(Value::as_str).unwrap_or("");
            match tokens::by_accessor(c.u, a).await? {
                Some(e) => e.policies.clone(),
                None => return Err(Error::bad("invalid accessor")),
            }
        }
        _ => c.entry.policies.clone(),
    };
    let acl = c.u.acl(&policies).await?;
    let mut out = Map::new();
    let mut all: Vec<&str> = Vec::new();
    for p in &paths {
        let names = policy::cap_names(acl.capabilities(p.trim_start_matches('/')));
        if paths.len() == 1 {
            all.clone_from(&names);
        }
        out.insert(p.clone(), json!(names));
    }
    if paths.len() == 1 {
        out.insert("capabilities".to_owned(), json!(all));
    }
    Ok(Reply::DataAndTop(Value::Object(out)))
}
