//! The Promtail replacement: `[logs.tail]` targets (file globs + static labels), read on one
//! plain thread that polls every `poll_interval_ms`.
//!
//! - Positions (`positions.rs`) are saved with fsync after every acknowledged append, and
//!   *before* it a "pending" note naming the append's last entry (stream, time, line hash).
//!   On restart a pending note is checked against the store: found → the append happened
//!   and the position moves past it; not found → it is read again. So a `kill -9` at any
//!   point neither loses nor repeats a line.
//! - Rotation: rename + create (the old file is read to its end through the open handle,
//!   then the new one from 0; a rename while opshelf was down is found by inode in the same
//!   directory) and copytruncate (size below the position → start again at 0).
//! - Docker json-file logs: `{"log","stream","time"}` lines, partial lines joined, the
//!   `container` label from `config.v2.json`'s `Name` beside the log.
//! - `pipeline.rs`: the stages.

mod files;
pub mod pipeline;
mod positions;

use std::sync::Arc;
use std::time::Duration;

use opshelf_core::{Context, StartError};

use crate::config::Config;
use crate::store::LogStore;

pub use files::Tailer;

/// Start the tailer as a background task (a blocking thread the task awaits).
///
/// # Errors
/// A target that does not compile, or an unreadable positions file.
pub fn spawn(config: &Config, ctx: &Context, store: Arc<LogStore>) -> Result<(), StartError> {
    let positions = if config.tail.positions_file.as_os_str().is_empty() {
        ctx.data_dir.join("logs").join("positions.json")
    } else {
        config.tail.positions_file.clone()
    };
    let tenant = if config.tail.tenant.is_empty() {
        config.default_tenant.clone()
    } else {
        config.tail.tenant.clone()
    };
    let handle = tokio::runtime::Handle::current();
    let mut tailer = Tailer::new(&config.tail, &positions, tenant, store, handle)?;
    let shutdown = ctx.shutdown.clone();
    let poll = Duration::from_millis(config.tail.poll_interval_ms);
    ctx.tasks.spawn("logs-tail", async move {
        let stop = shutdown.clone();
        let r = tokio::task::spawn_blocking(move || {
            tailer.recover();
            while !stop.is_triggered() {
                tailer.poll_once();
                std::thread::sleep(poll);
            }
            tailer.poll_once();
        })
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "log tailer stopped");
        }
    });
    Ok(())
}
