//! The grouping pushdown (`sum by (…) (count_over_time(…))` keeps windows per group): the same
//! results as without it, and high-cardinality inputs that used to hit the pre-aggregation cap.

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

/// Three streams over ten minutes: logfmt lines with a per-line `trace_id`, irregular gaps and
/// shared timestamps, repeated keys (the first value counts), structured metadata (one clashing
/// with a parsed name), JSON lines that make `json`'s counterpart fail, and values that fail
/// `unwrap` conversions.
fn small_source() -> MemorySource {
    let mut m = MemorySource::new();
    let a = labels(&[("app", "x"), ("env", "prod"), ("pod", "p1")]);
    let b = labels(&[("app", "x"), ("env", "dev"), ("pod", "p2")]);
    let c = labels(&[("app", "y"), ("pod", "p1")]);
    let levels = ["info", "warn", "error", "debug"];
    for i in 0..240i64 {
        let ts = (i * 7 / 3) * S + (i % 3) * 1_000;
        let level = levels[usize::try_from(i * i % 4).unwrap()];
        let latency = if i % 17 == 0 {
            "oops".to_owned()
        } else {
            format!("{}ms", i * 13 % 900)
        };
        let line = format!(
            "level={level} status={} trace_id={:032x} n={} latency={latency} size={}KB msg=\"say \\\"hi\\\" {}\" content-type={} größe={} level=again status=999",
            [200, 404, 500][usize::try_from(i % 3).unwrap()],
            i * 0x9e37_79b9,
            i % 11 - 5,
            i % 5,
            i % 2,
            ["json", "text"][usize::try_from(i % 2).unwrap()],
            i % 3
        );
        let s = if i % 3 == 1 { &b } else { &a };
        let md = if i % 4 == 0 {
            vec![("trace_id".to_owned(), format!("m{i}"))]
        } else {
            Vec::new()
        };
        m.push(s, ts, &line, &md);
        if i % 5 == 0 {
            m.push(
                &c,
                ts,
                &format!(r#"{{"level":"{level}","n":{i}}}"#),
                &[("user".to_owned(), format!("u{}", i % 3))],
            );
        }
    }
    m
}

/// The result (or error) in full: labels, order and values to the bit.
fn run(e: &Engine, src: &MemorySource, q: &str, p: &Params) -> String {
    match e.query(src, q, p) {
        Ok((r, _)) => format!("{r:?}"),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn pushdown_gives_identical_results() {
    let src = small_source();
    let on = Engine::new(EngineLimits::default());
    let off = on.clone().without_pushdown();
    let queries = [
        r#"sum by (level) (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"sum(count_over_time({app=~"x|y"}[1m]))"#,
        r#"sum by (pod) (count_over_time({pod=~".+"}[1m]))"#,
        r#"sum by (env) (count_over_time({app="x"} |= "level=info" [1m]))"#,
        r#"sum without (trace_id, n, latency, size) (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"sum without (pod) (bytes_over_time({app=~"x|y"}[2m] offset 30s))"#,
        r#"(sum by (level) ((count_over_time({app="x"} | logfmt [1m] offset 1m))))"#,
        r#"sum by (trace_id, trace_id_extracted) (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"sum by (user) (count_over_time({app="y"}[5m]))"#,
        // pipeline errors: logfmt lines fail json and JSON lines strict logfmt, unless filtered
        r#"sum by (level) (count_over_time({app=~"x|y"} | json [1m]))"#,
        r#"sum (count_over_time({app=~"x|y"} | logfmt --strict [1m]))"#,
        r#"sum by (level) (count_over_time({app=~"x|y"} | json | __error__="" [1m]))"#,
        r#"sum by (__error__) (count_over_time({app=~"x|y"} | json [1m]))"#,
        r#"sum by (level) (count_over_time({app=~"x|y"} | logfmt --strict | __error__!="LogfmtParserErr" [1m]))"#,
        r#"sum by (level) (bytes_over_time({app=~"x|y"} | json | __error__!="JSONParserErr" [1m]))"#,
        // formatting and dropping labels
        r#"sum by (lvl) (count_over_time({app="x"} | logfmt | label_format lvl="{{.level}}-{{.env}}" [1m]))"#,
        r#"sum without (pod) (count_over_time({app="x"} | logfmt | drop trace_id, n, latency, size [1m]))"#,
        r#"sum (bytes_over_time({app="x"} | logfmt | line_format "{{.level}}" [1m]))"#,
        // unwrap, with conversions and their errors
        r#"sum by (level) (sum_over_time({app="x"} | logfmt | unwrap duration(latency) [1m]))"#,
        r#"sum by (level) (sum_over_time({app="x"} | logfmt | unwrap duration(latency) | __error__="" [1m]))"#,
        r#"sum by (env) (sum_over_time({app="x"} | logfmt | unwrap bytes(size) [1m]) by (env, level))"#,
        r#"sum (sum_over_time({app="x"} | logfmt | unwrap bytes(size) [1m]) without (trace_id, n))"#,
        r#"sum by (level) (count_over_time({app="x"} | logfmt | unwrap n [1m]))"#,
        r#"max by (level) (max_over_time({app="x"} | logfmt | unwrap n [1m]))"#,
        r#"min (min_over_time({app="x"} | logfmt | unwrap n [1m] offset 30s))"#,
        r#"sum by (level) (rate({app="x"} | logfmt [1m]))"#,
        // parser hints: label filters after the parser are extracted with the grouping
        r#"sum by (level) (count_over_time({app="x"} | logfmt | status >= 400 [1m]))"#,
        r#"sum by (env) (count_over_time({app="x"} | logfmt | level="warn" or n < 0 [1m]))"#,
        r#"sum by (trace_id_extracted) (count_over_time({app="x"} | logfmt | status=500 [1m]))"#,
        r#"sum (bytes_over_time({app="x"} |= "level" | logfmt | size="3KB" [1m]))"#,
        r#"sum by (level) (rate({app="x"} | logfmt | status!=200 [1m]))"#,
        r#"sum by (msg, content_type) (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"sum by (gr__e) (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"sum (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"sum by (env) (bytes_rate({app="x"}[1m]))"#,
        // nested: the order of the step vectors is visible
        r#"topk(1, sum by (level) (count_over_time({app="x"} | logfmt [1m])))"#,
        r#"sort_desc(sum by (level) (count_over_time({app="x"} | logfmt [1m])))"#,
        r#"sum by (level) (count_over_time({app="x"} | logfmt [1m])) / ignoring (level) group_left sum(count_over_time({app="x"}[1m]))"#,
        r#"sum by (level) (count_over_time({app="x"} | logfmt [1m])) > 3"#,
        r#"label_replace(sum by (level) (count_over_time({app="x"} | logfmt [1m])), "l", "$1", "level", "(.)")"#,
        r#"sum(sum by (level) (count_over_time({app="x"} | logfmt [1m])))"#,
        // not pushed down (must not change either)
        r#"count by (level) (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"avg by (level) (count_over_time({app="x"} | logfmt [1m]))"#,
        r#"sum by (level) (rate_counter({app="x"} | logfmt | unwrap n [1m]))"#,
    ];
    let params = [
        instant(60 * S),
        instant(300 * S + 1_000),
        instant(700 * S),
        range(0, 600 * S, 30 * S),
        range(10 * S, 590 * S, 90 * S),
        range(120 * S, 120 * S, 10 * S),
    ];
    let mut pushed_ok = 0;
    for q in queries {
        for p in &params {
            let a = run(&on, &src, q, p);
            let b = run(&off, &src, q, p);
            assert_eq!(a, b, "{q} at {p:?}");
            pushed_ok += usize::from(!a.starts_with("error") && a.len() > 20);
        }
    }
    assert!(pushed_ok > 120, "too few non-trivial results: {pushed_ok}");
}

const N: usize = 50_000;

/// `N` lines in one stream over five minutes, each with its own `trace_id`; `bad` more lines that
/// strict `logfmt` rejects.
fn high_cardinality(bad: usize) -> MemorySource {
    let mut m = MemorySource::new();
    let l = labels(&[("app", "x")]);
    let levels = ["info", "warn", "error", "debug", "info"];
    for i in 0..N {
        let ts = i64::try_from(i + 1).unwrap() * (300 * S / i64::try_from(N).unwrap());
        m.push(
            &l,
            ts,
            &format!(
                "level={} trace_id={:032x} n={}",
                levels[i % 5],
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                i % 1000
            ),
            &[],
        );
    }
    for i in 0..bad {
        m.push(
            &l,
            10 * S + i64::try_from(i).unwrap(),
            r#"level=info msg="unterminated"#,
            &[],
        );
    }
    m
}

fn by_level(r: QueryResult) -> Vec<(String, f64)> {
    match r {
        QueryResult::Vector(v) => v
            .into_iter()
            .map(|s| (s.labels.get("level").unwrap_or("").to_owned(), s.value))
            .collect(),
        QueryResult::Matrix(m) => m
            .into_iter()
            .map(|s| {
                (
                    s.labels.get("level").unwrap_or("").to_owned(),
                    s.points.last().map_or(f64::NAN, |p| p.1),
                )
            })
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn high_cardinality_sum_is_answered() {
    let src = high_cardinality(0);
    let e = Engine::new(EngineLimits::default());
    let q = r#"sum by (level) (count_over_time({app="x"} | logfmt [5m]))"#;
    let t = 300 * S;
    let want: Vec<(String, f64)> = vec![
        ("info".into(), 20_000.0),
        ("warn".into(), 10_000.0),
        ("error".into(), 10_000.0),
        ("debug".into(), 10_000.0),
    ];
    let (r, _) = e.query(&src, q, &instant(t)).expect("pushed down");
    assert_eq!(by_level(r), want, "instant: groups in first-line order");
    let (r, _) = e.query(&src, q, &range(t - 120 * S, t, 60 * S)).unwrap();
    let mut sorted = want.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(by_level(r), sorted, "range: series sorted by labels");

    // The same without the pushdown, and without the aggregation: Loki's series limit.
    let limit = "maximum of series (500) reached for a single query";
    let err = e
        .clone()
        .without_pushdown()
        .query(&src, q, &instant(t))
        .unwrap_err();
    assert_eq!(err.to_string(), limit);
    let err = e
        .query(
            &src,
            r#"count_over_time({app="x"} | logfmt [5m])"#,
            &instant(t),
        )
        .unwrap_err();
    assert!(matches!(err, EvalError::Limit(_)), "{err:?}");
    assert_eq!(err.to_string(), limit);
}

#[test]
fn high_cardinality_regroups_on_overflow() {
    let src = high_cardinality(0);
    let e = Engine::new(EngineLimits::default());
    let t = 300 * S;
    // rate: per-series windows until the cap, then per level (sums re-associated: compare loosely)
    let (r, _) = e
        .query(
            &src,
            r#"sum by (level) (rate({app="x"} | logfmt [5m]))"#,
            &instant(t),
        )
        .unwrap();
    let got = by_level(r);
    assert_eq!(got.len(), 4);
    for (level, v) in got {
        let want = if level == "info" { 20_000.0 } else { 10_000.0 } / 300.0;
        assert!((v - want).abs() < 1e-9, "{level}: {v} vs {want}");
    }
    // max of maxima: exact
    let (r, _) = e
        .query(
            &src,
            r#"max by (level) (max_over_time({app="x"} | logfmt | unwrap n [5m]))"#,
            &instant(t),
        )
        .unwrap();
    let mut got = by_level(r);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<(String, f64)> = [
        ("debug", 998.0),
        ("error", 997.0),
        ("info", 999.0),
        ("warn", 996.0),
    ]
    .into_iter()
    .map(|(l, v)| (l.to_owned(), v))
    .collect();
    assert_eq!(got, want);
    // count under a comparison in a range query: its step vectors' order is visible, so it is
    // grouped only past the cap; the counts are exact either way.
    let (r, _) = e
        .query(
            &src,
            r#"sum by (level) (count_over_time({app="x"} | logfmt [5m])) > 10000"#,
            &range(t - 60 * S, t, 60 * S),
        )
        .unwrap();
    assert_eq!(by_level(r), vec![("info".to_owned(), 20_000.0)]);
    // Without the pushdown these fail.
    let err = e
        .clone()
        .without_pushdown()
        .query(
            &src,
            r#"sum by (level) (rate({app="x"} | logfmt [5m]))"#,
            &instant(t),
        )
        .unwrap_err();
    assert!(matches!(err, EvalError::Limit(_)), "{err:?}");
}

#[test]
fn high_cardinality_pipeline_errors_still_surface() {
    let src = high_cardinality(3);
    let e = Engine::new(EngineLimits::default());
    let err = e
        .query(
            &src,
            r#"sum by (level) (count_over_time({app="x"} | logfmt --strict [5m]))"#,
            &instant(300 * S),
        )
        .unwrap_err();
    // the first failing line's series, before any grouping (as without the pushdown)
    assert!(
        err.to_string().starts_with(
            "pipeline error: 'LogfmtParserErr' for series: '{__error__=\"LogfmtParserErr\", \
             __error_details__=\"logfmt syntax error at pos 29: unterminated quoted value\", \
             app=\"x\"}'.\nUse a label filter"
        ),
        "{err}"
    );
    // the same error when the windows are regrouped past the cap (the failing lines come before it)
    let err2 = e
        .query(
            &src,
            r#"sum by (level) (rate({app="x"} | logfmt --strict [5m]))"#,
            &instant(300 * S),
        )
        .unwrap_err();
    assert_eq!(err2.to_string(), err.to_string());
    // filtered out, the rest is counted
    let (r, _) = e
        .query(
            &src,
            r#"sum by (level) (count_over_time({app="x"} | logfmt --strict | __error__="" [5m]))"#,
            &instant(300 * S),
        )
        .unwrap();
    assert_eq!(by_level(r)[0], ("info".to_owned(), 20_000.0));
}

/// Parser hints (Loki's): under a pushed-down `sum by (level)`, `logfmt` extracts only what the
/// query reads. Results are the same (above); a pipeline error names the labels it had, so the
/// hinted series carries `level` and `latency`, not `status` or the other keys, as Loki's does.
#[test]
fn the_parser_extracts_only_what_the_query_reads() {
    let src = small_source();
    let on = Engine::new(EngineLimits::default());
    let off = on.clone().without_pushdown();
    let q = r#"sum by (level) (count_over_time({app="x"} | logfmt | latency > 1s [1m]))"#;
    let p = range(0, 600 * S, 30 * S);
    let hinted = run(&on, &src, q, &p);
    let full = run(&off, &src, q, &p);
    for (r, want) in [(&hinted, false), (&full, true)] {
        assert!(
            r.starts_with("error: pipeline error: 'LabelFilterErr'"),
            "{r}"
        );
        assert!(r.contains("latency=\"oops\""), "{r}");
        assert_eq!(
            r.contains("status=\"200\"")
                || r.contains("status=\"404\"")
                || r.contains("status=\"500\""),
            want,
            "{r}"
        );
    }
}

/// Hinted extraction still unescapes quoted values and sanitizes keys (`content-type`).
#[test]
fn hinted_logfmt_unescapes_and_sanitizes() {
    let src = small_source();
    let e = Engine::new(EngineLimits::default());
    let q = r#"sum by (msg, content_type) (count_over_time({app="x"} | logfmt [5m]))"#;
    let Ok((QueryResult::Vector(v), _)) = e.query(&src, q, &instant(300 * S)) else {
        panic!("not a vector");
    };
    let mut got: Vec<(String, String)> = v
        .iter()
        .map(|s| {
            (
                s.labels.get("msg").unwrap_or("-").to_owned(),
                s.labels.get("content_type").unwrap_or("-").to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("say \"hi\" 0".to_owned(), "json".to_owned()),
            ("say \"hi\" 1".to_owned(), "text".to_owned())
        ]
    );
}
