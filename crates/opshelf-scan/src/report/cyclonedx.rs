//! CycloneDX 1.5 SBOM (`--format cyclonedx`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ArtifactType, Report, purl};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

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
}
