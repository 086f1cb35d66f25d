//! Jaeger's `api_v3` over HTTP (`/api/v3/...`): OTLP/JSON traces in `{"result": ...}`,
//! canonical camelCase parameters and the snake_case aliases Grafana still sends; errors
//! `{"error": {"httpCode": n, "message": "..."}}` (text/plain, as `http.Error`).
// Parameter parsers return the finished 400 answer as their error: handlers return it as is.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::params::{self, go_duration, rfc3339_ns};
use super::{App, group};
use crate::otlp;
use crate::store::{Search, kind_name};

type Params = Query<Vec<(String, String)>>;

fn ok(body: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub fn error(status: StatusCode, msg: &str) -> Response {
    let body = json!({"error": {"httpCode": status.as_u16(), "message": msg}});
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{body}\n"),
    )
        .into_response()
}

/// The first non-empty value among `names` (canonical first, then the aliases).
fn get<'a>(p: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        p.iter()
            .find(|(k, v)| k == n && !v.is_empty())
            .map(|(_, v)| v.as_str())
    })
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "No traces found")
}

pub async fn services(State(app): State<App>) -> Response {
    ok(&json!({"services": app.store.services()}))
}

pub async fn operations(State(app): State<App>, Query(p): Params) -> Response {
    let Some(service) = get(&p, &["service"]) else {
        return error(
            StatusCode::BAD_REQUEST,
            "malformed parameter service: required",
        );
    };
    let kind = get(&p, &["spanKind", "span_kind"]);
    let ops: Vec<Value> = app
        .store
        .operations(service)
        .into_iter()
        .map(|(name, k)| {
            let kind = match kind_name(k) {
                "" => "internal",
                k => k,
            };
            (name, kind)
        })
        .filter(|(_, k)| kind.is_none_or(|want| want == *k))
        .map(|(name, k)| json!({"name": name, "spanKind": k}))
        .collect();
    ok(&json!({"operations": ops}))
}

pub async fn trace(State(app): State<App>, Path(id): Path<String>, Query(p): Params) -> Response {
    let tid = match params::trace_id(&id) {
        Ok(t) => t,
        Err(m) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("malformed parameter trace_id: {m}"),
            );
        }
    };
    let time = |names: &[&str]| -> Result<Option<i64>, Response> {
        get(&p, names)
            .map(|v| {
                rfc3339_ns(v).map_err(|e| {
                    error(
                        StatusCode::BAD_REQUEST,
                        &format!("malformed parameter {}: {e}", names[0]),
                    )
                })
            })
            .transpose()
    };
    let from = match time(&["startTime", "start_time"]) {
        Ok(t) => t.unwrap_or(i64::MIN),
        Err(r) => return r,
    };
    let to = match time(&["endTime", "end_time"]) {
        Ok(t) => t.map_or(i64::MAX, |t| t.saturating_add(1)),
        Err(r) => return r,
    };
    match app.store.trace(&tid, from, to).await {
        Ok(spans) if spans.is_empty() => not_found(),
        Ok(spans) => ok(&json!({"result": otlp::traces_json(group(&spans))})),
        Err(e) => super::fail(&e, error),
    }
}

fn search_params(p: &[(String, String)]) -> Result<Search, Response> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, &m);
    let service = get(p, &["query.serviceName", "query.service_name"])
        .ok_or_else(|| bad("malformed parameter query.service_name: required".to_owned()))?;
    let time = |names: &[&str]| -> Result<i64, Response> {
        let v = get(p, names)
            .ok_or_else(|| bad(format!("malformed parameter {}: required", names[1])))?;
        rfc3339_ns(v).map_err(|e| bad(format!("malformed parameter {}: {e}", names[1])))
    };
    let start = time(&["query.startTimeMin", "query.start_time_min"])?;
    let end = time(&["query.startTimeMax", "query.start_time_max"])?;
    if start >= end {
        return Err(bad(
            "malformed parameter query.start_time_min: must be before query.start_time_max"
                .to_owned(),
        ));
    }
    let dur = |names: &[&str]| -> Result<Option<i64>, Response> {
        get(p, names)
            .map(|v| {
                go_duration(v).map_err(|e| bad(format!("malformed parameter {}: {e}", names[1])))
            })
            .transpose()
    };
    let min = dur(&["query.durationMin", "query.duration_min"])?;
    let max = dur(&["query.durationMax", "query.duration_max"])?;
    let depth = match get(
        p,
        &[
            "query.searchDepth",
            "query.search_depth",
            "query.num_traces",
        ],
    ) {
        None => 100,
        Some(v) => v
            .parse::<usize>()
            .map_err(|e| bad(format!("malformed parameter query.search_depth: {e}")))?,
    };
    let tags: BTreeMap<String, String> = match get(p, &["query.attributes"]) {
        None => BTreeMap::new(),
        Some(v) => serde_json::from_str(v)
            .map_err(|e| bad(format!("malformed parameter query.attributes: {e}")))?,
    };
    Ok(Search {
        service: service.to_owned(),
        operation: get(p, &["query.operationName", "query.operation_name"]).map(str::to_owned),
        tags,
        start_ns: start,
        end_ns: end.saturating_add(1),
        min_duration_ns: min,
        max_duration_ns: max,
        limit: depth,
        span_kind: None,
    })
}

pub async fn search(State(app): State<App>, Query(p): Params) -> Response {
    let q = match search_params(&p) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let ids = match app.store.find_trace_ids(q).await {
        Ok(ids) => ids,
        Err(e) => return super::fail(&e, error),
    };
    let traces = match app.store.traces(&ids, i64::MIN, i64::MAX).await {
        Ok(t) => t,
        Err(e) => return super::fail(&e, error),
    };
    let all: Vec<_> = traces.iter().flat_map(|spans| group(spans)).collect();
    if all.is_empty() {
        return not_found();
    }
    ok(&json!({"result": otlp::traces_json(all)}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{Encoding, TracesRequest};

    /// Jaeger's own api_v3 snapshot: the same spans give the same bytes (keys sorted,
    /// zero values left out, 2-space indent as the snapshot file).
    #[test]
    fn get_trace_snapshot_matches() {
        let want = std::fs::read_to_string(opshelf_core::testing::shared(
            "obs/jaeger/fixtures/apiv3-snapshots/GetTrace.json",
        ))
        .unwrap();
        let v: Value = serde_json::from_str(&want).unwrap();
        let req: TracesRequest =
            otlp::decode(v["result"].to_string().as_bytes(), Encoding::Json).unwrap();
        let spans = super::super::model_tests_stored(&req);
        let got = json!({"result": otlp::traces_json(group(&spans))});
        assert_eq!(serde_json::to_string_pretty(&got).unwrap(), want.trim_end());
        let want = std::fs::read_to_string(opshelf_core::testing::shared(
            "obs/jaeger/fixtures/apiv3-snapshots/FindTraces.json",
        ))
        .unwrap();
        let v: Value = serde_json::from_str(&want).unwrap();
        let req: TracesRequest =
            otlp::decode(v["result"].to_string().as_bytes(), Encoding::Json).unwrap();
        let spans = super::super::model_tests_stored(&req);
        let got = json!({"result": otlp::traces_json(group(&spans))});
        assert_eq!(got, v);
    }
}
