//! HTTP: every route of the flags listener (one table, in [`router`]), token checks and the
//! request-context helpers. Handlers translate and delegate to the store and the engine.

pub mod admin;
pub mod client;
pub mod frontend;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use opshelf_core::client_ip::TrustedProxies;
use serde_json::Value;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::Config;
use crate::engine::EvalContext;
use crate::error::Error;
use crate::state::{Token, TokenType};
use crate::store::Store;
use crate::usage::Usage;

/// Shared by every handler.
#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    pub usage: Usage,
    /// Whose `X-Forwarded-For` is believed for `remoteAddress` (installed on the router for
    /// core's `ClientIp` extractor).
    pub trusted_proxies: TrustedProxies,
}

/// The handlers' state.
pub type App = Arc<Inner>;

/// Build the flags router.
pub fn router(app: App, config: &Config) -> Router {
    let trusted = app.trusted_proxies.layer();
    let cors = cors_layer(&config.cors_origins);
    let frontend = Router::new()
        .route(
            "/api/frontend",
            get(frontend::get_enabled).post(frontend::post_enabled),
        )
        .route(
            "/api/frontend/all",
            get(frontend::get_all).post(frontend::post_all),
        )
        .route("/api/frontend/features/{name}", get(frontend::get_one))
        .route("/api/frontend/client/metrics", post(frontend::metrics))
        .route("/api/frontend/client/register", post(frontend::register))
        .route(
            "/api/proxy",
            get(frontend::get_enabled).post(frontend::post_enabled),
        )
        .route(
            "/api/proxy/all",
            get(frontend::get_all).post(frontend::post_all),
        )
        .route("/api/proxy/features/{name}", get(frontend::get_one))
        .route("/api/proxy/client/metrics", post(frontend::metrics))
        .route("/api/proxy/client/register", post(frontend::register))
        .layer(cors);
    let client = Router::new()
        .route("/api/client/features", get(client::features))
        .route("/api/client/features/{name}", get(client::feature))
        .route("/api/client/register", post(client::register))
        .route("/api/client/metrics", post(client::metrics));
    let p = "/api/admin/projects/{project}/features/{feature}";
    let admin = Router::new()
        .route(
            "/api/admin/projects",
            get(admin::list_projects).post(admin::create_project),
        )
        .route(
            "/api/admin/projects/{project}",
            get(admin::get_project)
                .put(admin::update_project)
                .delete(admin::delete_project),
        )
        .route(
            "/api/admin/environments",
            get(admin::list_environments).post(admin::create_environment),
        )
        .route(
            "/api/admin/environments/{env}",
            get(admin::get_environment)
                .put(admin::update_environment)
                .delete(admin::delete_environment),
        )
        .route(
            "/api/admin/environments/{env}/on",
            post(admin::environment_on),
        )
        .route(
            "/api/admin/environments/{env}/off",
            post(admin::environment_off),
        )
        .route("/api/admin/features", get(admin::list_all_features))
        .route(
            "/api/admin/projects/{project}/features",
            get(admin::list_features).post(admin::create_feature),
        )
        .route(
            p,
            get(admin::get_feature)
                .put(admin::update_feature)
                .patch(admin::patch_feature)
                .delete(admin::archive_feature),
        )
        .route(&format!("{p}/stale/on"), post(admin::stale_on))
        .route(&format!("{p}/stale/off"), post(admin::stale_off))
        .route(
            &format!("{p}/environments/{{env}}"),
            get(admin::get_feature_env),
        )
        .route(
            &format!("{p}/environments/{{env}}/on"),
            post(admin::feature_on),
        )
        .route(
            &format!("{p}/environments/{{env}}/off"),
            post(admin::feature_off),
        )
        .route(
            &format!("{p}/environments/{{env}}/strategies"),
            get(admin::list_strategies).post(admin::add_strategy),
        )
        .route(
            &format!("{p}/environments/{{env}}/strategies/set-sort-order"),
            post(admin::reorder_strategies),
        )
        .route(
            &format!("{p}/environments/{{env}}/strategies/{{id}}"),
            get(admin::get_strategy)
                .put(admin::update_strategy)
                .delete(admin::delete_strategy),
        )
        .route(
            &format!("{p}/environments/{{env}}/variants"),
            get(admin::get_variants).put(admin::put_variants),
        )
        .route(
            &format!("{p}/dependencies"),
            get(admin::list_dependencies)
                .post(admin::add_dependency)
                .delete(admin::delete_dependencies),
        )
        .route(
            &format!("{p}/dependencies/{{parent}}"),
            delete(admin::delete_dependency),
        )
        .route(
            "/api/admin/features/{feature}/tags",
            get(admin::list_tags).post(admin::add_tag),
        )
        .route(
            "/api/admin/features/{feature}/tags/{tag_type}/{value}",
            delete(admin::delete_tag),
        )
        .route("/api/admin/archive/features", get(admin::list_archived))
        .route(
            "/api/admin/archive/revive/{feature}",
            post(admin::revive_feature),
        )
        .route(
            "/api/admin/archive/{feature}",
            delete(admin::delete_archived),
        )
        .route(
            "/api/admin/segments",
            get(admin::list_segments).post(admin::create_segment),
        )
        .route(
            "/api/admin/segments/{id}",
            get(admin::get_segment)
                .put(admin::update_segment)
                .delete(admin::delete_segment),
        )
        .route(
            "/api/admin/api-tokens",
            get(admin::list_tokens).post(admin::create_token),
        )
        .route("/api/admin/api-tokens/{token}", delete(admin::delete_token))
        .route("/api/admin/events", get(admin::list_events))
        .route("/api/admin/events/{feature}", get(admin::feature_events))
        .route(
            "/api/admin/metrics/applications",
            get(admin::list_applications),
        )
        .route(
            "/api/admin/client-metrics/features/{feature}",
            get(admin::feature_usage),
        )
        .route("/api/admin/opshelf/import", post(admin::import))
        .route("/api/admin/opshelf/export", get(admin::export));
    Router::new()
        .route("/health", get(health))
        .merge(client)
        .merge(frontend)
        .merge(admin)
        .fallback(not_found)
        .layer(trusted)
        .with_state(app)
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"health":"GOOD"}"#,
    )
}

async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::CACHE_CONTROL,
            header::HeaderName::from_static("unleash-appname"),
            header::HeaderName::from_static("unleash-sdk"),
            header::HeaderName::from_static("unleash-connection-id"),
            header::HeaderName::from_static("unleash-client-spec"),
        ])
        .expose_headers([header::ETAG])
        .max_age(std::time::Duration::from_secs(86400))
}

/// Find the token of this request and check its type.
///
/// # Errors
/// 401 when missing or unknown; 403 when of another type.
pub fn authorize(app: &Inner, headers: &HeaderMap, allowed: &[TokenType]) -> Result<Token, Error> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::Unauthorized("You must provide an API token in the Authorization header".into())
        })?;
    let raw = match raw.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => raw[7..].trim(),
        _ => raw,
    };
    let snap = app.store.snapshot();
    let token = snap
        .tokens
        .get(&app.store.hash_token(raw))
        .ok_or_else(|| Error::Unauthorized("Invalid API token".into()))?;
    if !allowed.contains(&token.token_type) {
        return Err(Error::Forbidden(format!(
            "a {} token cannot be used on this endpoint",
            token.token_type.as_str()
        )));
    }
    Ok(token.clone())
}

/// Parse a JSON body into `T` with a 400 that says what is wrong.
///
/// # Errors
/// 400 on malformed or mistyped JSON.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An Unleash context from JSON: the standard fields at top level or inside `properties`;
/// other top-level scalars become properties (as the SDKs and Edge do).
#[must_use]
pub fn context_from_json(v: &Value) -> EvalContext {
    let mut ctx = EvalContext::default();
    let Some(map) = v.as_object() else { return ctx };
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if let Some(s) = scalar(v) {
                ctx.properties.insert(k.clone(), s);
            }
        }
    }
    for (k, v) in map {
        if k == "properties" {
            continue;
        }
        if let Some(s) = scalar(v) {
            set_field(&mut ctx, k, s);
        }
    }
    for key in [
        "userId",
        "sessionId",
        "environment",
        "appName",
        "currentTime",
        "remoteAddress",
    ] {
        if let Some(s) = ctx.properties.remove(key)
            && field_of(&ctx, key).is_none()
        {
            set_field(&mut ctx, key, s);
        }
    }
    ctx
}

fn field_of<'a>(ctx: &'a EvalContext, key: &str) -> Option<&'a String> {
    match key {
        "userId" => ctx.user_id.as_ref(),
        "sessionId" => ctx.session_id.as_ref(),
        "environment" => ctx.environment.as_ref(),
        "appName" => ctx.app_name.as_ref(),
        "currentTime" => ctx.current_time.as_ref(),
        "remoteAddress" => ctx.remote_address.as_ref(),
        other => ctx.properties.get(other),
    }
}

fn set_field(ctx: &mut EvalContext, key: &str, value: String) {
    match key {
        "userId" => ctx.user_id = Some(value),
        "sessionId" => ctx.session_id = Some(value),
        "environment" => ctx.environment = Some(value),
        "appName" => ctx.app_name = Some(value),
        "currentTime" => ctx.current_time = Some(value),
        "remoteAddress" => ctx.remote_address = Some(value),
        other => {
            ctx.properties.insert(other.to_owned(), value);
        }
    }
}

/// An Unleash context from query-string pairs, as unleash-proxy-client sends it:
/// `userId=..&properties[plan]=pro`; unknown keys become properties.
#[must_use]
pub fn context_from_query(pairs: &[(String, String)]) -> EvalContext {
    let mut ctx = EvalContext::default();
    let mut props = BTreeMap::new();
    for (k, v) in pairs {
        if let Some(inner) = k
            .strip_prefix("properties[")
            .and_then(|r| r.strip_suffix(']'))
        {
            props.insert(inner.to_owned(), v.clone());
        } else if k != "properties" {
            set_field(&mut ctx, k, v.clone());
        }
    }
    for (k, v) in props {
        if field_of(&ctx, &k).is_none() {
            set_field(&mut ctx, &k, v);
        }
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_context_matches_the_proxy_client_encoding() {
        let pairs = vec![
            ("sessionId".to_owned(), "209250914".to_owned()),
            ("appName".to_owned(), "probe".to_owned()),
            ("userId".to_owned(), "42".to_owned()),
            ("properties[plan]".to_owned(), "pro".to_owned()),
            ("tenant".to_owned(), "acme".to_owned()),
        ];
        let ctx = context_from_query(&pairs);
        assert_eq!(ctx.user_id.as_deref(), Some("42"));
        assert_eq!(ctx.session_id.as_deref(), Some("209250914"));
        assert_eq!(ctx.properties.get("plan").map(String::as_str), Some("pro"));
        assert_eq!(
            ctx.properties.get("tenant").map(String::as_str),
            Some("acme")
        );
    }

    #[test]
    fn json_context_moves_standard_fields_out_of_properties() {
        let v = serde_json::json!({"properties": {"userId": "7", "x": 1}, "appName": "a", "extra": true});
        let ctx = context_from_json(&v);
        assert_eq!(ctx.user_id.as_deref(), Some("7"));
        assert_eq!(ctx.app_name.as_deref(), Some("a"));
        assert_eq!(ctx.properties.get("x").map(String::as_str), Some("1"));
        assert_eq!(
            ctx.properties.get("extra").map(String::as_str),
            Some("true")
        );
        assert!(!ctx.properties.contains_key("userId"));
    }

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn call(app: &Router, method: &str, uri: &str, token: &str, body: &str) -> (u16, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", token)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn frontend_remote_address_is_core_client_ip_behind_trusted_proxies() {
        let ctx = opshelf_core::Context::for_tests().await;
        let config = Config {
            init_admin_api_tokens: vec!["*:*.adm".into()],
            init_frontend_api_tokens: vec!["default:development.fe".into()],
            trusted_proxies: vec!["10.0.0.0/8".into()],
            ..Config::default()
        };
        let app = crate::start(&config, &ctx).await.unwrap();
        let p = "/api/admin/projects/default/features/by.ip";
        let (s, _) = call(
            &app,
            "POST",
            "/api/admin/projects/default/features",
            "*:*.adm",
            r#"{"name":"by.ip"}"#,
        )
        .await;
        assert_eq!(s, 201);
        let (s, _) = call(
            &app,
            "POST",
            &format!("{p}/environments/development/strategies"),
            "*:*.adm",
            r#"{"name":"remoteAddress","parameters":{"IPs":"198.51.100.7"}}"#,
        )
        .await;
        assert_eq!(s, 200);
        let on = format!("{p}/environments/development/on");
        assert_eq!(call(&app, "POST", &on, "*:*.adm", "").await.0, 200);
        let enabled = |peer: &'static str, xff: &'static str| {
            let app = app.clone();
            async move {
                let mut req = Request::builder()
                    .method("GET")
                    .uri("/api/frontend")
                    .header("authorization", "default:development.fe")
                    .header("x-forwarded-for", xff)
                    .body(Body::empty())
                    .unwrap();
                req.extensions_mut().insert(axum::extract::ConnectInfo(
                    peer.parse::<std::net::SocketAddr>().unwrap(),
                ));
                let res = app.oneshot(req).await.unwrap();
                let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap();
                let body: Value = serde_json::from_slice(&bytes).unwrap();
                body["toggles"].as_array().is_some_and(|t| !t.is_empty())
            }
        };
        assert!(
            enabled("10.0.0.1:5000", "198.51.100.7").await,
            "trusted hop"
        );
        assert!(
            enabled("10.0.0.1:5000", "6.6.6.6, 198.51.100.7, 10.0.0.9").await,
            "right-most untrusted hop"
        );
        assert!(
            !enabled("203.0.113.5:5000", "198.51.100.7").await,
            "spoofed"
        );
        assert!(enabled("198.51.100.7:5000", "6.6.6.6").await, "direct peer");
        ctx.shutdown.trigger();
    }

    #[tokio::test]
    async fn router_serves_health_auth_admin_and_evaluation_without_a_socket() {
        let ctx = opshelf_core::Context::for_tests().await;
        let config = Config {
            init_admin_api_tokens: vec!["*:*.adm".into()],
            init_frontend_api_tokens: vec!["default:development.fe".into()],
            ..Config::default()
        };
        let app = crate::start(&config, &ctx).await.unwrap();
        assert_eq!(
            call(&app, "GET", "/health", "", "").await,
            (200, serde_json::json!({"health": "GOOD"}))
        );
        assert_eq!(
            call(&app, "GET", "/api/admin/projects", "", "").await.0,
            401
        );
        assert_eq!(
            call(
                &app,
                "GET",
                "/api/admin/projects",
                "default:development.fe",
                ""
            )
            .await
            .0,
            403
        );
        assert_eq!(call(&app, "GET", "/api/nope", "", "").await.0, 404);
        let (s, _) = call(
            &app,
            "POST",
            "/api/admin/projects/default/features",
            "*:*.adm",
            r#"{"name":"a.b"}"#,
        )
        .await;
        assert_eq!(s, 201);
        let on = "/api/admin/projects/default/features/a.b/environments/development/on";
        assert_eq!(call(&app, "POST", on, "*:*.adm", "").await.0, 200);
        let (s, body) = call(
            &app,
            "POST",
            "/api/frontend",
            "default:development.fe",
            r#"{"context":{"userId":"1"}}"#,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(body["toggles"][0]["name"], "a.b");
        assert_eq!(body["toggles"][0]["variant"]["name"], "disabled");
        assert_eq!(body["toggles"][0]["variant"]["featureEnabled"], true);
        let (s, body) = call(
            &app,
            "POST",
            "/api/frontend",
            "default:development.fe",
            "[1]",
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(body["name"], "BadDataError");
        ctx.shutdown.trigger();
    }
}
