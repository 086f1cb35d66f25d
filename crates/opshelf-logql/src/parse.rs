//! A hand-written recursive-descent parser for LogQL with Loki's error messages and positions.

use std::fmt;

use crate::ast::{
    BinModifier, BinOp, Expr, Grouping, LogExpr, LogRange, RangeOp, SampleExpr, Unwrap, VecOp,
};
use crate::labels::{LabelMatcher, MatchOp};
use crate::lexer::{Spanned, Tok, lex};
mod stages;

use stages::line_filter_op;

/// A parse error, displayed as Loki displays it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The message after the position.
    pub msg: String,
    /// Line (0 when unknown).
    pub line: usize,
    /// Column (0 when unknown).
    pub col: usize,
}

impl ParseError {
    pub(crate) fn new(msg: impl Into<String>, line: usize, col: usize) -> Self {
        Self {
            msg: msg.into(),
            line,
            col,
        }
    }
    pub(crate) fn nopos(msg: impl Into<String>) -> Self {
        Self::new(msg, 0, 0)
    }
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

/// Parses a LogQL query.
///
/// # Errors
/// Loki's parse errors.
pub fn parse_expr(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let node = p.bin(0)?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected(&[]));
    }
    match node {
        Node::Log(l) => {
            check_selector(&l.matchers)?;
            Ok(Expr::Log(l))
        }
        Node::Sample(s) => Ok(Expr::Sample(s)),
    }
}

/// The stream matchers of a selector query (for `series?match[]=` and `/labels?query=`).
///
/// # Errors
/// When the text does not parse as a log query.
pub fn selector_matchers(src: &str) -> Result<Vec<LabelMatcher>, ParseError> {
    match parse_expr(src)? {
        Expr::Log(l) => Ok(l.matchers),
        Expr::Sample(_) => Err(ParseError::nopos("only log selectors are supported here")),
    }
}

fn check_selector(m: &[LabelMatcher]) -> Result<(), ParseError> {
    if m.iter().any(|m| !m.matches("")) {
        Ok(())
    } else {
        Err(ParseError::nopos(
            "queries require at least one regexp or equality matcher that does not have an empty-compatible \
             value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
        ))
    }
}

enum Node {
    Log(LogExpr),
    Sample(SampleExpr),
}

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 200;

/// The regex crate's error in Go's words (`error parsing regexp: invalid escape sequence: `\q``) where
/// the kinds line up; otherwise the regex crate's own description.
pub(crate) fn regex_err(e: &regex::Error) -> String {
    let s = e.to_string();
    let lines: Vec<&str> = s.lines().collect();
    let last = lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map_or("", |l| l.trim());
    let last = last.strip_prefix("error: ").unwrap_or(last);
    // Lines 1 and 2 of the display are the pattern and a caret line under the offending span.
    let span = match (lines.get(1), lines.get(2)) {
        (Some(pat), Some(carets)) => match (carets.find('^'), carets.rfind('^')) {
            (Some(a), Some(b)) => pat.chars().skip(a).take(b + 1 - a).collect::<String>(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let go = match last {
        "unrecognized escape sequence"
        | "incomplete escape sequence, reached end of pattern prematurely" => {
            format!("invalid escape sequence: `{span}`")
        }
        "unclosed group" => format!("missing closing ): `{span}`"),
        "unopened group" => format!("unexpected ): `{span}`"),
        "unclosed character class" => format!("missing closing ]: `{span}`"),
        "repetition operator missing expression" => {
            format!("missing argument to repetition operator: `{span}`")
        }
        other => other.to_owned(),
    };
    format!("error parsing regexp: {go}")
}

fn go_float(text: &str) -> Result<f64, ParseError> {
    let err = || {
        ParseError::nopos(format!(
            "unable to parse literal as a float: strconv.ParseFloat: parsing \"{text}\": invalid syntax"
        ))
    };
    let t = text.replace('_', "");
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let (mant, exp) = h.split_once(['p', 'P']).ok_or_else(err)?;
        let exp: i32 = exp.parse().map_err(|_| err())?;
        let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
        if ip.is_empty() && fp.is_empty() {
            return Err(err());
        }
        let mut v = 0f64;
        for c in ip.chars() {
            v = v * 16.0 + f64::from(c.to_digit(16).ok_or_else(err)?);
        }
        let mut scale = 1.0 / 16.0;
        for c in fp.chars() {
            v += f64::from(c.to_digit(16).ok_or_else(err)?) * scale;
            scale /= 16.0;
        }
        // 0 × 2^2879 would be 0 × inf = NaN (found by the fuzz target).
        if v == 0.0 {
            return Ok(0.0);
        }
        return Ok(v * 2f64.powi(exp));
    }
    if t.starts_with("0b")
        || t.starts_with("0B")
        || t.starts_with("0o")
        || t.starts_with("0O")
        || t != text
    {
        return Err(err());
    }
    t.parse::<f64>().map_err(|_| err())
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }
    fn here(&self) -> (usize, usize) {
        let t = &self.toks[self.pos.min(self.toks.len() - 1)];
        (t.line, t.col)
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn is_p(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::P(x) if *x == p)
    }
    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Kw(x) if *x == k)
    }
    fn unexpected(&self, expecting: &[&str]) -> ParseError {
        let (line, col) = self.here();
        let mut msg = format!("syntax error: unexpected {}", self.peek().name());
        if !expecting.is_empty() {
            msg.push_str(", expecting ");
            msg.push_str(&expecting.join(" or "));
        }
        ParseError::new(msg, line, col)
    }
    fn expect_p(&mut self, p: &str) -> Result<(), ParseError> {
        if self.is_p(p) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(&[p]))
        }
    }
    fn string(&mut self, expecting: &[&str]) -> Result<String, ParseError> {
        if let Tok::Str(s) = self.peek() {
            let s = s.clone();
            self.next();
            Ok(s)
        } else {
            Err(self.unexpected(expecting))
        }
    }
    fn ident(&mut self) -> Result<String, ParseError> {
        if let Tok::Ident(s) = self.peek() {
            let s = s.clone();
            self.next();
            Ok(s)
        } else {
            Err(self.unexpected(&["IDENTIFIER"]))
        }
    }
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::nopos("query is nested too deeply"));
        }
        Ok(())
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Kw("or") => BinOp::Or,
            Tok::Kw("and") => BinOp::And,
            Tok::Kw("unless") => BinOp::Unless,
            Tok::P("+") => BinOp::Add,
            Tok::P("-") => BinOp::Sub,
            Tok::P("*") => BinOp::Mul,
            Tok::P("/") => BinOp::Div,
            Tok::P("%") => BinOp::Mod,
            Tok::P("^") => BinOp::Pow,
            Tok::P("==") => BinOp::Eq,
            Tok::P("!=") => BinOp::Neq,
            Tok::P(">") => BinOp::Gt,
            Tok::P(">=") => BinOp::Gte,
            Tok::P("<") => BinOp::Lt,
            Tok::P("<=") => BinOp::Lte,
            _ => return None,
        })
    }

    fn bin(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.next();
            let modifier = self.modifier(op)?;
            let rhs = self.bin(if op == BinOp::Pow { prec } else { prec + 1 })?;
            lhs = Node::Sample(combine(op, modifier, lhs, rhs)?);
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_p("(")?;
        let mut v = Vec::new();
        if self.is_p(")") {
            self.next();
            return Ok(v);
        }
        loop {
            v.push(self.ident()?);
            if self.is_p(",") {
                self.next();
                continue;
            }
            if self.is_p(")") {
                self.next();
                return Ok(v);
            }
            return Err(self.unexpected(&[")", ","]));
        }
    }

    fn modifier(&mut self, op: BinOp) -> Result<BinModifier, ParseError> {
        let mut m = BinModifier::default();
        if self.is_kw("bool") {
            self.next();
            m.return_bool = true;
        }
        let _ = op;
        if self.is_kw("on") || self.is_kw("ignoring") {
            m.matching.on = self.is_kw("on");
            m.matching.explicit = true;
            self.next();
            m.matching.labels = self.label_list()?;
            if self.is_kw("group_left") || self.is_kw("group_right") {
                m.matching.card = if self.is_kw("group_left") {
                    crate::ast::Cardinality::ManyToOne
                } else {
                    crate::ast::Cardinality::OneToMany
                };
                self.next();
                if self.is_p("(") {
                    m.matching.include = self.label_list()?;
                }
            }
        }
        Ok(m)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        match self.peek().clone() {
            Tok::P("(") => {
                self.next();
                let inner = self.bin(0)?;
                self.expect_p(")")?;
                match inner {
                    Node::Sample(s) => Ok(Node::Sample(SampleExpr::Paren(Box::new(s)))),
                    Node::Log(l) => {
                        if let Tok::Range(_) = self.peek() {
                            return Err(self.unexpected(&[]));
                        }
                        Ok(Node::Log(l))
                    }
                }
            }
            Tok::P(sign @ ("-" | "+")) => {
                self.next();
                if let Tok::Number(n) = self.peek().clone() {
                    self.next();
                    let v = go_float(&n)?;
                    Ok(Node::Sample(SampleExpr::Literal(if sign == "-" {
                        -v
                    } else {
                        v
                    })))
                } else {
                    Err(self.unexpected(&["NUMBER"]))
                }
            }
            Tok::Number(n) => {
                self.next();
                Ok(Node::Sample(SampleExpr::Literal(go_float(&n)?)))
            }
            Tok::P("{") => {
                let log = self.log_expr()?;
                if let Tok::Range(_) = self.peek() {
                    return Err(self.unexpected(&[]));
                }
                Ok(Node::Log(log))
            }
            Tok::Kw("vector") => {
                self.next();
                self.expect_p("(")?;
                let v = match self.peek().clone() {
                    Tok::Number(n) => {
                        self.next();
                        go_float(&n)?
                    }
                    _ => return Err(self.unexpected(&["NUMBER"])),
                };
                self.expect_p(")")?;
                Ok(Node::Sample(SampleExpr::VectorLit(v)))
            }
            Tok::Kw("label_replace") => self.label_replace(),
            Tok::Kw(k) => {
                if let Some(op) = range_op(k) {
                    self.range_agg(op)
                } else if let Some(op) = vec_op(k) {
                    self.vec_agg(op)
                } else {
                    Err(self.unexpected(&[]))
                }
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    fn label_replace(&mut self) -> Result<Node, ParseError> {
        self.next();
        self.expect_p("(")?;
        let inner = self.bin(0)?;
        let inner = match inner {
            Node::Sample(s) => s,
            Node::Log(_) => return Err(self.unexpected(&[])),
        };
        let mut args = Vec::new();
        for _ in 0..4 {
            self.expect_p(",")?;
            args.push(self.string(&["STRING"])?);
        }
        self.expect_p(")")?;
        let [dst, replacement, src, regex_src]: [String; 4] = args
            .try_into()
            .map_err(|_| ParseError::nopos("label_replace needs 4 arguments"))?;
        let regex = crate::labels::anchored_regex(&regex_src).map_err(|e| {
            ParseError::nopos(format!("invalid regex in label_replace: {}", regex_err(&e)))
        })?;
        if !valid_label_name(&dst) {
            return Err(ParseError::nopos(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        Ok(Node::Sample(SampleExpr::LabelReplace {
            inner: Box::new(inner),
            dst,
            replacement,
            src,
            regex_src,
            regex,
        }))
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        if self.is_kw("by") || self.is_kw("without") {
            let without = self.is_kw("without");
            self.next();
            let labels = self.label_list()?;
            Ok(Some(Grouping { without, labels }))
        } else {
            Ok(None)
        }
    }

    fn vec_agg(&mut self, op: VecOp) -> Result<Node, ParseError> {
        self.next();
        let mut grouping = self.grouping()?;
        self.expect_p("(")?;
        let mut param = None;
        if let (Tok::Number(n), Tok::P(",")) = (self.peek().clone(), self.peek_at(1)) {
            self.next();
            self.next();
            param = Some(n);
        }
        let inner = self.bin(0)?;
        let inner = match inner {
            Node::Sample(s) => s,
            Node::Log(_) => return Err(self.unexpected(&[])),
        };
        self.expect_p(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        let name = op.name();
        let param = match (op, param) {
            (VecOp::Topk | VecOp::Bottomk | VecOp::ApproxTopk, None) => {
                return Err(ParseError::nopos(format!(
                    "parameter required for operation {name}"
                )));
            }
            (VecOp::Topk | VecOp::Bottomk | VecOp::ApproxTopk, Some(p)) => {
                let k: i64 = p
                    .parse()
                    .map_err(|_| ParseError::nopos(format!("invalid parameter {name}({p},")))?;
                #[allow(clippy::cast_precision_loss)]
                Some(k as f64)
            }
            (_, Some(p)) => {
                return Err(ParseError::nopos(format!(
                    "unsupported parameter for operation {name}({p},"
                )));
            }
            (_, None) => None,
        };
        if op == VecOp::ApproxTopk && grouping.is_some() {
            return Err(ParseError::nopos(
                "grouping not allowed for approx_topk aggregation",
            ));
        }
        Ok(Node::Sample(SampleExpr::Vector {
            op,
            param,
            inner: Box::new(inner),
            grouping,
        }))
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<Node, ParseError> {
        self.next();
        self.expect_p("(")?;
        let mut param = None;
        if let Tok::Number(n) = self.peek().clone() {
            self.next();
            self.expect_p(",")?;
            param = Some(n);
        } else if !self.is_p("{") && !self.is_p("(") {
            return Err(self.unexpected(&["NUMBER", "{", "("]));
        }
        let range = self.log_range()?;
        self.expect_p(")")?;
        let grouping = self.grouping()?;
        let name = op.name();
        if grouping.is_some()
            && !matches!(
                op,
                RangeOp::AvgOverTime
                    | RangeOp::StddevOverTime
                    | RangeOp::StdvarOverTime
                    | RangeOp::QuantileOverTime
                    | RangeOp::MaxOverTime
                    | RangeOp::MinOverTime
                    | RangeOp::FirstOverTime
                    | RangeOp::LastOverTime
            )
        {
            return Err(ParseError::nopos(format!(
                "grouping not allowed for {name} aggregation"
            )));
        }
        let param = match (op, param) {
            (RangeOp::QuantileOverTime, None) => {
                return Err(ParseError::nopos(format!(
                    "parameter required for operation {name}"
                )));
            }
            (RangeOp::QuantileOverTime, Some(p)) => Some(go_float(&p)?),
            (_, Some(p)) => {
                return Err(ParseError::nopos(format!(
                    "parameter {p} not supported for operation {name}"
                )));
            }
            (_, None) => None,
        };
        if range.unwrap.is_some() {
            if !matches!(
                op,
                RangeOp::AvgOverTime
                    | RangeOp::SumOverTime
                    | RangeOp::MaxOverTime
                    | RangeOp::MinOverTime
                    | RangeOp::StddevOverTime
                    | RangeOp::StdvarOverTime
                    | RangeOp::QuantileOverTime
                    | RangeOp::Rate
                    | RangeOp::RateCounter
                    | RangeOp::AbsentOverTime
                    | RangeOp::FirstOverTime
                    | RangeOp::LastOverTime
            ) {
                return Err(ParseError::nopos(format!(
                    "invalid aggregation {name} with unwrap"
                )));
            }
        } else if !matches!(
            op,
            RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::AbsentOverTime
        ) {
            return Err(ParseError::nopos(format!(
                "invalid aggregation {name} without unwrap"
            )));
        }
        check_selector(&range.log.matchers)?;
        Ok(Node::Sample(SampleExpr::Range {
            op,
            param,
            range: Box::new(range),
            grouping,
        }))
    }

    /// `selector [pipeline] [unwrap] [range] [offset] [pipeline] [unwrap]` or a parenthesised form.
    fn log_range(&mut self) -> Result<LogRange, ParseError> {
        self.enter()?;
        let r = if self.is_p("(") {
            self.next();
            if self.is_p("(") || self.is_p("{") {
                let inner = self.log_range_or_log()?;
                self.expect_p(")")?;
                match inner {
                    Ok(r) => r,
                    Err((log, unwrap)) => {
                        let (range_ns, offset_ns) = self.range_offset()?;
                        let mut r = LogRange {
                            log,
                            range_ns,
                            offset_ns,
                            unwrap,
                        };
                        if r.unwrap.is_none() {
                            self.after_range(&mut r)?;
                        }
                        r
                    }
                }
            } else {
                return Err(self.unexpected(&[]));
            }
        } else {
            match self.log_range_or_log()? {
                Ok(r) => r,
                Err(_) => return Err(self.unexpected(&["RANGE"])),
            }
        };
        self.depth -= 1;
        Ok(r)
    }

    /// Parses a selector with its pipeline; `Ok` when a range followed, `Err((log, unwrap))` otherwise.
    fn log_range_or_log(
        &mut self,
    ) -> Result<Result<LogRange, (LogExpr, Option<Unwrap>)>, ParseError> {
        if self.is_p("(") {
            return self.log_range().map(Ok);
        }
        if !self.is_p("{") {
            return Err(self.unexpected(&[]));
        }
        let matchers = self.selector()?;
        let mut log = LogExpr {
            matchers,
            stages: Vec::new(),
        };
        let unwrap = self.stages(&mut log.stages, true)?;
        if !matches!(self.peek(), Tok::Range(_)) {
            return Ok(Err((log, unwrap)));
        }
        let (range_ns, offset_ns) = self.range_offset()?;
        let mut r = LogRange {
            log,
            range_ns,
            offset_ns,
            unwrap,
        };
        if r.unwrap.is_none() && r.log.stages.is_empty() {
            self.after_range(&mut r)?;
        }
        Ok(Ok(r))
    }

    fn after_range(&mut self, r: &mut LogRange) -> Result<(), ParseError> {
        if self.is_p("|") || line_filter_op(self.peek()).is_some() {
            let unwrap = self.stages(&mut r.log.stages, true)?;
            if r.unwrap.is_none() {
                r.unwrap = unwrap;
            }
        }
        Ok(())
    }

    fn range_offset(&mut self) -> Result<(i64, i64), ParseError> {
        let Tok::Range(d) = self.peek().clone() else {
            return Err(self.unexpected(&["RANGE"]));
        };
        self.next();
        let range_ns = crate::duration::parse_duration(&d).map_err(ParseError::nopos)?;
        let mut offset_ns = 0;
        if self.is_kw("offset") {
            self.next();
            let neg = self.is_p("-");
            if neg {
                self.next();
            }
            match self.peek().clone() {
                Tok::Duration(d) => {
                    self.next();
                    offset_ns = crate::duration::parse_duration(&d).map_err(ParseError::nopos)?;
                    if neg {
                        offset_ns = -offset_ns;
                    }
                }
                _ => return Err(self.unexpected(&["DURATION"])),
            }
        }
        Ok((range_ns, offset_ns))
    }

    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        if self.stages(&mut stages, false)?.is_some() {
            return Err(self.unexpected(&["RANGE"]));
        }
        Ok(LogExpr { matchers, stages })
    }

    fn selector(&mut self) -> Result<Vec<LabelMatcher>, ParseError> {
        self.expect_p("{")?;
        let mut v = Vec::new();
        if self.is_p("}") {
            self.next();
            return Ok(v);
        }
        loop {
            v.push(self.matcher()?);
            if self.is_p(",") {
                self.next();
                continue;
            }
            if self.is_p("}") {
                self.next();
                return Ok(v);
            }
            return Err(self.unexpected(&["}", ","]));
        }
    }

    fn match_op(&self) -> Option<MatchOp> {
        Some(match self.peek() {
            Tok::P("=") => MatchOp::Eq,
            Tok::P("!=") => MatchOp::Neq,
            Tok::P("=~") => MatchOp::Re,
            Tok::P("!~") => MatchOp::Nre,
            _ => return None,
        })
    }

    fn matcher(&mut self) -> Result<LabelMatcher, ParseError> {
        let name = self.ident()?;
        let Some(op) = self.match_op() else {
            return Err(self.unexpected(&["=", "!=", "=~", "!~"]));
        };
        self.next();
        let value = self.string(&["STRING"])?;
        LabelMatcher::new(name, op, value).map_err(|e| ParseError::nopos(regex_err(&e)))
    }
}

fn range_op(k: &str) -> Option<RangeOp> {
    Some(match k {
        "count_over_time" => RangeOp::CountOverTime,
        "rate" => RangeOp::Rate,
        "rate_counter" => RangeOp::RateCounter,
        "bytes_over_time" => RangeOp::BytesOverTime,
        "bytes_rate" => RangeOp::BytesRate,
        "avg_over_time" => RangeOp::AvgOverTime,
        "sum_over_time" => RangeOp::SumOverTime,
        "min_over_time" => RangeOp::MinOverTime,
        "max_over_time" => RangeOp::MaxOverTime,
        "stdvar_over_time" => RangeOp::StdvarOverTime,
        "stddev_over_time" => RangeOp::StddevOverTime,
        "quantile_over_time" => RangeOp::QuantileOverTime,
        "first_over_time" => RangeOp::FirstOverTime,
        "last_over_time" => RangeOp::LastOverTime,
        "absent_over_time" => RangeOp::AbsentOverTime,
        _ => return None,
    })
}

fn vec_op(k: &str) -> Option<VecOp> {
    Some(match k {
        "sum" => VecOp::Sum,
        "avg" => VecOp::Avg,
        "count" => VecOp::Count,
        "max" => VecOp::Max,
        "min" => VecOp::Min,
        "stddev" => VecOp::Stddev,
        "stdvar" => VecOp::Stdvar,
        "topk" => VecOp::Topk,
        "bottomk" => VecOp::Bottomk,
        "sort" => VecOp::Sort,
        "sort_desc" => VecOp::SortDesc,
        "approx_topk" => VecOp::ApproxTopk,
        _ => return None,
    })
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn go_type_name(n: &Node) -> &'static str {
    match n {
        Node::Log(l) if l.stages.is_empty() => "*syntax.MatchersExpr",
        Node::Log(_) => "*syntax.PipelineExpr",
        Node::Sample(_) => "*syntax.SampleExpr",
    }
}

fn combine(
    op: BinOp,
    modifier: BinModifier,
    lhs: Node,
    rhs: Node,
) -> Result<SampleExpr, ParseError> {
    let (l, r) = match (lhs, rhs) {
        (Node::Sample(l), Node::Sample(r)) => (l, r),
        (l, r) => {
            let (side, n) = if matches!(l, Node::Sample(_)) {
                ("right", &r)
            } else {
                ("left", &l)
            };
            return Err(ParseError::nopos(format!(
                "unexpected type for {side} leg of binary operation ({}): {}",
                op.as_str(),
                go_type_name(n)
            )));
        }
    };
    if op.is_set() {
        for (side, e) in [("left", &l), ("right", &r)] {
            if let Some(v) = literal_value(e) {
                return Err(ParseError::nopos(format!(
                    "unexpected literal for {side} leg of logical/set binary operation ({}): {v:.6}",
                    op.as_str()
                )));
            }
        }
    }
    Ok(SampleExpr::Binary {
        op,
        modifier,
        lhs: Box::new(l),
        rhs: Box::new(r),
    })
}

/// The value of an expression that is a scalar literal (possibly parenthesised / folded).
pub(crate) fn literal_value(e: &SampleExpr) -> Option<f64> {
    match e {
        SampleExpr::Literal(v) => Some(*v),
        SampleExpr::Paren(i) => literal_value(i),
        SampleExpr::Binary { op, lhs, rhs, .. } if !op.is_set() => {
            let (a, b) = (literal_value(lhs)?, literal_value(rhs)?);
            Some(crate::eval::scalar_op(*op, a, b, true))
        }
        _ => None,
    }
}
