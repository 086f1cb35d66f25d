//! Flags of a project (`/api/admin/projects/{project}/features`, `/api/admin/features`): list,
//! create, read, update, JSON-Patch, stale on / off.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Res, admin, created, feature_view, ok, to_value, valid_name};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::state::{EventDraft, Feature, Token};
use crate::store::now;

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
    if let Some(t) = &f.feature_type
        && !FEATURE_TYPES.contains(&t.as_str())
    {
        return Err(Error::BadRequest(format!(
            "type must be one of {FEATURE_TYPES:?}"
        )));
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
            if let Some(st) = f.stale
                && st != feat.stale
            {
                feat.stale = st;
                let kind = if st {
                    "feature-stale-on"
                } else {
                    "feature-stale-off"
                };
                events.push(EventDraft::new(kind, Value::Null).feature(name, project));
            }
            if let Some(a) = archive
                && a != feat.archived
            {
                feat.archived = a;
                feat.archived_at = a.then(now);
                let kind = if a {
                    "feature-archived"
                } else {
                    "feature-revived"
                };
                events.push(EventDraft::new(kind, Value::Null).feature(name, project));
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
