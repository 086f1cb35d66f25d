//! Engine throughput on generated data (no storage): the logs bench's metric query shape
//! `sum by (level) (count_over_time({app="x"}[5m]))` over 7 days, plus a parsed variant.
//! Run: `cargo run --release -p opshelf-logql --example engine_bench [lines_per_second]`.

use std::time::Instant;

use opshelf_logql::engine::RowIter;
use opshelf_logql::{
    Direction, Engine, EngineLimits, LabelMatcher, Labels, LogRow, Params, QueryResult,
    SelectRequest, Source, SourceError,
};

const S: i64 = 1_000_000_000;
const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// Streams `{app="x", level=L}` with `rate` lines per second each, generated lazily in time order.
struct Gen {
    streams: Vec<Labels>,
    rate: i64,
}

impl Source for Gen {
    fn select(&self, req: &SelectRequest) -> Result<RowIter<'_>, SourceError> {
        let matching: Vec<Labels> = self
            .streams
            .iter()
            .filter(|l| req.matchers.iter().all(|m| m.matches_labels(l)))
            .cloned()
            .collect();
        let gap = S / self.rate;
        let first = req.from_ns.div_euclid(gap) * gap;
        let n = matching.len() as i64;
        let mut i = 0i64;
        let (from, to) = (req.from_ns, req.to_ns);
        Ok(Box::new(std::iter::from_fn(move || {
            loop {
                let ts = first + (i / n.max(1)) * gap;
                if n == 0 || ts >= to {
                    return None;
                }
                let idx = usize::try_from(i % n).unwrap_or(0);
                i += 1;
                if ts < from {
                    continue;
                }
                let l = &matching[idx];
                let line = format!(
                    "ts={ts} level={} msg=\"request served\" status=200 duration={}ms",
                    l.get("level").unwrap_or(""),
                    ts.rem_euclid(997)
                );
                return Some(Ok(LogRow {
                    ts_ns: ts,
                    labels: l.clone(),
                    metadata: Vec::new(),
                    line,
                }));
            }
        })))
    }

    fn series(
        &self,
        _m: &[Vec<LabelMatcher>],
        _f: i64,
        _t: i64,
    ) -> Result<Vec<Labels>, SourceError> {
        Ok(self.streams.clone())
    }
}

fn main() {
    let rate: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let src = Gen {
        streams: LEVELS
            .iter()
            .map(|l| {
                Labels::new(vec![
                    ("app".into(), "x".into()),
                    ("level".into(), (*l).into()),
                ])
            })
            .collect(),
        rate,
    };
    let engine = Engine::new(EngineLimits {
        timeout: std::time::Duration::from_secs(600),
        ..EngineLimits::default()
    });
    let end = 7 * 86_400 * S;
    let p = Params {
        start_ns: 0,
        end_ns: end,
        step_ns: 300 * S,
        interval_ns: None,
        direction: Direction::Forward,
        limit: 100,
        instant: false,
    };
    // Baseline: the generator alone (formatting every line), so the engine's share can be read off.
    {
        let mut runs = Vec::new();
        let mut n = 0u64;
        for _ in 0..3 {
            let t = Instant::now();
            let req = SelectRequest {
                matchers: vec![
                    LabelMatcher::new("app", opshelf_logql::MatchOp::Eq, "x").expect("matcher"),
                ],
                from_ns: 0,
                to_ns: end,
                direction: Direction::Forward,
                needles: Vec::new(),
                limit: None,
            };
            n = 0;
            for r in src.select(&req).expect("select") {
                n += u64::from(r.expect("row").line.len() > 1);
            }
            runs.push(t.elapsed().as_secs_f64());
        }
        runs.sort_by(f64::total_cmp);
        println!("generator only: {n} lines, median {:.3} s", runs[1]);
    }
    for q in [
        r#"sum by (level) (count_over_time({app="x"}[5m]))"#,
        r#"sum by (level) (count_over_time({app="x"} |= "served" [5m]))"#,
        r#"sum by (status) (count_over_time({app="x"} | logfmt status [5m]))"#,
        // the logs bench's query: parser hints let logfmt extract only `level`
        r#"sum by (level) (count_over_time({app="x"} | logfmt [5m]))"#,
        r#"quantile_over_time(0.99, {app="x"} | logfmt | unwrap duration(duration) [5m]) by (level)"#,
    ] {
        let mut runs = Vec::new();
        let mut lines = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let (r, stats) = engine.query(&src, q, &p).expect("query");
            runs.push(t.elapsed().as_secs_f64());
            lines = stats.total_lines_processed;
            let QueryResult::Matrix(m) = r else {
                panic!("matrix")
            };
            assert!(!m.is_empty());
        }
        runs.sort_by(f64::total_cmp);
        let med = runs[1];
        #[allow(clippy::cast_precision_loss)]
        let per_s = lines as f64 / med;
        println!(
            "{q}\n    {lines} lines over 7 days, 2016 steps: median {med:.3} s ({per_s:.0} lines/s, one core)"
        );
    }
}
