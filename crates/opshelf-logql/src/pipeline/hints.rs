//! Loki's parser hints (`pkg/logql/log/parser_hints.go`): which labels a metric query reads
//! from its parser, so `| logfmt` can skip every other key.

use crate::ast::{LabelFilter, Stage};

/// The labels a metric query reads from its pipeline's parser, if they can be named.
///
/// `outer` is what the result keeps: the grouping pushed down from the outer `sum by (...)`
/// (an empty list for a plain `sum`). The pipeline must be line filters and label filters
/// around one `logfmt` without params; any other stage (a second parser, formatting,
/// `drop`/`keep`) may read or move labels we cannot list, and then `None`: extract all.
/// A name ending in `_extracted` also asks for its key, which a stream label of the same
/// name had pushed aside.
#[must_use]
pub fn required_labels(stages: &[Stage], outer: &[String]) -> Option<Vec<String>> {
    let mut parsers = 0;
    let mut names: Vec<String> = outer.to_vec();
    for s in stages {
        match s {
            Stage::LineFilter(_) | Stage::Decolorize => {}
            Stage::LabelFilter(f) => filter_names(f, &mut names),
            Stage::Logfmt { params, .. } if params.is_empty() => parsers += 1,
            _ => return None,
        }
    }
    if parsers != 1 {
        return None;
    }
    let stripped: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_suffix("_extracted").map(str::to_owned))
        .collect();
    names.extend(stripped);
    names.sort();
    names.dedup();
    Some(names)
}

fn filter_names(f: &LabelFilter, out: &mut Vec<String>) {
    match f {
        LabelFilter::Matcher(m) => out.push(m.name.clone()),
        LabelFilter::Number(n, ..)
        | LabelFilter::Duration(n, ..)
        | LabelFilter::Bytes(n, ..)
        | LabelFilter::Ip(n, ..) => out.push(n.clone()),
        LabelFilter::And(a, b) | LabelFilter::Or(a, b) => {
            filter_names(a, out);
            filter_names(b, out);
        }
        LabelFilter::Paren(a) => filter_names(a, out),
    }
}

#[cfg(test)]
mod tests {
    use super::required_labels;
    use crate::ast::Expr;

    fn stages(q: &str) -> Vec<crate::ast::Stage> {
        match crate::parse::parse_expr(q) {
            Ok(Expr::Log(l)) => l.stages,
            other => panic!("{other:?}"),
        }
    }

    fn req(q: &str, outer: &[&str]) -> Option<Vec<String>> {
        let outer: Vec<String> = outer.iter().map(|s| (*s).to_owned()).collect();
        required_labels(&stages(q), &outer)
    }

    #[test]
    fn parser_hints_name_what_the_query_reads_or_nothing() {
        assert_eq!(req(r#"{a="b"} | logfmt"#, &["level"]).unwrap(), ["level"]);
        assert_eq!(
            req(r#"{a="b"} |= "x" | logfmt"#, &[]).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            req(
                r#"{a="b"} | logfmt | status >= 500 or (latency > 1s and addr = ip("10.0.0.0/8"))"#,
                &["level"]
            )
            .unwrap(),
            ["addr", "latency", "level", "status"]
        );
        // a stream label pushed the key aside: its key is extracted too
        assert_eq!(
            req(r#"{a="b"} | logfmt"#, &["app_extracted"]).unwrap(),
            ["app", "app_extracted"]
        );
        // anything that may read or move labels we cannot list: extract all
        for q in [
            r#"{a="b"}"#,
            r#"{a="b"} | logfmt | json"#,
            r#"{a="b"} | logfmt level"#,
            r#"{a="b"} | json"#,
            r#"{a="b"} | logfmt | line_format "{{.msg}}""#,
            r#"{a="b"} | logfmt | label_format x=y"#,
            r#"{a="b"} | logfmt | keep level"#,
            r#"{a="b"} | logfmt | drop msg"#,
            r#"{a="b"} | regexp "(?P<x>.)" | logfmt"#,
        ] {
            assert_eq!(req(q, &["level"]), None, "{q}");
        }
    }
}
