//! Kubernetes basics (Trivy's KSV IDs) for pod specs of Pods, workloads and CronJobs, in
//! multi-document YAML.

use serde_yaml_ng::Value as Yaml;

use super::{Finding, finding, image_untagged_or_latest, line_of_key};

fn pod_spec(doc: &Yaml) -> Option<&Yaml> {
    let kind = doc.get("kind").and_then(Yaml::as_str)?;
    let spec = doc.get("spec")?;
    match kind {
        "Pod" => Some(spec),
        "CronJob" => spec
            .get("jobTemplate")?
            .get("spec")?
            .get("template")?
            .get("spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => spec.get("template")?.get("spec"),
        _ => None,
    }
}

pub(super) fn kubernetes(content: &str) -> Result<Vec<Finding>, String> {
    use serde::Deserialize;
    let mut out = Vec::new();
    // documents and their first lines
    let mut doc_lines = vec![1usize];
    for (i, l) in content.lines().enumerate() {
        if l.trim_end() == "---" {
            doc_lines.push(i + 2);
        }
    }
    for (n, de) in serde_yaml_ng::Deserializer::from_str(content).enumerate() {
        let doc = Yaml::deserialize(de).map_err(|e| e.to_string())?;
        let base = doc_lines.get(n).copied().unwrap_or(1);
        let Some(spec) = pod_spec(&doc) else { continue };
        let kind = doc.get("kind").and_then(Yaml::as_str).unwrap_or("");
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Yaml::as_str)
            .unwrap_or("");
        let at = |key: &str| line_of_key(content, base, key);
        let flag = |key: &str| spec.get(key).and_then(Yaml::as_bool) == Some(true);
        for (key, id) in [
            ("hostIPC", "KSV008"),
            ("hostNetwork", "KSV009"),
            ("hostPID", "KSV010"),
        ] {
            if flag(key) {
                out.push(finding(
                    id,
                    format!("{kind} '{name}' should not set '{key}' to true"),
                    at(key),
                    at(key),
                ));
            }
        }
        if let Some(vols) = spec.get("volumes").and_then(Yaml::as_sequence)
            && vols.iter().any(|v| v.get("hostPath").is_some())
        {
            out.push(finding(
                "KSV023",
                format!("{kind} '{name}' should not set 'spec.template.volumes.hostPath'"),
                at("hostPath"),
                at("hostPath"),
            ));
        }
        let pod_sc = spec.get("securityContext");
        let pod_non_root = pod_sc
            .and_then(|s| s.get("runAsNonRoot"))
            .and_then(Yaml::as_bool)
            == Some(true);
        let seccomp_ok = |sc: Option<&Yaml>| -> Option<bool> {
            let t = sc?.get("seccompProfile")?.get("type")?.as_str()?;
            Some(t == "RuntimeDefault" || t == "Localhost")
        };
        let pod_seccomp = seccomp_ok(pod_sc);
        let annotations_ok = doc
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("seccomp.security.alpha.kubernetes.io/pod"))
            .and_then(Yaml::as_str)
            .is_some_and(|v| v == "runtime/default" || v == "docker/default");
        let containers = ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .filter_map(|k| spec.get(*k).and_then(Yaml::as_sequence))
            .flatten();
        for c in containers {
            let cname = c.get("name").and_then(Yaml::as_str).unwrap_or("");
            let cline = line_of_key(content, base, &format!("name: {cname}"));
            let sc = c.get("securityContext");
            let scb = |k: &str| sc.and_then(|s| s.get(k)).and_then(Yaml::as_bool);
            if scb("allowPrivilegeEscalation") != Some(false) {
                out.push(finding("KSV001", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.allowPrivilegeEscalation' to false"), cline, cline));
            }
            let drops_all = sc
                .and_then(|s| s.get("capabilities"))
                .and_then(|c| c.get("drop"))
                .and_then(Yaml::as_sequence)
                .is_some_and(|d| {
                    d.iter()
                        .filter_map(Yaml::as_str)
                        .any(|x| x.eq_ignore_ascii_case("all"))
                });
            if !drops_all {
                out.push(finding("KSV003", format!("Container '{cname}' of {kind} '{name}' should add 'ALL' to 'securityContext.capabilities.drop'"), cline, cline));
            }
            let limits = c.get("resources").and_then(|r| r.get("limits"));
            if limits.and_then(|l| l.get("cpu")).is_none() {
                out.push(finding(
                    "KSV011",
                    format!(
                        "Container '{cname}' of {kind} '{name}' should set 'resources.limits.cpu'"
                    ),
                    cline,
                    cline,
                ));
            }
            if limits.and_then(|l| l.get("memory")).is_none() {
                out.push(finding("KSV018", format!("Container '{cname}' of {kind} '{name}' should set 'resources.limits.memory'"), cline, cline));
            }
            let non_root = match scb("runAsNonRoot") {
                Some(v) => v,
                None => pod_non_root,
            };
            if !non_root {
                out.push(finding("KSV012", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.runAsNonRoot' to true"), cline, cline));
            }
            let image = c.get("image").and_then(Yaml::as_str).unwrap_or("");
            if !image.is_empty() && image_untagged_or_latest(image) {
                out.push(finding(
                    "KSV013",
                    format!("Container '{cname}' of {kind} '{name}' should specify an image tag"),
                    cline,
                    cline,
                ));
            }
            if scb("readOnlyRootFilesystem") != Some(true) {
                out.push(finding("KSV014", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.readOnlyRootFilesystem' to true"), cline, cline));
            }
            if scb("privileged") == Some(true) {
                out.push(finding("KSV017", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.privileged' to false"), cline, cline));
            }
            let seccomp = match seccomp_ok(sc) {
                Some(v) => v,
                None => pod_seccomp.unwrap_or(annotations_ok),
            };
            if !seccomp {
                out.push(finding("KSV030", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.seccompProfile.type' to 'RuntimeDefault'"), cline, cline));
            }
        }
    }
    Ok(out)
}
