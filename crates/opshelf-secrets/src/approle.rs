//! The AppRole auth method: roles, role IDs, secret IDs (generated or custom, with TTL,
//! use counts and accessors) and login.
//!
//! Barrier layout under the auth mount's prefix: `role/<name>` (role),
//! `role-id/<hash(role_id)>` (→ role name), `secret-id/<name>/<hash(secret_id)>` (entry),
//! `accessor/<name>/<accessor>` (→ hash). Secret IDs are stored only as salted hashes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::{Op, Reply};
use crate::error::{Error, Result};
use crate::tokens::{self, TokenRequest};
use crate::util;
use crate::vault::{MountEntry, Unsealed, Vault};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Role {
    name: String,
    role_id: String,
    bind_secret_id: bool,
    secret_id_bound_cidrs: Vec<String>,
    secret_id_num_uses: i64,
    secret_id_ttl: i64,
    local_secret_ids: bool,
    token_ttl: i64,
    token_max_ttl: i64,
    token_policies: Vec<String>,
    token_bound_cidrs: Vec<String>,
    token_explicit_max_ttl: i64,
    token_no_default_policy: bool,
    token_num_uses: i64,
    token_period: i64,
    token_type: String,
}

impl Role {
    fn json(&self) -> Value {
        json!({
            "bind_secret_id": self.bind_secret_id,
            "local_secret_ids": self.local_secret_ids,
            "secret_id_bound_cidrs": self.secret_id_bound_cidrs,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            "token_bound_cidrs": self.token_bound_cidrs,
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_max_ttl": self.token_max_ttl,
            "token_no_default_policy": self.token_no_default_policy,
            "token_num_uses": self.token_num_uses,
            "token_period": self.token_period,
            "token_policies": self.token_policies,
            "policies": self.token_policies,
            "token_ttl": self.token_ttl,
            "token_type": self.token_type,
            "period": self.token_period,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SecretId {
    accessor: String,
    cidr_list: Vec<String>,
    token_bound_cidrs: Vec<String>,
    metadata: BTreeMap<String, String>,
    num_uses: i64,
    ttl: i64,
    creation: i64,
    /// unix seconds, 0 = never
    expiration: i64,
}

impl SecretId {
    fn json(&self) -> Value {
        let t = |s: i64| util::rfc3339_nanos(i128::from(s) * 1_000_000_000);
        json!({
            "cidr_list": self.cidr_list,
            "creation_time": t(self.creation),
            "expiration_time": if self.expiration == 0 { "0001-01-01T00:00:00Z".to_owned() } else { t(self.expiration) },
            "last_updated_time": t(self.creation),
            "metadata": self.metadata,
            "secret_id_accessor": self.accessor,
            "secret_id_num_uses": self.num_uses,
            "secret_id_ttl": self.ttl,
            "token_bound_cidrs": self.token_bound_cidrs,
        })
    }
}

fn hash(u: &Unsealed, s: &str) -> String {
    opshelf_core::token::hash(&u.token_salt, s)
}

fn dur(data: &Map<String, Value>, names: &[&str]) -> Result<Option<i64>> {
    for n in names {
        if let Some(v) = data.get(*n) {
            return util::parse_duration(v)
                .map(Some)
                .ok_or_else(|| Error::bad(format!("invalid {n}")));
        }
    }
    Ok(None)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

async fn load_role(u: &Unsealed, m: &MountEntry, name: &str) -> Result<Option<Role>> {
    u.get_json(&format!("{}role/{}", m.data_prefix(), name.to_lowercase()))
        .await
}

/// Serve `auth/<approle mount>/<sub>` (authenticated paths).
pub async fn route(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    op: Op,
    sub: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    if sub == "role" || sub == "role/" {
        if op != Op::List {
            return Err(Error::UnsupportedOperation);
        }
        return list_roles(u, &p).await;
    }
    let Some(rest) = sub.strip_prefix("role/") else {
        return Err(Error::NotFoundMsg(format!(
            "no handler for route \"auth/{}{sub}\". route entry not found.",
            m.path
        )));
    };
    let (name, action) = match rest.split_once('/') {
        Some((n, a)) => (n.to_lowercase(), a),
        None => (rest.to_lowercase(), ""),
    };
    if !valid_name(&name) {
        return Err(Error::bad("invalid role name"));
    }
    let _g = vault.lock_key(&format!("{p}role/{name}")).await;
    let name = name.as_str();
    match (action, op) {
        ("", Op::Read) => read_role(u, m, name).await,
        ("", Op::Create | Op::Update) => write_role(u, m, name, data).await,
        ("", Op::Delete) => delete_role(u, m, name).await,
        ("role-id", Op::Read) => read_role_id(u, m, name).await,
        ("role-id", Op::Create | Op::Update) => write_role_id(u, m, name, data).await,
        ("secret-id" | "secret-id/", Op::List) => list_secret_id_accessors(u, m, name).await,
        ("secret-id" | "custom-secret-id", Op::Create | Op::Update) => {
            create_secret_id(u, m, name, action == "custom-secret-id", data).await
        }
        ("secret-id/lookup", Op::Create | Op::Update) => lookup_secret_id(u, m, name, data).await,
        ("secret-id/destroy", Op::Create | Op::Update | Op::Delete) => {
            destroy_secret_id(u, m, name, data).await
        }
        ("secret-id-accessor/lookup", Op::Create | Op::Update) => {
            lookup_secret_id_accessor(u, m, name, data).await
        }
        ("secret-id-accessor/destroy", Op::Create | Op::Update | Op::Delete) => {
            destroy_secret_id_accessor(u, m, name, data).await
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// `LIST role`.
async fn list_roles(u: &Unsealed, p: &str) -> Result<Reply> {
    let prefix = format!("{p}role/");
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

/// `GET role/:name`.
async fn read_role(u: &Unsealed, m: &MountEntry, name: &str) -> Result<Reply> {
    match load_role(u, m, name).await? {
        Some(r) => Ok(Reply::Data(r.json())),
        None => Err(Error::NotFound),
    }
}

/// `POST role/:name`: create or update (a new role gets a random role ID).
async fn write_role(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let role_key = format!("{p}role/{name}");
    let mut role = load_role(u, m, name).await?.unwrap_or_else(|| Role {
        name: name.to_owned(),
        role_id: uuid::Uuid::new_v4().to_string(),
        bind_secret_id: true,
        token_type: "default".to_owned(),
        ..Role::default()
    });
    let is_new = u.get(&role_key).await?.is_none();
    if let Some(b) = util::as_bool(data.get("bind_secret_id")) {
        role.bind_secret_id = b;
    }
    if let Some(l) = util::as_str_list(data.get("secret_id_bound_cidrs")) {
        role.secret_id_bound_cidrs = l;
    }
    if let Some(l) = util::as_str_list(data.get("token_bound_cidrs")) {
        role.token_bound_cidrs = l;
    }
    if let Some(n) = util::as_i64(data.get("secret_id_num_uses")) {
        if n < 0 {
            return Err(Error::bad("secret_id_num_uses cannot be negative"));
        }
        role.secret_id_num_uses = n;
    }
    if let Some(n) = util::as_i64(data.get("token_num_uses")) {
        role.token_num_uses = n.max(0);
    }
    if let Some(t) = dur(data, &["secret_id_ttl"])? {
        role.secret_id_ttl = t;
    }
    if let Some(t) = dur(data, &["token_ttl"])? {
        role.token_ttl = t;
    }
    if let Some(t) = dur(data, &["token_max_ttl"])? {
        role.token_max_ttl = t;
    }
    if let Some(t) = dur(data, &["token_explicit_max_ttl"])? {
        role.token_explicit_max_ttl = t;
    }
    if let Some(t) = dur(data, &["token_period", "period"])? {
        role.token_period = t;
    }
    if let Some(b) = util::as_bool(data.get("token_no_default_policy")) {
        role.token_no_default_policy = b;
    }
    if let Some(b) = util::as_bool(data.get("local_secret_ids")) {
        role.local_secret_ids = b;
    }
    if let Some(l) = util::as_str_list(data.get("token_policies").or_else(|| data.get("policies")))
    {
        role.token_policies = l;
    }
    if let Some(t) = data.get("token_type").and_then(Value::as_str) {
        if !["default", "service"].contains(&t) {
            return Err(Error::bad(format!("unsupported token_type \"{t}\"")));
        }
        t.clone_into(&mut role.token_type);
    }
    if role.token_max_ttl > 0 && role.token_ttl > role.token_max_ttl {
        return Err(Error::bad(
            "\"token_ttl\" value must be less than \"token_max_ttl\" value",
        ));
    }
    if !role.bind_secret_id
        && role.secret_id_bound_cidrs.is_empty()
        && role.token_bound_cidrs.is_empty()
    {
        return Err(Error::bad(
            "at least one constraint should be enabled on the role",
        ));
    }
    let mut puts = vec![(
        role_key.clone(),
        serde_json::to_vec(&role).map_err(|e| Error::Internal(e.to_string()))?,
    )];
    if is_new {
        puts.push((
            format!("{p}role-id/{}", hash(u, &role.role_id)),
            serde_json::to_vec(name).unwrap_or_default(),
        ));
    }
    u.write_batch(&puts, &[]).await?;
    Ok(Reply::NoContent)
}

/// `DELETE role/:name` with its secret IDs and accessors.
async fn delete_role(u: &Unsealed, m: &MountEntry, name: &str) -> Result<Reply> {
    let p = m.data_prefix();
    let role_key = format!("{p}role/{name}");
    if let Some(r) = load_role(u, m, name).await? {
        u.delete_prefix(&format!("{p}secret-id/{name}/")).await?;
        u.delete_prefix(&format!("{p}accessor/{name}/")).await?;
        u.write_batch(
            &[],
            &[role_key, format!("{p}role-id/{}", hash(u, &r.role_id))],
        )
        .await?;
    }
    Ok(Reply::NoContent)
}

/// `GET role/:name/role-id`.
async fn read_role_id(u: &Unsealed, m: &MountEntry, name: &str) -> Result<Reply> {
    match load_role(u, m, name).await? {
        Some(r) => Ok(Reply::Data(json!({ "role_id": r.role_id }))),
        None => Err(Error::NotFound),
    }
}

/// `POST role/:name/role-id`: set a custom role ID.
async fn write_role_id(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let role_key = format!("{p}role/{name}");
    let Some(mut r) = load_role(u, m, name).await? else {
        return Err(Error::bad("role not found"));
    };
    let Some(new_id) = data
        .get("role_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(Error::bad("missing role_id"));
    };
    let old = format!("{p}role-id/{}", hash(u, &r.role_id));
    new_id.clone_into(&mut r.role_id);
    let puts = vec![
        (
            role_key,
            serde_json::to_vec(&r).map_err(|e| Error::Internal(e.to_string()))?,
        ),
        (
            format!("{p}role-id/{}", hash(u, new_id)),
            serde_json::to_vec(name).unwrap_or_default(),
        ),
    ];
    u.write_batch(&puts, &[old]).await?;
    Ok(Reply::NoContent)
}

/// `LIST role/:name/secret-id`: the accessors.
async fn list_secret_id_accessors(u: &Unsealed, m: &MountEntry, name: &str) -> Result<Reply> {
    let p = m.data_prefix();
    let prefix = format!("{p}accessor/{name}/");
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

/// `POST role/:name/secret-id` (generated) or `role/:name/custom-secret-id`.
async fn create_secret_id(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    custom: bool,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let Some(role) = load_role(u, m, name).await? else {
        return Err(Error::bad(format!("role \"{name}\" does not exist")));
    };
    let secret = if custom {
        match data
            .get("secret_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(s) => s.to_owned(),
            None => return Err(Error::bad("missing secret_id")),
        }
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let metadata: BTreeMap<String, String> = match data.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::String(s)) if s.is_empty() => BTreeMap::new(),
        Some(Value::String(s)) => match serde_json::from_str::<BTreeMap<String, Value>>(s) {
            Ok(m) => m
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            Err(_) => {
                return Err(Error::bad(
                    "failed to parse metadata: not a JSON object of strings",
                ));
            }
        },
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
        Some(_) => return Err(Error::bad("metadata must be a JSON string")),
    };
    let ttl = dur(data, &["ttl"])?.unwrap_or(role.secret_id_ttl);
    let num_uses = util::as_i64(data.get("num_uses")).unwrap_or(role.secret_id_num_uses);
    let now = util::now_secs();
    let entry = SecretId {
        accessor: uuid::Uuid::new_v4().to_string(),
        cidr_list: util::as_str_list(data.get("cidr_list")).unwrap_or_default(),
        token_bound_cidrs: util::as_str_list(data.get("token_bound_cidrs")).unwrap_or_default(),
        metadata,
        num_uses,
        ttl,
        creation: now,
        expiration: if ttl > 0 { now + ttl } else { 0 },
    };
    let h = hash(u, &secret);
    let sid_key = format!("{p}secret-id/{name}/{h}");
    if u.get(&sid_key).await?.is_some() {
        return Err(Error::bad("SecretID is already registered"));
    }
    let puts = vec![
        (
            sid_key,
            serde_json::to_vec(&entry).map_err(|e| Error::Internal(e.to_string()))?,
        ),
        (
            format!("{p}accessor/{name}/{}", entry.accessor),
            serde_json::to_vec(&h).unwrap_or_default(),
        ),
    ];
    u.write_batch(&puts, &[]).await?;
    Ok(Reply::Data(json!({
        "secret_id": secret,
        "secret_id_accessor": entry.accessor,
        "secret_id_ttl": entry.ttl,
        "secret_id_num_uses": entry.num_uses,
    })))
}

/// `POST role/:name/secret-id/lookup`.
async fn lookup_secret_id(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let s = data.get("secret_id").and_then(Value::as_str).unwrap_or("");
    let e: Option<SecretId> = u
        .get_json(&format!("{p}secret-id/{name}/{}", hash(u, s)))
        .await?;
    match e {
        Some(e) if !expired(&e) => Ok(Reply::Data(e.json())),
        _ => Err(Error::NotFound),
    }
}

/// `POST role/:name/secret-id/destroy`.
async fn destroy_secret_id(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let s = data.get("secret_id").and_then(Value::as_str).unwrap_or("");
    destroy(u, &p, name, &hash(u, s)).await?;
    Ok(Reply::NoContent)
}

/// `POST role/:name/secret-id-accessor/lookup`.
async fn lookup_secret_id_accessor(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let h = accessor_hash(u, &p, name, data).await?;
    let e: Option<SecretId> = u.get_json(&format!("{p}secret-id/{name}/{h}")).await?;
    match e {
        Some(e) => Ok(Reply::Data(e.json())),
        None => Err(Error::NotFound),
    }
}

/// `POST role/:name/secret-id-accessor/destroy`.
async fn destroy_secret_id_accessor(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let h = accessor_hash(u, &p, name, data).await?;
    destroy(u, &p, name, &h).await?;
    Ok(Reply::NoContent)
}

/// The secret-ID hash that `data.secret_id_accessor` points to (400 when there is none).
async fn accessor_hash(
    u: &Unsealed,
    p: &str,
    name: &str,
    data: &Map<String, Value>,
) -> Result<String> {
    let a = data
        .get("secret_id_accessor")
        .and_then(Value::as_str)
        .unwrap_or("");
    let h: Option<String> = u.get_json(&format!("{p}accessor/{name}/{a}")).await?;
    let Some(h) = h else {
        return Err(Error::bad(format!(
            "failed to find accessor entry for secret_id_accessor: \"{a}\""
        )));
    };
    Ok(h)
}

fn expired(e: &SecretId) -> bool {
    e.expiration != 0 && e.expiration <= util::now_secs()
}

async fn destroy(u: &Unsealed, p: &str, role: &str, h: &str) -> Result<()> {
    let key = format!("{p}secret-id/{role}/{h}");
    let e: Option<SecretId> = u.get_json(&key).await?;
    let mut deletes = vec![key];
    if let Some(e) = e {
        deletes.push(format!("{p}accessor/{role}/{}", e.accessor));
    }
    u.write_batch(&[], &deletes).await
}

/// `auth/<mount>/login`: exchange a role ID and secret ID for a token.
pub async fn login(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    data: &Map<String, Value>,
) -> Result<Reply> {
    let p = m.data_prefix();
    let role_id = data.get("role_id").and_then(Value::as_str).unwrap_or("");
    if role_id.is_empty() {
        return Err(Error::bad("missing role_id"));
    }
    let name: Option<String> = u
        .get_json(&format!("{p}role-id/{}", hash(u, role_id)))
        .await?;
    let Some(name) = name else {
        return Err(Error::bad("invalid role or secret ID"));
    };
    let Some(role) = load_role(u, m, &name).await? else {
        return Err(Error::bad("invalid role or secret ID"));
    };
    let mut meta = BTreeMap::new();
    if role.bind_secret_id {
        let secret = data.get("secret_id").and_then(Value::as_str).unwrap_or("");
        if secret.is_empty() {
            return Err(Error::bad("missing secret_id"));
        }
        let h = hash(u, secret);
        let _g = vault.lock_key(&format!("{p}secret-id/{name}/{h}")).await;
        let key = format!("{p}secret-id/{name}/{h}");
        let e: Option<SecretId> = u.get_json(&key).await?;
        let Some(mut e) = e else {
            return Err(Error::bad("invalid role or secret ID"));
        };
        if expired(&e) {
            destroy(u, &p, &name, &h).await?;
            return Err(Error::bad("invalid role or secret ID"));
        }
        if e.num_uses > 0 {
            if e.num_uses == 1 {
                destroy(u, &p, &name, &h).await?;
            } else {
                e.num_uses -= 1;
                u.put_json(&key, &e).await?;
            }
        }
        meta.clone_from(&e.metadata);
    }
    meta.insert("role_name".to_owned(), name.clone());
    let mut policies = role.token_policies.clone();
    if !role.token_no_default_policy && !policies.iter().any(|p| p == "default") {
        policies.push("default".to_owned());
    }
    policies.sort();
    policies.dedup();
    let mount_default = if m.default_lease_ttl > 0 {
        m.default_lease_ttl
    } else {
        vault.default_ttl()
    };
    let mut ttl = if role.token_ttl > 0 {
        role.token_ttl
    } else {
        mount_default
    };
    let max = if role.token_max_ttl > 0 {
        role.token_max_ttl
    } else {
        vault.max_ttl()
    };
    if max > 0 && ttl > max {
        ttl = max;
    }
    let req = TokenRequest {
        policies,
        meta: Some(meta.into_iter().collect()),
        display_name: m.path.trim_end_matches('/').to_owned(),
        num_uses: role.token_num_uses,
        ttl,
        explicit_max_ttl: role.token_explicit_max_ttl,
        period: role.token_period,
        renewable: true,
        path: format!("auth/{}login", m.path),
        token_type: "service".to_owned(),
        ..TokenRequest::default()
    };
    let (token, entry) = tokens::store_new(u, req).await?;
    Ok(Reply::Auth(entry.auth_json(&token)))
}
