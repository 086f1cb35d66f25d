//! What an export does, whichever transport brought it: decompress under the size cap,
//! decode, check, store (durably) and count.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opshelf_core::LogSinkSlot;
use opshelf_core::logsink::{OtelLogRecord, SinkError};
use prometheus_client::metrics::counter::Counter;

use crate::otlp::{self, Encoding, LogsRequest, MetricsRequest, TracesRequest};
use crate::otlpmetrics::OtlpMetrics;
use crate::spanmetrics::SpanMetrics;
use crate::store::{SpanStore, StoreError};

/// Why an export was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Undecodable or invalid: 400 / `INVALID_ARGUMENT`; retrying will not help.
    #[error("{0}")]
    Invalid(String),
    /// Bigger than `max_message_bytes` after decompression: 413 / `RESOURCE_EXHAUSTED`.
    #[error("{0}")]
    TooLarge(String),
    /// The store is over its memory budget or rate: 503 + `Retry-After` / `UNAVAILABLE`.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after: Duration,
    },
    /// 415 / `UNIMPLEMENTED`.
    #[error("{0}")]
    Unsupported(String),
    /// 500 / `INTERNAL`.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Events(
                opshelf_eventstore::Error::Overloaded { retry_after }
                | opshelf_eventstore::Error::RateLimited { retry_after, .. },
            ) => Self::Overloaded {
                message: "span store over its ingestion budget; retry later".to_owned(),
                retry_after: retry_after.max(Duration::from_secs(1)),
            },
            StoreError::Events(
                opshelf_eventstore::Error::Limit(m) | opshelf_eventstore::Error::Invalid(m),
            ) => Self::Invalid(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// What a successful export answers: items rejected one by one, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partial {
    pub rejected: i64,
    pub message: String,
}

/// Counts for `/status`.
#[derive(Debug, Default)]
pub struct Counts {
    pub spans: AtomicU64,
    pub logs: AtomicU64,
    pub metric_points: AtomicU64,
}

/// The receiver's shared state.
pub struct Ingest {
    pub store: SpanStore,
    pub span_metrics: SpanMetrics,
    pub otlp_metrics: OtlpMetrics,
    pub logs: LogSinkSlot,
    pub logs_rejected: Counter,
    pub max_message_bytes: usize,
    pub counts: Counts,
}

/// `Content-Encoding` / `grpc-encoding` undone, at most `limit` bytes out.
///
/// # Errors
/// An encoding other than gzip or identity, corrupt gzip, or more than `limit` bytes.
pub fn decompress(
    body: &[u8],
    encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    let enc = encoding.map(str::trim).unwrap_or("identity");
    if enc.eq_ignore_ascii_case("identity") || enc.is_empty() {
        if body.len() > limit {
            return Err(too_large(limit));
        }
        return Ok(body.to_vec());
    }
    if !enc.eq_ignore_ascii_case("gzip") {
        return Err(IngestError::Unsupported(format!(
            "unsupported encoding {enc:?} (gzip and identity are)"
        )));
    }
    let mut out = Vec::new();
    // Read one byte past the limit: if it comes, the message is too big, and the rest of
    // the bomb is never inflated.
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::Invalid(format!("unable to decompress gzip body: {e}")))?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}

fn too_large(limit: usize) -> IngestError {
    IngestError::TooLarge(format!(
        "message larger than the limit of {limit} bytes after decompression"
    ))
}

fn invalid(e: &otlp::DecodeError) -> IngestError {
    IngestError::Invalid(e.to_string())
}

impl Ingest {
    /// Store the spans of an export; answers once they are durable.
    ///
    /// # Errors
    /// See [`IngestError`].
    pub async fn traces(&self, body: &[u8], enc: Encoding) -> Result<Partial, IngestError> {
        let req: TracesRequest = otlp::decode(body, enc).map_err(|e| invalid(&e))?;
        let n = otlp::check_traces(&req).map_err(|e| invalid(&e))?;
        if n == 0 {
            return Ok(Partial::default());
        }
        let stored = self.store.append(&req).await?;
        self.span_metrics.record(&req);
        self.counts
            .spans
            .fetch_add(stored as u64, Ordering::Relaxed);
        Ok(Partial::default())
    }

    /// Hand the records of an export to the logs capability.
    ///
    /// # Errors
    /// See [`IngestError`].
    pub async fn logs(&self, body: &[u8], enc: Encoding) -> Result<Partial, IngestError> {
        let req: LogsRequest = otlp::decode(body, enc).map_err(|e| invalid(&e))?;
        let records = log_records(&req);
        if records.is_empty() {
            return Ok(Partial::default());
        }
        let n = i64::try_from(records.len()).unwrap_or(i64::MAX);
        let Some(sink) = self.logs.get() else {
            self.logs_rejected.inc_by(n.unsigned_abs());
            return Ok(Partial {
                rejected: n,
                message: "the logs capability is not enabled in this opshelf: log records are not stored (enable [logs])".to_owned(),
            });
        };
        match sink.push_otel(None, records).await {
            Ok(a) => {
                self.counts.logs.fetch_add(a.stored, Ordering::Relaxed);
                if a.rejected > 0 {
                    self.logs_rejected.inc_by(a.rejected);
                }
                Ok(Partial {
                    rejected: i64::try_from(a.rejected).unwrap_or(i64::MAX),
                    message: a.message,
                })
            }
            Err(SinkError::Invalid(m)) => Err(IngestError::Invalid(m)),
            Err(SinkError::Overloaded {
                message,
                retry_after,
            }) => Err(IngestError::Overloaded {
                message,
                retry_after,
            }),
            Err(SinkError::Failed(m)) => Err(IngestError::Internal(m)),
        }
    }

    /// Take in the points of an export for `/metrics`.
    ///
    /// # Errors
    /// See [`IngestError`].
    pub fn metrics(&self, body: &[u8], enc: Encoding) -> Result<Partial, IngestError> {
        let req: MetricsRequest = otlp::decode(body, enc).map_err(|e| invalid(&e))?;
        let rejected = self.otlp_metrics.record(&req);
        let total: u64 = req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len() as u64)
            .sum();
        self.counts
            .metric_points
            .fetch_add(total, Ordering::Relaxed);
        Ok(if rejected == 0 {
            Partial::default()
        } else {
            Partial {
                rejected: i64::try_from(rejected).unwrap_or(i64::MAX),
                message: "data points over the series cap (otlp_metrics_max_series), or of an unsupported type (exponential histogram, summary)".to_owned(),
            }
        })
    }
}

fn pairs(kvs: &[otlp::KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(otlp::value_text).unwrap_or_default(),
            )
        })
        .collect()
}

fn log_records(req: &LogsRequest) -> Vec<OtelLogRecord> {
    let mut out = Vec::new();
    for rl in &req.resource_logs {
        let resource = rl
            .resource
            .as_ref()
            .map(|r| pairs(&r.attributes))
            .unwrap_or_default();
        for sl in &rl.scope_logs {
            let scope_name = sl
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for r in &sl.log_records {
                let mut attributes = pairs(&r.attributes);
                if !r.event_name.is_empty() {
                    attributes.push(("event.name".to_owned(), r.event_name.clone()));
                }
                out.push(OtelLogRecord {
                    time_ns: i64::try_from(r.time_unix_nano).unwrap_or(i64::MAX),
                    observed_ns: i64::try_from(r.observed_time_unix_nano).unwrap_or(i64::MAX),
                    severity_number: r.severity_number,
                    severity_text: r.severity_text.clone(),
                    body: r.body.as_ref().map(otlp::value_text).unwrap_or_default(),
                    attributes,
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    trace_id: hex::encode(&r.trace_id),
                    span_id: hex::encode(&r.span_id),
                });
            }
        }
    }
    out
}

pub type Shared = Arc<Ingest>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_gzip_bomb_is_refused_without_inflating_it() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..100 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 200_000, "{}", bomb.len());
        let t = std::time::Instant::now();
        let e = decompress(&bomb, Some("gzip"), 4 << 20).unwrap_err();
        assert!(matches!(e, IngestError::TooLarge(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").unwrap();
        assert_eq!(
            decompress(&gz.finish().unwrap(), Some("gzip"), 5).unwrap(),
            b"hello"
        );
        assert!(matches!(
            decompress(b"x", Some("br"), 5),
            Err(IngestError::Unsupported(_))
        ));
        assert!(matches!(
            decompress(b"not gzip", Some("gzip"), 50),
            Err(IngestError::Invalid(_))
        ));
        assert!(matches!(
            decompress(b"123456", None, 5),
            Err(IngestError::TooLarge(_))
        ));
    }
}
