//! Pipeline stages: line filters, parsers, label filters, formatters, unwrap.

use super::{ParseError, Parser, go_float, regex_err};
use crate::ast::{
    CmpOp, Conversion, Extraction, FilterOperand, LabelFilter, LabelFmt, LineFilter, LineFilterOp,
    NameOrMatcher, Stage, Unwrap,
};
use crate::labels::{LabelMatcher, MatchOp};
use crate::lexer::Tok;
use crate::pipeline::template::Template;

impl Parser {
    /// Parses pipeline stages; returns the unwrap if one was found (only when `allow_unwrap`).
    pub(super) fn stages(
        &mut self,
        stages: &mut Vec<Stage>,
        allow_unwrap: bool,
    ) -> Result<Option<Unwrap>, ParseError> {
        loop {
            if let Some(op) = line_filter_op(self.peek()) {
                self.next();
                stages.push(Stage::LineFilter(self.line_filter(op)?));
                continue;
            }
            if !self.is_p("|") {
                return Ok(None);
            }
            if allow_unwrap && matches!(self.peek_at(1), Tok::Kw("unwrap")) {
                self.next();
                self.next();
                return self.unwrap().map(Some);
            }
            self.next();
            stages.push(self.stage()?);
        }
    }

    pub(super) fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let (conv, conv_name) = match self.peek() {
            Tok::Kw("bytes") => (Conversion::Bytes, "bytes"),
            Tok::Kw("duration") => (Conversion::Duration, "duration"),
            Tok::Kw("duration_seconds") => (Conversion::Duration, "duration_seconds"),
            _ => (Conversion::None, ""),
        };
        let label = if conv == Conversion::None {
            self.ident()?
        } else {
            self.next();
            self.expect_p("(")?;
            let l = self.ident()?;
            self.expect_p(")")?;
            l
        };
        let mut post_filters = Vec::new();
        while self.is_p("|") {
            self.next();
            post_filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conv,
            conv_name,
            post_filters,
        })
    }

    pub(super) fn line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter, ParseError> {
        let mut operands = vec![self.filter_operand()?];
        while self.is_kw("or") && matches!(self.peek_at(1), Tok::Str(_) | Tok::Kw("ip")) {
            self.next();
            operands.push(self.filter_operand()?);
        }
        for o in &operands {
            match o {
                FilterOperand::Ip(cidr) => {
                    if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                        return Err(ParseError::nopos(format!(
                            "ip: invalid operation: {}, only |= and != are supported",
                            op.as_str()
                        )));
                    }
                    crate::pipeline::ip::IpMatcher::new(cidr).map_err(ParseError::nopos)?;
                }
                FilterOperand::Str(s) => match op {
                    // Loki compiles line-filter regexes when the query runs, not when it parses.
                    LineFilterOp::Match | LineFilterOp::NotMatch => {}
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                        crate::pipeline::pattern::Pattern::new_filter(s)
                            .map_err(ParseError::nopos)?;
                    }
                    LineFilterOp::Contains | LineFilterOp::NotContains => {}
                },
            }
        }
        Ok(LineFilter { op, operands })
    }

    pub(super) fn filter_operand(&mut self) -> Result<FilterOperand, ParseError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.next();
                Ok(FilterOperand::Str(s))
            }
            Tok::Kw("ip") => {
                self.next();
                self.expect_p("(")?;
                let s = self.string(&["STRING"])?;
                self.expect_p(")")?;
                Ok(FilterOperand::Ip(s))
            }
            _ => Err(self.unexpected(&["STRING", "ip"])),
        }
    }

    pub(super) fn extractions(&mut self) -> Result<Vec<Extraction>, ParseError> {
        let mut v = Vec::new();
        if !matches!(self.peek(), Tok::Ident(_)) {
            return Ok(v);
        }
        loop {
            let name = self.ident()?;
            let mut expr = None;
            if self.is_p("=") {
                self.next();
                expr = Some(self.string(&["STRING"])?);
            }
            v.push(Extraction { name, expr });
            if self.is_p(",") {
                self.next();
                continue;
            }
            return Ok(v);
        }
    }

    pub(super) fn names_or_matchers(&mut self) -> Result<Vec<NameOrMatcher>, ParseError> {
        let mut v = Vec::new();
        loop {
            let name = self.ident()?;
            if let Some(op) = self.match_op() {
                self.next();
                let value = self.string(&["STRING"])?;
                v.push(NameOrMatcher::Matcher(
                    LabelMatcher::new(name, op, value)
                        .map_err(|e| ParseError::nopos(regex_err(&e)))?,
                ));
            } else {
                v.push(NameOrMatcher::Name(name));
            }
            if self.is_p(",") {
                self.next();
                continue;
            }
            return Ok(v);
        }
    }

    pub(super) fn stage(&mut self) -> Result<Stage, ParseError> {
        match self.peek().clone() {
            Tok::Kw("json") => {
                self.next();
                let params = self.extractions()?;
                for p in &params {
                    if let Some(e) = &p.expr {
                        crate::pipeline::json::JsonPath::parse(e).map_err(ParseError::nopos)?;
                    }
                }
                Ok(Stage::Json(params))
            }
            Tok::Kw("logfmt") => {
                self.next();
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek().clone() {
                    match f.as_str() {
                        "--strict" => strict = true,
                        "--keep-empty" => keep_empty = true,
                        _ => return Err(ParseError::nopos(format!("invalid logfmt flag: {f}"))),
                    }
                    self.next();
                }
                let params = self.extractions()?;
                Ok(Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                })
            }
            Tok::Kw("regexp") => {
                self.next();
                let s = self.string(&["STRING"])?;
                crate::pipeline::parsers::RegexpParser::new(&s).map_err(ParseError::nopos)?;
                Ok(Stage::Regexp(s))
            }
            Tok::Kw("pattern") => {
                self.next();
                let s = self.string(&["STRING"])?;
                crate::pipeline::pattern::Pattern::new(&s).map_err(ParseError::nopos)?;
                Ok(Stage::Pattern(s))
            }
            Tok::Kw("unpack") => {
                self.next();
                Ok(Stage::Unpack)
            }
            Tok::Kw("decolorize") => {
                self.next();
                Ok(Stage::Decolorize)
            }
            Tok::Kw("line_format") => {
                self.next();
                let s = self.string(&["STRING"])?;
                let t = Template::parse(&s).map_err(ParseError::nopos)?;
                Ok(Stage::LineFormat(s, Box::new(t)))
            }
            Tok::Kw("label_format") => {
                self.next();
                let mut v = Vec::new();
                loop {
                    let dst = self.ident()?;
                    self.expect_p("=")?;
                    match self.peek().clone() {
                        Tok::Ident(src) => {
                            self.next();
                            v.push(LabelFmt::Rename(dst, src));
                        }
                        Tok::Str(s) => {
                            self.next();
                            let t = Template::parse(&s).map_err(ParseError::nopos)?;
                            v.push(LabelFmt::Template(dst, s, Box::new(t)));
                        }
                        _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
                    }
                    if self.is_p(",") {
                        self.next();
                        continue;
                    }
                    break;
                }
                Ok(Stage::LabelFormat(v))
            }
            Tok::Kw("drop") => {
                self.next();
                Ok(Stage::Drop(self.names_or_matchers()?))
            }
            Tok::Kw("keep") => {
                self.next();
                Ok(Stage::Keep(self.names_or_matchers()?))
            }
            _ => Ok(Stage::LabelFilter(self.label_filter()?)),
        }
    }

    pub(super) fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        self.enter()?;
        let mut a = self.lf_and()?;
        while self.is_kw("or") {
            self.next();
            let b = self.lf_and()?;
            a = LabelFilter::Or(Box::new(a), Box::new(b));
        }
        self.depth -= 1;
        Ok(a)
    }

    pub(super) fn lf_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut a = self.lf_primary()?;
        loop {
            if self.is_kw("and") || self.is_p(",") {
                self.next();
            } else if !(matches!(self.peek(), Tok::Ident(_)) || self.is_p("(")) {
                break;
            }
            let b = self.lf_primary()?;
            a = LabelFilter::And(Box::new(a), Box::new(b));
        }
        Ok(a)
    }

    pub(super) fn lf_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.is_p("(") {
            self.next();
            let f = self.label_filter()?;
            self.expect_p(")")?;
            return Ok(LabelFilter::Paren(Box::new(f)));
        }
        let name = self.ident()?;
        let op = match self.peek() {
            Tok::P("=") => CmpOp::Eq,
            Tok::P("==") => CmpOp::Eq,
            Tok::P("!=") => CmpOp::Neq,
            Tok::P(">") => CmpOp::Gt,
            Tok::P(">=") => CmpOp::Gte,
            Tok::P("<") => CmpOp::Lt,
            Tok::P("<=") => CmpOp::Lte,
            Tok::P("=~" | "!~") => {
                let op = if self.is_p("=~") {
                    MatchOp::Re
                } else {
                    MatchOp::Nre
                };
                self.next();
                let v = self.string(&["STRING"])?;
                return LabelMatcher::new(name, op, v)
                    .map(LabelFilter::Matcher)
                    .map_err(|e| ParseError::nopos(regex_err(&e)));
            }
            _ => return Err(self.unexpected(&[])),
        };
        let double_eq = self.is_p("==");
        let single = self.is_p("=") || self.is_p("!=");
        self.next();
        match self.peek().clone() {
            Tok::Str(v) if single => {
                self.next();
                let mop = if op == CmpOp::Eq {
                    MatchOp::Eq
                } else {
                    MatchOp::Neq
                };
                Ok(LabelFilter::Matcher(
                    LabelMatcher::new(name, mop, v)
                        .map_err(|e| ParseError::nopos(regex_err(&e)))?,
                ))
            }
            Tok::Kw("ip") if single => {
                self.next();
                self.expect_p("(")?;
                let cidr = self.string(&["STRING"])?;
                self.expect_p(")")?;
                crate::pipeline::ip::IpMatcher::new(&cidr).map_err(ParseError::nopos)?;
                Ok(LabelFilter::Ip(name, op == CmpOp::Neq, cidr))
            }
            Tok::Duration(d) => {
                self.next();
                let ns = crate::duration::parse_duration(&d).map_err(ParseError::nopos)?;
                Ok(LabelFilter::Duration(name, op, ns, d))
            }
            Tok::Bytes(b) => {
                self.next();
                let n = crate::duration::parse_bytes(&b).map_err(ParseError::nopos)?;
                Ok(LabelFilter::Bytes(name, op, n, b))
            }
            Tok::Number(n) => {
                self.next();
                Ok(LabelFilter::Number(name, op, go_float(&n)?, double_eq))
            }
            Tok::P(s @ ("-" | "+")) => {
                self.next();
                let Tok::Number(n) = self.peek().clone() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.next();
                let v = go_float(&n)?;
                Ok(LabelFilter::Number(
                    name,
                    op,
                    if s == "-" { -v } else { v },
                    double_eq,
                ))
            }
            _ => Err(self.unexpected(&[])),
        }
    }
}

pub(super) fn line_filter_op(t: &Tok) -> Option<LineFilterOp> {
    Some(match t {
        Tok::P("|=") => LineFilterOp::Contains,
        Tok::P("!=") => LineFilterOp::NotContains,
        Tok::P("|~") => LineFilterOp::Match,
        Tok::P("!~") => LineFilterOp::NotMatch,
        Tok::P("|>") => LineFilterOp::Pattern,
        Tok::P("!>") => LineFilterOp::NotPattern,
        _ => return None,
    })
}
