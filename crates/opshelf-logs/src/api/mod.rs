//! Loki's HTTP API: the one place that knows its URLs, parameters and JSON.
//!
//! - `push.rs`: `/loki/api/v1/push`, `/api/prom/push`, `/otlp/v1/logs`;
//! - `params.rs`: Loki's time, step, limit and direction parameters;
//! - `query.rs`: `query`, `query_range`, `format_query` and the result JSON;
//! - `meta.rs`: `labels`, `label/{name}/values`, `series`, `index/*`, `ready`, `buildinfo`;
//! - `tail.rs`: the WebSocket `tail`;
//! - `delete.rs`: the compactor's delete API.
//!
//! Errors are what Loki writes: the message as `text/plain` with a newline, and its status.

mod delete;
mod meta;
pub mod params;
mod push;
mod query;
mod tail;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::logql_adapter::{Engine, EngineLimits, EvalError, SourceError};
use crate::store::{LogStore, StoreError};

/// What every handler shares.
pub struct App {
    pub store: Arc<LogStore>,
    pub engine: Engine,
    pub max_push_bytes: usize,
}

impl App {
    pub fn new(store: Arc<LogStore>, max_push_bytes: usize) -> Arc<Self> {
        let l = store.limits().clone();
        let engine = Engine::new(EngineLimits {
            max_series: l.max_query_series,
            max_entries: l.max_entries_limit_per_query,
            timeout: Duration::from_secs(l.query_timeout_secs),
            max_points: 11_000,
        });
        Arc::new(Self {
            store,
            engine,
            max_push_bytes,
        })
    }

    /// The request's tenant: `X-Scope-OrgID`, else the default tenant.
    pub(crate) fn tenant(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let t = headers
            .get("x-scope-orgid")
            .map(|v| v.to_str().map(str::trim))
            .transpose()
            .map_err(|_| ApiError::bad("invalid X-Scope-OrgID header"))?;
        match t {
            Some(t) if t.contains('|') => Err(ApiError::bad(
                "multiple tenant IDs in X-Scope-OrgID are not supported",
            )),
            Some(t) if t.len() > 150 || t.contains(['/', '\\']) || t == "." || t == ".." => {
                Err(ApiError::bad(format!("tenant ID {t:?} is not allowed")))
            }
            t => Ok(self.store.tenant(t).to_owned()),
        }
    }
}

/// Loki's routes.
pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route("/push", post(push::push_v1))
        .route("/query", get(query::instant).post(query::instant))
        .route("/query_range", get(query::range).post(query::range))
        .route("/format_query", get(query::format).post(query::format))
        .route("/labels", get(meta::labels).post(meta::labels))
        .route("/label", get(meta::labels).post(meta::labels))
        .route(
            "/label/{name}/values",
            get(meta::label_values).post(meta::label_values),
        )
        .route("/series", get(meta::series).post(meta::series))
        .route(
            "/index/stats",
            get(meta::index_stats).post(meta::index_stats),
        )
        .route("/index/volume", get(meta::volume).post(meta::volume))
        .route(
            "/index/volume_range",
            get(meta::volume_range).post(meta::volume_range),
        )
        .route("/status/buildinfo", get(meta::buildinfo))
        .route("/tail", get(tail::tail))
        .route(
            "/delete",
            post(delete::create)
                .put(delete::create)
                .get(delete::list)
                .delete(delete::cancel),
        )
        .route("/detected_fields", get(not_found))
        .route("/detected_field/{name}/values", get(not_found))
        .route("/detected_labels", get(not_found))
        .route("/patterns", get(not_found));
    Router::new()
        .nest("/loki/api/v1", v1)
        .route("/api/prom/push", post(push::push_legacy))
        .route("/api/prom/tail", get(tail::tail))
        .route("/loki/api/v2alpha/tail", get(tail::tail))
        .route("/otlp/v1/logs", post(push::otlp))
        .route("/ready", get(meta::ready))
        .route("/loki/api/v1/status/ready", get(meta::ready))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "this endpoint is not served by opshelf (detected fields, labels and patterns are not implemented)",
    )
}

/// An error as Loki writes it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, format!("{}\n", self.message)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(d) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&d.as_secs().max(1).to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        use crate::push::PushError;
        match e {
            StoreError::Push(PushError::Invalid(m)) => Self::bad(m),
            StoreError::Push(PushError::TooMany(m)) => Self::new(StatusCode::TOO_MANY_REQUESTS, m),
            StoreError::Push(PushError::TooLarge(m)) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            StoreError::Overloaded {
                message,
                retry_after,
            } => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                message,
                retry_after: Some(retry_after),
            },
            StoreError::Failed(m) => Self::internal(m),
        }
    }
}

impl From<crate::push::PushError> for ApiError {
    fn from(e: crate::push::PushError) -> Self {
        StoreError::Push(e).into()
    }
}

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> Self {
        match e {
            EvalError::Parse(p) => Self::bad(p.to_string()),
            EvalError::Limit(m)
            | EvalError::Query(m)
            | EvalError::Source(SourceError::Limit(m)) => Self::bad(m),
            EvalError::Timeout => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "context deadline exceeded")
            }
            EvalError::Source(SourceError::Busy(m)) => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: m,
                retry_after: Some(std::time::Duration::from_secs(1)),
            },
            EvalError::Source(SourceError::Other(m)) => Self::internal(m),
        }
    }
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> Self {
        EvalError::Source(e).into()
    }
}

/// `{"status":"success","data":...}`.
#[allow(clippy::needless_pass_by_value)] // called with a fresh `json!` every time
pub(crate) fn success(data: serde_json::Value) -> Response {
    axum::Json(serde_json::json!({"status": "success", "data": data})).into_response()
}

/// Run blocking engine or store work off the runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
}

#[cfg(test)]
mod tests;
