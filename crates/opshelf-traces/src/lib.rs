//! Traces: an OpenTelemetry collector (the `otlp` receiver on gRPC and HTTP, the
//! `spanmetrics` connector, OTLP metrics on `/metrics`, OTLP logs handed to the logs
//! capability) and a Jaeger query service (v1 JSON API, `api_v3`, Tempo's trace by id), on
//! the event store.
//!
//! # Map
//! - `capability.rs` — the `[traces]` section, listeners, start, status.
//! - `otlp.rs` — the only module naming `opentelemetry-proto`'s types: decoding protobuf and
//!   OTLP/JSON, validating ids, rendering values, the export responses.
//! - `receiver/` — `http.rs` (`POST /v1/{traces,logs,metrics}`, CORS, gzip) and `grpc.rs`
//!   (unary `Export` with gRPC framing by hand), both over `ingest.rs` (what an export does).
//! - `store.rs` — spans on the event store: one stream per service, trace ids found through
//!   the store's token blooms, the service/operation index in core storage.
//! - `jaeger/` — `model.rs` (OTLP → Jaeger UI JSON), `v1.rs`, `v3.rs` (OTLP JSON answers),
//!   `params.rs` (Go durations, times), `tempo.rs`.
//! - `spanmetrics.rs`, `otlpmetrics.rs` — what `/metrics` shows from spans and from OTLP metrics.

mod capability;
mod config;
mod ingest;
mod jaeger;
mod otlp;
mod otlpmetrics;
mod receiver;
mod spanmetrics;
mod store;

pub use capability::Traces;
pub use config::{CONFIG_EXAMPLE, Config};
