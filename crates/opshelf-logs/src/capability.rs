//! The logs capability as the platform sees it: `[logs]`, the Loki listener, status, the
//! core log sink, and the background tasks: the file tailer and the delete-request processor.

use std::sync::Arc;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, ListenerSpec, Report, StartError, Started};

use crate::api::{self, App};
use crate::config::{CONFIG_EXAMPLE, Config};
use crate::deletes::Deletes;
use crate::store::LogStore;

/// Loki's HTTP API on `[logs] listen`, and the Promtail replacement.
#[derive(Debug)]
pub struct Logs;

impl Capability for Logs {
    const NAME: &'static str = "logs";
    const CONFIG_EXAMPLE: &'static str = CONFIG_EXAMPLE;
    type Config = Config;

    fn validate(config: &Config) -> Result<(), ConfigError> {
        config.validate()
    }

    fn enabled(config: &Config) -> bool {
        config.enabled
    }

    fn listeners(config: &Config) -> Vec<ListenerSpec> {
        // compressed bodies are capped here, inflated ones by `max_push_bytes`
        vec![
            ListenerSpec::new(
                "logs",
                "logs.listen",
                config.listen,
                Some(config.max_push_bytes),
            )
            .with_errors(opshelf_core::ErrorStyle::PlainText),
        ]
    }

    async fn start(config: Config, ctx: Context) -> Result<Started, StartError> {
        let dir = ctx.data_dir.join("logs");
        let es_config = config.store_config();
        let events = tokio::task::spawn_blocking(move || {
            opshelf_eventstore::EventStore::open(&dir.join("store"), es_config)
        })
        .await??;
        let deletes = Deletes::load(Some(ctx.storage.clone())).await?;
        deletes.spawn_processor(
            &ctx.tasks,
            events.clone(),
            std::time::Duration::from_secs(config.delete_cancel_period_secs),
        );
        let store = Arc::new(LogStore::new(
            events.clone(),
            config.limits.clone(),
            config.default_tenant.clone(),
            deletes,
        ));
        ctx.metrics.register(
            "lines_received",
            "Log lines stored (Loki's loki_distributor_lines_received_total)",
            store.counters.lines.clone(),
        );
        ctx.metrics.register(
            "bytes_received",
            "Bytes of log lines stored",
            store.counters.bytes.clone(),
        );
        ctx.metrics.register(
            "pushes_refused",
            "Push requests refused by a limit or as malformed, whole or in part",
            store.counters.refused.clone(),
        );
        ctx.metrics.register(
            "entries_out_of_window",
            "Entries dropped as older than reject_old_samples_max_age_secs or past creation_grace_period_secs (Loki's discarded_samples greater_than_max_sample_age, too_far_in_future)",
            store.counters.out_of_window.clone(),
        );
        if config.tail.enabled {
            crate::tail::spawn(&config, &ctx, store.clone())?;
        }
        {
            let shutdown = ctx.shutdown.clone();
            ctx.tasks.spawn("logs-close", async move {
                shutdown.wait().await;
                let _ = tokio::task::spawn_blocking(move || events.close()).await;
            });
        }
        let app = App::new(store.clone(), config.max_push_bytes);
        let status_store = store.clone();
        let status = move || {
            let s = status_store.events().stats();
            Report::up(format!(
                "{} log records in {} blocks, {} in the head",
                s.block_records, s.blocks, s.head_records
            ))
            .fact("blocks", s.blocks)
            .fact("block_bytes", s.block_bytes)
            .fact("block_records", s.block_records)
            .fact("head_records", s.head_records)
            .fact("ingest_memory_used", s.ingest_memory_used)
        };
        Ok(Started::new(Arc::new(status))
            .with_router("logs", api::router(app))
            .with_log_sink(store))
    }
}
