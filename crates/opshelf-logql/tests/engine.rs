//! Engine behaviour beyond the metric corpus: log queries, limits, format_query, robustness.

use std::time::Duration;

use opshelf_logql::mem::MemorySource;
use opshelf_logql::{Direction, Engine, EngineLimits, EvalError, Labels, Params, QueryResult};

const S: i64 = 1_000_000_000;

fn labels(p: &[(&str, &str)]) -> Labels {
    Labels::new(
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn source() -> MemorySource {
    let mut m = MemorySource::new();
    let a = labels(&[("app", "a"), ("env", "prod")]);
    let b = labels(&[("app", "b")]);
    for i in 0..10 {
        let lvl = if i % 2 == 0 { "info" } else { "error" };
        m.push(
            &a,
            i * S,
            &format!("level={lvl} n={i} msg=\"hello world\""),
            &[],
        );
        m.push(
            &b,
            i * S + 1,
            &format!(r#"{{"level":"{lvl}","n":{i}}}"#),
            &[("trace_id".into(), format!("t{i}"))],
        );
    }
    m
}

fn range(start: i64, end: i64, step: i64) -> Params {
    Params {
        start_ns: start,
        end_ns: end,
        step_ns: step,
        interval_ns: None,
        direction: Direction::Forward,
        limit: 100,
        instant: false,
    }
}

fn instant(t: i64) -> Params {
    Params {
        start_ns: t,
        end_ns: t,
        step_ns: 0,
        interval_ns: None,
        direction: Direction::Forward,
        limit: 100,
        instant: true,
    }
}

#[test]
fn log_query_filters_parses_and_orders() {
    let e = Engine::new(EngineLimits::default());
    let src = source();
    let mut p = range(0, 20 * S, 0);
    p.direction = Direction::Backward;
    p.limit = 3;
    let (r, stats) = e
        .query(
            &src,
            r#"{app="a"} |= "hello" | logfmt level | level="error""#,
            &p,
        )
        .unwrap();
    let QueryResult::Streams(streams) = r else {
        panic!("streams expected")
    };
    assert_eq!(streams.len(), 1);
    let s = &streams[0];
    assert_eq!(s.labels.get("level"), Some("error"));
    assert_eq!(s.labels.get("app"), Some("a"));
    let ts: Vec<i64> = s.entries.iter().map(|e| e.ts_ns / S).collect();
    assert_eq!(ts, vec![9, 7, 5], "newest first, limit 3");
    assert_eq!(
        s.entries[0].parsed,
        vec![("level".to_owned(), "error".to_owned())]
    );
    assert_eq!(
        stats.total_lines_processed, 5,
        "reading stops once the limit is filled"
    );
}

#[test]
fn log_query_json_line_format_and_metadata() {
    let e = Engine::new(EngineLimits::default());
    let src = source();
    let (r, _) = e
        .query(
            &src,
            r#"{app="b"} | json | n > 7 | line_format "{{.level}}:{{.n}}:{{.trace_id}}""#,
            &range(0, 20 * S, 0),
        )
        .unwrap();
    let QueryResult::Streams(streams) = r else {
        panic!("streams expected")
    };
    let mut lines: Vec<String> = streams
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.line.clone()))
        .collect();
    lines.sort();
    assert_eq!(lines, vec!["error:9:t9", "info:8:t8"]);
    assert!(
        streams
            .iter()
            .all(|s| s.entries.iter().all(|e| e.metadata.len() == 1))
    );
}

#[test]
fn grafana_health_check_is_two() {
    let e = Engine::new(EngineLimits::default());
    let (r, _) = e
        .query(&source(), "vector(1)+vector(1)", &instant(5 * S))
        .unwrap();
    let QueryResult::Vector(v) = r else {
        panic!("vector expected")
    };
    assert_eq!(v.len(), 1);
    assert!(v[0].labels.is_empty());
    assert!((v[0].value - 2.0).abs() < f64::EPSILON);
}

#[test]
fn metric_range_query_over_parsed_labels() {
    let e = Engine::new(EngineLimits::default());
    let (r, _) = e
        .query(
            &source(),
            r#"sum by (level) (count_over_time({app=~"a|b"} | logfmt | json [10s]))"#,
            &range(9 * S, 9 * S, S),
        )
        .err()
        .map(|e| (e.to_string(), ()))
        .unwrap();
    // logfmt on json lines and json on logfmt lines fail: the error must surface, as in Loki.
    assert!(r.contains("pipeline error"), "{r}");
    let (r, _) = e
        .query(
            &source(),
            r#"sum by (level) (count_over_time({app="a"} | logfmt [10s]))"#,
            &range(9 * S, 9 * S, S),
        )
        .unwrap();
    let QueryResult::Matrix(m) = r else {
        panic!("matrix expected")
    };
    let got: Vec<(String, f64)> = m
        .iter()
        .map(|s| {
            (
                s.labels.get("level").unwrap_or("").to_owned(),
                s.points[0].1,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("error".to_owned(), 5.0), ("info".to_owned(), 5.0)]
    );
}

#[test]
fn limits_are_loki_errors() {
    let src = source();
    let e = Engine::new(EngineLimits {
        max_series: 1,
        ..EngineLimits::default()
    });
    let err = e
        .query(
            &src,
            r#"count_over_time({app=~".+"}[1m])"#,
            &instant(10 * S),
        )
        .unwrap_err();
    assert!(matches!(err, EvalError::Limit(_)));
    assert_eq!(
        err.to_string(),
        "maximum of series (1) reached for a single query"
    );

    let e = Engine::new(EngineLimits::default());
    let mut p = range(0, 10 * S, 0);
    p.limit = 6000;
    let err = e.query(&src, r#"{app="a"}"#, &p).unwrap_err();
    assert!(matches!(err, EvalError::Limit(_)), "{err}");
    assert!(
        err.to_string()
            .contains("max entries limit per query exceeded")
    );

    let err = e
        .query(&src, r#"rate({app="a"}[1m])"#, &range(0, 100_000 * S, S))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("exceeded maximum resolution of 11000 points"),
        "{err}"
    );
}

#[test]
fn time_budget_is_enforced() {
    let mut m = MemorySource::new();
    let l = labels(&[("app", "big")]);
    for i in 0..20_000 {
        m.push(&l, i, "x", &[]);
    }
    let e = Engine::new(EngineLimits {
        timeout: Duration::ZERO,
        ..EngineLimits::default()
    });
    let err = e
        .query(&m, r#"count_over_time({app="big"}[1h])"#, &instant(30_000))
        .unwrap_err();
    assert!(matches!(err, EvalError::Timeout));
}

#[test]
fn parse_errors_are_loki_shaped() {
    let e = Engine::new(EngineLimits::default());
    let err = e
        .query(&source(), r#"{foo="bar""#, &instant(0))
        .unwrap_err();
    assert!(matches!(err, EvalError::Parse(_)));
    assert_eq!(
        err.to_string(),
        "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
    );
    let err = e
        .query(&source(), r#"{foo=~".*"}"#, &instant(0))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("queries require at least one regexp or equality matcher")
    );
}

#[test]
fn format_query_is_canonical_and_reparses() {
    for q in [
        r#"sum by (level)(count_over_time({app="x"}|="err"|logfmt|level!="debug"[5m]))"#,
        r#"quantile_over_time(0.99,{app="x"} | json | unwrap duration(latency) | __error__="" [1m]) by (pod)"#,
        r#"topk(3, rate({a="b"}[1m] offset 5m)) / on(a) group_left(b) sum by (a, b)(rate({a="b"}[1m]))"#,
        r#"label_replace(rate({a="b"}[1m]), "dst", "$1", "a", "(.*)")"#,
        r#"{app="x"} | line_format "{{.a}}" | label_format b=a, c="{{.d}}" | drop e, f="g" | keep h"#,
        // found by the fuzz target: a literal too large for an f64 is infinite
        "2222E322",
        "vector(1e400) + -1e400",
        "0x0p2879",
    ] {
        let f = opshelf_logql::format_query(q).unwrap();
        let again = opshelf_logql::format_query(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(f, again, "format is a fixed point");
    }
    assert_eq!(
        opshelf_logql::format_query(r#"sum by(level)(count_over_time({app="x"}[5m]))"#).unwrap(),
        r#"sum by (level)(count_over_time({app="x"} [5m]))"#
    );
}

#[test]
fn selector_matchers_for_series_endpoints() {
    let m = opshelf_logql::selector_matchers(r#"{app="a", env=~"p.*"}"#).unwrap();
    assert_eq!(m.len(), 2);
    assert!(m[1].matches("prod"));
    assert!(!m[1].matches("xprod"), "anchored");
    assert!(opshelf_logql::selector_matchers("rate({a=\"b\"}[1m])").is_err());
}

/// A deterministic mutation smoke test (the fuzz target's property on stable): no input panics the
/// parser, and whatever parses also evaluates without panicking.
#[test]
fn mutated_queries_never_panic() {
    let seeds = [
        r#"sum by (level) (count_over_time({app="a"} |= "x" | logfmt | level=~"e.*" [1m]))"#,
        r#"{app="b"} | json n="n", l="level" | line_format "{{ if eq .l "info" }}{{ .n | upper }}{{ end }}""#,
        r#"quantile_over_time(0.5, {app="a"} | regexp `n=(?P<n>\d+)` | unwrap n [10s]) by (app) > bool 2"#,
        r#"label_replace(rate({app="a"} | pattern `<_> n=<n> <_>` [5s]), "x", "$1", "n", "(.*)") or vector(3)"#,
        r#"{app="a"} |> "<_> n=<_>" or "x" != ip("10.0.0.0/8") | addr = ip("1.2.3.4-1.2.3.9") | size > 1KB"#,
    ];
    let e = Engine::new(EngineLimits::default());
    let src = source();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet: Vec<char> = r#"{}()[]|=!~<>"`,.+-*/%^ 0123456789abcxyz_#$\"#.chars().collect();
    for seed in seeds {
        for _ in 0..400 {
            let mut chars: Vec<char> = seed.chars().collect();
            for _ in 0..1 + next() % 4 {
                let pos = usize::try_from(next() % (chars.len() as u64 + 1)).unwrap_or(0);
                let c = alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)];
                match next() % 3 {
                    0 if pos < chars.len() => chars[pos] = c,
                    1 if pos < chars.len() => {
                        chars.remove(pos);
                    }
                    _ => chars.insert(pos, c),
                }
            }
            let q: String = chars.into_iter().collect();
            if opshelf_logql::parse_expr(&q).is_ok() {
                let _ = e.query(&src, &q, &range(0, 10 * S, S));
            }
        }
    }
    // Deep nesting is an error, not a stack overflow.
    let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(opshelf_logql::parse_expr(&deep).is_err());
}
