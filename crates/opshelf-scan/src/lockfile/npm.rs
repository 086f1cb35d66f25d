//! npm `package-lock.json` / `npm-shrinkwrap.json`: lockfile v2/v3 `packages` and v1's nested
//! `dependencies`; aliases (`npm:`), VCS and `file:` versions. A package's location is its
//! object, as Trivy's npm parser gives it.

use serde_json::Value as Json;

use super::jsonspan::Spans;
use super::{Package, ParseError, commit_from_url, dedup_packages, json, jstr, split_name_at};
use crate::version::Ecosystem;

fn npm_version_and_commit(version: &str, resolved: &str) -> (String, Option<String>) {
    let is_vcs = |v: &str| {
        v.starts_with("git") || v.starts_with("github:") || v.contains("://") && v.contains('#')
    };
    if is_vcs(version) {
        return (
            String::new(),
            Some(commit_from_url(version).unwrap_or_default()),
        );
    }
    if version.starts_with("file:") {
        return (String::new(), Some(String::new()));
    }
    if let Some(rest) = version.strip_prefix("npm:") {
        // alias: npm:real-name@1.2.3
        let v = rest.rsplit_once('@').map_or(rest, |(_, v)| v);
        return (v.to_string(), None);
    }
    if is_vcs(resolved) {
        return (
            version.to_string(),
            Some(commit_from_url(resolved).unwrap_or_default()),
        );
    }
    if resolved.starts_with("file:") {
        return (version.to_string(), Some(String::new()));
    }
    (version.to_string(), None)
}

pub(super) fn parse_npm(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let spans = Spans::of(content);
    let mut out = Vec::new();
    if let Some(packages) = doc.get("packages").and_then(Json::as_object) {
        for (key, info) in packages {
            if key.is_empty() {
                continue; // the root project
            }
            let mut name = match key.rfind("node_modules/") {
                Some(idx) => key[idx + "node_modules/".len()..].to_string(),
                // linked folders (file: dependencies, workspaces)
                None => key.rsplit('/').next().unwrap_or(key).to_string(),
            };
            if let Some(n) = info.get("name").and_then(Json::as_str) {
                name = n.to_string();
            }
            if info.get("link").and_then(Json::as_bool) == Some(true) {
                continue;
            }
            let (version, commit) =
                npm_version_and_commit(jstr(info, "version"), jstr(info, "resolved"));
            let dev = info.get("dev").and_then(Json::as_bool) == Some(true)
                || info.get("devOptional").and_then(Json::as_bool) == Some(true);
            let mut p = Package::new(name, version, Ecosystem::Npm).dev(dev);
            p.commit = commit;
            out.push(p.at(spans.get(&["packages", key])));
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(Json::as_object) {
        npm_v1_walk(
            &spans,
            &mut vec!["dependencies".to_string()],
            deps,
            &mut out,
        );
    }
    dedup_packages(&mut out);
    Ok(out)
}

/// v1's nested `dependencies`; `path` is the JSON path of `deps` (for locations).
fn npm_v1_walk(
    spans: &Spans,
    path: &mut Vec<String>,
    deps: &serde_json::Map<String, Json>,
    out: &mut Vec<Package>,
) {
    for (key, info) in deps {
        let raw_version = jstr(info, "version");
        let (version, commit) = npm_version_and_commit(raw_version, jstr(info, "resolved"));
        let name = match raw_version.strip_prefix("npm:") {
            Some(alias) => split_name_at(alias).0.to_string(),
            None => key.clone(),
        };
        let dev = info.get("dev").and_then(Json::as_bool) == Some(true);
        path.push(key.clone());
        let at: Vec<&str> = path.iter().map(String::as_str).collect();
        let mut p = Package::new(name, version, Ecosystem::Npm)
            .dev(dev)
            .at(spans.get(&at));
        p.commit = commit;
        out.push(p);
        if let Some(nested) = info.get("dependencies").and_then(Json::as_object) {
            path.push("dependencies".to_string());
            npm_v1_walk(spans, path, nested, out);
            path.pop();
        }
        path.pop();
    }
}
