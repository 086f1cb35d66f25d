//! A flag in one environment (`.../features/{feature}/environments/{env}`): read, on, off.

use std::collections::BTreeMap;

use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;

use super::{Res, admin, env_of, env_view, feature_in, feature_ref, ok};
use crate::api::App;
use crate::error::Error;
use crate::model::Strategy;
use crate::state::EventDraft;

/// `GET .../environments/{env}`.
pub async fn get_feature_env(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let f = feature_ref(&s, &project, &name)?;
    let e = s
        .environments
        .get(&env)
        .ok_or_else(|| Error::NotFound(format!("Could not find environment {env}")))?;
    Ok(ok(env_view(&env, Some(e), f.environments.get(&env))))
}

async fn toggle(
    app: &App,
    headers: &HeaderMap,
    project: &str,
    name: &str,
    env: &str,
    on: bool,
) -> Res {
    let who = admin(app, headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let envs = s.environments.clone();
            let f = feature_in(s, project, name)?;
            let fe = env_of(f, &envs, env)?;
            if fe.enabled == on {
                return Ok(((), vec![]));
            }
            fe.enabled = on;
            if on && fe.strategies.is_empty() {
                // Unleash adds a default strategy when a flag without any is turned on.
                fe.strategies.push(default_strategy());
            }
            let kind = if on {
                "feature-environment-enabled"
            } else {
                "feature-environment-disabled"
            };
            Ok((
                (),
                vec![
                    EventDraft::new(kind, Value::Null)
                        .feature(name, project)
                        .env(env),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

fn default_strategy() -> Strategy {
    Strategy {
        name: "flexibleRollout".into(),
        id: Some(uuid::Uuid::new_v4().to_string()),
        title: None,
        disabled: None,
        sort_order: Some(0),
        constraints: Vec::new(),
        parameters: BTreeMap::from([
            ("rollout".to_owned(), "100".to_owned()),
            ("stickiness".to_owned(), "default".to_owned()),
            ("groupId".to_owned(), String::new()),
        ]),
        segments: Vec::new(),
        variants: Vec::new(),
    }
}

/// `POST .../environments/{env}/on`.
pub async fn feature_on(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((p, n, e)): Path<(String, String, String)>,
) -> Res {
    toggle(&app, &headers, &p, &n, &e, true).await
}

/// `POST .../environments/{env}/off`.
pub async fn feature_off(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((p, n, e)): Path<(String, String, String)>,
) -> Res {
    toggle(&app, &headers, &p, &n, &e, false).await
}
