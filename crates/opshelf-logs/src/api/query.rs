//! `query`, `query_range`, `format_query`, and the result JSON Loki (and Grafana's parser)
//! use: `resultType` streams / matrix / vector / scalar, `stats.summary`, and with
//! `X-Loki-Response-Encoding-Flags: categorize-labels` 3-element values.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::params::{self, Params};
use super::{ApiError, App, blocking, success};
use crate::logql_adapter::{self as logql, Labels, QueryResult, Stats, Stream};

/// `GET /loki/api/v1/query`: an instant query at `time` (default now).
pub async fn instant(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    let query = p
        .get("query")
        .ok_or_else(|| ApiError::bad("query parameter is required"))?
        .to_owned();
    let limits = app.store.limits();
    let limit = params::parse_limit(&p, limits)?;
    let direction = params::parse_direction(&p)?;
    let t = params::parse_time(p.get("time"), params::now_ns())?;
    let lp = logql::Params {
        start_ns: t,
        end_ns: t,
        step_ns: 0,
        interval_ns: None,
        direction,
        limit,
        instant: true,
    };
    run(&app, &tenant, query, lp, &headers).await
}

/// `GET /loki/api/v1/query_range`.
pub async fn range(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    let query = p
        .get("query")
        .ok_or_else(|| ApiError::bad("query parameter is required"))?
        .to_owned();
    let limits = app.store.limits();
    let limit = params::parse_limit(&p, limits)?;
    let direction = params::parse_direction(&p)?;
    let (start, end) = params::parse_range(&p, limits)?;
    let step = params::parse_step(&p, start, end)?;
    let interval = match p.get("interval") {
        Some(v) => Some(params::parse_duration(v).ok_or_else(|| {
            ApiError::bad(format!(
                "cannot parse {} to a valid duration",
                Value::from(v)
            ))
        })?),
        None => None,
    };
    let lp = logql::Params {
        start_ns: start,
        end_ns: end,
        step_ns: step,
        interval_ns: interval,
        direction,
        limit,
        instant: false,
    };
    run(&app, &tenant, query, lp, &headers).await
}

async fn run(
    app: &Arc<App>,
    tenant: &str,
    query: String,
    lp: logql::Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let categorize = headers
        .get("x-loki-response-encoding-flags")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "categorize-labels"));
    let app = app.clone();
    let src = app.store.source(tenant);
    let (result, stats) =
        blocking(move || app.engine.query(&src, &query, &lp).map_err(ApiError::from)).await?;
    Ok(success(result_json(result, &stats, categorize)))
}

/// Loki's `data` object for a result.
pub fn result_json(r: QueryResult, stats: &Stats, categorize: bool) -> Value {
    let stats = stats_json(stats, &r);
    match r {
        QueryResult::Streams(streams) => {
            let mut data = json!({
                "resultType": "streams",
                "result": streams_json(streams, categorize),
                "stats": stats,
            });
            if categorize {
                data["encodingFlags"] = json!(["categorize-labels"]);
            }
            data
        }
        QueryResult::Matrix(series) => json!({
            "resultType": "matrix",
            "result": series.into_iter().map(|s| json!({
                "metric": labels_json(&s.labels),
                "values": s.points.iter().map(|(t, v)| json!([secs(*t), sample(*v)])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "stats": stats,
        }),
        QueryResult::Vector(samples) => json!({
            "resultType": "vector",
            "result": samples.into_iter().map(|s| json!({
                "metric": labels_json(&s.labels),
                "value": [secs(s.ts_ns), sample(s.value)],
            })).collect::<Vec<_>>(),
            "stats": stats,
        }),
        QueryResult::Scalar(t, v) => json!({
            "resultType": "scalar",
            "result": [secs(t), sample(v)],
            "stats": stats,
        }),
    }
}

/// Prometheus-style sample times: float seconds.
fn secs(ns: i64) -> Value {
    let s = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    if frac == 0 {
        json!(s)
    } else {
        json!(ns as f64 / 1e9)
    }
}

/// Sample values as strings (`"2"`, `"+Inf"`, `"NaN"`), as Prometheus renders them.
fn sample(v: f64) -> Value {
    let s = if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    };
    Value::String(s)
}

pub(crate) fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect(),
    )
}

fn pairs_json(p: &[(String, String)]) -> Value {
    Value::Object(
        p.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Streams. Without categorize-labels Loki folds structured metadata and parsed labels
/// into each entry's stream labels (entries then group by the full set).
pub(crate) fn streams_json(streams: Vec<Stream>, categorize: bool) -> Vec<Value> {
    if categorize {
        return streams
            .into_iter()
            .map(|s| {
                let values: Vec<Value> = s
                    .entries
                    .iter()
                    .map(|e| {
                        let mut extra = serde_json::Map::new();
                        if !e.metadata.is_empty() {
                            extra.insert("structuredMetadata".into(), pairs_json(&e.metadata));
                        }
                        if !e.parsed.is_empty() {
                            extra.insert("parsed".into(), pairs_json(&e.parsed));
                        }
                        json!([e.ts_ns.to_string(), e.line, Value::Object(extra)])
                    })
                    .collect();
                json!({"stream": labels_json(&s.labels), "values": values})
            })
            .collect();
    }
    let mut out: Vec<(Labels, Vec<Value>)> = Vec::new();
    for s in streams {
        for e in s.entries {
            let labels = if e.metadata.is_empty() && e.parsed.is_empty() {
                s.labels.clone()
            } else {
                let mut all: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                all.extend(e.metadata.iter().cloned());
                all.extend(e.parsed.iter().cloned());
                Labels::new(all)
            };
            let v = json!([e.ts_ns.to_string(), e.line]);
            match out.iter_mut().find(|(l, _)| *l == labels) {
                Some((_, vs)) => vs.push(v),
                None => out.push((labels, vec![v])),
            }
        }
    }
    out.into_iter()
        .map(|(l, values)| json!({"stream": labels_json(&l), "values": values}))
        .collect()
}

fn stats_json(s: &Stats, r: &QueryResult) -> Value {
    let returned: usize = match r {
        QueryResult::Streams(st) => st.iter().map(|s| s.entries.len()).sum(),
        _ => 0,
    };
    let per_sec = |n: u64| {
        if s.exec_time > 0.0 {
            (n as f64 / s.exec_time) as u64
        } else {
            0
        }
    };
    json!({
        "summary": {
            "bytesProcessedPerSecond": per_sec(s.total_bytes_processed),
            "linesProcessedPerSecond": per_sec(s.total_lines_processed),
            "totalBytesProcessed": s.total_bytes_processed,
            "totalLinesProcessed": s.total_lines_processed,
            "execTime": s.exec_time,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": 0,
            "totalStructuredMetadataBytesProcessed": 0,
        },
        "querier": {"store": {"totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0}},
        "ingester": {"totalReached": 0, "totalChunksMatched": 0, "totalBatches": 0, "totalLinesSent": 0},
    })
}

/// `GET /loki/api/v1/format_query?query=`: `{"status":"success","data":"<pretty>"}`.
pub async fn format(p: Params) -> Result<Response, ApiError> {
    let q = p
        .get("query")
        .ok_or_else(|| ApiError::bad("query parameter is required"))?;
    let pretty = logql::format_query(q).map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(success(Value::String(pretty)))
}
