//! Log records handed from one capability to another.
//!
//! OTLP logs arrive at the traces capability's receiver, the WAF produces blocked-request
//! events, opshelf writes its own lines: all of them belong in the logs capability's store.
//! Capabilities never depend on each other, so the hand-over goes through this trait. A
//! capability that stores logs returns its [`LogSink`] from `start`
//! ([`Started::with_log_sink`](crate::Started::with_log_sink)); the binary puts it into the
//! one [`LogSinkSlot`] every [`Context`](crate::Context) carries; a producer asks the slot at
//! each batch, so start order does not matter and "no logs capability" is an answer
//! ([`LogSinkSlot::get`] is `None`), not a silent drop.
//!
//! The records are the OpenTelemetry log data model and plain label streams, not a wire
//! format: mapping OTLP resource attributes to labels (Loki's `service.name` →
//! `service_name`, ...) is the receiving capability's business.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;

/// A key and a value, both strings (attribute values are rendered by the producer: numbers
/// and booleans as their text, arrays and maps as JSON).
pub type Pair = (String, String);

/// Entries of one label set (a Loki stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStream {
    /// The stream's labels, e.g. `job="opshelf"`.
    pub labels: Vec<Pair>,
    /// Its entries, in any order.
    pub entries: Vec<LogEntry>,
}

/// One line of a [`LogStream`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEntry {
    /// When it happened, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The line.
    pub line: String,
    /// Structured metadata: pairs kept with the line but not part of the stream's identity.
    pub metadata: Vec<Pair>,
}

/// One record of the OpenTelemetry log data model, as an OTLP receiver decoded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtelLogRecord {
    /// `time_unix_nano`; 0 when the producer left it unset.
    pub time_ns: i64,
    /// `observed_time_unix_nano`; 0 when unset.
    pub observed_ns: i64,
    /// `severity_number` (0 = unspecified).
    pub severity_number: i32,
    /// `severity_text`.
    pub severity_text: String,
    /// The body rendered as text (a string body as is, anything else as JSON).
    pub body: String,
    /// The record's own attributes.
    pub attributes: Vec<Pair>,
    /// The resource's attributes (`service.name`, ...).
    pub resource: Vec<Pair>,
    /// The instrumentation scope's name, empty when unset.
    pub scope_name: String,
    /// Trace id, lowercase hex, empty when unset.
    pub trace_id: String,
    /// Span id, lowercase hex, empty when unset.
    pub span_id: String,
}

/// What a sink did with a batch it accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Entries stored (durably: they survive a crash once `push_*` returned).
    pub stored: u64,
    /// Entries refused one by one (a line over the size limit, ...): OTLP's
    /// `partial_success.rejected_log_records`.
    pub rejected: u64,
    /// Why the refused ones were refused (empty when none were).
    pub message: String,
}

/// Why a sink refused a whole batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The batch is wrong and retrying will not help (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The store is over a budget for now: try again after `retry_after` (HTTP 429 / 503,
    /// gRPC `UNAVAILABLE`).
    #[error("{message}; retry after {} s", retry_after.as_secs())]
    Overloaded {
        /// What is over its budget.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The store failed (HTTP 500).
    #[error("{0}")]
    Failed(String),
}

/// Where log records go. Implemented by the capability that stores logs.
#[async_trait]
pub trait LogSink: Send + Sync + 'static {
    /// Store label streams for `tenant` (`None`: the default tenant).
    async fn push_streams(
        &self,
        tenant: Option<&str>,
        streams: Vec<LogStream>,
    ) -> Result<Accepted, SinkError>;

    /// Store OpenTelemetry log records for `tenant`, mapping their attributes to labels as
    /// the store does for its own OTLP endpoint.
    async fn push_otel(
        &self,
        tenant: Option<&str>,
        records: Vec<OtelLogRecord>,
    ) -> Result<Accepted, SinkError>;
}

/// The process's one log sink, set by the binary once the capability providing it started.
#[derive(Clone, Default)]
pub struct LogSinkSlot(Arc<RwLock<Option<Arc<dyn LogSink>>>>);

impl std::fmt::Debug for LogSinkSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSinkSlot")
            .field("set", &self.get().is_some())
            .finish()
    }
}

impl LogSinkSlot {
    /// The sink, if a capability provides one.
    #[must_use]
    pub fn get(&self) -> Option<Arc<dyn LogSink>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Put `sink` in the slot (the binary does this; a second call replaces the first).
    pub fn set(&self, sink: Arc<dyn LogSink>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<LogStream>>);

    #[async_trait]
    impl LogSink for Recorder {
        async fn push_streams(
            &self,
            _tenant: Option<&str>,
            streams: Vec<LogStream>,
        ) -> Result<Accepted, SinkError> {
            let n = streams.iter().map(|s| s.entries.len() as u64).sum();
            self.0.lock().unwrap().extend(streams);
            Ok(Accepted {
                stored: n,
                ..Accepted::default()
            })
        }

        async fn push_otel(
            &self,
            _tenant: Option<&str>,
            records: Vec<OtelLogRecord>,
        ) -> Result<Accepted, SinkError> {
            Err(SinkError::Invalid(format!(
                "{} records: not here",
                records.len()
            )))
        }
    }

    #[tokio::test]
    async fn an_empty_slot_says_so_and_a_set_one_is_shared_by_clones() {
        let slot = LogSinkSlot::default();
        let producer = slot.clone();
        assert!(producer.get().is_none());
        let rec = Arc::new(Recorder::default());
        slot.set(rec.clone());
        let sink = producer.get().expect("set through another clone");
        let out = sink
            .push_streams(
                None,
                vec![LogStream {
                    labels: vec![("job".into(), "opshelf".into())],
                    entries: vec![LogEntry {
                        time_ns: 1,
                        line: "hello".into(),
                        metadata: Vec::new(),
                    }],
                }],
            )
            .await
            .unwrap();
        assert_eq!(out.stored, 1);
        assert_eq!(rec.0.lock().unwrap().len(), 1);
        assert!(matches!(
            sink.push_otel(None, vec![OtelLogRecord::default()]).await,
            Err(SinkError::Invalid(_))
        ));
    }
}
