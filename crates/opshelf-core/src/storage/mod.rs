//! The storage interface every capability keeps its state behind, and its two backends.
//!
//! Think of Vault's physical backend: a byte-valued key/value store split into namespaces
//! (one per capability), with ordered range reads ([`Range`]: bounds, limit, direction),
//! bounded range deletes (for retention), compare-and-swap and all-or-nothing transactions.
//! Every write that returns `Ok` is durable: it survives a `kill -9` of the process (SQLite
//! in WAL mode with `synchronous=FULL`; PostgreSQL's commit).
//!
//! A capability is handed a [`StorageView`]: the shared backend bound to its own namespace,
//! like Vault's `logical.StorageView`, so it cannot read or write another capability's keys
//! by mistake. A capability that needs its own tables (telemetry later) declares them as
//! [`Migration`]s and applies them with [`Storage::migrate`]; they are recorded per
//! (capability, version) beside the core's own schema migrations.
//!
//! Backends: [`sqlite`] (embedded default, one file under the data directory) and
//! [`postgres`] (for several nodes). Both pass the same conformance suite
//! (`crates/opshelf-core/tests/storage.rs`).

pub mod postgres;
pub mod sqlite;

use std::ops::Bound;
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
    /// A schema migration failed (and was rolled back) or the list is malformed.
    /// `capability` is `"core"` for the core's own schema.
    #[error("schema migration {version} of {capability} failed: {reason}")]
    Migration {
        capability: String,
        version: u32,
        reason: String,
    },
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

/// Which keys a [`Storage::range`] or [`Storage::delete_range`] covers, in which order, and
/// how many at most.
///
/// Bounds compare keys bytewise (UTF-8), like every listing. Build one with
/// [`Range::all`] or [`Range::prefix`], then narrow it:
///
/// ```
/// # use opshelf_core::storage::Range;
/// // The newest 50 events, given keys that sort by time.
/// let newest = Range::prefix("event/").reverse().limit(50);
/// // The next page, older than the last key seen.
/// let next = Range::prefix("event/").end_before("event/00000000000000000120").reverse().limit(50);
/// # let _ = (newest, next);
/// ```
///
/// A range whose start lies after its end is empty, as is `limit(0)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The lowest key covered.
    pub start: Bound<String>,
    /// The highest key covered.
    pub end: Bound<String>,
    /// At most this many keys (counted from the start, or from the end when `reverse`).
    pub limit: Option<usize>,
    /// Descending key order instead of ascending.
    pub reverse: bool,
}

impl Range {
    /// Every key of the namespace, ascending, no limit.
    #[must_use]
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
            limit: None,
            reverse: false,
        }
    }

    /// Every key that starts with `prefix` (what [`Storage::scan`] reads).
    #[must_use]
    pub fn prefix(prefix: &str) -> Self {
        Self {
            start: if prefix.is_empty() {
                Bound::Unbounded
            } else {
                Bound::Included(prefix.to_owned())
            },
            end: prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
            limit: None,
            reverse: false,
        }
    }

    /// Start at `key`, inclusive (replaces the start bound).
    #[must_use]
    pub fn start_at(mut self, key: impl Into<String>) -> Self {
        self.start = Bound::Included(key.into());
        self
    }

    /// Start just after `key` (replaces the start bound).
    #[must_use]
    pub fn start_after(mut self, key: impl Into<String>) -> Self {
        self.start = Bound::Excluded(key.into());
        self
    }

    /// End at `key`, inclusive (replaces the end bound).
    #[must_use]
    pub fn end_at(mut self, key: impl Into<String>) -> Self {
        self.end = Bound::Included(key.into());
        self
    }

    /// End just before `key` (replaces the end bound).
    #[must_use]
    pub fn end_before(mut self, key: impl Into<String>) -> Self {
        self.end = Bound::Excluded(key.into());
        self
    }

    /// At most `n` keys.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Descending order: with a limit, the last `n` keys of the range.
    #[must_use]
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// The SQL that selects this range's rows from a table with `ns` and `key` columns:
    /// `(conditions after "ns = <first>", parameters, ORDER BY ... LIMIT ...)`. Placeholders
    /// are `{mark}N`, numbered from `first + 1` (`?N` for SQLite, `$N` for PostgreSQL); the
    /// last parameter is the limit (`i64::MAX` when unlimited, which both accept).
    pub(crate) fn sql(&self, mark: char, first: usize) -> RangeSql {
        let mut conditions = String::new();
        let mut params = Vec::new();
        for (bound, inclusive, exclusive) in [(&self.start, ">=", ">"), (&self.end, "<=", "<")] {
            let (op, key) = match bound {
                Bound::Included(k) => (inclusive, k),
                Bound::Excluded(k) => (exclusive, k),
                Bound::Unbounded => continue,
            };
            params.push(key.clone());
            conditions.push_str(&format!(" AND key {op} {mark}{}", first + params.len()));
        }
        let order = if self.reverse { "DESC" } else { "ASC" };
        let tail = format!(
            " ORDER BY key {order} LIMIT {mark}{}",
            first + params.len() + 1
        );
        let limit = self
            .limit
            .map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        RangeSql {
            conditions,
            keys: params,
            tail,
            limit,
        }
    }
}

/// A [`Range`] as SQL fragments (see [`Range::sql`]).
pub(crate) struct RangeSql {
    pub conditions: String,
    pub keys: Vec<String>,
    pub tail: String,
    pub limit: i64,
}

/// A schema migration owned by a capability, for the tables it keeps beside the shared
/// key/value table (append-heavy telemetry, later). Applied by [`Storage::migrate`].
///
/// Only DDL (`CREATE TABLE`, `CREATE INDEX`, `ALTER TABLE`, ...): the storage interface gives
/// a capability no way to run parametrised SQL on its tables yet, so a migration must not
/// depend on data. One SQL text per backend, because their dialects differ (`BLOB` vs
/// `BYTEA`, `COLLATE "C"`). Prefix table names with the capability (`traces_spans`). Each
/// runs inside a transaction, so no `BEGIN`/`COMMIT` and nothing PostgreSQL refuses in one
/// (`CREATE INDEX CONCURRENTLY`). Never edit a migration that has shipped; append a new
/// version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Strictly increasing within one capability, from 1.
    pub version: u32,
    /// What it does, for logs.
    pub description: &'static str,
    /// The statements for SQLite (several, separated by `;`, are fine).
    pub sqlite: &'static str,
    /// The statements for PostgreSQL.
    pub postgres: &'static str,
}

/// Check a capability's migration list before applying any of it.
pub(crate) fn check_migrations(
    capability: &str,
    migrations: &[Migration],
) -> Result<(), StorageError> {
    let fail = |version: u32, reason: String| StorageError::Migration {
        capability: capability.to_owned(),
        version,
        reason,
    };
    if capability.is_empty() || capability == CORE_CAPABILITY {
        return Err(fail(0, format!("{capability:?} is not a capability name")));
    }
    let mut previous = 0;
    for m in migrations {
        if m.version <= previous {
            return Err(fail(
                m.version,
                format!(
                    "versions must increase from 1; {} after {previous}",
                    m.version
                ),
            ));
        }
        previous = m.version;
    }
    Ok(())
}

/// The name the core's own schema migrations are reported under.
pub(crate) const CORE_CAPABILITY: &str = "core";

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
    /// Every key and value under `prefix`, in ascending key order. Unbounded: for data that
    /// grows without limit (logs, events) use [`Storage::range`] with a limit.
    async fn scan(&self, ns: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.range(ns, &Range::prefix(prefix)).await
    }
    /// The keys and values `range` covers, in its order, at most its limit: one index range
    /// scan (`key >= .. AND key < .. ORDER BY key [DESC] LIMIT n`) on both backends.
    async fn range(&self, ns: &str, range: &Range) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// Remove the keys `range` covers — with a limit, only the first `limit` of them in the
    /// range's order (so retention can work in bounded batches). Returns how many were removed.
    /// One write: durable and atomic like [`Storage::transaction`].
    async fn delete_range(&self, ns: &str, range: &Range) -> Result<u64, StorageError>;
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
    /// Apply `capability`'s schema `migrations` that are not yet recorded, in order, each in
    /// its own transaction together with its record in `opshelf_capability_schema` (keyed by
    /// capability and version). Idempotent: call it at every start. Concurrent callers
    /// serialise (SQLite: the writer's `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock per
    /// capability, across nodes) and each version runs once.
    ///
    /// # Errors
    /// [`StorageError::Migration`] naming the capability and version: when versions do not
    /// strictly increase from 1 (nothing is applied), or when one fails (it is rolled back and
    /// not recorded; those before it stay applied, those after it are not tried).
    async fn migrate(&self, capability: &str, migrations: &[Migration])
    -> Result<(), StorageError>;
    /// `Ok` while the backend answers; used by `/readyz`.
    async fn ping(&self) -> Result<(), StorageError>;
    /// Flush and release resources (checkpoint the WAL); later calls fail with `Closed`.
    async fn close(&self) -> Result<(), StorageError>;
}

/// The storage backend bound to one namespace: what a capability is handed instead of the
/// raw [`DynStorage`] (like Vault's `logical.StorageView`). Cheap to clone; the same methods
/// as [`Storage`] without the `ns` argument.
#[derive(Clone)]
pub struct StorageView {
    storage: DynStorage,
    ns: &'static str,
}

impl std::fmt::Debug for StorageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageView")
            .field("backend", &self.storage.backend())
            .field("namespace", &self.ns)
            .finish()
    }
}

impl StorageView {
    /// `storage` seen through namespace `ns`.
    #[must_use]
    pub fn new(storage: DynStorage, ns: &'static str) -> Self {
        Self { storage, ns }
    }

    /// The namespace every call uses.
    #[must_use]
    pub fn namespace(&self) -> &'static str {
        self.ns
    }

    /// The shared backend (for [`Storage::migrate`], or a deliberate cross-namespace read).
    #[must_use]
    pub fn inner(&self) -> &DynStorage {
        &self.storage
    }

    /// See [`Storage::get`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.storage.get(self.ns, key).await
    }

    /// See [`Storage::put`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.storage.put(self.ns, key, value).await
    }

    /// See [`Storage::delete`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.storage.delete(self.ns, key).await
    }

    /// See [`Storage::list`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.storage.list(self.ns, prefix).await
    }

    /// See [`Storage::scan`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.storage.scan(self.ns, prefix).await
    }

    /// See [`Storage::range`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn range(&self, range: &Range) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.storage.range(self.ns, range).await
    }

    /// See [`Storage::delete_range`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn delete_range(&self, range: &Range) -> Result<u64, StorageError> {
        self.storage.delete_range(self.ns, range).await
    }

    /// See [`Storage::compare_and_swap`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        self.storage
            .compare_and_swap(self.ns, key, expected, new)
            .await
    }

    /// See [`Storage::transaction`].
    ///
    /// # Errors
    /// Backend failures.
    pub async fn transaction(&self, ops: &[TxnOp]) -> Result<bool, StorageError> {
        self.storage.transaction(self.ns, ops).await
    }

    /// [`Storage::migrate`] with the namespace as the capability name.
    ///
    /// # Errors
    /// See [`Storage::migrate`].
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<(), StorageError> {
        self.storage.migrate(self.ns, migrations).await
    }

    /// See [`Storage::ping`].
    ///
    /// # Errors
    /// When the backend does not answer.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.storage.ping().await
    }
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
