//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, protobuf or JSON by
//! Content-Type, answered in the request's encoding; `Content-Encoding: gzip`; chunked
//! bodies; CORS for the browser SDK. Errors are `google.rpc.Status` bodies, as the
//! collector's `otlp` receiver answers them.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::ingest::{self, IngestError, Partial, Shared};
use crate::otlp::{self, Encoding, Signal, code};

/// The OTLP/HTTP router; CORS when `origins` is not empty.
pub fn router(state: Shared, origins: &[String], headers: &[String]) -> Router {
    let r = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .with_state(state);
    if origins.is_empty() {
        return r;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    let allow_headers = if headers.iter().any(|h| h == "*") {
        AllowHeaders::mirror_request()
    } else {
        let mut names = vec![header::CONTENT_TYPE, header::CONTENT_ENCODING];
        names.extend(
            headers
                .iter()
                .filter_map(|h| header::HeaderName::from_bytes(h.as_bytes()).ok()),
        );
        AllowHeaders::list(names)
    };
    r.layer(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::POST, Method::OPTIONS])
            .allow_headers(allow_headers)
            .max_age(std::time::Duration::from_secs(7200)),
    )
}

async fn traces(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&st, Signal::Traces, &headers, &body).await
}

async fn logs(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&st, Signal::Logs, &headers, &body).await
}

async fn metrics(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&st, Signal::Metrics, &headers, &body).await
}

async fn handle(st: &Shared, signal: Signal, headers: &HeaderMap, body: &[u8]) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(enc) = Encoding::from_content_type(ct) else {
        return error(
            Encoding::Protobuf,
            &IngestError::Unsupported(format!(
                "unsupported content type {ct:?}: use application/x-protobuf or application/json"
            )),
        );
    };
    let ce = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let raw = match ingest::decompress(body, ce, st.max_message_bytes) {
        Ok(b) => b,
        Err(e) => return error(enc, &e),
    };
    let out = match signal {
        Signal::Traces => st.traces(&raw, enc).await,
        Signal::Logs => st.logs(&raw, enc).await,
        Signal::Metrics => st.metrics(&raw, enc),
    };
    match out {
        Ok(p) => ok(enc, signal, &p),
        Err(e) => error(enc, &e),
    }
}

fn ok(enc: Encoding, signal: Signal, p: &Partial) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, enc.content_type())],
        otlp::export_response(enc, signal, p.rejected, &p.message),
    )
        .into_response()
}

/// The status and `google.rpc.Status` for a refused export (OTLP/HTTP's rules: 400 for
/// bad data, 429/503 with `Retry-After` to retry).
pub(crate) fn error(enc: Encoding, e: &IngestError) -> Response {
    let (status, grpc) = match e {
        IngestError::Invalid(_) => (StatusCode::BAD_REQUEST, code::INVALID_ARGUMENT),
        IngestError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, code::RESOURCE_EXHAUSTED),
        IngestError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE),
        IngestError::Unsupported(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, code::UNIMPLEMENTED),
        IngestError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL),
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "OTLP export refused");
    }
    let mut res = (
        status,
        [(header::CONTENT_TYPE, enc.content_type())],
        otlp::status_body(enc, grpc, &e.to_string()),
    )
        .into_response();
    if let IngestError::Overloaded { retry_after, .. } = e
        && let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}
