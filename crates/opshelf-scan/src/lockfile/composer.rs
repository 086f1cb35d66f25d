//! PHP Composer's `composer.lock`: `packages` and `packages-dev`; a package's location is its
//! object in the array (Trivy's composer parser).

use serde_json::Value as Json;

use super::jsonspan::Spans;
use super::{Package, ParseError, json, jstr};
use crate::version::Ecosystem;

pub(super) fn parse_composer(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let spans = Spans::of(content);
    let mut out = Vec::new();
    for (section, dev) in [("packages", false), ("packages-dev", true)] {
        for (i, pkg) in doc
            .get(section)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
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
            p = p.at(spans.get(&[section, &i.to_string()]));
            out.push(p);
        }
    }
    Ok(out)
}
