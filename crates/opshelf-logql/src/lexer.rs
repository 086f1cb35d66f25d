//! The LogQL lexer: Loki's token set, with line/column positions for its error messages.

use crate::parse::ParseError;

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name that is not a keyword here.
    Ident(String),
    /// A quoted string, unescaped.
    Str(String),
    /// A number as written.
    Number(String),
    /// A duration literal (label filters, offset), as written.
    Duration(String),
    /// A bytes literal, as written.
    Bytes(String),
    /// `[...]` range, the text inside.
    Range(String),
    /// `--strict` etc.
    Flag(String),
    /// A keyword or function name.
    Kw(&'static str),
    /// Punctuation / operators.
    P(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// The name goyacc prints for the token.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Ident(_) => "IDENTIFIER",
            Self::Str(_) => "STRING",
            Self::Number(_) => "NUMBER",
            Self::Duration(_) => "DURATION",
            Self::Bytes(_) => "BYTES",
            Self::Range(_) => "RANGE",
            Self::Flag(_) => "PARSER_FLAG",
            Self::Kw(k) | Self::P(k) => k,
            Self::Eof => "$end",
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone)]
pub struct Spanned {
    /// The token.
    pub tok: Tok,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub col: usize,
}

const FUNCTIONS: &[&str] = &[
    "rate",
    "rate_counter",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "absent_over_time",
    "sum",
    "avg",
    "count",
    "max",
    "min",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "approx_topk",
    "vector",
    "label_replace",
    "bytes",
    "duration",
    "duration_seconds",
    "ip",
];

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "bool",
    "json",
    "regexp",
    "logfmt",
    "unpack",
    "pattern",
    "line_format",
    "label_format",
    "unwrap",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "decolorize",
    "drop",
    "keep",
    "or",
    "and",
    "unless",
];

const PUNCT: &[&str] = &[
    "!=", "=~", "!~", "|=", "|~", "|>", "!>", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",",
    ".", "=", "|", ">", "<", "+", "-", "*", "/", "%", "^",
];

/// Splits `src` into tokens; the last one is [`Tok::Eof`].
///
/// # Errors
/// Loki's lexer errors (unterminated literal, bad range duration, ...).
pub fn lex(src: &str) -> Result<Vec<Spanned>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut col = 1;
    macro_rules! adv {
        () => {{
            if chars[i] == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
            i += 1;
        }};
    }
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            adv!();
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                adv!();
            }
            continue;
        }
        let (tl, tc) = (line, col);
        let push = |out: &mut Vec<Spanned>, tok: Tok| {
            out.push(Spanned {
                tok,
                line: tl,
                col: tc,
            });
        };
        if c == '"' || c == '`' {
            let start = i;
            adv!();
            let mut raw = String::new();
            let mut closed = false;
            while i < chars.len() {
                let d = chars[i];
                if d == c {
                    adv!();
                    closed = true;
                    break;
                }
                if d == '\\' && c == '"' {
                    raw.push(d);
                    adv!();
                    if i < chars.len() {
                        raw.push(chars[i]);
                        adv!();
                    }
                    continue;
                }
                if d == '\n' && c == '"' {
                    break;
                }
                raw.push(d);
                adv!();
            }
            if !closed {
                return Err(ParseError::new("literal not terminated", tl, tc));
            }
            let _ = start;
            let s = if c == '`' {
                raw
            } else {
                unquote(&raw).map_err(|m| ParseError::new(m, tl, tc))?
            };
            push(&mut out, Tok::Str(s));
            continue;
        }
        if c == '[' {
            adv!();
            let mut d = String::new();
            let mut closed = false;
            while i < chars.len() {
                if chars[i] == ']' {
                    adv!();
                    closed = true;
                    break;
                }
                d.push(chars[i]);
                adv!();
            }
            if !closed {
                return Err(ParseError::new("missing closing ']' in duration", 0, tc));
            }
            if let Err(e) = crate::duration::parse_duration(&d) {
                return Err(ParseError::new(e, 0, tc));
            }
            // Loki reports positions of range tokens without a line number.
            out.push(Spanned {
                tok: Tok::Range(d),
                line: 0,
                col: tc,
            });
            continue;
        }
        if c == '-'
            && chars.get(i + 1) == Some(&'-')
            && chars.get(i + 2).is_some_and(|c| c.is_alphabetic())
        {
            let mut f = String::new();
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '-' || chars[i] == '_')
            {
                f.push(chars[i]);
                adv!();
            }
            push(&mut out, Tok::Flag(f));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let mut num = String::new();
            let hex = c == '0' && matches!(chars.get(i + 1), Some('x' | 'X'));
            let other_base = c == '0' && matches!(chars.get(i + 1), Some('b' | 'B' | 'o' | 'O'));
            if hex || other_base {
                num.push(chars[i]);
                adv!();
                num.push(chars[i]);
                adv!();
            }
            while i < chars.len() {
                let d = chars[i];
                let ok = if hex {
                    d.is_ascii_hexdigit()
                        || d == '.'
                        || d == '_'
                        || ((d == 'p' || d == 'P') && !num.contains(['p', 'P']))
                        || ((d == '+' || d == '-') && num.ends_with(['p', 'P']))
                } else if other_base {
                    d.is_ascii_digit() || d == '_'
                } else {
                    d.is_ascii_digit()
                        || d == '_'
                        || (d == '.' && !num.contains(['.', 'e', 'E']))
                        || ((d == 'e' || d == 'E')
                            && !num.contains(['e', 'E'])
                            && chars
                                .get(i + 1)
                                .is_some_and(|n| n.is_ascii_digit() || *n == '+' || *n == '-'))
                        || ((d == '+' || d == '-') && num.ends_with(['e', 'E']))
                };
                if !ok {
                    break;
                }
                num.push(d);
                adv!();
            }
            // A unit directly after the number: a duration or bytes literal.
            if !hex
                && !other_base
                && i < chars.len()
                && (chars[i].is_alphabetic() || chars[i] == 'µ')
            {
                let mut j = i;
                let mut text = num.clone();
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || chars[j] == '.' || chars[j] == 'µ')
                {
                    text.push(chars[j]);
                    j += 1;
                }
                let tok = if crate::duration::parse_duration(&text).is_ok() {
                    Some(Tok::Duration(text))
                } else if crate::duration::parse_bytes(&text).is_ok() {
                    Some(Tok::Bytes(text))
                } else {
                    None
                };
                if let Some(tok) = tok {
                    while i < j {
                        adv!();
                    }
                    push(&mut out, tok);
                    continue;
                }
            }
            push(&mut out, Tok::Number(num));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let mut id = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                id.push(chars[i]);
                adv!();
            }
            let tok = if let Some(f) = FUNCTIONS.iter().find(|f| **f == id) {
                if is_function(&chars, i) {
                    Tok::Kw(f)
                } else {
                    Tok::Ident(id)
                }
            } else if let Some(k) = KEYWORDS.iter().find(|k| **k == id) {
                Tok::Kw(k)
            } else {
                Tok::Ident(id)
            };
            push(&mut out, tok);
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
            for _ in 0..p.chars().count() {
                adv!();
            }
            push(&mut out, Tok::P(p));
            continue;
        }
        return Err(ParseError::new(
            format!("syntax error: unexpected {c}"),
            tl,
            tc,
        ));
    }
    out.push(Spanned {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}

/// Is the identifier ending at `i` used as a function (`(` or `by (`/`without (` next)?
fn is_function(chars: &[char], mut i: usize) -> bool {
    let skip = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip(&mut i);
    if chars.get(i) == Some(&'(') {
        return true;
    }
    let mut word = String::new();
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
        word.push(chars[i]);
        i += 1;
    }
    if word == "by" || word == "without" {
        skip(&mut i);
        return chars.get(i) == Some(&'(');
    }
    false
}

/// Go's `strconv.Unquote` for the inside of a double-quoted string.
fn unquote(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            return Err("invalid syntax".into());
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v = 0u32;
                for _ in 0..n {
                    let d = it
                        .next()
                        .and_then(|d| d.to_digit(16))
                        .ok_or("invalid syntax")?;
                    v = v * 16 + d;
                }
                if e == 'x' {
                    // A byte; only ASCII bytes survive in a Rust string.
                    out.push(char::from_u32(v).ok_or("invalid syntax")?);
                } else {
                    out.push(char::from_u32(v).ok_or("invalid syntax")?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = it
                        .next()
                        .and_then(|d| d.to_digit(8))
                        .ok_or("invalid syntax")?;
                    v = v * 8 + d;
                }
                out.push(char::from_u32(v).ok_or("invalid syntax")?);
            }
            _ => return Err("invalid syntax".into()),
        }
    }
    Ok(out)
}
