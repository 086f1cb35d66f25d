//! No acknowledged record is lost by `kill -9`, none is duplicated, and a torn WAL tail is
//! cut on restart.
//!
//! The test re-runs this very test binary as a child (`OPSHELF_EVENTSTORE_CRASH_CHILD=dir|start`)
//! that appends batches from two threads as fast as it can — with a small memory budget,
//! so heads are cut into blocks and blocks compacted while it runs — and prints each batch
//! only after `append` returned. The parent SIGKILLs it at a random moment, reopens the store,
//! checks every printed record is there exactly once, and does it again on the same directory.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opshelf_eventstore::{Config, EventStore, Labels, Limits, Query, Record};

const CHILD_ENV: &str = "OPSHELF_EVENTSTORE_CRASH_CHILD";

fn cfg() -> Config {
    Config {
        memory_budget_bytes: 8 << 20,
        block_target_bytes: 2 << 20,
        chunk_target_bytes: 16 << 10,
        maintenance_interval_secs: 1,
        // record times are small integers (1970): keep them
        retention_age_secs: 0,
        limits: Limits {
            max_batch_bytes: 1 << 20,
            ..Limits::default()
        },
        ..Config::default()
    }
}

fn body(seq: i64) -> String {
    format!(
        "rec {seq} GET /api/orders status=200 trace={seq:032x} pad={}",
        "p".repeat((seq % 97) as usize)
    )
}

/// The child's job; a no-op when run as an ordinary test.
#[test]
fn crash_child_appender() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, start) = spec.rsplit_once('|').unwrap();
    let start: i64 = start.parse().unwrap();
    let store = EventStore::open(Path::new(dir), cfg()).unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut threads = Vec::new();
    for k in 0..2i64 {
        let store = store.clone();
        let out = out.clone();
        threads.push(std::thread::spawn(move || {
            let labels = Labels::new([("service", format!("svc{k}"))]);
            let mut seq = start + k * 1_000_000_000;
            let mut x = (start as u64) ^ ((k as u64 + 1) * 0x9e37_79b9);
            loop {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = 1 + (x % 64) as i64;
                let recs: Vec<Record> = (seq..seq + n)
                    .map(|s| Record::new(s, body(s)).with_attr("seq", s.to_string()))
                    .collect();
                store.append_blocking("crash", &labels, &recs).unwrap();
                let mut o = out.lock().unwrap();
                writeln!(o, "ACK {seq} {n}").unwrap();
                o.flush().unwrap();
                seq += n;
            }
        }));
    }
    // the appenders never stop: the parent kills this process
    for t in threads {
        let _ = t.join();
    }
}

fn run_and_kill(dir: &Path, start: i64, after: Duration) -> Vec<(i64, i64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{start}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(i64, i64)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Some(rest) = line.strip_prefix("ACK ") else {
                continue;
            };
            let (a, n) = rest.split_once(' ').unwrap();
            if tx.send((a.parse().unwrap(), n.parse().unwrap())).is_err() {
                break;
            }
        }
    });
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // wait for the first acknowledgements, then for the random moment
    while acked.len() < 20 && Instant::now() < deadline {
        if let Ok(a) = rx.recv_timeout(Duration::from_millis(50)) {
            acked.push(a);
        }
    }
    let kill_at = Instant::now() + after;
    while Instant::now() < kill_at {
        if let Ok(a) = rx.recv_timeout(Duration::from_millis(5)) {
            acked.push(a);
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
    // lines already printed before the kill are acknowledgements too
    std::thread::sleep(Duration::from_millis(50));
    acked.extend(rx.try_iter());
    assert!(
        acked.len() >= 20,
        "the child acknowledged only {} batches",
        acked.len()
    );
    acked
}

/// Appends a prefix of the newest unflushed, non-empty segment's first frame to it; returns
/// its length.
fn tear_newest_segment(wal: &Path) -> u64 {
    let flushed = std::fs::read(wal.with_file_name("flushed"))
        .map(|b| u64::from_le_bytes(b[..8].try_into().unwrap()))
        .unwrap_or(0);
    let mut segs: Vec<_> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 64)
        .filter(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            u64::from_str_radix(stem, 16).unwrap() > flushed
        })
        .collect();
    segs.sort();
    let Some(seg) = segs.last() else { return 0 };
    let bytes = std::fs::read(seg).unwrap();
    let frame_len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize + 8;
    let cut = (frame_len / 2).min(bytes.len());
    let mut f = std::fs::OpenOptions::new().append(true).open(seg).unwrap();
    f.write_all(&bytes[..cut]).unwrap();
    cut as u64
}

#[test]
fn kill9_loses_no_acknowledged_record() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut acked: Vec<(i64, i64)> = Vec::new();
    let mut torn_rounds = 0;
    for round in 0..5i64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(200 + seed % 1500);
        acked.extend(run_and_kill(
            dir.path(),
            (round + 1) * 10_000_000_000,
            after,
        ));
        // A kill lands between write(2) calls; a power cut can leave half a frame. On odd
        // rounds, make that tail: the first bytes of a real frame after the last whole one.
        let mut torn = 0u64;
        if round % 2 == 1 {
            torn = tear_newest_segment(&dir.path().join("wal"));
        }

        let store = EventStore::open(dir.path(), cfg()).unwrap();
        let rec = store.stats().recovery;
        if rec.torn_bytes_cut > 0 {
            torn_rounds += 1;
        }
        assert!(
            rec.torn_bytes_cut >= torn,
            "a torn tail of {torn} bytes was not cut"
        );
        let mut seen = HashSet::new();
        for h in store.query(Query::all("crash")).unwrap() {
            let h = h.unwrap();
            let t = h.record.time_ns;
            assert!(seen.insert(t), "record {t} is there twice");
            assert_eq!(h.record.body, body(t).into_bytes(), "record {t} altered");
        }
        let mut n = 0;
        for &(start, count) in &acked {
            for s in start..start + count {
                assert!(
                    seen.contains(&s),
                    "round {round}: acknowledged record {s} lost"
                );
                n += 1;
            }
        }
        let st = store.stats();
        eprintln!(
            "round {round}: killed after {after:?}; {n} acknowledged records all present once \
             ({} stored, {} blocks, {} replayed from {} WAL segments, {} torn bytes cut, {} blocks discarded)",
            seen.len(),
            st.blocks,
            rec.records_replayed,
            rec.wal_segments_replayed,
            rec.torn_bytes_cut,
            rec.blocks_discarded
        );
        drop(store);
        // the tail was cut the first time: a second open finds nothing to cut
        let again = EventStore::open(dir.path(), cfg()).unwrap();
        assert_eq!(again.stats().recovery.torn_bytes_cut, 0);
    }
    eprintln!("torn tails cut in {torn_rounds} of 5 rounds");
    assert!(torn_rounds >= 2);
}
