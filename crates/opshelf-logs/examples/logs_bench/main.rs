//! The logs benchmark behind `bench/logs` (not run in CI). In one process:
//! 1. push ingest: generated log lines (`shapes.rs`: by default a request's lines share its
//!    trace id; `unique` puts a fresh one on every line) in 1,000-line protobuf+snappy
//!    `PushRequest`s, each decoded, validated and appended durably by the same code as
//!    `POST /loki/api/v1/push` (HTTP framing excluded); CPU of the generator thread is
//!    subtracted;
//! 2. the needle query `{app="x"} |= "<trace id>"` through the engine over all of it (median
//!    of 5), then `sum by (level) (count_over_time({app="x"} | logfmt [5m]))` over the 7 days
//!    the data spans (one app: a sixth of the lines; median of 3, or of `LEVEL_SUM_RUNS`);
//! 3. `labels` and `series` through the router at 10,000 streams (p95 of 50);
//! 4. peak RSS and disk bytes per raw byte. The raw text is written to `<work>/raw.log` for
//!    `grep -F` / `zstd -dc | grep -F` in the script.
//!
//! Usage: logs_bench <GB> <work dir> [requests|unique]

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use opshelf_logs::api::{App, router};
use opshelf_logs::deletes::Deletes;
use opshelf_logs::logql_adapter::{Direction, Labels, Params};
use opshelf_logs::push::{Entry, PushStream, proto};
use opshelf_logs::{Config, LogStore};
use tower::ServiceExt;

mod shapes;

use shapes::{APPS, Gen, Shape};

/// One protobuf+snappy `PushRequest` of `app`'s buffered entries.
fn batch(app: usize, buf: &mut Vec<Entry>) -> Vec<u8> {
    proto::encode(&[PushStream {
        labels: Labels::new(vec![
            ("app".into(), APPS[app].into()),
            ("env".into(), "prod".into()),
        ]),
        entries: std::mem::take(buf),
    }])
}

fn cpu_secs(path: &str) -> f64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn vm_hwm_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn du(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            n += if md.is_dir() { du(&e.path()) } else { md.len() };
        }
    }
    n
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let gb: f64 = args.get(1).map_or(Ok(1.0), |s| s.parse())?;
    let usage = "usage: logs_bench <GB> <work dir> [requests|unique]";
    let work = PathBuf::from(args.get(2).ok_or(usage)?);
    let shape = Shape::parse(args.get(3).map_or("requests", String::as_str)).ok_or(usage)?;
    let target = (gb * 1e9) as u64;
    let mut cfg = Config {
        retention_age_secs: 0,
        ..Config::default()
    };
    // the run backfills 7 days in minutes: its oldest lines pass a week's age while it pushes
    cfg.limits.reject_old_samples = false;
    let es = opshelf_eventstore::EventStore::open(&work.join("store"), cfg.store_config())?;
    let store = Arc::new(LogStore::new(
        es,
        cfg.limits.clone(),
        "fake".into(),
        Deletes::load(None).await?,
    ));

    // 1. ingest
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let raw_path = work.join("raw.log");
    let generator = std::thread::spawn(move || -> std::io::Result<(u64, u64, String, f64, f64)> {
        let mut raw = BufWriter::with_capacity(1 << 20, std::fs::File::create(raw_path)?);
        let mut lines_gen = Gen::new(shape);
        let now = opshelf_logs::api::params::now_ns();
        let span: i64 = 7 * 24 * 3600 * 1_000_000_000;
        // a line's time is its place in the run: the lines fill the last 7 days evenly
        let start = now - span;
        let needle = lines_gen.needle().to_owned();
        let (mut written, mut lines, mut placed) = (0u64, 0u64, false);
        let mut bufs: Vec<Vec<Entry>> = vec![Vec::new(); APPS.len()];
        while written < target {
            if !placed && written >= target * 37 / 100 {
                placed = true;
                lines_gen.place_needle(); // into {app="x"}, the stream the query selects
            }
            let (app, line) = lines_gen.line();
            let t = start + (span as f64 * (written as f64 / target as f64)) as i64 + 1;
            raw.write_all(line.as_bytes())?;
            raw.write_all(b"\n")?;
            written += line.len() as u64 + 1;
            lines += 1;
            bufs[app].push(Entry {
                ts_ns: t,
                line,
                metadata: Vec::new(),
            });
            if bufs[app].len() == 1000 && tx.blocking_send(batch(app, &mut bufs[app])).is_err() {
                break;
            }
        }
        // the last, partial batches: every line of raw.log is in the store
        for (app, buf) in bufs.iter_mut().enumerate() {
            if !buf.is_empty() && tx.blocking_send(batch(app, buf)).is_err() {
                break;
            }
        }
        raw.flush()?;
        Ok((
            lines,
            written,
            needle,
            lines_gen.bits,
            cpu_secs("/proc/thread-self/stat"),
        ))
    });
    // FLUSH_EVERY_MB: cut the head after every that many MB of pushed lines, as the
    // five-minute flush does when lines come slowly (1 GB a week is 0.5 MB in five minutes)
    let flush_every = match std::env::var("FLUSH_EVERY_MB") {
        Ok(v) => {
            (v.parse::<f64>()
                .map_err(|_| "FLUSH_EVERY_MB: a number of MB")?
                * 1e6) as u64
        }
        Err(_) => 0,
    };
    let since_flush = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let cpu0 = cpu_secs("/proc/self/stat");
    let t0 = Instant::now();
    let mut pushers = Vec::new();
    for _ in 0..4 {
        let (rx, store, since_flush) = (rx.clone(), store.clone(), since_flush.clone());
        pushers.push(tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let Some(body) = rx.lock().await.recv().await else {
                    return n;
                };
                let streams = proto::decode(&body, 8 << 20).expect("decode");
                let bytes: u64 = streams
                    .iter()
                    .flat_map(|s| &s.entries)
                    .map(|e| e.line.len() as u64 + 1)
                    .sum();
                n += store.push("fake", streams).await.expect("push");
                use std::sync::atomic::Ordering::Relaxed;
                if flush_every > 0 && since_flush.fetch_add(bytes, Relaxed) + bytes >= flush_every {
                    since_flush.store(0, Relaxed);
                    let s = store.clone();
                    tokio::task::spawn_blocking(move || s.events().flush())
                        .await
                        .expect("flush task")
                        .expect("flush");
                }
            }
        }));
    }
    let mut pushed = 0;
    for p in pushers {
        pushed += p.await?;
    }
    let (lines, raw_bytes, needle, bits, gen_cpu) =
        generator.join().map_err(|_| "generator panicked")??;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (cpu_secs("/proc/self/stat") - cpu0 - gen_cpu).max(0.001);
    println!(
        "ingest: {pushed} of {lines} lines pushed in 1,000-line protobuf+snappy batches, {wall:.1} s wall, {cpu:.1} s CPU (generator excluded)"
    );
    println!(
        "ingest_per_core={:.0} lines/s per core; wall {:.0} lines/s",
        pushed as f64 / cpu,
        pushed as f64 / wall
    );
    let s2 = store.clone();
    // the head cut into blocks, then compacted as the maintenance thread would
    tokio::task::spawn_blocking(move || {
        s2.events().flush()?;
        s2.events().run_maintenance()
    })
    .await??;
    println!(
        "raw_bytes={raw_bytes} disk_ratio={:.4} (after compaction; head cut every {})",
        du(&work.join("store")) as f64 / raw_bytes as f64,
        if flush_every > 0 {
            format!("{} MB pushed", flush_every as f64 / 1e6)
        } else {
            "third of the head's memory".to_owned()
        }
    );
    // What the generator's random draws carry: no lossless store goes below this ratio.
    let bound = bits / 8.0 / raw_bytes as f64;
    println!(
        "shape={} entropy_ratio={bound:.4} ({:.1} random bytes per {:.0}-byte line: the floor for any lossless store)",
        shape.name(),
        bits / 8.0 / lines as f64,
        raw_bytes as f64 / lines as f64
    );
    println!("NEEDLE={needle}");

    // 2. the needle query through the engine
    let app = App::new(store.clone(), cfg.max_push_bytes);
    let mut times = Vec::new();
    let mut hits = 0;
    for _ in 0..5 {
        let (app, needle) = (app.clone(), needle.clone());
        let t = Instant::now();
        hits = tokio::task::spawn_blocking(move || {
            let src = app.store.source("fake");
            let now = opshelf_logs::api::params::now_ns();
            let p = Params {
                start_ns: now - 7 * 24 * 3600 * 1_000_000_000 - 1,
                end_ns: now + 1,
                step_ns: 60_000_000_000,
                interval_ns: None,
                direction: Direction::Backward,
                limit: 100,
                instant: false,
            };
            match app
                .engine
                .query(&src, &format!("{{app=\"x\"}} |= \"{needle}\""), &p)
            {
                Ok((opshelf_logs::logql_adapter::QueryResult::Streams(s), _)) => {
                    s.iter().map(|s| s.entries.len()).sum()
                }
                _ => 0,
            }
        })
        .await?;
        times.push(t.elapsed().as_secs_f64());
    }
    println!(
        "needle_secs={:.3} hits={hits} (median of 5; first {:.3} s)",
        pct(times.clone(), 0.5),
        times[0]
    );

    // the log-volume metric over the 7 days
    // (median of LEVEL_SUM_RUNS runs, default 3; more make it most of a profile)
    let runs: usize = match std::env::var("LEVEL_SUM_RUNS") {
        Ok(v) => v.parse().map_err(|_| "LEVEL_SUM_RUNS: a number of runs")?,
        Err(_) => 3,
    };
    let mut times = Vec::new();
    let mut series = Ok(0);
    for _ in 0..runs.max(1) {
        let app = app.clone();
        let t = Instant::now();
        series = tokio::task::spawn_blocking(move || {
            let src = app.store.source("fake");
            let now = opshelf_logs::api::params::now_ns();
            let p = Params {
                start_ns: now - 7 * 24 * 3600 * 1_000_000_000,
                end_ns: now + 1,
                step_ns: 300_000_000_000,
                interval_ns: None,
                direction: Direction::Backward,
                limit: 100,
                instant: false,
            };
            match app.engine.query(
                &src,
                // `| logfmt` makes every trace id a label; the engine groups by `level` before
                // keeping windows (the sum's grouping is pushed down), as Loki answers it
                "sum by (level) (count_over_time({app=\"x\"} | logfmt [5m]))",
                &p,
            ) {
                Ok((opshelf_logs::logql_adapter::QueryResult::Matrix(m), _)) => Ok(m.len()),
                Ok(_) => Err("not a matrix".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        times.push(t.elapsed().as_secs_f64());
    }
    println!(
        "sum_by_level_7d_secs={:.2} series={series:?} (app x: a sixth of the lines; median of {}, first {:.2} s)",
        pct(times.clone(), 0.5),
        times.len(),
        times[0]
    );

    // 3. labels / series at 10,000 streams
    let now = opshelf_logs::api::params::now_ns();
    for chunk in 0..10 {
        let streams: Vec<PushStream> = (0..1000)
            .map(|i| PushStream {
                labels: Labels::new(vec![
                    ("app".into(), "card".into()),
                    ("pod".into(), format!("pod-{chunk}-{i}")),
                    ("node".into(), format!("n{}", i % 50)),
                ]),
                entries: vec![Entry {
                    ts_ns: now - 1000 + i64::from(i),
                    line: "x".into(),
                    metadata: Vec::new(),
                }],
            })
            .collect();
        store.push("card", streams).await?;
    }
    let r = router(app.clone());
    for (name, uri) in [
        ("labels", "/loki/api/v1/labels".to_owned()),
        (
            "series",
            "/loki/api/v1/series?match[]=%7Bapp%3D%22card%22%7D".to_owned(),
        ),
    ] {
        let mut v = Vec::new();
        for _ in 0..50 {
            let req = axum::http::Request::get(&uri)
                .header("X-Scope-OrgID", "card")
                .body(Body::empty())?;
            let t = Instant::now();
            let resp = r.clone().oneshot(req).await?;
            let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "{name}_p95_ms={:.2} (median {:.2}) at 10,000 streams",
            pct(v.clone(), 0.95),
            pct(v, 0.5)
        );
    }
    println!("peak_rss_mb={:.1}", vm_hwm_mb());
    let s2 = store.clone();
    tokio::task::spawn_blocking(move || s2.events().close()).await??;
    Ok(())
}
