//! Loki's label-set string, `{app="shop", env="test"}` (protobuf and legacy JSON pushes carry
//! labels this way). Values are Go-quoted strings; winston-loki does not escape them, which
//! parses the same unless a value holds a `"`.

use crate::logql_adapter::Labels;

/// Prometheus' label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Parses `{name="value", ...}`; the error is Loki's `Error parsing labels '<s>' with error: ...`.
///
/// # Errors
/// Malformed text, invalid names, duplicate names.
pub fn parse_labels(s: &str) -> Result<Labels, String> {
    parse(s).map_err(|e| format!("Error parsing labels '{s}' with error: {e}"))
}

fn parse(s: &str) -> Result<Labels, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while b.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return Err(
            "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER, expecting {"
                .to_owned(),
        );
    }
    i += 1;
    let mut pairs: Vec<(String, String)> = Vec::new();
    loop {
        skip_ws(&mut i);
        match b.get(i) {
            Some(b'}') => {
                i += 1;
                break;
            }
            None => return Err(at(s, i, "unexpected end of input, expecting }")),
            _ => {}
        }
        if !pairs.is_empty() {
            if b.get(i) != Some(&b',') {
                return Err(at(
                    s,
                    i,
                    "syntax error: unexpected character, expecting , or }",
                ));
            }
            i += 1;
            skip_ws(&mut i);
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|&c| c == b'_' || c.is_ascii_alphanumeric())
        {
            i += 1;
        }
        let name = &s[start..i];
        if !valid_label_name(name) {
            return Err(at(
                s,
                start,
                "syntax error: unexpected character, expecting IDENTIFIER",
            ));
        }
        skip_ws(&mut i);
        if b.get(i) != Some(&b'=') {
            return Err(at(s, i, "syntax error: unexpected character, expecting ="));
        }
        i += 1;
        skip_ws(&mut i);
        if b.get(i) != Some(&b'"') {
            return Err(at(
                s,
                i,
                "syntax error: unexpected character, expecting STRING",
            ));
        }
        let vstart = i;
        i += 1;
        let mut escaped = false;
        loop {
            match b.get(i) {
                None => return Err(at(s, vstart, "syntax error: unterminated string")),
                Some(b'\\') if !escaped => escaped = true,
                Some(b'"') if !escaped => break,
                Some(_) => escaped = false,
            }
            i += 1;
        }
        i += 1;
        let lit = &s[vstart..i];
        let value: String = serde_json::from_str(lit).unwrap_or_else(|_| {
            // not JSON-compatible escapes: take the bytes between the quotes as they are
            lit[1..lit.len() - 1].to_owned()
        });
        if pairs.iter().any(|(k, _)| k == name) {
            return Err(format!("duplicate label name: {name}"));
        }
        pairs.push((name.to_owned(), value));
    }
    skip_ws(&mut i);
    if i != b.len() {
        return Err(at(s, i, "syntax error: unexpected input after }"));
    }
    // Prometheus drops labels with empty values
    pairs.retain(|(_, v)| !v.is_empty());
    Ok(Labels::new(pairs))
}

fn at(s: &str, i: usize, msg: &str) -> String {
    let col = s.get(..i).map_or(i, |p| p.chars().count()) + 1;
    format!("parse error at line 1, col {col}: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_strings_parse_or_fail_in_lokis_words() {
        let l = parse_labels(r#"{level="info",app="shop", env="te\"st"}"#).unwrap();
        assert_eq!(l.get("env"), Some("te\"st"));
        assert_eq!(l.iter().next(), Some(("app", "shop")));
        assert_eq!(l.to_string(), r#"{app="shop", env="te\"st", level="info"}"#);
        assert!(parse_labels("{}").unwrap().is_empty());
        for bad in [
            "",
            "app=\"x\"",
            "{app=\"x\"",
            "{1a=\"x\"}",
            "{a=x}",
            "{a=\"x\"} y",
            "{a=\"1\",a=\"2\"}",
            "{a=\"\\",
        ] {
            let e = parse_labels(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("Error parsing labels '{bad}' with error: ")),
                "{e}"
            );
        }
        assert!(valid_label_name("_a1") && !valid_label_name("1a") && !valid_label_name("a-b"));
    }
}
