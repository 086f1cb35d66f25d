//! OTLP logs: `ExportLogsServiceRequest` (protobuf: prost messages written by hand, only the
//! logs subset; JSON: walked as `serde_json::Value`) → core's `OtelLogRecord`, and Loki's
//! OTLP label mapping (`pkg/loghttp/push/otlp.go`): a fixed list of resource attributes
//! becomes stream labels with `.` → `_` (`service.name` → `service_name`, `unknown_service`
//! when absent); every other resource, scope and record attribute, the trace and span ids and
//! the severity become structured metadata; the line is the body.

use opshelf_core::logsink::OtelLogRecord;
use prost::Message;

use crate::logql_adapter::Labels;
use crate::push::{Entry, PushStream};

mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportLogsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_logs: Vec<ResourceLogs>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceLogs {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_logs: Vec<ScopeLogs>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeLogs {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<Scope>,
        #[prost(message, repeated, tag = "2")]
        pub log_records: Vec<LogRecord>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Scope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogRecord {
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        #[prost(fixed64, tag = "11")]
        pub observed_time_unix_nano: u64,
        #[prost(int32, tag = "2")]
        pub severity_number: i32,
        #[prost(string, tag = "3")]
        pub severity_text: String,
        #[prost(message, optional, tag = "5")]
        pub body: Option<AnyValue>,
        #[prost(message, repeated, tag = "6")]
        pub attributes: Vec<KeyValue>,
        #[prost(bytes = "vec", tag = "9")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "10")]
        pub span_id: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7")]
        pub value: Option<Value>,
    }
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        String(String),
        #[prost(bool, tag = "2")]
        Bool(bool),
        #[prost(int64, tag = "3")]
        Int(i64),
        #[prost(double, tag = "4")]
        Double(f64),
        #[prost(message, tag = "5")]
        Array(ArrayValue),
        #[prost(message, tag = "6")]
        Kvlist(KeyValueList),
        #[prost(bytes = "vec", tag = "7")]
        Bytes(Vec<u8>),
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ArrayValue {
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<AnyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValueList {
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<KeyValue>,
    }
}

/// Resource attributes Loki indexes as labels by default (`DefaultOTLPResourceAttributesAsIndexLabels`).
const INDEX_LABELS: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// Why an OTLP body was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OtlpError(pub String);

/// Decode a protobuf `ExportLogsServiceRequest`.
///
/// # Errors
/// Malformed protobuf.
pub fn decode_proto(body: &[u8]) -> Result<Vec<OtelLogRecord>, OtlpError> {
    let req = pb::ExportLogsServiceRequest::decode(body)
        .map_err(|e| OtlpError(format!("failed to parse the OTLP logs request: {e}")))?;
    let mut out = Vec::new();
    for rl in req.resource_logs {
        let resource: Vec<(String, String)> = rl
            .resource
            .map(|r| r.attributes.into_iter().map(kv_pb).collect())
            .unwrap_or_default();
        for sl in rl.scope_logs {
            let scope_name = sl.scope.map(|s| s.name).unwrap_or_default();
            for r in sl.log_records {
                out.push(OtelLogRecord {
                    time_ns: i64::try_from(r.time_unix_nano).unwrap_or(i64::MAX),
                    observed_ns: i64::try_from(r.observed_time_unix_nano).unwrap_or(i64::MAX),
                    severity_number: r.severity_number,
                    severity_text: r.severity_text,
                    body: r.body.map(|b| body_text_pb(&b)).unwrap_or_default(),
                    attributes: r.attributes.into_iter().map(kv_pb).collect(),
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    trace_id: hex::encode(&r.trace_id),
                    span_id: hex::encode(&r.span_id),
                });
            }
        }
    }
    Ok(out)
}

fn kv_pb(kv: pb::KeyValue) -> (String, String) {
    let v = kv.value.map(|v| body_text_pb(&v)).unwrap_or_default();
    (kv.key, v)
}

/// A string as is; anything else as JSON.
fn body_text_pb(v: &pb::AnyValue) -> String {
    match &v.value {
        Some(pb::Value::String(s)) => s.clone(),
        _ => json_of_pb(v).to_string(),
    }
}

fn json_of_pb(v: &pb::AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None => J::Null,
        Some(pb::Value::String(s)) => J::String(s.clone()),
        Some(pb::Value::Bool(b)) => J::Bool(*b),
        Some(pb::Value::Int(i)) => J::from(*i),
        Some(pb::Value::Double(d)) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Some(pb::Value::Bytes(b)) => J::String(hex::encode(b)),
        Some(pb::Value::Array(a)) => J::Array(a.values.iter().map(json_of_pb).collect()),
        Some(pb::Value::Kvlist(l)) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(J::Null, json_of_pb),
                    )
                })
                .collect(),
        ),
    }
}

/// Decode an OTLP/JSON `ExportLogsServiceRequest` (ids as hex strings, times as strings).
///
/// # Errors
/// Malformed JSON or a wrong shape.
pub fn decode_json(body: &[u8]) -> Result<Vec<OtelLogRecord>, OtlpError> {
    use serde_json::Value as J;
    let v: J = serde_json::from_slice(body)
        .map_err(|e| OtlpError(format!("failed to parse the OTLP logs request: {e}")))?;
    let arr =
        |v: &J, k: &str| -> Vec<J> { v.get(k).and_then(J::as_array).cloned().unwrap_or_default() };
    let mut out = Vec::new();
    for rl in arr(&v, "resourceLogs") {
        let resource: Vec<(String, String)> = rl
            .get("resource")
            .map(|r| arr(r, "attributes").iter().map(kv_json).collect())
            .unwrap_or_default();
        for sl in arr(&rl, "scopeLogs") {
            let scope_name = sl
                .get("scope")
                .and_then(|s| s.get("name"))
                .and_then(J::as_str)
                .unwrap_or_default()
                .to_owned();
            for r in arr(&sl, "logRecords") {
                let num = |k: &str| -> i64 {
                    match r.get(k) {
                        Some(J::String(s)) => s.parse().unwrap_or(0),
                        Some(J::Number(n)) => n.as_i64().unwrap_or(0),
                        _ => 0,
                    }
                };
                let s = |k: &str| r.get(k).and_then(J::as_str).unwrap_or_default().to_owned();
                out.push(OtelLogRecord {
                    time_ns: num("timeUnixNano"),
                    observed_ns: num("observedTimeUnixNano"),
                    severity_number: i32::try_from(num("severityNumber")).unwrap_or(0),
                    severity_text: s("severityText"),
                    body: r.get("body").map(any_text_json).unwrap_or_default(),
                    attributes: arr(&r, "attributes").iter().map(kv_json).collect(),
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    trace_id: s("traceId").to_ascii_lowercase(),
                    span_id: s("spanId").to_ascii_lowercase(),
                });
            }
        }
    }
    Ok(out)
}

fn kv_json(kv: &serde_json::Value) -> (String, String) {
    let k = kv
        .get("key")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let v = kv.get("value").map(any_text_json).unwrap_or_default();
    (k, v)
}

fn any_text_json(v: &serde_json::Value) -> String {
    match any_json(v) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// `{"stringValue": ...}` etc. → plain JSON.
fn any_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    let Some(o) = v.as_object() else {
        return J::Null;
    };
    if let Some(s) = o.get("stringValue") {
        return s.clone();
    }
    if let Some(b) = o.get("boolValue") {
        return b.clone();
    }
    if let Some(i) = o.get("intValue") {
        return match i {
            J::String(s) => s.parse::<i64>().map_or(J::String(s.clone()), J::from),
            other => other.clone(),
        };
    }
    if let Some(d) = o.get("doubleValue") {
        return d.clone();
    }
    if let Some(b) = o.get("bytesValue") {
        return b.clone();
    }
    if let Some(a) = o.get("arrayValue") {
        return J::Array(
            a.get("values")
                .and_then(J::as_array)
                .map(|vs| vs.iter().map(any_json).collect())
                .unwrap_or_default(),
        );
    }
    if let Some(l) = o.get("kvlistValue") {
        let mut m = serde_json::Map::new();
        for kv in l.get("values").and_then(J::as_array).into_iter().flatten() {
            let k = kv.get("key").and_then(J::as_str).unwrap_or_default();
            m.insert(k.to_owned(), kv.get("value").map_or(J::Null, any_json));
        }
        return J::Object(m);
    }
    J::Null
}

/// Prometheus' label-name normalisation as Loki applies it to OTLP attributes.
fn normalize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    }
    s
}

/// Loki's mapping: records grouped into streams by their indexed resource attributes.
pub fn to_streams(records: Vec<OtelLogRecord>) -> Vec<PushStream> {
    let mut out: Vec<PushStream> = Vec::new();
    for r in records {
        let mut labels = Vec::new();
        let mut metadata = Vec::new();
        for (k, v) in &r.resource {
            if INDEX_LABELS.contains(&k.as_str()) {
                if !v.is_empty() {
                    labels.push((normalize(k), v.clone()));
                }
            } else {
                metadata.push((normalize(k), v.clone()));
            }
        }
        if !labels.iter().any(|(k, _)| k == "service_name") {
            labels.push(("service_name".to_owned(), "unknown_service".to_owned()));
        }
        if !r.scope_name.is_empty() {
            metadata.push(("scope_name".to_owned(), r.scope_name.clone()));
        }
        for (k, v) in &r.attributes {
            metadata.push((normalize(k), v.clone()));
        }
        if !r.trace_id.is_empty() {
            metadata.push(("trace_id".to_owned(), r.trace_id.clone()));
        }
        if !r.span_id.is_empty() {
            metadata.push(("span_id".to_owned(), r.span_id.clone()));
        }
        if !r.severity_text.is_empty() {
            metadata.push(("severity_text".to_owned(), r.severity_text.clone()));
        }
        if r.severity_number != 0 {
            metadata.push(("severity_number".to_owned(), r.severity_number.to_string()));
        }
        // Loki's `timestampFromLogRecord`: the time, else the observed time, else now
        let ts_ns = if r.time_ns != 0 {
            r.time_ns
        } else if r.observed_ns != 0 {
            r.observed_ns
        } else {
            crate::now_ns()
        };
        let labels = Labels::new(labels);
        let entry = Entry {
            ts_ns,
            line: r.body,
            metadata,
        };
        if let Some(s) = out.iter_mut().find(|s| s.labels == labels) {
            s.entries.push(entry);
        } else {
            out.push(PushStream {
                labels,
                entries: vec![entry],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_exporter_capture_maps_like_loki() {
        let path = opshelf_core::testing::shared("obs/wire/py-otlp-http-logs.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let rec: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let b64 = rec["body_b64"].as_str().unwrap();
        let body = base64_decode(b64);
        let records = decode_proto(&body).unwrap();
        assert_eq!(records.len(), 5);
        let streams = to_streams(records);
        assert_eq!(streams[0].labels.get("service_name"), Some("checkout"));
        let with_trace = streams
            .iter()
            .flat_map(|s| &s.entries)
            .filter(|e| e.metadata.iter().any(|(k, _)| k == "trace_id"))
            .count();
        assert_eq!(with_trace, 1);
        assert!(decode_proto(b"\x0a\x05\x0a\x03\x0a\x01").is_err());
    }

    #[test]
    fn json_bodies_decode_and_an_empty_resource_is_unknown_service() {
        let r = decode_json(br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"h"}}]},"scopeLogs":[{"scope":{"name":"s"},"logRecords":[{"timeUnixNano":"5","body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"7"}}]}},"traceId":"AB"}]}]}]}"#).unwrap();
        let s = to_streams(r);
        assert_eq!(s[0].labels.get("service_name"), Some("unknown_service"));
        assert_eq!(s[0].entries[0].line, r#"{"a":7}"#);
        assert!(
            s[0].entries[0]
                .metadata
                .contains(&("host_name".into(), "h".into()))
        );
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        // tiny decoder for the test (the crate does not otherwise need base64)
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut buf, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|&c| c != b'=') {
            let v = table.iter().position(|&t| t == c).unwrap() as u32;
            buf = buf << 6 | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
            }
        }
        out
    }
}
