//! Vault's HTTP API: request conventions (`/v1/`, token headers, PUT ≡ POST, LIST, PATCH
//! with merge-patch), the response envelope, authentication and ACL checks, and the
//! routing of a logical path to `sys/`, `auth/token/`, `auth/approle/` or a mount.
//!
//! This is the only module that knows Vault's wire shapes; engines return [`Reply`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::policy::{self, cap};
use crate::tokens::{self, TokenEntry, TokenRequest};
use crate::vault::{MountEntry, Unsealed, VERSION, Vault, read, write};
use crate::{MAX_BODY_BYTES, approle, audit, kv, util};

/// The logical operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    List,
    Create,
    Update,
    Delete,
    Patch,
}

impl Op {
    fn capability(self) -> u16 {
        match self {
            Self::Read => cap::READ,
            Self::List => cap::LIST,
            Self::Create => cap::CREATE,
            Self::Update => cap::UPDATE,
            Self::Delete => cap::DELETE,
            Self::Patch => cap::PATCH,
        }
    }

    /// Vault's name for the operation (audit logs).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::List => "list",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Patch => "patch",
        }
    }
}

/// What a handler answers; turned into Vault's wire shape by [`render`].
pub enum Reply {
    /// envelope with `data`
    Data(Value),
    /// envelope with `data` and a chosen status (KV v2 reads of deleted versions: 404)
    DataStatus(StatusCode, Value),
    /// envelope with `auth`
    Auth(Value),
    /// envelope with `data`, also copied to the top level (Vault's legacy `sys/` bodies)
    DataAndTop(Value),
    /// a flat JSON body (health, seal-status, init, unseal)
    Flat(StatusCode, Value),
    /// no body
    NoContent,
    /// an error (lets engines return 404-for-empty-list through the same path)
    Err(Error),
}

/// A parsed request.
pub struct Req {
    pub op: Op,
    pub path: String,
    pub data: Map<String, Value>,
    pub token: Option<String>,
    pub head: bool,
    pub remote: Option<SocketAddr>,
    /// `X-Vault-Wrap-TTL`: answer with a single-use wrapping token instead (seconds)
    pub wrap_ttl: Option<i64>,
}

/// The router for the secrets listener.
pub fn router(vault: Arc<Vault>) -> Router {
    Router::new().fallback(handle).with_state(vault)
}

#[allow(clippy::needless_pass_by_value)]
fn envelope(data: Value, auth: Value) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": auth,
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Render a reply (or error) in Vault's shape.
pub fn render(reply: Result<Reply>) -> Response {
    match reply {
        Err(e) | Ok(Reply::Err(e)) => e.into_response(),
        Ok(Reply::Data(d)) => json_response(StatusCode::OK, &envelope(d, Value::Null)),
        Ok(Reply::DataStatus(s, d)) => json_response(s, &envelope(d, Value::Null)),
        Ok(Reply::Auth(a)) => json_response(StatusCode::OK, &envelope(Value::Null, a)),
        Ok(Reply::DataAndTop(d)) => {
            let mut env = envelope(d.clone(), Value::Null);
            if let (Value::Object(top), Value::Object(fields)) = (&mut env, d) {
                for (k, v) in fields {
                    top.entry(k).or_insert(v);
                }
            }
            json_response(StatusCode::OK, &env)
        }
        Ok(Reply::Flat(s, body)) => json_response(s, &body),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn handle(State(vault): State<Arc<Vault>>, req: Request) -> Response {
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = req.into_parts();
    let parsed = parse_request(&parts.method, &parts.uri, &parts.headers, body, remote).await;
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return render(Err(e)),
    };
    let head = req.head;
    let resp = render(dispatch(&vault, req).await);
    if head {
        let (p, _) = resp.into_parts();
        return Response::from_parts(p, Body::empty());
    }
    resp
}

async fn parse_request(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Body,
    remote: Option<SocketAddr>,
) -> Result<Req> {
    let Some(path) = uri.path().strip_prefix("/v1/") else {
        return Err(Error::NotFound);
    };
    let path = percent_decode(path);
    let query: Vec<(String, String)> = uri.query().map(parse_query).unwrap_or_default();
    let list_q = query
        .iter()
        .any(|(k, v)| k == "list" && util::as_bool(Some(&Value::String(v.clone()))) == Some(true));
    let op = match method.as_str() {
        "GET" if list_q => Op::List,
        "GET" | "HEAD" => Op::Read,
        "LIST" => Op::List,
        "POST" | "PUT" => Op::Update,
        "DELETE" => Op::Delete,
        "PATCH" => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !ct.starts_with("application/merge-patch+json") {
                return Err(Error::UnsupportedMediaType(format!(
                    "PATCH requires Content-Type of application/merge-patch+json, provided {ct}"
                )));
            }
            Op::Patch
        }
        _ => return Err(Error::UnsupportedOperation),
    };
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Error::bad("failed to read request body"))?;
    let mut data = Map::new();
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => data = m,
            Ok(Value::Null) => {}
            Ok(_) => return Err(Error::bad("failed to parse JSON input: expected an object")),
            Err(e) => return Err(Error::bad(format!("failed to parse JSON input: {e}"))),
        }
    }
    if matches!(op, Op::Read | Op::List | Op::Delete) {
        for (k, v) in query {
            if k != "list" {
                data.entry(k).or_insert(Value::String(v));
            }
        }
    }
    let token = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    let wrap_ttl = match headers
        .get("x-vault-wrap-ttl")
        .and_then(|v| v.to_str().ok())
    {
        None => None,
        Some(v) => match util::parse_duration_str(v) {
            Some(t) if t > 0 => Some(t),
            _ => return Err(Error::bad(format!("invalid wrap TTL: {v}"))),
        },
    };
    Ok(Req {
        op,
        path,
        data,
        token,
        head: method == Method::HEAD,
        remote,
        wrap_ttl,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Paths that need `sudo` on top of the operation's capability (Vault's root paths).
fn needs_sudo(path: &str) -> bool {
    const EXACT: [&str; 6] = [
        "sys/seal",
        "sys/rotate",
        "sys/audit",
        "sys/raw",
        "sys/remount",
        "sys/step-down",
    ];
    const PREFIX: [&str; 9] = [
        "sys/auth/",
        "sys/audit/",
        "sys/raw/",
        "sys/rotate/",
        "sys/revoke-prefix/",
        "sys/revoke-force/",
        "sys/leases/revoke-prefix/",
        "sys/leases/revoke-force/",
        "auth/token/revoke-orphan",
    ];
    EXACT.contains(&path)
        || PREFIX.iter().any(|p| path.starts_with(p))
        || path.starts_with("auth/token/accessors")
        || path == "sys/audit-hash"
        || path.starts_with("sys/audit-hash/")
}

/// Route one request.
pub async fn dispatch(vault: &Vault, req: Req) -> Result<Reply> {
    let path = req.path.trim_start_matches('/').to_owned();
    // Unauthenticated system paths, served sealed or not.
    match path.as_str() {
        "sys/health" => return health(vault, &req).await,
        "sys/seal-status" if req.op == Op::Read => return seal_status(vault).await,
        "sys/init" => return init(vault, &req).await,
        "sys/unseal" if req.op == Op::Update => return unseal(vault, &req).await,
        "sys/leader" if req.op == Op::Read => return Ok(leader()),
        _ => {}
    }
    let u = vault.require_unsealed()?;
    // Unauthenticated logins.
    if let Some(rest) = path.strip_prefix("auth/")
        && let Some(m) = u.auth_mount_for(rest)
        && m.kind == "approle"
        && rest.strip_prefix(&m.path) == Some("login")
        && req.op == Op::Update
    {
        return approle::login(vault, &u, &m, &req.data).await;
    }
    let Some(token) = req.token.as_deref() else {
        return Err(Error::PermissionDenied);
    };
    let Some(entry) = tokens::lookup(&u, token).await? else {
        return Err(Error::PermissionDenied);
    };
    let acl = u.acl(&entry.policies).await?;

    // Resolve create vs update where the engine can tell (KV).
    let mut op = req.op;
    let mount = if path.starts_with("sys/") || path.starts_with("auth/") {
        None
    } else {
        u.mount_for(&path)
    };
    if op == Op::Update
        && let Some(m) = &mount
    {
        let rest = path.strip_prefix(&m.path).unwrap_or("");
        let exists = match (m.kind.as_str(), m.kv_version()) {
            ("kv", 2) => kv::v2_exists(&u, m, rest).await?,
            ("kv", _) => kv::v1_exists(&u, m, rest).await?,
            _ => true,
        };
        if !exists {
            op = Op::Create;
        }
    }
    let sudo = needs_sudo(&path);
    let allowed = if path.starts_with("sys/internal/ui/mounts")
        || path == "sys/wrapping/unwrap"
        || path == "sys/wrapping/lookup"
    {
        true
    } else {
        let caps = acl.capabilities(&path);
        caps & cap::DENY == 0 && caps & op.capability() != 0 && (!sudo || caps & cap::SUDO != 0)
    };
    let devices: Vec<Arc<audit::Device>> = read(&u.audit).clone();
    let request_id = uuid::Uuid::new_v4().to_string();
    let event = audit::Event {
        id: &request_id,
        operation: op.name(),
        path: &path,
        token,
        accessor: &entry.accessor,
        display_name: &entry.display_name,
        policies: &entry.policies,
        issue_time: &entry.issue_time,
        data: &req.data,
        remote: req.remote,
    };
    audit::log_request(&devices, &event).await?;
    if !allowed {
        audit::log_response(&devices, &event, 403, None, Some("permission denied")).await?;
        return Err(Error::PermissionDenied);
    }
    tokens::record_use(&u, &entry).await?;
    let ctx = Ctx {
        vault,
        u: &u,
        entry: &entry,
        token,
        op,
        data: &req.data,
    };
    let result = route(&ctx, &path, mount).await;
    let result = match (result, req.wrap_ttl) {
        (Ok(reply), Some(ttl)) if !path.starts_with("sys/wrapping/") => {
            wrap(&u, reply, ttl, &path).await
        }
        (other, _) => other,
    };
    // devices enabled or disabled by this very request are taken into account next time
    match &result {
        Ok(reply) => {
            let (status, body) = reply_preview(reply);
            audit::log_response(&devices, &event, status, body.as_ref(), None).await?;
        }
        Err(e) => {
            let msg = e.messages().join("; ");
            audit::log_response(
                &devices,
                &event,
                e.code().status().as_u16(),
                None,
                Some(&msg),
            )
            .await?;
        }
    }
    result
}

/// Status and JSON body of a reply, without consuming it (for the audit log).
fn reply_preview(reply: &Reply) -> (u16, Option<Value>) {
    match reply {
        Reply::Data(d) | Reply::DataAndTop(d) => (200, Some(envelope(d.clone(), Value::Null))),
        Reply::DataStatus(s, d) => (s.as_u16(), Some(envelope(d.clone(), Value::Null))),
        Reply::Auth(a) => (200, Some(envelope(Value::Null, a.clone()))),
        Reply::Flat(s, b) => (s.as_u16(), Some(b.clone())),
        Reply::NoContent => (204, None),
        Reply::Err(e) => (e.code().status().as_u16(), None),
    }
}

async fn route(c: &Ctx<'_>, path: &str, mount: Option<MountEntry>) -> Result<Reply> {
    let (vault, u, op, data) = (c.vault, c.u, c.op, c.data);
    if let Some(rest) = path.strip_prefix("sys/") {
        return sys(c, rest).await;
    }
    if let Some(rest) = path.strip_prefix("auth/token/") {
        return token_routes(c, rest).await;
    }
    if let Some(rest) = path.strip_prefix("auth/") {
        let Some(m) = u.auth_mount_for(rest) else {
            return Err(no_route(path));
        };
        let sub = rest.strip_prefix(&m.path).unwrap_or("");
        return match m.kind.as_str() {
            "approle" => approle::route(vault, u, &m, op, sub, data).await,
            _ => Err(no_route(path)),
        };
    }
    let Some(m) = mount else {
        return Err(no_route(path));
    };
    let rest = path.strip_prefix(&m.path).unwrap_or("");
    match (m.kind.as_str(), m.kv_version()) {
        ("kv", 2) => kv::v2(vault, u, &m, op, rest, data).await,
        ("kv", _) => kv::v1(u, &m, op, rest, data).await,
        ("transit", _) => crate::transit::route(vault, u, &m, op, rest, data).await,
        ("cubbyhole", _) => {
            // per-token storage: a private prefix inside the mount
            let mut scoped = m.clone();
            scoped.uuid = format!("{}/{}", m.uuid, &c.entry.hash[..32]);
            kv::v1(u, &scoped, op, rest, data).await
        }
        _ => Err(no_route(path)),
    }
}

/// The envelope a reply would be sent as, for wrapping.
fn reply_body(reply: Reply) -> Option<Value> {
    match reply {
        Reply::Data(d) | Reply::DataStatus(StatusCode::OK, d) | Reply::DataAndTop(d) => {
            Some(envelope(d, Value::Null))
        }
        Reply::Auth(a) => Some(envelope(Value::Null, a)),
        _ => None,
    }
}

fn wrapping_key(u: &Unsealed, token: &str) -> String {
    format!("sys/wrapping/{}", tokens::hash_token(u, token))
}

/// Response wrapping: keep the response behind a single-use token, answer with `wrap_info`.
async fn wrap(u: &Unsealed, reply: Reply, ttl: i64, path: &str) -> Result<Reply> {
    let Some(body) = reply_body(reply) else {
        return Ok(Reply::NoContent);
    };
    let req = TokenRequest {
        policies: vec!["response-wrapping".to_owned()],
        display_name: "response-wrapping".to_owned(),
        num_uses: 1,
        ttl,
        path: path.to_owned(),
        token_type: "service".to_owned(),
        ..TokenRequest::default()
    };
    let (token, entry) = tokens::store_new(u, req).await?;
    u.put_json(&wrapping_key(u, &token), &body).await?;
    let wrapped_accessor = body["auth"]["accessor"].as_str().unwrap_or("").to_owned();
    let mut env = envelope(Value::Null, Value::Null);
    env["wrap_info"] = json!({
        "token": token.as_str(),
        "accessor": entry.accessor,
        "ttl": ttl,
        "creation_time": entry.issue_time,
        "creation_path": path,
        "wrapped_accessor": wrapped_accessor,
    });
    Ok(Reply::Flat(StatusCode::OK, env))
}

/// `sys/wrapping/unwrap` and `sys/wrapping/lookup`.
async fn wrapping(c: &Ctx<'_>, which: &str) -> Result<Reply> {
    let token = c
        .data
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or(c.token)
        .to_owned();
    let key = wrapping_key(c.u, &token);
    let body: Option<Value> = c.u.get_json(&key).await?;
    let Some(body) = body else {
        return Err(Error::bad("wrapping token is not valid or does not exist"));
    };
    if which == "lookup" {
        let entry = tokens::lookup(c.u, &token).await?;
        let (created, ttl, creation_path) = entry
            .map(|e| (e.issue_time.clone(), e.creation_ttl, e.path.clone()))
            .unwrap_or_default();
        return Ok(Reply::Data(
            json!({ "creation_path": creation_path, "creation_time": created, "creation_ttl": ttl }),
        ));
    }
    c.u.delete(&key).await?;
    if let Some(e) = tokens::by_hash(c.u, &tokens::hash_token(c.u, &token)).await? {
        tokens::revoke_tree(c.u, &e.hash).await?;
    }
    let mut body = body;
    body["request_id"] = json!(uuid::Uuid::new_v4().to_string());
    Ok(Reply::Flat(StatusCode::OK, body))
}

fn no_route(path: &str) -> Error {
    Error::NotFoundMsg(format!(
        "no handler for route \"{path}\". route entry not found."
    ))
}

/// What a handler behind authentication sees.
pub struct Ctx<'a> {
    pub vault: &'a Vault,
    pub u: &'a Unsealed,
    pub entry: &'a TokenEntry,
    pub token: &'a str,
    pub op: Op,
    pub data: &'a Map<String, Value>,
}

// ---------------------------------------------------------------- unauthenticated sys

async fn health(vault: &Vault, req: &Req) -> Result<Reply> {
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

async fn seal_status(vault: &Vault) -> Result<Reply> {
    Ok(Reply::Flat(StatusCode::OK, seal_status_json(vault).await?))
}

async fn init(vault: &Vault, req: &Req) -> Result<Reply> {
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

async fn unseal(vault: &Vault, req: &Req) -> Result<Reply> {
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

fn leader() -> Reply {
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

async fn sys(c: &Ctx<'_>, rest: &str) -> Result<Reply> {
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

// ---------------------------------------------------------------- auth/token

fn sorted_policies(mut p: Vec<String>, add_default: bool) -> Vec<String> {
    if add_default && !p.iter().any(|x| x == "root") && !p.iter().any(|x| x == "default") {
        p.push("default".to_owned());
    }
    p.sort();
    p.dedup();
    p
}

async fn token_routes(c: &Ctx<'_>, rest: &str) -> Result<Reply> {
    let op = c.op;
    let is_write = matches!(op, Op::Create | Op::Update);
    if let Some(name) = rest.strip_prefix("roles/").filter(|n| !n.is_empty()) {
        return token_role(c, name).await;
    }
    if let Some(name) = rest.strip_prefix("create/").filter(|n| !n.is_empty()) {
        if !is_write {
            return Err(Error::UnsupportedOperation);
        }
        let role: Option<Value> = c.u.get_json(&format!("sys/token/roles/{name}")).await?;
        let Some(role) = role else {
            return Err(Error::bad(format!("unknown role {name}")));
        };
        return create_token(c, false, Some((name, role))).await;
    }
    match rest {
        "create" | "create-orphan" if is_write => {
            create_token(c, rest == "create-orphan", None).await
        }
        "roles" | "roles/" if op == Op::List => {
            let keys: Vec<String> =
                c.u.list("sys/token/roles/")
                    .await?
                    .into_iter()
                    .filter_map(|k| k.strip_prefix("sys/token/roles/").map(str::to_owned))
                    .collect();
            if keys.is_empty() {
                Err(Error::NotFound)
            } else {
                Ok(Reply::Data(json!({ "keys": keys })))
            }
        }
        "lookup-self" if matches!(op, Op::Read | Op::Update) => {
            Ok(Reply::Data(c.entry.lookup_json(c.token)))
        }
        "lookup" if matches!(op, Op::Read | Op::Update) => {
            let t = c.data.get("token").and_then(Value::as_str).unwrap_or("");
            if t.is_empty() {
                return Err(Error::bad("missing token to look up"));
            }
            match tokens::lookup(c.u, t).await? {
                Some(e) => Ok(Reply::Data(e.lookup_json(t))),
                None => Err(Error::PermissionDenied),
            }
        }
        "lookup-accessor" if is_write => {
            let a = c.data.get("accessor").and_then(Value::as_str).unwrap_or("");
            match tokens::by_accessor(c.u, a).await? {
                Some(e) => Ok(Reply::Data(e.lookup_json(""))),
                None => Err(Error::bad("invalid accessor")),
            }
        }
        "renew-self" | "renew" | "renew-accessor" if is_write => {
            let target = match rest {
                "renew-self" => Some(Arc::new(c.entry.clone())),
                "renew" => {
                    let t = c.data.get("token").and_then(Value::as_str).unwrap_or("");
                    tokens::lookup(c.u, t).await?
                }
                _ => {
                    let a = c.data.get("accessor").and_then(Value::as_str).unwrap_or("");
                    tokens::by_accessor(c.u, a).await?
                }
            };
            let Some(target) = target else {
                return Err(Error::bad("invalid token"));
            };
            let increment = c
                .data
                .get("increment")
                .and_then(util::parse_duration)
                .unwrap_or(0);
            let renewed = tokens::renew(c.u, &target, increment, c.vault.max_ttl()).await?;
            let shown = match rest {
                "renew-self" => c.token.to_owned(),
                "renew" => c
                    .data
                    .get("token")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                _ => String::new(),
            };
            Ok(Reply::Auth(renewed.auth_json(&shown)))
        }
        "revoke-self" if is_write => {
            tokens::revoke_tree(c.u, &c.entry.hash).await?;
            Ok(Reply::NoContent)
        }
        "revoke" | "revoke-orphan" if is_write => {
            let t = c.data.get("token").and_then(Value::as_str).unwrap_or("");
            let Some(e) = tokens::lookup(c.u, t).await? else {
                return Err(Error::bad("token to revoke not found"));
            };
            if rest == "revoke" {
                tokens::revoke_tree(c.u, &e.hash).await?;
            } else {
                tokens::revoke_orphan(c.u, &e.hash).await?;
            }
            Ok(Reply::NoContent)
        }
        "revoke-accessor" if is_write => {
            let a = c.data.get("accessor").and_then(Value::as_str).unwrap_or("");
            let Some(e) = tokens::by_accessor(c.u, a).await? else {
                return Err(Error::bad("invalid accessor"));
            };
            tokens::revoke_tree(c.u, &e.hash).await?;
            Ok(Reply::NoContent)
        }
        "accessors" | "accessors/" if op == Op::List => {
            let keys = tokens::accessors(c.u).await?;
            Ok(Reply::Data(json!({ "keys": keys })))
        }
        "lookup-self" | "lookup" | "lookup-accessor" | "renew-self" | "renew"
        | "renew-accessor" | "revoke-self" | "revoke" | "revoke-orphan" | "revoke-accessor"
        | "create" | "create-orphan" | "accessors" => Err(Error::UnsupportedOperation),
        _ => Err(no_route(&format!("auth/token/{rest}"))),
    }
}

async fn token_role(c: &Ctx<'_>, name: &str) -> Result<Reply> {
    let key = format!("sys/token/roles/{name}");
    match c.op {
        Op::Read => {
            let role: Option<Value> = c.u.get_json(&key).await?;
            role.map(Reply::Data).ok_or(Error::NotFound)
        }
        Op::Create | Op::Update => {
            let d = c.data;
            let old: Value = c.u.get_json(&key).await?.unwrap_or(Value::Null);
            let list = |k: &str| {
                util::as_str_list(d.get(k)).unwrap_or_else(|| {
                    old[k]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                })
            };
            let dur = |k: &str, alt: &str| -> Result<i64> {
                match d.get(k).or_else(|| d.get(alt)) {
                    Some(v) => {
                        util::parse_duration(v).ok_or_else(|| Error::bad(format!("invalid {k}")))
                    }
                    None => Ok(old[k].as_i64().unwrap_or(0)),
                }
            };
            let token_type = d
                .get("token_type")
                .and_then(Value::as_str)
                .unwrap_or("default-service");
            if !["default-service", "service", "default"].contains(&token_type) {
                return Err(Error::bad(format!(
                    "unsupported token_type \"{token_type}\""
                )));
            }
            let role = json!({
                "name": name,
                "allowed_policies": list("allowed_policies"),
                "disallowed_policies": list("disallowed_policies"),
                "orphan": util::as_bool(d.get("orphan")).unwrap_or(old["orphan"].as_bool().unwrap_or(false)),
                "renewable": util::as_bool(d.get("renewable")).unwrap_or(old["renewable"].as_bool().unwrap_or(true)),
                "path_suffix": d.get("path_suffix").and_then(Value::as_str).unwrap_or(""),
                "token_period": dur("token_period", "period")?,
                "token_explicit_max_ttl": dur("token_explicit_max_ttl", "explicit_max_ttl")?,
                "token_type": token_type,
            });
            c.u.put_json(&key, &role).await?;
            Ok(Reply::NoContent)
        }
        Op::Delete => {
            c.u.delete(&key).await?;
            Ok(Reply::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn create_token(
    c: &Ctx<'_>,
    orphan_path: bool,
    role: Option<(&str, Value)>,
) -> Result<Reply> {
    let d = c.data;
    let role_allowed: Option<Vec<String>> = role.as_ref().map(|(_, r)| {
        r["allowed_policies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    });
    let role_disallowed: Vec<String> = role
        .as_ref()
        .and_then(|(_, r)| {
            r["disallowed_policies"].as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    let parent_root = c.entry.is_root();
    let no_parent = util::as_bool(d.get("no_parent")).unwrap_or(false);
    if no_parent && !orphan_path && !parent_root {
        let acl = c.u.acl(&c.entry.policies).await?;
        if acl.capabilities("auth/token/create") & cap::SUDO == 0 {
            return Err(Error::bad(
                "root or sudo privileges required to create orphan token",
            ));
        }
    }
    let orphan =
        orphan_path || no_parent || role.as_ref().is_some_and(|(_, r)| r["orphan"] == true);
    let mut requested = util::as_str_list(d.get("policies")).unwrap_or_default();
    if let Some(allowed) = &role_allowed {
        if requested.is_empty() && !allowed.is_empty() {
            requested.clone_from(allowed);
        }
        if !allowed.is_empty()
            && requested
                .iter()
                .any(|p| p != "default" && !allowed.contains(p))
        {
            return Err(Error::bad(
                "token policies must be a subset of the role's allowed policies",
            ));
        }
        if requested.iter().any(|p| role_disallowed.contains(p)) {
            return Err(Error::bad(
                "token policies include a policy the role disallows",
            ));
        }
    }
    let no_default = util::as_bool(d.get("no_default_policy")).unwrap_or(false);
    let mut policies = if requested.is_empty() {
        c.entry
            .policies
            .iter()
            .filter(|p| !(no_default && *p == "default"))
            .cloned()
            .collect()
    } else {
        requested
    };
    if !parent_root && role.is_none() {
        let parent: Vec<&String> = c.entry.policies.iter().collect();
        if policies
            .iter()
            .any(|p| p != "default" && !parent.contains(&p))
        {
            return Err(Error::bad("child policies must be subset of parent"));
        }
    }
    policies = sorted_policies(policies, !no_default);
    let ttl = match d.get("ttl").or_else(|| d.get("lease")) {
        Some(v) => util::parse_duration(v).ok_or_else(|| Error::bad("invalid ttl"))?,
        None => 0,
    };
    let explicit_max = match d.get("explicit_max_ttl") {
        Some(v) => util::parse_duration(v).ok_or_else(|| Error::bad("invalid explicit_max_ttl"))?,
        None => 0,
    };
    let period = match d.get("period") {
        Some(v) => util::parse_duration(v).ok_or_else(|| Error::bad("invalid period"))?,
        None => role
            .as_ref()
            .and_then(|(_, r)| r["token_period"].as_i64())
            .unwrap_or(0),
    };
    let num_uses = util::as_i64(d.get("num_uses")).unwrap_or(0);
    if num_uses < 0 {
        return Err(Error::bad("number of uses cannot be negative"));
    }
    if ttl < 0 || explicit_max < 0 || period < 0 {
        return Err(Error::bad(
            "ttl, explicit_max_ttl and period cannot be negative",
        ));
    }
    let token_type = d.get("type").and_then(Value::as_str).unwrap_or("service");
    if token_type != "service" && !token_type.is_empty() && token_type != "default" {
        return Err(Error::bad(format!(
            "unsupported token type \"{token_type}\""
        )));
    }
    let is_root_token = policies.iter().any(|p| p == "root");
    if is_root_token && !parent_root {
        return Err(Error::bad(
            "root tokens may not be created without parent token being root",
        ));
    }
    let max = c.vault.max_ttl();
    let mut eff_ttl = ttl;
    if eff_ttl == 0 && period == 0 && !(is_root_token && explicit_max == 0) {
        eff_ttl = c.vault.default_ttl();
    }
    if period == 0 {
        if max > 0 && eff_ttl > max {
            eff_ttl = max;
        }
        if explicit_max > 0 && (eff_ttl == 0 || eff_ttl > explicit_max) {
            eff_ttl = explicit_max;
        }
    }
    let display = d.get("display_name").and_then(Value::as_str).unwrap_or("");
    let display_name = if display.is_empty() {
        "token".to_owned()
    } else {
        format!("token-{display}")
    };
    let meta = match d.get("meta") {
        Some(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect(),
        ),
        _ => None,
    };
    let id = d
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if id.is_some() && !parent_root {
        return Err(Error::bad(
            "root or sudo privileges required to specify token id",
        ));
    }
    let req = TokenRequest {
        id,
        policies,
        meta,
        display_name,
        num_uses,
        ttl: eff_ttl,
        explicit_max_ttl: explicit_max,
        period,
        renewable: util::as_bool(d.get("renewable")).unwrap_or(true)
            && role.as_ref().is_none_or(|(_, r)| r["renewable"] != false),
        parent: if orphan {
            None
        } else {
            Some(c.entry.hash.clone())
        },
        path: match (&role, orphan_path) {
            (Some((name, _)), _) => format!("auth/token/create/{name}"),
            (None, true) => "auth/token/create-orphan".to_owned(),
            (None, false) => "auth/token/create".to_owned(),
        },
        token_type: "service".to_owned(),
    };
    let (token, entry) = tokens::store_new(c.u, req).await?;
    Ok(Reply::Auth(entry.auth_json(&token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(
            parse_query("list=true&x=a+b"),
            vec![("list".into(), "true".into()), ("x".into(), "a b".into())]
        );
    }

    #[test]
    fn root_protected_paths() {
        assert!(needs_sudo("sys/seal"));
        assert!(needs_sudo("sys/auth/approle"));
        assert!(needs_sudo("sys/rotate/keyring"));
        assert!(!needs_sudo("sys/mounts/kv"));
        assert!(!needs_sudo("secret/data/x"));
    }
}
