//! `yarn.lock`: the classic (v1) text format and Berry's YAML (`__metadata:`), and Trivy's use of
//! the `package.json` beside it: the project itself is listed (no location), packages reachable
//! only from `devDependencies` are dev, and packages reachable from neither are dropped
//! (`pkg/fanal/analyzer/language/nodejs/yarn/yarn.go`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::{
    Location, Package, ParseError, commit_from_url, split_name_at, yaml, yaml_scalar, ystr,
};
use crate::version::Ecosystem;

/// One lockfile entry with what the `package.json` walk needs.
struct Entry {
    package: Package,
    /// `name@range` keys of the entry (`npm:` dropped from the range).
    specifiers: Vec<String>,
    /// `(name, range)` dependencies.
    dependencies: Vec<(String, String)>,
}

/// `name@npm:^1.0` and `name@^1.0` are the same request.
fn specifier(name: &str, range: &str) -> String {
    format!("{name}@{}", range.trim_start_matches("npm:"))
}

pub(super) fn parse_yarn(
    content: &str,
    manifest: Option<&str>,
) -> Result<Vec<Package>, ParseError> {
    let entries = if content.contains("__metadata:") {
        parse_berry(content)?
    } else {
        parse_classic(content)
    };
    let Some(manifest) = manifest.and_then(|m| serde_json::from_str::<Json>(m).ok()) else {
        return Ok(entries.into_iter().map(|e| e.package).collect());
    };
    Ok(apply_manifest(entries, &manifest))
}

/// Lines of an entry: from its key line to its last non-blank line.
fn block_end(lines: &[&str], start: usize) -> usize {
    let mut end = start;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if line.trim().is_empty() || !line.starts_with(' ') {
            break;
        }
        end = i;
    }
    end
}

fn parse_classic(content: &str) -> Vec<Entry> {
    let lines: Vec<&str> = content.lines().collect();
    let mut out: Vec<Entry> = Vec::new();
    let mut in_deps = false;
    let mut resolved = String::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            finish_classic(out.last_mut(), &resolved);
            resolved.clear();
            in_deps = false;
            let keys: Vec<&str> = line
                .trim_end_matches(':')
                .split(", ")
                .map(|k| k.trim_matches('"'))
                .collect();
            let (mut name, range) = split_name_at(keys.first().copied().unwrap_or(""));
            if let Some(real) = range.strip_prefix("npm:") {
                // alias: the real package name follows npm:
                let (real_name, _) = split_name_at(real);
                if !real_name.is_empty() {
                    name = real_name;
                }
            }
            let mut package = Package::new(name, "", Ecosystem::Npm);
            package.locations = vec![Location::lines(i + 1, block_end(&lines, i) + 1)];
            let specifiers = keys
                .iter()
                .map(|k| {
                    let (n, r) = split_name_at(k);
                    specifier(n, r)
                })
                .collect();
            out.push(Entry {
                package,
                specifiers,
                dependencies: Vec::new(),
            });
            continue;
        }
        let Some(entry) = out.last_mut() else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent <= 2 {
            in_deps = t == "dependencies:" || t == "optionalDependencies:";
        }
        if in_deps && indent > 2 {
            let (dep, range) = t.split_once(' ').unwrap_or((t, ""));
            entry.dependencies.push((
                dep.trim_matches('"').to_string(),
                range.trim().trim_matches('"').to_string(),
            ));
            continue;
        }
        let t = t
            .strip_prefix('"')
            .map_or(t.to_string(), |rest| rest.replacen('"', "", 1));
        if let Some(v) = t.strip_prefix("version ") {
            entry.package.version = v.trim_matches('"').to_string();
        } else if let Some(r) = t.strip_prefix("resolved ") {
            resolved = r.trim_matches('"').to_string();
        }
    }
    finish_classic(out.last_mut(), &resolved);
    out
}

fn finish_classic(entry: Option<&mut Entry>, resolved: &str) {
    let Some(entry) = entry else { return };
    let commit = commit_from_url(resolved);
    if resolved.starts_with("file:") || commit.is_some() || resolved.contains("git") {
        entry.package.commit = Some(commit.unwrap_or_default());
    }
}

fn parse_berry(content: &str) -> Result<Vec<Entry>, ParseError> {
    let doc = yaml(content)?;
    let Some(map) = doc.as_mapping() else {
        return Ok(Vec::new());
    };
    let lines: Vec<&str> = content.lines().collect();
    let mut out = Vec::new();
    for (key, info) in map {
        let Some(key) = key.as_str() else { continue };
        if key == "__metadata" {
            continue;
        }
        let version = info
            .get("version")
            .and_then(yaml_scalar)
            .unwrap_or_default();
        let resolution = ystr(info, "resolution").unwrap_or("");
        let (name, rest) = split_name_at(resolution);
        let keys: Vec<&str> = key.split(", ").map(|k| k.trim_matches('"')).collect();
        let mut name = name.to_string();
        if name.is_empty() {
            name = split_name_at(keys.first().copied().unwrap_or(""))
                .0
                .to_string();
        }
        let mut package = Package::new(name, version, Ecosystem::Npm);
        if let Some(c) = commit_from_url(rest) {
            package.commit = Some(c);
        } else if rest.starts_with("file:") || rest.contains(".git") {
            package.commit = Some(String::new());
        }
        let start = lines.iter().position(|l| {
            l.strip_suffix(':')
                .is_some_and(|k| k.trim_matches('"') == key)
        });
        if let Some(start) = start {
            package.locations = vec![Location::lines(start + 1, block_end(&lines, start) + 1)];
        }
        let mut dependencies = Vec::new();
        for section in ["dependencies", "optionalDependencies"] {
            if let Some(deps) = info.get(section).and_then(|d| d.as_mapping()) {
                for (dep, range) in deps {
                    if let (Some(dep), Some(range)) = (dep.as_str(), yaml_scalar(range)) {
                        dependencies.push((dep.to_string(), range));
                    }
                }
            }
        }
        out.push(Entry {
            package,
            specifiers: keys
                .iter()
                .map(|k| {
                    let (n, r) = split_name_at(k);
                    specifier(n, r)
                })
                .collect(),
            dependencies,
        });
    }
    Ok(out)
}

/// The entries reachable from `direct` (`name -> range`).
fn reachable(
    entries: &[Entry],
    by_spec: &BTreeMap<String, usize>,
    direct: &[(String, String)],
) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<usize> = Vec::new();
    for (name, range) in direct {
        if let Some(&i) = by_spec.get(&specifier(name, range)) {
            stack.push(i);
        } else {
            // a range written differently from the lockfile key: the only entry of that name
            let same_name: Vec<usize> = (0..entries.len())
                .filter(|&i| entries[i].package.name == *name)
                .collect();
            if let [only] = same_name[..] {
                stack.push(only);
            }
        }
    }
    while let Some(i) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        for (name, range) in &entries[i].dependencies {
            if let Some(&j) = by_spec.get(&specifier(name, range)) {
                stack.push(j);
            }
        }
    }
    seen
}

fn manifest_deps(manifest: &Json, sections: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for section in sections {
        if let Some(deps) = manifest.get(*section).and_then(Json::as_object) {
            for (name, range) in deps {
                out.push((name.clone(), range.as_str().unwrap_or("").to_string()));
            }
        }
    }
    out
}

fn apply_manifest(entries: Vec<Entry>, manifest: &Json) -> Vec<Package> {
    let mut by_spec = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        for s in &e.specifiers {
            by_spec.insert(s.clone(), i);
        }
    }
    let prod_direct = manifest_deps(manifest, &["dependencies", "optionalDependencies"]);
    let dev_direct = manifest_deps(manifest, &["devDependencies"]);
    let prod = reachable(&entries, &by_spec, &prod_direct);
    let dev = reachable(&entries, &by_spec, &dev_direct);
    let mut out = Vec::new();
    let name = manifest.get("name").and_then(Json::as_str).unwrap_or("");
    let version = manifest.get("version").and_then(Json::as_str).unwrap_or("");
    if !name.is_empty() && !version.is_empty() {
        let mut root = Package::new(name, version, Ecosystem::Npm);
        root.project = true;
        out.push(root);
    }
    for (i, e) in entries.into_iter().enumerate() {
        if prod.contains(&i) {
            out.push(e.package);
        } else if dev.contains(&i) {
            out.push(e.package.dev(true));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trivy's `integration/testdata/fixtures/repo/yarn` (yarn.lock and package.json).
    const LOCK: &str = "# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\nasap@~2.0.6:\n  version \"2.0.6\"\n  resolved \"https://registry.yarnpkg.com/asap/-/asap-2.0.6.tgz#e50347611d7e690943208bbdafebcbc2fb866d46\"\n  integrity sha1-5QNHYR1+aQlDIIu9r+vLwvuGbUY=\n\njquery@^3.7.1:\n  version \"3.7.1\"\n  resolved \"https://registry.yarnpkg.com/jquery/-/jquery-3.7.1.tgz#083ef98927c9a6a74d05a6af02806566d16274de\"\n  integrity sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==\n\npromise@^8.0.3:\n  version \"8.0.3\"\n  resolved \"https://registry.yarnpkg.com/promise/-/promise-8.0.3.tgz#f592e099c6cddc000d538ee7283bb190452b0bf6\"\n  integrity sha512-HeRDUL1RJiLhyA0/grn+PTShlBAcLuh/1BJGtrvjwbvRDCTLLMEz9rOGCV+R3vHY4MixIuoMEd9Yq/XvsTPcjw==\n  dependencies:\n    asap \"~2.0.6\"\n";
    const MANIFEST: &str = r#"{"name": "integration", "version": "1.0.0", "main": "index.js", "license": "MIT",
        "dependencies": {"jquery": "^3.7.1"}, "devDependencies": {"promise": "^8.0.3"}}"#;

    fn rows(pkgs: &[Package]) -> Vec<(String, String, bool, Vec<Location>)> {
        pkgs.iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.version.clone(),
                    p.dev,
                    p.locations.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_span_their_block() {
        let pkgs = parse_yarn(LOCK, None).expect("parses");
        assert_eq!(
            rows(&pkgs),
            vec![
                (
                    "asap".into(),
                    "2.0.6".into(),
                    false,
                    vec![Location::lines(5, 8)]
                ),
                (
                    "jquery".into(),
                    "3.7.1".into(),
                    false,
                    vec![Location::lines(10, 13)]
                ),
                (
                    "promise".into(),
                    "8.0.3".into(),
                    false,
                    vec![Location::lines(15, 20)]
                ),
            ]
        );
    }

    #[test]
    fn package_json_adds_the_root_and_marks_dev_only_packages() {
        let pkgs = parse_yarn(LOCK, Some(MANIFEST)).expect("parses");
        assert_eq!(
            rows(&pkgs),
            vec![
                ("integration".into(), "1.0.0".into(), false, vec![]),
                (
                    "asap".into(),
                    "2.0.6".into(),
                    true,
                    vec![Location::lines(5, 8)]
                ),
                (
                    "jquery".into(),
                    "3.7.1".into(),
                    false,
                    vec![Location::lines(10, 13)]
                ),
                (
                    "promise".into(),
                    "8.0.3".into(),
                    true,
                    vec![Location::lines(15, 20)]
                ),
            ]
        );
        assert!(pkgs[0].project && !pkgs[1].project);
        // a package reachable from neither section is not listed
        let only_jquery =
            r#"{"name": "x", "version": "1.0.0", "dependencies": {"jquery": "^3.7.1"}}"#;
        let names: Vec<String> = parse_yarn(LOCK, Some(only_jquery))
            .expect("parses")
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["x", "jquery"]);
    }

    #[test]
    fn berry_dependencies_are_walked() {
        let lock = "__metadata:\n  version: 6\n\n\"a@npm:^1.0.0\":\n  version: 1.0.0\n  resolution: \"a@npm:1.0.0\"\n  dependencies:\n    b: \"npm:^2.0.0\"\n\n\"b@npm:^2.0.0\":\n  version: 2.1.0\n  resolution: \"b@npm:2.1.0\"\n\n\"c@npm:^3.0.0\":\n  version: 3.0.0\n  resolution: \"c@npm:3.0.0\"\n";
        let manifest = r#"{"name": "p", "version": "0.1.0", "devDependencies": {"a": "^1.0.0"}}"#;
        let pkgs = parse_yarn(lock, Some(manifest)).expect("parses");
        assert_eq!(
            rows(&pkgs),
            vec![
                ("p".into(), "0.1.0".into(), false, vec![]),
                (
                    "a".into(),
                    "1.0.0".into(),
                    true,
                    vec![Location::lines(4, 8)]
                ),
                (
                    "b".into(),
                    "2.1.0".into(),
                    true,
                    vec![Location::lines(10, 12)]
                ),
            ]
        );
    }
}
