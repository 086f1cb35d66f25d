//! The admin API (admin tokens only): projects, environments, flags and their per-environment
//! strategies / variants / on-off, dependencies, tags, archive, segments, API tokens, the
//! event log, usage, and opshelf's import / export. Every change is one store mutation: one
//! transaction, one new revision, one or more audit events.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{App, authorize, parse_json};
use crate::error::Error;
use crate::model::{Constraint, Dependency, Strategy, StrategyVariant, Variant};
use crate::state::{
    Environment, EventDraft, Feature, FeatureEnv, Project, Segment, State, Tag, Token, TokenType,
};
use crate::store::now;

type Res = Result<Response, Error>;

fn admin(app: &App, headers: &HeaderMap) -> Result<Token, Error> {
    authorize(app, headers, &[TokenType::Admin])
}

fn ok(v: Value) -> Response {
    Json(v).into_response()
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn valid_name(kind: &str, name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 200
        || name.chars().any(|c| c.is_control() || c == '/')
        || name.trim() != name
    {
        return Err(Error::BadRequest(format!(
            "{kind} name must be 1-200 characters, without '/', control characters or surrounding spaces"
        )));
    }
    Ok(())
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------- views

fn env_view(name: &str, env: Option<&Environment>, fe: Option<&FeatureEnv>) -> Value {
    let fe = fe.cloned().unwrap_or_default();
    json!({
        "name": name,
        "environment": name,
        "type": env.map_or("development", |e| e.env_type.as_str()),
        "sortOrder": env.map_or(0, |e| e.sort_order),
        "enabled": fe.enabled,
        "strategies": fe.strategies,
        "variants": fe.variants,
    })
}

fn feature_view(f: &Feature, s: &State) -> Value {
    let envs: Vec<Value> = s
        .environments
        .iter()
        .map(|(name, e)| env_view(name, Some(e), f.environments.get(name)))
        .collect();
    json!({
        "name": f.name,
        "type": f.feature_type,
        "description": f.description,
        "project": f.project,
        "stale": f.stale,
        "impressionData": f.impression_data,
        "archived": f.archived,
        "archivedAt": f.archived_at,
        "createdAt": f.created_at,
        "environments": envs,
        "tags": f.tags,
        "dependencies": f.dependencies,
        "variants": [],
    })
}

fn project_view(p: &Project, s: &State) -> Value {
    let count = s
        .features
        .values()
        .filter(|f| f.project == p.id && !f.archived)
        .count();
    json!({"id": p.id, "name": p.name, "description": p.description, "createdAt": p.created_at, "featureCount": count})
}

fn environment_view(e: &Environment) -> Value {
    json!({"name": e.name, "type": e.env_type, "enabled": e.enabled, "sortOrder": e.sort_order, "protected": false})
}

fn segment_view(seg: &Segment) -> Value {
    json!({"id": seg.id, "name": seg.name, "description": seg.description, "project": seg.project,
           "constraints": seg.constraints, "createdAt": seg.created_at})
}

/// A feature of `project` for reading (archived ones included), or 404.
fn feature_ref<'a>(s: &'a State, project: &str, name: &str) -> Result<&'a Feature, Error> {
    s.features
        .get(name)
        .filter(|f| f.project == project)
        .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))
}

// ---------------------------------------------------------------- lookups inside a mutation

fn feature_in<'a>(s: &'a mut State, project: &str, name: &str) -> Result<&'a mut Feature, Error> {
    match s.features.get_mut(name) {
        Some(f) if f.project == project && !f.archived => Ok(f),
        _ => Err(Error::NotFound(format!(
            "Could not find feature {name} in project {project}"
        ))),
    }
}

fn env_of<'a>(
    f: &'a mut Feature,
    known: &BTreeMap<String, Environment>,
    env: &str,
) -> Result<&'a mut FeatureEnv, Error> {
    if !known.contains_key(env) {
        return Err(Error::NotFound(format!("Could not find environment {env}")));
    }
    Ok(f.environments.entry(env.to_owned()).or_default())
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

fn check_constraints(cs: &[Constraint]) -> Result<(), Error> {
    for c in cs {
        if c.context_name.is_empty() {
            return Err(Error::BadRequest(
                "constraint contextName must not be empty".into(),
            ));
        }
        if !crate::engine::KNOWN_OPERATORS.contains(&c.operator.as_str()) {
            return Err(Error::BadRequest(format!(
                "unknown constraint operator {:?}",
                c.operator
            )));
        }
    }
    Ok(())
}

/// Unleash's fixed / variable weights: fixed ones keep their weight, variable ones share the
/// rest of 1000 evenly (the first ones get the remainder).
fn normalize_weights(variants: &mut [Variant]) -> Result<(), Error> {
    let fixed: i64 = variants
        .iter()
        .filter(|v| v.weight_type.as_deref() == Some("fix"))
        .map(|v| v.weight)
        .sum();
    let variable = variants
        .iter()
        .filter(|v| v.weight_type.as_deref() != Some("fix"))
        .count();
    if fixed > 1000 || variants.iter().any(|v| v.weight < 0) {
        return Err(Error::BadRequest(
            "fixed variant weights must not exceed 1000".into(),
        ));
    }
    let n = i64::try_from(variable).unwrap_or(1);
    if n == 0 {
        return Ok(());
    }
    let share = (1000 - fixed) / n;
    let mut rest = (1000 - fixed) % n;
    for v in variants
        .iter_mut()
        .filter(|v| v.weight_type.as_deref() != Some("fix"))
    {
        v.weight = share + i64::from(rest > 0);
        rest -= i64::from(rest > 0);
        v.weight_type = Some("variable".into());
    }
    Ok(())
}

// ---------------------------------------------------------------- projects

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

// ---------------------------------------------------------------- environments

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

// ---------------------------------------------------------------- features

/// `GET /api/admin/features` (every live flag).
pub async fn list_all_features(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let v: Vec<Value> = s
        .features
        .values()
        .filter(|f| !f.archived)
        .map(|f| feature_view(f, &s))
        .collect();
    Ok(ok(json!({"version": 1, "features": v})))
}

/// `GET /api/admin/projects/{project}/features`.
pub async fn list_features(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    if !s.projects.contains_key(&project) {
        return Err(Error::NotFound(format!("Could not find project {project}")));
    }
    let v: Vec<Value> = s
        .features
        .values()
        .filter(|f| f.project == project && !f.archived)
        .map(|f| feature_view(f, &s))
        .collect();
    Ok(ok(json!({"version": 1, "features": v})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeatureIn {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    feature_type: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    impression_data: Option<bool>,
    #[serde(default)]
    stale: Option<bool>,
    #[serde(default)]
    archived: Option<bool>,
}

const FEATURE_TYPES: &[&str] = &[
    "release",
    "experiment",
    "operational",
    "kill-switch",
    "permission",
];

/// `POST /api/admin/projects/{project}/features`.
pub async fn create_feature(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let f: FeatureIn = parse_json(&body)?;
    let name = f.name.clone().unwrap_or_default();
    valid_name("feature", &name)?;
    let ty = f.feature_type.clone().unwrap_or_else(|| "release".into());
    if !FEATURE_TYPES.contains(&ty.as_str()) {
        return Err(Error::BadRequest(format!(
            "type must be one of {FEATURE_TYPES:?}"
        )));
    }
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            if !s.projects.contains_key(&project) {
                return Err(Error::NotFound(format!("Could not find project {project}")));
            }
            if s.features.contains_key(&name) {
                return Err(Error::Conflict(format!(
                    "A flag with name {name} already exists"
                )));
            }
            let feature = Feature {
                name: name.clone(),
                project: project.clone(),
                feature_type: ty,
                description: f.description,
                impression_data: f.impression_data.unwrap_or(false),
                stale: false,
                archived: false,
                archived_at: None,
                created_at: now(),
                tags: Vec::new(),
                dependencies: Vec::new(),
                environments: BTreeMap::new(),
            };
            s.features.insert(name.clone(), feature);
            let view = feature_view(&s.features[&name], s);
            Ok((
                view.clone(),
                vec![EventDraft::new("feature-created", view).feature(&name, &project)],
            ))
        })
        .await?;
    Ok(created(view))
}

/// `GET /api/admin/projects/{project}/features/{feature}`.
pub async fn get_feature(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    match s.features.get(&name) {
        Some(f) if f.project == project => Ok(ok(feature_view(f, &s))),
        _ => Err(Error::NotFound(format!(
            "Could not find feature {name} in project {project}"
        ))),
    }
}

async fn change_feature(app: &App, who: &Token, project: &str, name: &str, f: FeatureIn) -> Res {
    if let Some(t) = &f.feature_type {
        if !FEATURE_TYPES.contains(&t.as_str()) {
            return Err(Error::BadRequest(format!(
                "type must be one of {FEATURE_TYPES:?}"
            )));
        }
    }
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            let archive = f.archived;
            let feat = match s.features.get_mut(name) {
                Some(x) if x.project == project => x,
                _ => {
                    return Err(Error::NotFound(format!(
                        "Could not find feature {name} in project {project}"
                    )));
                }
            };
            let pre = to_value(&*feat);
            let mut events = Vec::new();
            if let Some(t) = f.feature_type {
                feat.feature_type = t;
            }
            if f.description.is_some() {
                feat.description = f.description;
            }
            if let Some(i) = f.impression_data {
                feat.impression_data = i;
            }
            if let Some(st) = f.stale {
                if st != feat.stale {
                    feat.stale = st;
                    let kind = if st {
                        "feature-stale-on"
                    } else {
                        "feature-stale-off"
                    };
                    events.push(EventDraft::new(kind, Value::Null).feature(name, project));
                }
            }
            if let Some(a) = archive {
                if a != feat.archived {
                    feat.archived = a;
                    feat.archived_at = a.then(now);
                    let kind = if a {
                        "feature-archived"
                    } else {
                        "feature-revived"
                    };
                    events.push(EventDraft::new(kind, Value::Null).feature(name, project));
                }
            }
            let after = to_value(&*feat);
            events.push(
                EventDraft::new("feature-updated", after)
                    .pre(pre)
                    .feature(name, project),
            );
            let view = feature_view(&s.features[name], s);
            Ok((view, events))
        })
        .await?;
    Ok(ok(view))
}

/// `PUT /api/admin/projects/{project}/features/{feature}`.
pub async fn update_feature(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let f: FeatureIn = parse_json(&body)?;
    if f.name.as_deref().is_some_and(|n| n != name) {
        return Err(Error::BadRequest("a flag cannot be renamed".into()));
    }
    change_feature(&app, &who, &project, &name, f).await
}

#[derive(Deserialize)]
struct PatchOp {
    op: String,
    path: String,
    #[serde(default)]
    value: Value,
}

/// `PATCH /api/admin/projects/{project}/features/{feature}` (JSON Patch `replace` of
/// `/description`, `/type`, `/stale`, `/impressionData`, `/archived`).
pub async fn patch_feature(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let ops: Vec<PatchOp> = parse_json(&body)?;
    let mut f = FeatureIn {
        name: None,
        feature_type: None,
        description: None,
        impression_data: None,
        stale: None,
        archived: None,
    };
    for op in ops {
        if op.op != "replace" && op.op != "add" {
            return Err(Error::BadRequest(format!(
                "unsupported patch op {:?}",
                op.op
            )));
        }
        let bad = || Error::BadRequest(format!("wrong value type for {}", op.path));
        match op.path.as_str() {
            "/description" => f.description = Some(op.value.as_str().ok_or_else(bad)?.to_owned()),
            "/type" => f.feature_type = Some(op.value.as_str().ok_or_else(bad)?.to_owned()),
            "/stale" => f.stale = Some(op.value.as_bool().ok_or_else(bad)?),
            "/impressionData" => f.impression_data = Some(op.value.as_bool().ok_or_else(bad)?),
            "/archived" => f.archived = Some(op.value.as_bool().ok_or_else(bad)?),
            other => return Err(Error::BadRequest(format!("cannot patch {other}"))),
        }
    }
    change_feature(&app, &who, &project, &name, f).await
}

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

async fn set_stale(app: &App, headers: &HeaderMap, project: &str, name: &str, stale: bool) -> Res {
    let who = admin(app, headers)?;
    let f = FeatureIn {
        name: None,
        feature_type: None,
        description: None,
        impression_data: None,
        stale: Some(stale),
        archived: None,
    };
    change_feature(app, &who, project, name, f).await
}

/// `POST .../stale/on`.
pub async fn stale_on(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((p, n)): Path<(String, String)>,
) -> Res {
    set_stale(&app, &headers, &p, &n, true).await
}

/// `POST .../stale/off`.
pub async fn stale_off(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((p, n)): Path<(String, String)>,
) -> Res {
    set_stale(&app, &headers, &p, &n, false).await
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

// ---------------------------------------------------------------- per environment

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

/// `GET .../environments/{env}/variants`.
pub async fn get_variants(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let f = feature_ref(&s, &project, &name)?;
    let variants = f
        .environments
        .get(&env)
        .map(|e| e.variants.clone())
        .unwrap_or_default();
    Ok(ok(json!({"version": 1, "variants": variants})))
}

/// `PUT .../environments/{env}/variants` with the whole variant list.
pub async fn put_variants(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let mut variants: Vec<Variant> = parse_json(&body)?;
    for v in &variants {
        valid_name("variant", &v.name)?;
    }
    normalize_weights(&mut variants)?;
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            let envs = s.environments.clone();
            let f = feature_in(s, &project, &name)?;
            let fe = env_of(f, &envs, &env)?;
            let pre = to_value(&fe.variants);
            fe.variants.clone_from(&variants);
            let view = to_value(&variants);
            Ok((
                json!({"version": 1, "variants": view.clone()}),
                vec![
                    EventDraft::new("feature-environment-variants-updated", view)
                        .pre(pre)
                        .feature(&name, &project)
                        .env(&env),
                ],
            ))
        })
        .await?;
    Ok(ok(view))
}

// ---------------------------------------------------------------- dependencies

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

// ---------------------------------------------------------------- tags

/// `GET /api/admin/features/{feature}/tags`.
pub async fn list_tags(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let f = s
        .features
        .get(&name)
        .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
    Ok(ok(json!({"version": 1, "tags": f.tags})))
}

/// `POST /api/admin/features/{feature}/tags` with `{"type", "value"}`.
pub async fn add_tag(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let tag: Tag = parse_json(&body)?;
    valid_name("tag type", &tag.tag_type)?;
    valid_name("tag value", &tag.value)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = s
                .features
                .get_mut(&name)
                .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
            if !f.tags.contains(&tag) {
                f.tags.push(tag.clone());
                f.tags.sort();
            }
            let project = f.project.clone();
            Ok((
                (),
                vec![EventDraft::new("feature-tagged", to_value(&tag)).feature(&name, &project)],
            ))
        })
        .await?;
    Ok(created(to_value(&tag)))
}

/// `DELETE /api/admin/features/{feature}/tags/{type}/{value}`.
pub async fn delete_tag(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((name, tag_type, value)): Path<(String, String, String)>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = s
                .features
                .get_mut(&name)
                .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
            f.tags
                .retain(|t| !(t.tag_type == tag_type && t.value == value));
            let project = f.project.clone();
            Ok((
                (),
                vec![
                    EventDraft::new(
                        "feature-untagged",
                        json!({"type": tag_type, "value": value}),
                    )
                    .feature(&name, &project),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------- segments

/// `GET /api/admin/segments`.
pub async fn list_segments(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let v: Vec<Value> = s.segments.values().map(segment_view).collect();
    Ok(ok(json!({"segments": v})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SegmentIn {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    constraints: Vec<Constraint>,
}

/// `POST /api/admin/segments`.
pub async fn create_segment(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Res {
    let who = admin(&app, &headers)?;
    let input: SegmentIn = parse_json(&body)?;
    valid_name("segment", &input.name)?;
    check_constraints(&input.constraints)?;
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            if s.segments.values().any(|x| x.name == input.name) {
                return Err(Error::Conflict(format!(
                    "a segment named {} already exists",
                    input.name
                )));
            }
            let id = s.next_segment_id();
            let seg = Segment {
                id,
                name: input.name,
                description: input.description,
                project: input.project,
                constraints: input.constraints,
                created_at: now(),
            };
            let view = segment_view(&seg);
            s.segments.insert(id, seg);
            Ok((view.clone(), vec![EventDraft::new("segment-created", view)]))
        })
        .await?;
    Ok(created(view))
}

fn segment_id(raw: &str) -> Result<i64, Error> {
    raw.parse()
        .map_err(|_| Error::BadRequest(format!("segment id must be a number, not {raw:?}")))
}

/// `GET /api/admin/segments/{id}`.
pub async fn get_segment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let id = segment_id(&id)?;
    let s = app.store.state().await;
    let seg = s
        .segments
        .get(&id)
        .ok_or_else(|| Error::NotFound(format!("Could not find segment {id}")))?;
    Ok(ok(segment_view(seg)))
}

/// `PUT /api/admin/segments/{id}`.
pub async fn update_segment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let id = segment_id(&id)?;
    let input: SegmentIn = parse_json(&body)?;
    valid_name("segment", &input.name)?;
    check_constraints(&input.constraints)?;
    app.store
        .mutate(&who.token_name, |s| {
            let seg = s
                .segments
                .get_mut(&id)
                .ok_or_else(|| Error::NotFound(format!("Could not find segment {id}")))?;
            let pre = segment_view(seg);
            seg.name = input.name;
            seg.description = input.description;
            seg.project = input.project;
            seg.constraints = input.constraints;
            let view = segment_view(seg);
            Ok(((), vec![EventDraft::new("segment-updated", view).pre(pre)]))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/admin/segments/{id}` (409 while a strategy uses it).
pub async fn delete_segment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    let who = admin(&app, &headers)?;
    let id = segment_id(&id)?;
    app.store
        .mutate(&who.token_name, |s| {
            let used = s.features.values().any(|f| {
                f.environments
                    .values()
                    .any(|e| e.strategies.iter().any(|st| st.segments.contains(&id)))
            });
            if used {
                return Err(Error::Conflict(format!("segment {id} is in use")));
            }
            let seg = s
                .segments
                .remove(&id)
                .ok_or_else(|| Error::NotFound(format!("Could not find segment {id}")))?;
            Ok((
                (),
                vec![EventDraft::new("segment-deleted", Value::Null).pre(segment_view(&seg))],
            ))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- tokens

/// `GET /api/admin/api-tokens` (secrets are shown abbreviated: only hashes are stored).
pub async fn list_tokens(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let snap = app.store.snapshot();
    let mut tokens: Vec<&Token> = snap.tokens.values().collect();
    tokens.sort_by(|a, b| (&a.created_at, &a.token_name).cmp(&(&b.created_at, &b.token_name)));
    let v: Vec<Value> = tokens.into_iter().map(crate::token_view).collect();
    Ok(ok(json!({"tokens": v})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenIn {
    #[serde(default)]
    token_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(rename = "type")]
    token_type: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    projects: Option<Vec<String>>,
}

/// `POST /api/admin/api-tokens`: the only time the secret is shown.
pub async fn create_token(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Res {
    let who = admin(&app, &headers)?;
    let input: TokenIn = parse_json(&body)?;
    let ty = TokenType::parse(&input.token_type).ok_or_else(|| {
        Error::BadRequest("type must be admin, client, backend or frontend".into())
    })?;
    let name = input.token_name.or(input.username).unwrap_or_default();
    valid_name("token", &name)?;
    let mut projects = input.projects.unwrap_or_default();
    if let Some(p) = input.project {
        projects.push(p);
    }
    if projects.is_empty() || projects.iter().any(|p| p == "*") {
        projects = vec!["*".into()];
    }
    projects.sort();
    projects.dedup();
    let env = if ty == TokenType::Admin {
        "*".to_owned()
    } else {
        input.environment.unwrap_or_else(|| "development".into())
    };
    let scope = match projects.as_slice() {
        [one] => one.clone(),
        _ => "[]".into(),
    };
    let secret = opshelf_core::token::generate(&format!("{scope}:{env}."));
    let mut record = crate::token_record(&app.store, &secret, ty, &scope, &env, &name);
    record.projects.clone_from(&projects);
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            if ty != TokenType::Admin && !s.environments.contains_key(&env) {
                return Err(Error::BadRequest(format!(
                    "environment {env} does not exist"
                )));
            }
            for p in &projects {
                if p != "*" && !s.projects.contains_key(p) {
                    return Err(Error::BadRequest(format!("project {p} does not exist")));
                }
            }
            let view = crate::token_view(&record);
            s.tokens.insert(record.hash.clone(), record);
            Ok((
                view.clone(),
                vec![EventDraft::new("api-token-created", view)],
            ))
        })
        .await?;
    let mut view = view;
    view["secret"] = Value::String(secret);
    Ok(created(view))
}

/// `DELETE /api/admin/api-tokens/{token}` (the full secret).
pub async fn delete_token(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Res {
    let who = admin(&app, &headers)?;
    let hash = app.store.hash_token(&secret);
    app.store
        .mutate(&who.token_name, |s| {
            let t = s
                .tokens
                .remove(&hash)
                .ok_or_else(|| Error::NotFound("no such token".into()))?;
            Ok((
                (),
                vec![EventDraft::new("api-token-deleted", Value::Null).pre(crate::token_view(&t))],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------- events, usage

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

/// `GET /api/admin/metrics/applications`.
pub async fn list_applications(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let apps = app.usage.applications(app.store.storage()).await?;
    Ok(ok(json!({"applications": apps})))
}

/// `GET /api/admin/client-metrics/features/{feature}`: reported yes/no/variant counts per app.
pub async fn feature_usage(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let by_app = app.usage.of_flag(app.store.storage(), &name).await?;
    let data: Vec<Value> = by_app
        .into_iter()
        .map(|(a, c)| json!({"appName": a, "yes": c.yes, "no": c.no, "variants": c.variants}))
        .collect();
    Ok(ok(json!({"version": 1, "featureName": name, "data": data})))
}

// ---------------------------------------------------------------- import / export

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
