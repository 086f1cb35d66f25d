//! The admin API (admin tokens only): projects, environments, flags and their per-environment
//! strategies / variants / on-off, dependencies, tags, archive, segments, API tokens, the
//! event log, usage, and opshelf's import / export. Every change is one store mutation: one
//! transaction, one new revision, one or more audit events.
//!
//! The URL table is [`super::router`], with every other route of the listener. One file per
//! resource; this module holds what several of them share (the admin-token check, response and
//! view helpers, lookups and checks inside a mutation).
//!
//! | URLs under `/api/admin`                                   | file                      |
//! |-----------------------------------------------------------|---------------------------|
//! | `/projects`, `/projects/{project}`                        | `projects.rs`             |
//! | `/environments`, `/environments/{env}[/on,/off]`          | `environments.rs`         |
//! | `/features`, `/projects/{project}/features[/{feature}]`, `.../stale/{on,off}` | `features.rs` |
//! | `DELETE .../features/{feature}`, `/archive/*`             | `archive.rs`              |
//! | `.../features/{feature}/environments/{env}[/on,/off]`     | `feature_environments.rs` |
//! | `.../environments/{env}/strategies[/{id}, /set-sort-order]` | `strategies.rs`         |
//! | `.../environments/{env}/variants`                         | `variants.rs`             |
//! | `.../features/{feature}/dependencies[/{parent}]`          | `dependencies.rs`         |
//! | `/features/{feature}/tags[/{type}/{value}]`               | `tags.rs`                 |
//! | `/segments`, `/segments/{id}`                             | `segments.rs`             |
//! | `/api-tokens`, `/api-tokens/{token}`                      | `api_tokens.rs`           |
//! | `/events`, `/events/{feature}`                            | `events.rs`               |
//! | `/metrics/applications`, `/client-metrics/features/{feature}` | `metrics.rs`          |
//! | `/opshelf/import`, `/opshelf/export`                      | `import_export.rs`        |

mod api_tokens;
mod archive;
mod dependencies;
mod environments;
mod events;
mod feature_environments;
mod features;
mod import_export;
mod metrics;
mod projects;
mod segments;
mod strategies;
mod tags;
mod variants;

pub use api_tokens::{create_token, delete_token, list_tokens};
pub use archive::{archive_feature, delete_archived, list_archived, revive_feature};
pub use dependencies::{add_dependency, delete_dependencies, delete_dependency, list_dependencies};
pub use environments::{
    create_environment, delete_environment, environment_off, environment_on, get_environment,
    list_environments, update_environment,
};
pub use events::{feature_events, list_events};
pub use feature_environments::{feature_off, feature_on, get_feature_env};
pub use features::{
    create_feature, get_feature, list_all_features, list_features, patch_feature, stale_off,
    stale_on, update_feature,
};
pub use import_export::{export, import};
pub use metrics::{feature_usage, list_applications};
pub use projects::{create_project, delete_project, get_project, list_projects, update_project};
pub use segments::{create_segment, delete_segment, get_segment, list_segments, update_segment};
pub use strategies::{
    add_strategy, delete_strategy, get_strategy, list_strategies, reorder_strategies,
    update_strategy,
};
pub use tags::{add_tag, delete_tag, list_tags};
pub use variants::{get_variants, put_variants};

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{App, authorize};
use crate::error::Error;
use crate::model::Constraint;
use crate::state::{Environment, Feature, FeatureEnv, State, Token, TokenType};

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
