//! SARIF 2.1.0, as GitHub code scanning ingests it (`--format sarif`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Report, ResultClass};
use crate::cvss::Severity;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

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
}
