//! The embedded default backend: one SQLite file in WAL mode.
//!
//! One writer connection behind a mutex (SQLite has one writer anyway, and it makes
//! compare-and-swap and transactions trivially serial) and a small pool of read-only
//! connections, which WAL lets run beside the writer. Every call runs on tokio's blocking
//! pool so a slow disk never stalls the async workers.
//!
//! Writes are group-committed: each write is queued; whoever holds the writer next runs
//! every queued write in one SQLite transaction, each inside its own savepoint (a failing
//! write is rolled back alone), commits once — one fsync for the whole group — and only
//! then answers each caller. An acknowledged write is therefore always durable, and under
//! concurrent load the fsync cost is shared instead of paid per write.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    CORE_CAPABILITY, Migration, Range, Storage, StorageError, SyncMode, TxnOp, check_migrations,
};

/// Schema migrations, applied in order at open; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the key/value table every capability uses.
    "CREATE TABLE kv (
        ns    TEXT NOT NULL,
        key   TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (ns, key)
    ) WITHOUT ROWID;",
    // 2: which capability-owned migrations ran (`Storage::migrate`).
    "CREATE TABLE opshelf_capability_schema (
        capability  TEXT NOT NULL,
        version     INTEGER NOT NULL,
        description TEXT NOT NULL,
        applied_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (capability, version)
    ) WITHOUT ROWID;",
];

const MAX_READERS: usize = 4;

/// The SQLite backend.
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

struct Inner {
    path: Option<PathBuf>,
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
    /// Writes waiting for the next group commit.
    queue: Mutex<Vec<Job>>,
}

/// Answers one queued write once the fate of its group's commit is known.
type Deliver = Box<dyn FnOnce(Result<(), &StorageError>) + Send>;
/// One queued write: runs on the writer connection (or learns why it cannot).
type Job = Box<dyn FnOnce(Result<&Connection, &StorageError>) -> Deliver + Send>;

impl Inner {
    /// Run every queued write in one transaction and commit it; a no-op when another thread
    /// has already taken the queue.
    fn flush(&self) {
        let guard = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let jobs = std::mem::take(
            &mut *self
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if jobs.is_empty() {
            return;
        }
        let Some(conn) = guard.as_ref() else {
            for job in jobs {
                job(Err(&StorageError::Closed))(Err(&StorageError::Closed));
            }
            return;
        };
        // A write that panicked mid-group left its transaction open: undo it (none of that
        // group was acknowledged) so the writer keeps working.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = StorageError::Commit(e.to_string());
            for job in jobs {
                job(Err(&e))(Err(&e));
            }
            return;
        }
        let delivers: Vec<Deliver> = jobs.into_iter().map(|job| job(Ok(conn))).collect();
        match conn.execute_batch("COMMIT") {
            Ok(()) => delivers.into_iter().for_each(|d| d(Ok(()))),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                let e = StorageError::Commit(e.to_string());
                delivers.into_iter().for_each(|d| d(Err(&e)));
            }
        }
    }
}

/// Run `f` inside a savepoint of the open group transaction: its changes stay if it
/// succeeds and are undone alone if it fails.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    conn.execute_batch("SAVEPOINT w")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE w")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO w; RELEASE w")?;
            Err(e)
        }
    }
}

impl SqliteStorage {
    /// Open (creating if needed) the database file at `path` and migrate it.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails.
    pub fn open(path: &Path, sync: SyncMode) -> Result<Self, StorageError> {
        let open_err = |e: rusqlite::Error| StorageError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        let sync = match sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 5000;"
        ))
        .map_err(open_err)?;
        migrate(&mut conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: Some(path.to_owned()),
                writer: Mutex::new(Some(conn)),
                readers: Mutex::new(Vec::new()),
                queue: Mutex::new(Vec::new()),
            }),
        })
    }

    /// A private in-memory database (for tests): reads and writes share one connection.
    ///
    /// # Errors
    /// Only if SQLite itself cannot start.
    pub fn open_in_memory() -> Result<Self, StorageError> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: None,
                writer: Mutex::new(Some(conn)),
                readers: Mutex::new(Vec::new()),
                queue: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Queue `f` for the next group commit and wait until that commit has happened.
    async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => in_savepoint(conn, f),
                Err(StorageError::Closed) => Err(StorageError::Closed),
                Err(e) => Err(StorageError::Commit(e.to_string())),
            };
            Box::new(move |committed: Result<(), &StorageError>| {
                let out = match (result, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(StorageError::Closed)) => Err(StorageError::Closed),
                    (Ok(_), Err(e)) => Err(StorageError::Commit(e.to_string())),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(out);
            })
        });
        self.inner
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(job);
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.flush())
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?;
        rx.await
            .map_err(|_| StorageError::Task("the writer dropped a queued write".to_owned()))?
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let Some(path) = &inner.path else {
                // In memory: the writer is the only connection that sees the data.
                let guard = inner
                    .writer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                return f(guard.as_ref().ok_or(StorageError::Closed)?);
            };
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let closed = inner
                        .writer
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .is_none();
                    if closed {
                        return Err(StorageError::Closed);
                    }
                    let c = Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(std::time::Duration::from_secs(5))?;
                    c
                }
            };
            let out = f(&conn);
            let mut readers = inner
                .readers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if readers.len() < MAX_READERS {
                readers.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS opshelf_schema (
            version    INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        );",
    )?;
    let current: u32 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM opshelf_schema",
        [],
        |r| r.get(0),
    )?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let fail = |e: rusqlite::Error| StorageError::Migration {
            capability: CORE_CAPABILITY.to_owned(),
            version,
            reason: e.to_string(),
        };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO opshelf_schema (version) VALUES (?1)",
            [version],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version, backend = "sqlite", "applied schema migration");
    }
    Ok(())
}

fn get_value(conn: &Connection, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    let mut stmt = conn.prepare_cached("SELECT value FROM kv WHERE ns = ?1 AND key = ?2")?;
    Ok(stmt.query_row(params![ns, key], |r| r.get(0)).optional()?)
}

fn put_value(conn: &Connection, ns: &str, key: &str, value: &[u8]) -> Result<(), StorageError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO kv (ns, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
    )?;
    stmt.execute(params![ns, key, value])?;
    Ok(())
}

fn delete_value(conn: &Connection, ns: &str, key: &str) -> Result<bool, StorageError> {
    let mut stmt = conn.prepare_cached("DELETE FROM kv WHERE ns = ?1 AND key = ?2")?;
    Ok(stmt.execute(params![ns, key])? > 0)
}

/// The rows of `range` in namespace `ns`, as `row` reads them from `columns`. BINARY
/// collation compares UTF-8 bytes, so bounds and order are bytewise; the primary key
/// `(ns, key)` serves the range scan in either direction.
fn select_range<T>(
    conn: &Connection,
    ns: &str,
    range: &Range,
    columns: &str,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StorageError> {
    let q = range.sql('?', 1);
    let sql = format!(
        "SELECT {columns} FROM kv WHERE ns = ?1{}{}",
        q.conditions, q.tail
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&ns];
    params.extend(q.keys.iter().map(|k| k as &dyn rusqlite::ToSql));
    params.push(&q.limit);
    let rows = stmt.query_map(params.as_slice(), row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn delete_range_in(conn: &Connection, ns: &str, range: &Range) -> Result<u64, StorageError> {
    let q = range.sql('?', 1);
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&ns];
    params.extend(q.keys.iter().map(|k| k as &dyn rusqlite::ToSql));
    // Bundled SQLite has no `DELETE ... LIMIT`: a limited delete picks its keys in a subquery.
    let sql = if range.limit.is_some() {
        params.push(&q.limit);
        format!(
            "DELETE FROM kv WHERE ns = ?1 AND key IN (SELECT key FROM kv WHERE ns = ?1{}{})",
            q.conditions, q.tail
        )
    } else {
        format!("DELETE FROM kv WHERE ns = ?1{}", q.conditions)
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let n = stmt.execute(params.as_slice())?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Apply `capability`'s unrecorded migrations on the writer connection, each in its own
/// transaction with its record.
fn migrate_capability(
    conn: &mut Connection,
    capability: &str,
    migrations: &[Migration],
) -> Result<(), StorageError> {
    for m in migrations {
        let fail = |e: rusqlite::Error| StorageError::Migration {
            capability: capability.to_owned(),
            version: m.version,
            reason: e.to_string(),
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let applied = tx
            .query_row(
                "SELECT 1 FROM opshelf_capability_schema WHERE capability = ?1 AND version = ?2",
                params![capability, m.version],
                |_| Ok(()),
            )
            .optional()
            .map_err(fail)?
            .is_some();
        if applied {
            continue;
        }
        // Dropping `tx` on an error rolls the migration back.
        tx.execute_batch(m.sqlite).map_err(fail)?;
        tx.execute(
            "INSERT INTO opshelf_capability_schema (capability, version, description)
             VALUES (?1, ?2, ?3)",
            params![capability, m.version, m.description],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(
            capability,
            version = m.version,
            description = m.description,
            backend = "sqlite",
            "applied capability migration"
        );
    }
    Ok(())
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.read(move |c| get_value(c, &ns, &key)).await
    }

    async fn put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let (ns, key, value) = (ns.to_owned(), key.to_owned(), value.to_vec());
        self.write(move |c| put_value(c, &ns, &key, &value)).await
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool, StorageError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.write(move |c| delete_value(c, &ns, &key)).await
    }

    async fn list(&self, ns: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let (ns, prefix) = (ns.to_owned(), prefix.to_owned());
        self.read(move |c| select_range(c, &ns, &Range::prefix(&prefix), "key", |r| r.get(0)))
            .await
    }

    async fn range(&self, ns: &str, range: &Range) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let (ns, range) = (ns.to_owned(), range.clone());
        self.read(move |c| {
            select_range(c, &ns, &range, "key, value", |r| Ok((r.get(0)?, r.get(1)?)))
        })
        .await
    }

    async fn delete_range(&self, ns: &str, range: &Range) -> Result<u64, StorageError> {
        let (ns, range) = (ns.to_owned(), range.clone());
        self.write(move |c| delete_range_in(c, &ns, &range)).await
    }

    async fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let ops = vec![
            TxnOp::Check {
                key: key.to_owned(),
                expected: expected.map(<[u8]>::to_vec),
            },
            match new {
                Some(v) => TxnOp::Put {
                    key: key.to_owned(),
                    value: v.to_vec(),
                },
                None => TxnOp::Delete {
                    key: key.to_owned(),
                },
            },
        ];
        self.transaction(ns, &ops).await
    }

    async fn transaction(&self, ns: &str, ops: &[TxnOp]) -> Result<bool, StorageError> {
        let (ns, ops) = (ns.to_owned(), ops.to_vec());
        // Runs inside the group transaction, in its own savepoint: a failed check returns
        // before anything is written.
        self.write(move |c| {
            for op in &ops {
                if let TxnOp::Check { key, expected } = op
                    && get_value(c, &ns, key)? != *expected
                {
                    return Ok(false);
                }
            }
            for op in &ops {
                match op {
                    TxnOp::Put { key, value } => put_value(c, &ns, key, value)?,
                    TxnOp::Delete { key } => {
                        delete_value(c, &ns, key)?;
                    }
                    TxnOp::Check { .. } => {}
                }
            }
            Ok(true)
        })
        .await
    }

    async fn migrate(
        &self,
        capability: &str,
        migrations: &[Migration],
    ) -> Result<(), StorageError> {
        check_migrations(capability, migrations)?;
        let (capability, migrations) = (capability.to_owned(), migrations.to_vec());
        let inner = Arc::clone(&self.inner);
        // Outside the group commit: DDL gets its own transactions on the writer, which
        // queued writes wait for (they are flushed by whoever takes the writer next).
        tokio::task::spawn_blocking(move || {
            let mut guard = inner
                .writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let conn = guard.as_mut().ok_or(StorageError::Closed)?;
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            migrate_capability(conn, &capability, &migrations)
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }

    async fn close(&self) -> Result<(), StorageError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            inner
                .readers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            let conn = inner
                .writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(conn) = conn {
                if inner.path.is_some() {
                    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
                }
                conn.close().map_err(|(_, e)| e)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that panics inside a group is lost (it was never acknowledged) and leaves the
    /// writer usable: the next write starts a fresh transaction.
    #[tokio::test]
    async fn a_panicking_write_does_not_wedge_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("t.sqlite3"), SyncMode::Full).unwrap();
        let r = s
            .write(|c| -> Result<(), StorageError> {
                put_value(c, "ns", "half", b"written before the panic")?;
                panic!("a bug in a write");
            })
            .await;
        assert!(r.is_err());
        s.put("ns", "after", b"ok").await.unwrap();
        assert_eq!(
            s.get("ns", "after").await.unwrap().as_deref(),
            Some(&b"ok"[..])
        );
        assert_eq!(s.get("ns", "half").await.unwrap(), None);
    }
}
