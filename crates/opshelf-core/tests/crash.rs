//! A write acknowledged by storage survives `kill -9`.
//!
//! The test re-runs this very test binary as a child (`OPSHELF_CRASH_CHILD=backend:path`),
//! which writes keys as fast as it can and prints each key only after `put` returned. The
//! parent SIGKILLs it mid-stream, reopens the database and checks every printed key is
//! there with its value.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opshelf_core::storage::postgres::PostgresStorage;
use opshelf_core::storage::sqlite::SqliteStorage;
use opshelf_core::storage::{DynStorage, SyncMode};

const CHILD_ENV: &str = "OPSHELF_CRASH_CHILD";

async fn open(spec: &str) -> DynStorage {
    let (backend, target) = spec.split_once(':').unwrap();
    match backend {
        "sqlite" => {
            Arc::new(SqliteStorage::open(std::path::Path::new(target), SyncMode::Full).unwrap())
        }
        _ => Arc::new(PostgresStorage::connect(target, 4).await.unwrap()),
    }
}

/// The child's job; a no-op when run as an ordinary test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_writer() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (spec, ns) = spec.rsplit_once('|').unwrap();
    let s = open(spec).await;
    let mut out = std::io::stdout();
    for i in 0u64.. {
        let key = format!("k{i:08}");
        s.put(ns, &key, format!("value-{i}").as_bytes())
            .await
            .unwrap();
        use std::io::Write;
        writeln!(out, "ACK {key}").unwrap();
        out.flush().unwrap();
    }
}

async fn kill9_loses_no_acknowledged_write(spec: &str) {
    let ns = format!("crash-{}", opshelf_core::token::new_salt());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{spec}|{ns}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(key) = line.strip_prefix("ACK ")
                && tx.send(key.to_owned()).is_err()
            {
                break;
            }
        }
    });
    // Let it write for a while (at least 200 acknowledged keys), then kill -9 mid-stream.
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.len() < 200 && Instant::now() < deadline {
        if let Ok(k) = rx.recv_timeout(Duration::from_millis(100)) {
            acked.push(k);
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    child.wait().unwrap();
    acked.extend(rx.try_iter());
    assert!(
        acked.len() >= 200,
        "the child acknowledged only {} writes",
        acked.len()
    );

    let s = open(spec).await;
    for key in &acked {
        let i: u64 = key[1..].parse().unwrap();
        let got = s.get(&ns, key).await.unwrap();
        assert_eq!(
            got,
            Some(format!("value-{i}").into_bytes()),
            "acknowledged {key} lost"
        );
    }
    eprintln!(
        "{spec}: {} acknowledged writes, all present after kill -9",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill9_loses_no_acknowledged_write() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("crash.sqlite3").display());
    kill9_loses_no_acknowledged_write(&spec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill9_loses_no_acknowledged_write() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    if std::env::var("OPSHELF_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("SKIPPING PostgreSQL crash test (OPSHELF_SKIP_POSTGRES=1)");
        return;
    }
    let url = std::env::var("OPSHELF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    kill9_loses_no_acknowledged_write(&format!("postgres:{url}")).await;
}
