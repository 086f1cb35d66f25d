//! Parent flags (`.../features/{feature}/dependencies`): list, add, delete one or all.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Res, admin, feature_in, feature_ref, ok, to_value};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::model::Dependency;
use crate::state::EventDraft;

/// `GET .../dependencies`.
pub async fn list_dependencies(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let f = feature_ref(&s, &project, &name)?;
    Ok(ok(to_value(&f.dependencies)))
}

/// `POST .../dependencies` with `{"feature", "enabled"?, "variants"?}`.
pub async fn add_dependency(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let dep: Dependency = parse_json(&body)?;
    app.store
        .mutate(&who.token_name, |s| {
            let parent = s
                .features
                .get(&dep.feature)
                .filter(|p| !p.archived)
                .ok_or_else(|| Error::BadRequest(format!("no flag {}", dep.feature)))?;
            if parent.project != project {
                return Err(Error::BadRequest(
                    "a parent flag must be in the same project".into(),
                ));
            }
            if !parent.dependencies.is_empty() {
                return Err(Error::BadRequest(
                    "a parent flag cannot itself have dependencies".into(),
                ));
            }
            if dep.feature == name
                || s.features
                    .values()
                    .any(|f| f.dependencies.iter().any(|d| d.feature == name))
            {
                return Err(Error::BadRequest(
                    "a flag that others depend on cannot get a parent".into(),
                ));
            }
            let f = feature_in(s, &project, &name)?;
            f.dependencies.retain(|d| d.feature != dep.feature);
            f.dependencies.push(dep.clone());
            Ok((
                (),
                vec![
                    EventDraft::new("feature-dependency-added", to_value(&dep))
                        .feature(&name, &project),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE .../dependencies/{parent}`.
pub async fn delete_dependency(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, parent)): Path<(String, String, String)>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = feature_in(s, &project, &name)?;
            let before = f.dependencies.len();
            f.dependencies.retain(|d| d.feature != parent);
            if f.dependencies.len() == before {
                return Err(Error::NotFound(format!(
                    "{name} does not depend on {parent}"
                )));
            }
            Ok((
                (),
                vec![
                    EventDraft::new("feature-dependency-removed", json!({"feature": parent}))
                        .feature(&name, &project),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE .../dependencies` (all of them).
pub async fn delete_dependencies(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = feature_in(s, &project, &name)?;
            f.dependencies.clear();
            Ok((
                (),
                vec![
                    EventDraft::new("feature-dependencies-removed", Value::Null)
                        .feature(&name, &project),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}
