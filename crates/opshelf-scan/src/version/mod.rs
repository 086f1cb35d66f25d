//! Version ordering per ecosystem.
//!
//! One comparator per ecosystem, following each ecosystem's own tool (PEP 440 / `packaging`,
//! node-semver, Go modules, Maven's `ComparableVersion`, RubyGems' `Gem::Version`, PHP's
//! `version_compare`, NuGet, dpkg, apk, rpm, R's `package_version`). Every function here is
//! total: any string parses (invalid versions get a best-effort order), nothing panics.
//!
//! This file: [`Ecosystem`], [`compare`] and the number helpers all share; `semver.rs`
//! (npm-like, NuGet), `pypi.rs`, `maven.rs`, `langs.rs` (RubyGems, Packagist, CRAN),
//! `distro.rs` (dpkg, apk, rpm).

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

mod distro;
mod langs;
mod maven;
mod pypi;
mod semver;

pub use distro::{alpine_compare, debian_compare, rpm_compare, rpmvercmp};
pub use langs::{cran_compare, packagist_compare, rubygems_compare};
pub use maven::maven_compare;
pub use pypi::{pypi_compare, pypi_is_valid};
pub use semver::{nuget_compare, semver_compare};

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

#[cfg(test)]
mod tests;
