//! Archiving: `DELETE` of a flag archives it; `/api/admin/archive/*` lists, revives and deletes
//! archived flags for good.

use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Res, admin, feature_in, feature_view, ok, to_value};
use crate::api::App;
use crate::error::Error;
use crate::state::EventDraft;
use crate::store::now;

/// `DELETE /api/admin/projects/{project}/features/{feature}`: archive (202).
pub async fn archive_feature(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            if s.features
                .values()
                .any(|f| !f.archived && f.dependencies.iter().any(|d| d.feature == name))
            {
                return Err(Error::Conflict(format!("other flags depend on {name}")));
            }
            let f = feature_in(s, &project, &name)?;
            f.archived = true;
            f.archived_at = Some(now());
            Ok((
                (),
                vec![EventDraft::new("feature-archived", Value::Null).feature(&name, &project)],
            ))
        })
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /api/admin/archive/features`.
pub async fn list_archived(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let v: Vec<Value> = s
        .features
        .values()
        .filter(|f| f.archived)
        .map(|f| feature_view(f, &s))
        .collect();
    Ok(ok(json!({"version": 1, "features": v})))
}

/// `POST /api/admin/archive/revive/{feature}`.
pub async fn revive_feature(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = s
                .features
                .get_mut(&name)
                .filter(|f| f.archived)
                .ok_or_else(|| Error::NotFound(format!("no archived flag {name}")))?;
            f.archived = false;
            f.archived_at = None;
            let project = f.project.clone();
            Ok((
                (),
                vec![EventDraft::new("feature-revived", Value::Null).feature(&name, &project)],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /api/admin/archive/{feature}`: delete an archived flag for good.
pub async fn delete_archived(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = s
                .features
                .get(&name)
                .filter(|f| f.archived)
                .ok_or_else(|| Error::NotFound(format!("no archived flag {name}")))?;
            let project = f.project.clone();
            let pre = to_value(f);
            s.features.remove(&name);
            Ok((
                (),
                vec![
                    EventDraft::new("feature-deleted", Value::Null)
                        .pre(pre)
                        .feature(&name, &project),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}
