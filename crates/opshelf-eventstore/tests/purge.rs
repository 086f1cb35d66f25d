//! `EventStore::purge`: the records a delete request selects leave queries, needle lookups
//! and the bytes on disk; everything else stays, once, findable; a restart (and a crash
//! between the rewrite's commit and the old file's removal) brings nothing back.

use std::path::Path;

use opshelf_eventstore::{Config, EventStore, Labels, Limits, Matcher, PurgeStats, Query, Record};

const MIB: usize = 1 << 20;
/// Start of the records (ns); the purged range is [FROM, TO] of stream `api`.
const BASE: i64 = 1_000_000;
const FROM: i64 = BASE + 3 * 100;
const TO: i64 = BASE + 3 * 199;

fn cfg() -> Config {
    Config {
        memory_budget_bytes: 8 * MIB,
        block_target_bytes: MIB,
        chunk_target_bytes: 4096,
        maintenance_interval_secs: 3600,
        // record times are in 1970: keep them
        retention_age_secs: 0,
        limits: Limits {
            max_batch_bytes: MIB,
            ..Limits::default()
        },
        ..Config::default()
    }
}

fn svc(name: &str) -> Labels {
    Labels::new([("service", name), ("env", "prod")])
}

/// A token unique to the record at `t` of `tenant` (hex: one token for the tokenizer).
fn token_of(tenant: &str, t: i64) -> String {
    let salt = u128::from(tenant != "acme") << 100;
    format!(
        "{:032x}",
        (t as u128 ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

fn token(t: i64) -> String {
    token_of("acme", t)
}

fn record_of(tenant: &str, name: &str, t: i64) -> Record {
    let tok = token_of(tenant, t);
    Record::new(t, format!("{name} login user=subject{t} token={tok} ok"))
        .with_attr("trace_id", tok)
}

fn record(name: &str, t: i64) -> Record {
    record_of("acme", name, t)
}

/// `n` records per stream for api/web/db: stream k has times BASE + 3i + k.
fn fill(s: &EventStore, tenant: &str, n: i64) {
    for (k, name) in ["api", "web", "db"].iter().enumerate() {
        let recs: Vec<Record> = (0..n)
            .map(|i| record_of(tenant, name, BASE + 3 * i + k as i64))
            .collect();
        for chunk in recs.chunks(100) {
            s.append_blocking(tenant, &svc(name), chunk).unwrap();
        }
    }
}

fn purged(t: i64) -> bool {
    (t - BASE) % 3 == 0 && (FROM..=TO).contains(&t)
}

fn all_times(s: &EventStore, tenant: &str) -> Vec<i64> {
    s.query(Query::all(tenant))
        .unwrap()
        .map(|h| h.unwrap().record.time_ns)
        .collect()
}

fn lookup(s: &EventStore, tenant: &str, t: i64) -> usize {
    s.lookup_token(tenant, &token_of(tenant, t), i64::MIN, i64::MAX, 0)
        .unwrap()
        .count()
}

fn purge_api(s: &EventStore) -> PurgeStats {
    s.purge("acme", &[Matcher::eq("service", "api")], FROM, TO)
        .unwrap()
}

fn block_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "blk"))
        .collect();
    v.sort();
    v
}

fn block_bytes(dir: &Path) -> u64 {
    block_files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// Every zstd frame of every block file, decompressed (chunks are zstd frames; the rest of
/// a block is filters, tables and the summary, which hold hashes and labels, not records).
fn decompressed_chunks(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for p in block_files(dir) {
        let bytes = std::fs::read(&p).unwrap();
        let mut at = 0;
        while let Some(i) = memchr_frame(&bytes[at..]) {
            let start = at + i;
            match zstd::zstd_safe::find_frame_compressed_size(&bytes[start..]) {
                Ok(len) => {
                    let frame = &bytes[start..start + len];
                    if let Ok(raw) = zstd::bulk::decompress(frame, 64 * MIB) {
                        out.extend_from_slice(&raw);
                    }
                    at = start + len;
                }
                Err(_) => at = start + 1,
            }
        }
    }
    out
}

fn memchr_frame(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == [0x28, 0xb5, 0x2f, 0xfd])
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn check_after_purge(s: &EventStore, dir: &Path, n: i64) {
    let want: Vec<i64> = (0..3 * n)
        .map(|i| BASE + i)
        .filter(|&t| !purged(t))
        .collect();
    assert_eq!(
        all_times(s, "acme"),
        want,
        "exactly the purged records are gone"
    );
    // both ends of the range are inclusive; the neighbours stay
    for t in [FROM, FROM + 3, TO] {
        assert_eq!(
            lookup(s, "acme", t),
            0,
            "purged record {t} still found by needle"
        );
    }
    for t in [FROM - 3, TO + 3, FROM + 1, TO + 2, BASE] {
        assert_eq!(
            lookup(s, "acme", t),
            1,
            "kept record {t} not found by needle"
        );
    }
    let raw = decompressed_chunks(dir);
    assert!(
        contains(&raw, &token(FROM - 3)),
        "the scan reads the chunks"
    );
    for t in [FROM, FROM + 150, TO] {
        assert!(
            !contains(&raw, &token(t)),
            "the bytes of {t} are still on disk"
        );
    }
}

#[test]
fn purge_removes_records_from_queries_needles_and_disk_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400;
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    fill(&s, "acme", n);
    fill(&s, "other", n);
    s.flush().unwrap();
    let blocks_before = s.stats().blocks;
    let bytes_before = block_bytes(dir.path());
    assert!(contains(&decompressed_chunks(dir.path()), &token(FROM)));

    let st = purge_api(&s);
    assert_eq!(st.records_removed, 100, "{st:?}");
    assert_eq!((st.blocks_rewritten, st.blocks_removed), (1, 0), "{st:?}");
    assert!(st.bytes_after < st.bytes_before, "{st:?}");
    assert_eq!(s.stats().blocks, blocks_before);
    assert!(block_bytes(dir.path()) < bytes_before);
    check_after_purge(&s, dir.path(), n);
    // the other tenant's stream of the same name is untouched
    assert_eq!(all_times(&s, "other").len(), 3 * n as usize);
    assert_eq!(lookup(&s, "other", FROM), 1);
    assert!(contains(
        &decompressed_chunks(dir.path()),
        &token_of("other", FROM)
    ));
    // a second pass finds nothing to do
    assert_eq!(purge_api(&s), PurgeStats::default());

    s.close().unwrap();
    drop(s);
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(s.stats().recovery.blocks_discarded, 0);
    check_after_purge(&s, dir.path(), n);
    // compaction after a purge keeps it
    s.run_maintenance().unwrap();
    check_after_purge(&s, dir.path(), n);
}

#[test]
fn purge_covers_records_still_in_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    fill(&s, "acme", n);
    assert!(s.stats().head_records > 0 && s.stats().blocks == 0);
    let st = purge_api(&s);
    assert_eq!(st.records_removed, 100, "{st:?}");
    assert_eq!(s.stats().head_records, 0);
    check_after_purge(&s, dir.path(), n);
    // a kill now: the WAL that held them was flushed and deleted, replay brings nothing back
    drop(s);
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(s.stats().recovery.records_replayed, 0);
    check_after_purge(&s, dir.path(), n);
}

#[test]
fn a_block_left_empty_is_removed_and_other_streams_stay() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    let api: Vec<Record> = (0..50).map(|i| record("api", BASE + i)).collect();
    s.append_blocking("acme", &svc("api"), &api).unwrap();
    s.flush().unwrap();
    let web: Vec<Record> = (0..50).map(|i| record("web", BASE + 100 + i)).collect();
    s.append_blocking("acme", &svc("web"), &web).unwrap();
    s.flush().unwrap();
    assert_eq!(s.stats().blocks, 2);
    let st = s
        .purge(
            "acme",
            &[Matcher::re("service", "api|nothing").unwrap()],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    assert_eq!(
        (st.blocks_rewritten, st.blocks_removed, st.records_removed),
        (0, 1, 50),
        "{st:?}"
    );
    assert_eq!(st.bytes_after, 0);
    assert_eq!(s.stats().blocks, 1);
    assert_eq!(block_files(dir.path()).len(), 1);
    assert_eq!(
        all_times(&s, "acme"),
        (100..150).map(|i| BASE + i).collect::<Vec<_>>()
    );
    assert!(s.streams("acme", i64::MIN, i64::MAX, &[]).len() == 1);
    // no temporary file is left behind either
    let names: Vec<_> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn a_stream_emptied_inside_a_block_leaves_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    fill(&s, "acme", 100);
    s.flush().unwrap();
    let st = s
        .purge("acme", &[Matcher::eq("service", "web")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(
        (st.blocks_rewritten, st.records_removed),
        (1, 100),
        "{st:?}"
    );
    let names: Vec<String> = s
        .streams("acme", i64::MIN, i64::MAX, &[])
        .iter()
        .map(|x| x.labels.get("service").unwrap().to_owned())
        .collect();
    assert_eq!(names, ["api", "db"]);
    drop(s);
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(all_times(&s, "acme").len(), 200);
    assert_eq!(s.streams("acme", i64::MIN, i64::MAX, &[]).len(), 2);
}

/// A crash after the rewritten block is committed and before the old file is removed: both
/// files are there at open; the new one names the old in `replaces`, so only it counts.
#[test]
fn a_crash_before_the_old_block_is_removed_neither_duplicates_nor_resurrects() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400;
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    fill(&s, "acme", n);
    s.flush().unwrap();
    let old = block_files(dir.path());
    assert_eq!(old.len(), 1);
    let saved = std::fs::read(&old[0]).unwrap();
    purge_api(&s);
    drop(s);
    assert!(!old[0].exists());
    // put the old block back, as if the crash came before its removal
    std::fs::write(&old[0], &saved).unwrap();
    assert_eq!(block_files(dir.path()).len(), 2);

    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(s.stats().recovery.blocks_discarded, 1);
    assert_eq!(s.stats().blocks, 1);
    assert!(!old[0].exists(), "the replaced block is deleted at open");
    check_after_purge(&s, dir.path(), n);
}

#[test]
fn purge_refuses_an_inverted_range() {
    let dir = tempfile::tempdir().unwrap();
    let s = EventStore::open(dir.path(), cfg()).unwrap();
    assert!(s.purge("acme", &[], 10, 9).is_err());
    // one instant is a valid range (both ends inclusive)
    let recs = [record("api", 10), record("api", 11)];
    s.append_blocking("acme", &svc("api"), &recs).unwrap();
    let st = s.purge("acme", &[], 10, 10).unwrap();
    assert_eq!(st.records_removed, 1);
    assert_eq!(all_times(&s, "acme"), [11]);
}

const PURGE_CHILD_ENV: &str = "OPSHELF_EVENTSTORE_PURGE_CHILD";
/// Records per stream of the kill -9 test: several 1 MiB blocks, so a purge rewrites more
/// than one and a kill can land between two.
const KILL_N: i64 = 20_000;
const KILL_TO: i64 = BASE + 3 * KILL_N / 2;

/// The child of `kill9_during_a_purge_keeps_every_other_record_and_a_rerun_finishes_it`: a
/// no-op when run as an ordinary test.
#[test]
fn purge_child() {
    let Ok(dir) = std::env::var(PURGE_CHILD_ENV) else {
        return;
    };
    let s = EventStore::open(Path::new(&dir), cfg()).unwrap();
    println!("START");
    s.purge("acme", &[Matcher::eq("service", "api")], BASE, KILL_TO)
        .unwrap();
    println!("DONE");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Every record outside the purge is there exactly once; one inside is there at most once,
/// or never when `finished`.
fn check_kill9(s: &EventStore, finished: bool) {
    let mut seen = std::collections::HashMap::new();
    for t in all_times(s, "acme") {
        *seen.entry(t).or_insert(0) += 1;
    }
    for k in 0..3 {
        for i in 0..KILL_N {
            let t = BASE + 3 * i + k;
            let n = seen.get(&t).copied().unwrap_or(0);
            let dropped = k == 0 && t <= KILL_TO;
            match (dropped, finished) {
                (false, _) => assert_eq!(n, 1, "record {t} kept once"),
                (true, false) => assert!(n <= 1, "record {t} seen {n} times"),
                (true, true) => assert_eq!(n, 0, "record {t} purged"),
            }
        }
    }
}

#[test]
fn kill9_during_a_purge_keeps_every_other_record_and_a_rerun_finishes_it() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let seed = tempfile::tempdir().unwrap();
    {
        let s = EventStore::open(seed.path(), cfg()).unwrap();
        fill(&s, "acme", KILL_N);
        s.close().unwrap();
    }
    assert!(block_files(seed.path()).len() >= 3, "several blocks");
    let mut interrupted = 0;
    for delay_ms in [0u64, 1, 3, 6, 10, 20, 40, 80] {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(seed.path(), dir.path());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "purge_child", "--nocapture", "--test-threads=1"])
            .env(PURGE_CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // the harness prints "test purge_child ... " before it, on the same line
        while !lines
            .next()
            .expect("child ended before START")
            .unwrap()
            .ends_with("START")
        {}
        std::thread::sleep(Duration::from_millis(delay_ms));
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap()
                .success()
        );
        child.wait().unwrap();
        let done = lines.map_while(Result::ok).any(|l| l == "DONE");
        interrupted += usize::from(!done);

        let s = EventStore::open(dir.path(), cfg()).unwrap();
        check_kill9(&s, done);
        // the delete request is still pending: running it again finishes the job
        s.purge("acme", &[Matcher::eq("service", "api")], BASE, KILL_TO)
            .unwrap();
        check_kill9(&s, true);
        drop(s);
        let s = EventStore::open(dir.path(), cfg()).unwrap();
        check_kill9(&s, true);
    }
    assert!(interrupted > 0, "no kill landed before the purge ended");
}
