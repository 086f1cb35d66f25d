//! sbt-dependency-lock's `build.sbt.lock` (version 1): dependencies of the `compile` or
//! `runtime` configuration, named `org:name`, located at their object (Trivy's
//! `pkg/dependency/parser/sbt/lockfile`).

use serde_json::Value as Json;

use super::jsonspan::Spans;
use super::{Package, ParseError, json, jstr};
use crate::version::Ecosystem;

pub(super) fn parse_sbt(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let spans = Spans::of(content);
    let mut out = Vec::new();
    for (i, dep) in doc
        .get("dependencies")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let shipped = dep
            .get("configurations")
            .and_then(Json::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|x| matches!(x.as_str(), Some("compile" | "runtime")))
            });
        let (org, name) = (jstr(dep, "org"), jstr(dep, "name"));
        if !shipped || org.is_empty() || name.is_empty() {
            continue;
        }
        let location = spans.get(&["dependencies", &i.to_string()]);
        out.push(
            Package::new(
                format!("{org}:{name}"),
                jstr(dep, "version"),
                Ecosystem::Maven,
            )
            .at(location),
        );
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockfile::Location;

    /// Trivy's `integration/testdata/fixtures/repo/sbt/build.sbt.lock`.
    const LOCK: &str = "{\n  \"lockVersion\" : 1,\n  \"timestamp\" : \"2024-06-06T11:03:09.964557Z\",\n  \"configurations\" : [\n    \"compile\",\n    \"optional\",\n    \"provided\",\n    \"runtime\",\n    \"test\"\n  ],\n  \"dependencies\" : [\n    {\n      \"org\" : \"com.fasterxml.jackson.core\",\n      \"name\" : \"jackson-databind\",\n      \"version\" : \"2.9.1\",\n      \"artifacts\" : [\n        {\n          \"name\" : \"jackson-databind.jar\",\n          \"hash\" : \"sha1:716da1830a2043f18882fc036ec26eb32cbe5aff\"\n        }\n      ],\n      \"configurations\" : [\n        \"compile\",\n        \"runtime\",\n        \"test\"\n      ]\n    }\n  ]\n}";

    #[test]
    fn compile_and_runtime_dependencies() {
        let pkgs = parse_sbt(LOCK).expect("parses");
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].name, "com.fasterxml.jackson.core:jackson-databind");
        assert_eq!(pkgs[0].version, "2.9.1");
        assert_eq!(pkgs[0].locations, [Location::lines(12, 27)]);
        let test_only = r#"{"dependencies": [{"org": "o", "name": "n", "version": "1", "configurations": ["test"]}]}"#;
        assert!(parse_sbt(test_only).expect("parses").is_empty());
    }
}
