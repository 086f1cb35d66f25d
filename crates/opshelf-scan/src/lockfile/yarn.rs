//! `yarn.lock`: the classic (v1) text format and Berry's YAML (`__metadata:`).

use super::{
    Package, ParseError, commit_from_url, line_of, split_name_at, yaml, yaml_scalar, ystr,
};
use crate::version::Ecosystem;

pub(super) fn parse_yarn(content: &str) -> Result<Vec<Package>, ParseError> {
    if content.contains("__metadata:") {
        return parse_yarn_berry(content);
    }
    let mut out = Vec::new();
    let mut current: Option<(String, usize)> = None;
    let mut version = String::new();
    let mut resolved = String::new();
    let flush =
        |name: Option<(String, usize)>, version: &str, resolved: &str, out: &mut Vec<Package>| {
            if let Some((name, line)) = name {
                let mut p = Package::new(name, version, Ecosystem::Npm);
                let commit = commit_from_url(resolved);
                if resolved.starts_with("file:") || commit.is_some() || resolved.contains("git") {
                    p.commit = Some(commit.unwrap_or_default());
                }
                p.line = Some(line);
                out.push(p);
            }
        };
    for (i, line) in content.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            flush(current.take(), &version, &resolved, &mut out);
            version.clear();
            resolved.clear();
            let first = line.trim_end_matches(':').split(", ").next().unwrap_or("");
            let first = first.trim_matches('"');
            let (mut name, range) = split_name_at(first);
            if let Some(real) = range.strip_prefix("npm:") {
                // alias: the real package name follows npm:
                let (real_name, _) = split_name_at(real);
                if !real_name.is_empty() {
                    name = real_name;
                }
            }
            current = Some((name.to_string(), i + 1));
            continue;
        }
        let t = line.trim();
        let t = t
            .strip_prefix('"')
            .map_or(t.to_string(), |rest| rest.replacen('"', "", 1));
        let t = t.as_str();
        if let Some(v) = t.strip_prefix("version ") {
            version = v.trim_matches('"').to_string();
        } else if let Some(r) = t.strip_prefix("resolved ") {
            resolved = r.trim_matches('"').to_string();
        }
    }
    flush(current.take(), &version, &resolved, &mut out);
    Ok(out)
}

fn parse_yarn_berry(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = yaml(content)?;
    let Some(map) = doc.as_mapping() else {
        return Ok(Vec::new());
    };
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
        let mut name = name.to_string();
        if name.is_empty() {
            let first = key.split(", ").next().unwrap_or("");
            name = split_name_at(first.trim_matches('"')).0.to_string();
        }
        if rest.starts_with("workspace:") && version == "0.0.0-use.local" && rest == "workspace:." {
            // the root workspace is still listed by osv-scanner; keep it
        }
        let mut p = Package::new(name, version, Ecosystem::Npm);
        if let Some(c) = commit_from_url(rest) {
            p.commit = Some(c);
        } else if rest.starts_with("file:") || rest.contains(".git") {
            p.commit = Some(String::new());
        }
        p.line = line_of(content, &format!("{key}:"));
        out.push(p);
    }
    Ok(out)
}
