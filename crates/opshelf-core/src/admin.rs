//! The admin listener: `/healthz` (the process answers), `/readyz` (storage open and every
//! enabled capability up) and `/metrics` (Prometheus text).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::Context;

/// Which components are up. The binary marks each enabled capability ready once its
/// listener is bound and its `start` returned.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    components: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Readiness {
    /// Declare a component, not ready yet.
    pub fn expect(&self, name: &str) {
        self.components
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), false);
    }

    /// Mark a component ready (or not).
    pub fn set(&self, name: &str, ready: bool) {
        self.components
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), ready);
    }

    /// Every declared component and whether it is ready.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, bool> {
        self.components
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Clone)]
struct AdminState {
    ctx: Context,
    readiness: Readiness,
}

/// The admin router.
pub fn router(ctx: Context, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState { ctx, readiness })
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    let mut components = s.readiness.snapshot();
    let storage_ok = match s.ctx.storage.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: storage does not answer");
            false
        }
    };
    components.insert(format!("storage ({})", s.ctx.storage.backend()), storage_ok);
    let ready = components.values().all(|up| *up) && !s.ctx.shutdown.is_triggered();
    let mut body = String::new();
    for (name, up) in &components {
        body.push_str(name);
        body.push_str(if *up { ": ready\n" } else { ": not ready\n" });
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.ctx.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn readyz_waits_for_every_component() {
        let ctx = Context::for_tests().await;
        let readiness = Readiness::default();
        readiness.expect("secrets");
        let app = router(ctx, readiness.clone());
        let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
        assert_eq!(
            app.clone().oneshot(get("/healthz")).await.unwrap().status(),
            200
        );
        assert_eq!(
            app.clone().oneshot(get("/readyz")).await.unwrap().status(),
            503
        );
        readiness.set("secrets", true);
        assert_eq!(
            app.clone().oneshot(get("/readyz")).await.unwrap().status(),
            200
        );
        let res = app.oneshot(get("/metrics")).await.unwrap();
        assert_eq!(res.status(), 200);
    }
}
