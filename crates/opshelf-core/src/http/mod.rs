//! What every listener gets: the same tower layers, and a server loop with graceful shutdown.
//!
//! Layer order, outermost first: request id (set, and echoed back); trace span and access
//! log; metrics; timeout; panic → 500; body limit. Handlers therefore never see a body
//! over the listener's limit, never run past its timeout, and a panic in one of them is a
//! 500 for that request, not a dead connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::{ErrorCode, envelope};
use crate::metrics::{HttpMetrics, ListenerLabels, Metrics, RequestLabels};

mod serve;

pub use serve::{ServeOptions, serve};

use crate::capability::ErrorStyle;

/// Per-listener limits. The binary fills the connection limits from `[server]`; a
/// capability sets the body limit (and may set a per-address cap) in its `ListenerSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted (413 beyond); `None` leaves bodies to the capability
    /// (the WAF proxy streams and enforces its own limit).
    pub max_body_bytes: Option<usize>,
    /// A request still running after this gets a 503 and is dropped.
    pub request_timeout: Duration,
    /// A connection must deliver a whole request head within this (from connect, and from
    /// the end of the previous response on keep-alive): Vault's `http_read_header_timeout`.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections at most (0: no cap); past it new ones are closed at once.
    pub max_connections: usize,
    /// Open connections from one client address at most (`Some(0)`: no cap; `None`: the
    /// `[server]` default).
    pub max_connections_per_ip: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: Some(1024 * 1024),
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 4096,
            max_connections_per_ip: None,
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wrap `router` in the core layers, recording metrics under `listener`; errors the layers
/// answer themselves (timeout, panic) are rendered in `style`.
pub fn with_layers(
    router: Router,
    listener: &str,
    limits: Limits,
    style: ErrorStyle,
    metrics: &Metrics,
) -> Router {
    let name: Arc<str> = Arc::from(listener);
    let span_name = Arc::clone(&name);
    let trace = TraceLayer::new_for_http()
        .make_span_with(move |req: &Request| {
            let id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(
                "request",
                listener = %span_name,
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %id,
            )
        })
        .on_request(())
        .on_response(|res: &Response, latency: Duration, _span: &tracing::Span| {
            tracing::info!(
                status = res.status().as_u16(),
                latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                "served"
            );
        })
        .on_failure(());

    let mut router = router;
    router = match limits.max_body_bytes {
        Some(max) => router
            .layer(RequestBodyLimitLayer::new(max))
            .layer(DefaultBodyLimit::max(max)),
        None => router.layer(DefaultBodyLimit::disable()),
    };
    router
        .layer(CatchPanicLayer::custom(
            move |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("handler panicked; answered 500");
                render(style, ErrorCode::Internal, "internal error")
            },
        ))
        .layer(axum::middleware::from_fn_with_state(
            (limits.request_timeout, style),
            deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (metrics.http().clone(), Arc::clone(&name)),
            record,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// A request still running after the listener's request timeout is answered 503.
async fn deadline(
    State((timeout, style)): State<(Duration, ErrorStyle)>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(
                timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                "request timed out; answered 503"
            );
            render(style, ErrorCode::Unavailable, "request timed out")
        }
    }
}

/// An error the core answers itself, in the listener's style.
#[must_use]
pub fn render(style: ErrorStyle, code: ErrorCode, message: &str) -> Response {
    match style {
        ErrorStyle::Json => envelope(code, message),
        ErrorStyle::PlainText => {
            let mut res = Response::new(axum::body::Body::from(format!("{message}\n")));
            *res.status_mut() = code.status();
            res.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            res
        }
        ErrorStyle::Grpc => {
            // gRPC status codes: INTERNAL 13, UNAVAILABLE 14, RESOURCE_EXHAUSTED 8, ...
            let grpc = match code {
                ErrorCode::PayloadTooLarge | ErrorCode::TooManyRequests => "8",
                ErrorCode::Unavailable | ErrorCode::Timeout => "14",
                ErrorCode::BadRequest | ErrorCode::UnprocessableEntity => "3",
                ErrorCode::Unauthorized => "16",
                ErrorCode::Forbidden => "7",
                ErrorCode::NotFound => "5",
                _ => "13",
            };
            let mut res = Response::new(axum::body::Body::empty());
            let h = res.headers_mut();
            h.insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/grpc"),
            );
            h.insert("grpc-status", axum::http::HeaderValue::from_static(grpc));
            if let Ok(v) = axum::http::HeaderValue::from_str(message) {
                h.insert("grpc-message", v);
            }
            res
        }
    }
}

async fn record(
    State((metrics, listener)): State<(HttpMetrics, Arc<str>)>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let labels = ListenerLabels {
        listener: listener.to_string(),
    };
    metrics
        .duration
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    let labels = RequestLabels {
        listener: labels.listener,
        method,
        status: res.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown::Shutdown;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tokio::net::TcpListener;
    use tower::ServiceExt;

    fn app(metrics: &Metrics) -> Router {
        let r = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/echo",
                post(|b: axum::body::Bytes| async move { b.len().to_string() }),
            )
            .route("/panic", get(panics))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        let limits = Limits {
            max_body_bytes: Some(16),
            request_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        with_layers(r, "test", limits, ErrorStyle::Json, metrics)
    }

    async fn panics() -> &'static str {
        let v: Vec<&str> = Vec::new();
        v[0] // index out of bounds: a panic inside a handler
    }

    async fn call(app: Router, req: Request) -> Response {
        app.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn layers_set_request_id_limit_body_catch_panics_and_time_out() {
        let m = Metrics::new();
        let res = call(app(&m), Request::get("/ok").body(Body::empty()).unwrap()).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("x-request-id"));

        let res = call(
            app(&m),
            Request::get("/ok")
                .header("x-request-id", "abc")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(res.headers()["x-request-id"], "abc");

        let small = Request::post("/echo")
            .body(Body::from("0123456789"))
            .unwrap();
        assert_eq!(call(app(&m), small).await.status(), 200);
        let big = Request::post("/echo")
            .body(Body::from(vec![b'x'; 17]))
            .unwrap();
        assert_eq!(call(app(&m), big).await.status(), 413);

        let res = call(app(&m), Request::get("/panic").body(Body::empty()).unwrap()).await;
        assert_eq!(res.status(), 500);

        let res = call(app(&m), Request::get("/slow").body(Body::empty()).unwrap()).await;
        assert_eq!(res.status(), 503);

        let text = m.encode();
        assert!(
            text.contains(
                r#"opshelf_http_requests_total{listener="test",method="POST",status="413"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"opshelf_http_request_duration_seconds_count{listener="test"} 6"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn graceful_shutdown_finishes_in_flight_request() {
        let shutdown = Shutdown::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
        let router = Router::new().route(
            "/slow",
            get(move || {
                let tx = started_tx.lock().unwrap().take();
                async move {
                    if let Some(tx) = tx {
                        let _ = tx.send(());
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "finished"
                }
            }),
        );
        let opts = ServeOptions {
            name: Arc::from("t"),
            tls: None,
            limits: Limits::default(),
            grace: Duration::from_secs(5),
        };
        let metrics = Metrics::new();
        let sd = shutdown.clone();
        let server = tokio::spawn(async move { serve(listener, router, opts, sd, &metrics).await });
        let client = tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        });
        started_rx.await.unwrap();
        shutdown.trigger();
        let reply = client.await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.ends_with("finished"), "{reply}");
        server.await.unwrap().unwrap();
        // The listener is closed: new connections are refused.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
