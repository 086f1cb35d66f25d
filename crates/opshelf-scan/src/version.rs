//! Version ordering per ecosystem.
//!
//! One comparator per ecosystem, following each ecosystem's own tool (PEP 440 / `packaging`,
//! node-semver, Go modules, Maven's `ComparableVersion`, RubyGems' `Gem::Version`, PHP's
//! `version_compare`, NuGet, dpkg, apk, rpm, R's `package_version`). Every function here is
//! total: any string parses (invalid versions get a best-effort order), nothing panics.

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

/// An OSV ecosystem (the part before `:` in names such as `Debian:12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    Npm,
    CratesIo,
    Go,
    PyPI,
    Maven,
    RubyGems,
    Packagist,
    NuGet,
    Hex,
    Pub,
    Debian,
    Ubuntu,
    Alpine,
    Cran,
    RedHat,
}

impl Ecosystem {
    /// Parses an OSV ecosystem name (`PyPI`, `crates.io`, `Debian:12`, ...).
    pub fn parse(name: &str) -> Option<Ecosystem> {
        let base = name.split(':').next().unwrap_or(name).trim();
        let eco = match base {
            "npm" => Ecosystem::Npm,
            "crates.io" => Ecosystem::CratesIo,
            "Go" => Ecosystem::Go,
            "PyPI" => Ecosystem::PyPI,
            "Maven" => Ecosystem::Maven,
            "RubyGems" => Ecosystem::RubyGems,
            "Packagist" => Ecosystem::Packagist,
            "NuGet" => Ecosystem::NuGet,
            "Hex" => Ecosystem::Hex,
            "Pub" => Ecosystem::Pub,
            "Debian" => Ecosystem::Debian,
            "Ubuntu" => Ecosystem::Ubuntu,
            "Alpine" => Ecosystem::Alpine,
            "CRAN" => Ecosystem::Cran,
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" => Ecosystem::RedHat,
            _ => return None,
        };
        Some(eco)
    }

    /// The OSV spelling of the ecosystem.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Go => "Go",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Maven => "Maven",
            Ecosystem::RubyGems => "RubyGems",
            Ecosystem::Packagist => "Packagist",
            Ecosystem::NuGet => "NuGet",
            Ecosystem::Hex => "Hex",
            Ecosystem::Pub => "Pub",
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::Cran => "CRAN",
            Ecosystem::RedHat => "Red Hat",
        }
    }

    /// Trivy's package-type name for the ecosystem (used in reports and purls).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "cargo",
            Ecosystem::Go => "golang",
            Ecosystem::PyPI => "pypi",
            Ecosystem::Maven => "maven",
            Ecosystem::RubyGems => "gem",
            Ecosystem::Packagist => "composer",
            Ecosystem::NuGet => "nuget",
            Ecosystem::Hex => "hex",
            Ecosystem::Pub => "pub",
            Ecosystem::Debian | Ecosystem::Ubuntu => "deb",
            Ecosystem::Alpine => "apk",
            Ecosystem::Cran => "cran",
            Ecosystem::RedHat => "rpm",
        }
    }

    /// Compares two versions of this ecosystem.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        compare(self, a, b)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Ecosystem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Ecosystem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ecosystem::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown ecosystem {s:?}")))
    }
}

/// Compares two version strings with the rules of `eco`.
pub fn compare(eco: Ecosystem, a: &str, b: &str) -> Ordering {
    match eco {
        Ecosystem::Npm | Ecosystem::CratesIo | Ecosystem::Go | Ecosystem::Hex | Ecosystem::Pub => {
            semver_compare(a, b)
        }
        Ecosystem::PyPI => pypi_compare(a, b),
        Ecosystem::Maven => maven_compare(a, b),
        Ecosystem::RubyGems => rubygems_compare(a, b),
        Ecosystem::Packagist => packagist_compare(a, b),
        Ecosystem::NuGet => nuget_compare(a, b),
        Ecosystem::Debian | Ecosystem::Ubuntu => debian_compare(a, b),
        Ecosystem::Alpine => alpine_compare(a, b),
        Ecosystem::Cran => cran_compare(a, b),
        Ecosystem::RedHat => rpm_compare(a, b),
    }
}

// ---------------------------------------------------------------------------------------------
// numbers of any length

/// True when `s` is an (optionally signed) run of ASCII digits.
fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two digit strings numerically, whatever their length.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Compares two strings known to satisfy [`is_number`] (sign-aware).
fn cmp_numbers(a: &str, b: &str) -> Ordering {
    let (na, da) = split_sign(a);
    let (nb, db) = split_sign(b);
    let za = da.trim_start_matches('0').is_empty();
    let zb = db.trim_start_matches('0').is_empty();
    let na = na && !za;
    let nb = nb && !zb;
    match (na, nb) {
        (false, false) => cmp_digits(da, db),
        (true, true) => cmp_digits(db, da),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

fn split_sign(s: &str) -> (bool, &str) {
    if let Some(rest) = s.strip_prefix('-') {
        (true, rest)
    } else {
        (false, s.strip_prefix('+').unwrap_or(s))
    }
}

/// Normalises a number's text (no sign handling needed by callers): strips leading zeros.
fn normalize_number(s: &str) -> String {
    let (neg, digits) = split_sign(s);
    let trimmed = digits.trim_start_matches('0');
    let body = if trimmed.is_empty() { "0" } else { trimmed };
    if neg && body != "0" {
        format!("-{body}")
    } else {
        body.to_string()
    }
}

/// Compares lists of numbers, the shorter one padded with zeros.
fn cmp_components(a: &[String], b: &[String]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).map_or("0", String::as_str);
        let y = b.get(i).map_or("0", String::as_str);
        let o = cmp_numbers(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

// ---------------------------------------------------------------------------------------------
// SemVer (npm, crates.io, Go, Hex, Pub) and NuGet

struct SemverLike {
    components: Vec<String>,
    build: String,
}

fn parse_semver_like(s: &str, max_components: usize) -> SemverLike {
    let line = s.strip_prefix('v').unwrap_or(s);
    let mut components = Vec::new();
    let mut current = String::new();
    let mut found_build = false;
    for c in line.chars() {
        if found_build {
            current.push(c);
            continue;
        }
        if c.is_ascii_digit() {
            current.push(c);
            continue;
        }
        if !current.is_empty() {
            components.push(normalize_number(&current));
            current.clear();
        }
        if c == '.' {
            continue;
        }
        found_build = true;
        current.push(c);
    }
    if !found_build && !current.is_empty() {
        components.push(normalize_number(&current));
        current.clear();
    }
    let mut build = current;
    if components.len() > max_components {
        for extra in components.drain(max_components..) {
            build.push('.');
            build.push_str(&extra);
        }
    }
    SemverLike { components, build }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let a = a.split('+').next().unwrap_or("");
    let b = b.split('+').next().unwrap_or("");
    let a = a.strip_prefix('-').unwrap_or(a);
    let b = b.strip_prefix('-').unwrap_or(b);
    match (a.is_empty(), b.is_empty()) {
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (is_number(x), is_number(y)) {
            (true, true) => cmp_numbers(x, y),
            (false, false) => x.cmp(y),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

/// SemVer 2.0 ordering (leading `v` allowed, as in Go; build metadata ignored).
pub fn semver_compare(a: &str, b: &str) -> Ordering {
    let va = parse_semver_like(a, 3);
    let vb = parse_semver_like(b, 3);
    cmp_components(&va.components, &vb.components)
        .then_with(|| compare_prerelease(&va.build, &vb.build))
}

/// NuGet ordering: four numeric parts, case-insensitive pre-release labels.
pub fn nuget_compare(a: &str, b: &str) -> Ordering {
    let va = parse_semver_like(a, 4);
    let vb = parse_semver_like(b, 4);
    cmp_components(&va.components, &vb.components).then_with(|| {
        compare_prerelease(
            &va.build.to_ascii_lowercase(),
            &vb.build.to_ascii_lowercase(),
        )
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn versions_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scan/versions")
    }

    fn run_file(eco: Ecosystem, file: &str) -> (usize, Vec<String>) {
        let path = versions_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut total = 0;
        let mut failures = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with("# ") || line.starts_with("// ") {
                continue;
            }
            let pieces: Vec<&str> = line.split(' ').collect();
            assert_eq!(pieces.len(), 3, "bad fixture line {line:?} in {file}");
            let expected = match pieces[1] {
                "<" => Ordering::Less,
                "=" => Ordering::Equal,
                ">" => Ordering::Greater,
                other => panic!("unknown operator {other}"),
            };
            total += 1;
            let forward = compare(eco, pieces[0], pieces[2]);
            let backward = compare(eco, pieces[2], pieces[0]);
            if forward != expected || backward != expected.reverse() {
                failures.push(format!("{eco}: {line} (got {forward:?}/{backward:?})"));
            }
        }
        (total, failures)
    }

    #[test]
    fn ecosystem_fixtures_all_pass() {
        let cases = [
            (Ecosystem::Npm, "semver-versions.txt"),
            (Ecosystem::CratesIo, "semver-versions.txt"),
            (Ecosystem::Go, "semver-versions.txt"),
            (Ecosystem::Hex, "semver-versions.txt"),
            (Ecosystem::RubyGems, "rubygems-versions.txt"),
            (Ecosystem::RubyGems, "rubygems-versions-generated.txt"),
            (Ecosystem::NuGet, "nuget-versions.txt"),
            (Ecosystem::Packagist, "packagist-versions.txt"),
            (Ecosystem::Packagist, "packagist-versions-generated.txt"),
            (Ecosystem::Maven, "maven-versions.txt"),
            (Ecosystem::Maven, "maven-versions-generated.txt"),
            (Ecosystem::PyPI, "pypi-versions.txt"),
            (Ecosystem::PyPI, "pypi-versions-generated.txt"),
            (Ecosystem::Debian, "debian-versions.txt"),
            (Ecosystem::Debian, "debian-versions-generated.txt"),
            (Ecosystem::Cran, "cran-versions.txt"),
            (Ecosystem::Cran, "cran-versions-generated.txt"),
            (Ecosystem::Alpine, "alpine-versions.txt"),
            (Ecosystem::Alpine, "alpine-versions-generated.txt"),
            (Ecosystem::RedHat, "redhat-versions.txt"),
        ];
        let mut all_failures = Vec::new();
        let mut total = 0;
        for (eco, file) in cases {
            let (n, failures) = run_file(eco, file);
            assert!(n > 0, "{file} has no assertions");
            total += n;
            all_failures.extend(failures);
        }
        assert!(
            all_failures.is_empty(),
            "{} of {total} assertions failed:\n{}",
            all_failures.len(),
            all_failures.join("\n")
        );
    }

    #[test]
    fn go_pseudo_versions_order() {
        let e = Ecosystem::Go;
        assert_eq!(
            e.compare(
                "v0.0.0-20210101000000-abcdefabcdef",
                "v0.0.0-20220101000000-abcdefabcdef"
            ),
            Ordering::Less
        );
        assert_eq!(
            e.compare("v1.2.4-0.20210101000000-abcdefabcdef", "v1.2.4"),
            Ordering::Less
        );
        assert_eq!(e.compare("v1.2.3", "1.2.3"), Ordering::Equal);
    }

    #[test]
    fn garbage_never_panics() {
        let long = "9".repeat(100);
        let inputs = [
            "", ".", "-", "+", "~", "::", "1:", ":1", "-r", "_p", "1..2", "ä.ö", &long,
        ];
        let ecos = [
            Ecosystem::Npm,
            Ecosystem::PyPI,
            Ecosystem::Maven,
            Ecosystem::RubyGems,
            Ecosystem::Packagist,
            Ecosystem::NuGet,
            Ecosystem::Debian,
            Ecosystem::Alpine,
            Ecosystem::Cran,
            Ecosystem::RedHat,
        ];
        for eco in ecos {
            for a in inputs {
                for b in inputs {
                    let _ = compare(eco, a, b);
                }
            }
        }
    }
}
