//! dpkg, apk and rpm ordering.

use super::*;

// ---------------------------------------------------------------------------------------------
// Debian (dpkg)

fn debian_char_weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => 1,
        None => 2,
        Some(c) => {
            if c.is_ascii_alphabetic() {
                i32::from(c)
            } else {
                i32::from(c) + 122
            }
        }
    }
}

fn debian_part_compare(a: &str, b: &str) -> Ordering {
    let mut a = a.as_bytes();
    let mut b = b.as_bytes();
    while !a.is_empty() || !b.is_empty() {
        let ia = a.iter().position(u8::is_ascii_digit).unwrap_or(a.len());
        let ib = b.iter().position(u8::is_ascii_digit).unwrap_or(b.len());
        let (ap, ar) = a.split_at(ia);
        let (bp, br) = b.split_at(ib);
        if ap != bp {
            for i in 0..ap.len().max(bp.len()) {
                let aw = debian_char_weight(ap.get(i).copied());
                let bw = debian_char_weight(bp.get(i).copied());
                if aw != bw {
                    return aw.cmp(&bw);
                }
            }
        }
        let ja = ar
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(ar.len());
        let jb = br
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(br.len());
        let (ad, ar2) = ar.split_at(ja);
        let (bd, br2) = br.split_at(jb);
        let o = cmp_digits(
            std::str::from_utf8(ad).unwrap_or("0"),
            std::str::from_utf8(bd).unwrap_or("0"),
        );
        if o != Ordering::Equal {
            return o;
        }
        a = ar2;
        b = br2;
    }
    Ordering::Equal
}

fn parse_debian(s: &str) -> (String, &str, &str) {
    let s = s.trim();
    let (epoch, rest) = match s.split_once(':') {
        Some((e, r)) if is_number(e) => (normalize_number(e), r),
        Some((_, r)) => ("0".to_string(), r),
        None => ("0".to_string(), s),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, "0"),
    }
}

/// dpkg ordering (`epoch:upstream-revision`).
pub fn debian_compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = parse_debian(a);
    let (eb, ub, rb) = parse_debian(b);
    cmp_numbers(&ea, &eb)
        .then_with(|| debian_part_compare(ua, ub))
        .then_with(|| debian_part_compare(ra, rb))
}

// ---------------------------------------------------------------------------------------------
// Alpine (apk)

#[derive(Debug)]
struct AlpineVersion<'a> {
    original: &'a str,
    invalid: bool,
    remainder: &'a str,
    components: Vec<&'a str>,
    letter: Option<u8>,
    suffixes: Vec<(u8, &'a str)>,
    build: Option<&'a str>,
}

fn parse_alpine(s: &str) -> AlpineVersion<'_> {
    static RE_NUM: OnceLock<Regex> = OnceLock::new();
    static RE_SUFFIX: OnceLock<Regex> = OnceLock::new();
    static RE_HASH: OnceLock<Regex> = OnceLock::new();
    static RE_BUILD: OnceLock<Regex> = OnceLock::new();
    let mut v = AlpineVersion {
        original: s,
        invalid: false,
        remainder: "",
        components: Vec::new(),
        letter: None,
        suffixes: Vec::new(),
        build: None,
    };
    let sub = regex(&RE_NUM, r"^((\d+)\.?)*")
        .find(s)
        .map_or("", |m| m.as_str());
    for d in sub.split('.') {
        if !d.is_empty() {
            v.components.push(d);
        }
    }
    let mut rest = &s[sub.len()..];
    if let Some(&c) = rest.as_bytes().first()
        && c.is_ascii_lowercase()
    {
        v.letter = Some(c);
        rest = &rest[1..];
    }
    let re = regex(&RE_SUFFIX, r"^_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)");
    while let Some(caps) = re.captures(rest) {
        let name = caps.get(1).map_or("", |m| m.as_str());
        let num = caps.get(2).map_or("", |m| m.as_str());
        const SUPPORTED: [&str; 9] = ["alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg"];
        let weight = SUPPORTED
            .iter()
            .position(|x| *x == name)
            .unwrap_or(SUPPORTED.len()) as u8;
        v.suffixes
            .push((weight, if num.is_empty() { "0" } else { num }));
        rest = &rest[caps.get(0).map_or(0, |m| m.end())..];
    }
    if let Some(m) = regex(&RE_HASH, r"^~[0-9a-f]+").find(rest) {
        rest = &rest[m.end()..];
    }
    if !rest.is_empty() {
        match regex(&RE_BUILD, r"^-r(\d*)").captures(rest) {
            Some(caps) => {
                let num = caps.get(1).map_or("", |m| m.as_str());
                v.build = Some(if num.is_empty() { "0" } else { num });
                rest = &rest[caps.get(0).map_or(0, |m| m.end())..];
            }
            None => v.invalid = true,
        }
    }
    v.remainder = rest;
    v
}

/// apk ordering.
pub fn alpine_compare(a: &str, b: &str) -> Ordering {
    let v = parse_alpine(a);
    let w = parse_alpine(b);
    if v.invalid && w.invalid {
        return v.original.cmp(w.original);
    }
    let n = v.components.len().max(w.components.len());
    for i in 0..n {
        let x = v.components.get(i).copied().unwrap_or("0");
        let y = w.components.get(i).copied().unwrap_or("0");
        let o = if i != 0 && (x.starts_with('0') || y.starts_with('0')) {
            x.cmp(y)
        } else {
            cmp_digits(x, y)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let o = match (v.letter, w.letter) {
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (x, y) => x.cmp(&y),
    };
    if o != Ordering::Equal {
        return o;
    }
    let n = v.suffixes.len().max(w.suffixes.len());
    for i in 0..n {
        let (xw, xn) = v.suffixes.get(i).copied().unwrap_or((4, "0"));
        let (yw, yn) = w.suffixes.get(i).copied().unwrap_or((4, "0"));
        let o = xw.cmp(&yw).then_with(|| cmp_digits(xn, yn));
        if o != Ordering::Equal {
            return o;
        }
    }
    let o = cmp_digits(v.build.unwrap_or("0"), w.build.unwrap_or("0"));
    if o != Ordering::Equal {
        return o;
    }
    match (v.remainder.is_empty(), w.remainder.is_empty()) {
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => Ordering::Equal,
    }
}

// ---------------------------------------------------------------------------------------------
// RPM (Red Hat and friends)

/// rpm's `rpmvercmp` on one field.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let one = a.as_bytes();
    let two = b.as_bytes();
    let (mut i, mut j) = (0usize, 0usize);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < one.len() || j < two.len() {
        while i < one.len() && sep(one[i]) {
            i += 1;
        }
        while j < two.len() && sep(two[j]) {
            j += 1;
        }
        let c1 = one.get(i).copied();
        let c2 = two.get(j).copied();
        if c1 == Some(b'~') || c2 == Some(b'~') {
            if c1 != Some(b'~') {
                return Ordering::Greater;
            }
            if c2 != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if c1 == Some(b'^') || c2 == Some(b'^') {
            if c1.is_none() {
                return Ordering::Less;
            }
            if c2.is_none() {
                return Ordering::Greater;
            }
            if c1 != Some(b'^') {
                return Ordering::Greater;
            }
            if c2 != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(c1), Some(_)) = (c1, c2) else {
            break;
        };
        let (s1, s2) = (i, j);
        let isnum = c1.is_ascii_digit();
        if isnum {
            while i < one.len() && one[i].is_ascii_digit() {
                i += 1;
            }
            while j < two.len() && two[j].is_ascii_digit() {
                j += 1;
            }
        } else {
            while i < one.len() && one[i].is_ascii_alphabetic() {
                i += 1;
            }
            while j < two.len() && two[j].is_ascii_alphabetic() {
                j += 1;
            }
        }
        if s2 == j {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let seg1 = std::str::from_utf8(&one[s1..i]).unwrap_or("");
        let seg2 = std::str::from_utf8(&two[s2..j]).unwrap_or("");
        let o = if isnum {
            cmp_digits(seg1, seg2)
        } else {
            seg1.cmp(seg2)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    match (i >= one.len(), j >= two.len()) {
        (true, true) => Ordering::Equal,
        (false, _) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// RPM `[epoch:]version[-release]` ordering.
pub fn rpm_compare(a: &str, b: &str) -> Ordering {
    fn split(s: &str) -> (&str, &str, Option<&str>) {
        let (epoch, rest) = match s.split_once(':') {
            Some((e, r)) => (e, r),
            None => ("0", s),
        };
        match rest.rsplit_once('-') {
            Some((v, r)) => (epoch, v, Some(r)),
            None => (epoch, rest, None),
        }
    }
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    let ea = if ea.is_empty() { "0" } else { ea };
    let eb = if eb.is_empty() { "0" } else { eb };
    rpmvercmp(ea, eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => rpmvercmp(x, y),
        })
}
