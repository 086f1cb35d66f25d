//! The log pipeline: line filters, parsers, label filters, formatters, evaluated per entry.

mod hints;
pub mod ip;
pub mod json;
pub mod parsers;
pub mod pattern;
pub mod template;

pub use hints::required_labels;

use std::borrow::Cow;

use crate::ast::{
    CmpOp, Conversion, FilterOperand, LabelFilter, LabelFmt, LineFilter, LineFilterOp, LogExpr,
    NameOrMatcher, Stage, Unwrap,
};
use crate::labels::Labels;

/// Where a label came from (for clash resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cat {
    /// Stream label.
    Stream,
    /// Structured metadata.
    Meta,
    /// Extracted by a parser or set by a formatter.
    Parsed,
}

/// The mutable label set of one entry while it runs through the pipeline.
#[derive(Debug, Default, Clone)]
pub struct LabelsBuilder {
    cur: Vec<(String, String, Cat)>,
    spare: Vec<(String, String, Cat)>,
    err: Option<String>,
    err_details: Option<String>,
}

/// The error label names.
pub const ERROR_LABEL: &str = "__error__";
/// The error details label name.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

impl LabelsBuilder {
    /// Starts from stream labels and structured metadata.
    /// Reuses the strings of the previous entry, so a steady stream allocates nothing here.
    pub fn reset(&mut self, stream: &Labels, metadata: &[(String, String)]) {
        self.err = None;
        self.err_details = None;
        let n = stream.len();
        while self.cur.len() > n {
            if let Some(e) = self.cur.pop() {
                self.spare.push(e);
            }
        }
        for (i, (k, v)) in stream.iter().enumerate() {
            if let Some(e) = self.cur.get_mut(i) {
                k.clone_into(&mut e.0);
                v.clone_into(&mut e.1);
                e.2 = Cat::Stream;
            } else {
                self.push(k, v, Cat::Stream);
            }
        }
        for (k, v) in metadata {
            let name = if self.has_base(k) {
                format!("{k}_extracted")
            } else {
                k.clone()
            };
            self.set(&name, v, Cat::Meta);
        }
    }

    fn idx(&self, name: &str) -> Option<usize> {
        self.cur.iter().position(|(k, _, _)| k == name)
    }

    /// Does `name` have a value a parser can no longer change (a stream label, structured
    /// metadata, or a parsed value: the first parsed value of a name wins)?
    #[must_use]
    pub fn settled(&self, name: &str) -> bool {
        self.idx(name).is_some()
    }

    /// Is `name` a stream label or structured metadata?
    #[must_use]
    pub fn has_base(&self, name: &str) -> bool {
        self.cur
            .iter()
            .any(|(k, _, c)| k == name && *c != Cat::Parsed)
    }

    /// The value of a label (error labels are not visible here).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.idx(name).map(|i| self.cur[i].1.as_str())
    }

    /// Sets or overwrites a label.
    pub fn set(&mut self, name: &str, value: &str, cat: Cat) {
        if let Some(i) = self.idx(name) {
            value.clone_into(&mut self.cur[i].1);
            self.cur[i].2 = cat;
        } else {
            self.push(name, value, cat);
        }
    }

    fn push(&mut self, name: &str, value: &str, cat: Cat) {
        if let Some(mut e) = self.spare.pop() {
            name.clone_into(&mut e.0);
            value.clone_into(&mut e.1);
            e.2 = cat;
            self.cur.push(e);
        } else {
            self.cur.push((name.to_owned(), value.to_owned(), cat));
        }
    }

    /// Sets a parsed label the way Loki's parsers do: a clash with a stream label or metadata goes to
    /// `<name>_extracted`; a name this entry already parsed keeps its first value.
    pub fn set_parsed(&mut self, name: &str, value: &str) {
        if self.has_base(name) {
            let ext = format!("{name}_extracted");
            if !self
                .cur
                .iter()
                .any(|(k, _, c)| *k == ext && *c == Cat::Parsed)
            {
                self.set(&ext, value, Cat::Parsed);
            }
            return;
        }
        if let Some(i) = self.idx(name)
            && self.cur[i].2 == Cat::Parsed
        {
            return;
        }
        self.set(name, value, Cat::Parsed);
    }

    /// Removes a label.
    pub fn del(&mut self, name: &str) {
        if let Some(i) = self.idx(name) {
            let e = self.cur.remove(i);
            self.spare.push(e);
        }
    }

    /// Sets `__error__` (the first error wins).
    pub fn set_err(&mut self, err: &str, details: impl FnOnce() -> String) {
        if self.err.is_none() {
            self.err = Some(err.to_owned());
            self.err_details = Some(details());
        }
    }

    /// The current error.
    #[must_use]
    pub fn err(&self) -> Option<&str> {
        self.err.as_deref()
    }

    /// Does the entry carry an error?
    #[must_use]
    pub fn has_err(&self) -> bool {
        self.err.is_some()
    }

    /// Label names and values, for templates (`__error__` included when set).
    pub fn for_template(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cur
            .iter()
            .map(|(k, v, _)| (k.as_str(), v.as_str()))
            .chain(
                self.err
                    .as_deref()
                    .map(|e| (ERROR_LABEL, e))
                    .into_iter()
                    .chain(
                        self.err_details
                            .as_deref()
                            .map(|e| (ERROR_DETAILS_LABEL, e)),
                    ),
            )
    }

    /// The current label names and values, without `__error__` / `__error_details__`.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cur.iter().map(|(k, v, _)| (k.as_str(), v.as_str()))
    }

    fn all_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cur
            .iter()
            .map(|(k, v, _)| (k.as_str(), v.as_str()))
            .chain(self.err.as_deref().map(|e| (ERROR_LABEL, e)))
            .chain(
                self.err
                    .as_ref()
                    .and(self.err_details.as_deref())
                    .filter(|d| !d.is_empty())
                    .map(|d| (ERROR_DETAILS_LABEL, d)),
            )
    }

    /// The hash [`crate::eval::labels_hash`] gives the final label set, without building it.
    #[must_use]
    pub fn key_hash(&self) -> u64 {
        crate::eval::labels_hash(self.all_pairs())
    }

    /// Does the final label set equal `l`?
    #[must_use]
    pub fn equals(&self, l: &Labels) -> bool {
        let mut n = 0;
        for (k, v) in self.all_pairs() {
            n += 1;
            if l.get(k) != Some(v) {
                return false;
            }
        }
        n == l.len()
    }

    /// The final label set.
    #[must_use]
    pub fn labels(&self) -> Labels {
        let mut v: Vec<(String, String)> = self
            .cur
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        if let Some(e) = &self.err {
            v.push((ERROR_LABEL.into(), e.clone()));
            if let Some(d) = &self.err_details
                && !d.is_empty()
            {
                v.push((ERROR_DETAILS_LABEL.into(), d.clone()));
            }
        }
        Labels::new(v)
    }

    /// The labels that were not stream labels (parsed, metadata), for a log query's `parsed` field.
    #[must_use]
    pub fn non_stream(&self) -> Vec<(String, String)> {
        self.cur
            .iter()
            .filter(|(_, _, c)| *c == Cat::Parsed)
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect()
    }

    /// Do the current labels still equal the stream labels (no parser or formatter changed them)?
    #[must_use]
    pub fn same_as(&self, stream: &Labels) -> bool {
        self.err.is_none()
            && self.cur.len() == stream.len()
            && self
                .cur
                .iter()
                .all(|(k, v, c)| *c == Cat::Stream && stream.get(k) == Some(v.as_str()))
    }
}

/// A compiled line filter operand.
enum LineMatcher {
    Contains(Box<memchr::memmem::Finder<'static>>, String),
    Regex(regex::Regex),
    Pattern(pattern::Pattern),
    Ip(ip::IpMatcher),
}

impl LineMatcher {
    fn matches(&self, line: &str) -> bool {
        match self {
            Self::Contains(f, s) => s.is_empty() || f.find(line.as_bytes()).is_some(),
            Self::Regex(r) => r.is_match(line),
            Self::Pattern(p) => p.matches(line),
            Self::Ip(m) => m.matches_in_line(line),
        }
    }
}

struct CompiledLineFilter {
    negative: bool,
    operands: Vec<LineMatcher>,
}

enum CStage {
    Line(CompiledLineFilter),
    Json(json::JsonParser),
    Logfmt(parsers::LogfmtParser),
    Regexp(parsers::RegexpParser),
    Pattern(pattern::Pattern),
    Unpack,
    Label(CLabelFilter),
    LineFormat(template::Template),
    LabelFormat(Vec<CLabelFmt>),
    Decolorize,
    Drop(Vec<NameOrMatcher>),
    Keep(Vec<NameOrMatcher>),
}

enum CLabelFmt {
    Rename(String, String),
    Template(String, template::Template),
}

/// A compiled label filter.
pub enum CLabelFilter {
    /// String matcher.
    Matcher(crate::labels::LabelMatcher),
    /// Number comparison.
    Number(String, CmpOp, f64),
    /// Duration comparison (ns).
    Duration(String, CmpOp, i64),
    /// Bytes comparison.
    Bytes(String, CmpOp, u64),
    /// ip() match.
    Ip(String, bool, ip::IpMatcher),
    /// and
    And(Box<CLabelFilter>, Box<CLabelFilter>),
    /// or
    Or(Box<CLabelFilter>, Box<CLabelFilter>),
}

impl CLabelFilter {
    /// Compiles an AST label filter.
    ///
    /// # Errors
    /// When an ip pattern is invalid.
    pub fn compile(f: &LabelFilter) -> Result<Self, String> {
        Ok(match f {
            LabelFilter::Matcher(m) => Self::Matcher(m.clone()),
            LabelFilter::Number(n, op, v, _) => Self::Number(n.clone(), *op, *v),
            LabelFilter::Duration(n, op, v, _) => Self::Duration(n.clone(), *op, *v),
            LabelFilter::Bytes(n, op, v, _) => Self::Bytes(n.clone(), *op, *v),
            LabelFilter::Ip(n, neg, c) => Self::Ip(n.clone(), *neg, ip::IpMatcher::new(c)?),
            LabelFilter::And(a, b) => {
                Self::And(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::Or(a, b) => {
                Self::Or(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::Paren(a) => Self::compile(a)?,
        })
    }

    /// Applies the filter; may set `__error__`.
    pub fn process(&self, lb: &mut LabelsBuilder) -> bool {
        match self {
            Self::Matcher(m) => {
                if m.name == ERROR_LABEL {
                    return m.matches(lb.err().unwrap_or(""));
                }
                m.matches(lb.get(&m.name).unwrap_or(""))
            }
            Self::Number(n, op, v) => {
                let Some(s) = lb.get(n) else { return false };
                if lb.has_err() {
                    return true;
                }
                match s.parse::<f64>() {
                    Ok(x) => op.apply(&x, v),
                    Err(_) => {
                        let d = format!(
                            "strconv.ParseFloat: parsing {}: invalid syntax",
                            crate::format::quote(s)
                        );
                        lb.set_err("LabelFilterErr", || d);
                        true
                    }
                }
            }
            Self::Duration(n, op, v) => {
                let Some(s) = lb.get(n) else { return false };
                if lb.has_err() {
                    return true;
                }
                match crate::duration::parse_go_duration(s) {
                    Ok(x) => op.apply(&x, v),
                    Err(e) => {
                        lb.set_err("LabelFilterErr", || format!("time: {e}"));
                        true
                    }
                }
            }
            Self::Bytes(n, op, v) => {
                let Some(s) = lb.get(n) else { return false };
                if lb.has_err() {
                    return true;
                }
                match crate::duration::parse_bytes_value(s) {
                    Ok(x) => op.apply(&x, v),
                    Err(e) => {
                        lb.set_err("LabelFilterErr", || e);
                        true
                    }
                }
            }
            Self::Ip(n, neg, m) => {
                if lb.has_err() {
                    return true;
                }
                let Some(s) = lb.get(n) else { return false };
                m.matches_in_line(s) != *neg
            }
            Self::And(a, b) => {
                let l = a.process(lb);
                let r = b.process(lb);
                l && r
            }
            Self::Or(a, b) => a.process(lb) || b.process(lb),
        }
    }
}

/// A compiled pipeline.
pub struct Pipeline {
    stages: Vec<CStage>,
    /// True when no stage can change labels (the series is the stream).
    pub labels_unchanged: bool,
    /// True when every stage is a line filter (the labels are not even read).
    pub line_only: bool,
}

/// The literal substrings every matching line must contain (positive `|=` filters with one operand).
#[must_use]
pub fn needles(log: &LogExpr) -> Vec<String> {
    let mut out = Vec::new();
    for s in &log.stages {
        match s {
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::Contains,
                operands,
            }) if operands.len() == 1 => {
                if let FilterOperand::Str(s) = &operands[0]
                    && !s.is_empty()
                {
                    out.push(s.clone());
                }
            }
            Stage::LineFilter(_) => {}
            _ => break,
        }
    }
    out
}

impl Pipeline {
    /// Compiles the stages of a log expression.
    ///
    /// # Errors
    /// When a stage cannot be compiled (the parser already validated most).
    pub fn new(stages: &[Stage]) -> Result<Self, String> {
        Self::with_hint(stages, None)
    }

    /// [`Pipeline::new`], with the parser extracting only `required` (from [`required_labels`]).
    ///
    /// # Errors
    /// As [`Pipeline::new`].
    pub fn with_hint(stages: &[Stage], required: Option<Vec<String>>) -> Result<Self, String> {
        let mut required = required;
        let mut out = Vec::with_capacity(stages.len());
        let mut labels_unchanged = true;
        for s in stages {
            if !matches!(
                s,
                Stage::LineFilter(_) | Stage::Decolorize | Stage::LineFormat(..)
            ) {
                labels_unchanged = false;
            }
            out.push(match s {
                Stage::LineFilter(f) => {
                    let mut operands = Vec::new();
                    for o in &f.operands {
                        operands.push(match (o, f.op) {
                            (FilterOperand::Ip(c), _) => LineMatcher::Ip(ip::IpMatcher::new(c)?),
                            (
                                FilterOperand::Str(s),
                                LineFilterOp::Contains | LineFilterOp::NotContains,
                            ) => LineMatcher::Contains(
                                Box::new(memchr::memmem::Finder::new(s.as_bytes()).into_owned()),
                                s.clone(),
                            ),
                            (
                                FilterOperand::Str(s),
                                LineFilterOp::Match | LineFilterOp::NotMatch,
                            ) => LineMatcher::Regex(
                                crate::labels::plain_regex(s).map_err(|e| e.to_string())?,
                            ),
                            (
                                FilterOperand::Str(s),
                                LineFilterOp::Pattern | LineFilterOp::NotPattern,
                            ) => LineMatcher::Pattern(pattern::Pattern::new_filter(s)?),
                        });
                    }
                    CStage::Line(CompiledLineFilter {
                        negative: f.op.negative(),
                        operands,
                    })
                }
                Stage::Json(params) => CStage::Json(json::JsonParser::new(params)?),
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => CStage::Logfmt(
                    parsers::LogfmtParser::new(*strict, *keep_empty, params).only(required.take()),
                ),
                Stage::Regexp(r) => CStage::Regexp(parsers::RegexpParser::new(r)?),
                Stage::Pattern(p) => CStage::Pattern(pattern::Pattern::new(p)?),
                Stage::Unpack => CStage::Unpack,
                Stage::LabelFilter(f) => CStage::Label(CLabelFilter::compile(f)?),
                Stage::LineFormat(_, t) => CStage::LineFormat((**t).clone()),
                Stage::LabelFormat(v) => CStage::LabelFormat(
                    v.iter()
                        .map(|f| match f {
                            LabelFmt::Rename(d, s) => CLabelFmt::Rename(d.clone(), s.clone()),
                            LabelFmt::Template(d, _, t) => {
                                CLabelFmt::Template(d.clone(), (**t).clone())
                            }
                        })
                        .collect(),
                ),
                Stage::Decolorize => CStage::Decolorize,
                Stage::Drop(v) => CStage::Drop(v.clone()),
                Stage::Keep(v) => CStage::Keep(v.clone()),
            });
        }
        let line_only = stages.iter().all(|s| matches!(s, Stage::LineFilter(_)));
        Ok(Self {
            stages: out,
            labels_unchanged,
            line_only,
        })
    }

    /// Runs one entry; `None` when it is filtered out, else the (possibly rewritten) line.
    pub fn process<'a>(
        &self,
        ts_ns: i64,
        line: &'a str,
        lb: &mut LabelsBuilder,
    ) -> Option<Cow<'a, str>> {
        let mut line: Cow<'a, str> = Cow::Borrowed(line);
        for s in &self.stages {
            match s {
                CStage::Line(f) => {
                    let any = f.operands.iter().any(|m| m.matches(&line));
                    if any == f.negative {
                        return None;
                    }
                }
                CStage::Json(p) => p.process(&line, lb),
                CStage::Logfmt(p) => p.process(&line, lb),
                CStage::Regexp(p) => p.process(&line, lb),
                CStage::Pattern(p) => p.extract(&line, lb),
                CStage::Unpack => {
                    if let Some(new) = json::unpack(&line, lb) {
                        line = Cow::Owned(new);
                    }
                }
                CStage::Label(f) => {
                    if !f.process(lb) {
                        return None;
                    }
                }
                CStage::LineFormat(t) => {
                    let out = t.render(lb, &line, ts_ns);
                    match out {
                        Ok(s) => line = Cow::Owned(s),
                        Err(e) => lb.set_err("TemplateFormatErr", || e),
                    }
                }
                CStage::LabelFormat(v) => {
                    for f in v {
                        match f {
                            CLabelFmt::Rename(d, s) => {
                                let val = lb.get(s).unwrap_or("").to_owned();
                                lb.del(s);
                                lb.set(d, &val, Cat::Parsed);
                            }
                            CLabelFmt::Template(d, t) => match t.render(lb, &line, ts_ns) {
                                Ok(v) => lb.set(d, &v, Cat::Parsed),
                                Err(e) => lb.set_err("TemplateFormatErr", || e),
                            },
                        }
                    }
                }
                CStage::Decolorize => {
                    if line.contains('\x1b') {
                        line = Cow::Owned(decolorize(&line));
                    }
                }
                CStage::Drop(v) => {
                    for d in v {
                        match d {
                            NameOrMatcher::Name(n) => {
                                if n == ERROR_LABEL {
                                    lb.err = None;
                                } else if n == ERROR_DETAILS_LABEL {
                                    lb.err_details = None;
                                } else {
                                    lb.del(n);
                                }
                            }
                            NameOrMatcher::Matcher(m) => {
                                if m.name == ERROR_LABEL {
                                    if lb.err.as_deref().is_some_and(|e| m.matches(e)) {
                                        lb.err = None;
                                        lb.err_details = None;
                                    }
                                } else if lb.get(&m.name).is_some_and(|v| m.matches(v)) {
                                    lb.del(&m.name);
                                }
                            }
                        }
                    }
                }
                CStage::Keep(v) => {
                    lb.cur.retain(|(k, val, _)| {
                        v.iter().any(|d| match d {
                            NameOrMatcher::Name(n) => n == k,
                            NameOrMatcher::Matcher(m) => m.name == *k && m.matches(val),
                        })
                    });
                }
            }
        }
        Some(line)
    }
}

/// Removes ANSI escape sequences.
#[must_use]
pub fn decolorize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            if it.peek() == Some(&'[') {
                it.next();
                while let Some(&d) = it.peek() {
                    it.next();
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            } else {
                it.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A compiled unwrap: reads a label as a float after the pipeline.
pub struct UnwrapStage {
    label: String,
    conv: Conversion,
    post: Vec<CLabelFilter>,
}

impl UnwrapStage {
    /// Compiles an unwrap.
    ///
    /// # Errors
    /// When a post-filter does not compile.
    pub fn new(u: &Unwrap) -> Result<Self, String> {
        Ok(Self {
            label: u.label.clone(),
            conv: u.conv,
            post: u
                .post_filters
                .iter()
                .map(CLabelFilter::compile)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The value, or `None` when the entry is dropped; conversion failures set `__error__`.
    pub fn extract(&self, lb: &mut LabelsBuilder) -> Option<f64> {
        let raw = lb.get(&self.label).map(str::to_owned);
        let mut v = 0.0;
        match raw.as_deref() {
            None | Some("") => {
                if !lb.has_err() {
                    return None;
                }
            }
            Some(s) => {
                let r = match self.conv {
                    Conversion::None => s.parse::<f64>().map_err(|_| {
                        format!(
                            "strconv.ParseFloat: parsing {}: invalid syntax",
                            crate::format::quote(s)
                        )
                    }),
                    #[allow(clippy::cast_precision_loss)]
                    Conversion::Bytes => crate::duration::parse_bytes_value(s).map(|b| b as f64),
                    #[allow(clippy::cast_precision_loss)]
                    Conversion::Duration => crate::duration::parse_go_duration(s)
                        .map(|ns| ns as f64 / 1e9)
                        .map_err(|e| format!("time: {e}")),
                };
                match r {
                    Ok(x) => v = x,
                    Err(e) => lb.set_err("SampleExtractionErr", || e),
                }
            }
        }
        for f in &self.post {
            if !f.process(lb) {
                return None;
            }
        }
        lb.del(&self.label);
        Some(v)
    }
}
