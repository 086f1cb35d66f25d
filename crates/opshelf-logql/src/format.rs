//! Quoting and `format_query` (the canonical single-line form of a query, as Loki's `String()`).

use std::fmt::Write as _;

use crate::ast::{
    BinModifier, Cardinality, Conversion, Expr, FilterOperand, Grouping, LabelFilter, LabelFmt,
    LogExpr, LogRange, NameOrMatcher, SampleExpr, Stage,
};
use crate::labels::LabelMatcher;
use crate::parse::{ParseError, parse_expr};

/// Go's `strconv.Quote`.
#[must_use]
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses and re-prints a query in canonical form.
///
/// # Errors
/// The parse error.
pub fn format_query(q: &str) -> Result<String, ParseError> {
    let e = parse_expr(q)?;
    let mut out = String::new();
    match &e {
        Expr::Log(l) => log(&mut out, l),
        Expr::Sample(s) => sample(&mut out, s),
    }
    Ok(out)
}

/// A number literal as text that parses back to the same value: a literal too large for an
/// f64 (`2222E322`) is infinite, and Rust's `inf` would not parse (found by the fuzz target).
fn number(out: &mut String, v: f64) {
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "1e999" } else { "-1e999" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn matchers(out: &mut String, m: &[LabelMatcher]) {
    out.push('{');
    for (i, m) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}{}{}", m.name, m.op.as_str(), quote(&m.value));
    }
    out.push('}');
}

fn label_filter(out: &mut String, f: &LabelFilter) {
    match f {
        LabelFilter::Matcher(m) => {
            let _ = write!(out, "{}{}{}", m.name, m.op.as_str(), quote(&m.value));
        }
        LabelFilter::Number(n, op, v, _) => {
            let _ = write!(out, "{n}{}{v}", cmp(*op));
        }
        LabelFilter::Duration(n, op, _, t) | LabelFilter::Bytes(n, op, _, t) => {
            let _ = write!(out, "{n}{}{t}", cmp(*op));
        }
        LabelFilter::Ip(n, neg, c) => {
            let _ = write!(out, "{n}{}ip({})", if *neg { "!=" } else { "=" }, quote(c));
        }
        LabelFilter::And(a, b) => {
            label_filter(out, a);
            out.push_str(", ");
            label_filter(out, b);
        }
        LabelFilter::Or(a, b) => {
            label_filter(out, a);
            out.push_str(" or ");
            label_filter(out, b);
        }
        LabelFilter::Paren(a) => {
            out.push_str("( ");
            label_filter(out, a);
            out.push_str(" )");
        }
    }
}

fn cmp(op: crate::ast::CmpOp) -> &'static str {
    use crate::ast::CmpOp;
    match op {
        CmpOp::Eq => "==",
        CmpOp::Neq => "!=",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
    }
}

fn log(out: &mut String, l: &LogExpr) {
    matchers(out, &l.matchers);
    for s in &l.stages {
        out.push(' ');
        match s {
            Stage::LineFilter(f) => {
                out.push_str(f.op.as_str());
                for (i, o) in f.operands.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { " or " });
                    match o {
                        FilterOperand::Str(s) => out.push_str(&quote(s)),
                        FilterOperand::Ip(s) => {
                            let _ = write!(out, "ip({})", quote(s));
                        }
                    }
                }
            }
            Stage::Json(p) => {
                out.push_str("| json");
                extractions(out, p);
            }
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => {
                out.push_str("| logfmt");
                if *strict {
                    out.push_str(" --strict");
                }
                if *keep_empty {
                    out.push_str(" --keep-empty");
                }
                extractions(out, params);
            }
            Stage::Regexp(r) => {
                let _ = write!(out, "| regexp {}", quote(r));
            }
            Stage::Pattern(r) => {
                let _ = write!(out, "| pattern {}", quote(r));
            }
            Stage::Unpack => out.push_str("| unpack"),
            Stage::LabelFilter(f) => {
                out.push_str("| ");
                label_filter(out, f);
            }
            Stage::LineFormat(t, _) => {
                let _ = write!(out, "| line_format {}", quote(t));
            }
            Stage::LabelFormat(v) => {
                out.push_str("| label_format ");
                for (i, f) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match f {
                        LabelFmt::Rename(d, s) => {
                            let _ = write!(out, "{d}={s}");
                        }
                        LabelFmt::Template(d, t, _) => {
                            let _ = write!(out, "{d}={}", quote(t));
                        }
                    }
                }
            }
            Stage::Decolorize => out.push_str("| decolorize"),
            Stage::Drop(v) | Stage::Keep(v) => {
                out.push_str(if matches!(s, Stage::Drop(_)) {
                    "| drop "
                } else {
                    "| keep "
                });
                for (i, d) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match d {
                        NameOrMatcher::Name(n) => out.push_str(n),
                        NameOrMatcher::Matcher(m) => {
                            let _ = write!(out, "{}{}{}", m.name, m.op.as_str(), quote(&m.value));
                        }
                    }
                }
            }
        }
    }
}

fn extractions(out: &mut String, p: &[crate::ast::Extraction]) {
    for (i, e) in p.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(&e.name);
        if let Some(x) = &e.expr {
            let _ = write!(out, "={}", quote(x));
        }
    }
}

fn range(out: &mut String, r: &LogRange) {
    log(out, &r.log);
    if let Some(u) = &r.unwrap {
        out.push_str(" | unwrap ");
        if u.conv == Conversion::None {
            out.push_str(&u.label);
        } else {
            let _ = write!(out, "{}({})", u.conv_name, u.label);
        }
        for f in &u.post_filters {
            out.push_str(" | ");
            label_filter(out, f);
        }
    }
    let _ = write!(out, " [{}]", crate::duration::format_duration(r.range_ns));
    if r.offset_ns != 0 {
        let _ = write!(
            out,
            " offset {}",
            crate::duration::format_duration(r.offset_ns)
        );
    }
}

fn grouping(out: &mut String, g: Option<&Grouping>) {
    if let Some(g) = g {
        let _ = write!(
            out,
            " {} ({})",
            if g.without { "without" } else { "by" },
            g.labels.join(", ")
        );
    }
}

fn modifier(out: &mut String, m: &BinModifier) {
    if m.return_bool {
        out.push_str(" bool");
    }
    if m.matching.explicit {
        let _ = write!(
            out,
            " {}({})",
            if m.matching.on { "on" } else { "ignoring" },
            m.matching.labels.join(", ")
        );
        match m.matching.card {
            Cardinality::OneToOne => {}
            Cardinality::ManyToOne => {
                let _ = write!(out, " group_left({})", m.matching.include.join(", "));
            }
            Cardinality::OneToMany => {
                let _ = write!(out, " group_right({})", m.matching.include.join(", "));
            }
        }
    }
}

fn sample(out: &mut String, s: &SampleExpr) {
    match s {
        SampleExpr::Range {
            op,
            param,
            range: r,
            grouping: g,
        } => {
            let _ = write!(out, "{}(", op.name());
            if let Some(p) = param {
                let _ = write!(out, "{p},");
            }
            range(out, r);
            out.push(')');
            grouping(out, g.as_ref());
        }
        SampleExpr::Vector {
            op,
            param,
            inner,
            grouping: g,
        } => {
            out.push_str(op.name());
            grouping(out, g.as_ref());
            out.push('(');
            if let Some(p) = param {
                let _ = write!(out, "{p},");
            }
            sample(out, inner);
            out.push(')');
        }
        SampleExpr::Binary {
            op,
            modifier: m,
            lhs,
            rhs,
        } => {
            sample(out, lhs);
            let _ = write!(out, " {}", op.as_str());
            modifier(out, m);
            out.push(' ');
            sample(out, rhs);
        }
        SampleExpr::Literal(v) => number(out, *v),
        SampleExpr::VectorLit(v) => {
            out.push_str("vector(");
            number(out, *v);
            out.push(')');
        }
        SampleExpr::LabelReplace {
            inner,
            dst,
            replacement,
            src,
            regex_src,
            ..
        } => {
            out.push_str("label_replace(");
            sample(out, inner);
            let _ = write!(
                out,
                ",{},{},{},{})",
                quote(dst),
                quote(replacement),
                quote(src),
                quote(regex_src)
            );
        }
        SampleExpr::Paren(i) => {
            out.push('(');
            sample(out, i);
            out.push(')');
        }
    }
}
