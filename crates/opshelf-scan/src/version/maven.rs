//! Maven's `ComparableVersion`.

use super::*;

// ---------------------------------------------------------------------------------------------
// Maven

#[derive(Debug, Clone, PartialEq)]
struct MavenToken {
    prefix: char, // '\0' for the first token, '.' or '-'
    value: String,
    is_null: bool,
}

impl MavenToken {
    fn qualifier_order(&self) -> u8 {
        let num = is_number(&self.value);
        match (num, self.prefix) {
            (true, '-') => 2,
            (true, '.') => 3,
            (false, '-') => 1,
            _ => 0,
        }
    }

    fn should_trim(&self) -> bool {
        matches!(self.value.as_str(), "0" | "" | "final" | "ga")
    }

    fn equal(&self, other: &MavenToken) -> bool {
        if self.prefix != other.prefix {
            return false;
        }
        if is_number(&self.value) && is_number(&other.value) {
            return cmp_numbers(&self.value, &other.value) == Ordering::Equal;
        }
        self.value == other.value
    }

    fn less_than(&self, other: &MavenToken) -> bool {
        const KEYWORDS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
        if self.prefix == other.prefix {
            let vn = is_number(&self.value);
            let wn = is_number(&other.value);
            if vn && wn {
                return cmp_numbers(&self.value, &other.value) == Ordering::Less;
            }
            if vn && !self.is_null {
                return false;
            }
            if wn && !other.is_null {
                return true;
            }
            let find = |k: &str| {
                KEYWORDS
                    .iter()
                    .position(|x| *x == k)
                    .unwrap_or(KEYWORDS.len())
            };
            let l = find(&self.value);
            let r = find(&other.value);
            if l == KEYWORDS.len() && r == KEYWORDS.len() {
                return self.value < other.value;
            }
            return l < r;
        }
        self.qualifier_order() < other.qualifier_order()
    }

    fn null_for(other: &MavenToken) -> MavenToken {
        if other.prefix == '-' {
            return MavenToken {
                prefix: '-',
                value: String::new(),
                is_null: true,
            };
        }
        let value = if other.value == "sp" { "" } else { "0" };
        MavenToken {
            prefix: '.',
            value: value.to_string(),
            is_null: true,
        }
    }
}

fn parse_maven(s: &str) -> Vec<MavenToken> {
    let mut tokens: Vec<MavenToken> = Vec::new();
    let whole_number = if is_number(s) {
        Some(normalize_number(s))
    } else {
        None
    };
    // split keeping the delimiters
    let mut raw: Vec<(char, &str)> = Vec::new();
    let mut prefix = '\0';
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '.' || c == '-' {
            raw.push((prefix, &s[start..i]));
            prefix = c;
            start = i + 1;
        }
    }
    raw.push((prefix, &s[start..]));

    for (prefix, token) in raw {
        // split at digit <-> non-digit transitions
        let mut pieces: Vec<&str> = Vec::new();
        let bytes = token.as_bytes();
        let mut begin = 0;
        for i in 1..bytes.len() {
            if bytes[i - 1].is_ascii_digit() != bytes[i].is_ascii_digit() {
                pieces.push(&token[begin..i]);
                begin = i;
            }
        }
        pieces.push(&token[begin..]);
        let n = pieces.len();
        for (j, piece) in pieces.into_iter().enumerate() {
            let pfx = if j > 0 { '-' } else { prefix };
            let mut current = piece.to_lowercase();
            if current.is_empty() {
                current = "0".to_string();
            }
            if current == "cr" {
                current = "rc".to_string();
            }
            if matches!(current.as_str(), "ga" | "final" | "release") {
                current.clear();
            }
            if j + 1 != n {
                match current.as_str() {
                    "a" => current = "alpha".to_string(),
                    "b" => current = "beta".to_string(),
                    "m" => current = "milestone".to_string(),
                    _ => {}
                }
            }
            if let Some(w) = &whole_number {
                current.clone_from(w);
            }
            tokens.push(MavenToken {
                prefix: pfx,
                value: current,
                is_null: false,
            });
        }
    }

    // trim trailing "null" values, repeated at each remaining hyphen from the end
    let mut i = tokens.len() as isize - 1;
    while i > 0 {
        let idx = i as usize;
        if tokens[idx].should_trim() {
            tokens.remove(idx);
            i -= 1;
            continue;
        }
        while i >= 0 && tokens[i as usize].prefix != '-' {
            i -= 1;
        }
        i -= 1;
    }
    tokens
}

/// Maven `ComparableVersion` ordering.
pub fn maven_compare(a: &str, b: &str) -> Ordering {
    let v = parse_maven(a);
    let w = parse_maven(b);
    if v.len() == w.len() && v.iter().zip(w.iter()).all(|(x, y)| x.equal(y)) {
        return Ordering::Equal;
    }
    let n = v.len().max(w.len());
    for i in 0..n {
        let left = match v.get(i) {
            Some(t) => t.clone(),
            None => MavenToken::null_for(&w[i]),
        };
        let right = match w.get(i) {
            Some(t) => t.clone(),
            None => MavenToken::null_for(&v[i]),
        };
        if left.equal(&right) {
            continue;
        }
        return if left.less_than(&right) {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    Ordering::Greater
}
