//! The storage interface every capability keeps its state behind, and its two backends.
//!
//! Think of Vault's physical backend: a byte-valued key/value store split into namespaces
//! (one per capability), with ordered prefix listing, compare-and-swap and all-or-nothing
//! transactions. Every write that returns `Ok` is durable: it survives a `kill -9` of the
//! process (SQLite in WAL mode with `synchronous=FULL`; PostgreSQL's commit).
//!
//! Backends: [`sqlite`] (embedded default, one file under the data directory) and
//! [`postgres`] (for several nodes). Both pass the same conformance suite
//! (`crates/opshelf-core/tests/storage.rs`).

pub mod postgres;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A shared handle on the storage backend.
pub type DynStorage = Arc<dyn Storage>;

/// What can go wrong talking to storage. Messages never contain stored values.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(String),
    #[error("storage is closed")]
    Closed,
    #[error("cannot open storage at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("schema migration {version} failed: {reason}")]
    Migration { version: u32, reason: String },
    #[error("storage task failed: {0}")]
    Task(String),
    /// The group commit that carried this write failed; nothing of it was stored.
    #[error("commit failed: {0}")]
    Commit(String),
}

/// One operation of a [`Storage::transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Write `value` at `key`.
    Put { key: String, value: Vec<u8> },
    /// Remove `key` (no error if absent).
    Delete { key: String },
    /// The transaction applies only if `key` holds `expected` (`None`: is absent).
    Check {
        key: String,
        expected: Option<Vec<u8>>,
    },
}

/// The storage interface. Namespaces are capability names (`"secrets"`, `"flags"`, ...);
/// keys are UTF-8 strings; listing order is ascending bytewise.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Which backend this is (`"sqlite"` or `"postgres"`), for logs and metrics.
    fn backend(&self) -> &'static str;
    /// The value at `key`, if any.
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Write `value` at `key`, replacing what was there.
    async fn put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Remove `key`; `true` if it existed.
    async fn delete(&self, ns: &str, key: &str) -> Result<bool, StorageError>;
    /// Every key that starts with `prefix`, in ascending order (full keys, not folders).
    async fn list(&self, ns: &str, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Every key and value under `prefix`, in ascending key order.
    async fn scan(&self, ns: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// Replace the value at `key` with `new` (`None`: delete) only if it currently is
    /// `expected` (`None`: absent). `true` if the swap happened.
    async fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError>;
    /// Apply `ops` all-or-nothing. `Ok(false)`: a [`TxnOp::Check`] failed and nothing was written.
    async fn transaction(&self, ns: &str, ops: &[TxnOp]) -> Result<bool, StorageError>;
    /// `Ok` while the backend answers; used by `/readyz`.
    async fn ping(&self) -> Result<(), StorageError>;
    /// Flush and release resources (checkpoint the WAL); later calls fail with `Closed`.
    async fn close(&self) -> Result<(), StorageError>;
}

/// How hard the SQLite backend syncs a commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync on every commit: an acknowledged write survives a power cut (default).
    #[default]
    Full,
    /// fsync at checkpoints only: survives a process crash, may lose the last commits on power loss.
    Normal,
}

/// The `[storage]` section of `opshelf.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `postgres://user@host/db` selects PostgreSQL; unset (default) selects SQLite at
    /// `<data_dir>/opshelf.sqlite3`.
    pub url: Option<String>,
    /// SQLite commit durability.
    pub sync: SyncMode,
    /// PostgreSQL connection-pool size.
    pub pool_size: Option<usize>,
}

impl StorageConfig {
    /// Check what can be checked without connecting.
    ///
    /// # Errors
    /// A [`crate::config::ConfigError`] naming the key relative to `[storage]`.
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        if let Some(url) = &self.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(crate::config::ConfigError::new(
                "url",
                "a postgres:// or postgresql:// URL (leave it unset for the embedded SQLite)",
            ));
        }
        if self.pool_size == Some(0) {
            return Err(crate::config::ConfigError::new(
                "pool_size",
                "a number of at least 1",
            ));
        }
        Ok(())
    }
}

/// Open the configured backend and run its schema migrations.
///
/// # Errors
/// When the file or server cannot be opened, or a migration fails.
pub async fn open(config: &StorageConfig, data_dir: &Path) -> Result<DynStorage, StorageError> {
    match &config.url {
        Some(url) => {
            let pg =
                postgres::PostgresStorage::connect(url, config.pool_size.unwrap_or(16)).await?;
            Ok(Arc::new(pg))
        }
        None => {
            std::fs::create_dir_all(data_dir).map_err(|e| StorageError::Open {
                path: data_dir.display().to_string(),
                reason: e.to_string(),
            })?;
            let path = data_dir.join("opshelf.sqlite3");
            let sync = config.sync;
            let db = tokio::task::spawn_blocking(move || sqlite::SqliteStorage::open(&path, sync));
            Ok(Arc::new(
                db.await.map_err(|e| StorageError::Task(e.to_string()))??,
            ))
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`, or `None`
/// when there is none (empty prefix, or a prefix of only `char::MAX`). Used for
/// index-friendly `key >= prefix AND key < end` range scans in both backends.
#[must_use]
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_every_extension() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a/"), Some("a0".to_owned()));
        assert_eq!(prefix_end("ab"), Some("ac".to_owned()));
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".to_owned()));
        assert_eq!(prefix_end("\u{D7FF}"), Some("\u{E000}".to_owned()));
        let end = prefix_end("x/").unwrap();
        for k in ["x/", "x/a", "x/\u{10FFFF}\u{10FFFF}", "x/zzz"] {
            assert!(
                k.as_bytes() < end.as_bytes(),
                "{k:?} must sort before {end:?}"
            );
        }
        assert!("x0".as_bytes() >= end.as_bytes());
    }
}
