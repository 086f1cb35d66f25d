//! `bun.lock` (JSONC, trailing commas allowed).

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as Json;

use super::{Package, ParseError, commit_from_url, json, line_of, regex, split_name_at};
use crate::version::Ecosystem;

pub(super) fn parse_bun(content: &str) -> Result<Vec<Package>, ParseError> {
    // bun.lock is JSONC: strip trailing commas before parsing
    static RE: OnceLock<Regex> = OnceLock::new();
    let cleaned = regex(&RE, r",(\s*[}\]])").replace_all(content, "$1");
    let doc = json(&cleaned)?;
    let mut out = Vec::new();
    let mut dev_names: HashSet<String> = HashSet::new();
    let mut prod_names: HashSet<String> = HashSet::new();
    if let Some(ws) = doc.get("workspaces").and_then(Json::as_object) {
        for w in ws.values() {
            for key in ["dependencies", "optionalDependencies", "peerDependencies"] {
                if let Some(m) = w.get(key).and_then(Json::as_object) {
                    prod_names.extend(m.keys().cloned());
                }
            }
            if let Some(m) = w.get("devDependencies").and_then(Json::as_object) {
                dev_names.extend(m.keys().cloned());
            }
        }
    }
    if let Some(pkgs) = doc.get("packages").and_then(Json::as_object) {
        for (key, info) in pkgs {
            let Some(spec) = info.get(0).and_then(Json::as_str) else {
                continue;
            };
            let (name, version) = split_name_at(spec);
            if version.starts_with("workspace:") || version.starts_with("link:") {
                continue;
            }
            let dev = dev_names.contains(key.as_str()) && !prod_names.contains(key.as_str());
            let mut p =
                Package::new(name, version.trim_start_matches("npm:"), Ecosystem::Npm).dev(dev);
            if let Some(c) = commit_from_url(version) {
                p.commit = Some(c);
            }
            p = p.at_line(line_of(content, &format!("\"{key}\"")));
            out.push(p);
        }
    }
    Ok(out)
}
