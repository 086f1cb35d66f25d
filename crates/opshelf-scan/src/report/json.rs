//! Trivy's JSON report (`--format json`, `SchemaVersion` 2).

use serde_json::{Value, json};

use super::{Report, ResultClass, Vulnerability, pkg_id, purl, unique_ids};
use crate::lockfile::Package;
use crate::{misconfig, secret};

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
    if !p.locations.is_empty() {
        let locations: Vec<Value> = p
            .locations
            .iter()
            .map(|l| json!({"StartLine": l.start_line, "EndLine": l.end_line}))
            .collect();
        o["Locations"] = Value::Array(locations);
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
        // Trivy's language scanner reports a lockfile only for its vulnerabilities, unless the
        // packages are listed (`pkg/scanner/langpkg/scan.go`)
        if r.class == ResultClass::LangPkgs
            && r.vulnerabilities.is_empty()
            && r.error.is_none()
            && (!report.list_all_pkgs || r.packages.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

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
}
