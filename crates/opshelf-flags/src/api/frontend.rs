//! The frontend API for browser SDKs (`useFlag`): server-side evaluation of the caller's
//! context. `/api/frontend` returns enabled flags; Edge's `/all` returns every flag; the
//! `/api/proxy` paths are aliases.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opshelf_core::client_ip::ClientIp;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::{etag_matches, record_metrics, record_registration};
use super::{App, authorize, context_from_json, context_from_query, parse_json};
use crate::engine::{EvalContext, Evaluated};
use crate::error::Error;
use crate::model::{FrontendBody, FrontendToggle, FrontendVariant};
use crate::state::{Token, TokenType};

/// A missing `remoteAddress` is the client's address (core's one rule: the peer, or behind
/// `trusted_proxies` the right-most untrusted `X-Forwarded-For` hop), as Unleash does.
fn enrich(ctx: &mut EvalContext, client: Option<ClientIp>) {
    if ctx.session_id.as_deref().is_none_or(str::is_empty) {
        ctx.session_id = Some(rand::random::<u32>().to_string());
    }
    if ctx.remote_address.as_deref().is_none_or(str::is_empty) {
        ctx.remote_address = client.map(|c| c.to_string());
    }
}

fn to_toggle(e: Evaluated) -> FrontendToggle {
    FrontendToggle {
        name: e.name,
        enabled: e.enabled,
        variant: FrontendVariant {
            name: e.variant_name,
            enabled: e.variant_enabled,
            payload: e.variant_payload,
            feature_enabled: e.feature_enabled,
            feature_enabled_camel: e.feature_enabled,
        },
        impression_data: e.impression_data,
    }
}

fn evaluate(
    app: &App,
    token: &Token,
    ctx: &EvalContext,
    only_enabled: bool,
) -> Vec<FrontendToggle> {
    let snap = app.store.snapshot();
    let Some(view) = snap.envs.get(&token.environment) else {
        return Vec::new();
    };
    let results = view.engine.evaluate_all(ctx, |p| token.allows_project(p));
    let mut out = Vec::with_capacity(results.len());
    for e in results {
        if let Some(c) = view.counters.get(&e.name) {
            if e.enabled {
                c.yes.inc()
            } else {
                c.no.inc()
            };
        }
        if only_enabled && !e.enabled {
            continue;
        }
        out.push(to_toggle(e));
    }
    out
}

fn respond(headers: &HeaderMap, toggles: Vec<FrontendToggle>) -> Result<Response, Error> {
    // One allocation for the common case (a toggle serialises to ~150 bytes).
    let mut body = Vec::with_capacity(32 + 192 * toggles.len());
    serde_json::to_writer(&mut body, &FrontendBody { toggles })
        .map_err(|e| Error::Internal(e.to_string()))?;
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..12]));
    if etag_matches(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_owned(),
            ),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response())
}

fn context_of_post(body: &[u8]) -> Result<EvalContext, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(EvalContext::default());
    }
    let v: Value = parse_json(body)?;
    if !v.is_object() {
        return Err(Error::BadRequest(
            "the body must be a JSON object {\"context\": {...}}".into(),
        ));
    }
    match v.get("context") {
        Some(c) if c.is_object() => Ok(context_from_json(c)),
        Some(Value::Null) | None => Ok(context_from_json(&v)),
        Some(_) => Err(Error::BadRequest("context must be an object".into())),
    }
}

/// The context comes from the query string (`GET`) or the body (`POST`); the token is checked
/// once, before the body is parsed, so a stranger never gets a 400 that describes our parser.
async fn run(
    app: &App,
    headers: &HeaderMap,
    client: Option<ClientIp>,
    context: impl FnOnce() -> Result<EvalContext, Error>,
    only_enabled: bool,
) -> Result<Response, Error> {
    let token = authorize(app, headers, &[TokenType::Frontend])?;
    let mut ctx = context()?;
    enrich(&mut ctx, client);
    respond(headers, evaluate(app, &token, &ctx, only_enabled))
}

/// `GET /api/frontend`.
pub async fn get_enabled(
    State(app): State<App>,
    client: Option<ClientIp>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    run(
        &app,
        &headers,
        client,
        || Ok(context_from_query(&pairs)),
        true,
    )
    .await
}

/// `POST /api/frontend`.
pub async fn post_enabled(
    State(app): State<App>,
    client: Option<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    run(&app, &headers, client, || context_of_post(&body), true).await
}

/// `GET /api/frontend/all`.
pub async fn get_all(
    State(app): State<App>,
    client: Option<ClientIp>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    run(
        &app,
        &headers,
        client,
        || Ok(context_from_query(&pairs)),
        false,
    )
    .await
}

/// `POST /api/frontend/all`.
pub async fn post_all(
    State(app): State<App>,
    client: Option<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    run(&app, &headers, client, || context_of_post(&body), false).await
}

/// `GET /api/frontend/features/{name}`: the flag if it exists and is enabled, else 404.
pub async fn get_one(
    State(app): State<App>,
    client: Option<ClientIp>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let token = authorize(&app, &headers, &[TokenType::Frontend])?;
    let mut ctx = context_from_query(&pairs);
    enrich(&mut ctx, client);
    let snap = app.store.snapshot();
    let found = snap
        .envs
        .get(&token.environment)
        .and_then(|v| v.engine.evaluate(&name, &ctx))
        .filter(|e| e.enabled && token.allows_project(&e.project))
        .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
    let body = serde_json::to_vec(&to_toggle(found)).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response())
}

/// `POST /api/frontend/client/metrics`.
pub async fn metrics(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let token = authorize(&app, &headers, &[TokenType::Frontend])?;
    record_metrics(&app, &body, &token.environment, "frontend-sdk")?;
    Ok(StatusCode::OK)
}

/// `POST /api/frontend/client/register`.
pub async fn register(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    authorize(&app, &headers, &[TokenType::Frontend])?;
    record_registration(&app, &body, "frontend")?;
    Ok(StatusCode::OK)
}
