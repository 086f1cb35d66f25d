//! Loki's `pattern` parser and the `|>` / `!>` line filter: literals and `<name>` / `<_>` captures.

use super::LabelsBuilder;

#[derive(Debug, Clone)]
enum Node {
    Lit(String),
    Cap(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    nodes: Vec<Node>,
}

fn parse_nodes(s: &str) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<')
            && let Some(end) = after.find('>')
        {
            {
                let name = &after[..end];
                let valid = !name.is_empty()
                    && (name == "_"
                        || (name
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
                if valid {
                    if !lit.is_empty() {
                        nodes.push(Node::Lit(std::mem::take(&mut lit)));
                    }
                    if matches!(nodes.last(), Some(Node::Cap(_))) {
                        return Err("consecutive capture".into());
                    }
                    nodes.push(Node::Cap(if name == "_" {
                        None
                    } else {
                        Some(name.to_owned())
                    }));
                    rest = &after[end + 1..];
                    continue;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        nodes.push(Node::Lit(lit));
    }
    Ok(nodes)
}

impl Pattern {
    /// The parser form (needs at least one named capture, names unique).
    ///
    /// # Errors
    /// Loki's messages.
    pub fn new(s: &str) -> Result<Self, String> {
        let nodes = parse_nodes(s)?;
        let names: Vec<&String> = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Cap(Some(n)) => Some(n),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err("at least one capture is required".into());
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(format!("duplicate capture name ({n})"));
            }
        }
        Ok(Self { nodes })
    }

    /// The line-filter form (no named captures allowed).
    ///
    /// # Errors
    /// Loki's messages.
    pub fn new_filter(s: &str) -> Result<Self, String> {
        let nodes = parse_nodes(s)?;
        if nodes.iter().any(|n| matches!(n, Node::Cap(Some(_)))) {
            return Err("named captures are not allowed in a pattern line filter".into());
        }
        Ok(Self { nodes })
    }

    /// Matches the line; returns the captures (possibly partial) and whether the whole pattern matched.
    fn run<'a>(&self, line: &'a str, mut on_cap: impl FnMut(&str, &'a str)) -> bool {
        let mut rest = line;
        let mut i = 0;
        while i < self.nodes.len() {
            match &self.nodes[i] {
                Node::Lit(l) => {
                    let Some(r) = rest.strip_prefix(l.as_str()) else {
                        return false;
                    };
                    rest = r;
                }
                Node::Cap(name) => {
                    let val = match self.nodes.get(i + 1) {
                        Some(Node::Lit(next)) => {
                            let Some(pos) = rest.find(next.as_str()) else {
                                // A short line: this capture takes the rest, the later ones stay unset.
                                if let Some(n) = name {
                                    on_cap(n, rest);
                                }
                                return false;
                            };
                            let v = &rest[..pos];
                            rest = &rest[pos..];
                            v
                        }
                        _ => {
                            let v = rest;
                            rest = "";
                            v
                        }
                    };
                    if let Some(n) = name {
                        on_cap(n, val);
                    }
                }
            }
            i += 1;
        }
        rest.is_empty() || matches!(self.nodes.last(), Some(Node::Cap(_)))
    }

    /// The `|>` filter: does the whole line match?
    #[must_use]
    pub fn matches(&self, line: &str) -> bool {
        self.run(line, |_, _| {})
    }

    /// The parser: sets the captured labels.
    pub fn extract(&self, line: &str, lb: &mut LabelsBuilder) {
        let mut caps: Vec<(String, String)> = Vec::new();
        self.run(line, |n, v| caps.push((n.to_owned(), v.to_owned())));
        for (n, v) in caps {
            lb.set_parsed(&n, &v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_match() {
        let p = Pattern::new_filter("<_> /api <_>").unwrap();
        assert!(p.matches("GET /api 200"));
        assert!(!Pattern::new_filter("/api").unwrap().matches("GET /api 200"));
        assert!(Pattern::new("no captures").is_err());
        assert!(Pattern::new_filter("<verb> x").is_err());
    }
}
