//! OTLP's wire types and encodings: the one module that names `opentelemetry-proto`.
//!
//! Protobuf decoding is prost's; OTLP/JSON is the crate's serde (hex ids, integer enums,
//! int64 as string or number, lowerCamelCase, unknown fields ignored), checked against the
//! staged examples and the Node exporter's capture in the tests below. What neither checks
//! — ids of the wrong length — [`check_traces`] does.

use prost::Message;
use serde::de::DeserializeOwned;

pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest as LogsRequest;
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest as MetricsRequest;
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest as TracesRequest;
pub use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
pub use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
pub use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, metric::Data as MetricData, number_data_point::Value as NumberValue,
};
pub use opentelemetry_proto::tonic::resource::v1::Resource;
#[cfg(test)]
pub use opentelemetry_proto::tonic::trace::v1::Status;
#[cfg(test)]
pub use opentelemetry_proto::tonic::trace::v1::span::Event;
pub use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a Content-Type (parameters ignored); `None` for one OTLP does not speak.
    #[must_use]
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        if base.eq_ignore_ascii_case("application/x-protobuf")
            || base.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Self::Protobuf)
        } else if base.eq_ignore_ascii_case("application/json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Why an export body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unable to decode protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("unable to decode JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Decode an export request.
///
/// # Errors
/// The body is not a valid message in `enc`.
pub fn decode<T: Message + Default + DeserializeOwned>(
    bytes: &[u8],
    enc: Encoding,
) -> Result<T, DecodeError> {
    Ok(match enc {
        Encoding::Protobuf => T::decode(bytes)?,
        Encoding::Json => serde_json::from_slice(bytes)?,
    })
}

/// Every span has a 16-byte trace id and an 8-byte span id, not all zero, and a parent
/// id that is empty or 8 bytes; links likewise. OTLP says such spans are invalid.
///
/// # Errors
/// The first bad id, with where it is.
pub fn check_traces(req: &TracesRequest) -> Result<usize, DecodeError> {
    let mut n = 0;
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                check_id(&s.trace_id, 16, "traceId", n)?;
                check_id(&s.span_id, 8, "spanId", n)?;
                if !s.parent_span_id.is_empty() {
                    check_id(&s.parent_span_id, 8, "parentSpanId", n)?;
                }
                for l in &s.links {
                    check_id(&l.trace_id, 16, "links.traceId", n)?;
                    check_id(&l.span_id, 8, "links.spanId", n)?;
                }
                n += 1;
            }
        }
    }
    Ok(n)
}

fn check_id(id: &[u8], len: usize, what: &str, span: usize) -> Result<(), DecodeError> {
    if id.len() != len {
        return Err(DecodeError::Invalid(format!(
            "span {span}: {what} must be {len} bytes ({} hex digits), got {}",
            len * 2,
            id.len()
        )));
    }
    if id.iter().all(|b| *b == 0) {
        return Err(DecodeError::Invalid(format!(
            "span {span}: {what} is all zeroes"
        )));
    }
    Ok(())
}

/// The `service.name` resource attribute, or the SDKs' fallback `unknown_service`.
#[must_use]
pub fn service_name(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .map_or_else(|| "unknown_service".to_owned(), value_text)
}

/// A value as text: strings as they are, numbers and booleans as their text, bytes as
/// base64, arrays and maps as JSON (the collector's `AsString`).
#[must_use]
pub fn value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(AnyValueKind::StringValue(s)) => s.clone(),
        Some(AnyValueKind::BoolValue(b)) => b.to_string(),
        Some(AnyValueKind::IntValue(i)) => i.to_string(),
        Some(AnyValueKind::DoubleValue(d)) => format_double(*d),
        Some(AnyValueKind::BytesValue(b)) => base64_std(b),
        Some(AnyValueKind::ArrayValue(_) | AnyValueKind::KvlistValue(_)) => {
            value_json(v).to_string()
        }
        // a profiles-only string-table reference: no text outside a profile
        Some(AnyValueKind::StringValueStrindex(_)) | None => String::new(),
    }
}

/// A value as plain JSON (arrays as arrays, maps as objects), as the collector renders
/// nested values.
#[must_use]
pub fn value_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        Some(AnyValueKind::StringValue(s)) => J::String(s.clone()),
        Some(AnyValueKind::BoolValue(b)) => J::Bool(*b),
        Some(AnyValueKind::IntValue(i)) => J::from(*i),
        Some(AnyValueKind::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(format_double(*d)), J::Number)
        }
        Some(AnyValueKind::BytesValue(b)) => J::String(base64_std(b)),
        Some(AnyValueKind::ArrayValue(a)) => J::Array(a.values.iter().map(value_json).collect()),
        Some(AnyValueKind::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|e| (e.key.clone(), e.value.as_ref().map_or(J::Null, value_json)))
                .collect(),
        ),
        Some(AnyValueKind::StringValueStrindex(_)) | None => J::Null,
    }
}

fn format_double(d: f64) -> String {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{d:.0}")
    } else {
        d.to_string()
    }
}

pub fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// One span with its resource and scope, as the store keeps it (a `ResourceSpans` with one
/// scope and one span, protobuf).
#[must_use]
pub fn encode_single(
    resource: Option<&Resource>,
    schema_url: &str,
    scope: &ScopeSpans,
    span: &Span,
) -> Vec<u8> {
    let rs = ResourceSpans {
        resource: resource.cloned(),
        scope_spans: vec![ScopeSpans {
            scope: scope.scope.clone(),
            spans: vec![span.clone()],
            schema_url: scope.schema_url.clone(),
        }],
        schema_url: schema_url.to_owned(),
    };
    rs.encode_to_vec()
}

/// The stored form back.
///
/// # Errors
/// The stored bytes are not a `ResourceSpans` (corruption).
pub fn decode_single(bytes: &[u8]) -> Result<ResourceSpans, DecodeError> {
    Ok(ResourceSpans::decode(bytes)?)
}

/// `ExportTraceServiceResponse` / `ExportLogsServiceResponse` / `ExportMetricsServiceResponse`,
/// all three the same shape: an optional `partial_success` {rejected count (field 1, int64),
/// error_message (field 2)}.
#[derive(Clone, PartialEq, Message)]
pub struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<PartialSuccess>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// What kind of item a response counts (the JSON field name differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    fn rejected_field(self) -> &'static str {
        match self {
            Self::Traces => "rejectedSpans",
            Self::Logs => "rejectedLogRecords",
            Self::Metrics => "rejectedDataPoints",
        }
    }
}

/// An export response in `enc`: empty on full success, else `partial_success`.
#[must_use]
pub fn export_response(enc: Encoding, signal: Signal, rejected: i64, message: &str) -> Vec<u8> {
    let partial = (rejected > 0 || !message.is_empty()).then(|| PartialSuccess {
        rejected,
        error_message: message.to_owned(),
    });
    match enc {
        Encoding::Protobuf => ExportResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        Encoding::Json => {
            let body = match partial {
                None => serde_json::json!({}),
                Some(p) => serde_json::json!({"partialSuccess": {
                    signal.rejected_field(): p.rejected.to_string(),
                    "errorMessage": p.error_message,
                }}),
            };
            body.to_string().into_bytes()
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// gRPC status codes used here.
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

/// A `google.rpc.Status` body in `enc`.
#[must_use]
pub fn status_body(enc: Encoding, code: i32, message: &str) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => RpcStatus {
            code,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

/// OTLP/JSON of a `TracesData` (= the request's shape) as `serde_json::Value`, zero values
/// left out as protojson does (what Jaeger's api_v3 and Tempo answer).
#[must_use]
pub fn traces_json(resource_spans: Vec<ResourceSpans>) -> serde_json::Value {
    let req = TracesRequest { resource_spans };
    let mut v = serde_json::to_value(&req).unwrap_or(serde_json::Value::Null);
    strip_defaults(&mut v);
    v
}

/// Remove fields holding their default (0, "0", "", false, [], null) from every object,
/// except inside `AnyValue`s (a oneof is written even when zero).
fn strip_defaults(v: &mut serde_json::Value) {
    use serde_json::Value as J;
    match v {
        J::Object(map) => {
            let is_any_value = map.len() == 1
                && map.keys().next().is_some_and(|k| {
                    matches!(
                        k.as_str(),
                        "stringValue" | "intValue" | "doubleValue" | "boolValue" | "bytesValue"
                    )
                });
            if is_any_value {
                return;
            }
            map.retain(|_, x| match x {
                J::Null => false,
                J::Bool(b) => *b,
                J::Number(n) => n.as_f64() != Some(0.0),
                J::String(s) => !(s.is_empty() || s == "0"),
                J::Array(a) => !a.is_empty(),
                J::Object(_) => true,
            });
            for x in map.values_mut() {
                strip_defaults(x);
            }
        }
        J::Array(a) => {
            for x in a {
                strip_defaults(x);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn shared(p: &str) -> std::path::PathBuf {
        opshelf_core::testing::shared(p)
    }

    fn capture(name: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(shared(&format!("obs/wire/{name}.jsonl"))).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn body(rec: &serde_json::Value, key: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(rec[key].as_str().unwrap())
            .unwrap()
    }

    fn spans(r: &TracesRequest) -> Vec<&Span> {
        r.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .collect()
    }

    #[test]
    fn the_official_json_examples_decode() {
        let t: TracesRequest = decode(
            &std::fs::read(shared("obs/otlp/examples/trace.json")).unwrap(),
            Encoding::Json,
        )
        .unwrap();
        assert_eq!(check_traces(&t).unwrap(), 1);
        let s = spans(&t)[0];
        assert_eq!(hex::encode(&s.trace_id), "5b8efff798038103d269b633813fc60c");
        assert!(s.start_time_unix_nano > 0);
        let _: LogsRequest = decode(
            &std::fs::read(shared("obs/otlp/examples/logs.json")).unwrap(),
            Encoding::Json,
        )
        .unwrap();
        let m: MetricsRequest = decode(
            &std::fs::read(shared("obs/otlp/examples/metrics.json")).unwrap(),
            Encoding::Json,
        )
        .unwrap();
        assert!(!m.resource_metrics.is_empty());
    }

    #[test]
    fn node_json_and_python_protobuf_captures_carry_the_same_spans() {
        let js = capture("js-otlp-http-json-traces");
        let j: TracesRequest = decode(&body(&js[0], "body_b64"), Encoding::Json).unwrap();
        let py = capture("py-otlp-http-traces");
        let p: TracesRequest = decode(&body(&py[0], "body_b64"), Encoding::Protobuf).unwrap();
        let grpc = capture("py-otlp-grpc-traces");
        let g: TracesRequest = decode(&body(&grpc[0], "message_b64"), Encoding::Protobuf).unwrap();
        assert_eq!(check_traces(&j).unwrap(), 3);
        assert_eq!(check_traces(&p).unwrap(), 3);
        assert_eq!(spans(&p), spans(&g));
        for (a, b) in spans(&j).into_iter().zip(spans(&p)) {
            assert_eq!(a.trace_id, b.trace_id);
            assert_eq!(a.span_id, b.span_id);
            assert_eq!(a.parent_span_id, b.parent_span_id);
            assert_eq!(a.name, b.name);
            assert_eq!(a.kind, b.kind);
            assert_eq!(a.start_time_unix_nano, b.start_time_unix_nano);
            assert_eq!(a.attributes, b.attributes, "intValue as a JSON number");
            assert_eq!(a.events, b.events);
            assert_eq!(a.status, b.status);
        }
    }

    #[test]
    fn bad_json_is_refused_not_guessed() {
        let bad_hex = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708"}]}]}]}"#;
        assert!(decode::<TracesRequest>(bad_hex.as_bytes(), Encoding::Json).is_err());
        let short = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"0102030405060708"}]}]}]}"#;
        let r: TracesRequest = decode(short.as_bytes(), Encoding::Json).unwrap();
        assert!(
            check_traces(&r)
                .unwrap_err()
                .to_string()
                .contains("traceId")
        );
        let enum_as_string = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","kind":"SPAN_KIND_SERVER"}]}]}]}"#;
        assert!(decode::<TracesRequest>(enum_as_string.as_bytes(), Encoding::Json).is_err());
        let unknown = r#"{"resourceSpans":[{"futureField":1,"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","kind":2,"startTimeUnixNano":5,"x":{}}]}]}]}"#;
        let r: TracesRequest = decode(unknown.as_bytes(), Encoding::Json).unwrap();
        assert_eq!(spans(&r)[0].start_time_unix_nano, 5, "int64 as a number");
        assert!(decode::<TracesRequest>(b"\xff\xff\xff", Encoding::Protobuf).is_err());
    }

    #[test]
    fn responses_in_both_encodings() {
        assert_eq!(
            export_response(Encoding::Json, Signal::Traces, 0, ""),
            b"{}"
        );
        assert!(export_response(Encoding::Protobuf, Signal::Traces, 0, "").is_empty());
        let j = export_response(Encoding::Json, Signal::Logs, 5, "no logs capability");
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v["partialSuccess"]["rejectedLogRecords"], "5");
        let p = ExportResponse::decode(
            export_response(Encoding::Protobuf, Signal::Logs, 5, "x").as_slice(),
        )
        .unwrap();
        assert_eq!(p.partial_success.unwrap().rejected, 5);
        let s = RpcStatus::decode(status_body(Encoding::Protobuf, 3, "bad").as_slice()).unwrap();
        assert_eq!((s.code, s.message.as_str()), (3, "bad"));
    }
}
