//! The logs benchmark behind `bench/logs` (not run in CI). In one process:
//! 1. push ingest: generated log lines (bench/eventstore's shape, ~200 bytes, trace ids) in
//!    1,000-line protobuf+snappy `PushRequest`s, each decoded, validated and appended
//!    durably by the same code as `POST /loki/api/v1/push` (HTTP framing excluded); CPU of
//!    the generator thread is subtracted;
//! 2. the needle query `{app="x"} |= "<trace id>"` through the engine over all of it (median
//!    of 5), then `sum by (level) (count_over_time({app="x"} | logfmt [5m]))` over the 7 days
//!    the data spans (one app: a sixth of the lines);
//! 3. `labels` and `series` through the router at 10,000 streams (p95 of 50);
//! 4. peak RSS and disk bytes per raw byte. The raw text is written to `<work>/raw.log` for
//!    `grep -F` / `zstd -dc | grep -F` in the script.
//!
//! Usage: logs_bench <GB> <work dir>

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

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const APPS: &[&str] = &["x", "checkout", "cart", "search", "auth", "billing"];
const PATHS: &[&str] = &[
    "/api/cart",
    "/api/items",
    "/api/search",
    "/login",
    "/checkout",
];
const MSGS: &[&str] = &[
    "request served",
    "cache miss",
    "slow upstream",
    "retrying",
    "user not found",
];

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
    let work = PathBuf::from(args.get(2).ok_or("usage: logs_bench <GB> <work dir>")?);
    let target = (gb * 1e9) as u64;
    let cfg = Config {
        retention_age_secs: 0,
        ..Config::default()
    };
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
    let generator = std::thread::spawn(move || -> std::io::Result<(u64, u64, String, f64)> {
        let mut raw = BufWriter::with_capacity(1 << 20, std::fs::File::create(raw_path)?);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let now = opshelf_logs::api::params::now_ns();
        let span: i64 = 7 * 24 * 3600 * 1_000_000_000;
        let step = (span / (target as i64 / 200).max(1)).max(1);
        let mut t = now - span;
        let needle = format!("{:016x}{:016x}", rng.next(), rng.next());
        let (mut written, mut lines, mut placed) = (0u64, 0u64, false);
        let mut bufs: Vec<Vec<Entry>> = vec![Vec::new(); APPS.len()];
        while written < target {
            let mut app = rng.below(APPS.len() as u64) as usize;
            let trace = if !placed && written >= target * 37 / 100 {
                placed = true;
                app = 0; // the needle's line is in {app="x"}, the stream the query selects
                needle.clone()
            } else {
                format!("{:016x}{:016x}", rng.next(), rng.next())
            };
            t += step;
            let level = ["info", "info", "info", "debug", "warn", "error"][rng.below(6) as usize];
            let line = format!(
                "level={level} app={} trace_id={trace} span={:016x} GET {}/{} status=200 dur_ms={} msg=\"{}\"",
                APPS[app],
                rng.next(),
                PATHS[rng.below(PATHS.len() as u64) as usize],
                rng.below(100_000),
                rng.below(900),
                MSGS[rng.below(MSGS.len() as u64) as usize]
            );
            raw.write_all(line.as_bytes())?;
            raw.write_all(b"\n")?;
            written += line.len() as u64 + 1;
            lines += 1;
            bufs[app].push(Entry {
                ts_ns: t,
                line,
                metadata: Vec::new(),
            });
            if bufs[app].len() == 1000 {
                let entries = std::mem::take(&mut bufs[app]);
                let body = proto::encode(&[PushStream {
                    labels: Labels::new(vec![
                        ("app".into(), APPS[app].into()),
                        ("env".into(), "prod".into()),
                    ]),
                    entries,
                }]);
                if tx.blocking_send(body).is_err() {
                    break;
                }
            }
        }
        raw.flush()?;
        Ok((lines, written, needle, cpu_secs("/proc/thread-self/stat")))
    });
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let cpu0 = cpu_secs("/proc/self/stat");
    let t0 = Instant::now();
    let mut pushers = Vec::new();
    for _ in 0..4 {
        let (rx, store) = (rx.clone(), store.clone());
        pushers.push(tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let Some(body) = rx.lock().await.recv().await else {
                    return n;
                };
                let streams = proto::decode(&body, 8 << 20).expect("decode");
                n += store.push("fake", streams).await.expect("push");
            }
        }));
    }
    let mut pushed = 0;
    for p in pushers {
        pushed += p.await?;
    }
    let (lines, raw_bytes, needle, gen_cpu) =
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
    tokio::task::spawn_blocking(move || s2.events().flush()).await??;
    println!(
        "raw_bytes={raw_bytes} disk_ratio={:.3}",
        du(&work.join("store")) as f64 / raw_bytes as f64
    );
    // What the generator's random choices carry: no lossless store goes below this ratio.
    let entropy_bits = (APPS.len() as f64).log2()
        + 128.0 // trace id
        + 64.0 // span id
        + (0.5 + 3.0 * (6f64.log2() / 6.0)) // level: info 1/2, debug, warn, error 1/6 each
        + (PATHS.len() as f64).log2()
        + 100_000f64.log2()
        + 900f64.log2()
        + (MSGS.len() as f64).log2();
    let bound = entropy_bits / 8.0 * lines as f64 / raw_bytes as f64;
    println!(
        "entropy_ratio={bound:.3} ({:.1} random bytes per {:.0}-byte line: the floor for any lossless store)",
        entropy_bits / 8.0,
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
    {
        let app = app.clone();
        let t = Instant::now();
        let series = tokio::task::spawn_blocking(move || {
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
        println!(
            "sum_by_level_7d_secs={:.2} series={series:?} (app x: a sixth of the lines)",
            t.elapsed().as_secs_f64()
        );
    }

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
