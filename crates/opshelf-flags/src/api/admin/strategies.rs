//! Activation strategies of a flag in one environment (`.../environments/{env}/strategies`):
//! list, add, read, update, delete, reorder.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Res, admin, check_constraints, env_of, feature_in, feature_ref, ok, to_value, valid_name,
};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::model::{Constraint, Strategy, StrategyVariant};
use crate::state::{EventDraft, Segment};

/// `GET .../environments/{env}/strategies`.
pub async fn list_strategies(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let f = feature_ref(&s, &project, &name)?;
    if !s.environments.contains_key(&env) {
        return Err(Error::NotFound(format!("Could not find environment {env}")));
    }
    let strategies = f
        .environments
        .get(&env)
        .map(|e| e.strategies.clone())
        .unwrap_or_default();
    Ok(ok(to_value(&strategies)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StrategyIn {
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    sort_order: Option<i64>,
    #[serde(default)]
    constraints: Vec<Constraint>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    segments: Vec<i64>,
    #[serde(default)]
    variants: Vec<StrategyVariant>,
}

fn strategy_from(input: StrategyIn, id: String) -> Result<Strategy, Error> {
    // Reuse the wire type's lenient parameter parsing (numbers become strings).
    let mut v = json!({"name": input.name, "parameters": input.parameters.unwrap_or(Value::Null)});
    v["id"] = Value::String(id);
    let mut s: Strategy = serde_json::from_value(v)
        .map_err(|e| Error::BadRequest(format!("invalid strategy: {e}")))?;
    s.title = input.title;
    s.disabled = input.disabled;
    s.sort_order = input.sort_order;
    s.constraints = input.constraints;
    s.segments = input.segments;
    s.variants = input.variants;
    Ok(s)
}

/// `POST .../environments/{env}/strategies`.
pub async fn add_strategy(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let input: StrategyIn = parse_json(&body)?;
    let mut strategy = strategy_from(input, uuid::Uuid::new_v4().to_string())?;
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            check_strategy(&strategy, &s.segments)?;
            let envs = s.environments.clone();
            let f = feature_in(s, &project, &name)?;
            let fe = env_of(f, &envs, &env)?;
            if strategy.sort_order.is_none() {
                strategy.sort_order = Some(
                    fe.strategies
                        .iter()
                        .filter_map(|x| x.sort_order)
                        .max()
                        .map_or(0, |m| m + 1),
                );
            }
            fe.strategies.push(strategy.clone());
            let view = to_value(&strategy);
            Ok((
                view.clone(),
                vec![
                    EventDraft::new("feature-strategy-add", view)
                        .feature(&name, &project)
                        .env(&env),
                ],
            ))
        })
        .await?;
    Ok(ok(view))
}

/// `GET .../strategies/{id}`.
pub async fn get_strategy(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env, id)): Path<(String, String, String, String)>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let st = s
        .features
        .get(&name)
        .filter(|f| f.project == project)
        .and_then(|f| f.environments.get(&env))
        .and_then(|e| {
            e.strategies
                .iter()
                .find(|x| x.id.as_deref() == Some(id.as_str()))
        })
        .ok_or_else(|| Error::NotFound(format!("Could not find strategy {id}")))?;
    Ok(ok(to_value(st)))
}

/// `PUT .../strategies/{id}`.
pub async fn update_strategy(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env, id)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let input: StrategyIn = parse_json(&body)?;
    let mut strategy = strategy_from(input, id.clone())?;
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            check_strategy(&strategy, &s.segments)?;
            let envs = s.environments.clone();
            let f = feature_in(s, &project, &name)?;
            let fe = env_of(f, &envs, &env)?;
            let slot = fe
                .strategies
                .iter_mut()
                .find(|x| x.id.as_deref() == Some(id.as_str()))
                .ok_or_else(|| Error::NotFound(format!("Could not find strategy {id}")))?;
            if strategy.sort_order.is_none() {
                strategy.sort_order = slot.sort_order;
            }
            let pre = to_value(&*slot);
            *slot = strategy.clone();
            let view = to_value(&strategy);
            Ok((
                view.clone(),
                vec![
                    EventDraft::new("feature-strategy-update", view)
                        .pre(pre)
                        .feature(&name, &project)
                        .env(&env),
                ],
            ))
        })
        .await?;
    Ok(ok(view))
}

/// `DELETE .../strategies/{id}`.
pub async fn delete_strategy(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env, id)): Path<(String, String, String, String)>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let envs = s.environments.clone();
            let f = feature_in(s, &project, &name)?;
            let fe = env_of(f, &envs, &env)?;
            let pos = fe
                .strategies
                .iter()
                .position(|x| x.id.as_deref() == Some(id.as_str()))
                .ok_or_else(|| Error::NotFound(format!("Could not find strategy {id}")))?;
            let pre = to_value(&fe.strategies.remove(pos));
            Ok((
                (),
                vec![
                    EventDraft::new("feature-strategy-remove", Value::Null)
                        .pre(pre)
                        .feature(&name, &project)
                        .env(&env),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SortIn {
    id: String,
    sort_order: i64,
}

/// `POST .../strategies/set-sort-order` with `[{"id", "sortOrder"}]`.
pub async fn reorder_strategies(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let order: Vec<SortIn> = parse_json(&body)?;
    app.store
        .mutate(&who.token_name, |s| {
            let envs = s.environments.clone();
            let f = feature_in(s, &project, &name)?;
            let fe = env_of(f, &envs, &env)?;
            for o in &order {
                let st = fe
                    .strategies
                    .iter_mut()
                    .find(|x| x.id.as_deref() == Some(o.id.as_str()))
                    .ok_or_else(|| Error::NotFound(format!("Could not find strategy {}", o.id)))?;
                st.sort_order = Some(o.sort_order);
            }
            fe.strategies.sort_by_key(|x| x.sort_order.unwrap_or(0));
            let data = json!(
                order
                    .iter()
                    .map(|o| json!({"id": o.id, "sortOrder": o.sort_order}))
                    .collect::<Vec<_>>()
            );
            Ok((
                (),
                vec![
                    EventDraft::new("strategy-order-changed", data)
                        .feature(&name, &project)
                        .env(&env),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

fn check_strategy(s: &Strategy, segments: &BTreeMap<i64, Segment>) -> Result<(), Error> {
    valid_name("strategy", &s.name)?;
    for id in &s.segments {
        if !segments.contains_key(id) {
            return Err(Error::BadRequest(format!("segment {id} does not exist")));
        }
    }
    check_constraints(&s.constraints)?;
    for v in &s.variants {
        if v.weight < 0 || v.weight > 1000 {
            return Err(Error::BadRequest(
                "variant weights must be between 0 and 1000".into(),
            ));
        }
    }
    Ok(())
}
