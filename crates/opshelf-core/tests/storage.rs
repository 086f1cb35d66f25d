//! The storage conformance suite, run against every backend (quickwit's
//! `metastore_test_suite!` pattern). PostgreSQL is the machine's server at 127.0.0.1:5432
//! (database `test`, trust auth), or `OPSHELF_TEST_POSTGRES_URL`. When it is unreachable
//! the PostgreSQL tests FAIL loudly, unless `OPSHELF_SKIP_POSTGRES=1` says to skip them.

use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;

use opshelf_core::StorageError;
use opshelf_core::storage::postgres::PostgresStorage;
use opshelf_core::storage::sqlite::SqliteStorage;
use opshelf_core::storage::{DynStorage, Migration, Range, StorageView, SyncMode, TxnOp};

fn pg_url() -> String {
    std::env::var("OPSHELF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A unique namespace per test, so tests share one database safely.
fn ns(name: &str) -> String {
    format!("t-{name}-{}", opshelf_core::token::new_salt())
}

async fn sqlite() -> (DynStorage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(&dir.path().join("s.sqlite3"), SyncMode::Full).unwrap();
    (Arc::new(s), dir)
}

async fn postgres() -> Option<(DynStorage, ())> {
    if std::env::var("OPSHELF_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("SKIPPING PostgreSQL storage tests (OPSHELF_SKIP_POSTGRES=1)");
        return None;
    }
    match PostgresStorage::connect(&pg_url(), 4).await {
        Ok(s) => Some((Arc::new(s), ())),
        Err(e) => panic!(
            "PostgreSQL at {} is unreachable ({e}); start it or set OPSHELF_SKIP_POSTGRES=1",
            pg_url()
        ),
    }
}

/// Opens more handles on the same store, like a restart or a second node.
enum Backend {
    Sqlite(PathBuf),
    Postgres,
}

impl Backend {
    async fn open(&self) -> DynStorage {
        match self {
            Self::Sqlite(path) => Arc::new(SqliteStorage::open(path, SyncMode::Full).unwrap()),
            Self::Postgres => Arc::new(PostgresStorage::connect(&pg_url(), 4).await.unwrap()),
        }
    }
}

/// `storage_suite!(tests on one handle; tests given a `Backend` that reopens)`.
macro_rules! storage_suite {
    ($($test:ident),* $(,)?; $($reopen:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (s, _dir) = super::sqlite().await;
                    super::$test(s).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $reopen() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$reopen(super::Backend::Sqlite(dir.path().join("s.sqlite3"))).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some((s, ())) = super::postgres().await {
                        super::$test(s).await;
                    }
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $reopen() {
                    if super::postgres().await.is_some() {
                        super::$reopen(super::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

storage_suite!(
    get_put_delete,
    namespaces_are_separate,
    list_and_scan_by_prefix_in_byte_order,
    compare_and_swap_semantics,
    transaction_is_all_or_nothing,
    concurrent_cas_increments_lose_nothing,
    concurrent_writes_each_apply_or_not_on_their_own,
    binary_and_unicode_values_round_trip,
    range_bounds_order_and_limit,
    range_stays_in_its_namespace,
    delete_range_removes_what_range_covers,
    storage_view_round_trip,
    migration_list_must_increase;
    migrations_apply_once_and_skip_on_reopen,
    failing_migration_is_rolled_back_and_not_recorded,
    capabilities_with_the_same_versions_are_independent,
    concurrent_migrations_run_once,
);

async fn get_put_delete(s: DynStorage) {
    let n = ns("gpd");
    assert_eq!(s.get(&n, "a").await.unwrap(), None);
    s.put(&n, "a", b"1").await.unwrap();
    assert_eq!(s.get(&n, "a").await.unwrap().as_deref(), Some(&b"1"[..]));
    s.put(&n, "a", b"2").await.unwrap();
    assert_eq!(s.get(&n, "a").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert!(s.delete(&n, "a").await.unwrap());
    assert!(!s.delete(&n, "a").await.unwrap());
    assert_eq!(s.get(&n, "a").await.unwrap(), None);
    s.ping().await.unwrap();
}

async fn namespaces_are_separate(s: DynStorage) {
    let (a, b) = (ns("a"), ns("b"));
    s.put(&a, "k", b"in a").await.unwrap();
    assert_eq!(s.get(&b, "k").await.unwrap(), None);
    assert!(s.list(&b, "").await.unwrap().is_empty());
    assert!(!s.delete(&b, "k").await.unwrap());
    assert_eq!(s.get(&a, "k").await.unwrap().as_deref(), Some(&b"in a"[..]));
}

async fn list_and_scan_by_prefix_in_byte_order(s: DynStorage) {
    let n = ns("list");
    let keys = [
        "x/b", "x/a", "x/a/deep", "x0", "x", "y/1", "x/\u{e9}", "x/Z", "x/%",
    ];
    for k in keys {
        s.put(&n, k, k.as_bytes()).await.unwrap();
    }
    let listed = s.list(&n, "x/").await.unwrap();
    assert_eq!(
        listed,
        vec!["x/%", "x/Z", "x/a", "x/a/deep", "x/b", "x/\u{e9}"]
    );
    let mut all: Vec<&str> = keys.to_vec();
    all.sort_unstable();
    assert_eq!(s.list(&n, "").await.unwrap(), all);
    let scanned = s.scan(&n, "x/a").await.unwrap();
    assert_eq!(
        scanned,
        vec![
            ("x/a".to_owned(), b"x/a".to_vec()),
            ("x/a/deep".to_owned(), b"x/a/deep".to_vec())
        ]
    );
    // LIKE-style wildcards in a prefix are literal.
    assert_eq!(s.list(&n, "x/%").await.unwrap(), vec!["x/%"]);
    assert!(s.list(&n, "nothing").await.unwrap().is_empty());
}

async fn compare_and_swap_semantics(s: DynStorage) {
    let n = ns("cas");
    // Create only if absent.
    assert!(s.compare_and_swap(&n, "k", None, Some(b"1")).await.unwrap());
    assert!(!s.compare_and_swap(&n, "k", None, Some(b"x")).await.unwrap());
    // Replace only if it holds the expected value.
    assert!(
        !s.compare_and_swap(&n, "k", Some(b"0"), Some(b"2"))
            .await
            .unwrap()
    );
    assert!(
        s.compare_and_swap(&n, "k", Some(b"1"), Some(b"2"))
            .await
            .unwrap()
    );
    assert_eq!(s.get(&n, "k").await.unwrap().as_deref(), Some(&b"2"[..]));
    // Delete only if it holds the expected value.
    assert!(!s.compare_and_swap(&n, "k", Some(b"1"), None).await.unwrap());
    assert!(s.compare_and_swap(&n, "k", Some(b"2"), None).await.unwrap());
    assert_eq!(s.get(&n, "k").await.unwrap(), None);
}

async fn transaction_is_all_or_nothing(s: DynStorage) {
    let n = ns("txn");
    s.put(&n, "keep", b"v").await.unwrap();
    let ops = vec![
        TxnOp::Put {
            key: "a".into(),
            value: b"1".to_vec(),
        },
        TxnOp::Delete { key: "keep".into() },
        TxnOp::Check {
            key: "keep".into(),
            expected: Some(b"wrong".to_vec()),
        },
    ];
    assert!(!s.transaction(&n, &ops).await.unwrap());
    assert_eq!(
        s.get(&n, "a").await.unwrap(),
        None,
        "nothing of a failed transaction is written"
    );
    assert_eq!(s.get(&n, "keep").await.unwrap().as_deref(), Some(&b"v"[..]));

    let ops = vec![
        TxnOp::Check {
            key: "keep".into(),
            expected: Some(b"v".to_vec()),
        },
        TxnOp::Check {
            key: "absent".into(),
            expected: None,
        },
        TxnOp::Put {
            key: "a".into(),
            value: b"1".to_vec(),
        },
        TxnOp::Put {
            key: "b".into(),
            value: b"2".to_vec(),
        },
        TxnOp::Delete { key: "keep".into() },
    ];
    assert!(s.transaction(&n, &ops).await.unwrap());
    assert_eq!(s.list(&n, "").await.unwrap(), vec!["a", "b"]);
}

async fn concurrent_cas_increments_lose_nothing(s: DynStorage) {
    let n = Arc::new(ns("race"));
    s.put(&n, "counter", b"0").await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (s, n) = (Arc::clone(&s), Arc::clone(&n));
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let cur = s.get(&n, "counter").await.unwrap().unwrap();
                    let v: u32 = std::str::from_utf8(&cur).unwrap().parse().unwrap();
                    let next = (v + 1).to_string();
                    if s.compare_and_swap(&n, "counter", Some(&cur), Some(next.as_bytes()))
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        s.get(&n, "counter").await.unwrap().as_deref(),
        Some(&b"40"[..])
    );
}

/// Many writers at once (the SQLite backend commits them in groups): every acknowledged put
/// is there, and a transaction whose check fails writes nothing even when it shares a group
/// with writes that succeed.
async fn concurrent_writes_each_apply_or_not_on_their_own(s: DynStorage) {
    let n = Arc::new(ns("group"));
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (s, n) = (Arc::clone(&s), Arc::clone(&n));
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                s.put(&n, &format!("ok/{i:02}"), b"v").await.unwrap();
                true
            } else {
                let ops = [
                    TxnOp::Put {
                        key: format!("never/{i:02}"),
                        value: b"x".to_vec(),
                    },
                    TxnOp::Check {
                        key: "absent-guard".to_owned(),
                        expected: Some(b"nope".to_vec()),
                    },
                ];
                s.transaction(&n, &ops).await.unwrap()
            }
        }));
    }
    let mut applied = 0;
    for t in tasks {
        if t.await.unwrap() {
            applied += 1;
        }
    }
    assert_eq!(applied, 16);
    assert_eq!(s.list(&n, "ok/").await.unwrap().len(), 16);
    assert!(s.list(&n, "never/").await.unwrap().is_empty());
}

async fn binary_and_unicode_values_round_trip(s: DynStorage) {
    let n = ns("bin");
    let value: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    s.put(&n, "π/ключ/🔑", &value).await.unwrap();
    assert_eq!(s.get(&n, "π/ключ/🔑").await.unwrap(), Some(value));
    s.put(&n, "empty", b"").await.unwrap();
    assert_eq!(s.get(&n, "empty").await.unwrap(), Some(Vec::new()));
}

fn keys(rows: &[(String, Vec<u8>)]) -> Vec<&str> {
    rows.iter().map(|(k, _)| k.as_str()).collect()
}

async fn range_bounds_order_and_limit(s: DynStorage) {
    let n = ns("range");
    for k in ["a", "b", "b/1", "b/2", "c", "d", "\u{e9}"] {
        s.put(&n, k, k.as_bytes()).await.unwrap();
    }
    let all = s.range(&n, &Range::all()).await.unwrap();
    assert_eq!(keys(&all), ["a", "b", "b/1", "b/2", "c", "d", "\u{e9}"]);
    assert_eq!(all[0].1, b"a", "values come with their keys");
    let rev = s.range(&n, &Range::all().reverse()).await.unwrap();
    assert_eq!(keys(&rev), ["\u{e9}", "d", "c", "b/2", "b/1", "b", "a"]);
    // Limits count from the start, or from the end when reversed.
    let first = s.range(&n, &Range::all().limit(2)).await.unwrap();
    assert_eq!(keys(&first), ["a", "b"]);
    let last = s.range(&n, &Range::all().reverse().limit(2)).await.unwrap();
    assert_eq!(keys(&last), ["\u{e9}", "d"]);
    assert!(
        s.range(&n, &Range::all().limit(0))
            .await
            .unwrap()
            .is_empty()
    );
    // Inclusive and exclusive bounds, on either side.
    let r = Range::all().start_at("b").end_at("c");
    assert_eq!(
        keys(&s.range(&n, &r).await.unwrap()),
        ["b", "b/1", "b/2", "c"]
    );
    let r = Range::all().start_after("b").end_before("c");
    assert_eq!(keys(&s.range(&n, &r).await.unwrap()), ["b/1", "b/2"]);
    let r = Range::all().start_after("b/2");
    assert_eq!(keys(&s.range(&n, &r).await.unwrap()), ["c", "d", "\u{e9}"]);
    let r = Range::all().end_before("b").reverse();
    assert_eq!(keys(&s.range(&n, &r).await.unwrap()), ["a"]);
    let r = Range {
        start: Bound::Excluded("a".into()),
        end: Bound::Included("b/1".into()),
        limit: Some(10),
        reverse: true,
    };
    assert_eq!(keys(&s.range(&n, &r).await.unwrap()), ["b/1", "b"]);
    // Bounds need not be stored keys; an inverted range is empty.
    let r = Range::all().start_at("bz").end_before("cz");
    assert_eq!(keys(&s.range(&n, &r).await.unwrap()), ["c"]);
    let r = Range::all().start_at("d").end_at("a");
    assert!(s.range(&n, &r).await.unwrap().is_empty());
    // Prefixes, paged backwards the way an event log reads its newest entries.
    let r = Range::prefix("b/").reverse().limit(1);
    assert_eq!(keys(&s.range(&n, &r).await.unwrap()), ["b/2"]);
    let r = Range::prefix("b/").end_before("b/2").reverse().limit(1);
    assert_eq!(keys(&s.range(&n, &r).await.unwrap()), ["b/1"]);
    let r = Range::prefix("b/").end_before("b/1").reverse().limit(1);
    assert!(s.range(&n, &r).await.unwrap().is_empty());
    assert_eq!(
        s.range(&n, &Range::prefix("b")).await.unwrap(),
        s.scan(&n, "b").await.unwrap()
    );
    // LIKE wildcards and the empty prefix are nothing special.
    assert!(s.range(&n, &Range::prefix("%")).await.unwrap().is_empty());
    assert_eq!(s.range(&n, &Range::prefix("")).await.unwrap().len(), 7);
}

async fn range_stays_in_its_namespace(s: DynStorage) {
    let (a, b) = (ns("ra"), ns("rb"));
    for k in ["k1", "k2", "k3"] {
        s.put(&a, k, b"a").await.unwrap();
        s.put(&b, k, b"b").await.unwrap();
    }
    let got = s.range(&a, &Range::all().reverse()).await.unwrap();
    assert_eq!(keys(&got), ["k3", "k2", "k1"]);
    assert!(got.iter().all(|(_, v)| v == b"a"));
    assert_eq!(s.delete_range(&a, &Range::all()).await.unwrap(), 3);
    assert!(s.range(&a, &Range::all()).await.unwrap().is_empty());
    let other = s.range(&b, &Range::all()).await.unwrap();
    assert_eq!(
        keys(&other),
        ["k1", "k2", "k3"],
        "another namespace is untouched"
    );
}

async fn delete_range_removes_what_range_covers(s: DynStorage) {
    let n = ns("delrange");
    for i in 0..10 {
        s.put(&n, &format!("e/{i:02}"), b"v").await.unwrap();
    }
    s.put(&n, "f", b"v").await.unwrap();
    // Retention: drop the oldest in bounded batches.
    let oldest = Range::prefix("e/").limit(3);
    assert_eq!(s.delete_range(&n, &oldest).await.unwrap(), 3);
    assert_eq!(s.list(&n, "e/").await.unwrap()[0], "e/03");
    // A reversed limit removes from the end.
    let newest = Range::prefix("e/").reverse().limit(2);
    assert_eq!(s.delete_range(&n, &newest).await.unwrap(), 2);
    assert_eq!(s.list(&n, "e/").await.unwrap().last().unwrap(), "e/07");
    // Bounds as in `range`.
    let middle = Range::all().start_after("e/03").end_at("e/05");
    assert_eq!(s.delete_range(&n, &middle).await.unwrap(), 2);
    assert_eq!(s.list(&n, "").await.unwrap(), ["e/03", "e/06", "e/07", "f"]);
    assert_eq!(
        s.delete_range(&n, &Range::prefix("e/").limit(0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.delete_range(&n, &Range::prefix("nothing")).await.unwrap(),
        0
    );
    assert_eq!(s.delete_range(&n, &Range::prefix("e/")).await.unwrap(), 3);
    assert_eq!(s.list(&n, "").await.unwrap(), ["f"]);
}

async fn storage_view_round_trip(s: DynStorage) {
    let name: &'static str = Box::leak(ns("view").into_boxed_str());
    let v = StorageView::new(Arc::clone(&s), name);
    assert_eq!(v.namespace(), name);
    assert_eq!(v.inner().backend(), s.backend());
    v.put("a/1", b"1").await.unwrap();
    v.put("a/2", b"2").await.unwrap();
    assert_eq!(
        s.get(name, "a/1").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(v.get("a/2").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(v.list("a/").await.unwrap(), ["a/1", "a/2"]);
    assert_eq!(v.scan("a/").await.unwrap().len(), 2);
    let newest = v
        .range(&Range::prefix("a/").reverse().limit(1))
        .await
        .unwrap();
    assert_eq!(keys(&newest), ["a/2"]);
    assert!(
        v.compare_and_swap("a/1", Some(b"1"), Some(b"x"))
            .await
            .unwrap()
    );
    assert!(
        !v.compare_and_swap("a/1", Some(b"1"), Some(b"y"))
            .await
            .unwrap()
    );
    let ops = [
        TxnOp::Check {
            key: "a/1".into(),
            expected: Some(b"x".to_vec()),
        },
        TxnOp::Put {
            key: "b".into(),
            value: b"b".to_vec(),
        },
    ];
    assert!(v.transaction(&ops).await.unwrap());
    assert_eq!(v.delete_range(&Range::prefix("a/")).await.unwrap(), 2);
    assert!(v.delete("b").await.unwrap());
    assert!(v.list("").await.unwrap().is_empty());
    v.ping().await.unwrap();
    let copy = v.clone();
    assert_eq!(copy.namespace(), name);
}

/// A table name nobody else uses (the PostgreSQL database is shared by every run).
fn table(name: &str) -> String {
    format!("t_{name}_{}", opshelf_core::token::new_salt())
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn create(t: &str) -> &'static str {
    leak(format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY)"))
}

fn migration(version: u32, sql: &'static str) -> Migration {
    Migration {
        version,
        description: "test",
        sqlite: sql,
        postgres: sql,
    }
}

/// Drop the tables a test created, through a migration (the only SQL a capability may run).
async fn drop_tables(s: &DynStorage, capability: &str, version: u32, tables: &[&str]) {
    let sql = leak(
        tables
            .iter()
            .map(|t| format!("DROP TABLE {t};"))
            .collect::<String>(),
    );
    let mut all: Vec<Migration> = Vec::new();
    for v in 1..version {
        // Already applied: only their versions matter.
        all.push(migration(v, "SELECT 1"));
    }
    all.push(migration(version, sql));
    s.migrate(capability, &all).await.unwrap();
}

fn migration_error(e: StorageError) -> (String, u32, String) {
    match e {
        StorageError::Migration {
            capability,
            version,
            reason,
        } => (capability, version, reason),
        other => panic!("expected a migration error, got {other}"),
    }
}

async fn migration_list_must_increase(s: DynStorage) {
    let cap = ns("order");
    let t = table("order");
    let bad = [migration(2, create(&t)), migration(1, "SELECT 1")];
    let (c, v, reason) = migration_error(s.migrate(&cap, &bad).await.unwrap_err());
    assert_eq!((c.as_str(), v), (cap.as_str(), 1));
    assert!(reason.contains("increase"), "{reason}");
    let dup = [migration(1, "SELECT 1"), migration(1, "SELECT 1")];
    assert!(s.migrate(&cap, &dup).await.is_err());
    let zero = [migration(0, "SELECT 1")];
    assert!(s.migrate(&cap, &zero).await.is_err());
    assert!(s.migrate("", &[]).await.is_err());
    assert!(
        s.migrate("core", &[]).await.is_err(),
        "the core's name is taken"
    );
    // Nothing of a rejected list ran: version 2 still can.
    s.migrate(&cap, &[migration(2, create(&t))]).await.unwrap();
    drop_tables(&s, &cap, 3, &[&t]).await;
}

async fn migrations_apply_once_and_skip_on_reopen(b: Backend) {
    let cap = ns("once");
    let (t1, t2) = (table("once1"), table("once2"));
    let list = vec![migration(1, create(&t1)), migration(2, create(&t2))];
    let s = b.open().await;
    s.migrate(&cap, &list).await.unwrap();
    // Again on the same handle and after a restart: skipped (re-running the CREATE would fail).
    s.migrate(&cap, &list).await.unwrap();
    s.close().await.unwrap();
    let s = b.open().await;
    s.migrate(&cap, &list).await.unwrap();
    // They did run: creating the same table again fails, naming the capability and version.
    let mut more = list.clone();
    more.push(migration(3, create(&t1)));
    let (c, v, reason) = migration_error(s.migrate(&cap, &more).await.unwrap_err());
    assert_eq!((c.as_str(), v), (cap.as_str(), 3));
    assert!(
        reason.contains(&t1),
        "the reason names the problem: {reason}"
    );
    // The key/value table is unaffected.
    s.put(&cap, "k", b"v").await.unwrap();
    drop_tables(&s, &cap, 3, &[&t1, &t2]).await;
}

async fn failing_migration_is_rolled_back_and_not_recorded(b: Backend) {
    let cap = ns("fail");
    let (t1, t2) = (table("fail1"), table("fail2"));
    let s = b.open().await;
    // Version 2 creates t2, then fails: t2 must be gone and version 2 unrecorded.
    let failing = leak(format!("{}; {}", create(&t2), create(&t1)));
    let list = [migration(1, create(&t1)), migration(2, failing)];
    let (c, v, _) = migration_error(s.migrate(&cap, &list).await.unwrap_err());
    assert_eq!((c.as_str(), v), (cap.as_str(), 2));
    // Version 1 stayed; a fixed version 2 runs (t2 was rolled back, else CREATE fails) ...
    let s = {
        s.close().await.unwrap();
        b.open().await
    };
    let fixed = [migration(1, create(&t1)), migration(2, create(&t2))];
    s.migrate(&cap, &fixed).await.unwrap();
    // ... and really ran this time (version 2 had not been recorded, so it was not skipped).
    let check = [
        migration(1, create(&t1)),
        migration(2, create(&t2)),
        migration(3, create(&t2)),
    ];
    let (_, v, _) = migration_error(s.migrate(&cap, &check).await.unwrap_err());
    assert_eq!(v, 3);
    // A failure stops the list: version 4 after a failing 3 is not tried.
    let t4 = table("fail4");
    let stop = [
        migration(1, "SELECT 1"),
        migration(2, "SELECT 1"),
        migration(3, "THIS IS NOT SQL"),
        migration(4, create(&t4)),
    ];
    let (_, v, _) = migration_error(s.migrate(&cap, &stop).await.unwrap_err());
    assert_eq!(v, 3);
    let t4_later = [migration(3, create(&t4))];
    s.migrate(&cap, &t4_later).await.unwrap();
    drop_tables(&s, &cap, 4, &[&t1, &t2, &t4]).await;
}

async fn capabilities_with_the_same_versions_are_independent(b: Backend) {
    let (a, c) = (ns("capa"), ns("capb"));
    let (ta, tc) = (table("capa"), table("capb"));
    let s = b.open().await;
    s.migrate(&a, &[migration(1, create(&ta))]).await.unwrap();
    // `c`'s version 1 is not `a`'s: it runs.
    s.migrate(&c, &[migration(1, create(&tc))]).await.unwrap();
    let again = [migration(1, create(&tc)), migration(2, create(&tc))];
    let (name, v, _) = migration_error(s.migrate(&c, &again).await.unwrap_err());
    assert_eq!((name.as_str(), v), (c.as_str(), 2));
    // And `a` did not see `c`'s failure.
    s.migrate(&a, &[migration(1, create(&ta))]).await.unwrap();
    drop_tables(&s, &a, 2, &[&ta]).await;
    drop_tables(&s, &c, 2, &[&tc]).await;
}

/// Two nodes starting at once: each version runs exactly once (the second would fail on
/// the existing table if it ran too).
async fn concurrent_migrations_run_once(b: Backend) {
    let cap = ns("race");
    let (t1, t2) = (table("race1"), table("race2"));
    let list = vec![migration(1, create(&t1)), migration(2, create(&t2))];
    let (s1, s2) = (b.open().await, b.open().await);
    let (l1, l2) = (list.clone(), list.clone());
    let (c1, c2) = (cap.clone(), cap.clone());
    let one = tokio::spawn(async move { s1.migrate(&c1, &l1).await });
    let two = tokio::spawn(async move { s2.migrate(&c2, &l2).await });
    one.await.unwrap().unwrap();
    two.await.unwrap().unwrap();
    let s = b.open().await;
    drop_tables(&s, &cap, 3, &[&t1, &t2]).await;
}

#[tokio::test]
async fn sqlite_survives_reopen_and_close_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    {
        let s = SqliteStorage::open(&path, SyncMode::Full).unwrap();
        use opshelf_core::Storage;
        s.put("n", "k", b"v").await.unwrap();
        s.close().await.unwrap();
        assert!(matches!(
            s.get("n", "k").await,
            Err(opshelf_core::StorageError::Closed)
        ));
    }
    let s = SqliteStorage::open(&path, SyncMode::Full).unwrap();
    use opshelf_core::Storage;
    assert_eq!(s.get("n", "k").await.unwrap().as_deref(), Some(&b"v"[..]));
}
