//! Reports: the scan result model and its renderings — a table for people, JSON shaped like
//! Trivy's, SARIF 2.1.0 for GitHub code scanning, CycloneDX 1.5.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::cvss::Severity;
use crate::lockfile::Package;
use crate::{misconfig, secret};

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

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------------------------
// JSON (Trivy's shape)

fn vuln_json(v: &Vulnerability) -> Value {
    let mut o = json!({
        "VulnerabilityID": v.id,
        "VendorIDs": v.vendor_ids,
        "PkgID": v.pkg_id,
        "PkgName": v.pkg_name,
        "PkgIdentifier": {"PURL": v.purl},
        "InstalledVersion": v.installed_version,
        "Status": if v.fixed_version.is_empty() { "affected" } else { "fixed" },
        "Layer": layer_json(v.layer.as_ref()),
        "SeveritySource": "osv",
        "PrimaryURL": v.primary_url,
        "DataSource": {"ID": "osv", "Name": "OSV (offline import)", "URL": "https://osv.dev"},
        "Title": v.title,
        "Description": v.description,
        "Severity": v.severity.as_str(),
        "References": v.references,
    });
    if !v.fixed_version.is_empty() {
        o["FixedVersion"] = json!(v.fixed_version);
    }
    if let (Some(vector), Some(score)) = (&v.cvss_vector, v.cvss_score) {
        let (vk, sk) = if vector.starts_with("CVSS:4") {
            ("V40Vector", "V40Score")
        } else if vector.starts_with("CVSS:3") {
            ("V3Vector", "V3Score")
        } else {
            ("V2Vector", "V2Score")
        };
        o["CVSS"] = json!({"osv": {vk: vector, sk: score}});
    }
    if !v.published.is_empty() {
        o["PublishedDate"] = json!(v.published);
    }
    if !v.modified.is_empty() {
        o["LastModifiedDate"] = json!(v.modified);
    }
    o
}

fn layer_json(layer: Option<&(String, String)>) -> Value {
    match layer {
        Some((digest, diff_id)) => {
            let mut o = json!({"DiffID": diff_id});
            if !digest.is_empty() {
                o["Digest"] = json!(digest);
            }
            o
        }
        None => json!({}),
    }
}

fn secret_json(s: &secret::Finding, layer: Option<&(String, String)>) -> Value {
    let lines: Vec<Value> = s
        .code
        .iter()
        .map(|(n, content, cause)| {
            json!({
                "Number": n,
                "Content": content,
                "IsCause": cause,
                "Annotation": "",
                "Truncated": false,
                "Highlighted": content,
                "FirstCause": *cause && *n == s.start_line,
                "LastCause": *cause && *n == s.end_line,
            })
        })
        .collect();
    json!({
        "RuleID": s.rule_id,
        "Category": s.category,
        "Severity": s.severity.as_str(),
        "Title": s.title,
        "StartLine": s.start_line,
        "EndLine": s.end_line,
        "Code": {"Lines": lines},
        "Match": s.masked_match,
        "Layer": layer_json(layer),
    })
}

fn misconfig_json(m: &misconfig::Finding) -> Value {
    let ns = format!("builtin.{}.{}", m.kind.trivy_type(), m.id);
    json!({
        "Type": m.check_type(),
        "ID": m.id,
        "AVDID": m.avd_id(),
        "Title": m.title,
        "Description": m.description,
        "Message": m.message,
        "Namespace": ns,
        "Query": format!("data.{ns}.deny"),
        "Resolution": m.resolution,
        "Severity": m.severity.as_str(),
        "PrimaryURL": m.primary_url(),
        "References": [m.primary_url()],
        "Status": "FAIL",
        "Layer": {},
        "CauseMetadata": {
            "Provider": m.kind.trivy_type(),
            "Service": "general",
            "StartLine": m.start_line,
            "EndLine": m.end_line,
        },
    })
}

fn package_json(p: &Package) -> Value {
    let mut o = json!({
        "ID": pkg_id(p),
        "Name": p.name,
        "Identifier": {"PURL": purl(p)},
        "Version": p.version,
        "Dev": p.dev,
    });
    if let Some(img) = p.image.as_deref() {
        if !img.arch.is_empty() {
            o["Arch"] = json!(img.arch);
        }
        if !img.src_name.is_empty() {
            o["SrcName"] = json!(img.src_name);
            o["SrcVersion"] = json!(img.src_version);
        }
        if !img.file_path.is_empty() {
            o["FilePath"] = json!(img.file_path);
        }
        o["Layer"] = layer_json(Some(&(img.layer_digest.clone(), img.layer_diff_id.clone())));
    }
    if let Some(l) = p.line {
        o["Locations"] = json!([{"StartLine": l, "EndLine": l}]);
    }
    o
}

/// Trivy-shaped JSON.
pub fn to_json(report: &Report) -> Value {
    let mut results = Vec::new();
    for r in &report.results {
        if r.is_empty()
            && !matches!(
                r.class,
                ResultClass::Config | ResultClass::LangPkgs | ResultClass::OsPkgs
            )
        {
            continue;
        }
        let mut o = json!({"Target": r.target, "Class": r.class.as_str()});
        if r.class != ResultClass::Secret {
            o["Type"] = json!(r.kind);
        }
        if report.list_all_pkgs && !r.packages.is_empty() {
            o["Packages"] = Value::Array(r.packages.iter().map(package_json).collect());
        }
        if r.class == ResultClass::Config {
            o["MisconfSummary"] = json!({
                "Successes": r.checks_run.saturating_sub(unique_ids(&r.misconfigurations)),
                "Failures": r.misconfigurations.len(),
            });
        }
        if !r.vulnerabilities.is_empty() {
            o["Vulnerabilities"] = Value::Array(r.vulnerabilities.iter().map(vuln_json).collect());
        }
        if !r.misconfigurations.is_empty() {
            o["Misconfigurations"] =
                Value::Array(r.misconfigurations.iter().map(misconfig_json).collect());
        }
        if !r.secrets.is_empty() {
            o["Secrets"] = Value::Array(
                r.secrets
                    .iter()
                    .map(|s| secret_json(s, r.layer.as_ref()))
                    .collect(),
            );
        }
        if let Some(e) = &r.error {
            o["Error"] = json!(e);
        }
        results.push(o);
    }
    json!({
        "SchemaVersion": 2,
        "CreatedAt": report.created_at,
        "ArtifactName": report.artifact_name,
        "ArtifactType": report.artifact_type.as_str(),
        "Metadata": report.metadata.clone().unwrap_or_else(|| json!({"ImageConfig": {"architecture": "", "created": "0001-01-01T00:00:00Z", "os": "", "rootfs": {"type": "", "diff_ids": null}, "config": {}}})),
        "Results": results,
    })
}

fn unique_ids(m: &[misconfig::Finding]) -> usize {
    let mut ids: Vec<&str> = m.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

// ---------------------------------------------------------------------------------------------
// SARIF 2.1.0

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// GitHub's `security-severity` (a CVSS-like number as a string).
fn security_severity(s: Severity, score: Option<f64>) -> String {
    if let Some(v) = score {
        return format!("{v:.1}");
    }
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Unknown => "0.0",
    }
    .to_string()
}

struct SarifRule {
    id: String,
    name: String,
    short: String,
    full: String,
    help_uri: String,
    help_text: String,
    help_markdown: String,
    severity: Severity,
    score: Option<f64>,
    tag: &'static str,
}

fn fingerprint(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// SARIF 2.1.0 as GitHub code scanning ingests it.
pub fn to_sarif(report: &Report, tool_version: &str) -> Value {
    let mut rules: Vec<SarifRule> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut results: Vec<Value> = Vec::new();
    let mut rule_index = |rule: SarifRule, rules: &mut Vec<SarifRule>| -> usize {
        if let Some(&i) = index.get(&rule.id) {
            // keep the highest severity seen for a rule
            if rule.severity > rules[i].severity {
                rules[i].severity = rule.severity;
                rules[i].score = rule.score;
            }
            return i;
        }
        index.insert(rule.id.clone(), rules.len());
        rules.push(rule);
        rules.len() - 1
    };
    for r in &report.results {
        let uri = r.target.clone();
        for v in &r.vulnerabilities {
            let help = format!(
                "Vulnerability {}\nPackage: {}\nInstalled Version: {}\nFixed Version: {}\nSeverity: {}\nLink: [{}]({})\n\n{}",
                v.id,
                v.pkg_name,
                v.installed_version,
                v.fixed_version,
                v.severity,
                v.id,
                v.primary_url,
                v.description
            );
            let i = rule_index(
                SarifRule {
                    id: v.id.clone(),
                    name: if r.class == ResultClass::OsPkgs {
                        "OsPackageVulnerability".into()
                    } else {
                        "LanguageSpecificPackageVulnerability".into()
                    },
                    short: if v.title.is_empty() {
                        v.id.clone()
                    } else {
                        v.title.clone()
                    },
                    full: if v.description.is_empty() {
                        v.title.clone()
                    } else {
                        v.description.clone()
                    },
                    help_uri: v.primary_url.clone(),
                    help_text: help.clone(),
                    help_markdown: format!(
                        "**Vulnerability {}**\n| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n|{}|{}|{}|[{}]({})|\n\n{}",
                        v.id,
                        v.severity,
                        v.pkg_name,
                        v.fixed_version,
                        v.id,
                        v.primary_url,
                        v.description
                    ),
                    severity: v.severity,
                    score: v.cvss_score,
                    tag: "vulnerability",
                },
                &mut rules,
            );
            let line = v.line.unwrap_or(1);
            let msg = format!(
                "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nLink: [{}]({})",
                v.pkg_name,
                v.installed_version,
                v.id,
                v.severity,
                v.fixed_version,
                v.id,
                v.primary_url
            );
            results.push(sarif_result(
                &v.id,
                i,
                v.severity,
                &msg,
                &uri,
                line,
                line,
                &fingerprint(&[&v.id, &v.pkg_id, &uri]),
            ));
        }
        for m in &r.misconfigurations {
            let i = rule_index(
                SarifRule {
                    id: m.id.clone(),
                    name: m.check_type().replace(' ', ""),
                    short: m.title.clone(),
                    full: m.description.clone(),
                    help_uri: m.primary_url(),
                    help_text: format!(
                        "Misconfiguration {}\nType: {}\nSeverity: {}\nCheck: {}\nMessage: {}\nLink: [{}]({})\n{}",
                        m.id,
                        m.check_type(),
                        m.severity,
                        m.title,
                        m.message,
                        m.id,
                        m.primary_url(),
                        m.description
                    ),
                    help_markdown: format!(
                        "**Misconfiguration {}**\n| Type | Severity | Check | Message | Link |\n| --- | --- | --- | --- | --- |\n|{}|{}|{}|{}|[{}]({})|\n\n{}\n\nResolution: {}",
                        m.id,
                        m.check_type(),
                        m.severity,
                        m.title,
                        m.message,
                        m.id,
                        m.primary_url(),
                        m.description,
                        m.resolution
                    ),
                    severity: m.severity,
                    score: None,
                    tag: "misconfiguration",
                },
                &mut rules,
            );
            let msg = format!(
                "Artifact: {}\nType: {}\nVulnerability {}\nSeverity: {}\nMessage: {}\nLink: [{}]({})",
                uri,
                m.kind.trivy_type(),
                m.id,
                m.severity,
                m.message,
                m.id,
                m.primary_url()
            );
            results.push(sarif_result(
                &m.id,
                i,
                m.severity,
                &msg,
                &uri,
                m.start_line.max(1),
                m.end_line.max(m.start_line).max(1),
                &fingerprint(&[&m.id, &uri, &m.message]),
            ));
        }
        for s in &r.secrets {
            let i = rule_index(
                SarifRule {
                    id: s.rule_id.clone(),
                    name: "Secret".into(),
                    short: s.title.clone(),
                    full: s.title.clone(),
                    help_uri: "https://trivy.dev/latest/docs/scanner/secret/".into(),
                    help_text: format!(
                        "Secret {}\nSeverity: {}\nMatch: {}",
                        s.title, s.severity, s.masked_match
                    ),
                    help_markdown: format!(
                        "**Secret {}**\n| Severity | Match |\n| --- | --- |\n|{}|{}|",
                        s.title,
                        s.severity,
                        s.masked_match.replace('|', "\\|")
                    ),
                    severity: s.severity,
                    score: None,
                    tag: "secret",
                },
                &mut rules,
            );
            let msg = format!(
                "Artifact: {}\nType: \nSecret {}\nSeverity: {}\nMatch: {}",
                uri, s.title, s.severity, s.masked_match
            );
            results.push(sarif_result(
                &s.rule_id,
                i,
                s.severity,
                &msg,
                &uri,
                s.start_line.max(1),
                s.end_line.max(1),
                &s.fingerprint,
            ));
        }
    }
    let rules_json: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.short},
                "fullDescription": {"text": r.full},
                "defaultConfiguration": {"level": sarif_level(r.severity)},
                "helpUri": r.help_uri,
                "help": {"text": r.help_text, "markdown": r.help_markdown},
                "properties": {
                    "precision": "very-high",
                    "security-severity": security_severity(r.severity, r.score),
                    "tags": [r.tag, "security", r.severity.as_str()],
                },
            })
        })
        .collect();
    let root = if report.root_uri.ends_with('/') {
        report.root_uri.clone()
    } else {
        format!("{}/", report.root_uri)
    };
    json!({
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "fullName": "opshelf scan",
                "informationUri": "https://github.com/opshelf/opshelf",
                "name": "opshelf",
                "rules": rules_json,
                "version": tool_version,
            }},
            "results": results,
            "columnKind": "utf16CodeUnits",
            "originalUriBaseIds": {"ROOTPATH": {"uri": format!("file://{root}")}},
        }],
    })
}

#[allow(clippy::too_many_arguments)]
fn sarif_result(
    rule_id: &str,
    index: usize,
    sev: Severity,
    msg: &str,
    uri: &str,
    start: usize,
    end: usize,
    fp: &str,
) -> Value {
    json!({
        "ruleId": rule_id,
        "ruleIndex": index,
        "level": sarif_level(sev),
        "message": {"text": msg},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri, "uriBaseId": "ROOTPATH"},
                "region": {"startLine": start, "startColumn": 1, "endLine": end.max(start), "endColumn": 1},
            },
            "message": {"text": format!("{uri}: {rule_id}")},
        }],
        "partialFingerprints": {"primaryLocationLineHash": fp},
    })
}

// ---------------------------------------------------------------------------------------------
// CycloneDX 1.5

/// CycloneDX 1.5 SBOM of the packages found (vulnerabilities included).
pub fn to_cyclonedx(report: &Report, tool_version: &str) -> Value {
    let mut components = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut vulns: BTreeMap<String, (Value, Vec<String>)> = BTreeMap::new();
    for r in &report.results {
        for p in &r.packages {
            let purl = purl(p);
            if !seen.insert(purl.clone()) {
                continue;
            }
            let mut c = json!({
                "bom-ref": purl,
                "type": "library",
                "name": p.name,
                "version": p.version,
                "purl": purl,
                "properties": [
                    {"name": "aquasecurity:trivy:PkgType", "value": r.kind},
                    {"name": "opshelf:scan:FilePath", "value": r.target},
                ],
            });
            if p.dev {
                c["scope"] = json!("optional");
            }
            components.push(c);
        }
        for v in &r.vulnerabilities {
            let entry = vulns.entry(v.id.clone()).or_insert_with(|| {
                let mut o = json!({
                    "id": v.id,
                    "source": {"name": "osv", "url": v.primary_url},
                    "description": v.description,
                    "ratings": [{
                        "source": {"name": "osv"},
                        "severity": v.severity.as_str().to_ascii_lowercase(),
                    }],
                    "advisories": v.references.iter().map(|u| json!({"url": u})).collect::<Vec<_>>(),
                });
                if let (Some(vec), Some(score)) = (&v.cvss_vector, v.cvss_score) {
                    o["ratings"][0]["score"] = json!(score);
                    o["ratings"][0]["vector"] = json!(vec);
                    o["ratings"][0]["method"] = json!(if vec.starts_with("CVSS:4") {
                        "CVSSv4"
                    } else if vec.starts_with("CVSS:3.1") {
                        "CVSSv31"
                    } else if vec.starts_with("CVSS:3") {
                        "CVSSv3"
                    } else {
                        "CVSSv2"
                    });
                }
                (o, Vec::new())
            });
            if !entry.1.contains(&v.purl) {
                entry.1.push(v.purl.clone());
            }
        }
    }
    let vulnerabilities: Vec<Value> = vulns
        .into_values()
        .map(|(mut o, refs)| {
            o["affects"] = Value::Array(refs.into_iter().map(|r| json!({"ref": r})).collect());
            o
        })
        .collect();
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "version": 1,
        "metadata": {
            "timestamp": report.created_at,
            "tools": {"components": [{"type": "application", "group": "opshelf", "name": "opshelf", "version": tool_version}]},
            "component": {"bom-ref": "root", "type": if report.artifact_type == ArtifactType::ContainerImage { "container" } else { "application" }, "name": report.artifact_name},
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

// ---------------------------------------------------------------------------------------------
// table

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let w = c.lines().map(|l| l.chars().count()).max().unwrap_or(0);
            widths[i] = widths[i].max(w);
        }
    }
    let line = |l: &str, m: &str, r: &str| -> String {
        let mut s = String::from(l);
        for (i, w) in widths.iter().enumerate() {
            s.push_str(&"─".repeat(w + 2));
            s.push_str(if i + 1 == widths.len() { r } else { m });
        }
        s.push('\n');
        s
    };
    let row = |cells: &[String]| -> String {
        let mut s = String::from("│");
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).map_or("", String::as_str);
            let pad = w - c.chars().count();
            let _ = write!(s, " {c}{} │", " ".repeat(pad));
        }
        s.push('\n');
        s
    };
    let mut out = line("┌", "┬", "┐");
    out.push_str(&row(&headers
        .iter()
        .map(|h| (*h).to_string())
        .collect::<Vec<_>>()));
    for (n, r) in rows.iter().enumerate() {
        out.push_str(&line("├", "┼", "┤"));
        let _ = n;
        out.push_str(&row(r));
    }
    out.push_str(&line("└", "┴", "┘"));
    out
}

fn totals<'a>(sevs: impl Iterator<Item = &'a Severity>) -> String {
    let mut counts = [0usize; 5];
    let mut total = 0;
    for s in sevs {
        counts[*s as usize] += 1;
        total += 1;
    }
    format!(
        "Total: {total} (UNKNOWN: {}, LOW: {}, MEDIUM: {}, HIGH: {}, CRITICAL: {})",
        counts[0], counts[1], counts[2], counts[3], counts[4]
    )
}

fn clip(s: &str, n: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() <= n {
        return first.to_string();
    }
    let mut out: String = first.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The human-readable table report.
pub fn to_table(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.results {
        if r.vulnerabilities.is_empty()
            && r.secrets.is_empty()
            && r.misconfigurations.is_empty()
            && r.error.is_none()
        {
            continue;
        }
        let title = match r.class {
            ResultClass::Secret => format!("{} (secrets)", r.target),
            // the target already names the OS: `image.tar (debian 12.5)`
            ResultClass::OsPkgs => r.target.clone(),
            _ => format!("{} ({})", r.target, r.kind),
        };
        let _ = writeln!(out, "\n{title}\n{}", "=".repeat(title.chars().count()));
        if let Some(e) = &r.error {
            let _ = writeln!(out, "Error: {e}");
        }
        if !r.vulnerabilities.is_empty() {
            let _ = writeln!(
                out,
                "{}\n",
                totals(r.vulnerabilities.iter().map(|v| &v.severity))
            );
            let rows: Vec<Vec<String>> = r
                .vulnerabilities
                .iter()
                .map(|v| {
                    vec![
                        v.pkg_name.clone(),
                        v.id.clone(),
                        v.severity.to_string(),
                        if v.fixed_version.is_empty() {
                            "affected".into()
                        } else {
                            "fixed".into()
                        },
                        v.installed_version.clone(),
                        clip(&v.fixed_version, 30),
                        clip(&v.title, 60),
                    ]
                })
                .collect();
            out.push_str(&table(
                &[
                    "Library",
                    "Vulnerability",
                    "Severity",
                    "Status",
                    "Installed Version",
                    "Fixed Version",
                    "Title",
                ],
                &rows,
            ));
        }
        if !r.misconfigurations.is_empty() {
            let _ = writeln!(
                out,
                "Tests: {} (SUCCESSES: {}, FAILURES: {})",
                r.checks_run,
                r.checks_run
                    .saturating_sub(unique_ids(&r.misconfigurations)),
                r.misconfigurations.len()
            );
            let _ = writeln!(
                out,
                "Failures: {}\n",
                totals(r.misconfigurations.iter().map(|m| &m.severity))
                    .trim_start_matches("Total: ")
            );
            for m in &r.misconfigurations {
                let _ = writeln!(
                    out,
                    "{} ({}): {}\n{}\n{}\nSee {}\n  {}:{}\n",
                    m.id,
                    m.severity,
                    m.message,
                    "═".repeat(60),
                    m.title,
                    m.primary_url(),
                    r.target,
                    m.start_line
                );
            }
        }
        if !r.secrets.is_empty() {
            let _ = writeln!(out, "{}\n", totals(r.secrets.iter().map(|s| &s.severity)));
            for s in &r.secrets {
                let _ = writeln!(
                    out,
                    "{} ({}): {}\n{}",
                    s.severity,
                    s.rule_id,
                    s.title,
                    "═".repeat(60)
                );
                for (n, content, cause) in &s.code {
                    let _ = writeln!(out, "{:>4} {} {content}", n, if *cause { "[" } else { " " });
                }
                let _ = writeln!(out, "{}\n", "─".repeat(60));
            }
        }
    }
    if out.is_empty() {
        out.push_str("No findings.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Ecosystem;

    pub(crate) fn sample() -> Report {
        let pkg = Package {
            name: "django".into(),
            version: "2.2.24".into(),
            ecosystem: Ecosystem::PyPI,
            dev: false,
            commit: None,
            line: Some(3),
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

    #[test]
    fn json_has_trivy_field_names() {
        let j = to_json(&sample());
        assert_eq!(j["SchemaVersion"], 2);
        let results = j["Results"].as_array().expect("results");
        assert_eq!(results[0]["Class"], "lang-pkgs");
        assert_eq!(
            results[0]["Vulnerabilities"][0]["VulnerabilityID"],
            "CVE-2021-44420"
        );
        assert_eq!(results[0]["Vulnerabilities"][0]["FixedVersion"], "2.2.25");
        assert_eq!(
            results[0]["Vulnerabilities"][0]["PkgIdentifier"]["PURL"],
            "pkg:pypi/django@2.2.24"
        );
        assert_eq!(results[0]["Packages"][0]["Locations"][0]["StartLine"], 3);
        assert_eq!(results[1]["Misconfigurations"][0]["AVDID"], "AVD-DS-0001");
        assert_eq!(
            results[2]["Secrets"][0]["RuleID"],
            "posthog-project-api-key"
        );
        assert_eq!(results[2]["Secrets"][0]["Severity"], "LOW");
        assert!(
            !j.to_string()
                .contains("GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb")
        );
    }

    #[test]
    fn sarif_validates_against_the_schema() {
        let schema_path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/scan/spec/sarif-schema-2.1.0.json");
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(schema_path).expect("schema"))
                .expect("schema json");
        let sarif = to_sarif(&sample(), "0.1.0");
        let validator = jsonschema::validator_for(&schema).expect("compile schema");
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        // GitHub code scanning specifics
        let run = &sarif["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        assert!(
            rules
                .iter()
                .all(|r| r["properties"]["security-severity"].is_string())
        );
        assert!(rules.iter().all(|r| r["help"]["markdown"].is_string()));
        let results = run["results"].as_array().expect("results");
        assert!(
            results
                .iter()
                .all(|r| r["partialFingerprints"]["primaryLocationLineHash"].is_string())
        );
        assert!(results.iter().all(|r| {
            r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() >= Some(1)
        }));
        let levels: Vec<&str> = results.iter().filter_map(|r| r["level"].as_str()).collect();
        assert!(levels.contains(&"error") && levels.contains(&"note"));
        // broken SARIF is rejected by the same validator (the test can fail)
        let mut broken = sarif.clone();
        broken["runs"][0]["results"][0]["level"] = json!("fatal");
        assert!(validator.iter_errors(&broken).next().is_some());
    }

    #[test]
    fn cyclonedx_lists_components() {
        let c = to_cyclonedx(&sample(), "0.1.0");
        assert_eq!(c["specVersion"], "1.5");
        assert_eq!(c["components"][0]["purl"], "pkg:pypi/django@2.2.24");
        assert_eq!(
            c["vulnerabilities"][0]["affects"][0]["ref"],
            "pkg:pypi/django@2.2.24"
        );
    }

    #[test]
    fn table_renders() {
        let t = to_table(&sample());
        assert!(t.contains("requirements.txt (pip)"));
        assert!(t.contains("CVE-2021-44420"));
        assert!(t.contains("Total: 1 (UNKNOWN: 0, LOW: 0, MEDIUM: 0, HIGH: 1, CRITICAL: 0)"));
        assert!(!t.contains("GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb"));
    }
}
