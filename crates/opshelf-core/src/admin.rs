//! The admin listener: `/healthz` (the process answers), `/readyz` (the readiness rule of
//! [`crate::status`]), `/status` (every listener and every capability's report, JSON) and
//! `/metrics` (Prometheus text).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::status::StatusBoard;
use crate::{DynStorage, Metrics, Shutdown};

/// What the admin router reads.
#[derive(Clone)]
pub struct AdminState {
    pub storage: DynStorage,
    pub metrics: Metrics,
    pub shutdown: Shutdown,
    pub board: StatusBoard,
    pub started: Instant,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState").finish_non_exhaustive()
    }
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The `/status` document and whether opshelf is ready.
async fn snapshot(s: &AdminState) -> (bool, Value) {
    let storage_error = s.storage.ping().await.err().map(|e| {
        tracing::warn!(error = %e, "status: storage does not answer");
        e.to_string()
    });
    let caps = s.board.capabilities();
    let stopping = s.shutdown.is_triggered();
    let ready = storage_error.is_none() && StatusBoard::all_serving(&caps) && !stopping;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "ready": ready,
        "stopping": stopping,
        "time": now,
        "uptime_secs": s.started.elapsed().as_secs(),
        "storage": {
            "backend": s.storage.backend(),
            "ok": storage_error.is_none(),
            "error": storage_error,
        },
        "listeners": s.board.listeners(),
        "capabilities": caps,
    });
    (ready, body)
}

async fn status(State(s): State<AdminState>) -> impl IntoResponse {
    Json(snapshot(&s).await.1)
}

/// 200 when ready; otherwise 503 with one line per reason.
async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    let (ready, body) = snapshot(&s).await;
    let mut text = String::new();
    let backend = body["storage"]["backend"].as_str().unwrap_or("");
    if body["storage"]["ok"] == true {
        text.push_str(&format!("storage ({backend}): ready\n"));
    } else {
        text.push_str(&format!("storage ({backend}): not ready (not answering)\n"));
    }
    if body["stopping"] == true {
        text.push_str("opshelf: stopping\n");
    }
    for c in body["capabilities"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("");
        let state = c["state"].as_str().unwrap_or("");
        if state == "disabled" {
            continue;
        }
        let verdict = if c["serving"] == true {
            "ready"
        } else {
            "not ready"
        };
        text.push_str(&format!(
            "{name}: {verdict} ({state}: {})\n",
            c["summary"].as_str().unwrap_or("")
        ));
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, text)
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::status::{ListenerInfo, Report};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn readyz_follows_every_capability_report() {
        let storage = crate::storage::sqlite::SqliteStorage::open_in_memory().unwrap();
        let board = StatusBoard::default();
        let state = AdminState {
            storage: Arc::new(storage),
            metrics: Metrics::new(),
            shutdown: Shutdown::new(),
            board: board.clone(),
            started: Instant::now(),
        };
        board.listener(ListenerInfo {
            name: "secrets".into(),
            capability: "secrets".into(),
            key: "secrets.listen".into(),
            addr: "127.0.0.1:1234".into(),
            tls: false,
        });
        board.starting("secrets");
        let app = router(state);
        let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
        let status = |app: Router, p: &'static str| async move {
            app.oneshot(get(p)).await.unwrap().status()
        };
        assert_eq!(status(app.clone(), "/healthz").await, 200);
        assert_eq!(status(app.clone(), "/readyz").await, 503);

        let sealed = Arc::new(AtomicBool::new(true));
        let s = Arc::clone(&sealed);
        board.started(
            "secrets",
            Arc::new(move || {
                if s.load(Ordering::Relaxed) {
                    Report::degraded("sealed", false)
                } else {
                    Report::up("unsealed")
                }
            }),
        );
        assert_eq!(status(app.clone(), "/readyz").await, 503);
        let res = app.clone().oneshot(get("/status")).await.unwrap();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["listeners"][0]["addr"], "127.0.0.1:1234");
        assert_eq!(v["capabilities"][0]["state"], "degraded");
        sealed.store(false, Ordering::Relaxed);
        assert_eq!(status(app.clone(), "/readyz").await, 200);
        assert_eq!(status(app, "/metrics").await, 200);
    }
}
