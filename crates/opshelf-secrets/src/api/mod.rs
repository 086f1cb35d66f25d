//! Vault's HTTP API: request conventions (`/v1/`, token headers, PUT ≡ POST, LIST, PATCH
//! with merge-patch), the response envelope, authentication and ACL checks, and the
//! routing of a logical path to `sys/`, `auth/token/`, `auth/approle/` or a mount.
//!
//! This module and its children (`sys.rs`: `sys/*`; `token.rs`: `auth/token/*`) are the only
//! place that knows Vault's wire shapes; engines return [`Reply`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::policy::cap;
use crate::tokens::{self, TokenEntry, TokenRequest};
use crate::vault::{MountEntry, Unsealed, Vault, read};
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

mod sys;
mod token;

use sys::{health, init, leader, seal_status, sys, unseal};
use token::token_routes;

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
