//! The traces capability as the platform sees it: `[traces]`, the collector's `OTEL_*`
//! receiver variables none (the SDKs' variables are for clients), three listeners, status.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, ErrorStyle, ListenerSpec, Report, StartError, Started};
use prometheus_client::metrics::counter::Counter;

use crate::config::{CONFIG_EXAMPLE, Config};
use crate::ingest::{Counts, Ingest};
use crate::jaeger::{self, App};
use crate::otlpmetrics::OtlpMetrics;
use crate::receiver;
use crate::spanmetrics::SpanMetrics;
use crate::store::SpanStore;

/// OTLP in (gRPC and HTTP), Jaeger and Tempo queries out.
#[derive(Debug)]
pub struct Traces;

pub const GRPC: &str = "traces-otlp-grpc";
pub const HTTP: &str = "traces-otlp-http";
pub const QUERY: &str = "traces-query";

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Capability for Traces {
    const NAME: &'static str = "traces";
    const CONFIG_EXAMPLE: &'static str = CONFIG_EXAMPLE;
    type Config = Config;

    fn validate(config: &Config) -> Result<(), ConfigError> {
        config.validate()
    }

    fn enabled(config: &Config) -> bool {
        config.enabled
    }

    fn listeners(config: &Config) -> Vec<ListenerSpec> {
        let max = usize_of(config.max_message_bytes);
        vec![
            // The gRPC handler enforces the message limit itself (RESOURCE_EXHAUSTED); the
            // listener's limit only bounds what it reads.
            ListenerSpec::new(
                GRPC,
                "traces.otlp_grpc_listen",
                config.otlp_grpc_listen,
                Some(max.saturating_mul(2).saturating_add(5)),
            )
            .with_errors(ErrorStyle::Grpc),
            ListenerSpec::new(
                HTTP,
                "traces.otlp_http_listen",
                config.otlp_http_listen,
                Some(max),
            ),
            ListenerSpec::new(
                QUERY,
                "traces.query_listen",
                config.query_listen,
                Some(64 * 1024),
            ),
        ]
    }

    async fn start(config: Config, ctx: Context) -> Result<Started, StartError> {
        let es = opshelf_eventstore::Config {
            memory_budget_bytes: usize_of(config.memory_budget_bytes),
            retention_age_secs: config.retention_days.saturating_mul(86_400),
            retention_bytes: config.retention_max_bytes,
            limits: opshelf_eventstore::Limits {
                max_batch_bytes: usize_of(config.memory_budget_bytes / 8)
                    .max(4 << 20)
                    .min(usize_of(config.memory_budget_bytes / 4)),
                max_record_bytes: 1 << 20,
                ..opshelf_eventstore::Limits::default()
            },
            ..opshelf_eventstore::Config::default()
        };
        es.validate()?;
        let dir = ctx.data_dir.join(Self::NAME);
        let store = SpanStore::open(&dir, es, ctx.storage.clone()).await?;
        let span_metrics = SpanMetrics::new(config.span_metrics_max_series);
        let otlp_metrics = OtlpMetrics::new(config.otlp_metrics_max_series);
        ctx.metrics
            .register_collector(Box::new(span_metrics.clone()));
        ctx.metrics
            .register_collector(Box::new(otlp_metrics.clone()));
        let logs_rejected = Counter::default();
        ctx.metrics.register(
            "otlp_log_records_rejected",
            "OTLP log records refused (no logs capability enabled, or refused by it)",
            logs_rejected.clone(),
        );
        let ingest = Arc::new(Ingest {
            store: store.clone(),
            span_metrics,
            otlp_metrics,
            logs: ctx.logs.clone(),
            logs_rejected,
            max_message_bytes: usize_of(config.max_message_bytes),
            counts: Counts::default(),
        });
        // Flush the head into blocks at shutdown (acknowledged spans are in the WAL anyway).
        let closing = store.clone();
        let shutdown = ctx.shutdown.clone();
        ctx.tasks.spawn("traces-close", async move {
            shutdown.wait().await;
            let _ = tokio::task::spawn_blocking(move || closing.events().close()).await;
        });
        let status_ingest = Arc::clone(&ingest);
        let status = move || {
            let s = status_ingest.store.events().stats();
            let spans = status_ingest.counts.spans.load(Ordering::Relaxed);
            Report::up(format!(
                "{} spans stored ({} in blocks); {} services",
                s.block_records + s.head_records,
                s.block_records,
                status_ingest.store.services().len()
            ))
            .fact("spans_received", spans)
            .fact("block_bytes", s.block_bytes)
            .fact("blocks", s.blocks)
            .fact(
                "log_records_forwarded",
                status_ingest.counts.logs.load(Ordering::Relaxed),
            )
        };
        Ok(Started::new(Arc::new(status))
            .with_router(GRPC, receiver::grpc::router(Arc::clone(&ingest)))
            .with_router(
                HTTP,
                receiver::http::router(
                    Arc::clone(&ingest),
                    &config.cors_allowed_origins,
                    &config.cors_allowed_headers,
                ),
            )
            .with_router(QUERY, jaeger::router(App { store })))
    }
}
