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
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::mpsc;

use crate::{Metrics, Tasks};

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

/// How many entries a [`LogForwarder`] queues before it drops (and counts) new ones.
const FORWARD_QUEUE: usize = 4096;
/// The most entries in one push.
const FORWARD_BATCH: usize = 1000;

/// Hands the entries of one stream to the slot's sink in the background, for a producer that
/// must never wait for the log store (the WAF answering a request). [`LogForwarder::send`]
/// does not block: when the queue is full the entry is dropped and counted. A task collects
/// what is queued (up to 1,000 entries, at least every second) and pushes it. Every entry
/// ends in `<prefix>log_events_total{outcome}` as `stored`, `rejected`, `queue_full`,
/// `no_logs_capability` or `failed`, so a gap is visible on `/metrics`.
#[derive(Clone, Debug)]
pub struct LogForwarder {
    tx: mpsc::Sender<LogEntry>,
    events: Family<Vec<(String, String)>, Counter>,
}

impl LogForwarder {
    /// Start the forwarding task for the stream `labels`; its counter is registered on
    /// `metrics` (a capability's scoped registry) as `log_events`.
    #[must_use]
    pub fn spawn(tasks: &Tasks, metrics: &Metrics, slot: LogSinkSlot, labels: Vec<Pair>) -> Self {
        let (tx, rx) = mpsc::channel(FORWARD_QUEUE);
        let events = Family::<Vec<(String, String)>, Counter>::default();
        metrics.register(
            "log_events",
            "Log events handed to the logs capability, by outcome",
            events.clone(),
        );
        let shutdown = tasks.shutdown().clone();
        let counts = events.clone();
        tasks.spawn("log-forwarder", async move {
            forward(rx, slot, labels, counts, shutdown).await;
        });
        Self { tx, events }
    }

    /// Queue `entry`; never waits.
    pub fn send(&self, entry: LogEntry) {
        if self.tx.try_send(entry).is_err() {
            count(&self.events, "queue_full", 1);
        }
    }
}

fn count(events: &Family<Vec<(String, String)>, Counter>, outcome: &str, n: u64) {
    if n > 0 {
        events
            .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
            .inc_by(n);
    }
}

async fn forward(
    mut rx: mpsc::Receiver<LogEntry>,
    slot: LogSinkSlot,
    labels: Vec<Pair>,
    events: Family<Vec<(String, String)>, Counter>,
    shutdown: crate::Shutdown,
) {
    let mut batch = Vec::with_capacity(FORWARD_BATCH);
    loop {
        let stopping = tokio::select! {
            n = rx.recv_many(&mut batch, FORWARD_BATCH) => n == 0,
            () = shutdown.wait() => true,
        };
        if stopping {
            // What is still queued goes out before the task ends (serve awaits it).
            while let Ok(e) = rx.try_recv() {
                batch.push(e);
            }
        } else if batch.len() < FORWARD_BATCH {
            // Let a burst gather into one push, at most a second.
            let deadline = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(deadline);
            while batch.len() < FORWARD_BATCH {
                let room = FORWARD_BATCH - batch.len();
                tokio::select! {
                    n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                    () = &mut deadline => break,
                    () = shutdown.wait() => break,
                }
            }
        }
        let entries = std::mem::take(&mut batch);
        let n = entries.len() as u64;
        if n > 0 {
            match slot.get() {
                None => count(&events, "no_logs_capability", n),
                Some(sink) => {
                    let stream = LogStream {
                        labels: labels.clone(),
                        entries,
                    };
                    match sink.push_streams(None, vec![stream]).await {
                        Ok(a) => {
                            count(&events, "stored", a.stored);
                            count(&events, "rejected", a.rejected);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, entries = n, "handing log events to the logs capability failed");
                            count(&events, "failed", n);
                        }
                    }
                }
            }
        }
        if stopping {
            return;
        }
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

    #[tokio::test]
    async fn the_forwarder_batches_counts_what_has_no_sink_and_drains_at_shutdown() {
        let shutdown = crate::Shutdown::new();
        let tasks = Tasks::new(shutdown.clone());
        let metrics = Metrics::new().scoped("waf");
        let slot = LogSinkSlot::default();
        let f = LogForwarder::spawn(
            &tasks,
            &metrics,
            slot.clone(),
            vec![("job".into(), "opshelf".into())],
        );
        let entry = |i: i64| LogEntry {
            time_ns: i,
            line: format!("event {i}"),
            metadata: Vec::new(),
        };
        f.send(entry(1));
        // No sink yet: counted, not stored anywhere.
        for _ in 0..100 {
            if metrics
                .encode()
                .contains("outcome=\"no_logs_capability\"} 1")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            metrics
                .encode()
                .contains("opshelf_waf_log_events_total{outcome=\"no_logs_capability\"} 1"),
            "{}",
            metrics.encode()
        );
        let rec = Arc::new(Recorder::default());
        slot.set(rec.clone());
        for i in 2..=4 {
            f.send(entry(i));
        }
        shutdown.trigger();
        tasks.close_and_wait(Duration::from_secs(5)).await;
        let got: Vec<i64> = rec
            .0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.time_ns))
            .collect();
        assert_eq!(got, vec![2, 3, 4]);
        assert_eq!(rec.0.lock().unwrap()[0].labels[0].1, "opshelf");
        assert!(
            metrics
                .encode()
                .contains("opshelf_waf_log_events_total{outcome=\"stored\"} 3")
        );
    }
}
