//! PEP 440 ordering, as `packaging` does, with its legacy fallback.

use super::*;

// ---------------------------------------------------------------------------------------------
// PEP 440 (PyPI)

#[derive(Debug, Default, Clone)]
struct LetterNumber {
    letter: String,
    number: Option<String>,
}

fn parse_letter_version(letter: &str, number: &str) -> LetterNumber {
    if !letter.is_empty() {
        let number = if number.is_empty() { "0" } else { number };
        let letter = letter.to_ascii_lowercase();
        let letter = match letter.as_str() {
            "alpha" => "a".to_string(),
            "beta" => "b".to_string(),
            "c" | "pre" | "preview" => "rc".to_string(),
            "rev" | "r" => "post".to_string(),
            _ => letter,
        };
        return LetterNumber {
            letter,
            number: Some(number.to_string()),
        };
    }
    if !number.is_empty() {
        return LetterNumber {
            letter: "post".to_string(),
            number: Some(number.to_string()),
        };
    }
    LetterNumber::default()
}

#[derive(Debug, Default)]
struct PypiVersion {
    legacy: Vec<String>,
    epoch: String,
    release: Vec<String>,
    pre: LetterNumber,
    post: LetterNumber,
    dev: LetterNumber,
    local: Vec<String>,
}

fn normalize_pypi_legacy_part(part: &str) -> String {
    let part = match part {
        "pre" | "preview" | "rc" => "c",
        "-" => "final-",
        "dev" => "@",
        other => other,
    };
    if part.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        // zfill(8): pad for numeric comparison
        if part.len() < 8 {
            let mut s = "0".repeat(8 - part.len());
            s.push_str(part);
            return s;
        }
        return part.to_string();
    }
    format!("*{part}")
}

fn parse_pypi_legacy(s: &str) -> PypiVersion {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = regex(&RE, r"(\d+|[a-z]+|\.|-)");
    let mut parts: Vec<String> = Vec::new();
    let splits = re
        .find_iter(s)
        .map(|m| m.as_str())
        .chain(std::iter::once("final"));
    for raw in splits {
        if raw.is_empty() || raw == "." {
            continue;
        }
        let part = normalize_pypi_legacy_part(raw);
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| p == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|p| p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    }
    PypiVersion {
        legacy: parts,
        epoch: "-1".to_string(),
        ..PypiVersion::default()
    }
}

fn parse_pypi(s: &str) -> PypiVersion {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = regex(
        &RE,
        r"^\s*v?(?:(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)(?P<pre>[-_\.]?(?P<pre_l>(a|b|c|rc|alpha|beta|pre|preview))[-_\.]?(?P<pre_n>[0-9]+)?)?(?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?(?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?)(?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?\s*$",
    );
    let lower = s.to_ascii_lowercase();
    let Some(caps) = re.captures(&lower) else {
        return parse_pypi_legacy(&lower);
    };
    let get = |name: &str| caps.name(name).map_or("", |m| m.as_str());
    let epoch = if get("epoch").is_empty() {
        "0".to_string()
    } else {
        get("epoch").to_string()
    };
    let release = get("release").split('.').map(str::to_string).collect();
    let pre = parse_letter_version(get("pre_l"), get("pre_n"));
    let post_n = if get("post_n1").is_empty() {
        get("post_n2")
    } else {
        get("post_n1")
    };
    let post = parse_letter_version(get("post_l"), post_n);
    let dev = parse_letter_version(get("dev_l"), get("dev_n"));
    let local = if get("local").is_empty() {
        Vec::new()
    } else {
        get("local")
            .split(['.', '_', '-'])
            .map(str::to_string)
            .collect()
    };
    PypiVersion {
        legacy: Vec::new(),
        epoch,
        release,
        pre,
        post,
        dev,
        local,
    }
}

impl PypiVersion {
    fn pre_trick(&self) -> bool {
        self.pre.number.is_none() && self.post.number.is_none() && self.dev.number.is_some()
    }
}

fn cmp_opt_numbers(a: Option<&String>, b: Option<&String>, none_first: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => {
            if none_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Some(_), None) => {
            if none_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(x), Some(y)) => cmp_numbers(x, y),
    }
}

/// PEP 440 ordering, with pre-PEP 440 ("legacy") versions sorted before all valid ones.
pub fn pypi_compare(a: &str, b: &str) -> Ordering {
    let v = parse_pypi(a);
    let w = parse_pypi(b);
    match (v.legacy.is_empty(), w.legacy.is_empty()) {
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => return v.legacy.concat().cmp(&w.legacy.concat()),
        (true, true) => {}
    }
    let o = cmp_numbers(&v.epoch, &w.epoch);
    if o != Ordering::Equal {
        return o;
    }
    let o = cmp_components(&v.release, &w.release);
    if o != Ordering::Equal {
        return o;
    }
    let o = match (v.pre_trick(), w.pre_trick()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => match (&v.pre.number, &w.pre.number) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let la = v.pre.letter.as_bytes().first().copied().unwrap_or(0);
                let lb = w.pre.letter.as_bytes().first().copied().unwrap_or(0);
                la.cmp(&lb).then_with(|| cmp_numbers(x, y))
            }
        },
    };
    if o != Ordering::Equal {
        return o;
    }
    let o = cmp_opt_numbers(v.post.number.as_ref(), w.post.number.as_ref(), true);
    if o != Ordering::Equal {
        return o;
    }
    let o = cmp_opt_numbers(v.dev.number.as_ref(), w.dev.number.as_ref(), false);
    if o != Ordering::Equal {
        return o;
    }
    for (x, y) in v.local.iter().zip(w.local.iter()) {
        let o = match (is_number(x), is_number(y)) {
            (true, true) => cmp_numbers(x, y),
            (false, false) => x.cmp(y),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    v.local.len().cmp(&w.local.len())
}

/// True when `s` is a valid PEP 440 version (not a legacy one).
pub fn pypi_is_valid(s: &str) -> bool {
    parse_pypi(s).legacy.is_empty()
}
