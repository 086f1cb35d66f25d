//! Tempo's endpoints Grafana's Tempo data source uses to open a trace by id:
//! `GET /api/traces/{id}` and `/api/v2/traces/{id}` (protobuf with
//! `Accept: application/protobuf`, else OTLP/JSON), `/api/echo`, `/api/status/buildinfo`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde_json::json;

use super::{App, group, params};
use crate::otlp::{self, ResourceSpans};

/// `tempopb.Trace`: the same wire shape as OTLP's `TracesData`.
#[derive(Clone, PartialEq, Message)]
struct TempoTrace {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

/// `tempopb.TraceByIDResponse` (v2): the trace in field 1.
#[derive(Clone, PartialEq, Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TempoTrace>,
}

pub fn wants_protobuf(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/protobuf") || a.contains("application/x-protobuf"))
}

async fn load(app: &App, id: &str) -> Result<Vec<ResourceSpans>, Response> {
    let tid = params::trace_id(id).map_err(|m| (StatusCode::BAD_REQUEST, m).into_response())?;
    let spans = app
        .store
        .trace(&tid, i64::MIN, i64::MAX)
        .await
        .map_err(|e| super::fail(&e, |s, m| (s, m.to_owned()).into_response()))?;
    if spans.is_empty() {
        return Err((StatusCode::NOT_FOUND, "trace not found").into_response());
    }
    Ok(group(&spans))
}

pub async fn trace_protobuf(app: &App, id: &str) -> Response {
    match load(app, id).await {
        Ok(rs) => (
            [(header::CONTENT_TYPE, "application/protobuf")],
            TempoTrace { resource_spans: rs }.encode_to_vec(),
        )
            .into_response(),
        Err(r) => r,
    }
}

pub async fn trace_v2(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rs = match load(&app, &id).await {
        Ok(rs) => rs,
        Err(r) => return r,
    };
    if wants_protobuf(&headers) {
        let body = TraceByIdResponse {
            trace: Some(TempoTrace { resource_spans: rs }),
        };
        return (
            [(header::CONTENT_TYPE, "application/protobuf")],
            body.encode_to_vec(),
        )
            .into_response();
    }
    let body = json!({"trace": otlp::traces_json(rs)});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub async fn echo() -> &'static str {
    "echo"
}

pub async fn buildinfo() -> Response {
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
    .into_response()
}
