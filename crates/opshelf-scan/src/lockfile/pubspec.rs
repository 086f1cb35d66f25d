//! Dart/Flutter `pubspec.lock`.

use serde_yaml_ng::Value as Yaml;

use super::{Package, ParseError, yaml, yaml_scalar, ystr};
use crate::version::Ecosystem;

pub(super) fn parse_pub(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = yaml(content)?;
    if doc.is_null() {
        return Ok(Vec::new());
    }
    if !doc.is_mapping() {
        return Err(ParseError::new(
            "could not extract from file: not a pubspec.lock",
        ));
    }
    let mut out = Vec::new();
    if let Some(pkgs) = doc.get("packages").and_then(Yaml::as_mapping) {
        for (name, info) in pkgs {
            let Some(name) = name.as_str() else { continue };
            let version = info
                .get("version")
                .and_then(yaml_scalar)
                .unwrap_or_default();
            let dev = ystr(info, "dependency") == Some("direct dev");
            let mut p = Package::new(name, version, Ecosystem::Pub).dev(dev);
            if let Some(desc) = info.get("description")
                && desc.is_mapping()
            {
                p.commit = Some(ystr(desc, "resolved-ref").unwrap_or("").to_string());
            }
            out.push(p);
        }
    }
    Ok(out)
}
