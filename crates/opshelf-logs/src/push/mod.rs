//! Loki's push formats, decoded into one shape and validated with Loki's limits and messages.
//!
//! - `proto.rs`: `logproto.PushRequest` (snappy block framing);
//! - `json.rs`: the v1 JSON body and the legacy (`/api/prom/push`) JSON body;
//! - `labels.rs`: Loki's label-set string (`{app="shop", env="test"}`);
//! - this file: body decompression (gzip/deflate, capped after inflating), validation and
//!   the accepted time window.
//!
//! A request is validated whole before anything is written: one malformed stream or entry
//! (labels, line size, metadata) refuses the request with Loki's 400 message, and nothing of
//! it is stored. Entries outside the time window are the exception, as they are in Loki:
//! only they are dropped (see [`TimeWindow`]).

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

/// The entry times a push may carry: Loki's `reject_old_samples` (+ `reject_old_samples_max_age`)
/// and `creation_grace_period`, from one `now` per request.
///
/// Loki's distributor drops an entry outside them, stores the rest of the request and answers
/// 400 with the last such entry's message. That is kept here: an old entry is not a malformed
/// request but a client catching up (a backlog replayed after downtime, a tailer that finds
/// an old file), and Loki clients do not resend a 400, so refusing the whole request would
/// lose its good lines too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Entries before this are too old (`None`: `reject_old_samples = false`).
    pub oldest_ns: Option<i64>,
    /// Entries after this are too new.
    pub newest_ns: i64,
}

const NS_PER_SEC: i64 = 1_000_000_000;

impl TimeWindow {
    pub fn new(l: &Limits, now_ns: i64) -> Self {
        let secs = |s: u64| {
            i64::try_from(s)
                .unwrap_or(i64::MAX)
                .saturating_mul(NS_PER_SEC)
        };
        Self {
            oldest_ns: l
                .reject_old_samples
                .then(|| now_ns.saturating_sub(secs(l.reject_old_samples_max_age_secs))),
            newest_ns: now_ns.saturating_add(secs(l.creation_grace_period_secs)),
        }
    }

    /// Loki's message for an entry of `stream` at `ts_ns`, or `None` if it is inside.
    pub fn check(&self, stream: &Labels, ts_ns: i64) -> Option<String> {
        // Loki checks the age first (validator.go `ValidateEntry`), in RFC 3339 to the second
        if let Some(oldest) = self.oldest_ns
            && ts_ns < oldest
        {
            return Some(format!(
                "entry for stream '{stream}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                rfc3339_secs(ts_ns),
                rfc3339_secs(oldest)
            ));
        }
        (ts_ns > self.newest_ns).then(|| {
            format!(
                "entry for stream '{stream}' has timestamp too new: {}",
                rfc3339_secs(ts_ns)
            )
        })
    }

    /// Drop the entries outside the window (and the streams left empty). Returns how many were
    /// dropped and the last one's message, which is what Loki answers.
    pub fn retain(&self, streams: &mut Vec<PushStream>) -> (usize, Option<PushError>) {
        let mut dropped = 0;
        let mut last = None;
        for s in streams.iter_mut() {
            let labels = &s.labels;
            s.entries.retain(|e| match self.check(labels, e.ts_ns) {
                None => true,
                Some(m) => {
                    dropped += 1;
                    last = Some(m);
                    false
                }
            });
        }
        streams.retain(|s| !s.entries.is_empty());
        (dropped, last.map(PushError::Invalid))
    }
}

/// Go's `time.RFC3339` of a UTC time: whole seconds, `Z`.
fn rfc3339_secs(ns: i64) -> String {
    let secs = ns.div_euclid(NS_PER_SEC);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        // not for an i64 of nanoseconds (years 1677 to 2262), but say something true
        Err(_) => format!("{secs}s since the epoch"),
    }
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
    fn entries_outside_the_window_are_dropped_with_lokis_messages() {
        let l = Limits::default();
        let now = 1_764_590_400 * NS_PER_SEC; // 2025-12-01T12:00:00Z
        let w = TimeWindow::new(&l, now);
        let mut s = stream(&[("app", "a")], &["old", "ok", "new", "edge"]);
        s.entries[0].ts_ns = now - 7 * 86_400 * NS_PER_SEC - 1;
        s.entries[1].ts_ns = now;
        s.entries[2].ts_ns = now + 600 * NS_PER_SEC + 1;
        s.entries[3].ts_ns = now + 600 * NS_PER_SEC;
        assert_eq!(
            w.check(&s.labels, s.entries[0].ts_ns).unwrap(),
            "entry for stream '{app=\"a\"}' has timestamp too old: 2025-11-24T11:59:59Z, oldest acceptable timestamp is: 2025-11-24T12:00:00Z"
        );
        let mut streams = vec![s, stream(&[("app", "b")], &["ancient"])];
        streams[1].entries[0].ts_ns = -1;
        let (n, e) = w.retain(&mut streams);
        assert_eq!(n, 3);
        // the last dropped entry's message, as Loki's distributor answers
        assert_eq!(
            e.unwrap().to_string(),
            "entry for stream '{app=\"b\"}' has timestamp too old: 1969-12-31T23:59:59Z, oldest acceptable timestamp is: 2025-11-24T12:00:00Z"
        );
        assert_eq!(streams.len(), 1, "the emptied stream is gone");
        let lines: Vec<&str> = streams[0].entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["ok", "edge"]);
        let mut future = vec![stream(&[("app", "a")], &["x"])];
        future[0].entries[0].ts_ns = now + 3600 * NS_PER_SEC;
        assert_eq!(
            w.retain(&mut future).1.unwrap().to_string(),
            "entry for stream '{app=\"a\"}' has timestamp too new: 2025-12-01T13:00:00Z"
        );
        // reject_old_samples = false keeps any age, never the future
        let off = TimeWindow::new(
            &Limits {
                reject_old_samples: false,
                ..Limits::default()
            },
            now,
        );
        assert_eq!(off.check(&Labels::default(), i64::MIN), None);
        assert!(off.check(&Labels::default(), i64::MAX).is_some());
        assert_eq!(rfc3339_secs(i64::MIN), "1677-09-21T00:12:43Z");
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
