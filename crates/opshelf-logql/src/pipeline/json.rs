//! The `json` parser (flattening, or extraction expressions) and `unpack`.

use super::LabelsBuilder;
use crate::ast::Extraction;

const MAX_DEPTH: usize = 64;

/// A parsed JSON value (numbers keep their text).
#[derive(Debug)]
enum Value<'a> {
    Str(String),
    Num(&'a str),
    Bool(bool),
    Null,
    Arr(Vec<Value<'a>>, &'a str),
    Obj(Vec<(String, Value<'a>)>, &'a str),
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.i))
    }
    fn value(&mut self, depth: usize) -> Result<Value<'a>, String> {
        if depth > MAX_DEPTH {
            return self.err("too deeply nested");
        }
        self.ws();
        let start = self.i;
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Obj(v, &self.s[start..self.i]));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return self.err("expected key");
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return self.err("expected ':'");
                    }
                    self.i += 1;
                    let val = self.value(depth + 1)?;
                    v.push((k, val));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Obj(v, &self.s[start..self.i]));
                        }
                        _ => {
                            return self
                                .err("Value looks like object, but can't find closing '}' symbol");
                        }
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Arr(v, &self.s[start..self.i]));
                }
                loop {
                    v.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Arr(v, &self.s[start..self.i]));
                        }
                        _ => return self.err("Value is array, but can't find closing ']' symbol"),
                    }
                }
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with("true") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with("false") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with("null") => {
                self.i += 4;
                Ok(Value::Null)
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                Ok(Value::Num(&self.s[start..self.i]))
            }
            _ => self.err("Unknown value type"),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return self.err("Value looks like string, but can't find closing '\"' symbol");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let Some(&e) = self.b.get(self.i + 1) else {
                        return self.err("bad escape");
                    };
                    self.i += 2;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\x08'),
                        b'f' => out.push('\x0c'),
                        b'/' => out.push('/'),
                        b'\\' => out.push('\\'),
                        b'"' => out.push('"'),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("bad escape")?;
                            let mut cp = u32::from_str_radix(hex, 16).map_err(|_| "bad escape")?;
                            self.i += 4;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s[self.i..].starts_with("\\u")
                                && let Some(lo) = self.s.get(self.i + 2..self.i + 6)
                                && let Ok(lo) = u32::from_str_radix(lo, 16)
                                && (0xDC00..0xE000).contains(&lo)
                            {
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                self.i += 6;
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => return self.err("bad escape"),
                    }
                }
                _ => {
                    let rest = &self.s[self.i..];
                    let n = rest.find(['"', '\\']).unwrap_or(rest.len());
                    out.push_str(&rest[..n]);
                    self.i += n;
                }
            }
        }
    }
}

fn parse(line: &str) -> Result<Value<'_>, String> {
    let mut r = Reader {
        s: line,
        b: line.as_bytes(),
        i: 0,
    };
    let v = r.value(0)?;
    Ok(v)
}

/// Label-name sanitizing shared by json and logfmt: non-word characters become `_`, and a name that does
/// not start with a letter or `_` gets a leading `_`.
#[must_use]
pub fn sanitize_key(k: &str) -> std::borrow::Cow<'_, str> {
    let valid = k
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if valid {
        return std::borrow::Cow::Borrowed(k);
    }
    let mut out = String::with_capacity(k.len() + 1);
    for c in k.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    if out
        .chars()
        .next()
        .is_some_and(|c| !(c.is_ascii_alphabetic() || c == '_'))
    {
        out.insert(0, '_');
    }
    std::borrow::Cow::Owned(out)
}

/// A json extraction path: `a.b`, `a[0]`, `["a.b"]`.
#[derive(Debug, Clone)]
pub struct JsonPath(Vec<PathPart>);

#[derive(Debug, Clone)]
enum PathPart {
    Key(String),
    Index(usize),
}

impl JsonPath {
    /// Parses an expression.
    ///
    /// # Errors
    /// `cannot parse expression [...]`.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let bad = || format!("cannot parse expression [{expr}]: syntax error");
        let mut parts = Vec::new();
        let b = expr.as_bytes();
        let mut i = 0;
        let mut expect_key = true;
        while i < b.len() {
            match b[i] {
                b'.' => {
                    if expect_key {
                        return Err(bad());
                    }
                    i += 1;
                    expect_key = true;
                }
                b'[' => {
                    let end = expr[i..].find(']').ok_or_else(bad)? + i;
                    let inner = expr[i + 1..end].trim();
                    if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                        parts.push(PathPart::Key(q.to_owned()));
                    } else {
                        parts.push(PathPart::Index(inner.parse().map_err(|_| bad())?));
                    }
                    i = end + 1;
                    expect_key = false;
                }
                _ => {
                    let end = expr[i..].find(['.', '[']).map_or(b.len(), |e| e + i);
                    let key = &expr[i..end];
                    if !key
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(bad());
                    }
                    parts.push(PathPart::Key(key.to_owned()));
                    i = end;
                    expect_key = false;
                }
            }
        }
        if parts.is_empty() || expect_key {
            return Err(bad());
        }
        Ok(Self(parts))
    }

    fn get<'v>(&self, mut v: &'v Value<'v>) -> Option<&'v Value<'v>> {
        for p in &self.0 {
            v = match (p, v) {
                (PathPart::Key(k), Value::Obj(o, _)) => &o.iter().find(|(kk, _)| kk == k)?.1,
                (PathPart::Index(i), Value::Arr(a, _)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

/// The json stage.
pub struct JsonParser {
    params: Vec<(String, JsonPath)>,
}

impl JsonParser {
    /// Compiles the extraction parameters (empty: flatten everything).
    ///
    /// # Errors
    /// When a path does not parse.
    pub fn new(params: &[Extraction]) -> Result<Self, String> {
        let mut v = Vec::new();
        for p in params {
            let path = JsonPath::parse(p.expr.as_deref().unwrap_or(&p.name))?;
            v.push((p.name.clone(), path));
        }
        Ok(Self { params: v })
    }

    /// Parses the line into labels.
    pub fn process(&self, line: &str, lb: &mut LabelsBuilder) {
        let v = match parse(line) {
            Ok(v @ Value::Obj(..)) => v,
            Ok(_) => {
                lb.set_err("JSONParserErr", || {
                    "Value looks like object, but can't find closing '}' symbol".into()
                });
                return;
            }
            Err(e) => {
                lb.set_err("JSONParserErr", || e);
                return;
            }
        };
        if self.params.is_empty() {
            let mut prefix = String::new();
            flatten(&v, &mut prefix, lb);
            return;
        }
        for (name, path) in &self.params {
            let val = match path.get(&v) {
                Some(Value::Str(s)) => s.clone(),
                Some(Value::Num(n)) => (*n).to_owned(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Arr(_, raw) | Value::Obj(_, raw)) => (*raw).to_owned(),
                Some(Value::Null) | None => String::new(),
            };
            lb.set_parsed(name, &val);
        }
    }
}

fn flatten(v: &Value<'_>, prefix: &mut String, lb: &mut LabelsBuilder) {
    let Value::Obj(o, _) = v else { return };
    for (k, val) in o {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('_');
        }
        prefix.push_str(k);
        match val {
            Value::Obj(..) => flatten(val, prefix, lb),
            Value::Str(s) => lb.set_parsed(&sanitize_key(prefix), s),
            Value::Num(n) => lb.set_parsed(&sanitize_key(prefix), n),
            Value::Bool(b) => {
                lb.set_parsed(&sanitize_key(prefix), if *b { "true" } else { "false" });
            }
            Value::Null | Value::Arr(..) => {}
        }
        prefix.truncate(len);
    }
}

/// `unpack`: promotes string fields; `_entry` replaces the line (returned).
pub fn unpack(line: &str, lb: &mut LabelsBuilder) -> Option<String> {
    let Ok(Value::Obj(o, _)) = parse(line) else {
        lb.set_err("JSONParserErr", || "expecting json object".into());
        return None;
    };
    let mut entry = None;
    for (k, v) in o {
        if let Value::Str(s) = v {
            if k == "_entry" {
                entry = Some(s);
            } else {
                lb.set_parsed(&k, &s);
            }
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(JsonPath::parse("user.id").is_ok());
        assert!(JsonPath::parse("tags[0]").is_ok());
        assert!(JsonPath::parse("user[").is_err());
        assert_eq!(sanitize_key("a.b"), "a_b");
        assert_eq!(sanitize_key("9x"), "_9x");
    }
}
