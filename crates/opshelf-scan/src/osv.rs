//! OSV advisories: the wire records (JSON, and the YAML form PyPA uses), the compact index a
//! scan loads, and the schema's `IsVulnerable` evaluation.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer, Serialize};

use crate::cvss::{self, Severity};
use crate::lockfile::normalize_pypi_name;
use crate::version::Ecosystem;

// ---------------------------------------------------------------------------------------------
// wire records

/// An OSV record as published (only the fields the scanner uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Record {
    pub id: String,
    pub modified: String,
    pub published: String,
    pub withdrawn: Option<String>,
    pub aliases: Vec<String>,
    pub summary: String,
    pub details: String,
    pub severity: Vec<RecordSeverity>,
    pub affected: Vec<RecordAffected>,
    pub references: Vec<RecordReference>,
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordSeverity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordPackage {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordAffected {
    pub package: RecordPackage,
    pub severity: Vec<RecordSeverity>,
    pub ranges: Vec<RecordRange>,
    #[serde(deserialize_with = "strings")]
    pub versions: Vec<String>,
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordRange {
    #[serde(rename = "type")]
    pub kind: String,
    pub events: Vec<RecordEvent>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordEvent {
    #[serde(deserialize_with = "opt_string")]
    pub introduced: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub fixed: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub last_affected: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub limit: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordReference {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

/// A version written as a YAML number (`introduced: 0`) is still a version string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    S(String),
    I(i64),
    U(u64),
    F(f64),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::S(s) => s,
            Scalar::I(i) => i.to_string(),
            Scalar::U(u) => u.to_string(),
            Scalar::F(f) => f.to_string(),
        }
    }
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(Scalar::into_string))
}

fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<Scalar>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(Scalar::into_string)
        .collect())
}

/// Parses one OSV record from JSON or YAML bytes.
pub fn parse_record(bytes: &[u8], yaml: bool) -> Result<Record, String> {
    if yaml {
        serde_yaml_ng::from_slice(bytes).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// compact index

/// Range kinds the scanner evaluates (GIT ranges need commits and are dropped at import).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    #[serde(rename = "S")]
    Semver,
    #[serde(rename = "E")]
    Ecosystem,
}

/// One range event, in the compact form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    #[serde(rename = "i")]
    Introduced(String),
    #[serde(rename = "f")]
    Fixed(String),
    #[serde(rename = "l")]
    LastAffected(String),
    #[serde(rename = "m")]
    Limit(String),
}

impl Event {
    fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(rename = "t")]
    pub kind: RangeKind,
    #[serde(rename = "e")]
    pub events: Vec<Event>,
}

/// One affected package of an advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    #[serde(rename = "eco")]
    pub ecosystem: Ecosystem,
    #[serde(rename = "n")]
    pub name: String,
    /// The release after the ecosystem's `:` (`12` of `Debian:12`, `v3.18` of `Alpine:v3.18`,
    /// `22.04:LTS` of `Ubuntu:22.04:LTS`): OS advisories hold per release.
    #[serde(rename = "rel", default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

/// An advisory as stored in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub published: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub modified: String,
    #[serde(default)]
    pub withdrawn: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    pub affected: Vec<Affected>,
}

impl Advisory {
    /// The ID Trivy users expect to see and to ignore: the first CVE alias, else the own ID.
    pub fn display_id(&self) -> &str {
        if self.id.starts_with("CVE-") {
            return &self.id;
        }
        self.aliases
            .iter()
            .find(|a| a.starts_with("CVE-"))
            .map_or(self.id.as_str(), String::as_str)
    }

    /// Own ID and aliases.
    pub fn all_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The link Trivy shows as `PrimaryURL`.
    pub fn primary_url(&self) -> String {
        if let Some(r) = self.references.first() {
            return r.clone();
        }
        format!("https://osv.dev/vulnerability/{}", self.id)
    }
}

/// Maximum stored length of an advisory's details (the index must stay small).
const MAX_DETAILS: usize = 2000;

/// Converts a wire record into the compact form; `None` for records with nothing matchable.
pub fn compact(record: &Record) -> Option<Advisory> {
    if record.id.is_empty() {
        return None;
    }
    // severity: the highest computed CVSS among record- and package-level vectors, then the
    // database's own label
    let mut best: Option<(f64, String)> = None;
    let vectors = record
        .severity
        .iter()
        .chain(record.affected.iter().flat_map(|a| a.severity.iter()));
    for s in vectors {
        if !s.kind.starts_with("CVSS") {
            continue;
        }
        if let Some(score) = cvss::base_score(&s.score)
            && best.as_ref().is_none_or(|(b, _)| score > *b)
        {
            best = Some((score, s.score.clone()));
        }
    }
    let db_label = record
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(serde_json::Value::as_str)
        .and_then(Severity::parse);
    let severity = match (&best, db_label) {
        (Some((score, _)), _) => Severity::from_score(*score),
        (None, Some(label)) => label,
        (None, None) => Severity::Unknown,
    };
    let mut affected = Vec::new();
    for a in &record.affected {
        let Some(ecosystem) = Ecosystem::parse(&a.package.ecosystem) else {
            continue;
        };
        // RustSec "unmaintained" / "notice" entries are not vulnerabilities
        let informational = a
            .database_specific
            .as_ref()
            .and_then(|d| d.get("informational"))
            .and_then(serde_json::Value::as_str);
        if matches!(informational, Some("unmaintained" | "notice")) {
            continue;
        }
        let mut ranges = Vec::new();
        for r in &a.ranges {
            let kind = match r.kind.as_str() {
                "SEMVER" => RangeKind::Semver,
                "ECOSYSTEM" => RangeKind::Ecosystem,
                _ => continue,
            };
            let mut events = Vec::new();
            for e in &r.events {
                if let Some(v) = &e.introduced {
                    events.push(Event::Introduced(v.clone()));
                } else if let Some(v) = &e.fixed {
                    events.push(Event::Fixed(v.clone()));
                } else if let Some(v) = &e.last_affected {
                    events.push(Event::LastAffected(v.clone()));
                } else if let Some(v) = &e.limit {
                    events.push(Event::Limit(v.clone()));
                }
            }
            if !events.is_empty() {
                ranges.push(Range { kind, events });
            }
        }
        if ranges.is_empty() && a.versions.is_empty() {
            continue;
        }
        affected.push(Affected {
            ecosystem,
            name: normalize_name(ecosystem, &a.package.name),
            release: a
                .package
                .ecosystem
                .split_once(':')
                .map(|(_, r)| r.trim().to_string())
                .filter(|r| !r.is_empty()),
            ranges,
            versions: a.versions.clone(),
        });
    }
    if affected.is_empty() {
        return None;
    }
    let mut details = record.details.trim().to_string();
    if details.len() > MAX_DETAILS {
        let mut cut = MAX_DETAILS;
        while !details.is_char_boundary(cut) {
            cut -= 1;
        }
        details.truncate(cut);
        details.push('…');
    }
    let mut references: Vec<String> = Vec::new();
    for r in &record.references {
        if matches!(r.kind.as_str(), "ADVISORY" | "WEB" | "REPORT" | "FIX") && references.len() < 4
        {
            references.push(r.url.clone());
        }
    }
    Some(Advisory {
        id: record.id.clone(),
        aliases: record.aliases.clone(),
        summary: record.summary.trim().to_string(),
        details,
        severity,
        cvss_score: best.as_ref().map(|(s, _)| *s),
        cvss_vector: best.map(|(_, v)| v),
        published: record.published.clone(),
        modified: record.modified.clone(),
        withdrawn: record.withdrawn.is_some(),
        references,
        affected,
    })
}

/// Package-name normalisation used on both sides of a lookup.
pub fn normalize_name(eco: Ecosystem, name: &str) -> String {
    match eco {
        Ecosystem::PyPI => normalize_pypi_name(name),
        Ecosystem::Packagist | Ecosystem::NuGet => name.to_ascii_lowercase(),
        _ => name.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// evaluation

/// Sort key for events: `introduced: 0` first, then by version.
fn cmp_events(eco: Ecosystem, a: &Event, b: &Event) -> Ordering {
    let zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => eco.compare(a.version(), b.version()),
    }
}

/// The OSV schema's range evaluation for one version.
pub fn range_includes(eco: Ecosystem, range: &Range, version: &str) -> bool {
    let mut events = range.events.clone();
    events.sort_by(|a, b| cmp_events(eco, a, b));
    // `limit` caps the whole range
    for e in &events {
        if let Event::Limit(l) = e
            && l != "*"
            && eco.compare(version, l) != Ordering::Less
        {
            return false;
        }
    }
    let mut vulnerable = false;
    for e in &events {
        match e {
            Event::Introduced(v) => {
                if v == "0" || eco.compare(version, v) != Ordering::Less {
                    vulnerable = true;
                }
            }
            Event::Fixed(v) => {
                if eco.compare(version, v) != Ordering::Less {
                    vulnerable = false;
                }
            }
            Event::LastAffected(v) => {
                if eco.compare(version, v) == Ordering::Greater {
                    vulnerable = false;
                }
            }
            Event::Limit(_) => {}
        }
    }
    vulnerable
}

/// `IsVulnerable` for one affected entry: listed versions, or any SEMVER/ECOSYSTEM range.
pub fn affected_includes(a: &Affected, version: &str) -> bool {
    if a.versions.iter().any(|v| v == version) {
        return true;
    }
    a.ranges
        .iter()
        .any(|r| range_includes(a.ecosystem, r, version))
}

/// The fixed versions named by an affected entry (for `FixedVersion`).
pub fn fixed_versions(a: &Affected) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in &a.ranges {
        for e in &r.events {
            if let Event::Fixed(v) = e
                && !out.contains(v)
            {
                out.push(v.clone());
            }
        }
    }
    out
}

/// A vulnerability found for one package version.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    pub advisory: &'a Advisory,
    pub fixed: Vec<String>,
}

/// The loaded index: advisories plus a lookup by (ecosystem, package name).
#[derive(Debug, Default)]
pub struct Database {
    pub advisories: Vec<Advisory>,
    by_package: HashMap<(Ecosystem, String), Vec<(u32, u16)>>,
}

impl Database {
    pub fn new(advisories: Vec<Advisory>) -> Self {
        let mut by_package: HashMap<(Ecosystem, String), Vec<(u32, u16)>> = HashMap::new();
        for (i, adv) in advisories.iter().enumerate() {
            for (j, a) in adv.affected.iter().enumerate() {
                by_package
                    .entry((a.ecosystem, a.name.clone()))
                    .or_default()
                    .push((i as u32, j as u16));
            }
        }
        Database {
            advisories,
            by_package,
        }
    }

    /// Advisories affecting `name@version`, withdrawn ones skipped, aliases de-duplicated
    /// (CVE/GHSA/PYSEC records of one issue are reported once).
    pub fn vulnerabilities(&self, eco: Ecosystem, name: &str, version: &str) -> Vec<Finding<'_>> {
        self.vulnerabilities_in(eco, None, name, version)
    }

    /// As [`Database::vulnerabilities`], for one release of an OS ecosystem: entries of other
    /// releases are skipped (`Debian:11` advisories do not apply to a Debian 12 package);
    /// entries without a release apply to every release. `release` is the OSV spelling
    /// (see [`osv_release`]).
    pub fn vulnerabilities_in(
        &self,
        eco: Ecosystem,
        release: Option<&str>,
        name: &str,
        version: &str,
    ) -> Vec<Finding<'_>> {
        let key = (eco, normalize_name(eco, name));
        let Some(entries) = self.by_package.get(&key) else {
            return Vec::new();
        };
        let mut found: Vec<Finding<'_>> = Vec::new();
        for &(i, j) in entries {
            let adv = &self.advisories[i as usize];
            if adv.withdrawn {
                continue;
            }
            let a = &adv.affected[j as usize];
            if let (Some(want), Some(have)) = (release, a.release.as_deref())
                && !release_matches(eco, want, have)
            {
                continue;
            }
            if !affected_includes(a, version) {
                continue;
            }
            let fixed = fixed_versions(a);
            if let Some(prev) = found.iter_mut().find(|f| {
                f.advisory
                    .all_ids()
                    .any(|id| adv.all_ids().any(|x| x == id))
            }) {
                // keep the richer record (a CVSS score beats none), merge fixed versions
                if prev.advisory.cvss_score.is_none() && adv.cvss_score.is_some() {
                    prev.advisory = adv;
                }
                for f in fixed {
                    if !prev.fixed.contains(&f) {
                        prev.fixed.push(f);
                    }
                }
                continue;
            }
            found.push(Finding {
                advisory: adv,
                fixed,
            });
        }
        found
    }

    /// Number of distinct affected packages.
    pub fn package_count(&self) -> usize {
        self.by_package.len()
    }
}

/// The OSV release naming an OS version: Debian `12` (from `12.5`), Alpine `v3.18` (from
/// `3.18.4`), Ubuntu `22.04`. `None` for ecosystems without releases.
pub fn osv_release(eco: Ecosystem, os_version: &str) -> Option<String> {
    let v = os_version.trim();
    if v.is_empty() {
        return None;
    }
    match eco {
        Ecosystem::Debian => Some(v.split('.').next().unwrap_or(v).to_string()),
        Ecosystem::Alpine => {
            let mut parts = v.split('.');
            let major = parts.next().unwrap_or(v);
            Some(match parts.next() {
                Some(minor) => format!("v{major}.{minor}"),
                None => format!("v{major}"),
            })
        }
        Ecosystem::Ubuntu => Some(v.to_string()),
        _ => None,
    }
}

/// Whether an advisory's release (`have`, as OSV spells it) is the scanned one (`want`, from
/// [`osv_release`]). Ubuntu's `22.04:LTS` is `22.04`; Ubuntu Pro (`Pro:...`) streams are not
/// the public archive and never match.
fn release_matches(eco: Ecosystem, want: &str, have: &str) -> bool {
    match eco {
        Ecosystem::Ubuntu => {
            !have.starts_with("Pro:") && have.strip_suffix(":LTS").unwrap_or(have) == want
        }
        _ => have == want,
    }
}

/// Merges newly imported advisories into an existing set: same ID, newer `modified` wins.
pub fn merge(existing: Vec<Advisory>, incoming: Vec<Advisory>) -> Vec<Advisory> {
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    for a in existing.into_iter().chain(incoming) {
        match by_id.get(&a.id) {
            Some(prev) if prev.modified > a.modified => {}
            _ => {
                by_id.insert(a.id.clone(), a);
            }
        }
    }
    by_id.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(kind: RangeKind, events: Vec<Event>) -> Range {
        Range { kind, events }
    }

    #[test]
    fn evaluation_follows_the_schema() {
        use Event::*;
        let eco = Ecosystem::PyPI;
        let r = range(
            RangeKind::Ecosystem,
            vec![
                Introduced("4.0".into()),
                Fixed("4.3".into()),
                Introduced("5.0".into()),
                Fixed("5.2".into()),
            ],
        );
        for (v, want) in [
            ("3.9", false),
            ("4.0", true),
            ("4.2.9", true),
            ("4.3", false),
            ("5.1", true),
            ("5.2", false),
        ] {
            assert_eq!(range_includes(eco, &r, v), want, "{v}");
        }
        let r = range(
            RangeKind::Ecosystem,
            vec![Introduced("0".into()), LastAffected("1.2".into())],
        );
        assert!(range_includes(eco, &r, "1.2"));
        assert!(!range_includes(eco, &r, "1.2.1"));
        let r = range(
            RangeKind::Semver,
            vec![Introduced("0".into()), Limit("2.0.0".into())],
        );
        assert!(range_includes(Ecosystem::Npm, &r, "1.9.9"));
        assert!(!range_includes(Ecosystem::Npm, &r, "2.0.0"));
        // unsorted events are sorted first
        let r = range(
            RangeKind::Semver,
            vec![Fixed("1.5.0".into()), Introduced("1.0.0".into())],
        );
        assert!(range_includes(Ecosystem::CratesIo, &r, "1.2.0"));
        assert!(!range_includes(Ecosystem::CratesIo, &r, "0.9.0"));
    }

    #[test]
    fn yaml_numbers_become_strings() {
        let y = b"id: PYSEC-1\naffected:\n- package: {name: Foo.Bar, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: 1.5\n  versions: [1.5, \"1.10\"]\n";
        let r = parse_record(y, true).expect("yaml");
        let a = compact(&r).expect("compact");
        assert_eq!(a.affected[0].name, "foo-bar");
        assert_eq!(a.affected[0].versions, vec!["1.5", "1.10"]);
        assert_eq!(
            a.affected[0].ranges[0].events[0],
            Event::Introduced("0".into())
        );
    }

    #[test]
    fn os_advisories_hold_per_release() {
        let rec = |eco: &str, fixed: &str| {
            let text = format!(
                r#"{{"id":"DSA-{fixed}","modified":"2024-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"{eco}","name":"openssl"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#
            );
            compact(&parse_record(text.as_bytes(), false).expect("record")).expect("compact")
        };
        let db = Database::new(vec![
            rec("Debian:11", "1.1.1w-0+deb11u1"),
            rec("Debian:12", "3.0.11-1~deb12u2"),
        ]);
        assert_eq!(db.advisories[0].affected[0].release.as_deref(), Some("11"));
        let rel = osv_release(Ecosystem::Debian, "12.5");
        assert_eq!(rel.as_deref(), Some("12"));
        let found = db.vulnerabilities_in(
            Ecosystem::Debian,
            rel.as_deref(),
            "openssl",
            "3.0.11-1~deb12u1",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].fixed, vec!["3.0.11-1~deb12u2"]);
        // the `~` sorts before the release: the fixed version itself is not affected
        assert!(
            db.vulnerabilities_in(
                Ecosystem::Debian,
                rel.as_deref(),
                "openssl",
                "3.0.11-1~deb12u2"
            )
            .is_empty()
        );
        // without a release every entry applies
        assert_eq!(
            db.vulnerabilities(Ecosystem::Debian, "openssl", "1.0")
                .len(),
            2
        );
        assert_eq!(
            osv_release(Ecosystem::Alpine, "3.18.4").as_deref(),
            Some("v3.18")
        );
        assert!(release_matches(Ecosystem::Ubuntu, "22.04", "22.04:LTS"));
        assert!(!release_matches(
            Ecosystem::Ubuntu,
            "22.04",
            "Pro:22.04:LTS"
        ));
    }

    #[test]
    fn withdrawn_and_aliases() {
        let mk = |id: &str, aliases: &[&str], withdrawn: bool, score: Option<f64>| Advisory {
            id: id.into(),
            aliases: aliases.iter().map(ToString::to_string).collect(),
            summary: String::new(),
            details: String::new(),
            severity: Severity::High,
            cvss_vector: None,
            cvss_score: score,
            published: String::new(),
            modified: String::new(),
            withdrawn,
            references: vec![],
            affected: vec![Affected {
                ecosystem: Ecosystem::PyPI,
                name: "foo".into(),
                release: None,
                ranges: vec![range(
                    RangeKind::Ecosystem,
                    vec![Event::Introduced("0".into()), Event::Fixed("2".into())],
                )],
                versions: vec![],
            }],
        };
        let db = Database::new(vec![
            mk("PYSEC-1", &["CVE-1", "GHSA-x"], false, None),
            mk("GHSA-x", &["CVE-1"], false, Some(9.8)),
            mk("PYSEC-2", &[], true, None),
        ]);
        let found = db.vulnerabilities(Ecosystem::PyPI, "Foo", "1.0");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].advisory.id, "GHSA-x");
        assert_eq!(found[0].advisory.display_id(), "CVE-1");
        assert!(db.vulnerabilities(Ecosystem::PyPI, "foo", "2.0").is_empty());
    }
}
