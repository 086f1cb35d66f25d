//! `%{collection.key}` macro strings, parsed once at load and expanded per transaction.

/// One piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacroPart {
    Literal(Vec<u8>),
    /// `%{NAME}` or `%{NAME.key}`: NAME upper-cased, key as written.
    Var {
        name: String,
        key: Option<String>,
    },
}

/// A string with `%{...}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroString {
    pub parts: Vec<MacroPart>,
}

/// What a macro looks its variables up in.
pub trait MacroResolver {
    fn resolve(&self, name: &str, key: Option<&str>) -> Option<Vec<u8>>;
}

impl MacroString {
    pub fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find("%{") {
            let after = &rest[pos + 2..];
            let Some(end) = after.find('}') else {
                break;
            };
            lit.push_str(&rest[..pos]);
            if !lit.is_empty() {
                parts.push(MacroPart::Literal(std::mem::take(&mut lit).into_bytes()));
            }
            let inner = after[..end].trim();
            let (name, key) = match inner.split_once(['.', ':']) {
                Some((n, k)) => (n, Some(k.to_owned())),
                None => (inner, None),
            };
            parts.push(MacroPart::Var {
                name: name.to_ascii_uppercase(),
                key,
            });
            rest = &after[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(MacroPart::Literal(lit.into_bytes()));
        }
        Self { parts }
    }

    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, MacroPart::Literal(_)))
    }

    /// Expands; unknown variables expand to nothing (as in ModSecurity v3).
    pub fn expand(&self, r: &dyn MacroResolver) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                MacroPart::Literal(l) => out.extend_from_slice(l),
                MacroPart::Var { name, key } => {
                    if let Some(v) = r.resolve(name, key.as_deref()) {
                        out.extend_from_slice(&v);
                    }
                }
            }
        }
        out
    }

    pub fn expand_string(&self, r: &dyn MacroResolver) -> String {
        String::from_utf8_lossy(&self.expand(r)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R;
    impl MacroResolver for R {
        fn resolve(&self, name: &str, key: Option<&str>) -> Option<Vec<u8>> {
            match (name, key) {
                ("TX", Some("a")) => Some(b"1".to_vec()),
                ("MATCHED_VAR", None) => Some(b"mv".to_vec()),
                _ => None,
            }
        }
    }

    #[test]
    fn parses_and_expands() {
        let m = MacroString::parse("x %{tx.a}-%{MATCHED_VAR}%{nope.x} %{");
        assert_eq!(m.expand(&R), b"x 1-mv %{");
        assert!(MacroString::parse("plain").is_literal());
    }
}
