//! OTLP spans → Jaeger's UI model (`internal/uimodel/model.go`), mapped as Jaeger's OTLP
//! translator does: scope as `otel.scope.name`/`otel.scope.version` tags first, then the
//! span's attributes, then `span.kind`, `otel.status_code`, `error=true` and
//! `otel.status_description`; events as logs (`event` = the name first); the parent as a
//! `CHILD_OF` reference and links as `FOLLOWS_FROM`; resource attributes other than
//! `service.name` as process tags, processes deduplicated as `p1`, `p2`, ...

use serde::Serialize;
use serde_json::Value;

use crate::otlp::{self, AnyValueKind, KeyValue};
use crate::store::{StoredSpan, kind_name};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<Span>,
    pub processes: serde_json::Map<String, Value>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    pub references: Vec<Reference>,
    #[serde(rename = "startTime")]
    pub start_time: u64,
    pub duration: u64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Log {
    pub timestamp: u64,
    pub fields: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tag {
    pub key: String,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub value: Value,
}

/// JavaScript's largest exact integer: Jaeger writes bigger int64 values as strings.
const MAX_SAFE_INT: i64 = 9_007_199_254_740_991;

fn tag_str(key: &str, v: &str) -> Tag {
    Tag {
        key: key.to_owned(),
        ty: "string",
        value: Value::String(v.to_owned()),
    }
}

fn tag(kv: &KeyValue) -> Tag {
    let key = kv.key.clone();
    let Some(v) = &kv.value else {
        return tag_str(&key, "");
    };
    match &v.value {
        Some(AnyValueKind::BoolValue(b)) => Tag {
            key,
            ty: "bool",
            value: Value::Bool(*b),
        },
        Some(AnyValueKind::IntValue(i)) => Tag {
            key,
            ty: "int64",
            value: if (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(i) {
                Value::from(*i)
            } else {
                Value::String(i.to_string())
            },
        },
        Some(AnyValueKind::DoubleValue(d)) => Tag {
            key,
            ty: "float64",
            value: serde_json::Number::from_f64(*d)
                .map_or_else(|| Value::String(d.to_string()), Value::Number),
        },
        Some(AnyValueKind::BytesValue(b)) => Tag {
            key,
            ty: "binary",
            value: Value::String(otlp::base64_std(b)),
        },
        _ => tag_str(&key, &otlp::value_text(v)),
    }
}

fn span_tags(s: &StoredSpan) -> Vec<Tag> {
    let span = s.span();
    let mut tags = Vec::with_capacity(span.attributes.len() + 4);
    if let Some(scope) = &s.rs.scope_spans[0].scope {
        if !scope.name.is_empty() {
            tags.push(tag_str("otel.scope.name", &scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(tag_str("otel.scope.version", &scope.version));
        }
    }
    tags.extend(span.attributes.iter().map(tag));
    let kind = kind_name(span.kind);
    if !kind.is_empty() {
        tags.push(tag_str("span.kind", kind));
    }
    let status = span.status.clone().unwrap_or_default();
    match status.code {
        1 => tags.push(tag_str("otel.status_code", "OK")),
        2 => {
            tags.push(tag_str("otel.status_code", "ERROR"));
            tags.push(Tag {
                key: "error".to_owned(),
                ty: "bool",
                value: Value::Bool(true),
            });
        }
        _ => {}
    }
    if !status.message.is_empty() {
        tags.push(tag_str("otel.status_description", &status.message));
    }
    if !span.trace_state.is_empty() {
        tags.push(tag_str("w3c.tracestate", &span.trace_state));
    }
    tags
}

fn process(s: &StoredSpan) -> Value {
    let tags: Vec<Tag> =
        s.rs.resource
            .as_ref()
            .map(|r| {
                r.attributes
                    .iter()
                    .filter(|kv| kv.key != "service.name")
                    .map(tag)
                    .collect()
            })
            .unwrap_or_default();
    serde_json::json!({"serviceName": s.service(), "tags": tags})
}

/// Jaeger's trace ids: 16 hex digits when the high half is zero (a 64-bit id), else 32.
#[must_use]
pub fn trace_id_hex(id: &[u8]) -> String {
    if id.len() == 16 && id[..8].iter().all(|b| *b == 0) {
        hex::encode(&id[8..])
    } else {
        hex::encode(id)
    }
}

/// One trace in the UI model, spans in the order given.
#[must_use]
pub fn trace(spans: &[StoredSpan]) -> Trace {
    let mut processes: Vec<Value> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    let mut trace_id = String::new();
    for s in spans {
        let span = s.span();
        let p = process(s);
        let idx = processes.iter().position(|x| *x == p).unwrap_or_else(|| {
            processes.push(p);
            processes.len() - 1
        });
        let tid = trace_id_hex(&span.trace_id);
        if trace_id.is_empty() {
            trace_id.clone_from(&tid);
        }
        let mut references = Vec::new();
        if !span.parent_span_id.is_empty() {
            references.push(Reference {
                ref_type: "CHILD_OF",
                trace_id: tid.clone(),
                span_id: hex::encode(&span.parent_span_id),
            });
        }
        for l in &span.links {
            references.push(Reference {
                ref_type: "FOLLOWS_FROM",
                trace_id: trace_id_hex(&l.trace_id),
                span_id: hex::encode(&l.span_id),
            });
        }
        let logs = span
            .events
            .iter()
            .map(|e| {
                let mut fields = Vec::with_capacity(e.attributes.len() + 1);
                if !e.name.is_empty() && !e.attributes.iter().any(|kv| kv.key == "event") {
                    fields.push(tag_str("event", &e.name));
                }
                fields.extend(e.attributes.iter().map(tag));
                Log {
                    timestamp: e.time_unix_nano / 1000,
                    fields,
                }
            })
            .collect();
        out.push(Span {
            trace_id: tid,
            span_id: hex::encode(&span.span_id),
            operation_name: span.name.clone(),
            references,
            start_time: span.start_time_unix_nano / 1000,
            duration: span
                .end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano)
                / 1000,
            tags: span_tags(s),
            logs,
            process_id: format!("p{}", idx + 1),
            warnings: None,
        });
    }
    Trace {
        trace_id,
        spans: out,
        processes: processes
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("p{}", i + 1), p))
            .collect(),
        warnings: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{Encoding, TracesRequest, decode};

    /// Jaeger's own OTLP → UI vector (`/api/transform` fixture).
    #[test]
    fn the_transform_fixture_maps_exactly() {
        let input = std::fs::read(opshelf_core::testing::shared(
            "obs/jaeger/fixtures/transform/otlp2jaeger-in.json",
        ))
        .unwrap();
        let want: Value = serde_json::from_slice(
            &std::fs::read(opshelf_core::testing::shared(
                "obs/jaeger/fixtures/transform/otlp2jaeger-out.json",
            ))
            .unwrap(),
        )
        .unwrap();
        let req: TracesRequest = decode(&input, Encoding::Json).unwrap();
        let spans = super::super::model_tests_stored(&req);
        let got = super::super::v1::envelope(serde_json::to_value(vec![trace(&spans)]).unwrap(), 0);
        assert_eq!(got, want);
    }

    #[test]
    fn the_wire_capture_maps_kinds_status_events_and_links() {
        use base64::Engine as _;
        let text = std::fs::read_to_string(opshelf_core::testing::shared(
            "obs/wire/py-otlp-http-traces.jsonl",
        ))
        .unwrap();
        let rec: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(rec["body_b64"].as_str().unwrap())
            .unwrap();
        let req: TracesRequest = decode(&body, Encoding::Protobuf).unwrap();
        let t = serde_json::to_value(trace(&super::super::model_tests_stored(&req))).unwrap();
        let spans = t["spans"].as_array().unwrap();
        let by_name = |n: &str| spans.iter().find(|s| s["operationName"] == n).unwrap();
        let charge = by_name("charge-card");
        let tags = charge["tags"].as_array().unwrap();
        let has = |k: &str, v: Value| tags.iter().any(|t| t["key"] == k && t["value"] == v);
        assert!(has("error", Value::Bool(true)), "{charge}");
        assert!(has("otel.status_code", "ERROR".into()));
        assert!(has("otel.status_description", "card declined".into()));
        assert!(has("span.kind", "internal".into()));
        let refs = charge["references"].as_array().unwrap();
        assert_eq!(refs[0]["refType"], "CHILD_OF");
        assert_eq!(refs[1]["refType"], "FOLLOWS_FROM");
        assert_eq!(refs[1]["spanID"], by_name("SELECT orders")["spanID"]);
        let logs = charge["logs"].as_array().unwrap();
        assert!(logs.iter().any(|l| l["fields"][0]
            == serde_json::json!({"key":"event","type":"string","value":"exception"})));
        assert_eq!(t["processes"].as_object().unwrap().len(), 1);
        assert_eq!(t["processes"]["p1"]["serviceName"], "checkout");
        let root = by_name("GET /checkout");
        assert_eq!(root["references"], serde_json::json!([]));
        assert!(
            root["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["type"] == "int64")
        );
    }
}
