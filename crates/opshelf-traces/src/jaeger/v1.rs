//! Jaeger's v1 "internal HTTP JSON" API (`/api/...`): `structuredResponse` bodies
//! (`data`, `total`, `limit`, `offset`, `errors`), errors as Go's `http.Error` writes them
//! (text/plain, nosniff, the JSON plus a newline).
// Parameter parsers return the finished 400 answer as their error: handlers return it as is.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::params::{self, go_duration};
use super::{App, model, tempo};
use crate::store::{Search, StoredSpan, kind_name};

type Params = Query<Vec<(String, String)>>;

/// `{"data": ..., "total": n, "limit": 0, "offset": 0, "errors": null}`.
#[must_use]
pub fn envelope(data: Value, total: usize) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("data".to_owned(), data);
    m.insert("total".to_owned(), Value::from(total));
    m.insert("limit".to_owned(), Value::from(0));
    m.insert("offset".to_owned(), Value::from(0));
    m.insert("errors".to_owned(), Value::Null);
    Value::Object(m)
}

fn ok(p: &[(String, String)], body: &Value) -> Response {
    let pretty = p
        .iter()
        .any(|(k, v)| k == "prettyPrint" && !v.is_empty() && v != "false");
    let text = if pretty {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        let _ = serde::Serialize::serialize(body, &mut ser);
        String::from_utf8(buf).unwrap_or_default()
    } else {
        body.to_string()
    };
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Go's `http.Error` with Jaeger's error envelope.
pub fn error(status: StatusCode, msg: &str) -> Response {
    let body = json!({"data": null, "total": 0, "limit": 0, "offset": 0,
        "errors": [{"code": status.as_u16(), "msg": msg}]});
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

fn internal(e: &crate::store::StoreError) -> Response {
    super::fail(e, error)
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter()
        .find(|(key, v)| key == k && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

pub async fn services(State(app): State<App>, Query(p): Params) -> Response {
    let s = app.store.services();
    let n = s.len();
    ok(&p, &envelope(json!(s), n))
}

pub async fn service_operations(
    State(app): State<App>,
    Path(service): Path<String>,
    Query(p): Params,
) -> Response {
    let names: BTreeSet<String> = app
        .store
        .operations(&service)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let n = names.len();
    ok(&p, &envelope(json!(names), n))
}

pub async fn operations(State(app): State<App>, Query(p): Params) -> Response {
    let Some(service) = get(&p, "service") else {
        return error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    let kind = get(&p, "spanKind");
    let ops: Vec<Value> = app
        .store
        .operations(service)
        .into_iter()
        .filter(|(_, k)| kind.is_none_or(|want| want == kind_name(*k)))
        .map(|(name, k)| json!({"name": name, "spanKind": kind_name(k)}))
        .collect();
    let n = ops.len();
    ok(&p, &envelope(Value::Array(ops), n))
}

fn micros(p: &[(String, String)], key: &str) -> Result<Option<i64>, Response> {
    match get(p, key) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("unable to parse param '{key}': strconv.ParseInt: parsing {v:?}: {e}"),
            )
        }),
    }
}

/// A trace-by-id bound in ns. Jaeger reads µs; Grafana sends milliseconds (its "trace ID
/// time params"), which as µs would be a window in January 1970 that finds nothing. A
/// value that is a plausible millisecond time (2001..2286) and an implausible µs time
/// (before 1973) is read as milliseconds.
fn id_bound_ns(v: i64) -> i64 {
    if (1_000_000_000_000..100_000_000_000_000).contains(&v) {
        v.saturating_mul(1_000_000)
    } else {
        v.saturating_mul(1000)
    }
}

/// The time window of a trace-by-id lookup (`start`/`end`; everything when absent).
fn window(p: &[(String, String)]) -> Result<(i64, i64), Response> {
    let from = micros(p, "start")?.map_or(i64::MIN, id_bound_ns);
    // `end` in ms covers the whole last millisecond
    let to = micros(p, "end")?.map_or(i64::MAX, |v| id_bound_ns(v).saturating_add(1_000_000));
    Ok((from, to))
}

pub async fn trace(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(p): Params,
) -> Response {
    // Tempo's `GET /api/traces/{id}` shares the path; its clients ask for protobuf.
    if tempo::wants_protobuf(&headers) {
        return tempo::trace_protobuf(&app, &id).await;
    }
    let tid = match params::trace_id(&id) {
        Ok(t) => t,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let (from, to) = match window(&p) {
        Ok(w) => w,
        Err(r) => return r,
    };
    match app.store.trace(&tid, from, to).await {
        Ok(spans) if spans.is_empty() => error(StatusCode::NOT_FOUND, "trace not found"),
        Ok(spans) => ok(&p, &envelope(json!([model::trace(&spans)]), 0)),
        Err(e) => internal(&e),
    }
}

/// `/api/traces` parameters → a search (or a list of trace ids).
fn search_params(p: &[(String, String)]) -> Result<(Search, Vec<[u8; 16]>), Response> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, &m);
    let mut ids = Vec::new();
    for (k, v) in p {
        if k == "traceID" {
            ids.push(params::trace_id(v).map_err(bad)?);
        }
    }
    let now = params::now_ns();
    let end = micros(p, "end")?.map_or(now, |us| us.saturating_mul(1000));
    let start =
        micros(p, "start")?.map_or(end - 48 * 3_600_000_000_000, |us| us.saturating_mul(1000));
    let service = get(p, "service").unwrap_or("").to_owned();
    if service.is_empty() && ids.is_empty() {
        return Err(bad("parameter 'service' is required".to_owned()));
    }
    let limit = match get(p, "limit") {
        None => 100,
        Some(v) => v.parse::<i32>().map_err(|e| {
            bad(format!(
                "unable to parse param 'limit': strconv.ParseInt: parsing {v:?}: {e}"
            ))
        })?,
    };
    let dur = |key: &str| -> Result<Option<i64>, Response> {
        get(p, key)
            .map(|v| go_duration(v).map_err(|e| bad(format!("unable to parse param '{key}': {e}"))))
            .transpose()
    };
    let min = dur("minDuration")?;
    let max = dur("maxDuration")?;
    if let (Some(a), Some(b)) = (min, max)
        && b < a
    {
        return Err(bad(
            "'maxDuration' should be greater than 'minDuration'".to_owned()
        ));
    }
    let mut tags = BTreeMap::new();
    for (k, v) in p {
        if k == "tag" {
            let Some((a, b)) = v.split_once(':') else {
                return Err(bad(format!(
                    "malformed 'tag' parameter, expecting key:value, received: {v}"
                )));
            };
            tags.insert(a.to_owned(), b.to_owned());
        }
    }
    for (k, v) in p {
        if k == "tags" {
            let m: BTreeMap<String, String> = serde_json::from_str(v).map_err(|e| {
                bad(format!(
                    "malformed 'tags' parameter, cannot unmarshal JSON: {e}"
                ))
            })?;
            tags.extend(m);
        }
    }
    Ok((
        Search {
            service,
            operation: get(p, "operation").map(str::to_owned),
            tags,
            start_ns: start,
            end_ns: end.saturating_add(1),
            min_duration_ns: min,
            max_duration_ns: max,
            limit: usize::try_from(limit.max(0)).unwrap_or(0),
            span_kind: None,
        },
        ids,
    ))
}

pub async fn search(State(app): State<App>, Query(p): Params) -> Response {
    let (q, ids) = match search_params(&p) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut traces = Vec::new();
    let mut errors = Vec::new();
    if ids.is_empty() {
        let found = match app.store.find_trace_ids(q).await {
            Ok(f) => f,
            Err(e) => return internal(&e),
        };
        match app.store.traces(&found, i64::MIN, i64::MAX).await {
            Ok(all) => traces.extend(
                all.iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| model::trace(s)),
            ),
            Err(e) => return internal(&e),
        }
    } else {
        let all = match app.store.traces(&ids, q.start_ns, q.end_ns).await {
            Ok(all) => all,
            Err(e) => return internal(&e),
        };
        for (id, spans) in ids.iter().zip(&all) {
            if spans.is_empty() {
                errors.push(json!({"code": 404, "msg": "trace not found", "traceID": model::trace_id_hex(id)}));
            } else {
                traces.push(model::trace(spans));
            }
        }
    }
    let mut body = envelope(json!(traces), 0);
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors);
    }
    ok(&p, &body)
}

pub async fn dependencies(State(app): State<App>, Query(p): Params) -> Response {
    let ms = |key: &str, default: i64| -> Result<i64, Response> {
        match get(&p, key) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    &format!("unable to parse param '{key}': strconv.ParseInt: parsing {v:?}: {e}"),
                )
            }),
        }
    };
    let end = match ms("endTs", params::now_ns() / 1_000_000) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lookback = match ms("lookback", 86_400_000) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let spans = match app
        .store
        .scan(
            end.saturating_sub(lookback).saturating_mul(1_000_000),
            end.saturating_mul(1_000_000).saturating_add(1),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return internal(&e),
    };
    let filter = get(&p, "service");
    let links = dependency_links(&spans, filter);
    ok(&p, &envelope(Value::Array(links), 0))
}

/// Parent service → child service call counts, from parent/child spans of different
/// services (Jaeger's `dependencies` job, in memory).
fn dependency_links(spans: &[StoredSpan], filter: Option<&str>) -> Vec<Value> {
    let mut service_of: HashMap<(&[u8], &[u8]), String> = HashMap::new();
    for s in spans {
        service_of.insert((&s.span().trace_id, &s.span().span_id), s.service());
    }
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in spans {
        let span = s.span();
        if span.parent_span_id.is_empty() {
            continue;
        }
        if let Some(parent) =
            service_of.get(&(span.trace_id.as_slice(), span.parent_span_id.as_slice()))
        {
            let child = s.service();
            if *parent != child && filter.is_none_or(|f| f == parent || f == child) {
                *counts.entry((parent.clone(), child)).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .map(|((parent, child), n)| json!({"parent": parent, "child": child, "callCount": n}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_by_id_bounds_read_grafanas_milliseconds() {
        // µs as Jaeger reads them
        assert_eq!(
            id_bound_ns(1_767_225_600_000_000),
            1_767_225_600_000_000_000
        );
        // Grafana's ms (would be January 1970 as µs)
        assert_eq!(id_bound_ns(1_767_225_600_000), 1_767_225_600_000_000_000);
        let p = vec![("start".to_owned(), "x".to_owned())];
        assert_eq!(window(&p).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn search_parameters_as_jaeger_parses_them() {
        let p = |s: &[(&str, &str)]| -> Vec<(String, String)> {
            s.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(search_params(&p(&[])).is_err(), "service is required");
        let (q, ids) = search_params(&p(&[
            ("service", "api"),
            ("tag", "http.url:http://x:80/"),
            ("tags", r#"{"error":"true"}"#),
            ("minDuration", "1.5ms"),
            ("maxDuration", "2s"),
            ("start", "1000"),
            ("end", "2000"),
            ("lookback", "custom"),
        ]))
        .unwrap();
        assert!(ids.is_empty());
        assert_eq!(q.tags["http.url"], "http://x:80/");
        assert_eq!(q.tags["error"], "true");
        assert_eq!(
            (q.min_duration_ns, q.max_duration_ns),
            (Some(1_500_000), Some(2_000_000_000))
        );
        assert_eq!((q.start_ns, q.end_ns, q.limit), (1_000_000, 2_000_001, 100));
        let e = search_params(&p(&[
            ("service", "a"),
            ("minDuration", "2s"),
            ("maxDuration", "1s"),
        ]));
        assert_eq!(e.unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert!(search_params(&p(&[("service", "a"), ("tags", "{bad")])).is_err());
        let (_, ids) = search_params(&p(&[("traceID", "ff")])).unwrap();
        assert_eq!(ids.len(), 1);
    }
}
