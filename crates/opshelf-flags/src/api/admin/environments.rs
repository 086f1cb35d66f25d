//! `/api/admin/environments`: list, create, read, update, delete, turn on and off.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Res, admin, created, ok, valid_name};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::state::{Environment, EventDraft};

/// `GET /api/admin/environments`.
pub async fn list_environments(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let mut envs: Vec<&Environment> = s.environments.values().collect();
    envs.sort_by_key(|e| (e.sort_order, e.name.clone()));
    let v: Vec<Value> = envs.into_iter().map(environment_view).collect();
    Ok(ok(json!({"version": 1, "environments": v})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvIn {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    env_type: Option<String>,
    #[serde(default)]
    sort_order: Option<i64>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// `POST /api/admin/environments`.
pub async fn create_environment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let e: EnvIn = parse_json(&body)?;
    let name = e.name.unwrap_or_default();
    valid_name("environment", &name)?;
    if name == "*" {
        return Err(Error::BadRequest("\"*\" is not an environment name".into()));
    }
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            if s.environments.contains_key(&name) {
                return Err(Error::Conflict(format!(
                    "environment {name} already exists"
                )));
            }
            let env = Environment {
                name: name.clone(),
                env_type: e.env_type.unwrap_or_else(|| "development".into()),
                enabled: e.enabled.unwrap_or(true),
                sort_order: e
                    .sort_order
                    .unwrap_or_else(|| i64::try_from(s.environments.len()).unwrap_or(0) + 1),
            };
            let view = environment_view(&env);
            s.environments.insert(name.clone(), env);
            Ok((
                view.clone(),
                vec![EventDraft::new("environment-created", view).env(&name)],
            ))
        })
        .await?;
    Ok(created(view))
}

/// `GET /api/admin/environments/{env}`.
pub async fn get_environment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let e = s
        .environments
        .get(&name)
        .ok_or_else(|| Error::NotFound(format!("Could not find environment {name}")))?;
    Ok(ok(environment_view(e)))
}

/// `PUT /api/admin/environments/{env}`.
pub async fn update_environment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let e: EnvIn = parse_json(&body)?;
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            let env = s
                .environments
                .get_mut(&name)
                .ok_or_else(|| Error::NotFound(format!("Could not find environment {name}")))?;
            let pre = environment_view(env);
            if let Some(t) = e.env_type {
                env.env_type = t;
            }
            if let Some(o) = e.sort_order {
                env.sort_order = o;
            }
            let view = environment_view(env);
            Ok((
                view.clone(),
                vec![
                    EventDraft::new("environment-updated", view)
                        .pre(pre)
                        .env(&name),
                ],
            ))
        })
        .await?;
    Ok(ok(view))
}

/// `DELETE /api/admin/environments/{env}` (flag configurations there are dropped).
pub async fn delete_environment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let pre = s
                .environments
                .remove(&name)
                .ok_or_else(|| Error::NotFound(format!("Could not find environment {name}")))?;
            if s.tokens.values().any(|t| t.environment == name) {
                return Err(Error::Conflict(format!(
                    "API tokens still use environment {name}"
                )));
            }
            for f in s.features.values_mut() {
                f.environments.remove(&name);
            }
            Ok((
                (),
                vec![
                    EventDraft::new("environment-deleted", Value::Null)
                        .pre(environment_view(&pre))
                        .env(&name),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn set_environment_enabled(app: &App, headers: &HeaderMap, name: &str, enabled: bool) -> Res {
    let who = admin(app, headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let env = s
                .environments
                .get_mut(name)
                .ok_or_else(|| Error::NotFound(format!("Could not find environment {name}")))?;
            env.enabled = enabled;
            let kind = if enabled {
                "environment-enabled"
            } else {
                "environment-disabled"
            };
            Ok(((), vec![EventDraft::new(kind, Value::Null).env(name)]))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/admin/environments/{env}/on`.
pub async fn environment_on(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    set_environment_enabled(&app, &headers, &name, true).await
}

/// `POST /api/admin/environments/{env}/off`.
pub async fn environment_off(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    set_environment_enabled(&app, &headers, &name, false).await
}

fn environment_view(e: &Environment) -> Value {
    json!({"name": e.name, "type": e.env_type, "enabled": e.enabled, "sortOrder": e.sort_order, "protected": false})
}
