//! NuGet `packages.lock.json` (version 1); a package's location is its object (Trivy's nuget
//! lock parser), one per target framework that locks it.

use serde_json::Value as Json;

use super::jsonspan::Spans;
use super::{Package, ParseError, dedup_packages, json, jstr};
use crate::version::Ecosystem;

pub(super) fn parse_nuget(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let version = doc.get("version").and_then(Json::as_i64).unwrap_or(0);
    if version != 1 {
        return Err(ParseError::new(format!(
            "unsupported lock file version {version}"
        )));
    }
    let spans = Spans::of(content);
    let mut out = Vec::new();
    if let Some(frameworks) = doc.get("dependencies").and_then(Json::as_object) {
        for (framework, deps) in frameworks {
            let Some(deps) = deps.as_object() else {
                continue;
            };
            for (name, info) in deps {
                let v = jstr(info, "resolved");
                if v.is_empty() {
                    continue;
                }
                let location = spans.get(&["dependencies", framework, name]);
                out.push(Package::new(name.clone(), v, Ecosystem::NuGet).at(location));
            }
        }
    }
    dedup_packages(&mut out);
    Ok(out)
}
