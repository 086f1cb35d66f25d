//! The one module that names the LogQL engine.
//!
//! TEMPORARY: the engine crate `opshelf-logql` is written in parallel. Until it lands, this
//! module holds a copy of its contract's types (the names and shapes of
//! `/work/prompts/logql-contract.md`) and a deliberately minimal evaluator: a stream selector
//! (`=`, `!=`, `=~`, `!~`) followed by `|=` line filters, as a log query. Everything else
//! (other filters, parsers, metric queries, `vector(1)+vector(1)`) answers Loki's parse error
//! shape with "not supported by the temporary evaluator". At merge this file becomes
//! `pub use opshelf_logql::{...};` and the rest of the crate is unchanged.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sorted, unique label pairs; clones share one allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Arc<[(String, String)]>);

impl Labels {
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        Labels(pairs.into())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Labels {
    /// Loki's (Prometheus') rendering: `{a="1", b="x\"y"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={}", serde_json::Value::String(v.to_owned()))?;
        }
        f.write_str("}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Neq,
    Re,
    NotRe,
}

#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Forward,
    #[default]
    Backward,
}

pub struct SelectRequest {
    pub matchers: Vec<LabelMatcher>,
    pub from_ns: i64,
    pub to_ns: i64,
    pub direction: Direction,
    pub needles: Vec<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct LogRow {
    pub ts_ns: i64,
    pub labels: Labels,
    pub metadata: Vec<(String, String)>,
    pub line: String,
}

#[derive(thiserror::Error, Debug)]
pub enum SourceError {
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Other(String),
}

pub type RowIter<'a> = Box<dyn Iterator<Item = Result<LogRow, SourceError>> + 'a>;

/// Where the engine reads log entries from.
pub trait Source {
    fn select(&self, req: &SelectRequest) -> Result<RowIter<'_>, SourceError>;
    fn series(
        &self,
        matchers: &[Vec<LabelMatcher>],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<Labels>, SourceError>;
}

pub struct Params {
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
    pub interval_ns: Option<i64>,
    pub direction: Direction,
    pub limit: usize,
    pub instant: bool,
}

#[derive(Debug, Clone)]
pub enum QueryResult {
    Streams(Vec<Stream>),
    Matrix(Vec<Series>),
    Vector(Vec<Sample>),
    Scalar(i64, f64),
}

#[derive(Debug, Clone)]
pub struct Stream {
    pub labels: Labels,
    pub entries: Vec<StreamEntry>,
}

#[derive(Debug, Clone)]
pub struct StreamEntry {
    pub ts_ns: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
    pub parsed: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: Labels,
    pub ts_ns: i64,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct EngineLimits {
    pub max_series: usize,
    pub max_entries: usize,
    pub timeout: Duration,
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

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub total_bytes_processed: u64,
    pub total_lines_processed: u64,
    pub exec_time: f64,
}

/// Loki's parse error: `parse error at line 1, col 7: syntax error: unexpected ...`.
#[derive(Debug, Clone)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.msg)
        } else {
            write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.col, self.msg
            )
        }
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Parse(ParseError),
    #[error("{0}")]
    Limit(String),
    #[error("query timed out")]
    Timeout,
    #[error("{0}")]
    Source(SourceError),
}

pub struct Engine {
    limits: EngineLimits,
}

impl Engine {
    pub fn new(limits: EngineLimits) -> Self {
        Self { limits }
    }

    /// TEMPORARY evaluator: `{selector} |= "a" |= "b"` as a log query, nothing else.
    pub fn query(
        &self,
        src: &dyn Source,
        query: &str,
        p: &Params,
    ) -> Result<(QueryResult, Stats), EvalError> {
        let started = Instant::now();
        let q = parse_log_query(query).map_err(EvalError::Parse)?;
        let (from_ns, to_ns) = if p.instant {
            // a log query at an instant reads nothing before it (Loki answers streams too)
            (p.start_ns.saturating_sub(1), p.end_ns.saturating_add(1))
        } else {
            (p.start_ns, p.end_ns)
        };
        let req = SelectRequest {
            matchers: q.matchers,
            from_ns,
            to_ns,
            direction: p.direction,
            needles: q.needles.clone(),
            limit: Some(p.limit),
        };
        let mut stats = Stats::default();
        let mut streams: Vec<Stream> = Vec::new();
        let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
        let mut taken = 0usize;
        for row in src.select(&req).map_err(EvalError::Source)? {
            let row = row.map_err(EvalError::Source)?;
            stats.total_lines_processed += 1;
            stats.total_bytes_processed += row.line.len() as u64;
            if started.elapsed() > self.limits.timeout {
                return Err(EvalError::Timeout);
            }
            if !q.needles.iter().all(|n| row.line.contains(n.as_str())) {
                continue;
            }
            if taken >= p.limit {
                break;
            }
            taken += 1;
            let i = if let Some(&i) = index.get(&row.labels) {
                i
            } else {
                if streams.len() >= self.limits.max_series {
                    return Err(EvalError::Limit(format!(
                        "maximum of series ({}) reached for a single query",
                        self.limits.max_series
                    )));
                }
                streams.push(Stream {
                    labels: row.labels.clone(),
                    entries: Vec::new(),
                });
                index.insert(row.labels.clone(), streams.len() - 1);
                streams.len() - 1
            };
            streams[i].entries.push(StreamEntry {
                ts_ns: row.ts_ns,
                line: row.line,
                metadata: row.metadata,
                parsed: Vec::new(),
            });
        }
        stats.exec_time = started.elapsed().as_secs_f64();
        Ok((QueryResult::Streams(streams), stats))
    }
}

/// The matchers of a query's (only) stream selector, for `series?match[]=` and `?query=`.
pub fn selector_matchers(q: &str) -> Result<Vec<LabelMatcher>, ParseError> {
    let mut p = P::new(q);
    p.ws();
    let m = p.selector()?;
    p.ws();
    if !p.eof() {
        return Err(p.err("syntax error: unexpected input after the stream selector"));
    }
    Ok(m)
}

/// Loki's `format_query` (the temporary evaluator re-renders what it can parse).
pub fn format_query(q: &str) -> Result<String, ParseError> {
    let lq = parse_log_query(q)?;
    let mut out = String::from("{");
    for (i, m) in lq.matchers.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let op = match m.op {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        };
        out.push_str(&format!(
            "{}{op}{}",
            m.name,
            serde_json::Value::String(m.value.clone())
        ));
    }
    out.push('}');
    for n in &lq.needles {
        out.push_str(&format!(" |= {}", serde_json::Value::String(n.clone())));
    }
    Ok(out)
}

struct LogQuery {
    matchers: Vec<LabelMatcher>,
    needles: Vec<String>,
}

fn parse_log_query(q: &str) -> Result<LogQuery, ParseError> {
    let mut p = P::new(q);
    p.ws();
    if !p.peek_is(b'{') {
        return Err(p.err(
            "syntax error: only `{selector} |= \"text\"` log queries are supported by the temporary evaluator",
        ));
    }
    let matchers = p.selector()?;
    let mut needles = Vec::new();
    loop {
        p.ws();
        if p.eof() {
            break;
        }
        if !p.eat("|=") {
            return Err(p.err(
                "syntax error: only |= line filters are supported by the temporary evaluator",
            ));
        }
        p.ws();
        needles.push(p.string()?);
    }
    Ok(LogQuery { matchers, needles })
}

/// A byte cursor over the query text (Loki counts columns from 1).
struct P<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl<'a> P<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            s: src.as_bytes(),
            src,
            i: 0,
        }
    }

    fn err(&self, msg: &str) -> ParseError {
        let before = &self.s[..self.i.min(self.s.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
        ParseError {
            line,
            col,
            msg: msg.to_owned(),
        }
    }

    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek_is(&self, b: u8) -> bool {
        self.s.get(self.i) == Some(&b)
    }

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.s[self.i..].starts_with(t.as_bytes()) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        let start = self.i;
        while let Some(&b) = self.s.get(self.i) {
            let ok = b == b'_' || b.is_ascii_alphabetic() || (self.i > start && b.is_ascii_digit());
            if !ok {
                break;
            }
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err("syntax error: unexpected character, expecting IDENTIFIER"));
        }
        Ok(self.src[start..self.i].to_owned())
    }

    /// A double-quoted (Go escapes) or back-quoted (raw) string.
    fn string(&mut self) -> Result<String, ParseError> {
        match self.s.get(self.i) {
            Some(b'`') => {
                let start = self.i + 1;
                let Some(end) = self.s[start..].iter().position(|&b| b == b'`') else {
                    return Err(self.err("syntax error: unterminated raw string"));
                };
                self.i = start + end + 1;
                Ok(self.src[start..start + end].to_owned())
            }
            Some(b'"') => {
                let start = self.i;
                self.i += 1;
                let mut escaped = false;
                while let Some(&b) = self.s.get(self.i) {
                    self.i += 1;
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        let lit = &self.src[start..self.i];
                        return serde_json::from_str::<String>(lit)
                            .map_err(|_| self.err("syntax error: invalid string literal"));
                    }
                }
                Err(self.err("syntax error: unterminated string"))
            }
            _ => Err(self.err("syntax error: unexpected character, expecting STRING")),
        }
    }

    fn selector(&mut self) -> Result<Vec<LabelMatcher>, ParseError> {
        if !self.eat("{") {
            return Err(self.err("syntax error: unexpected character, expecting {"));
        }
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.eat("}") {
                break;
            }
            if !out.is_empty() {
                if !self.eat(",") {
                    return Err(self.err("syntax error: unexpected character, expecting , or }"));
                }
                self.ws();
            }
            let name = self.ident()?;
            self.ws();
            let op = if self.eat("=~") {
                MatchOp::Re
            } else if self.eat("!~") {
                MatchOp::NotRe
            } else if self.eat("!=") {
                MatchOp::Neq
            } else if self.eat("=") {
                MatchOp::Eq
            } else {
                return Err(self.err("syntax error: unexpected character, expecting = != =~ !~"));
            };
            self.ws();
            let value = self.string()?;
            if matches!(op, MatchOp::Re | MatchOp::NotRe) && regex::Regex::new(&value).is_err() {
                return Err(self.err("syntax error: invalid regular expression"));
            }
            out.push(LabelMatcher { name, op, value });
        }
        if out.is_empty() {
            return Err(self.err("syntax error: unexpected }, expecting IDENTIFIER"));
        }
        if !out.iter().any(|m| match m.op {
            MatchOp::Eq => !m.value.is_empty(),
            MatchOp::Re => {
                regex::Regex::new(&format!("^(?:{})$", m.value)).is_ok_and(|r| !r.is_match(""))
            }
            _ => false,
        }) {
            // Loki's own wording for `{a=""}` and `{a=~".*"}`
            return Err(ParseError {
                line: 0,
                col: 0,
                msg: "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will".to_owned(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_filters_parse_and_errors_have_a_column() {
        let m = selector_matchers(r#"{app="x", env=~"p.*", a!="b", c!~`d`}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[3].value, "d");
        let e = parse_log_query(r#"{app="x"} |~ "a""#).err().unwrap();
        assert!(
            e.to_string()
                .starts_with("parse error at line 1, col 11: syntax error"),
            "{e}"
        );
        assert!(selector_matchers(r#"{app=""}"#).is_err());
        assert_eq!(
            format_query(r#"{app="x",b="y"}|="z""#).unwrap(),
            r#"{app="x", b="y"} |= "z""#
        );
    }
}
