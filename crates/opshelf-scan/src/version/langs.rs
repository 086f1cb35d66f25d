//! RubyGems' `Gem::Version`, PHP's `version_compare` (Packagist) and R's `package_version` (CRAN).

use super::*;

// ---------------------------------------------------------------------------------------------
// RubyGems

fn rubygems_segments(s: &str) -> Vec<String> {
    let mut canon = String::new();
    let mut check_previous = false;
    let mut previous_was_digit = true;
    for c in s.chars() {
        if c == '.' {
            check_previous = false;
            canon.push('.');
            continue;
        }
        let is_digit = c.is_ascii_digit();
        if check_previous && previous_was_digit != is_digit {
            canon.push('.');
        }
        canon.push(c);
        previous_was_digit = is_digit;
        check_previous = true;
    }
    let mut numbers: Vec<String> = Vec::new();
    let mut build: Vec<String> = Vec::new();
    for seg in canon.split('.') {
        if !build.is_empty() || !is_number(seg) {
            build.push(seg.to_string());
        } else {
            numbers.push(seg.to_string());
        }
    }
    fn remove_zeros(segs: &mut Vec<String>) {
        while segs.last().is_some_and(|s| s == "0") {
            segs.pop();
        }
    }
    remove_zeros(&mut numbers);
    remove_zeros(&mut build);
    numbers.extend(build);
    numbers
}

/// RubyGems `Gem::Version` ordering.
pub fn rubygems_compare(a: &str, b: &str) -> Ordering {
    let va = rubygems_segments(a);
    let vb = rubygems_segments(b);
    let n = va.len().max(vb.len());
    for i in 0..n {
        let x = va.get(i).map_or("0", String::as_str);
        let y = vb.get(i).map_or("0", String::as_str);
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
    Ordering::Equal
}

// ---------------------------------------------------------------------------------------------
// Packagist (PHP version_compare)

fn packagist_components(s: &str) -> Vec<String> {
    static RE_SEP: OnceLock<Regex> = OnceLock::new();
    static RE_A: OnceLock<Regex> = OnceLock::new();
    static RE_B: OnceLock<Regex> = OnceLock::new();
    let v = s.strip_prefix('v').unwrap_or(s);
    let v = v.strip_prefix('V').unwrap_or(v);
    let v = regex(&RE_SEP, r"[-_+]").replace_all(v, ".");
    let v = regex(&RE_A, r"([^\d.])(\d)").replace_all(&v, "$1.$2");
    let v = regex(&RE_B, r"(\d)([^\d.])").replace_all(&v, "$1.$2");
    v.split('.').map(str::to_string).collect()
}

fn packagist_weight(s: &str) -> u8 {
    if s.starts_with("RC") {
        return 3;
    }
    const SPECIALS: [&str; 6] = ["dev", "a", "b", "rc", "#", "p"];
    for (i, sp) in SPECIALS.iter().enumerate() {
        if s.starts_with(sp) {
            return i as u8;
        }
    }
    0
}

fn packagist_components_cmp(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let o = match (is_number(x), is_number(y)) {
            (true, true) => cmp_numbers(x, y),
            (false, false) => packagist_weight(x).cmp(&packagist_weight(y)),
            (true, false) => packagist_weight("#").cmp(&packagist_weight(y)),
            (false, true) => packagist_weight(x).cmp(&packagist_weight("#")),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let hash = ["#".to_string()];
    match a.len().cmp(&b.len()) {
        Ordering::Greater => {
            if is_number(&a[b.len()]) {
                return Ordering::Greater;
            }
            packagist_components_cmp(&a[b.len()..], &hash)
        }
        Ordering::Less => {
            if is_number(&b[a.len()]) {
                return Ordering::Less;
            }
            packagist_components_cmp(&hash, &b[a.len()..])
        }
        Ordering::Equal => Ordering::Equal,
    }
}

/// Packagist / PHP `version_compare` ordering.
pub fn packagist_compare(a: &str, b: &str) -> Ordering {
    packagist_components_cmp(&packagist_components(a), &packagist_components(b))
}

// ---------------------------------------------------------------------------------------------
// CRAN

/// R `package_version` ordering.
pub fn cran_compare(a: &str, b: &str) -> Ordering {
    let parse = |s: &str| -> Vec<String> {
        s.split(['.', '-'])
            .map(|p| {
                if is_number(p) {
                    p.to_string()
                } else {
                    "0".to_string()
                }
            })
            .collect()
    };
    let va = parse(a);
    let vb = parse(b);
    cmp_components(&va, &vb).then_with(|| va.len().cmp(&vb.len()))
}
