//! NuGet `packages.lock.json` (version 1).

use serde_json::Value as Json;

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
    let mut out = Vec::new();
    if let Some(frameworks) = doc.get("dependencies").and_then(Json::as_object) {
        for deps in frameworks.values().filter_map(Json::as_object) {
            for (name, info) in deps {
                let v = jstr(info, "resolved");
                if v.is_empty() {
                    continue;
                }
                out.push(Package::new(name.clone(), v, Ecosystem::NuGet));
            }
        }
    }
    dedup_packages(&mut out);
    Ok(out)
}
