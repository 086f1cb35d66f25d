//! Loki's JSON push bodies. v1 (`/loki/api/v1/push`):
//! `{"streams":[{"stream":{"app":"x"},"values":[["<ns>","line",{metadata}?]]}]}`;
//! legacy (`/api/prom/push`, python-logging-loki's default):
//! `{"streams":[{"labels":"{app=\"x\"}","entries":[{"ts":"<RFC 3339>","line":"..."}]}]}`.
//! Loki picks the decoder by URI, not by body (`loghttp.GetVersion`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Entry, PushError, PushStream, parse_labels};
use crate::logql_adapter::Labels;

#[derive(Deserialize)]
struct V1 {
    #[serde(default)]
    streams: Vec<V1Stream>,
}

#[derive(Deserialize)]
struct V1Stream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Legacy {
    #[serde(default)]
    streams: Vec<LegacyStream>,
}

#[derive(Deserialize)]
struct LegacyStream {
    labels: String,
    #[serde(default)]
    entries: Vec<LegacyEntry>,
}

#[derive(Deserialize)]
struct LegacyEntry {
    #[serde(alias = "timestamp")]
    ts: String,
    line: String,
}

fn invalid(e: impl std::fmt::Display) -> PushError {
    PushError::Invalid(e.to_string())
}

/// The v1 JSON body.
///
/// # Errors
/// A 400 naming what is wrong.
pub fn decode_v1(body: &[u8]) -> Result<Vec<PushStream>, PushError> {
    let req: V1 = serde_json::from_slice(body).map_err(invalid)?;
    let mut out = Vec::with_capacity(req.streams.len());
    for s in req.streams {
        for k in s.stream.keys() {
            if !super::valid_label_name(k) {
                return Err(invalid(format!(
                    "Error parsing labels '{}' with error: invalid label name: {k:?}",
                    serde_json::Value::from(k.as_str())
                )));
            }
        }
        let labels = Labels::new(
            s.stream
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        );
        let mut entries = Vec::with_capacity(s.values.len());
        for v in s.values {
            entries.push(value_entry(v)?);
        }
        out.push(PushStream { labels, entries });
    }
    Ok(out)
}

/// `["<ns>", "line"]` or `["<ns>", "line", {"k": "v"}]`.
fn value_entry(v: Vec<serde_json::Value>) -> Result<Entry, PushError> {
    let mut it = v.into_iter();
    let (Some(ts), Some(line)) = (it.next(), it.next()) else {
        return Err(invalid(
            "a value must be [\"<unix epoch in nanoseconds>\", \"<log line>\"]",
        ));
    };
    let ts_ns = match &ts {
        serde_json::Value::String(s) => s.parse::<i64>().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(format!(
            "invalid timestamp {ts}: expected a string of Unix epoch nanoseconds"
        ))
    })?;
    let serde_json::Value::String(line) = line else {
        return Err(invalid("the log line must be a string"));
    };
    let mut metadata = Vec::new();
    match it.next() {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                metadata.push((k, v));
            }
        }
        Some(_) => return Err(invalid("structured metadata must be an object of strings")),
    }
    if it.next().is_some() {
        return Err(invalid("a value has at most 3 elements"));
    }
    Ok(Entry {
        ts_ns,
        line,
        metadata,
    })
}

/// The legacy JSON body (RFC 3339 timestamps with any offset).
///
/// # Errors
/// A 400 naming what is wrong.
pub fn decode_legacy(body: &[u8]) -> Result<Vec<PushStream>, PushError> {
    let req: Legacy = serde_json::from_slice(body).map_err(invalid)?;
    let mut out = Vec::with_capacity(req.streams.len());
    for s in req.streams {
        let labels = parse_labels(&s.labels).map_err(PushError::Invalid)?;
        let mut entries = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            let t =
                time::OffsetDateTime::parse(&e.ts, &time::format_description::well_known::Rfc3339)
                    .map_err(|err| invalid(format!("invalid timestamp {:?}: {err}", e.ts)))?;
            let ts_ns = i64::try_from(t.unix_timestamp_nanos())
                .map_err(|_| invalid("timestamp out of range"))?;
            entries.push(Entry {
                ts_ns,
                line: e.line,
                metadata: Vec::new(),
            });
        }
        out.push(PushStream { labels, entries });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_with_metadata_and_legacy_with_offsets() {
        let s = decode_v1(
            br#"{"streams":[{"stream":{"app":"shop","e":""},"values":[["1767225600001000000","a"],["1767225600002000000","b",{"n":"812","ok":false}]]}]}"#,
        )
        .unwrap();
        assert_eq!(s[0].labels.len(), 1);
        assert_eq!(
            s[0].entries[1].metadata,
            vec![("n".into(), "812".into()), ("ok".into(), "false".into())]
        );
        let s = decode_legacy(
            br#"{"streams":[{"labels":"{app=\"shop\"}","entries":[{"ts":"2026-01-01T05:30:00.001000+05:30","line":"x"}]}]}"#,
        )
        .unwrap();
        assert_eq!(s[0].entries[0].ts_ns, 1_767_225_600_001_000_000);
        for bad in [
            &b"{"[..],
            br#"{"streams":[{"stream":{},"values":[["x","y"]]}]}"#,
            br#"{"streams":[{"stream":{"a-b":"1"},"values":[]}]}"#,
            br#"{"streams":[{"stream":{},"values":[[1]]}]}"#,
        ] {
            assert!(decode_v1(bad).is_err());
        }
    }
}
