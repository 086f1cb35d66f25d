//! `/api/admin/api-tokens`: list (abbreviated), create (the secret is shown once), delete.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Res, admin, created, ok, valid_name};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::state::{EventDraft, Token, TokenType};

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
