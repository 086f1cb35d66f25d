//! `GET /loki/api/v1/tail` (WebSocket): first the entries since `start` (default an hour
//! ago, at most `limit`), then every pushed entry the query selects, as Loki's tail messages
//! `{"streams":[{"stream":{..},"values":[["<ns>","line"]]}]}`. Live entries are run through
//! the same engine over an in-memory source holding just the pushed batch, so whatever the
//! query filters, the tail filters alike.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::params::{self, Params};
use super::query::streams_json;
use super::{ApiError, App};
use crate::logql_adapter::{
    self as logql, LabelMatcher, Labels, LogRow, QueryResult, RowIter, SelectRequest, Source,
    SourceError,
};
use crate::store::Pushed;

/// Upgrade once the parameters are valid (a bad query is a 400 before the upgrade).
pub async fn tail(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
    p: Params,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    let query = p
        .get("query")
        .ok_or_else(|| ApiError::bad("query parameter is required"))?
        .to_owned();
    let limit = params::parse_limit(&p, app.store.limits())?;
    let now = params::now_ns();
    let start = params::parse_time(p.get("start"), now - 3_600_000_000_000)?;
    // parse (and reject) the query now: evaluate it over nothing
    let empty = MemSource(Vec::new());
    app.engine
        .query(&empty, &query, &live_params(0, 1, limit))
        .map_err(ApiError::from)?;
    Ok(ws.on_upgrade(move |socket| run(app, tenant, query, start, limit, socket)))
}

/// A range log query over `[start, end)`; `limit` must stay within the engine's
/// `max_entries_limit_per_query` (the engine rejects a larger one).
fn live_params(start: i64, end: i64, limit: usize) -> logql::Params {
    logql::Params {
        start_ns: start,
        end_ns: end,
        step_ns: 1_000_000_000,
        interval_ns: None,
        direction: logql::Direction::Forward,
        limit,
        instant: false,
    }
}

async fn send(socket: &mut WebSocket, r: QueryResult) -> bool {
    let QueryResult::Streams(streams) = r else {
        return true;
    };
    if streams.iter().all(|s| s.entries.is_empty()) {
        return true;
    }
    let body = json!({ "streams": streams_json(streams, false) }).to_string();
    socket.send(Message::Text(body.into())).await.is_ok()
}

async fn run(
    app: Arc<App>,
    tenant: String,
    query: String,
    start: i64,
    limit: usize,
    mut socket: WebSocket,
) {
    let mut rx = app.store.subscribe();
    // a push is evaluated whole, up to the most entries one query may return
    let live_limit = app.store.limits().max_entries_limit_per_query;
    let backfill = {
        let app = app.clone();
        let (tenant, query) = (tenant.clone(), query.clone());
        tokio::task::spawn_blocking(move || {
            let src = app.store.source(&tenant);
            app.engine
                .query(&src, &query, &live_params(start, params::now_ns(), limit))
        })
        .await
    };
    match backfill {
        Ok(Ok((r, _))) => {
            if !send(&mut socket, r).await {
                return;
            }
        }
        Ok(Err(e)) => {
            let _ = socket.send(Message::Text(e.to_string().into())).await;
            return;
        }
        Err(_) => return,
    }
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Ok(p) if p.tenant == tenant => {
                    let src = MemSource::of(&p);
                    let (min, max) = src.bounds();
                    match app.engine.query(&src, &query, &live_params(min, max.saturating_add(1), live_limit)) {
                        Ok((r, _)) => {
                            if !send(&mut socket, r).await {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "tail evaluation failed");
                        }
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            msg = socket.recv() => match msg {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The rows of one push, for evaluating a tail query over them.
struct MemSource(Vec<LogRow>);

impl MemSource {
    fn of(p: &Pushed) -> Self {
        let mut rows = Vec::new();
        for s in &p.streams {
            for e in &s.entries {
                rows.push(LogRow {
                    ts_ns: e.ts_ns,
                    labels: s.labels.clone(),
                    metadata: e.metadata.clone(),
                    line: e.line.clone(),
                });
            }
        }
        rows.sort_by_key(|r| r.ts_ns);
        Self(rows)
    }

    fn bounds(&self) -> (i64, i64) {
        let min = self.0.first().map_or(0, |r| r.ts_ns);
        let max = self.0.last().map_or(0, |r| r.ts_ns);
        (min, max)
    }
}

fn matches(ms: &[LabelMatcher], l: &Labels) -> bool {
    ms.iter().all(|m| m.matches_labels(l))
}

impl Source for MemSource {
    fn select(&self, req: &SelectRequest) -> Result<RowIter<'_>, SourceError> {
        let mut rows = Vec::new();
        for r in &self.0 {
            if r.ts_ns >= req.from_ns && r.ts_ns < req.to_ns && matches(&req.matchers, &r.labels) {
                rows.push(Ok(r.clone()));
            }
        }
        if req.direction == logql::Direction::Backward {
            rows.reverse();
        }
        Ok(Box::new(rows.into_iter()))
    }

    fn series(
        &self,
        matchers: &[Vec<LabelMatcher>],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<Labels>, SourceError> {
        let mut out: Vec<Labels> = Vec::new();
        for r in &self.0 {
            if r.ts_ns < from_ns || r.ts_ns >= to_ns || out.contains(&r.labels) {
                continue;
            }
            let mut any = matchers.is_empty();
            for g in matchers {
                any |= matches(g, &r.labels);
            }
            if any {
                out.push(r.labels.clone());
            }
        }
        Ok(out)
    }
}
