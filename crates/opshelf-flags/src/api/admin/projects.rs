//! `/api/admin/projects`: list, create, read (with its flags), update, delete.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Res, admin, created, feature_view, ok, to_value, valid_name};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::state::{EventDraft, Project, State};
use crate::store::now;

/// `GET /api/admin/projects`.
pub async fn list_projects(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let projects: Vec<Value> = s.projects.values().map(|p| project_view(p, &s)).collect();
    Ok(ok(json!({"version": 1, "projects": projects})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectIn {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /api/admin/projects`.
pub async fn create_project(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Res {
    let who = admin(&app, &headers)?;
    let p: ProjectIn = parse_json(&body)?;
    let id = p.id.or_else(|| p.name.clone()).unwrap_or_default();
    valid_name("project", &id)?;
    let project = Project {
        id: id.clone(),
        name: p.name.unwrap_or_else(|| id.clone()),
        description: p.description,
        created_at: now(),
    };
    let view = json!({"id": project.id, "name": project.name, "description": project.description, "createdAt": project.created_at});
    app.store
        .mutate(&who.token_name, |s| {
            if s.projects.contains_key(&id) {
                return Err(Error::Conflict(format!(
                    "A project with id {id} already exists"
                )));
            }
            s.projects.insert(id.clone(), project);
            let ev = EventDraft {
                project: Some(id.clone()),
                ..EventDraft::new("project-created", view.clone())
            };
            Ok(((), vec![ev]))
        })
        .await?;
    Ok(created(view))
}

/// `GET /api/admin/projects/{project}`.
pub async fn get_project(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let p = s
        .projects
        .get(&id)
        .ok_or_else(|| Error::NotFound(format!("Could not find project {id}")))?;
    let mut v = project_view(p, &s);
    let features: Vec<Value> = s
        .features
        .values()
        .filter(|f| f.project == id && !f.archived)
        .map(|f| feature_view(f, &s))
        .collect();
    v["features"] = Value::Array(features);
    Ok(ok(v))
}

/// `PUT /api/admin/projects/{project}`.
pub async fn update_project(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let p: ProjectIn = parse_json(&body)?;
    app.store
        .mutate(&who.token_name, |s| {
            let proj = s
                .projects
                .get_mut(&id)
                .ok_or_else(|| Error::NotFound(format!("Could not find project {id}")))?;
            let pre = to_value(&*proj);
            if let Some(n) = p.name {
                proj.name = n;
            }
            if p.description.is_some() {
                proj.description = p.description;
            }
            let ev = EventDraft {
                project: Some(id.clone()),
                ..EventDraft::new("project-updated", to_value(&*proj)).pre(pre)
            };
            Ok(((), vec![ev]))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /api/admin/projects/{project}` (only when it has no flags).
pub async fn delete_project(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            if id == "default" {
                return Err(Error::BadRequest(
                    "the default project cannot be deleted".into(),
                ));
            }
            if !s.projects.contains_key(&id) {
                return Err(Error::NotFound(format!("Could not find project {id}")));
            }
            if s.features.values().any(|f| f.project == id) {
                return Err(Error::Conflict(format!("project {id} still has flags")));
            }
            let pre = to_value(&s.projects.remove(&id));
            let ev = EventDraft {
                project: Some(id.clone()),
                ..EventDraft::new("project-deleted", Value::Null).pre(pre)
            };
            Ok(((), vec![ev]))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

fn project_view(p: &Project, s: &State) -> Value {
    let count = s
        .features
        .values()
        .filter(|f| f.project == p.id && !f.archived)
        .count();
    json!({"id": p.id, "name": p.name, "description": p.description, "createdAt": p.created_at, "featureCount": count})
}
