//! The `.logqltest` harness (Loki's `pkg/logql/internal/logqltest` DSL), run against this engine over an
//! in-memory [`Source`]. See `../shared/obs/loki/DSL.md` for the format.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::engine::{Direction, Engine, EngineLimits, Params, QueryResult};
use crate::labels::Labels;
use crate::mem::MemorySource as Store;

/// The script epoch, 2026-01-01T00:00:00Z, in ns.
pub const EPOCH_NS: i64 = 1_767_225_600_000_000_000;

/// One failed eval.
#[derive(Debug, Clone)]
pub struct Failure {
    /// File.
    pub file: PathBuf,
    /// 1-based line of the eval.
    pub line: usize,
    /// The eval line.
    pub eval: String,
    /// Why.
    pub reason: String,
}

/// Per-file counts.
#[derive(Debug, Clone)]
pub struct FileResult {
    /// File.
    pub file: PathBuf,
    /// Passed evals.
    pub passed: usize,
    /// Failed evals.
    pub failed: usize,
    /// A fatal script error (the file stopped there).
    pub fatal: Option<String>,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Per file.
    pub files: Vec<FileResult>,
    /// Every failure.
    pub failures: Vec<Failure>,
    /// Total passed.
    pub passed: usize,
    /// Total failed (including fatal script errors, one each).
    pub failed: usize,
}

/// Harness errors.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Reading the directory or a file failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Runs every `*.logqltest` file in `dir` (sorted by name).
///
/// # Errors
/// When the directory or a file cannot be read.
pub fn run_dir(dir: &Path) -> Result<Summary, HarnessError> {
    run_dir_as(dir, false)
}

/// Runs every eval of every `*.logqltest` file in `dir` twice, with and without the engine's
/// grouping pushdown, and counts an eval as passed when both give the same result (labels, order,
/// values to the bit) or the same error; the expectations are not checked.
///
/// # Errors
/// When the directory or a file cannot be read.
pub fn run_dir_differential(dir: &Path) -> Result<Summary, HarnessError> {
    run_dir_as(dir, true)
}

fn run_dir_as(dir: &Path, differential: bool) -> Result<Summary, HarnessError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| HarnessError::Io(dir.to_owned(), e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "logqltest"))
        .collect();
    files.sort();
    let mut s = Summary::default();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| HarnessError::Io(f.clone(), e))?;
        let mut fr = FileResult {
            file: f.clone(),
            passed: 0,
            failed: 0,
            fatal: None,
        };
        if let Err(e) = run_script(&text, &f, &mut fr, &mut s.failures, differential) {
            fr.fatal = Some(e);
            fr.failed += 1;
        }
        s.passed += fr.passed;
        s.failed += fr.failed;
        s.files.push(fr);
    }
    Ok(s)
}

/// `#` to end of line outside `"…"` / `` `…` ``.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None if c == '#' => return line[..i].trim_end_matches([' ', '\t']),
            None => {}
        }
    }
    line
}

/// Go `time.ParseDuration` offsets from the epoch.
fn offset(s: &str) -> Result<i64, String> {
    crate::duration::parse_go_duration(s).map_err(|e| format!("bad time {s:?}: {e}"))
}

/// Parses `{a="x", b="y"}` (values Go-quoted); `keep_empty` keeps `a=""`.
fn parse_label_set(s: &str, keep_empty: bool) -> Result<Labels, String> {
    let inner = s
        .trim()
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .ok_or_else(|| format!("bad labels {s:?}"))?;
    let mut pairs = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| format!("bad labels {s:?}"))?;
        let name = rest[..eq].trim().to_owned();
        let after = rest[eq + 1..].trim_start();
        let q = after
            .chars()
            .next()
            .ok_or_else(|| format!("bad labels {s:?}"))?;
        if q != '"' && q != '`' {
            return Err(format!("bad labels {s:?}"));
        }
        let mut end = None;
        let b = after.as_bytes();
        let mut i = 1;
        while i < b.len() {
            if b[i] == b'\\' && q == '"' {
                i += 2;
                continue;
            }
            if b[i] as char == q {
                end = Some(i);
                break;
            }
            i += 1;
        }
        let end = end.ok_or_else(|| format!("bad labels {s:?}"))?;
        let raw = &after[1..end];
        let value = if q == '"' {
            unescape(raw)
        } else {
            raw.to_owned()
        };
        if keep_empty || !value.is_empty() {
            pairs.push((name, value));
        }
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(Labels::new(pairs))
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn load_line(line: &str, store: &mut Store) -> Result<(), String> {
    let open = line.find('{').ok_or("load line without labels")?;
    let close = line[open..].find('}').ok_or("load line without '}'")? + open;
    let labels = parse_label_set(&line[open..=close], false)?;
    let rest = &line[close + 1..];
    let qpos = rest
        .find(['"', '`'])
        .ok_or("load line without a quoted line")?;
    let q = rest[qpos..].chars().next().unwrap_or('"');
    let after = &rest[qpos + 1..];
    let qend = after.find(q).ok_or("unterminated log line")?;
    let text = &after[..qend];
    let mut rest = after[qend + 1..].trim_start();
    rest = rest
        .strip_prefix('@')
        .ok_or("missing @ <start>")?
        .trim_start();
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let start = offset(&rest[..end])?;
    rest = rest[end..].trim_start();
    let (mut step, mut count) = (0i64, 1usize);
    if let Some(r) = rest.strip_prefix("[repeat every") {
        let close = r.find(']').ok_or("bad repeat")?;
        let parts: Vec<&str> = r[..close].split_whitespace().collect();
        if parts.len() != 3 || parts[1] != "for" {
            return Err("bad repeat".into());
        }
        step = offset(parts[0])?;
        count = parts[2].parse().map_err(|_| "bad repeat count")?;
        if count == 0 {
            return Err("repeat count must be >= 1".into());
        }
        rest = r[close + 1..].trim_start();
    }
    let mut md = Vec::new();
    if let Some(r) = rest.strip_prefix("[metadata") {
        let close = r.find(']').ok_or("bad metadata")?;
        let body = r[..close].trim();
        let re = regex::Regex::new(r#"^(?:"([^"]*)"|([^\s"=]+))="([^"]*)"\s*"#)
            .map_err(|e| e.to_string())?;
        let mut b = body;
        while !b.is_empty() {
            let c = re.captures(b).ok_or("bad metadata pair")?;
            let k = c
                .get(1)
                .or_else(|| c.get(2))
                .map_or("", |m| m.as_str())
                .to_owned();
            md.push((k, c[3].to_owned()));
            b = &b[c.get(0).map_or(b.len(), |m| m.end())..];
        }
        if md.is_empty() {
            return Err("empty metadata".into());
        }
        rest = r[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err(format!("unexpected content after log line: {rest:?}"));
    }
    for i in 0..count {
        #[allow(clippy::cast_possible_wrap)]
        let ts = EPOCH_NS + start + i as i64 * step;
        let l = text.replace("{{.i}}", &i.to_string());
        // Identical timestamp + line + metadata in one stream is dropped, like Loki's store dedup.
        store.push_dedup(&labels, ts, &l, &md);
    }
    Ok(())
}

enum Token {
    Skip,
    Num(f64),
}

fn parse_go_float(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad float {s:?}")),
    }
}

fn expand(tok: &str) -> Result<Vec<Token>, String> {
    if tok == "_" {
        return Ok(vec![Token::Skip]);
    }
    if let Some(x) = tok.find('x') {
        let (base_step, cnt) = (&tok[..x], &tok[x + 1..]);
        let cnt: usize = cnt.parse().map_err(|_| format!("bad sample {tok:?}"))?;
        let split = base_step
            .rfind('+')
            .filter(|i| *i > 0)
            .or_else(|| base_step.rfind('-').filter(|i| *i > 0));
        let (base, step) = match split {
            Some(i) => (
                parse_go_float(&base_step[..i])?,
                parse_go_float(&base_step[i..])?,
            ),
            None => (parse_go_float(base_step)?, 0.0),
        };
        #[allow(clippy::cast_precision_loss)]
        return Ok((0..=cnt)
            .map(|i| Token::Num(base + i as f64 * step))
            .collect());
    }
    Ok(vec![Token::Num(parse_go_float(tok)?)])
}

fn floats_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let d = (a - b).abs();
    d <= 1e-9 || d / a.abs().max(b.abs()) <= 1e-9
}

struct Expect {
    fail: Option<Option<Result<String, String>>>, // Some(None)=any, Some(Some(Ok(msg)))/Err(regex)
    empty: bool,
    ordered: bool,
    skip_values: bool,
    scalar: Option<f64>,
    series: Vec<(Labels, Vec<Token>)>,
}

fn parse_expectations(lines: &[&str]) -> Result<Expect, String> {
    let mut e = Expect {
        fail: None,
        empty: false,
        ordered: false,
        skip_values: false,
        scalar: None,
        series: Vec::new(),
    };
    for l in lines {
        if let Some(rest) = l.strip_prefix("expect fail") {
            let rest = rest.trim();
            e.fail = Some(if rest.is_empty() {
                None
            } else if let Some(m) = rest.strip_prefix("msg:") {
                Some(Ok(m.trim().to_owned()))
            } else if let Some(r) = rest.strip_prefix("regex:") {
                Some(Err(r.trim().to_owned()))
            } else {
                return Err(format!("bad expect fail: {l}"));
            });
        } else if *l == "expect empty" {
            e.empty = true;
        } else if *l == "expect ordered" {
            e.ordered = true;
        } else if l.starts_with("expect") {
            return Err(format!("unsupported expect annotation: {l}"));
        } else if let Some(r) = l.strip_prefix("skip ") {
            if r.contains("\"direct\"") {
                e.skip_values = true;
            }
        } else if l.starts_with('{') {
            let close = l.find('}').ok_or("series without '}'")?;
            let labels = parse_label_set(&l[..=close], true)?;
            let mut toks = Vec::new();
            for t in l[close + 1..].split_whitespace() {
                toks.extend(expand(t)?);
            }
            if toks.is_empty() {
                return Err("series line without samples".into());
            }
            e.series.push((labels, toks));
        } else {
            e.scalar = Some(parse_go_float(l)?);
        }
    }
    let kinds = usize::from(e.fail.is_some())
        + usize::from(e.empty)
        + usize::from(e.scalar.is_some())
        + usize::from(!e.series.is_empty());
    if kinds != 1 {
        return Err("an eval needs exactly one kind of expectation".into());
    }
    Ok(e)
}

fn run_script(
    text: &str,
    file: &Path,
    fr: &mut FileResult,
    failures: &mut Vec<Failure>,
    differential: bool,
) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut store = Store::default();
    let engine = Engine::new(EngineLimits::default());
    let mut i = 0;
    let block = |i: &mut usize| -> Vec<&str> {
        let mut out = Vec::new();
        while *i < lines.len() {
            let l = lines[*i];
            if l.trim().is_empty() {
                break;
            }
            if l.trim_start().starts_with('#') {
                *i += 1;
                continue;
            }
            if !l.starts_with([' ', '\t']) {
                break;
            }
            let t = strip_comment(l).trim();
            if !t.is_empty() {
                out.push(t);
            }
            *i += 1;
        }
        out
    };
    while i < lines.len() {
        let lineno = i + 1;
        let trimmed = strip_comment(lines[i]).trim();
        i += 1;
        if trimmed.is_empty() {
            continue;
        }
        let cmd = trimmed.split_whitespace().next().unwrap_or("");
        match cmd {
            "clear" => store = Store::default(),
            "load" => {
                let b = block(&mut i);
                if b.is_empty() {
                    return Err(format!("line {lineno}: load block has no data lines"));
                }
                for l in b {
                    load_line(l, &mut store).map_err(|e| format!("line {lineno}: {e}"))?;
                }
            }
            "eval" => {
                let b = block(&mut i);
                let exp = parse_expectations(&b).map_err(|e| format!("line {lineno}: {e}"))?;
                let res = if differential {
                    run_differential(&engine, &store, trimmed)
                } else {
                    run_eval(&engine, &store, trimmed, &exp)
                };
                match res {
                    Ok(()) => fr.passed += 1,
                    Err(reason) => {
                        fr.failed += 1;
                        failures.push(Failure {
                            file: file.to_owned(),
                            line: lineno,
                            eval: trimmed.to_owned(),
                            reason,
                        });
                    }
                }
            }
            other => return Err(format!("line {lineno}: unexpected command {other:?}")),
        }
    }
    Ok(())
}

fn run_eval(engine: &Engine, store: &Store, header: &str, exp: &Expect) -> Result<(), String> {
    let (params, query, steps) = parse_eval(header)?;
    check(engine, store, &params, &query, &steps, exp)
}

fn run_differential(engine: &Engine, store: &Store, header: &str) -> Result<(), String> {
    let (params, query, _) = parse_eval(header)?;
    let show = |r: Result<(QueryResult, crate::engine::Stats), crate::engine::EvalError>| match r {
        Ok((r, _)) => format!("{r:?}"),
        Err(e) => format!("error: {e}"),
    };
    let pushed = show(engine.query(store, &query, &params));
    let plain = show(
        engine
            .clone()
            .without_pushdown()
            .query(store, &query, &params),
    );
    if pushed == plain {
        Ok(())
    } else {
        Err(format!("with pushdown: {pushed}\n     without: {plain}"))
    }
}

/// An eval line's parameters, query and steps.
fn parse_eval(header: &str) -> Result<(Params, String, Vec<i64>), String> {
    let rest = header.strip_prefix("eval").unwrap_or(header).trim();
    let (params, query, steps) = if let Some(r) = rest.strip_prefix("instant") {
        let r = r
            .trim()
            .strip_prefix("at")
            .ok_or("bad instant eval")?
            .trim();
        let (t, q) = r
            .split_once(char::is_whitespace)
            .ok_or("bad instant eval")?;
        let t = EPOCH_NS + offset(t)?;
        (
            Params {
                start_ns: t,
                end_ns: t,
                step_ns: 0,
                interval_ns: None,
                direction: Direction::Forward,
                limit: 1000,
                instant: true,
            },
            q.trim(),
            vec![t],
        )
    } else if let Some(r) = rest.strip_prefix("range") {
        let re = regex::Regex::new(r"^from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$")
            .map_err(|e| e.to_string())?;
        let c = re.captures(r.trim()).ok_or("bad range eval")?;
        let (s, e, st) = (
            EPOCH_NS + offset(&c[1])?,
            EPOCH_NS + offset(&c[2])?,
            offset(&c[3])?,
        );
        if st <= 0 || e < s {
            return Err("bad range".into());
        }
        let mut steps = Vec::new();
        let mut t = s;
        while t <= e {
            steps.push(t);
            t += st;
        }
        let q = c.get(4).map_or("", |m| m.as_str()).trim().to_owned();
        return Ok((
            Params {
                start_ns: s,
                end_ns: e,
                step_ns: st,
                interval_ns: None,
                direction: Direction::Forward,
                limit: 1000,
                instant: false,
            },
            q,
            steps,
        ));
    } else {
        return Err("eval must be instant or range".into());
    };
    Ok((params, query.to_owned(), steps))
}

fn ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

#[allow(clippy::too_many_lines)]
fn check(
    engine: &Engine,
    store: &Store,
    p: &Params,
    q: &str,
    steps: &[i64],
    exp: &Expect,
) -> Result<(), String> {
    let res = engine.query(store, q, p);
    if let Some(f) = &exp.fail {
        return match (res, f) {
            (Ok(_), _) => Err("expected an error, got a result".into()),
            (Err(_), None) => Ok(()),
            (Err(e), Some(Ok(msg))) => {
                let s = e.to_string();
                if s.contains(msg.as_str()) {
                    Ok(())
                } else {
                    Err(format!("error {s:?} does not contain {msg:?}"))
                }
            }
            (Err(e), Some(Err(re))) => {
                let s = e.to_string();
                let r = regex::Regex::new(re).map_err(|e| e.to_string())?;
                if r.is_match(&s) {
                    Ok(())
                } else {
                    Err(format!("error {s:?} does not match /{re}/"))
                }
            }
        };
    }
    let (res, _) = res.map_err(|e| format!("unexpected error: {e}"))?;
    // Normalise to (labels, points)
    let got: Vec<(Labels, Vec<(i64, f64)>)> = match res {
        QueryResult::Scalar(t, v) => {
            if let Some(want) = exp.scalar {
                if ms(t) != ms(steps[0]) {
                    return Err("scalar at the wrong time".into());
                }
                if exp.skip_values || floats_equal(v, want) {
                    return Ok(());
                }
                return Err(format!("scalar {v} != expected {want}"));
            }
            return Err(format!("got scalar {v}, expected series"));
        }
        QueryResult::Vector(v) => {
            if !p.instant {
                return Err("got a vector for a range query".into());
            }
            v.into_iter()
                .map(|s| (s.labels, vec![(s.ts_ns, s.value)]))
                .collect()
        }
        QueryResult::Matrix(m) => {
            if p.instant {
                return Err("got a matrix for an instant query".into());
            }
            m.into_iter().map(|s| (s.labels, s.points)).collect()
        }
        QueryResult::Streams(_) => return Err("got streams; metric queries only".into()),
    };
    if exp.scalar.is_some() {
        return Err(format!("expected a scalar, got {} series", got.len()));
    }
    if exp.empty {
        if got.is_empty() {
            return Ok(());
        }
        return Err(format!("expected empty, got {}", describe(&got)));
    }
    // duplicates
    for (i, (l, _)) in got.iter().enumerate() {
        if got[..i].iter().any(|(x, _)| x == l) {
            return Err(format!("duplicate returned series {l}"));
        }
    }
    if got.len() != exp.series.len() {
        return Err(format!(
            "expected {} series, got {}: {}",
            exp.series.len(),
            got.len(),
            describe(&got)
        ));
    }
    for (idx, (el, toks)) in exp.series.iter().enumerate() {
        let found = if exp.ordered {
            got.get(idx).filter(|(l, _)| l == el)
        } else {
            got.iter().find(|(l, _)| l == el)
        };
        let Some((_, pts)) = found else {
            return Err(format!(
                "expected series {el} not returned (got {})",
                describe(&got)
            ));
        };
        if toks.len() != steps.len() {
            return Err(format!(
                "series {el}: {} tokens for {} steps",
                toks.len(),
                steps.len()
            ));
        }
        for (t, _) in pts {
            if !steps.iter().any(|s| ms(*s) == ms(*t)) {
                return Err(format!("series {el}: point at a non-step time"));
            }
        }
        for (k, tok) in toks.iter().enumerate() {
            let at = pts.iter().find(|(t, _)| ms(*t) == ms(steps[k]));
            match (tok, at) {
                (Token::Skip, None) => {}
                (Token::Skip, Some((_, v))) => {
                    return Err(format!("series {el}: step {k}: expected no point, got {v}"));
                }
                (Token::Num(w), None) => {
                    return Err(format!("series {el}: step {k}: expected {w}, got none"));
                }
                (Token::Num(w), Some((_, v))) => {
                    if !exp.skip_values && !floats_equal(*v, *w) {
                        return Err(format!("series {el}: step {k}: expected {w}, got {v}"));
                    }
                }
            }
        }
    }
    Ok(())
}

fn describe(got: &[(Labels, Vec<(i64, f64)>)]) -> String {
    let mut s = String::new();
    for (l, pts) in got.iter().take(6) {
        let _ = write!(s, "{l} [");
        for (i, (_, v)) in pts.iter().enumerate().take(8) {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{v}");
        }
        s.push_str("] ");
    }
    s
}
