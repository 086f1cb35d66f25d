//! What every opshelf capability shares.
//!
//! A capability crate receives a [`Context`] (storage, data directory, metrics registry,
//! shutdown signal) and returns an `axum::Router`; the binary serves it with the layers in
//! [`http`]. Nothing here knows any capability or any upstream protocol.

pub mod admin;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod http;
pub mod jsonl;
pub mod metrics;
pub mod shutdown;
pub mod storage;
pub mod tls;
pub mod token;

use std::path::PathBuf;

pub use metrics::Metrics;
pub use shutdown::Shutdown;
pub use storage::{DynStorage, Storage, StorageError, TxnOp};

/// Everything a capability is given at start.
#[derive(Clone)]
pub struct Context {
    /// Where state lives; use your capability's name as the namespace.
    pub storage: DynStorage,
    /// opshelf's data directory (`data_dir`), for files a capability keeps itself.
    pub data_dir: PathBuf,
    /// The process-wide metrics registry.
    pub metrics: Metrics,
    /// Fires when the server is stopping.
    pub shutdown: Shutdown,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("storage", &self.storage.backend())
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for tests: private in-memory SQLite and a fresh directory under the
    /// system temp dir.
    ///
    /// # Panics
    /// If SQLite cannot start or the temp dir cannot be created.
    pub async fn for_tests() -> Self {
        let storage = storage::sqlite::SqliteStorage::open_in_memory().expect("in-memory SQLite");
        let data_dir = std::env::temp_dir().join(format!("opshelf-test-{}", token::new_salt()));
        std::fs::create_dir_all(&data_dir).expect("temp data dir");
        Self {
            storage: std::sync::Arc::new(storage),
            data_dir,
            metrics: Metrics::new(),
            shutdown: Shutdown::new(),
        }
    }
}
