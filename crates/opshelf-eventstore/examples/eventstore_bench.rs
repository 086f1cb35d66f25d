//! The event store benchmark behind `bench/eventstore`: generates realistic log lines
//! (~200 bytes: timestamp, level, service, request id, trace id, span id, method, path,
//! status, duration, message; a request logs 1–6 lines sharing its ids), writes them to a raw
//! file and appends them to a store with durable acknowledgements, then prints throughput,
//! bytes on disk per raw byte, the needle lookup time and peak RSS as `key=value` lines.
//!
//! Usage: eventstore_bench <GB> <work dir>   (prints NEEDLE=<trace id> for the greps)

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opshelf_eventstore::{Config, EventStore, Labels, Record};

const SERVICES: [&str; 12] = [
    "checkout-api",
    "cart",
    "payments",
    "inventory",
    "search",
    "auth",
    "users",
    "shipping",
    "notifications",
    "gateway",
    "recommendations",
    "billing",
];
const PATHS: [&str; 8] = [
    "/api/v1/orders",
    "/api/v1/cart/items",
    "/api/v2/search",
    "/login",
    "/api/v1/users",
    "/healthz",
    "/api/v1/payments/intent",
    "/api/v1/shipments",
];
const MSGS: [&str; 12] = [
    "request started",
    "request completed",
    "cache miss, loading from database",
    "upstream call finished",
    "retrying upstream after timeout",
    "validation failed for field email",
    "order fetched",
    "payment authorized",
    "rate limit close to threshold",
    "slow query detected",
    "session refreshed",
    "item added to cart",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn proc_cpu_secs(path: &str, tick: f64) -> f64 {
    let Ok(s) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // fields after the ")" of the command name: state is field 3; utime 14, stime 15
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (num(11) + num(12)) / tick
}

fn vm_hwm_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn du(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                n += du(&e.path());
            } else {
                n += m.len();
            }
        }
    }
    n
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Generated {
    records: u64,
    raw_bytes: u64,
    needle: String,
    gen_cpu: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let gb: f64 = args.get(1).map_or(Ok(10.0), |s| s.parse())?;
    let work = PathBuf::from(
        args.get(2)
            .ok_or("usage: eventstore_bench <GB> <work dir>")?,
    );
    let tick: f64 = std::env::var("CLK_TCK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100.0);
    let appenders: usize = std::env::var("BENCH_APPENDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let target_bytes = (gb * 1e9) as u64;
    let dir = work.join("store");
    let raw_path = work.join("raw.log");
    let cfg = Config::default();
    let store = EventStore::open(&dir, cfg.clone())?;
    println!(
        "config: memory_budget={}MiB block_target={}MiB chunk_target={}KiB zstd_level={} bloom_bits={} appenders={appenders}",
        cfg.memory_budget_bytes >> 20,
        cfg.block_target_bytes >> 20,
        cfg.chunk_target_bytes >> 10,
        cfg.zstd_level,
        cfg.bloom_bits_per_token
    );

    let labels: Vec<Labels> = SERVICES
        .iter()
        .map(|s| Labels::new([("service", *s), ("env", "prod")]))
        .collect();
    let (tx, rx) = sync_channel::<(usize, Vec<Record>)>(appenders * 2);
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let cpu0 = proc_cpu_secs("/proc/self/stat", tick);
    let t0 = Instant::now();

    // the generator: one thread, its CPU time measured on its own and subtracted
    let gen_handle = std::thread::spawn(move || -> std::io::Result<Generated> {
        let mut raw = BufWriter::with_capacity(1 << 20, std::fs::File::create(&raw_path)?);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let lines_est = (target_bytes / 200).max(1) as i64;
        let span_ns: i64 = 10 * 3600 * 1_000_000_000;
        let step = (span_ns / lines_est).max(1);
        let mut t = now - span_ns;
        let mut bufs: Vec<Vec<Record>> = (0..SERVICES.len())
            .map(|_| Vec::with_capacity(1000))
            .collect();
        let mut written = 0u64;
        let mut records = 0u64;
        let needle_at = target_bytes * 37 / 100;
        let needle = format!("{:016x}{:016x}", 0x5eed_u64 ^ rng.next(), rng.next());
        let mut needle_done = false;
        let mut line = String::with_capacity(256);
        while written < target_bytes {
            let svc = rng.below(SERVICES.len() as u64) as usize;
            let mut trace = format!("{:016x}{:016x}", rng.next(), rng.next());
            let mut n_lines = 1 + rng.below(6);
            if !needle_done && written >= needle_at {
                trace.clone_from(&needle);
                n_lines = 1;
                needle_done = true;
            }
            let req = format!("{:016x}", rng.next());
            let path = PATHS[rng.below(PATHS.len() as u64) as usize];
            let item = rng.below(100_000);
            for _ in 0..n_lines {
                t += step;
                let secs = t / 1_000_000_000;
                let micros = (t % 1_000_000_000) / 1000;
                let (level, status) = match rng.below(100) {
                    0..=79 => ("info", 200),
                    80..=91 => ("debug", 200),
                    92..=97 => ("warn", 429),
                    _ => ("error", 503),
                };
                line.clear();
                use std::fmt::Write as _;
                let _ = write!(
                    line,
                    "ts={secs}.{micros:06} level={level} svc={} req={req} trace={trace} span={:016x} GET {path}/{item} status={status} dur_ms={} msg=\"{}\"",
                    SERVICES[svc],
                    rng.next(),
                    rng.below(900),
                    MSGS[rng.below(MSGS.len() as u64) as usize],
                );
                raw.write_all(line.as_bytes())?;
                raw.write_all(b"\n")?;
                written += line.len() as u64 + 1;
                records += 1;
                bufs[svc].push(Record::new(t, line.as_bytes().to_vec()));
                if bufs[svc].len() >= 1000 {
                    let b = std::mem::replace(&mut bufs[svc], Vec::with_capacity(1000));
                    if tx.send((svc, b)).is_err() {
                        return Err(std::io::Error::other("appenders stopped"));
                    }
                }
            }
        }
        for (svc, b) in bufs.into_iter().enumerate() {
            if !b.is_empty() && tx.send((svc, b)).is_err() {
                return Err(std::io::Error::other("appenders stopped"));
            }
        }
        raw.flush()?;
        Ok(Generated {
            records,
            raw_bytes: written,
            needle,
            gen_cpu: proc_cpu_secs("/proc/thread-self/stat", tick),
        })
    });

    let mut workers = Vec::new();
    for _ in 0..appenders {
        let store = store.clone();
        let rx = rx.clone();
        let labels = labels.clone();
        workers.push(std::thread::spawn(
            move || -> opshelf_eventstore::Result<u64> {
                let mut n = 0u64;
                loop {
                    let msg = rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((svc, batch)) = msg else { return Ok(n) };
                    n += store
                        .append_blocking("bench", &labels[svc], &batch)?
                        .records as u64;
                }
            },
        ));
    }
    let g = gen_handle.join().map_err(|_| "generator panicked")??;
    let mut acked = 0u64;
    for w in workers {
        acked += w.join().map_err(|_| "appender panicked")??;
    }
    let append_wall = t0.elapsed().as_secs_f64();
    let append_cpu = proc_cpu_secs("/proc/self/stat", tick) - cpu0;
    assert_eq!(acked, g.records, "every record acknowledged");
    let store_cpu = (append_cpu - g.gen_cpu).max(0.001);
    println!(
        "records={} raw_bytes={} acked={acked}",
        g.records, g.raw_bytes
    );
    println!(
        "append: wall {append_wall:.1}s = {:.0} records/s ({:.1} MB/s); CPU {append_cpu:.1}s total, {:.1}s generator, {store_cpu:.1}s store",
        g.records as f64 / append_wall,
        g.raw_bytes as f64 / 1e6 / append_wall,
        g.gen_cpu
    );
    println!(
        "append_per_core={:.0} records/s per core (store CPU, durable acks; incl. generator: {:.0})",
        g.records as f64 / store_cpu,
        g.records as f64 / append_cpu.max(0.001)
    );

    // cut the head, compact, then measure
    let t1 = Instant::now();
    store.flush()?;
    store.run_maintenance()?;
    let st = store.stats();
    println!(
        "flush+compaction after ingest: {:.1}s; blocks={} block_bytes={} block_raw_bytes={} compactions={}",
        t1.elapsed().as_secs_f64(),
        st.blocks,
        st.block_bytes,
        st.block_raw_bytes,
        st.compactions
    );
    let disk = du(&dir);
    println!(
        "disk_ratio={:.3} ({} bytes on disk for {} raw bytes)",
        disk as f64 / g.raw_bytes as f64,
        disk,
        g.raw_bytes
    );
    println!("NEEDLE={}", g.needle);

    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let hits: Vec<_> = store
            .lookup_token("bench", &g.needle, i64::MIN, i64::MAX, 10)?
            .collect::<opshelf_eventstore::Result<_>>()?;
        times.push(t.elapsed().as_secs_f64());
        found = hits.len();
    }
    println!(
        "needle_secs={:.3} (median of 5; first {:.3}s) hits={found}",
        median(times.clone()),
        times[0]
    );
    // a time-range + matcher scan: one service, one hour, counted without materialising
    let q = opshelf_eventstore::Query {
        matchers: vec![opshelf_eventstore::Matcher::eq("service", "payments")],
        ..opshelf_eventstore::Query::all("bench")
    };
    let t = Instant::now();
    let mut n = 0u64;
    let mut errors = 0u64;
    for h in store.query(q)? {
        match h {
            Ok(h) if h.record.body.windows(6).any(|w| w == b"status") => n += 1,
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    println!(
        "scan_payments: {n} records in {:.2}s ({errors} errors), peak query memory within {} MiB",
        t.elapsed().as_secs_f64(),
        st.query_memory_budget >> 20
    );
    store.close()?;
    drop(store);
    std::thread::sleep(Duration::from_millis(10));
    println!("peak_rss_mb={:.1}", vm_hwm_mb());

    // the whole retention period under a tiny budget: 4 MiB in all, 1 MiB for queries
    let tiny = Config {
        memory_budget_bytes: 4 << 20,
        limits: opshelf_eventstore::Limits {
            max_batch_bytes: 1 << 20,
            ..opshelf_eventstore::Limits::default()
        },
        ..Config::default()
    };
    let store = EventStore::open(&dir, tiny)?;
    for (name, matchers) in [
        (
            "one service",
            vec![opshelf_eventstore::Matcher::eq("service", "payments")],
        ),
        ("all services at once", Vec::new()),
    ] {
        let t = Instant::now();
        let (mut n, mut peak) = (0u64, 0usize);
        let mut outcome = String::from("answered");
        let q = opshelf_eventstore::Query {
            matchers,
            ..opshelf_eventstore::Query::all("bench")
        };
        for h in store.query(q)? {
            match h {
                Ok(_) => n += 1,
                Err(e) => {
                    outcome = format!("refused: {e}");
                    break;
                }
            }
            if n % 4096 == 0 {
                peak = peak.max(store.stats().query_memory_used);
            }
        }
        println!(
            "tiny_budget_scan {name}: {outcome} after {n} records in {:.1}s; peak held {} KiB of a {} KiB query share",
            t.elapsed().as_secs_f64(),
            peak >> 10,
            store.stats().query_memory_budget >> 10
        );
    }
    Ok(())
}
