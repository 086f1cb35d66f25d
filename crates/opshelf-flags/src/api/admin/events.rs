//! The event log: `/api/admin/events` (optionally of one flag).

use axum::extract::{Path, Query, State as AxState};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::{Res, admin, ok};
use crate::api::App;

#[derive(Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    feature: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/admin/events?feature=&limit=` (newest first).
pub async fn list_events(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Res {
    admin(&app, &headers)?;
    let events = app
        .store
        .events(q.feature.as_deref(), q.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(ok(
        json!({"version": 1, "events": events, "totalEvents": events.len()}),
    ))
}

/// `GET /api/admin/events/{feature}`.
pub async fn feature_events(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let events = app.store.events(Some(&name), 1000).await?;
    Ok(ok(
        json!({"version": 1, "toggleName": name, "events": events}),
    ))
}
