//! opshelf's own import / export: `/api/admin/opshelf/import`, `/api/admin/opshelf/export`.

use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{Res, admin, ok, to_value, valid_name};
use crate::api::App;

#[derive(Deserialize)]
pub struct ImportQuery {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

/// `POST /api/admin/opshelf/import?project=&environment=` with a client-features body.
pub async fn import(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let project = q.project.unwrap_or_else(|| "default".into());
    let env = q.environment.unwrap_or_else(|| "development".into());
    valid_name("project", &project)?;
    valid_name("environment", &env)?;
    let report =
        crate::import::import_into(&app.store, &who.token_name, &body, &project, &env).await?;
    Ok(ok(to_value(&report)))
}

/// `GET /api/admin/opshelf/export?environment=&project=`.
pub async fn export(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Query(q): Query<ImportQuery>,
) -> Res {
    admin(&app, &headers)?;
    let env = q.environment.unwrap_or_else(|| "development".into());
    let state = app.store.state().await;
    let body = crate::import::export_state(&state, &env, q.project.as_deref())?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
