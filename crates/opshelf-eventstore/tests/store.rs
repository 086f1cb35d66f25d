//! Conformance suite of the event store: append, read forward/backward with limits and
//! matchers, needle lookups, restart, retention, compaction, memory budget and limits.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opshelf_eventstore::{
    Block, BlockSource, BlockStore, BlockWrite, Config, Direction, Error, EventStore, Labels,
    Limits, LocalDir, Matcher, Query, Record,
};

const MIB: usize = 1 << 20;

fn cfg() -> Config {
    Config {
        memory_budget_bytes: 8 * MIB,
        block_target_bytes: MIB,
        chunk_target_bytes: 4096,
        maintenance_interval_secs: 3600,
        limits: Limits {
            max_batch_bytes: MIB,
            ..Limits::default()
        },
        ..Config::default()
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn svc(name: &str) -> Labels {
    Labels::new([("service", name), ("env", "prod")])
}

fn trace_id(i: i64) -> String {
    format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

/// `n` records per stream for api/web/db, times interleaved: stream k has times base + 3i + k.
fn fill(s: &EventStore, base: i64, n: i64) {
    for (k, name) in ["api", "web", "db"].iter().enumerate() {
        let recs: Vec<Record> = (0..n)
            .map(|i| {
                let t = base + 3 * i + k as i64;
                Record::new(
                    t,
                    format!("{name} GET /v1/items/{i} status=200 trace={}", trace_id(t)),
                )
                .with_attr("trace_id", trace_id(t))
            })
            .collect();
        for chunk in recs.chunks(100) {
            s.append_blocking("acme", &svc(name), chunk).unwrap();
        }
    }
}

fn times(
    it: impl Iterator<Item = opshelf_eventstore::Result<opshelf_eventstore::Hit>>,
) -> Vec<i64> {
    it.map(|h| h.unwrap().record.time_ns).collect()
}

fn check_order_and_matchers(s: &EventStore, base: i64, n: i64) {
    let all = times(s.query(Query::all("acme")).unwrap());
    assert_eq!(all, (0..3 * n).map(|i| base + i).collect::<Vec<_>>());
    let back = times(
        s.query(Query {
            direction: Direction::Backward,
            limit: 7,
            ..Query::all("acme")
        })
        .unwrap(),
    );
    assert_eq!(
        back,
        (0..7).map(|i| base + 3 * n - 1 - i).collect::<Vec<_>>()
    );
    let web = times(
        s.query(Query {
            matchers: vec![Matcher::eq("service", "web")],
            from_ns: base + 30,
            to_ns: base + 60,
            ..Query::all("acme")
        })
        .unwrap(),
    );
    assert_eq!(
        web,
        (31..60).step_by(3).map(|i| base + i).collect::<Vec<_>>()
    );
    let not_web = s
        .query(Query {
            matchers: vec![
                Matcher::not_re("service", "w.b").unwrap(),
                Matcher::neq("service", "db"),
            ],
            ..Query::all("acme")
        })
        .unwrap()
        .map(|h| h.unwrap().labels.get("service").unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(not_web.len() as i64, n);
    assert!(not_web.iter().all(|s| s == "api"));
    assert_eq!(
        s.query(Query::all("other")).unwrap().count(),
        0,
        "tenants are separate"
    );
}

fn check_needle(s: &EventStore, base: i64, n: i64) {
    let t = base + 3 * (n / 2) + 1;
    let hits: Vec<_> = s
        .lookup_token("acme", &trace_id(t), i64::MIN, i64::MAX, 10)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(hits.len(), 1, "trace id appears once");
    assert_eq!(hits[0].record.time_ns, t);
    assert_eq!(hits[0].labels.get("service"), Some("web"));
    // an infix of a token is not a token
    let infix = &trace_id(t)[4..20];
    assert_eq!(
        s.lookup_token("acme", infix, i64::MIN, i64::MAX, 0)
            .unwrap()
            .count(),
        0
    );
    // a needle whose tokens are all too short to be indexed cannot be ruled out by a filter
    assert_eq!(
        s.lookup_token("acme", "/v1/", i64::MIN, i64::MAX, 0)
            .unwrap()
            .count() as i64,
        3 * n
    );
    // a needle with separators, token-aligned: the same answer as a brute-force scan
    let q = "items/7 status";
    let brute: Vec<i64> = s
        .query(Query::all("acme"))
        .unwrap()
        .map(Result::unwrap)
        .filter(|h| String::from_utf8_lossy(&h.record.body).contains("/items/7 status"))
        .map(|h| h.record.time_ns)
        .collect();
    let mut got = times(s.lookup_token("acme", q, i64::MIN, i64::MAX, 0).unwrap());
    got.reverse();
    assert!(!brute.is_empty());
    assert_eq!(got, brute, "{q}");
    // substrings (LogQL's `|=`): an infix long enough for the minimizers, a short one with a
    // bounded token, one too short to probe; each the same answer as a brute-force scan
    let long_infix = trace_id(t)[3..29].to_owned();
    for sub in [long_infix.as_str(), "tems/7 sta", "7 s"] {
        let brute: Vec<i64> = s
            .query(Query::all("acme"))
            .unwrap()
            .map(Result::unwrap)
            .filter(|h| {
                String::from_utf8_lossy(&h.record.body).contains(sub)
                    || h.record.attrs.iter().any(|(_, v)| v.contains(sub))
            })
            .map(|h| h.record.time_ns)
            .collect();
        let got = times(
            s.query(Query {
                contains: Some(sub.to_owned()),
                ..Query::all("acme")
            })
            .unwrap(),
        );
        assert!(!brute.is_empty(), "{sub}");
        assert_eq!(got, brute, "{sub}");
    }
}

#[test]
fn reads_from_the_head_and_from_blocks_agree() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let base = now_ns();
    fill(&s, base, 400);
    assert_eq!(s.stats().blocks, 0, "still in the head");
    check_order_and_matchers(&s, base, 400);
    check_needle(&s, base, 400);
    s.flush().unwrap();
    let st = s.stats();
    assert!(st.blocks >= 1 && st.head_records == 0, "{st:?}");
    check_order_and_matchers(&s, base, 400);
    check_needle(&s, base, 400);
    // half in blocks, half in the head
    fill(&s, base + 1200, 400);
    check_order_and_matchers(&s, base, 800);
    s.close().unwrap();
}

#[test]
fn needles_on_full_head_chunks_agree_with_a_scan() {
    // ~250 KB per stream: several 64 KiB head chunks fill up and are sealed
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let base = now_ns();
    fill(&s, base, 2000);
    assert_eq!(s.stats().blocks, 0, "still in the head");
    check_needle(&s, base, 2000);
    for t in [base, base + 2, base + 3 * 1999 + 1] {
        let hits = times(
            s.lookup_token("acme", &trace_id(t), i64::MIN, i64::MAX, 0)
                .unwrap(),
        );
        assert_eq!(hits, vec![t]);
    }
    drop(s);
    // and again once replayed from the WAL
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    check_needle(&s, base, 2000);
}

#[test]
fn an_open_head_chunk_without_the_needle_is_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let base = now_ns();
    fill(&s, base, 50);
    let absent = s
        .lookup_token(
            "acme",
            "0123456789abcdef0123456789abcdef",
            i64::MIN,
            i64::MAX,
            0,
        )
        .unwrap();
    assert_eq!(absent.memory_held(), 0, "nothing copied, nothing to open");
    assert_eq!(absent.count(), 0);
    let present = s
        .lookup_token("acme", &trace_id(base + 3), i64::MIN, i64::MAX, 0)
        .unwrap();
    assert!(present.memory_held() > 0, "the stream holding it is copied");
    assert_eq!(times(present), vec![base + 3]);
}

#[test]
fn restart_replays_the_wal_and_reads_blocks_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let base = now_ns();
    {
        let s = EventStore::open(dir.path(), cfg()).unwrap();
        fill(&s, base, 300);
        s.flush().unwrap();
        fill(&s, base + 900, 300);
        // dropped without close: the second half lives only in the WAL
    }
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(s.stats().recovery.records_replayed, 900);
    check_order_and_matchers(&s, base, 600);
    s.close().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(
        s.stats().recovery.records_replayed,
        0,
        "close flushed the head"
    );
    check_order_and_matchers(&s, base, 600);
    check_needle(&s, base, 600);
}

#[test]
fn close_gives_up_on_a_head_it_cannot_flush_and_the_wal_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = now_ns();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    fill(&s, base, 100);
    // block writes now fail (as on a full disk or a removed data directory)
    std::fs::remove_dir_all(dir.path().join("blocks")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(s.close()).unwrap());
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("close returned");
    assert!(r.is_err(), "the failed flush is reported");
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(s.stats().recovery.records_replayed, 300);
    check_order_and_matchers(&s, base, 100);
}

#[test]
fn a_torn_wal_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let base = now_ns();
    {
        let s = EventStore::open(dir.path(), cfg()).unwrap();
        fill(&s, base, 100);
    }
    let wal = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
    use std::io::Write;
    f.write_all(&[0x40, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    drop(f);
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(s.stats().recovery.torn_bytes_cut, 11);
    check_order_and_matchers(&s, base, 100);
}

#[test]
fn compaction_merges_small_blocks_and_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let base = now_ns();
    for round in 0..10 {
        fill(&s, base + round * 300, 100);
        s.flush().unwrap();
    }
    let before = s.stats();
    assert!(before.blocks >= 10, "{before:?}");
    s.run_maintenance().unwrap();
    let after = s.stats();
    assert!(
        after.blocks < before.blocks / 2,
        "{} -> {}",
        before.blocks,
        after.blocks
    );
    assert!(after.compactions >= 1);
    assert_eq!(after.block_records, before.block_records);
    check_order_and_matchers(&s, base, 1000);
    check_needle(&s, base, 1000);
    drop(s);
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(
        s.stats().blocks,
        after.blocks,
        "no replaced block came back"
    );
    check_order_and_matchers(&s, base, 1000);
}

/// Twenty flushes of ten records a stream, as a slow stream's five-minute flushes look:
/// chunks of ~1 KB against a 4 KB target. Record `i` of round `r` is at `base + 3 (10 r + i) + k`,
/// so the rounds together are `fill(base, 200)` and each stream's rounds are disjoint in time.
fn small_flushes(s: &EventStore, base: i64) {
    for round in 0..20 {
        fill(s, base + round * 30, 10);
        s.flush().unwrap();
    }
}

#[test]
fn compaction_re_encodes_small_chunks_into_full_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let base = now_ns();
    small_flushes(&s, base);
    let before = s.stats();
    s.run_maintenance().unwrap();
    let after = s.stats();
    assert!(after.compactions >= 1, "{after:?}");
    assert_eq!(after.block_records, before.block_records);
    // copied verbatim, 60 chunks of ~1 KB (each with its zstd frame and filter) take 90% of
    // the room they took in 20 blocks (the next test); re-encoded into ~4 KB chunks, 63%
    assert!(
        after.block_bytes * 10 < before.block_bytes * 7,
        "{} -> {} bytes",
        before.block_bytes,
        after.block_bytes
    );
    check_order_and_matchers(&s, base, 200);
    check_needle(&s, base, 200);
    drop(s);
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(
        s.stats().blocks,
        after.blocks,
        "no replaced block came back"
    );
    check_order_and_matchers(&s, base, 200);
    check_needle(&s, base, 200);
}

#[test]
fn compaction_copies_small_chunks_that_overlap_in_time() {
    // the same rounds, each 1 ns after the last: every stream's chunks overlap, so their
    // records would need a merge and compaction copies the chunks as they are
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let base = now_ns();
    for round in 0..20 {
        fill(&s, base + round, 10);
        s.flush().unwrap();
    }
    let before = s.stats();
    s.run_maintenance().unwrap();
    let after = s.stats();
    assert!(after.compactions >= 1, "{after:?}");
    assert_eq!(after.block_records, before.block_records);
    assert!(
        after.block_bytes * 10 > before.block_bytes * 8,
        "copied, not re-encoded: {} -> {} bytes",
        before.block_bytes,
        after.block_bytes
    );
    let mut want: Vec<i64> = (0..20)
        .flat_map(|r| (0..10).flat_map(move |i| (0..3).map(move |k| base + r + 3 * i + k)))
        .collect();
    want.sort_unstable();
    assert_eq!(times(s.query(Query::all("acme")).unwrap()), want);
}

#[test]
fn retention_by_age_and_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400 * 1_000_000_000i64;
    let c = Config {
        retention_age_secs: 7 * 86_400,
        ..cfg()
    };
    let s = EventStore::open(dir.path(), c).unwrap();
    let old = now_ns() - 30 * day;
    fill(&s, old, 100);
    s.flush().unwrap();
    let recent = now_ns() - day;
    fill(&s, recent, 100);
    s.flush().unwrap();
    s.run_maintenance().unwrap();
    let all = times(s.query(Query::all("acme")).unwrap());
    assert_eq!(all.len(), 300);
    assert!(all.iter().all(|&t| t >= recent));
    assert!(s.stats().blocks_expired >= 1);
    s.close().unwrap();

    let c = Config {
        retention_bytes: 1,
        retention_age_secs: 0,
        ..cfg()
    };
    let s = EventStore::open(dir.path(), c).unwrap();
    fill(&s, now_ns(), 100);
    s.run_maintenance().unwrap();
    assert_eq!(s.stats().blocks, 0, "over the size cap every block goes");
    assert_eq!(
        s.query(Query::all("acme")).unwrap().count(),
        300,
        "the head is kept"
    );
}

/// A `LocalDir` whose block writes wait while the gate is shut: a flusher that cannot keep
/// up, to see back-pressure.
struct Gated {
    inner: LocalDir,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl BlockStore for Gated {
    fn load(&self) -> opshelf_eventstore::Result<Vec<Block>> {
        self.inner.load()
    }
    fn create(&self, id: u64) -> opshelf_eventstore::Result<Box<dyn BlockWrite>> {
        let (m, cv) = &*self.open;
        let mut g = m.lock().unwrap();
        while !*g {
            g = cv.wait(g).unwrap();
        }
        self.inner.create(id)
    }
    fn open(&self, id: u64) -> opshelf_eventstore::Result<Arc<dyn BlockSource>> {
        self.inner.open(id)
    }
    fn remove(&self, id: u64) -> opshelf_eventstore::Result<()> {
        self.inner.remove(id)
    }
    fn flushed_gen(&self) -> opshelf_eventstore::Result<u64> {
        self.inner.flushed_gen()
    }
    fn set_flushed_gen(&self, g: u64) -> opshelf_eventstore::Result<()> {
        self.inner.set_flushed_gen(g)
    }
}

#[test]
fn a_full_ingestion_budget_pushes_back_and_never_drops() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let c = Config {
        memory_budget_bytes: 4 * MIB,
        backpressure_timeout_ms: 200,
        limits: Limits {
            max_batch_bytes: 256 * 1024,
            ..Limits::default()
        },
        ..cfg()
    };
    let store = Gated {
        inner: LocalDir::new(dir.path()).unwrap(),
        open: gate.clone(),
    };
    let s = EventStore::open_with(dir.path(), c, Box::new(store)).unwrap();
    let labels = svc("api");
    let mut acked = 0i64;
    let mut overloaded = false;
    let base = now_ns();
    for i in 0..2000i64 {
        let recs: Vec<Record> = (0..50)
            .map(|j| Record::new(base + i * 50 + j, vec![b'x'; 200]))
            .collect();
        match s.append_blocking("acme", &labels, &recs) {
            Ok(a) => acked += a.records as i64,
            Err(Error::Overloaded { retry_after }) => {
                assert!(retry_after > Duration::ZERO);
                overloaded = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(overloaded, "the budget never filled");
    let st = s.stats();
    assert!(
        st.ingest_memory_used <= st.ingest_memory_budget + 64 * 1024,
        "{} used of {}",
        st.ingest_memory_used,
        st.ingest_memory_budget
    );
    {
        let (m, cv) = &*gate;
        *m.lock().unwrap() = true;
        cv.notify_all();
    }
    // once the flusher drains, appends go through again
    let recs = vec![Record::new(base + 10_000_000, "after")];
    s.append_blocking("acme", &labels, &recs).unwrap();
    acked += 1;
    let n = s.query(Query::all("acme")).unwrap().count() as i64;
    assert_eq!(n, acked, "every acknowledged record is readable");
}

/// `streams` streams of 40 records of 100 bytes over the same 40 ns, flushed: a query
/// over all of them has every chunk open at once.
fn overlapping_streams(s: &EventStore, base: i64, streams: usize) {
    let recs: Vec<Record> = (0..40)
        .map(|i| Record::new(base + i, "x".repeat(100)))
        .collect();
    for k in 0..streams {
        s.append_blocking("acme", &svc(&format!("s{k}")), &recs)
            .unwrap();
    }
    s.flush().unwrap();
}

#[test]
fn a_query_over_everything_with_a_tiny_budget_answers_or_refuses_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config {
        memory_budget_bytes: 4 * MIB,
        query_memory_bytes: 64 * 1024,
        limits: Limits {
            max_batch_bytes: 256 * 1024,
            ..Limits::default()
        },
        ..cfg()
    };
    let s = EventStore::open(dir.path(), c).unwrap();
    let base = now_ns();
    // one stream, many blocks: streams one chunk at a time, fits
    for round in 0..5 {
        let recs: Vec<Record> = (0..2000)
            .map(|i| Record::new(base + round * 2000 + i, format!("line {i} {}", trace_id(i))))
            .collect();
        for ch in recs.chunks(500) {
            s.append_blocking("acme", &svc("api"), ch).unwrap();
        }
        s.flush().unwrap();
    }
    let mut n = 0;
    let mut it = s.query(Query::all("acme")).unwrap();
    let mut peak = 0;
    for h in it.by_ref() {
        h.unwrap();
        n += 1;
        peak = peak.max(s.stats().query_memory_used);
    }
    assert_eq!(n, 10_000);
    assert!(peak <= 64 * 1024, "peak {peak}");
    drop(it);
    assert_eq!(s.stats().query_memory_used, 0);

    // 200 overlapping streams need 200 chunks at once: refused, not over budget
    overlapping_streams(&s, base, 200);
    let r: Result<Vec<_>, _> = s.query(Query::all("acme")).and_then(Iterator::collect);
    assert!(
        matches!(r, Err(Error::QueryMemory { budget: 65536 })),
        "{r:?}"
    );
    assert_eq!(
        s.stats().query_memory_used,
        0,
        "a refused query gives its memory back"
    );
}

#[test]
fn limits_refuse_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config {
        limits: Limits {
            max_streams_per_tenant: 2,
            max_record_bytes: 1000,
            tenant_bytes_per_sec: 10_000,
            tenant_burst_bytes: 10_000,
            ..cfg().limits
        },
        ..cfg()
    };
    let s = EventStore::open(dir.path(), c).unwrap();
    let r = vec![Record::new(1, "x")];
    s.append_blocking("a", &svc("1"), &r).unwrap();
    s.append_blocking("a", &svc("2"), &r).unwrap();
    assert!(matches!(
        s.append_blocking("a", &svc("3"), &r),
        Err(Error::Limit(_))
    ));
    s.append_blocking("b", &svc("3"), &r).unwrap();
    let big = vec![Record::new(1, vec![b'x'; 2000])];
    assert!(matches!(
        s.append_blocking("a", &svc("1"), &big),
        Err(Error::Limit(_))
    ));
    let batch: Vec<Record> = (0..9).map(|i| Record::new(i, vec![b'y'; 900])).collect();
    s.append_blocking("a", &svc("1"), &batch).unwrap();
    assert!(matches!(
        s.append_blocking("a", &svc("1"), &batch),
        Err(Error::RateLimited {
            scope: "tenant",
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_and_streamed_queries() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let base = now_ns();
    let mut tasks = Vec::new();
    for k in 0..8i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50i64 {
                let recs = vec![Record::new(base + i * 8 + k, format!("task {k} item {i}"))];
                s.append("acme", &svc(&format!("t{k}")), &recs)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut rx = s.query_stream(Query::all("acme"), 64);
    let mut got = Vec::new();
    while let Some(batch) = rx.recv().await {
        got.extend(batch.unwrap().into_iter().map(|h| h.record.time_ns));
    }
    assert_eq!(got, (0..400).map(|i| base + i).collect::<Vec<_>>());
}

#[test]
fn a_query_that_fits_but_finds_the_share_held_by_another_is_busy_then_runs() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config {
        memory_budget_bytes: 4 * MIB, // a 1 MiB query share, all of it one query's cap
        ..cfg()
    };
    let s = EventStore::open(dir.path(), c).unwrap();
    let base = now_ns();
    // 80 streams overlapping in time: the first hit opens every chunk (~630 KB of cursors)
    overlapping_streams(&s, base, 80);
    let mut first = s.query(Query::all("acme")).unwrap();
    first.next().unwrap().unwrap();
    assert!(first.memory_held() > 512 * 1024, "{}", first.memory_held());
    let t = std::time::Instant::now();
    let r: Result<Vec<_>, _> = s.query(Query::all("acme")).and_then(Iterator::collect);
    assert!(matches!(r, Err(Error::QueryBusy { .. })), "{r:?}");
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(200),
        "it waited first"
    );
    assert_eq!(first.count(), 80 * 40 - 1);
    let n = s.query(Query::all("acme")).unwrap().count();
    assert_eq!(n, 80 * 40, "once the share is free the same query runs");
    assert_eq!(s.stats().query_memory_used, 0);
}
