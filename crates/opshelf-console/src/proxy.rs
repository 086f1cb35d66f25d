//! Same-origin forwarding to the other capabilities' own HTTP APIs, for a signed-in user:
//! `/console/api/proxy/<upstream>/<rest>` → `http://<bound address><base><rest>`.
//!
//! The console depends on no capability crate; it is one more client of their public APIs,
//! on the addresses the platform bound (`Context::board`). What each upstream needs:
//! - `flags` → the Unleash admin API (`/api/admin/...`) with `[console] flags_admin_token`
//!   added (the token never reaches the browser);
//! - `secrets` → Vault's `sys/*` (`/v1/sys/...`) with the `X-Vault-Token` the operator typed
//!   into the Secrets page, if any (seal status and unseal need none, as in Vault's UI);
//! - `traces` → the Jaeger query API (`/api/services`, `/api/traces`, ...) on the traces
//!   capability's query listener;
//! - `logs` → the Loki HTTP API (`/loki/api/v1/query_range`, `labels`, ...), default tenant.
//!
//! A later capability adds one [`UPSTREAMS`] row. Every forwarded change is recorded in the
//! audit stream.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opshelf_core::status::BoardView;

use crate::Error;

/// How the console authenticates to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// `Authorization: <[console] flags_admin_token>`.
    FlagsAdminToken,
    /// The browser's `X-Vault-Token`, passed through when present.
    VaultToken,
    /// Nothing.
    None,
}

/// One upstream the console forwards to.
#[derive(Debug, Clone, Copy)]
pub struct Upstream {
    /// The path segment after `/console/api/proxy/`.
    pub name: &'static str,
    /// The listener it lives on (as `/status` names it).
    pub listener: &'static str,
    /// The path prefix on that listener.
    pub base: &'static str,
    pub auth: UpstreamAuth,
}

/// THE table of what the console forwards.
pub const UPSTREAMS: &[Upstream] = &[
    Upstream {
        name: "flags",
        listener: "flags",
        base: "/api/admin/",
        auth: UpstreamAuth::FlagsAdminToken,
    },
    Upstream {
        name: "secrets",
        listener: "secrets",
        base: "/v1/sys/",
        auth: UpstreamAuth::VaultToken,
    },
    Upstream {
        name: "traces",
        listener: "traces-query",
        base: "/api/",
        auth: UpstreamAuth::None,
    },
    Upstream {
        name: "logs",
        listener: "logs",
        base: "/loki/api/v1/",
        auth: UpstreamAuth::None,
    },
];

/// The HTTP client (plain HTTP to 127.0.0.1; a TLS listener is refused with a clear error).
pub type HttpClient = Client<HttpConnector, Body>;

/// A client for the upstreams.
#[must_use]
pub fn client() -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(3)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        .build(http)
}

/// The upstream named `name`.
#[must_use]
pub fn upstream(name: &str) -> Option<&'static Upstream> {
    UPSTREAMS.iter().find(|u| u.name == name)
}

/// Where `listener` is bound, as a loopback-reachable address; `Err` says why not.
///
/// # Errors
/// The listener is not bound (its capability is off) or serves TLS.
pub fn address(board: &BoardView, listener: &str) -> Result<SocketAddr, Error> {
    let Some(info) = board.listeners().into_iter().find(|l| l.name == listener) else {
        return Err(Error::Upstream(format!(
            "the {listener} listener is not running (is its capability enabled?)"
        )));
    };
    if info.tls {
        return Err(Error::Upstream(format!(
            "the {listener} listener serves TLS; the console forwards to plain-HTTP listeners only"
        )));
    }
    let mut addr: SocketAddr = info
        .addr
        .parse()
        .map_err(|_| Error::Internal(format!("listener address {}", info.addr)))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(addr)
}

/// Whether `rest` is a path we forward: segments of `[A-Za-z0-9._~:@+-]`, no `.`/`..`.
#[must_use]
pub fn safe_rest(rest: &str) -> bool {
    rest.len() <= 1024
        && rest.split('/').all(|seg| {
            seg != "."
                && seg != ".."
                && seg.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b'_' | b'~' | b':' | b'@' | b'+' | b'-')
                })
        })
}

/// Request headers passed on.
const PASS_REQUEST: &[HeaderName] = &[header::CONTENT_TYPE, header::ACCEPT];
/// Response headers passed back.
const PASS_RESPONSE: &[HeaderName] = &[header::CONTENT_TYPE, header::ETAG, header::RETRY_AFTER];

/// What to forward.
#[derive(Debug)]
pub struct Forward<'a> {
    pub upstream: &'a Upstream,
    pub addr: SocketAddr,
    pub rest: &'a str,
    pub query: Option<&'a str>,
    pub method: Method,
    pub headers: &'a HeaderMap,
    pub body: Body,
    pub flags_admin_token: &'a str,
}

/// Send it; the upstream's status, type and body come back as they are.
///
/// # Errors
/// The upstream cannot be reached or answers nothing in time.
pub async fn forward(client: &HttpClient, f: Forward<'_>) -> Result<Response<Body>, Error> {
    let path_and_query = match f.query {
        Some(q) if !q.is_empty() => format!("{}{}?{q}", f.upstream.base, f.rest),
        _ => format!("{}{}", f.upstream.base, f.rest),
    };
    let uri: Uri = format!("http://{}{path_and_query}", f.addr)
        .parse()
        .map_err(|_| Error::BadRequest("bad path".into()))?;
    let mut req = Request::builder().method(f.method).uri(uri);
    for h in PASS_REQUEST {
        if let Some(v) = f.headers.get(h) {
            req = req.header(h, v);
        }
    }
    match f.upstream.auth {
        UpstreamAuth::FlagsAdminToken => {
            if f.flags_admin_token.is_empty() {
                return Err(Error::Upstream(
                    "set [console] flags_admin_token (and list it in [flags] init_admin_api_tokens) so the console can manage flags".into(),
                ));
            }
            let v = HeaderValue::from_str(f.flags_admin_token)
                .map_err(|_| Error::Internal("flags_admin_token is not a header value".into()))?;
            req = req.header(header::AUTHORIZATION, v);
        }
        UpstreamAuth::VaultToken => {
            if let Some(v) = f.headers.get("x-vault-token") {
                req = req.header("x-vault-token", v);
            }
        }
        UpstreamAuth::None => {}
    }
    let req = req
        .body(f.body)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let resp = tokio::time::timeout(Duration::from_secs(15), client.request(req))
        .await
        .map_err(|_| Error::Upstream(format!("{} did not answer in 15 s", f.upstream.name)))?
        .map_err(|e| Error::Upstream(format!("{}: {e}", f.upstream.name)))?;
    let (parts, body) = resp.into_parts();
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = parts.status;
    for h in PASS_RESPONSE {
        if let Some(v) = parts.headers.get(h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_are_forwarded() {
        assert!(safe_rest(
            "projects/default/features/my.flag/environments/development/on"
        ));
        assert!(safe_rest("seal-status"));
        assert!(!safe_rest("../client/features"));
        assert!(!safe_rest("a/../../b"));
        assert!(!safe_rest("a?b"));
        assert!(!safe_rest("a\\b"));
        assert!(!safe_rest("%2e%2e/client"));
        assert!(upstream("flags").is_some());
        assert!(upstream("admin").is_none());
        assert_eq!(upstream("traces").unwrap().listener, "traces-query");
        assert_eq!(upstream("logs").unwrap().base, "/loki/api/v1/");
        assert!(safe_rest("traces/4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(safe_rest("label/service_name/values"));
    }

    #[test]
    fn a_listener_that_is_not_bound_is_a_clear_error() {
        let e = address(&BoardView::default(), "flags").unwrap_err();
        assert!(
            e.to_string().contains("flags listener is not running"),
            "{e}"
        );
    }
}
