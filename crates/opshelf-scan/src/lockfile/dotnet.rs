//! .NET `*.deps.json` (Trivy's `dotnet-core`, `pkg/dependency/parser/dotnet/core_deps`):
//! `libraries` of type `package`, `project` or `runtimepack` (the `runtimepack.` prefix
//! dropped); with the runtime target's `targets` section present, libraries without `runtime`,
//! `runtimeTargets` or `native` assets are not shipped and not listed. Projects (Trivy's root
//! and workspace packages) are listed, not matched to advisories.

use serde_json::Value as Json;

use super::jsonspan::Spans;
use super::{Package, ParseError, json, jstr};
use crate::version::Ecosystem;

const RUNTIME_PACK: &str = "runtimepack.";

fn strip_pack(key: &str) -> &str {
    key.strip_prefix(RUNTIME_PACK).unwrap_or(key)
}

pub(super) fn parse_deps_json(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let spans = Spans::of(content);
    let runtime_target = doc
        .get("runtimeTarget")
        .map(|t| jstr(t, "name"))
        .unwrap_or("");
    let targets = doc
        .get("targets")
        .and_then(|t| t.get(runtime_target))
        .and_then(Json::as_object);
    let present = |lib: &Json, key: &str| lib.get(key).is_some_and(|v| !v.is_null());
    let mut out = Vec::new();
    let Some(libraries) = doc.get("libraries").and_then(Json::as_object) else {
        return Ok(out);
    };
    for (key, lib) in libraries {
        let Some((name, version)) = key.split_once('/') else {
            continue;
        };
        let kind = jstr(lib, "type").to_ascii_lowercase();
        if !matches!(kind.as_str(), "package" | "project" | "runtimepack") {
            continue;
        }
        let name = strip_pack(name);
        let id = format!("{name}/{version}");
        if let Some(targets) = targets {
            let target = targets
                .iter()
                .find(|(k, _)| strip_pack(k) == id)
                .map(|(_, v)| v);
            // a library the target does not mention is kept, as Trivy keeps it
            if let Some(t) = target
                && !(present(t, "runtime") || present(t, "runtimeTargets") || present(t, "native"))
            {
                continue;
            }
        }
        let mut p =
            Package::new(name, version, Ecosystem::NuGet).at(spans.get(&["libraries", key]));
        p.project = kind == "project";
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockfile::Location;

    /// Trivy's `pkg/dependency/parser/dotnet/core_deps/testdata/ExampleApp1.deps.json`.
    const EXAMPLE_APP: &str = "{\n    \"runtimeTarget\": {\n      \"name\": \".NETCoreApp,Version=v5.0\",\n      \"signature\": \"\"\n    },\n    \"compilationOptions\": {},\n    \"targets\": {\n      \".NETCoreApp,Version=v5.0\": {\n        \"ExampleApp1/1.0.0\": {\n          \"dependencies\": {\n            \"Newtonsoft.Json\": \"13.0.1\"\n          },\n          \"runtime\": {\n            \"ExampleApp1.dll\": {}\n          }\n        },\n        \"Newtonsoft.Json/13.0.1\": {\n          \"runtime\": {\n            \"lib/netstandard2.0/Newtonsoft.Json.dll\": {\n              \"assemblyVersion\": \"13.0.0.0\",\n              \"fileVersion\": \"13.0.1.25517\"\n            }\n          }\n        }\n      }\n    },\n    \"libraries\": {\n      \"ExampleApp1/1.0.0\": {\n        \"type\": \"project\",\n        \"serviceable\": false,\n        \"sha512\": \"\"\n      },\n      \"Newtonsoft.Json/13.0.1\": {\n        \"type\": \"package\",\n        \"serviceable\": true,\n        \"sha512\": \"sha512-ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A==\",\n        \"path\": \"newtonsoft.json/13.0.1\",\n        \"hashPath\": \"newtonsoft.json.13.0.1.nupkg.sha512\"\n      }\n    }\n  }";

    #[test]
    fn libraries_with_their_objects() {
        let pkgs = parse_deps_json(EXAMPLE_APP).expect("parses");
        let got: Vec<(&str, &str, bool, Vec<Location>)> = pkgs
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.project,
                    p.locations.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ExampleApp1", "1.0.0", true, vec![Location::lines(28, 32)]),
                (
                    "Newtonsoft.Json",
                    "13.0.1",
                    false,
                    vec![Location::lines(33, 39)]
                ),
            ]
        );
    }

    #[test]
    fn libraries_without_runtime_assets_are_not_listed() {
        let doc = r#"{"runtimeTarget": {"name": "t"},
            "targets": {"t": {"A/1.0.0": {"dependencies": {"B": "2.0.0"}, "runtime": {}},
                              "B/2.0.0": {"compile": {"ref/B.dll": {}}},
                              "runtimepack.R/8.0.0": {"native": {"x.so": {}}}}},
            "libraries": {"A/1.0.0": {"type": "project"}, "B/2.0.0": {"type": "package"},
                          "C/3.0.0": {"type": "package"}, "D/4.0.0": {"type": "reference"},
                          "runtimepack.R/8.0.0": {"type": "runtimepack"}, "bad": {"type": "package"}}}"#;
        let names: Vec<String> = parse_deps_json(doc)
            .expect("parses")
            .into_iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        // B has compile assets only; C is not in the target (kept); D is no package
        assert_eq!(names, ["A@1.0.0", "C@3.0.0", "R@8.0.0"]);
    }
}
