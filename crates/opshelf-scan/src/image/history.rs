//! Misconfigurations from the image config, as Trivy's image-config ("history") analyzer does:
//! the history's `created_by` lines become a Dockerfile (after the base image's layers), the
//! config's `User` is appended, and the Dockerfile checks run on it (DS002 root user, DS026 no
//! HEALTHCHECK, ...); DS007 and DS016 are disabled for history, as in Trivy.

use serde_json::Value;

use crate::misconfig::{self, FileKind, Finding};

/// Checks Trivy disables for image history (multiple ENTRYPOINT / CMD are normal there).
const DISABLED: [&str; 2] = ["DS007", "DS016"];

/// Index of the last history entry of the base image, or `None`: the base image's history
/// ends with its `CMD` / `ENTRYPOINT` (an empty layer), the first one met walking back from
/// the end after at least one layer-creating entry.
fn base_image_end(history: &[Value]) -> Option<usize> {
    let mut seen_layer = false;
    for (i, h) in history.iter().enumerate().rev() {
        let empty = h["empty_layer"].as_bool().unwrap_or(false);
        let by = h["created_by"].as_str().unwrap_or("");
        if !empty {
            seen_layer = true;
            continue;
        }
        if seen_layer
            && (by.contains(" CMD ")
                || by.contains(" ENTRYPOINT ")
                || by.starts_with("CMD ")
                || by.starts_with("ENTRYPOINT "))
        {
            return Some(i);
        }
    }
    None
}

/// Strips `|key=value` build metadata (Buildah) from a history line.
fn strip_build_metadata(line: &str) -> String {
    line.split(' ')
        .map(|w| match w.find('|') {
            Some(i) if w[i..].contains('=') => &w[..i],
            _ => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn healthcheck(cfg: &Value) -> String {
    let h = &cfg["config"]["Healthcheck"];
    let test: Vec<&str> = h["Test"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    format!("HEALTHCHECK {}", test.join(" ").replace("CMD-SHELL", "CMD"))
}

/// The Dockerfile Trivy reconstructs from an image config.
pub fn dockerfile(cfg: &Value) -> String {
    let history: Vec<Value> = cfg["history"].as_array().cloned().unwrap_or_default();
    let start = base_image_end(&history).map_or(0, |i| i + 1);
    let mut out = String::new();
    for h in history.iter().skip(start) {
        let by = h["created_by"].as_str().unwrap_or("");
        let line = if let Some(rest) = by.strip_prefix("/bin/sh -c #(nop)") {
            rest.trim().to_string()
        } else if let Some(rest) = by.strip_prefix("/bin/sh -c") {
            format!("RUN{rest}")
        } else if let Some(rest) = by.strip_suffix("# buildkit") {
            match rest.find("/bin/sh -c") {
                Some(i) => format!("RUN{}", &rest[i + "/bin/sh -c".len()..]),
                None => rest.to_string(),
            }
        } else if by.starts_with("HEALTHCHECK") {
            healthcheck(cfg)
        } else if by.starts_with("USER")
            || by.starts_with("ENV")
            || by.starts_with("ARG")
            || by.starts_with("ENTRYPOINT")
        {
            by.to_string()
        } else {
            String::new()
        };
        let line = strip_build_metadata(&line);
        out.push_str(line.trim());
        out.push('\n');
    }
    // a config without history entries for it still has a healthcheck
    if cfg["config"]["Healthcheck"].is_object() && !out.contains("HEALTHCHECK") {
        out.push_str(&healthcheck(cfg));
        out.push('\n');
    }
    if let Some(user) = cfg["config"]["User"].as_str()
        && !user.is_empty()
    {
        out.push_str("USER ");
        out.push_str(user);
    }
    out
}

/// Findings of the Dockerfile checks on the reconstructed Dockerfile, and the checks run.
pub fn check(cfg: &Value) -> (Vec<Finding>, usize) {
    let text = dockerfile(cfg);
    let found = misconfig::scan(FileKind::Dockerfile, &text)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| !DISABLED.contains(&f.id.as_str()))
        .collect();
    let run = misconfig::CHECKS
        .iter()
        .filter(|c| c.kind == FileKind::Dockerfile && !DISABLED.contains(&c.id))
        .count();
    (found, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_user_and_no_healthcheck() {
        let cfg: Value = serde_json::from_str(
            r#"{"config":{"Cmd":["bash"]},"history":[
                {"created_by":"/bin/sh -c #(nop) ADD file:abc in / "},
                {"created_by":"/bin/sh -c #(nop)  CMD [\"bash\"]","empty_layer":true},
                {"created_by":"RUN /bin/sh -c apt-get update # buildkit"},
                {"created_by":"CMD [\"app\"]","empty_layer":true}]}"#,
        )
        .expect("json");
        let d = dockerfile(&cfg);
        assert!(d.starts_with("RUN apt-get update"), "{d}");
        let (found, run) = check(&cfg);
        let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
        assert!(ids.contains(&"DS002"), "{ids:?}");
        assert!(ids.contains(&"DS026"), "{ids:?}");
        assert!(run > 2);

        let ok: Value = serde_json::from_str(
            r#"{"config":{"User":"app","Healthcheck":{"Test":["CMD-SHELL","curl -f localhost"]}},"history":[]}"#,
        )
        .expect("json");
        let (found, _) = check(&ok);
        let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
        assert!(
            !ids.contains(&"DS002") && !ids.contains(&"DS026"),
            "{ids:?}"
        );
    }
}
