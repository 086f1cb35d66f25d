//! `opshelf-logs`: a Loki-compatible log store and the Promtail replacement.
//!
//! Clients push to `/loki/api/v1/push` (snappy protobuf, JSON, gzip/deflate), the legacy
//! `/api/prom/push` and `/otlp/v1/logs`; Grafana queries `query`, `query_range`, the label
//! and series endpoints, `index/*` and `tail`. Streams (tenant + labels) live in the event
//! store (`opshelf-eventstore`); LogQL is evaluated by the engine behind
//! [`logql_adapter`], the only module that names it. `[logs.tail]` tails files (globs,
//! rotation, Docker json-file logs, Promtail pipeline stages) into the same store.
//!
//! # Map
//! - `capability.rs`: config section, listener, status, sink, tailer task.
//! - `config.rs`: `[logs]`, Loki's limit names and defaults.
//! - `push/`: the push formats, Loki's validation and accepted time window; `otlp.rs`: OTLP logs and Loki's labels.
//! - `store.rs`: validated pushes into the event store, the engine's `Source`, the `LogSink`.
//! - `deletes.rs`: delete requests: tombstones applied to reads at once, purged from the
//!   event store once their cancel period is over (`received` → `processed`).
//! - `api/`: the HTTP handlers, the only code that knows Loki's URLs and JSON.
//! - `tail/`: the file tailer.

pub mod api;
mod capability;
pub mod config;
pub mod deletes;
pub mod logql_adapter;
pub mod otlp;
pub mod push;
pub mod store;
pub mod tail;

pub use capability::Logs;
pub use config::{CONFIG_EXAMPLE, Config, Limits, TailConfig};
pub use store::LogStore;

/// Now, in Unix nanoseconds (the unit of every Loki timestamp).
pub fn now_ns() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}
