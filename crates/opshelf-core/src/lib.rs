//! What every opshelf capability shares.
//!
//! A capability crate implements the [`capability::Capability`] contract: the binary gives
//! its `start` a [`Context`] (storage, data directory, metrics under its own prefix, the
//! shutdown and reload signals, a task tracker) and serves the routers it returns with the
//! layers and accept loop in [`http`]; `/status` reads its [`status::StatusSource`].
//! Nothing here knows any capability or any upstream protocol.

pub mod admin;
pub mod capability;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod http;
pub mod jsonl;
pub mod logsink;
pub mod metrics;
pub mod shutdown;
pub mod status;
pub mod storage;
pub mod tasks;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tls;
pub mod token;

use std::path::PathBuf;

pub use capability::{
    Capability, Env, EnvError, ErrorStyle, ListenerSpec, Mount, StartError, Started,
};
pub use logsink::{LogForwarder, LogSink, LogSinkSlot};
pub use metrics::Metrics;
pub use shutdown::Shutdown;
pub use status::{Health, Report, StatusSource};
pub use storage::{DynStorage, Storage, StorageError, TxnOp};
pub use storage::{Migration, Range, StorageView};
pub use tasks::{Reload, Tasks};

/// Everything a capability is given at start.
#[derive(Clone)]
pub struct Context {
    /// The capability's name (its config section, storage namespace and metric prefix).
    pub name: &'static str,
    /// Where state lives: the backend bound to the capability's own namespace (its name).
    pub storage: StorageView,
    /// opshelf's data directory (`data_dir`), for files a capability keeps itself.
    pub data_dir: PathBuf,
    /// The metrics registry, scoped: names registered here get `opshelf_<name>_` in front.
    pub metrics: Metrics,
    /// Fires when the server is stopping.
    pub shutdown: Shutdown,
    /// Background tasks; `serve` waits for them before closing storage.
    pub tasks: Tasks,
    /// SIGHUP: reload rules, certificates, reopen log files.
    pub reload: Reload,
    /// Where to hand log records (the logs capability's sink, when one is enabled).
    pub logs: LogSinkSlot,
    /// The platform's listeners and capability reports, read-only (the console reads it;
    /// the binary sets it, it is empty otherwise).
    pub board: status::BoardView,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.name)
            .field("storage", &self.storage.inner().backend())
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The context for capability `name`, from the process-wide pieces.
    #[must_use]
    pub fn for_capability(
        name: &'static str,
        storage: DynStorage,
        data_dir: PathBuf,
        metrics: &Metrics,
        tasks: &Tasks,
        reload: &Reload,
        logs: &LogSinkSlot,
    ) -> Self {
        Self {
            name,
            storage: StorageView::new(storage, name),
            data_dir,
            metrics: metrics.scoped(name),
            shutdown: tasks.shutdown().clone(),
            tasks: tasks.for_owner(name),
            reload: reload.clone(),
            logs: logs.clone(),
            board: status::BoardView::default(),
        }
    }
}
