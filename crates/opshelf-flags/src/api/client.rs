//! The client API for backend SDKs: `/api/client/features` (+`/{name}`), `register`, `metrics`.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{App, authorize, parse_json};
use crate::error::Error;
use crate::model::{MetricsBody, RegisterBody};
use crate::state::{ClientQuery, Token, TokenType};
use crate::store::{EvalLabels, now};
use crate::usage::Application;

/// Whether the SDK's `Unleash-Client-Spec` is at least 4.2.0 (understands top-level segments).
#[must_use]
pub fn supports_segments(headers: &HeaderMap) -> bool {
    let Some(v) = headers
        .get("unleash-client-spec")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = v.trim().split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let mut num = || {
        parts
            .next()
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (a, b, c) = (num(), num(), num());
    (a, b, c) >= (4, 2, 0)
}

/// The query of a client request, narrowed to what `token` may see.
fn client_query(token: &Token, pairs: &[(String, String)], headers: &HeaderMap) -> ClientQuery {
    let mut requested: BTreeSet<String> = BTreeSet::new();
    let mut q = ClientQuery {
        inline_segments: !supports_segments(headers),
        ..ClientQuery::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "project" | "project[]" => {
                requested.insert(v.clone());
            }
            "namePrefix" => q.name_prefix = Some(v.clone()),
            "tag" | "tag[]" => {
                if let Some((t, val)) = v.split_once(':') {
                    q.tags.push((t.to_owned(), val.to_owned()));
                }
            }
            _ => {}
        }
    }
    let all = token.projects.iter().any(|p| p == "*");
    q.projects = match (all, requested.is_empty()) {
        (true, true) => None,
        (true, false) => Some(requested),
        (false, true) => Some(token.projects.iter().cloned().collect()),
        (false, false) => Some(
            requested
                .into_iter()
                .filter(|p| token.allows_project(p))
                .collect(),
        ),
    };
    q.tags.sort();
    q.tags.dedup();
    q
}

/// Whether `If-None-Match` names `etag` (weak comparison, `*` matches anything).
#[must_use]
pub fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches("W/").to_owned();
    let want = strip(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|candidate| {
                let c = strip(candidate);
                c == "*" || c == want
            })
        })
}

/// `GET /api/client/features`.
pub async fn features(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let token = authorize(&app, &headers, &[TokenType::Backend])?;
    let q = client_query(&token, &pairs, &headers);
    let rendered = app
        .store
        .snapshot()
        .client_features(&token.environment, &q)?;
    if etag_matches(&headers, &rendered.etag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, rendered.etag.clone())],
        )
            .into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_owned(),
            ),
            (header::ETAG, rendered.etag.clone()),
        ],
        rendered.body.clone(),
    )
        .into_response())
}

/// `GET /api/client/features/{name}`.
pub async fn feature(
    State(app): State<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    let token = authorize(&app, &headers, &[TokenType::Backend])?;
    let q = client_query(&token, &[], &headers);
    let rendered = app
        .store
        .snapshot()
        .client_features(&token.environment, &q)?;
    let body = rendered
        .features
        .get(&name)
        .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.clone(),
    )
        .into_response())
}

/// `POST /api/client/register` → 202.
pub async fn register(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    authorize(&app, &headers, &[TokenType::Backend])?;
    record_registration(&app, &body, "backend")?;
    Ok(StatusCode::ACCEPTED)
}

/// Store a registration body (shared with the frontend route).
pub(super) fn record_registration(app: &App, body: &[u8], sdk_type: &str) -> Result<(), Error> {
    let reg: RegisterBody = parse_json(body)?;
    if reg.app_name.trim().is_empty() {
        return Err(Error::BadRequest("appName must not be empty".into()));
    }
    let registration = serde_json::to_value(&reg).map_err(|e| Error::Internal(e.to_string()))?;
    app.usage.register(Application {
        app_name: reg.app_name,
        instance_id: reg.instance_id.unwrap_or_else(|| "default".to_owned()),
        sdk_type: sdk_type.to_owned(),
        last_seen: now(),
        registration,
    });
    Ok(())
}

/// `POST /api/client/metrics` → 202.
pub async fn metrics(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let token = authorize(&app, &headers, &[TokenType::Backend])?;
    record_metrics(&app, &body, &token.environment, "sdk")?;
    Ok(StatusCode::ACCEPTED)
}

/// Add a metrics report (shared with the frontend route).
pub(super) fn record_metrics(app: &App, body: &[u8], env: &str, source: &str) -> Result<(), Error> {
    let m: MetricsBody = parse_json(body)?;
    if m.app_name.trim().is_empty() {
        return Err(Error::BadRequest("appName must not be empty".into()));
    }
    app.usage.add(&m.app_name, &m.bucket.toggles);
    // Prometheus only gets flags that exist (label values must not be attacker-chosen).
    let snap = app.store.snapshot();
    if let Some(view) = snap.envs.get(env) {
        for (flag, c) in &m.bucket.toggles {
            if !view.counters.contains_key(flag) {
                continue;
            }
            for (result, n) in [("true", c.yes), ("false", c.no)] {
                if n > 0 {
                    app.store
                        .evals()
                        .get_or_create(&EvalLabels {
                            flag: flag.clone(),
                            result: result.to_owned(),
                            source: source.to_owned(),
                        })
                        .inc_by(n);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn spec_header_decides_segments() {
        let mut h = HeaderMap::new();
        assert!(!supports_segments(&h));
        h.insert("unleash-client-spec", HeaderValue::from_static("4.1.9"));
        assert!(!supports_segments(&h));
        h.insert("unleash-client-spec", HeaderValue::from_static("4.2.0"));
        assert!(supports_segments(&h));
        h.insert("unleash-client-spec", HeaderValue::from_static("5.2.0"));
        assert!(supports_segments(&h));
        h.insert("unleash-client-spec", HeaderValue::from_static("garbage"));
        assert!(!supports_segments(&h));
    }

    #[test]
    fn if_none_match_accepts_lists_and_weak_tags() {
        let mut h = HeaderMap::new();
        assert!(!etag_matches(&h, "\"a:1:v1\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"a:1:v1\""),
        );
        assert!(etag_matches(&h, "\"a:1:v1\""));
        assert!(!etag_matches(&h, "\"a:2:v1\""));
    }
}
