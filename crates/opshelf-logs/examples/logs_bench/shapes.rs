//! The line generators behind `bench/logs`, and what their lines carry.
//!
//! - `requests` (the default) is a web backend that logs with OpenTelemetry correlation.
//!   - A request writes 2 to 6 lines: started, then up to four of db query, cache, slow
//!     upstream or upstream error, then finished with status and duration. Every line
//!     carries the request's trace id and, except a db call's line, which has a child span
//!     of its own, the request's span id.
//!   - Eight requests per app are in flight at once, so lines of different requests
//!     interleave in the stream.
//!   - A quarter of the lines are background work with no trace id: health checks, job runs,
//!     cache and pool stats. Loki's own LogQL benchmark generator
//!     (`pkg/logql/bench/generator.go`) gives trace context to about 30% of its entries,
//!     so this generator is, if anything, heavy on ids.
//! - `unique` is the first generator, unchanged draw for draw, so its figures stay
//!   comparable. Every line has a fresh 128-bit trace id and 64-bit span id. That is the
//!   worst case for a compressor and for the filters, and not how a request logs.
//!
//! Every random draw shows in the line it shapes, or in which lines follow. So the
//! information a run's lines carry is the sum, over its draws, of `-log2` of the drawn
//! outcome's probability. That sum is `bits`, and no lossless store goes below
//! `bits / 8` bytes.

pub const APPS: &[&str] = &["x", "checkout", "cart", "search", "auth", "billing"];
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
const METHODS: &[(&str, u64)] = &[("GET", 14), ("POST", 4), ("PUT", 1), ("DELETE", 1)];
const STATUSES: &[(u16, &str, u64)] = &[(200, "info", 45), (404, "warn", 3), (500, "error", 2)];
const TABLES: &[&str] = &["items", "carts", "users", "orders", "sessions"];
const UPSTREAMS: &[&str] = &["payments", "inventory", "search-index"];
const JOBS: &[&str] = &["reindex", "expire-carts", "send-receipts", "rollup"];
/// Requests in flight per app.
const SLOTS: usize = 8;

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

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Requests,
    Unique,
}

impl Shape {
    pub fn parse(s: &str) -> Option<Shape> {
        match s {
            "requests" => Some(Shape::Requests),
            "unique" => Some(Shape::Unique),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Shape::Requests => "requests",
            Shape::Unique => "unique",
        }
    }
}

struct Request {
    trace: String,
    span: u64,
    method: &'static str,
    path: String,
    /// Middle lines still to write before "request finished".
    middle: u64,
}

pub struct Gen {
    shape: Shape,
    rng: Rng,
    /// Information drawn so far, in bits (see the module docs).
    pub bits: f64,
    needle: String,
    /// The needle goes into the next line (`unique`) or the next request `{app="x"}` starts.
    needle_pending: bool,
    slots: Vec<Vec<Option<Request>>>,
}

impl Gen {
    pub fn new(shape: Shape) -> Gen {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let needle = format!("{:016x}{:016x}", rng.next(), rng.next());
        Gen {
            shape,
            rng,
            bits: 128.0,
            needle,
            needle_pending: false,
            slots: (0..APPS.len())
                .map(|_| (0..SLOTS).map(|_| None).collect())
                .collect(),
        }
    }

    pub fn needle(&self) -> &str {
        &self.needle
    }

    /// Puts the needle into `{app="x"}`: into the next line, or into every line of the
    /// next request that starts there.
    pub fn place_needle(&mut self) {
        self.needle_pending = true;
    }

    /// The next line and the index of its app.
    pub fn line(&mut self) -> (usize, String) {
        match self.shape {
            Shape::Unique => self.unique(),
            Shape::Requests => self.request_line(),
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.bits += (n as f64).log2();
        self.rng.below(n)
    }

    fn full(&mut self) -> u64 {
        self.bits += 64.0;
        self.rng.next()
    }

    /// Index into `weights`, drawn in proportion to them.
    fn pick(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut r = self.rng.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                self.bits += (total as f64 / w as f64).log2();
                return i;
            }
            r -= w;
        }
        unreachable!("r < total")
    }

    fn unique(&mut self) -> (usize, String) {
        let mut app = self.below(APPS.len() as u64) as usize;
        let trace = if std::mem::take(&mut self.needle_pending) {
            app = 0;
            self.needle.clone()
        } else {
            format!("{:016x}{:016x}", self.full(), self.full())
        };
        // info 1/2, debug, warn, error 1/6 each: six equal draws, info on three of them
        let l = self.rng.below(6);
        self.bits += if l < 3 { 1.0 } else { 6f64.log2() };
        let level = ["info", "info", "info", "debug", "warn", "error"][l as usize];
        let line = format!(
            "level={level} app={} trace_id={trace} span={:016x} GET {}/{} status=200 dur_ms={} msg=\"{}\"",
            APPS[app],
            self.full(),
            PATHS[self.below(PATHS.len() as u64) as usize],
            self.below(100_000),
            self.below(900),
            MSGS[self.below(MSGS.len() as u64) as usize]
        );
        (app, line)
    }

    fn request_line(&mut self) -> (usize, String) {
        let app = self.below(APPS.len() as u64) as usize;
        let name = APPS[app];
        if self.pick(&[1, 3]) == 0 {
            return (app, self.background(name));
        }
        let slot = self.below(SLOTS as u64) as usize;
        let Some(mut req) = self.slots[app][slot].take() else {
            let req = self.start(app);
            let line = format!(
                "level=info app={name} trace_id={} span_id={:016x} msg=\"request started\" method={} path={} client_ip=10.{}.{}.{}",
                req.trace,
                req.span,
                req.method,
                req.path,
                self.below(256),
                self.below(256),
                self.below(256)
            );
            self.slots[app][slot] = Some(req);
            return (app, line);
        };
        let line = if req.middle == 0 {
            let w: Vec<u64> = STATUSES.iter().map(|s| s.2).collect();
            let (status, level, _) = STATUSES[self.pick(&w)];
            format!(
                "level={level} app={name} trace_id={} span_id={:016x} msg=\"request finished\" method={} path={} status={status} dur_ms={}",
                req.trace,
                req.span,
                req.method,
                req.path,
                self.below(900)
            )
        } else {
            req.middle -= 1;
            let line = self.middle(name, &req);
            self.slots[app][slot] = Some(req);
            line
        };
        (app, line)
    }

    fn start(&mut self, app: usize) -> Request {
        let trace = if app == 0 && std::mem::take(&mut self.needle_pending) {
            self.needle.clone()
        } else {
            format!("{:016x}{:016x}", self.full(), self.full())
        };
        let span = self.full();
        let w: Vec<u64> = METHODS.iter().map(|m| m.1).collect();
        let method = METHODS[self.pick(&w)].0;
        let path = format!(
            "{}/{}",
            PATHS[self.below(PATHS.len() as u64) as usize],
            self.below(100_000)
        );
        let middle = self.below(5);
        Request {
            trace,
            span,
            method,
            path,
            middle,
        }
    }

    fn middle(&mut self, name: &str, req: &Request) -> String {
        let (trace, span) = (&req.trace, req.span);
        match self.pick(&[8, 7, 3, 2]) {
            0 => {
                let child = self.full();
                format!(
                    "level=debug app={name} trace_id={trace} span_id={child:016x} msg=\"db query\" table={} rows={} dur_ms={}",
                    TABLES[self.below(TABLES.len() as u64) as usize],
                    self.below(50),
                    self.below(40)
                )
            }
            1 => format!(
                "level=debug app={name} trace_id={trace} span_id={span:016x} msg=\"cache {}\" key={}",
                ["hit", "miss"][self.below(2) as usize],
                req.path
            ),
            2 => format!(
                "level=warn app={name} trace_id={trace} span_id={span:016x} msg=\"slow upstream\" upstream={} dur_ms={}",
                UPSTREAMS[self.below(UPSTREAMS.len() as u64) as usize],
                300 + self.below(1500)
            ),
            _ => format!(
                "level=error app={name} trace_id={trace} span_id={span:016x} msg=\"upstream failed\" upstream={} error=\"{}\" attempt={}",
                UPSTREAMS[self.below(UPSTREAMS.len() as u64) as usize],
                [
                    "connection reset by peer",
                    "timeout after 2s",
                    "503 Service Unavailable"
                ][self.below(3) as usize],
                1 + self.below(3)
            ),
        }
    }

    fn background(&mut self, name: &str) -> String {
        match self.below(4) {
            0 => format!(
                "level=info app={name} msg=\"health check\" status=ok dur_ms={}",
                self.below(5)
            ),
            1 => format!(
                "level=info app={name} msg=\"job finished\" job={} items={} dur_ms={}",
                JOBS[self.below(JOBS.len() as u64) as usize],
                self.below(1000),
                self.below(5000)
            ),
            2 => format!(
                "level=debug app={name} msg=\"cache stats\" hits={} misses={}",
                self.below(100_000),
                self.below(10_000)
            ),
            _ => format!(
                "level=info app={name} msg=\"pool stats\" open={} idle={}",
                self.below(20),
                self.below(20)
            ),
        }
    }
}
