//! node-semver-like ordering (npm, crates.io, Go, Hex, Pub) and NuGet.

use super::*;

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
