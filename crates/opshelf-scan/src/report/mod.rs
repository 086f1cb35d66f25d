//! Reports: the scan result model and its renderings — a table for people ([`table`]), JSON
//! shaped like Trivy's ([`json`]), SARIF 2.1.0 for GitHub code scanning ([`sarif`]),
//! CycloneDX 1.5 ([`cyclonedx`]). This file holds what they share: the model, purls and IDs.

use serde_json::Value;

use crate::cvss::Severity;
use crate::lockfile::Package;
use crate::{misconfig, secret};

mod cyclonedx;
mod json;
mod sarif;
mod table;

pub use cyclonedx::to_cyclonedx;
pub use json::to_json;
pub use sarif::to_sarif;
pub use table::to_table;

/// Output formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Sarif,
    CycloneDx,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "cyclonedx" => Some(Format::CycloneDx),
            _ => None,
        }
    }
}

/// Trivy's result classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResultClass {
    OsPkgs,
    LangPkgs,
    Config,
    Secret,
}

impl ResultClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultClass::OsPkgs => "os-pkgs",
            ResultClass::LangPkgs => "lang-pkgs",
            ResultClass::Config => "config",
            ResultClass::Secret => "secret",
        }
    }
}

/// One vulnerability of one package.
#[derive(Debug, Clone, PartialEq)]
pub struct Vulnerability {
    pub id: String,
    /// The advisory's own ID and aliases (other than `id`).
    pub vendor_ids: Vec<String>,
    pub pkg_name: String,
    pub pkg_id: String,
    pub purl: String,
    pub installed_version: String,
    pub fixed_version: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub primary_url: String,
    pub references: Vec<String>,
    pub cvss_vector: Option<String>,
    pub cvss_score: Option<f64>,
    pub published: String,
    pub modified: String,
    pub line: Option<usize>,
    /// Image scans: the layer (`Digest`, `DiffID`) that brought the package.
    pub layer: Option<(String, String)>,
}

/// Everything found in one file.
#[derive(Debug, Clone)]
pub struct ScanResult {
    pub target: String,
    pub class: ResultClass,
    pub kind: String,
    pub packages: Vec<Package>,
    pub vulnerabilities: Vec<Vulnerability>,
    pub secrets: Vec<secret::Finding>,
    pub misconfigurations: Vec<misconfig::Finding>,
    /// Number of checks run on a config file (for `MisconfSummary`).
    pub checks_run: usize,
    pub error: Option<String>,
    /// Image scans: the layer (`Digest`, `DiffID`) of the file (secrets).
    pub layer: Option<(String, String)>,
}

impl ScanResult {
    pub fn new(target: &str, class: ResultClass, kind: &str) -> Self {
        ScanResult {
            target: target.to_string(),
            class,
            kind: kind.to_string(),
            packages: Vec::new(),
            vulnerabilities: Vec::new(),
            secrets: Vec::new(),
            misconfigurations: Vec::new(),
            checks_run: 0,
            error: None,
            layer: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.vulnerabilities.is_empty()
            && self.secrets.is_empty()
            && self.misconfigurations.is_empty()
            && self.packages.is_empty()
            && self.error.is_none()
    }
}

/// What was scanned (Trivy's `ArtifactType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactType {
    Filesystem,
    ContainerImage,
}

impl ArtifactType {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactType::Filesystem => "filesystem",
            ArtifactType::ContainerImage => "container_image",
        }
    }
}

/// A whole scan.
#[derive(Debug, Clone)]
pub struct Report {
    pub artifact_name: String,
    pub artifact_type: ArtifactType,
    /// Trivy's `Metadata` object; `None` prints the empty filesystem form.
    pub metadata: Option<Value>,
    /// Absolute path of the scanned root (SARIF's `ROOTPATH`).
    pub root_uri: String,
    pub created_at: String,
    pub results: Vec<ScanResult>,
    pub list_all_pkgs: bool,
}

impl Report {
    /// Counts of findings at or above each severity (for exit codes and summaries).
    pub fn count(&self) -> usize {
        self.results
            .iter()
            .map(|r| r.vulnerabilities.len() + r.secrets.len() + r.misconfigurations.len())
            .sum()
    }
}

/// Package URL for a package (OS packages: `pkg:deb/debian/bash@5.2-15?arch=amd64&distro=debian-12.5`).
pub fn purl(p: &Package) -> String {
    let t = p.ecosystem.purl_type();
    if let Some(img) = p.image.as_deref()
        && !img.namespace.is_empty()
    {
        let mut q = Vec::new();
        if !img.arch.is_empty() {
            q.push(format!("arch={}", img.arch));
        }
        if !img.distro.is_empty() {
            q.push(format!("distro={}", img.distro));
        }
        let name = p.name.replace('+', "%2B");
        let version = p.version.replace(':', "%3A").replace('+', "%2B");
        let qs = if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        };
        return format!("pkg:{t}/{}/{name}@{version}{qs}", img.namespace);
    }
    let name = match p.ecosystem {
        crate::version::Ecosystem::Maven => p.name.replacen(':', "/", 1),
        // the purl spec's pypi rule (Trivy prints `pkg:pypi/werkzeug@0.11` for `Werkzeug`)
        crate::version::Ecosystem::PyPI => p.name.to_ascii_lowercase().replace('_', "-"),
        _ => p.name.replace('@', "%40"),
    };
    if p.version.is_empty() {
        format!("pkg:{t}/{name}")
    } else {
        // `+` is percent-encoded in purl versions (`v2.7.1%2Bincompatible`, as Trivy prints)
        format!("pkg:{t}/{name}@{}", p.version.replace('+', "%2B"))
    }
}

/// Trivy's package ID (`name@version`, Maven `group:artifact:version`).
pub fn pkg_id(p: &Package) -> String {
    match p.ecosystem {
        crate::version::Ecosystem::Maven => format!("{}:{}", p.name, p.version),
        _ => format!("{}@{}", p.name, p.version),
    }
}

/// Renders a report in `format` (`tool_version` goes into SARIF and CycloneDX).
pub fn render(report: &Report, format: Format, tool_version: &str) -> String {
    match format {
        Format::Table => to_table(report),
        Format::Json => pretty(&to_json(report)),
        Format::Sarif => pretty(&to_sarif(report, tool_version)),
        Format::CycloneDx => pretty(&to_cyclonedx(report, tool_version)),
    }
}

/// Number of distinct check IDs among the findings (`MisconfSummary`).
fn unique_ids(m: &[misconfig::Finding]) -> usize {
    let mut ids: Vec<&str> = m.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// The report every format's tests render.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::version::Ecosystem;

    pub(crate) fn sample() -> Report {
        let pkg = Package {
            name: "django".into(),
            version: "2.2.24".into(),
            ecosystem: Ecosystem::PyPI,
            dev: false,
            commit: None,
            locations: vec![crate::lockfile::Location::line(3)],
            project: false,
            image: None,
        };
        let mut r = ScanResult::new("requirements.txt", ResultClass::LangPkgs, "pip");
        r.vulnerabilities.push(Vulnerability {
            id: "CVE-2021-44420".into(),
            vendor_ids: vec!["PYSEC-2021-439".into()],
            pkg_name: "django".into(),
            pkg_id: pkg_id(&pkg),
            purl: purl(&pkg),
            installed_version: "2.2.24".into(),
            fixed_version: "2.2.25".into(),
            severity: Severity::High,
            title: "Potential bypass of an upstream access control".into(),
            description: "In Django 2.2 before 2.2.25 ...".into(),
            primary_url: "https://osv.dev/vulnerability/PYSEC-2021-439".into(),
            references: vec!["https://docs.djangoproject.com/en/3.2/releases/security/".into()],
            cvss_vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L".into()),
            cvss_score: Some(7.3),
            published: "2021-12-08T00:00:00Z".into(),
            modified: "2021-12-10T00:00:00Z".into(),
            line: Some(3),
            layer: None,
        });
        r.packages.push(pkg);
        let mut d = ScanResult::new("Dockerfile", ResultClass::Config, "dockerfile");
        d.misconfigurations = misconfig::scan(
            misconfig::FileKind::Dockerfile,
            "FROM alpine\nRUN apk add curl\n",
        )
        .expect("scan");
        d.checks_run = 12;
        let mut s = ScanResult::new("docs/roadmap.md", ResultClass::Secret, "");
        s.secrets = secret::Scanner::builtin().scan(
            "docs/roadmap.md",
            "key: phc_GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb\n",
        );
        Report {
            artifact_name: ".".into(),
            artifact_type: ArtifactType::Filesystem,
            metadata: None,
            root_uri: "/src/app".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            results: vec![r, d, s],
            list_all_pkgs: true,
        }
    }
}
