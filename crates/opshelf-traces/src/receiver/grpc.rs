//! OTLP/gRPC: unary `Export` of `TraceService`, `LogsService` and `MetricsService`, framed
//! by hand (a 5-byte prefix: compressed flag, big-endian length; `grpc-encoding: gzip`;
//! `grpc-status` / `grpc-message` trailers) on the listener's HTTP/2 (h2c). An oversize
//! message is `RESOURCE_EXHAUSTED`, an overloaded store `UNAVAILABLE` (the SDKs retry it),
//! undecodable input `INVALID_ARGUMENT`, an unknown method `UNIMPLEMENTED`.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use http_body::Frame;

use crate::ingest::{self, IngestError, Partial, Shared};
use crate::otlp::{self, Encoding, Signal, code};

pub const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const LOGS_EXPORT: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
pub const METRICS_EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

pub fn router(state: Shared) -> Router {
    Router::new()
        .route(TRACE_EXPORT, post(traces))
        .route(LOGS_EXPORT, post(logs))
        .route(METRICS_EXPORT, post(metrics))
        .fallback(|| async { status_only(code::UNIMPLEMENTED, "unknown service or method") })
        .with_state(state)
}

async fn traces(State(st): State<Shared>, req: Request) -> Response {
    handle(&st, Signal::Traces, req).await
}

async fn logs(State(st): State<Shared>, req: Request) -> Response {
    handle(&st, Signal::Logs, req).await
}

async fn metrics(State(st): State<Shared>, req: Request) -> Response {
    handle(&st, Signal::Metrics, req).await
}

async fn handle(st: &Shared, signal: Signal, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let limit = st.max_message_bytes;
    let Ok(body) = axum::body::to_bytes(body, limit.saturating_add(5)).await else {
        return status_only(
            code::RESOURCE_EXHAUSTED,
            &format!("message larger than the limit of {limit} bytes"),
        );
    };
    let msg = match unframe(&body, &parts.headers, limit) {
        Ok(m) => m,
        Err(e) => return error(&e),
    };
    let out = match signal {
        Signal::Traces => st.traces(&msg, Encoding::Protobuf).await,
        Signal::Logs => st.logs(&msg, Encoding::Protobuf).await,
        Signal::Metrics => st.metrics(&msg, Encoding::Protobuf),
    };
    match out {
        Ok(p) => reply(signal, &p),
        Err(e) => error(&e),
    }
}

/// The one message of a unary call, decompressed.
fn unframe(body: &[u8], headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, IngestError> {
    let Some((prefix, rest)) = body.split_first_chunk::<5>() else {
        return Err(IngestError::Invalid(
            "a gRPC message needs a 5-byte prefix".to_owned(),
        ));
    };
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > limit {
        return Err(IngestError::TooLarge(format!(
            "message of {len} bytes larger than the limit of {limit} bytes"
        )));
    }
    if rest.len() != len {
        return Err(IngestError::Invalid(format!(
            "gRPC frame says {len} bytes, {} followed (a unary call carries one message)",
            rest.len()
        )));
    }
    match prefix[0] {
        0 => Ok(rest.to_vec()),
        1 => {
            let enc = headers.get("grpc-encoding").and_then(|v| v.to_str().ok());
            match enc {
                None | Some("identity") => Err(IngestError::Invalid(
                    "compressed flag set without a grpc-encoding".to_owned(),
                )),
                Some(e) => ingest::decompress(rest, Some(e), limit),
            }
        }
        f => Err(IngestError::Invalid(format!("unknown gRPC frame flag {f}"))),
    }
}

fn reply(signal: Signal, p: &Partial) -> Response {
    let msg = otlp::export_response(Encoding::Protobuf, signal, p.rejected, &p.message);
    let mut data = Vec::with_capacity(msg.len() + 5);
    data.push(0);
    data.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
    data.extend_from_slice(&msg);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let mut res = Response::new(Body::new(GrpcBody {
        data: Some(Bytes::from(data)),
        trailers: Some(trailers),
    }));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    res
}

fn error(e: &IngestError) -> Response {
    let c = match e {
        IngestError::Invalid(_) => code::INVALID_ARGUMENT,
        IngestError::TooLarge(_) => code::RESOURCE_EXHAUSTED,
        IngestError::Overloaded { .. } => code::UNAVAILABLE,
        IngestError::Unsupported(_) => code::UNIMPLEMENTED,
        IngestError::Internal(_) => code::INTERNAL,
    };
    status_only(c, &e.to_string())
}

/// A trailers-only response: HTTP 200, `grpc-status` and `grpc-message` in the headers.
fn status_only(code: i32, message: &str) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
        h.insert("grpc-status", v);
    }
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
        h.insert("grpc-message", v);
    }
    res
}

/// gRPC's `grpc-message` encoding: printable ASCII except `%` as is, the rest `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One data frame, then the trailers.
struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for GrpcBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_checked() {
        let h = HeaderMap::new();
        assert!(matches!(
            unframe(b"\0\0\0", &h, 10),
            Err(IngestError::Invalid(_))
        ));
        assert_eq!(unframe(b"\0\0\0\0\x02ab", &h, 10).unwrap(), b"ab");
        assert!(matches!(
            unframe(b"\0\0\0\0\x03ab", &h, 10),
            Err(IngestError::Invalid(_))
        ));
        assert!(matches!(
            unframe(b"\0\0\0\x10\x00", &h, 10),
            Err(IngestError::TooLarge(_))
        ));
        assert!(matches!(
            unframe(b"\x01\0\0\0\x02ab", &h, 10),
            Err(IngestError::Invalid(_))
        ));
        assert_eq!(percent_encode("a%b\nü"), "a%25b%0A%C3%BC");
    }
}
