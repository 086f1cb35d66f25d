//! Loki's push formats, decoded into one shape and validated with Loki's limits and messages.
//!
//! - `proto.rs`: `logproto.PushRequest` (snappy block framing);
//! - `json.rs`: the v1 JSON body and the legacy (`/api/prom/push`) JSON body;
//! - `labels.rs`: Loki's label-set string (`{app="shop", env="test"}`);
//! - this file: body decompression (gzip/deflate, capped after inflating) and validation.
//!
//! A request is validated whole before anything is written: one bad entry refuses the
//! request with Loki's 400 message, and nothing of it is stored.

pub mod json;
pub mod labels;
pub mod proto;

use std::io::Read;

use crate::config::Limits;
use crate::logql_adapter::Labels;

pub use labels::{parse_labels, valid_label_name};

/// One stream of a push: its labels and entries.
#[derive(Debug, Clone, PartialEq)]
pub struct PushStream {
    pub labels: Labels,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ts_ns: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

/// Why a push was refused; `Display` is Loki's message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    /// 400 with Loki's message.
    #[error("{0}")]
    Invalid(String),
    /// 429 (Loki answers the stream limit with Too Many Requests).
    #[error("{0}")]
    TooMany(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
}

/// Undo `Content-Encoding` (none, `snappy` — the protobuf decoder does it —, `gzip`,
/// `deflate`), reading at most `limit` bytes of output.
///
/// # Errors
/// Unknown encodings, corrupt streams, and output over `limit`.
pub fn decode_content(
    encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, PushError> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
    let mut out = Vec::new();
    let read = match enc.as_deref() {
        None | Some("" | "identity" | "snappy") => {
            if body.len() > limit {
                return Err(too_large(body.len(), limit));
            }
            return Ok(body.to_vec());
        }
        Some("gzip" | "x-gzip") => flate2::read::MultiGzDecoder::new(body)
            .take(limit as u64 + 1)
            .read_to_end(&mut out),
        Some("deflate") => {
            // "deflate" is zlib-wrapped by the RFC; some clients send raw deflate
            let r = flate2::read::ZlibDecoder::new(body)
                .take(limit as u64 + 1)
                .read_to_end(&mut out);
            if r.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(body)
                    .take(limit as u64 + 1)
                    .read_to_end(&mut out)
            } else {
                r
            }
        }
        Some(other) => {
            // Loki answers an unknown encoding with 400
            return Err(PushError::Invalid(format!(
                "Content-Encoding {other:?} not supported"
            )));
        }
    };
    if let Err(e) = read {
        return Err(PushError::Invalid(format!(
            "failed to decompress the request body: {e}"
        )));
    }
    if out.len() > limit {
        return Err(too_large(out.len(), limit));
    }
    Ok(out)
}

fn too_large(n: usize, limit: usize) -> PushError {
    // Loki's RequestBodyTooLargeErrorMsg (the size it read, which may be limit+1)
    PushError::TooLarge(format!(
        "request body too large: {n} bytes, limit: {limit} bytes"
    ))
}

/// Loki's validation (`pkg/distributor/validator.go`), in its order and words; the first
/// failure refuses the whole request.
///
/// # Errors
/// The first limit a stream or entry breaks.
pub fn validate(streams: &[PushStream], l: &Limits) -> Result<(), PushError> {
    if streams.is_empty() {
        return Ok(());
    }
    for s in streams {
        let name = s.labels.to_string();
        if s.labels.is_empty() {
            return Err(PushError::Invalid(
                "error at least one label pair is required per stream".to_owned(),
            ));
        }
        if s.labels.len() > l.max_label_names_per_series {
            return Err(PushError::Invalid(format!(
                "entry for stream '{name}' has {} label names; limit {}",
                s.labels.len(),
                l.max_label_names_per_series
            )));
        }
        for (k, v) in s.labels.iter() {
            if k.len() > l.max_label_name_length {
                return Err(PushError::Invalid(format!(
                    "stream '{name}' has label name too long: '{k}'"
                )));
            }
            if v.len() > l.max_label_value_length {
                return Err(PushError::Invalid(format!(
                    "stream '{name}' has label value too long: '{v}'"
                )));
            }
        }
        for e in &s.entries {
            if e.line.len() > l.max_line_size {
                return Err(PushError::Invalid(format!(
                    "Max entry size '{}' bytes exceeded for stream '{name}' while adding an entry with length '{}' bytes",
                    l.max_line_size,
                    e.line.len()
                )));
            }
            if e.metadata.len() > l.max_structured_metadata_entries_count {
                return Err(PushError::Invalid(format!(
                    "stream '{name}' has too many structured metadata labels: '{}', limit: '{}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it.",
                    e.metadata.len(),
                    l.max_structured_metadata_entries_count
                )));
            }
            let md: usize = e.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
            if md > l.max_structured_metadata_size {
                return Err(PushError::Invalid(format!(
                    "stream '{name}' has structured metadata too large: '{md}' bytes, limit: '{}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it.",
                    l.max_structured_metadata_size
                )));
            }
        }
    }
    Ok(())
}

/// Streams of the same labels are merged (a client may repeat a stream in one request);
/// streams without entries are dropped.
pub fn merge(streams: Vec<PushStream>) -> Vec<PushStream> {
    let mut out: Vec<PushStream> = Vec::with_capacity(streams.len());
    let mut at: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for s in streams {
        if s.entries.is_empty() {
            continue;
        }
        if let Some(&i) = at.get(&s.labels) {
            out[i].entries.extend(s.entries);
        } else {
            at.insert(s.labels.clone(), out.len());
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(labels: &[(&str, &str)], lines: &[&str]) -> PushStream {
        PushStream {
            labels: Labels::new(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            entries: lines
                .iter()
                .map(|l| Entry {
                    ts_ns: 1,
                    line: (*l).to_owned(),
                    metadata: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn loki_messages_for_each_limit() {
        let l = Limits::default();
        let long = "x".repeat(l.max_line_size + 1);
        let e = validate(&[stream(&[("app", "a")], &[&long])], &l).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Max entry size '262144' bytes exceeded for stream '{{app=\"a\"}}' while adding an entry with length '{}' bytes",
                l.max_line_size + 1
            )
        );
        let names: Vec<(String, String)> = (0..16)
            .map(|i| (format!("l{i:02}"), "v".to_owned()))
            .collect();
        let s = PushStream {
            labels: Labels::new(names),
            entries: Vec::new(),
        };
        let e = validate(&[s], &l).unwrap_err().to_string();
        assert!(e.ends_with("has 16 label names; limit 15"), "{e}");
        let v = "v".repeat(2049);
        let e = validate(&[stream(&[("app", &v)], &["x"])], &l)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has label value too long"), "{e}");
        validate(&[stream(&[("app", "a")], &["fine"])], &l).unwrap();
    }

    #[test]
    fn gzip_is_capped_after_inflating() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 1_000_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 10_000);
        assert!(matches!(
            decode_content(Some("gzip"), &gz, 100_000),
            Err(PushError::TooLarge(_))
        ));
        assert_eq!(
            decode_content(Some("gzip"), &gz, 1_000_000).unwrap().len(),
            1_000_000
        );
        assert!(matches!(
            decode_content(Some("gzip"), b"not gzip", 100),
            Err(PushError::Invalid(_))
        ));
        assert!(matches!(
            decode_content(Some("br"), b"x", 100),
            Err(PushError::Invalid(_))
        ));
    }
}
