//! PHP Composer's `composer.lock`: `packages` and `packages-dev`.

use serde_json::Value as Json;

use super::{Package, ParseError, json, jstr, line_of};
use crate::version::Ecosystem;

pub(super) fn parse_composer(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let mut out = Vec::new();
    for (section, dev) in [("packages", false), ("packages-dev", true)] {
        for pkg in doc
            .get(section)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let name = jstr(pkg, "name");
            if name.is_empty() {
                continue;
            }
            let version = jstr(pkg, "version").trim_start_matches('v');
            let mut p = Package::new(name, version, Ecosystem::Packagist).dev(dev);
            if let Some(src) = pkg.get("source") {
                p = p.commit(jstr(src, "reference"));
            }
            p.line = line_of(content, &format!("\"name\": \"{name}\""));
            out.push(p);
        }
    }
    Ok(out)
}
