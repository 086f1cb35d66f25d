//! The query engine's public face: the source trait, parameters, results, limits.

use std::time::{Duration, Instant};

use crate::ast::Expr;
use crate::labels::{LabelMatcher, Labels};
use crate::parse::{ParseError, parse_expr};
use crate::pipeline::{LabelsBuilder, Pipeline};

/// Scan direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// What the engine asks a source for.
#[derive(Debug, Clone)]
pub struct SelectRequest {
    /// Stream matchers (all must match).
    pub matchers: Vec<LabelMatcher>,
    /// Inclusive start, ns.
    pub from_ns: i64,
    /// Exclusive end, ns.
    pub to_ns: i64,
    /// Order of the returned entries.
    pub direction: Direction,
    /// Literal substrings every matching line contains (a hint; the engine re-checks).
    pub needles: Vec<String>,
    /// A hint only.
    pub limit: Option<usize>,
}

/// One log entry from a source.
#[derive(Debug, Clone)]
pub struct LogRow {
    /// Timestamp, ns.
    pub ts_ns: i64,
    /// Stream labels.
    pub labels: Labels,
    /// Structured metadata.
    pub metadata: Vec<(String, String)>,
    /// The line.
    pub line: String,
}

/// A source failure.
#[derive(thiserror::Error, Debug)]
pub enum SourceError {
    /// A limit was hit (a 400 in Loki's words).
    #[error("{0}")]
    Limit(String),
    /// The source is busy with other queries; the caller may retry (Loki's 429 "too many
    /// outstanding requests").
    #[error("{0}")]
    Busy(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The iterator a source returns.
pub type RowIter<'a> = Box<dyn Iterator<Item = Result<LogRow, SourceError>> + 'a>;

/// Where the engine reads log entries from.
pub trait Source {
    /// Every entry of every stream matching all matchers with `from_ns <= ts < to_ns`, in `direction`.
    ///
    /// # Errors
    /// Source failures.
    fn select(&self, req: &SelectRequest) -> Result<RowIter<'_>, SourceError>;
    /// The label sets of matching streams in the range.
    ///
    /// # Errors
    /// Source failures.
    fn series(
        &self,
        matchers: &[Vec<LabelMatcher>],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<Labels>, SourceError>;
}

/// Query parameters.
#[derive(Debug, Clone)]
pub struct Params {
    /// Start, ns (== end for instant queries).
    pub start_ns: i64,
    /// End, ns.
    pub end_ns: i64,
    /// Step, ns (0 for instant).
    pub step_ns: i64,
    /// Log queries: only return entries at this interval.
    pub interval_ns: Option<i64>,
    /// Log query direction.
    pub direction: Direction,
    /// Log query entry limit.
    pub limit: usize,
    /// Instant query.
    pub instant: bool,
}

/// A query result.
#[derive(Debug, Clone)]
pub enum QueryResult {
    /// Log streams.
    Streams(Vec<Stream>),
    /// Range metric result.
    Matrix(Vec<Series>),
    /// Instant metric result.
    Vector(Vec<Sample>),
    /// A scalar: (ts ns, value).
    Scalar(i64, f64),
}

/// A stream of entries.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Labels (after the pipeline).
    pub labels: Labels,
    /// Entries.
    pub entries: Vec<StreamEntry>,
}

/// One returned entry.
#[derive(Debug, Clone)]
pub struct StreamEntry {
    /// Timestamp, ns.
    pub ts_ns: i64,
    /// Line (after the pipeline).
    pub line: String,
    /// Structured metadata.
    pub metadata: Vec<(String, String)>,
    /// Labels the pipeline extracted.
    pub parsed: Vec<(String, String)>,
}

/// A series of points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Labels.
    pub labels: Labels,
    /// (ts ns, value)
    pub points: Vec<(i64, f64)>,
}

/// One instant sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Labels.
    pub labels: Labels,
    /// Timestamp, ns.
    pub ts_ns: i64,
    /// Value.
    pub value: f64,
}

/// Query limits.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    /// Max series in a result (Loki's `max_query_series`).
    pub max_series: usize,
    /// Max entries a log query may ask for (`max_entries_limit_per_query`).
    pub max_entries: usize,
    /// Time budget.
    pub timeout: Duration,
    /// Max points per series (11,000 like Loki).
    pub max_points: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_series: 500,
            max_entries: 5000,
            timeout: Duration::from_secs(60),
            max_points: 11_000,
        }
    }
}

/// Evaluation errors.
#[derive(thiserror::Error, Debug)]
pub enum EvalError {
    /// The query did not parse (HTTP 400, body = Display).
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// A limit was hit (HTTP 400 in Loki's words).
    #[error("{0}")]
    Limit(String),
    /// The time budget ran out.
    #[error("query timed out")]
    Timeout,
    /// A pipeline error reached a metric result, or another evaluation failure (HTTP 400).
    #[error("{0}")]
    Query(String),
    /// The source failed.
    #[error("{0}")]
    Source(#[from] SourceError),
}

/// Statistics for Loki's `stats` block.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Bytes of lines read.
    pub total_bytes_processed: u64,
    /// Lines read.
    pub total_lines_processed: u64,
    /// Execution time, seconds.
    pub exec_time: f64,
    /// Entries returned (log queries).
    pub total_entries_returned: u64,
}

/// The engine.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    limits: EngineLimits,
    no_pushdown: bool,
}

pub(crate) struct Budget {
    pub deadline: Instant,
    pub stats: Stats,
    pub limits: EngineLimits,
    pub ticks: u32,
}

impl Budget {
    /// Checks the clock every 4096 rows.
    pub fn tick(&mut self, bytes: usize) -> Result<(), EvalError> {
        self.stats.total_lines_processed += 1;
        self.stats.total_bytes_processed += bytes as u64;
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(4096) && Instant::now() > self.deadline {
            return Err(EvalError::Timeout);
        }
        Ok(())
    }
}

impl Engine {
    /// An engine with these limits.
    #[must_use]
    pub fn new(limits: EngineLimits) -> Self {
        Self {
            limits,
            no_pushdown: false,
        }
    }

    /// The same engine without pushing an outer `sum`/`max`/`min` grouping into the range
    /// aggregation beneath it (for differential tests: results are identical, except that queries
    /// with more series before aggregation than the engine keeps fail with "maximum of series").
    #[must_use]
    pub fn without_pushdown(mut self) -> Self {
        self.no_pushdown = true;
        self
    }

    /// Runs a query.
    ///
    /// # Errors
    /// Parse errors, limits, timeouts, pipeline errors, source errors.
    pub fn query(
        &self,
        src: &dyn Source,
        query: &str,
        p: &Params,
    ) -> Result<(QueryResult, Stats), EvalError> {
        let started = Instant::now();
        let expr = parse_expr(query)?;
        let mut budget = Budget {
            deadline: started + self.limits.timeout,
            stats: Stats::default(),
            limits: self.limits.clone(),
            ticks: 0,
        };
        let res = match &expr {
            Expr::Log(l) => self.log_query(src, l, p, &mut budget)?,
            Expr::Sample(s) => crate::eval::run(src, s, p, &mut budget, !self.no_pushdown)?,
        };
        budget.stats.exec_time = started.elapsed().as_secs_f64();
        Ok((res, budget.stats))
    }

    fn log_query(
        &self,
        src: &dyn Source,
        l: &crate::ast::LogExpr,
        p: &Params,
        budget: &mut Budget,
    ) -> Result<QueryResult, EvalError> {
        if p.instant {
            return Err(EvalError::Query(
                "log queries are not supported as an instant query type, please change your query to a range query type"
                    .into(),
            ));
        }
        if p.limit > self.limits.max_entries {
            return Err(EvalError::Limit(format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {})",
                p.limit, self.limits.max_entries
            )));
        }
        let pipeline = Pipeline::new(&l.stages).map_err(EvalError::Query)?;
        let req = SelectRequest {
            matchers: l.matchers.clone(),
            from_ns: p.start_ns,
            to_ns: p.end_ns,
            direction: p.direction,
            needles: crate::pipeline::needles(l),
            limit: Some(p.limit),
        };
        let mut streams: Vec<Stream> = Vec::new();
        let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
        let mut lb = LabelsBuilder::default();
        let mut count = 0usize;
        let mut last_kept: Option<i64> = None;
        for row in src.select(&req)? {
            if count >= p.limit {
                break;
            }
            let row = row?;
            budget.tick(row.line.len())?;
            lb.reset(&row.labels, &row.metadata);
            let Some(line) = pipeline.process(row.ts_ns, &row.line, &mut lb) else {
                continue;
            };
            if let Some(iv) = p.interval_ns.filter(|i| *i > 0) {
                if let Some(last) = last_kept
                    && (row.ts_ns - last).abs() < iv
                {
                    continue;
                }
                last_kept = Some(row.ts_ns);
            }
            let labels = lb.labels();
            let i = *index.entry(labels.clone()).or_insert_with(|| {
                streams.push(Stream {
                    labels,
                    entries: Vec::new(),
                });
                streams.len() - 1
            });
            if streams.len() > self.limits.max_series {
                return Err(EvalError::Limit(format!(
                    "maximum of series ({}) reached for a single query",
                    self.limits.max_series
                )));
            }
            streams[i].entries.push(StreamEntry {
                ts_ns: row.ts_ns,
                line: line.into_owned(),
                metadata: row.metadata,
                parsed: lb.non_stream(),
            });
            count += 1;
        }
        budget.stats.total_entries_returned = count as u64;
        Ok(QueryResult::Streams(streams))
    }
}
