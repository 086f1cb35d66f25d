//! Push endpoints. Loki's rules (`pkg/loghttp/push/push.go`): `Content-Type:
//! application/json` is JSON (v1 under `/loki/api/v1`, the legacy format elsewhere), any
//! other type — or none — is snappy protobuf; `Content-Encoding` may be absent, `snappy`,
//! `gzip` or `deflate`. 204 once every entry is durable.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, App};
use crate::otlp;
use crate::push::{self, PushStream};

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn is_json(h: &HeaderMap) -> bool {
    header_str(h, header::CONTENT_TYPE)
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"))
}

fn decode(
    app: &App,
    headers: &HeaderMap,
    body: &[u8],
    v1: bool,
) -> Result<Vec<PushStream>, ApiError> {
    let raw = push::decode_content(
        header_str(headers, header::CONTENT_ENCODING),
        body,
        app.max_push_bytes,
    )?;
    let streams = if is_json(headers) {
        if v1 {
            push::json::decode_v1(&raw)?
        } else {
            push::json::decode_legacy(&raw)?
        }
    } else {
        push::proto::decode(&raw, app.max_push_bytes)?
    };
    Ok(streams)
}

async fn push_with(
    app: Arc<App>,
    headers: HeaderMap,
    body: Bytes,
    v1: bool,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    let streams = decode(&app, &headers, &body, v1)?;
    app.store.push(&tenant, streams).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /loki/api/v1/push`.
pub async fn push_v1(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    push_with(app, headers, body, true).await
}

/// `POST /api/prom/push` (legacy JSON, or protobuf).
pub async fn push_legacy(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    push_with(app, headers, body, false).await
}

/// `POST /otlp/v1/logs`: protobuf or JSON `ExportLogsServiceRequest`, gzip allowed; answers
/// an empty `ExportLogsServiceResponse` in the request's encoding.
pub async fn otlp(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    let raw = push::decode_content(
        header_str(&headers, header::CONTENT_ENCODING),
        &body,
        app.max_push_bytes,
    )?;
    let json = is_json(&headers);
    let records = if json {
        otlp::decode_json(&raw)
    } else {
        otlp::decode_proto(&raw)
    }
    .map_err(|e| ApiError::bad(e.0))?;
    app.store.push(&tenant, otlp::to_streams(records)).await?;
    let mut r = if json {
        (StatusCode::OK, "{}").into_response()
    } else {
        (StatusCode::OK, Vec::<u8>::new()).into_response()
    };
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if json {
            "application/json"
        } else {
            "application/x-protobuf"
        }),
    );
    Ok(r)
}
