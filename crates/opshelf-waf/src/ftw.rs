//! go-ftw regression tests run in-process against the engine, with the contract of go-ftw +
//! Coraza's CRS harness: recommended config, `crs-setup.conf.example`, test rules 900005
//! (DetectionOnly, blocking PL 4) and 999999 (the log marker), all CRS rules; go-ftw's automatic
//! headers; a verdict from the rule ids logged for the request.
//!
//! The backend is simulated like go-ftw's `albedo`: `POST /reflect` with a JSON body
//! `{"status":..,"headers":{..},"body":".."}` answers with that response, anything else with
//! `200 text/html`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use regex::Regex;
use serde_norway::Value;

use crate::engine::{Request, Response, Transaction};
use crate::ruleset::RuleSet;

/// The test-only rules of the CRS harness.
pub const TEST_RULES: &str = r#"
SecAction "id:900005,\
  phase:1,\
  nolog,\
  pass,\
  ctl:ruleEngine=DetectionOnly,\
  ctl:ruleRemoveById=910000,\
  setvar:tx.blocking_paranoia_level=4,\
  setvar:tx.crs_validate_utf8_encoding=1,\
  setvar:tx.arg_name_length=100,\
  setvar:tx.arg_length=400,\
  setvar:tx.total_arg_length=64000,\
  setvar:tx.max_num_args=255,\
  setvar:tx.max_file_size=64100,\
  setvar:tx.combined_file_sizes=65535"

SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" \
  "id:999999,\
  phase:1,\
  pass,\
  t:none,\
  log,\
  msg:'%{MATCHED_VAR}'"
"#;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub rules_dir: PathBuf,
    pub exclusions: Option<PathBuf>,
    pub only: Option<String>,
    pub tests: Vec<PathBuf>,
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Errors loading rules or tests.
#[derive(Debug, thiserror::Error)]
pub enum FtwError {
    #[error(transparent)]
    Rules(#[from] crate::seclang::ParseError),
    #[error("{path}: {message}")]
    Test { path: String, message: String },
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}

/// Loads the rule set the CRS suite runs against.
///
/// # Errors
/// Rule-file errors.
pub fn load_rules(rules_dir: &Path) -> Result<RuleSet, FtwError> {
    let setup_path = rules_dir.parent().map(|p| p.join("crs-setup.conf.example"));
    let setup = match setup_path {
        Some(p) if p.exists() => Some(std::fs::read_to_string(&p).map_err(|e| FtwError::Test {
            path: p.display().to_string(),
            message: e.to_string(),
        })?),
        _ => None,
    };
    Ok(crate::load_crs(
        rules_dir,
        setup.as_deref(),
        TEST_RULES,
        &[],
    )?)
}

/// One stage's request after go-ftw's processing, and its expectations.
#[derive(Debug, Clone, Default)]
pub struct Stage {
    pub request: Request,
    pub body: Vec<u8>,
    pub expect_ids: Vec<u64>,
    pub no_expect_ids: Vec<u64>,
    pub match_regex: Option<String>,
    pub no_match_regex: Option<String>,
    pub status: Vec<u16>,
}

/// A test case.
#[derive(Debug, Clone)]
pub struct Case {
    pub rule_id: u64,
    pub test_id: u64,
    pub file: String,
    pub stages: Vec<Stage>,
}

fn as_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => serde_norway::to_string(other).unwrap_or_default(),
    }
}

fn ids(v: Option<&Value>) -> Vec<u64> {
    match v {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|x| as_string(x).trim().parse().ok())
            .collect(),
        Some(x) => as_string(x).trim().parse().ok().into_iter().collect(),
        None => Vec::new(),
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &[u8]) -> String {
    let mut out = String::new();
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `url.QueryUnescape`; `None` on an invalid escape.
fn query_unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    return None;
                }
                let h = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push((h(s[i + 1]) << 4) | h(s[i + 2]));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// go-ftw's `encodeDataParameters`: a urlencoded body with no escapes in it is parsed as a
/// query and re-encoded (Go sorts the keys).
fn encode_data(data: &[u8]) -> Vec<u8> {
    let Some(unescaped) = query_unescape(data) else {
        return data.to_vec();
    };
    if unescaped != data {
        return data.to_vec();
    }
    if data.contains(&b';') {
        return data.to_vec();
    }
    let mut values: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for piece in data.split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let (k, v) = match piece.iter().position(|&b| b == b'=') {
            Some(p) => (&piece[..p], &piece[p + 1..]),
            None => (piece, &b""[..]),
        };
        let (Some(k), Some(v)) = (query_unescape(k), query_unescape(v)) else {
            return data.to_vec();
        };
        values.push((k, v));
    }
    // Go's Values.Encode: keys sorted, values of one key in order.
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut grouped: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for (k, v) in values {
        if !grouped.contains_key(&k) {
            order.push(k.clone());
        }
        grouped.entry(k).or_default().push(v);
    }
    order.sort();
    let mut parts = Vec::new();
    for k in order {
        for v in &grouped[&k] {
            parts.push(format!("{}={}", query_escape(&k), query_escape(v)));
        }
    }
    parts.join("&").into_bytes()
}

fn parse_raw_request(raw: &[u8]) -> (Request, Vec<u8>) {
    let mut req = Request::default();
    let head_end = find(raw, b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| find(raw, b"\n\n").map(|p| (p, 2)));
    let (head, body) = match head_end {
        Some((p, n)) => (&raw[..p], raw[p + n..].to_vec()),
        None => (raw, Vec::new()),
    };
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    if let Some(first) = lines.next() {
        let mut parts = first.splitn(3, ' ');
        req.method = parts.next().unwrap_or("").to_owned();
        req.uri = parts.next().unwrap_or("").to_owned();
        req.protocol = parts.next().unwrap_or("").to_owned();
    }
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            req.headers
                .push((k.to_owned(), v.trim_start().as_bytes().to_vec()));
        }
    }
    (req, body)
}

/// Decodes a chunked body (what the server hands the WAF); stops at the first malformed chunk.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(body, b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        body = &body[eol + 2..];
        if size == 0 || size > body.len() {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = body[size..].strip_prefix(b"\r\n").unwrap_or(&body[size..]);
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn build_stage(input: &Value, output: &Value) -> Stage {
    let mut st = Stage::default();
    let get = |k: &str| input.get(k);
    if let Some(enc) = get("encoded_request") {
        let b64: String = as_string(enc)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default();
        let (req, body) = parse_raw_request(&raw);
        st.request = req;
        st.body = body;
    } else {
        let autocomplete =
            get("autocomplete_headers").is_none_or(|v| !matches!(v, Value::Bool(false)));
        st.request.method = get("method").map_or_else(|| "GET".to_owned(), as_string);
        st.request.uri = get("uri").map_or_else(|| "/".to_owned(), as_string);
        st.request.protocol = get("version").map_or_else(|| "HTTP/1.1".to_owned(), as_string);
        if let Some(Value::Mapping(h)) = get("headers") {
            for (k, v) in h {
                st.request
                    .headers
                    .push((as_string(k), as_string(v).into_bytes()));
            }
        }
        let mut data = get("data").map(as_string).unwrap_or_default().into_bytes();
        let has = |req: &Request, name: &str| {
            req.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if autocomplete {
            if !data.is_empty() && !has(&st.request, "content-type") {
                st.request.headers.push((
                    "Content-Type".into(),
                    b"application/x-www-form-urlencoded".to_vec(),
                ));
            }
            let ct = st
                .request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_default();
            if ct == b"application/x-www-form-urlencoded" {
                data = encode_data(&data);
            }
            if ct.starts_with(b"multipart/") && !data.windows(2).any(|w| w == b"\r\n") {
                let mut crlf = Vec::with_capacity(data.len() + 16);
                for &b in &data {
                    if b == b'\n' {
                        crlf.push(b'\r');
                    }
                    crlf.push(b);
                }
                data = crlf;
            }
            if !has(&st.request, "connection") {
                st.request
                    .headers
                    .push(("Connection".into(), b"close".to_vec()));
            }
            let wants_length =
                !data.is_empty() || matches!(st.request.method.as_str(), "POST" | "PUT" | "PATCH");
            if wants_length && !has(&st.request, "content-length") {
                st.request
                    .headers
                    .push(("Content-Length".into(), data.len().to_string().into_bytes()));
            }
        }
        st.body = data;
    }
    // An HTTP/1.1 server reads only what Content-Length (or chunking) announces.
    let header = |name: &str| {
        st.request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let chunked = header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().windows(7).any(|w| w == b"chunked"));
    if chunked {
        st.body = dechunk(&st.body);
    } else {
        match header("content-length")
            .and_then(|v| String::from_utf8_lossy(&v).trim().parse::<usize>().ok())
        {
            Some(n) => st.body.truncate(n),
            None => st.body.clear(),
        }
    }
    st.request.remote_addr = "127.0.0.1".into();
    st.request.remote_port = 40000;
    st.request.server_port = 80;
    st.request.unique_id = "ftw".into();
    if let Some(log) = output.get("log") {
        st.expect_ids = ids(log.get("expect_ids").or_else(|| log.get("expect_id")));
        st.no_expect_ids = ids(log.get("no_expect_ids").or_else(|| log.get("no_expect_id")));
        st.match_regex = log.get("match_regex").map(as_string);
        st.no_match_regex = log.get("no_match_regex").map(as_string);
    }
    if let Some(s) = output.get("log_contains") {
        st.match_regex = Some(as_string(s));
    }
    if let Some(s) = output.get("no_log_contains") {
        st.no_match_regex = Some(as_string(s));
    }
    st.status = match output.get("status") {
        Some(Value::Sequence(s)) => s.iter().filter_map(|x| as_string(x).parse().ok()).collect(),
        Some(x) => as_string(x).parse().ok().into_iter().collect(),
        None => Vec::new(),
    };
    st
}

/// Parses one go-ftw YAML file.
///
/// # Errors
/// Unreadable or malformed YAML.
pub fn parse_file(path: &Path) -> Result<Vec<Case>, FtwError> {
    let err = |m: String| FtwError::Test {
        path: path.display().to_string(),
        message: m,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let doc: Value = serde_norway::from_str(&text).map_err(|e| err(e.to_string()))?;
    let rule_id = doc
        .get("rule_id")
        .map(as_string)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut cases = Vec::new();
    let Some(Value::Sequence(tests)) = doc.get("tests") else {
        // A file whose tests are all commented out.
        return Ok(cases);
    };
    for t in tests {
        let test_id = t
            .get("test_id")
            .map(as_string)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut stages = Vec::new();
        if let Some(Value::Sequence(ss)) = t.get("stages") {
            for s in ss {
                let s = s.get("stage").unwrap_or(s);
                let input = s.get("input").cloned().unwrap_or(Value::Null);
                let output = s.get("output").cloned().unwrap_or(Value::Null);
                stages.push(build_stage(&input, &output));
            }
        }
        cases.push(Case {
            rule_id,
            test_id,
            file: path.display().to_string(),
            stages,
        });
    }
    Ok(cases)
}

/// The simulated backend's response (go-ftw's albedo).
fn backend(req: &Request, body: &[u8]) -> (Response, Vec<u8>) {
    let mut resp = Response {
        status: 200,
        protocol: "HTTP/1.1".into(),
        headers: Vec::new(),
    };
    let mut out = b"<html><body>ok</body></html>".to_vec();
    let path = req.uri.split('?').next().unwrap_or("");
    let mut ct = "text/html".to_owned();
    if path == "/reflect"
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
    {
        if let Some(s) = v.get("status").and_then(serde_json::Value::as_u64) {
            resp.status = u16::try_from(s).unwrap_or(200);
        }
        if let Some(h) = v.get("headers").and_then(serde_json::Value::as_object) {
            for (k, val) in h {
                let val = val.as_str().map_or_else(|| val.to_string(), str::to_owned);
                if k.eq_ignore_ascii_case("content-type") {
                    ct.clone_from(&val);
                } else {
                    resp.headers.push((k.clone(), val.into_bytes()));
                }
            }
        }
        if let Some(b) = v.get("body").and_then(serde_json::Value::as_str) {
            out = b.as_bytes().to_vec();
        }
        if let Some(b) = v.get("encodedBody").and_then(serde_json::Value::as_str) {
            out = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
        }
    }
    resp.headers.push(("Content-Type".into(), ct.into_bytes()));
    resp.headers
        .push(("Content-Length".into(), out.len().to_string().into_bytes()));
    (resp, out)
}

/// Runs one stage; returns the failure reason, if any.
pub fn run_stage(rs: &RuleSet, st: &Stage) -> Result<(), String> {
    let mut tx = Transaction::new(rs, &st.request);
    tx.process_request_headers();
    tx.process_request_body(&st.body);
    let (resp, resp_body) = backend(&st.request, &st.body);
    tx.process_response_headers(&resp);
    tx.process_response_body(&resp_body);
    tx.process_logging();
    let status = tx.interruption.as_ref().map_or(resp.status, |i| i.status);
    let logged: Vec<&crate::engine::MatchRecord> =
        tx.matches.iter().filter(|m| m.id != 999_999).collect();
    let ids: Vec<u64> = logged.iter().map(|m| m.id).collect();
    let has_log_expectations = !st.expect_ids.is_empty()
        || !st.no_expect_ids.is_empty()
        || st.match_regex.is_some()
        || st.no_match_regex.is_some();
    for id in &st.expect_ids {
        if !ids.contains(id) {
            return Err(format!("expected id {id} not logged (logged: {ids:?})"));
        }
    }
    for id in &st.no_expect_ids {
        if ids.contains(id) {
            return Err(format!("id {id} logged but not expected"));
        }
    }
    let log_text: String = logged
        .iter()
        .map(|m| m.log_line())
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(re) = &st.match_regex {
        let re = Regex::new(re).map_err(|e| format!("bad match_regex: {e}"))?;
        if !re.is_match(&log_text) {
            return Err(format!("log does not match /{re}/ (logged: {ids:?})"));
        }
    }
    if let Some(re) = &st.no_match_regex {
        let re = Regex::new(re).map_err(|e| format!("bad no_match_regex: {e}"))?;
        if re.is_match(&log_text) {
            return Err(format!("log matches /{re}/ (logged: {ids:?})"));
        }
    }
    if !has_log_expectations && !st.status.is_empty() && !st.status.contains(&status) {
        return Err(format!("status {status}, expected {:?}", st.status));
    }
    Ok(())
}

/// Exclusions: `RULE_ID TEST_ID reason...` lines (`#` comments).
///
/// # Errors
/// Unreadable file.
pub fn load_exclusions(path: &Path) -> Result<HashMap<(u64, u64), String>, FtwError> {
    let text = std::fs::read_to_string(path).map_err(|e| FtwError::Test {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, char::is_whitespace);
        let (Some(r), Some(t)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let (Ok(r), Ok(t)) = (r.parse(), t.parse()) {
            out.insert((r, t), parts.next().unwrap_or("").trim().to_owned());
        }
    }
    Ok(out)
}

fn collect_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            collect_files(&e, out);
        }
    } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
        out.push(p.to_path_buf());
    }
}

/// Runs the suite, printing one line per failing test and the closing `N passed, N failed`.
///
/// # Errors
/// Rules or tests that cannot be loaded.
pub fn run(opts: &Options, out: &mut dyn std::io::Write) -> Result<Summary, FtwError> {
    let started = std::time::Instant::now();
    let rs = load_rules(&opts.rules_dir)?;
    let load_time = started.elapsed();
    let exclusions = match &opts.exclusions {
        Some(p) => load_exclusions(p)?,
        None => HashMap::new(),
    };
    let mut files = Vec::new();
    for t in &opts.tests {
        collect_files(t, &mut files);
    }
    let mut summary = Summary::default();
    for f in &files {
        let cases = match parse_file(f) {
            Ok(c) => c,
            Err(e) => {
                writeln!(out, "FAIL {}: {e}", f.display())?;
                summary.failed += 1;
                continue;
            }
        };
        for case in cases {
            let name = format!("{}-{}", case.rule_id, case.test_id);
            if opts
                .only
                .as_ref()
                .is_some_and(|o| !name.contains(o.as_str()))
            {
                continue;
            }
            if exclusions.contains_key(&(case.rule_id, case.test_id)) {
                summary.skipped += 1;
                continue;
            }
            let mut result = Ok(());
            for st in &case.stages {
                result = run_stage(&rs, st);
                if result.is_err() {
                    break;
                }
            }
            match result {
                Ok(()) => summary.passed += 1,
                Err(reason) => {
                    summary.failed += 1;
                    writeln!(out, "FAIL {name}: {reason}")?;
                }
            }
        }
    }
    writeln!(
        out,
        "rules: {} loaded in {} ms; tests ran in {} ms",
        rs.rule_count,
        load_time.as_millis(),
        started.elapsed().saturating_sub(load_time).as_millis()
    )?;
    writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    )?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_encoding_of_bodies() {
        assert_eq!(encode_data(b"b=2&a=<x y>"), b"a=%3Cx+y%3E&b=2");
        assert_eq!(encode_data(b"a=%3C"), b"a=%3C");
        assert_eq!(encode_data(b"a=1;b"), b"a=1;b");
        assert_eq!(encode_data(b"x"), b"x=");
    }

    #[test]
    fn raw_requests() {
        let (r, b) = parse_raw_request(b"POST /a HTTP/1.1\r\nHost: x\r\n\r\nbody");
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri, "/a");
        assert_eq!(r.headers[0], ("Host".to_owned(), b"x".to_vec()));
        assert_eq!(b, b"body");
        assert_eq!(dechunk(b"3\r\nHi \r\n3\r\nCRS\r\n0\r\n\r\n"), b"Hi CRS");
    }
}
