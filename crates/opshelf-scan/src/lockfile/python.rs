//! Python lockfiles: `Pipfile.lock` (pipenv), `poetry.lock`, `pdm.lock`, `uv.lock`, `pylock.toml`
//! (PEP 751), and PEP 503 name normalisation.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as Json;

use super::jsonspan::Spans;
use super::{Package, ParseError, json, jstr, regex, toml_doc, toml_packages, tstr};
use crate::version::Ecosystem;

/// PEP 503 name normalisation.
pub fn normalize_pypi_name(name: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, r"[-_.]+")
        .replace_all(&name.to_ascii_lowercase(), "-")
        .into_owned()
}

pub(super) fn parse_pipfile(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let spans = Spans::of(content);
    let mut out = Vec::new();
    for (section, dev) in [("default", false), ("develop", true)] {
        let Some(map) = doc.get(section).and_then(Json::as_object) else {
            continue;
        };
        for (name, info) in map {
            let version = jstr(info, "version");
            let Some(version) = version.strip_prefix("==") else {
                continue;
            };
            // the package's object, as Trivy's pipenv parser locates it
            let location = spans.get(&[section, name]);
            out.push(
                Package::new(name.clone(), version, Ecosystem::PyPI)
                    .dev(dev)
                    .at(location),
            );
        }
    }
    // the same package in both sections is one production package
    out.sort();
    let mut dedup: Vec<Package> = Vec::new();
    for p in out {
        if let Some(prev) = dedup
            .iter_mut()
            .find(|q| q.name == p.name && q.version == p.version)
        {
            prev.dev &= p.dev;
            continue;
        }
        dedup.push(p);
    }
    Ok(dedup)
}

pub(super) fn parse_poetry(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let mut out = Vec::new();
    for pkg in toml_packages(&doc) {
        let name = tstr(pkg, "name");
        let version = tstr(pkg, "version");
        if name.is_empty() {
            continue;
        }
        let dev = tstr(pkg, "category") == "dev"
            || pkg
                .get("groups")
                .and_then(toml::Value::as_array)
                .is_some_and(|g| !g.is_empty() && g.iter().all(|x| x.as_str() == Some("dev")));
        let mut p = Package::new(name, version, Ecosystem::PyPI).dev(dev);
        if let Some(src) = pkg.get("source").and_then(toml::Value::as_table) {
            p = p.commit(tstr(src, "resolved_reference"));
        }
        // no location: Trivy's poetry parser records none
        out.push(p);
    }
    Ok(out)
}

pub(super) fn parse_pdm(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let mut out = Vec::new();
    for pkg in toml_packages(&doc) {
        let name = tstr(pkg, "name");
        if name.is_empty() {
            continue;
        }
        let groups: Vec<&str> = pkg
            .get("groups")
            .and_then(toml::Value::as_array)
            .map(|g| g.iter().filter_map(toml::Value::as_str).collect())
            .unwrap_or_default();
        let dev = groups.contains(&"dev") && !groups.contains(&"default");
        let mut p = Package::new(name, tstr(pkg, "version"), Ecosystem::PyPI).dev(dev);
        let rev = tstr(pkg, "revision");
        if !rev.is_empty() {
            p = p.commit(rev);
        }
        out.push(p);
    }
    Ok(out)
}

/// A project of the workspace (`source = { editable = ... }` or `{ virtual = ... }`): its
/// dependencies are the production ones; `Some(true)` for the root project (`"."`).
fn uv_project(pkg: &toml::Table) -> Option<bool> {
    let source = pkg.get("source").and_then(toml::Value::as_table)?;
    let path = source
        .get("editable")
        .or_else(|| source.get("virtual"))
        .and_then(toml::Value::as_str)?;
    Some(path == ".")
}

pub(super) fn parse_uv(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let packages: Vec<&toml::Table> = toml_packages(&doc).collect();
    let mut dev_only: HashSet<String> = HashSet::new();
    let mut prod: HashSet<String> = HashSet::new();
    for pkg in &packages {
        if uv_project(pkg).is_none() {
            continue;
        }
        for dep in pkg
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_table)
        {
            prod.insert(tstr(dep, "name").to_string());
        }
        if let Some(groups) = pkg.get("dev-dependencies").and_then(toml::Value::as_table) {
            for deps in groups.values().filter_map(toml::Value::as_array) {
                for dep in deps.iter().filter_map(toml::Value::as_table) {
                    dev_only.insert(tstr(dep, "name").to_string());
                }
            }
        }
    }
    // transitive closure of production dependencies
    let by_name: BTreeMap<&str, &toml::Table> =
        packages.iter().map(|p| (tstr(p, "name"), *p)).collect();
    let mut stack: Vec<String> = prod.iter().cloned().collect();
    while let Some(n) = stack.pop() {
        if let Some(pkg) = by_name.get(n.as_str()) {
            for dep in pkg
                .get("dependencies")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(toml::Value::as_table)
            {
                let d = tstr(dep, "name").to_string();
                if prod.insert(d.clone()) {
                    stack.push(d);
                }
            }
        }
    }
    let mut out = Vec::new();
    for pkg in packages {
        let name = tstr(pkg, "name");
        let mut p = Package::new(name, tstr(pkg, "version"), Ecosystem::PyPI);
        match uv_project(pkg) {
            // the root project is listed as Trivy lists it (`Relationship: root`) and never
            // matched to advisories; other workspace members are not dependencies
            Some(true) => p.project = true,
            Some(false) => continue,
            None => p.dev = !prod.contains(name) && (!dev_only.is_empty() || !prod.is_empty()),
        }
        // no location: Trivy's uv parser records none
        out.push(p);
    }
    Ok(out)
}

pub(super) fn parse_pylock(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let mut out = Vec::new();
    for pkg in doc
        .get("packages")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
    {
        let name = tstr(pkg, "name");
        if name.is_empty() {
            continue;
        }
        let mut p = Package::new(
            normalize_pypi_name(name),
            tstr(pkg, "version"),
            Ecosystem::PyPI,
        );
        if let Some(vcs) = pkg.get("vcs").and_then(toml::Value::as_table) {
            p = p.commit(tstr(vcs, "commit-id"));
        }
        out.push(p);
    }
    Ok(out)
}
