//! SecLang lexer: turns rule-file text into directives (name + arguments) with their location.
//!
//! Handles `#` comments, `\` line continuations, double- and single-quoted arguments with
//! `\"` escapes, and bare words. It knows nothing about what directives mean; `ruleset.rs` does.
//! Also the small grammars inside arguments: action lists, variable lists and operators.

use std::fmt;

/// Where a directive (or a token inside it) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A rule-file error: file, line and the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message} (at `{token}`)")]
pub struct ParseError {
    pub location: Location,
    pub token: String,
    pub message: String,
}

impl ParseError {
    pub fn new(location: &Location, token: impl Into<String>, message: impl Into<String>) -> Self {
        let mut token: String = token.into();
        if token.len() > 120 {
            let mut cut = 120;
            while !token.is_char_boundary(cut) {
                cut -= 1;
            }
            token.truncate(cut);
            token.push('…');
        }
        Self {
            location: location.clone(),
            token,
            message: message.into(),
        }
    }
}

/// One directive line (after joining continuations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub location: Location,
    pub name: String,
    pub args: Vec<String>,
}

/// Splits a rule file into directives.
pub fn lex(file: &str, text: &str) -> Result<Vec<Directive>, ParseError> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0usize;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if logical.is_empty() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            start_line = line_no;
        }
        if let Some(body) = line.strip_suffix('\\') {
            logical.push_str(body);
            continue;
        }
        logical.push_str(line);
        let location = Location {
            file: file.to_owned(),
            line: start_line,
        };
        if let Some(d) = split_directive(&location, &logical)? {
            out.push(d);
        }
        logical.clear();
    }
    if !logical.is_empty() {
        let location = Location {
            file: file.to_owned(),
            line: start_line,
        };
        if let Some(d) = split_directive(&location, &logical)? {
            out.push(d);
        }
    }
    Ok(out)
}

fn split_directive(location: &Location, line: &str) -> Result<Option<Directive>, ParseError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            let quote = c;
            let mut tok = String::new();
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                let ch = chars[i];
                if ch == '\\' && i + 1 < chars.len() && chars[i + 1] == quote {
                    tok.push(quote);
                    i += 2;
                    continue;
                }
                if ch == quote {
                    closed = true;
                    i += 1;
                    break;
                }
                tok.push(ch);
                i += 1;
            }
            if !closed {
                return Err(ParseError::new(
                    location,
                    tok,
                    "unterminated quoted argument",
                ));
            }
            tokens.push(tok);
        } else {
            let mut tok = String::new();
            while i < chars.len() && !chars[i].is_whitespace() {
                tok.push(chars[i]);
                i += 1;
            }
            tokens.push(tok);
        }
    }
    if tokens.is_empty() {
        return Ok(None);
    }
    let name = tokens.remove(0);
    Ok(Some(Directive {
        location: location.clone(),
        name,
        args: tokens,
    }))
}

/// One `name[:value]` action as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAction {
    pub name: String,
    pub value: Option<String>,
}

/// Splits an action list (`id:1,phase:2,msg:'a, b',t:none`) into actions.
pub fn parse_actions(location: &Location, text: &str) -> Result<Vec<RawAction>, ParseError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut name = String::new();
        while i < chars.len() && chars[i] != ':' && chars[i] != ',' {
            name.push(chars[i]);
            i += 1;
        }
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(ParseError::new(location, text, "empty action name"));
        }
        let mut value = None;
        if i < chars.len() && chars[i] == ':' {
            i += 1;
            while i < chars.len() && chars[i] == ' ' {
                i += 1;
            }
            let mut v = String::new();
            if i < chars.len() && chars[i] == '\'' {
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    if chars[i] == '\\' && i + 1 < chars.len() && chars[i + 1] == '\'' {
                        v.push('\'');
                        i += 2;
                        continue;
                    }
                    if chars[i] == '\'' {
                        closed = true;
                        i += 1;
                        break;
                    }
                    v.push(chars[i]);
                    i += 1;
                }
                if !closed {
                    return Err(ParseError::new(
                        location,
                        format!("{name}:'{v}"),
                        "unterminated quoted action value",
                    ));
                }
            } else {
                while i < chars.len() && chars[i] != ',' {
                    v.push(chars[i]);
                    i += 1;
                }
                v = v.trim_end().to_owned();
            }
            value = Some(v);
        }
        out.push(RawAction { name, value });
    }
    Ok(out)
}

/// One element of a rule's target list as written (`!ARGS:foo`, `&TX:x`, `ARGS:/^id/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTarget {
    pub negated: bool,
    pub count: bool,
    pub name: String,
    pub selector: Option<RawSelector>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSelector {
    Key(String),
    Regex(String),
}

/// Splits `A|!B:x|&C|D:/re|x/` into targets.
pub fn parse_targets(location: &Location, text: &str) -> Result<Vec<RawTarget>, ParseError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i] == '|' || chars[i].is_whitespace()) {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut negated = false;
        let mut count = false;
        if chars[i] == '!' {
            negated = true;
            i += 1;
        } else if chars[i] == '&' {
            count = true;
            i += 1;
        }
        let mut name = String::new();
        while i < chars.len() && chars[i] != ':' && chars[i] != '|' && !chars[i].is_whitespace() {
            name.push(chars[i]);
            i += 1;
        }
        if name.is_empty() {
            return Err(ParseError::new(location, text, "empty variable name"));
        }
        let mut selector = None;
        if i < chars.len() && chars[i] == ':' {
            i += 1;
            let mut quoted = false;
            if i < chars.len() && chars[i] == '\'' {
                quoted = true;
                i += 1;
            }
            if i < chars.len() && chars[i] == '/' && !name.eq_ignore_ascii_case("XML") {
                i += 1;
                let mut re = String::new();
                let mut closed = false;
                while i < chars.len() {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        re.push(chars[i]);
                        re.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if chars[i] == '/' {
                        closed = true;
                        i += 1;
                        break;
                    }
                    re.push(chars[i]);
                    i += 1;
                }
                if !closed {
                    return Err(ParseError::new(
                        location,
                        re,
                        "unterminated regular-expression selector",
                    ));
                }
                if quoted && i < chars.len() && chars[i] == '\'' {
                    i += 1;
                }
                selector = Some(RawSelector::Regex(re));
            } else {
                let mut key = String::new();
                while i < chars.len() && chars[i] != '|' && !(quoted && chars[i] == '\'') {
                    key.push(chars[i]);
                    i += 1;
                }
                if quoted && i < chars.len() && chars[i] == '\'' {
                    i += 1;
                }
                selector = Some(RawSelector::Key(key.trim().to_owned()));
            }
        }
        out.push(RawTarget {
            negated,
            count,
            name,
            selector,
        });
    }
    Ok(out)
}

/// An operator as written: `!@rx foo` → (negated, "rx", "foo").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOperator {
    pub negated: bool,
    pub name: String,
    pub arg: String,
}

pub fn parse_operator(text: &str) -> RawOperator {
    let mut s = text;
    let mut negated = false;
    let trimmed = s.trim_start();
    if let Some(rest) = trimmed.strip_prefix('!') {
        negated = true;
        s = rest;
    }
    let trimmed = s.trim_start();
    if let Some(rest) = trimmed.strip_prefix('@') {
        let (name, arg) = match rest.find(|c: char| c.is_whitespace()) {
            Some(pos) => (&rest[..pos], rest[pos..].trim_start()),
            None => (rest, ""),
        };
        RawOperator {
            negated,
            name: name.to_owned(),
            arg: arg.to_owned(),
        }
    } else {
        RawOperator {
            negated,
            name: "rx".to_owned(),
            arg: s.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> Location {
        Location {
            file: "t.conf".into(),
            line: 1,
        }
    }

    #[test]
    fn lexes_continuations_and_quotes() {
        let text = "# comment\nSecRule ARGS \"@rx a\\\"b\" \\\n    \"id:1,\\\n    msg:'x, y'\"\n\nSecMarker END\n";
        let ds = lex("f.conf", text).unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].name, "SecRule");
        assert_eq!(ds[0].args, vec!["ARGS", "@rx a\"b", "id:1,    msg:'x, y'"]);
        assert_eq!(ds[0].location.line, 2);
        assert_eq!(ds[1].args, vec!["END"]);
        assert_eq!(ds[1].location.line, 6);
    }

    #[test]
    fn unterminated_quote_names_line() {
        let err = lex("f.conf", "\n\nSecRule ARGS \"@rx a").unwrap_err();
        assert_eq!(err.location.line, 3);
        assert!(err.to_string().contains("f.conf:3"));
    }

    #[test]
    fn parses_actions() {
        let a = parse_actions(
            &loc(),
            "id:1, phase:2,msg:'a, b \\'c\\'',t:none,ctl:ruleRemoveTargetByTag=x;ARGS:y,block",
        )
        .unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(a[2].value.as_deref(), Some("a, b 'c'"));
        assert_eq!(
            a[4].value.as_deref(),
            Some("ruleRemoveTargetByTag=x;ARGS:y")
        );
        assert_eq!(a[5].value, None);
    }

    #[test]
    fn parses_targets() {
        let t = parse_targets(
            &loc(),
            "ARGS|!REQUEST_COOKIES:/^_ga(?:_\\w+)?$/|&TX:x|XML:/*|REQUEST_HEADERS:'User-Agent'",
        )
        .unwrap();
        assert_eq!(t.len(), 5);
        assert!(t[1].negated);
        assert_eq!(
            t[1].selector,
            Some(RawSelector::Regex("^_ga(?:_\\w+)?$".into()))
        );
        assert!(t[2].count);
        assert_eq!(t[3].selector, Some(RawSelector::Key("/*".into())));
        assert_eq!(t[4].selector, Some(RawSelector::Key("User-Agent".into())));
    }

    #[test]
    fn parses_operators() {
        assert_eq!(
            parse_operator("!@eq 0"),
            RawOperator {
                negated: true,
                name: "eq".into(),
                arg: "0".into()
            }
        );
        assert_eq!(parse_operator("^foo").name, "rx");
        assert_eq!(parse_operator("@unconditionalMatch").arg, "");
    }
}
