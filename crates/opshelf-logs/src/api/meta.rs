//! Label and series listings, index statistics and volumes, readiness and build info. These
//! read the store's stream summaries (in memory: no record is decompressed), except
//! `volume_range`, which counts records per step.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use opshelf_eventstore as es;
use serde_json::{Value, json};

use super::params::{self, Params};
use super::{ApiError, App, blocking, success};
use crate::logql_adapter::{self as logql, LabelMatcher};

/// Label names Grafana hides and Loki never lists.
const HIDDEN: &[&str] = &["__aggregated_metric__", "__tenant_id__", "__stream_shard__"];

struct Listing {
    tenant: String,
    start: i64,
    end: i64,
    groups: Vec<Vec<LabelMatcher>>,
}

fn listing(app: &App, headers: &HeaderMap, p: &Params, param: &str) -> Result<Listing, ApiError> {
    let tenant = app.tenant(headers)?;
    let (start, end) = params::parse_range(p, app.store.limits())?;
    let mut groups = Vec::new();
    for q in p.all(param) {
        if q.is_empty() {
            continue;
        }
        groups.push(logql::selector_matchers(q).map_err(|e| ApiError::bad(e.to_string()))?);
    }
    Ok(Listing {
        tenant,
        start,
        // Loki's label and series ranges include `end`
        end: end.saturating_add(1),
        groups,
    })
}

fn summaries(app: &App, l: &Listing) -> Result<Vec<es::StreamSummary>, ApiError> {
    Ok(app
        .store
        .source(&l.tenant)
        .summaries(&l.groups, l.start, l.end)?)
}

/// `GET /loki/api/v1/labels[?query=<selector>]`.
pub async fn labels(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let l = listing(&app, &headers, &p, "query")?;
    let mut names: Vec<String> = Vec::new();
    for s in summaries(&app, &l)? {
        for (k, _) in s.labels.iter() {
            if !HIDDEN.contains(&k) && !names.iter().any(|n| n == k) {
                names.push(k.to_owned());
            }
        }
    }
    names.sort();
    Ok(success(json!(names)))
}

/// `GET /loki/api/v1/label/{name}/values[?query=<selector>]`.
pub async fn label_values(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let l = listing(&app, &headers, &p, "query")?;
    let mut values: Vec<String> = Vec::new();
    for s in summaries(&app, &l)? {
        if let Some(v) = s.labels.get(&name)
            && !values.iter().any(|x| x == v)
        {
            values.push(v.to_owned());
        }
    }
    values.sort();
    Ok(success(json!(values)))
}

/// `GET /loki/api/v1/series?match[]=<selector>`.
pub async fn series(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let mut l = listing(&app, &headers, &p, "match[]")?;
    if l.groups.is_empty() {
        l = listing(&app, &headers, &p, "match")?;
    }
    let out: Vec<Value> = summaries(&app, &l)?
        .iter()
        .map(|s| {
            Value::Object(
                s.labels
                    .iter()
                    .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                    .collect(),
            )
        })
        .collect();
    Ok(success(json!(out)))
}

fn required_selector(app: &App, headers: &HeaderMap, p: &Params) -> Result<Listing, ApiError> {
    let l = listing(app, headers, p, "query")?;
    if l.groups.is_empty() {
        return Err(ApiError::bad("query parameter is required"));
    }
    Ok(l)
}

/// `GET /loki/api/v1/index/stats?query=<selector>`: `{streams, chunks, entries, bytes}` (not
/// wrapped in `status`/`data`, as Loki answers it).
pub async fn index_stats(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let l = required_selector(&app, &headers, &p)?;
    let s = summaries(&app, &l)?;
    Ok(axum::Json(json!({
        "streams": s.len(),
        "chunks": s.iter().map(|x| x.chunks).sum::<u64>(),
        "entries": s.iter().map(|x| x.records).sum::<u64>(),
        "bytes": s.iter().map(|x| x.bytes).sum::<u64>(),
    }))
    .into_response())
}

/// The labels a volume groups by: `targetLabels`, else the selector's label names; with
/// `aggregateBy=series` and no targets, each whole stream.
fn volume_key(l: &es::Labels, targets: &[String], by_series: bool) -> Vec<(String, String)> {
    if by_series && targets.is_empty() {
        return l
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    }
    targets
        .iter()
        .filter_map(|t| l.get(t).map(|v| (t.clone(), v.to_owned())))
        .collect()
}

fn volume_targets(p: &Params, l: &Listing) -> (Vec<String>, bool) {
    let by_series = p.get("aggregateBy") != Some("labels");
    let mut targets: Vec<String> = p
        .get("targetLabels")
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if targets.is_empty() && !by_series {
        for g in &l.groups {
            for m in g {
                if !targets.contains(&m.name) {
                    targets.push(m.name.clone());
                }
            }
        }
    }
    (targets, by_series)
}

fn volume_limit(p: &Params) -> Result<usize, ApiError> {
    match p.get("limit") {
        None => Ok(100),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad("limit must be a positive value")),
    }
}

/// `GET /loki/api/v1/index/volume`: bytes per group, as a vector, biggest first.
pub async fn volume(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let l = required_selector(&app, &headers, &p)?;
    let (targets, by_series) = volume_targets(&p, &l);
    let limit = volume_limit(&p)?;
    let mut groups: BTreeMap<Vec<(String, String)>, u64> = BTreeMap::new();
    for s in summaries(&app, &l)? {
        *groups
            .entry(volume_key(&s.labels, &targets, by_series))
            .or_default() += s.bytes;
    }
    let mut v: Vec<_> = groups.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    let t = l.end.saturating_sub(1) as f64 / 1e9;
    let result: Vec<Value> = v
        .into_iter()
        .map(|(k, b)| json!({"metric": pairs(&k), "value": [t, b.to_string()]}))
        .collect();
    Ok(success(json!({"resultType": "vector", "result": result})))
}

fn pairs(k: &[(String, String)]) -> Value {
    Value::Object(
        k.iter()
            .map(|(a, b)| (a.clone(), Value::String(b.clone())))
            .collect(),
    )
}

/// `GET /loki/api/v1/index/volume_range`: bytes per group per step, as a matrix (counts the
/// records of the range).
pub async fn volume_range(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let l = required_selector(&app, &headers, &p)?;
    let (targets, by_series) = volume_targets(&p, &l);
    let limit = volume_limit(&p)?;
    let step = params::parse_step(&p, l.start, l.end)?;
    let store = app.store.clone();
    let timeout = std::time::Duration::from_secs(store.limits().query_timeout_secs);
    let groups = blocking(move || {
        let started = std::time::Instant::now();
        let mut groups: BTreeMap<Vec<(String, String)>, BTreeMap<i64, u64>> = BTreeMap::new();
        let deletes = store.deletes.active_for(&l.tenant);
        let selectors = if l.groups.is_empty() {
            vec![Vec::new()]
        } else {
            l.groups.clone()
        };
        for g in &selectors {
            let q = es::Query {
                tenant: l.tenant.clone(),
                from_ns: l.start,
                to_ns: l.end,
                matchers: crate::store::to_es_matchers(g)?,
                direction: es::Direction::Forward,
                limit: 0,
                needle: None,
                contains: None,
            };
            let it = store
                .events()
                .query(q)
                .map_err(|e| ApiError::from(crate::store::source_error(e)))?;
            for h in it {
                let h = h.map_err(|e| ApiError::from(crate::store::source_error(e)))?;
                if started.elapsed() > timeout {
                    return Err(ApiError::new(
                        axum::http::StatusCode::GATEWAY_TIMEOUT,
                        "context deadline exceeded",
                    ));
                }
                if deletes
                    .iter()
                    .any(|d| d.covers(h.record.time_ns, &h.labels))
                {
                    continue;
                }
                let bucket = l.start + (h.record.time_ns - l.start) / step * step;
                *groups
                    .entry(volume_key(&h.labels, &targets, by_series))
                    .or_default()
                    .entry(bucket)
                    .or_default() += h.record.body.len() as u64;
            }
        }
        Ok(groups)
    })
    .await?;
    let mut v: Vec<_> = groups.into_iter().collect();
    v.sort_by(|a, b| {
        let (x, y): (u64, u64) = (a.1.values().sum(), b.1.values().sum());
        y.cmp(&x).then_with(|| a.0.cmp(&b.0))
    });
    v.truncate(limit);
    let result: Vec<Value> = v
        .into_iter()
        .map(|(k, pts)| {
            let values: Vec<Value> = pts
                .into_iter()
                .map(|(t, b)| json!([t as f64 / 1e9, b.to_string()]))
                .collect();
            json!({"metric": pairs(&k), "values": values})
        })
        .collect();
    Ok(success(json!({"resultType": "matrix", "result": result})))
}

/// `GET /ready`: `ready` once the store is open (it is, or the capability would not serve).
pub async fn ready() -> &'static str {
    "ready\n"
}

/// `GET /loki/api/v1/status/buildinfo`. `version` is the Loki API level opshelf follows
/// (Grafana enables features by it); `opshelf` is opshelf's own version.
pub async fn buildinfo() -> Response {
    axum::Json(json!({
        "version": "3.5.0",
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        "opshelf": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}
