//! The PostgreSQL backend, for users who run several opshelf nodes against one database.
//!
//! Reads go straight to the pool. Every write runs in a transaction that first takes a
//! transaction-scoped advisory lock on its namespace, so compare-and-swap and checked
//! transactions are serial per namespace across every node, without SERIALIZABLE retries.
//! Keys use the "C" collation so ordering and prefix ranges are bytewise, as in SQLite.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use super::{CORE_CAPABILITY, Migration, Range, Storage, StorageError, TxnOp, check_migrations};

/// Schema migrations, applied in order at connect; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the key/value table every capability uses.
    "CREATE TABLE opshelf_kv (
        ns    TEXT COLLATE \"C\" NOT NULL,
        key   TEXT COLLATE \"C\" NOT NULL,
        value BYTEA NOT NULL,
        PRIMARY KEY (ns, key)
    )",
    // 2: which capability-owned migrations ran (`Storage::migrate`).
    "CREATE TABLE opshelf_capability_schema (
        capability  TEXT NOT NULL,
        version     INTEGER NOT NULL,
        description TEXT NOT NULL,
        applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (capability, version)
    )",
];

/// A fixed key for the advisory lock that serialises migrations across nodes.
const MIGRATION_LOCK: i64 = 0x006f_7073_6865_6c66; // "opshelf" in ASCII

/// The first half of the two-key advisory lock that serialises one capability's migrations
/// (`pg_advisory_xact_lock(CAPABILITY_MIGRATION_LOCK, hashtext(capability))`); two-key locks
/// never collide with the one-key namespace and core-migration locks.
const CAPABILITY_MIGRATION_LOCK: i32 = 0x6f70_736d; // "opsm"

/// The PostgreSQL backend.
pub struct PostgresStorage {
    pool: Pool,
}

fn pool_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Pool(e.to_string())
}

impl PostgresStorage {
    /// Connect to `url`, check the server answers, and migrate the schema.
    ///
    /// # Errors
    /// When the URL is malformed, the server cannot be reached or a migration fails.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StorageError> {
        let pg_config: tokio_postgres::Config =
            url.parse()
                .map_err(|e: tokio_postgres::Error| StorageError::Open {
                    path: redact(url),
                    reason: e.to_string(),
                })?;
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(pool_err)?;
        let storage = Self { pool };
        storage.migrate().await.map_err(|e| match e {
            StorageError::Pool(reason) => StorageError::Open {
                path: redact(url),
                reason,
            },
            other => other,
        })?;
        Ok(storage)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS opshelf_schema (
                version    INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let current: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM opshelf_schema", &[])
            .await?
            .get(0);
        let current = usize::try_from(current).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
            let fail = |e: tokio_postgres::Error| StorageError::Migration {
                capability: CORE_CAPABILITY.to_owned(),
                version: version.unsigned_abs(),
                reason: db_reason(&e),
            };
            tx.batch_execute(sql).await.map_err(fail)?;
            tx.execute(
                "INSERT INTO opshelf_schema (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(fail)?;
            tracing::info!(version, backend = "postgres", "applied schema migration");
        }
        tx.commit().await?;
        Ok(())
    }

    /// The rows of `range` in namespace `ns`, selecting `columns`. Keys are `COLLATE "C"`, so
    /// bounds and order are bytewise; the primary key serves the scan in either direction.
    async fn select_range(
        &self,
        ns: &str,
        range: &Range,
        columns: &str,
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let q = range.sql('$', 1);
        let sql = format!(
            "SELECT {columns} FROM opshelf_kv WHERE ns = $1{}{}",
            q.conditions, q.tail
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&ns];
        params.extend(q.keys.iter().map(|k| k as &(dyn ToSql + Sync)));
        params.push(&q.limit);
        let stmt = client.prepare_cached(&sql).await?;
        Ok(client.query(&stmt, &params).await?)
    }

    /// Apply one migration of `capability` unless it is recorded, under the capability's
    /// advisory lock, in one transaction with its record.
    async fn migrate_one(&self, capability: &str, m: &Migration) -> Result<(), StorageError> {
        let fail = |e: tokio_postgres::Error| StorageError::Migration {
            capability: capability.to_owned(),
            version: m.version,
            reason: db_reason(&e),
        };
        let version = i32::try_from(m.version).map_err(|_| StorageError::Migration {
            capability: capability.to_owned(),
            version: m.version,
            reason: "version too large for PostgreSQL's INTEGER".to_owned(),
        })?;
        let mut client = self.pool.get().await.map_err(pool_err)?;
        // Dropping `tx` on an error rolls the migration back.
        let tx = client.transaction().await.map_err(fail)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&CAPABILITY_MIGRATION_LOCK, &capability],
        )
        .await
        .map_err(fail)?;
        let applied = tx
            .query_opt(
                "SELECT 1 FROM opshelf_capability_schema WHERE capability = $1 AND version = $2",
                &[&capability, &version],
            )
            .await
            .map_err(fail)?
            .is_some();
        if applied {
            return Ok(());
        }
        tx.batch_execute(m.postgres).await.map_err(fail)?;
        tx.execute(
            "INSERT INTO opshelf_capability_schema (capability, version, description)
             VALUES ($1, $2, $3)",
            &[&capability, &version, &m.description],
        )
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(
            capability,
            version = m.version,
            description = m.description,
            backend = "postgres",
            "applied capability migration"
        );
        Ok(())
    }
}

/// The server's message for a failed statement (tokio-postgres's own `Display` says only
/// "db error").
fn db_reason(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), ToString::to_string)
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

async fn lock_namespace(
    tx: &deadpool_postgres::Transaction<'_>,
    ns: &str,
) -> Result<(), StorageError> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&ns])
        .await?;
    Ok(())
}

async fn get_in(
    tx: &deadpool_postgres::Transaction<'_>,
    ns: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    let row = tx
        .query_opt(
            "SELECT value FROM opshelf_kv WHERE ns = $1 AND key = $2",
            &[&ns, &key],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

const UPSERT: &str = "INSERT INTO opshelf_kv (ns, key, value) VALUES ($1, $2, $3)
    ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value";
const DELETE: &str = "DELETE FROM opshelf_kv WHERE ns = $1 AND key = $2";

#[async_trait]
impl Storage for PostgresStorage {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let stmt = client
            .prepare_cached("SELECT value FROM opshelf_kv WHERE ns = $1 AND key = $2")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&ns, &key])
            .await?
            .map(|r| r.get(0)))
    }

    async fn put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let ops = [TxnOp::Put {
            key: key.to_owned(),
            value: value.to_vec(),
        }];
        self.transaction(ns, &ops).await.map(|_| ())
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool, StorageError> {
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await?;
        lock_namespace(&tx, ns).await?;
        let n = tx.execute(DELETE, &[&ns, &key]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn list(&self, ns: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .select_range(ns, &Range::prefix(prefix), "key")
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn range(&self, ns: &str, range: &Range) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        Ok(self
            .select_range(ns, range, "key, value")
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn delete_range(&self, ns: &str, range: &Range) -> Result<u64, StorageError> {
        let q = range.sql('$', 1);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&ns];
        params.extend(q.keys.iter().map(|k| k as &(dyn ToSql + Sync)));
        // PostgreSQL has no `DELETE ... LIMIT`: a limited delete picks its keys in a subquery.
        let sql = if range.limit.is_some() {
            params.push(&q.limit);
            format!(
                "DELETE FROM opshelf_kv WHERE ns = $1 AND key IN \
                 (SELECT key FROM opshelf_kv WHERE ns = $1{}{})",
                q.conditions, q.tail
            )
        } else {
            format!("DELETE FROM opshelf_kv WHERE ns = $1{}", q.conditions)
        };
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await?;
        lock_namespace(&tx, ns).await?;
        let n = tx.execute(&sql, &params).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let ops = [
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
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await?;
        lock_namespace(&tx, ns).await?;
        for op in ops {
            if let TxnOp::Check { key, expected } = op
                && get_in(&tx, ns, key).await? != *expected
            {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        for op in ops {
            match op {
                TxnOp::Put { key, value } => {
                    let params: [&(dyn ToSql + Sync); 3] = [&ns, key, value];
                    tx.execute(UPSERT, &params).await?;
                }
                TxnOp::Delete { key } => {
                    tx.execute(DELETE, &[&ns, key]).await?;
                }
                TxnOp::Check { .. } => {}
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn migrate(
        &self,
        capability: &str,
        migrations: &[Migration],
    ) -> Result<(), StorageError> {
        check_migrations(capability, migrations)?;
        for m in migrations {
            self.migrate_one(capability, m).await?;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StorageError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        client.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn close(&self) -> Result<(), StorageError> {
        self.pool.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_the_password() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u@h/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
