//! The `logfmt` and `regexp` parsers.

use std::borrow::Cow;

use super::LabelsBuilder;
use super::json::sanitize_key;
use crate::ast::Extraction;

/// The logfmt stage.
pub struct LogfmtParser {
    strict: bool,
    keep_empty: bool,
    /// (label, logfmt key)
    params: Vec<(String, String)>,
    /// Without params: the only labels to extract (Loki's parser hints), `None` for all.
    only: Option<Vec<String>>,
}

impl LogfmtParser {
    /// Builds the parser.
    #[must_use]
    pub fn new(strict: bool, keep_empty: bool, params: &[Extraction]) -> Self {
        Self {
            strict,
            keep_empty,
            params: params
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.expr.clone().unwrap_or_else(|| p.name.clone()),
                    )
                })
                .collect(),
            only: None,
        }
    }

    /// Extract only these labels (sanitized names) when the stage has no params: what the
    /// rest of a metric query reads ([`super::required_labels`]).
    #[must_use]
    pub fn only(mut self, labels: Option<Vec<String>>) -> Self {
        self.only = labels;
        self
    }

    /// Parses the line into labels.
    pub fn process(&self, line: &str, lb: &mut LabelsBuilder) {
        if let (false, true, Some(only)) = (self.strict, self.params.is_empty(), &self.only) {
            // hinted and lenient: no pair is kept, only wanted values are unescaped, and the
            // line is left once every wanted label is settled (Loki's `AllRequiredExtracted`;
            // exact, as the first parsed value of a name wins). Lenient decoding sets no
            // error, so with nothing wanted there is nothing to do.
            if only.is_empty() {
                return;
            }
            let _ = decode(line, false, &mut |k, raw, escaped| {
                if (!raw.is_empty() || self.keep_empty)
                    && let Some(name) = wanted(only, k)
                {
                    lb.set_parsed(name, &value(raw, escaped));
                    return !only.iter().all(|n| lb.settled(n));
                }
                true
            });
            return;
        }
        let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::new();
        if let Err(e) = decode(line, self.strict, &mut |k, raw, escaped| {
            pairs.push((k, value(raw, escaped)));
            true
        }) && self.strict
        {
            lb.set_err("LogfmtParserErr", || e);
            return;
        }
        if self.params.is_empty() {
            for (k, v) in &pairs {
                if v.is_empty() && !self.keep_empty {
                    continue;
                }
                let key = sanitize_key(k);
                if key.is_empty()
                    || self
                        .only
                        .as_ref()
                        .is_some_and(|o| !o.iter().any(|n| *n == key))
                {
                    continue;
                }
                lb.set_parsed(&key, v);
            }
        } else {
            for (label, key) in &self.params {
                if let Some((_, v)) = pairs.iter().find(|(k, _)| k == key) {
                    lb.set_parsed(label, v);
                }
            }
        }
    }
}

/// The wanted label a logfmt key becomes, if any. Label names are sanitized keys, and
/// sanitizing an ASCII key keeps its length or adds one `_`: most keys are ruled out by their
/// length without building the sanitized name (a non-ASCII character becomes one `_`, so
/// those keys are always sanitized).
fn wanted<'o>(only: &'o [String], key: &str) -> Option<&'o str> {
    for n in only {
        if n.as_str() == key {
            return Some(n);
        }
        let may = !key.is_ascii() || n.len() == key.len() || n.len() == key.len() + 1;
        if may && sanitize_key(key) == n.as_str() {
            return Some(n);
        }
    }
    None
}

fn value(raw: &str, escaped: bool) -> Cow<'_, str> {
    if escaped {
        Cow::Owned(unescape(raw))
    } else {
        Cow::Borrowed(raw)
    }
}

/// go-logfmt's decoder: `key=value`, `key="quoted value"`, bare `key`.
/// Each pair goes to `emit` as (key, raw value, whether it holds escapes); decoding stops
/// when `emit` returns false.
fn decode<'a>(
    line: &'a str,
    strict: bool,
    emit: &mut dyn FnMut(&'a str, &'a str, bool) -> bool,
) -> Result<(), String> {
    let b = line.as_bytes();
    let mut i = 0;
    let n = b.len();
    let mut first_err = None;
    while i < n {
        while i < n && b[i] <= b' ' {
            i += 1;
        }
        if i >= n {
            break;
        }
        let ks = i;
        while i < n && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        if i < n && b[i] == b'"' {
            // a quote inside a key: skip this token
            let e = format!("logfmt syntax error at pos {}: unexpected '\"'", i + 1);
            if strict {
                return Err(e);
            }
            first_err.get_or_insert(e);
            while i < n && b[i] > b' ' {
                i += 1;
            }
            continue;
        }
        let key = &line[ks..i];
        if key.is_empty() {
            let e = format!("logfmt syntax error at pos {}: unexpected '='", i + 1);
            if strict {
                return Err(e);
            }
            first_err.get_or_insert(e);
            while i < n && b[i] > b' ' {
                i += 1;
            }
            continue;
        }
        if i >= n || b[i] != b'=' {
            if !emit(key, "", false) {
                return Ok(());
            }
            continue;
        }
        i += 1;
        if i < n && b[i] == b'"' {
            i += 1;
            let vs = i;
            let mut escaped = false;
            let mut closed = false;
            while i < n {
                if b[i] == b'\\' {
                    escaped = true;
                    i += 2;
                    continue;
                }
                if b[i] == b'"' {
                    closed = true;
                    break;
                }
                i += 1;
            }
            if !closed {
                let e = format!(
                    "logfmt syntax error at pos {}: unterminated quoted value",
                    n + 1
                );
                if strict {
                    return Err(e);
                }
                first_err.get_or_insert(e);
                break;
            }
            let raw = &line[vs..i.min(n)];
            i += 1;
            if !emit(key, raw, escaped) {
                return Ok(());
            }
        } else {
            let vs = i;
            while i < n && b[i] > b' ' {
                if b[i] == b'"' || b[i] == b'=' {
                    let e = format!(
                        "logfmt syntax error at pos {}: unexpected '{}'",
                        i + 1,
                        b[i] as char
                    );
                    if strict {
                        return Err(e);
                    }
                    first_err.get_or_insert(e);
                }
                i += 1;
            }
            if !emit(key, &line[vs..i], false) {
                return Ok(());
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

/// The regexp stage (named captures become labels).
pub struct RegexpParser {
    re: regex::Regex,
    names: Vec<Option<String>>,
}

impl RegexpParser {
    /// Compiles the regex.
    ///
    /// # Errors
    /// Loki's messages (no named capture, duplicate name, bad syntax).
    pub fn new(src: &str) -> Result<Self, String> {
        let mut seen: Vec<String> = Vec::new();
        for start in ["(?P<", "(?<"] {
            let mut rest = src;
            while let Some(p) = rest.find(start) {
                let after = &rest[p + start.len()..];
                if let Some(e) = after.find('>') {
                    let n = after[..e].to_owned();
                    if seen.contains(&n) {
                        return Err(format!("duplicate extracted label name: {n}"));
                    }
                    seen.push(n);
                }
                rest = after;
            }
        }
        let re = crate::labels::plain_regex(src).map_err(|e| crate::parse::regex_err(&e))?;
        let names: Vec<Option<String>> = re.capture_names().map(|n| n.map(str::to_owned)).collect();
        if names.iter().all(Option::is_none) {
            return Err("at least one named capture must be supplied".into());
        }
        Ok(Self { re, names })
    }

    /// Extracts the named captures.
    pub fn process(&self, line: &str, lb: &mut LabelsBuilder) {
        let Some(c) = self.re.captures(line) else {
            return;
        };
        for (i, n) in self.names.iter().enumerate() {
            if let (Some(n), Some(m)) = (n, c.get(i)) {
                lb.set_parsed(n, m.as_str());
            }
        }
    }
}
