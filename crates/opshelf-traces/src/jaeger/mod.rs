//! The query service on `[traces] query_listen`: Jaeger's v1 JSON API and `api_v3`, and
//! Tempo's trace by id. Every route is in [`router`].

mod model;
mod params;
mod tempo;
mod v1;
mod v3;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use crate::otlp::{ResourceSpans, ScopeSpans};
use crate::store::{SpanStore, StoreError, StoredSpan};

/// A failed read as a status: concurrent queries holding the event store's query memory is
/// transient (503 with `Retry-After`, what a client retries); anything else is a 500.
fn failure(e: &StoreError) -> (StatusCode, Option<u64>) {
    match e {
        StoreError::Events(opshelf_eventstore::Error::QueryBusy { retry_after }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(retry_after.as_secs().max(1)),
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

/// `failure` with the API's own error body.
fn fail(e: &StoreError, body: impl FnOnce(StatusCode, &str) -> Response) -> Response {
    let (status, retry) = failure(e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(error = %e, "trace query failed");
    }
    let mut r = body(status, &e.to_string());
    if let Some(v) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[derive(Clone)]
pub struct App {
    pub store: SpanStore,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/services", get(v1::services))
        .route(
            "/api/services/{service}/operations",
            get(v1::service_operations),
        )
        .route("/api/operations", get(v1::operations))
        .route("/api/traces", get(v1::search))
        .route("/api/traces/{id}", get(v1::trace))
        .route("/api/dependencies", get(v1::dependencies))
        .route("/api/v3/services", get(v3::services))
        .route("/api/v3/operations", get(v3::operations))
        .route("/api/v3/traces", get(v3::search))
        .route("/api/v3/traces/{id}", get(v3::trace))
        .route("/api/v2/traces/{id}", get(tempo::trace_v2))
        .route("/api/echo", get(tempo::echo))
        .route("/api/status/buildinfo", get(tempo::buildinfo))
        .with_state(app)
}

/// Spans as OTLP `ResourceSpans`, neighbours with the same resource and scope merged.
pub(crate) fn group(spans: &[StoredSpan]) -> Vec<ResourceSpans> {
    let mut out: Vec<ResourceSpans> = Vec::new();
    for s in spans {
        let ss = &s.rs.scope_spans[0];
        let span = s.span().clone();
        if let Some(last) = out.last_mut()
            && last.resource == s.rs.resource
            && last.schema_url == s.rs.schema_url
        {
            if let Some(lss) = last.scope_spans.last_mut()
                && lss.scope == ss.scope
                && lss.schema_url == ss.schema_url
            {
                lss.spans.push(span);
            } else {
                last.scope_spans.push(ScopeSpans {
                    scope: ss.scope.clone(),
                    spans: vec![span],
                    schema_url: ss.schema_url.clone(),
                });
            }
            continue;
        }
        out.push(s.rs.clone());
    }
    out
}

#[cfg(test)]
pub(crate) fn model_tests_stored(req: &crate::otlp::TracesRequest) -> Vec<StoredSpan> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let bytes = crate::otlp::encode_single(rs.resource.as_ref(), &rs.schema_url, ss, s);
                out.push(StoredSpan {
                    rs: crate::otlp::decode_single(&bytes).unwrap(),
                });
            }
        }
    }
    out
}
