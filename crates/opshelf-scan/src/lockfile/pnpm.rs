//! `pnpm-lock.yaml`: package paths of lockfile v5 (`/name/1.0.0`), v6 (`/name@1.0.0`) and v9
//! (`name@1.0.0`).

use serde_yaml_ng::Value as Yaml;

use super::{
    Package, ParseError, commit_from_url, line_of, split_name_at, yaml, yaml_scalar, ystr,
};
use crate::version::Ecosystem;

/// Splits a pnpm package path into name and version (v5: `/name/1.0.0_peer`, v6: `/name@1.0.0(peer)`,
/// v9: `name@1.0.0(peer)`). `Err` for a path the lockfile version cannot have.
fn pnpm_name_version(path: &str, v5: bool) -> Result<Option<(String, String)>, ()> {
    let path = path.split('(').next().unwrap_or(path);
    if v5 {
        // [registry/]name/version[_peer]
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if parts.len() < 2 {
            // `name@version` keys only exist from lockfile v6 on
            return if path.contains('@') && !path.contains(':') {
                Err(())
            } else {
                Ok(None)
            };
        }
        let version = parts[parts.len() - 1];
        let version = version.split('_').next().unwrap_or(version);
        let name_parts = &parts[..parts.len() - 1];
        let n = name_parts.len();
        let name = if n >= 2 && name_parts[n - 2].starts_with('@') {
            format!("{}/{}", name_parts[n - 2], name_parts[n - 1])
        } else {
            name_parts[n - 1].to_string()
        };
        if version.is_empty() || !version.as_bytes()[0].is_ascii_digit() {
            return Ok(None);
        }
        return Ok(Some((name, version.to_string())));
    }
    let trimmed = path.trim_start_matches('/');
    let (name, version) = split_name_at(trimmed);
    if version.is_empty() {
        return Ok(None);
    }
    Ok(Some((name.to_string(), version.to_string())))
}

pub(super) fn parse_pnpm(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = yaml(content)?;
    if doc.is_null() {
        return Ok(Vec::new());
    }
    if !doc.is_mapping() {
        return Err(ParseError::new(
            "could not extract from file: not a pnpm lockfile",
        ));
    }
    let lock_version: f64 = match doc.get("lockfileVersion") {
        Some(Yaml::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Yaml::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    };
    let v5 = lock_version < 6.0;
    let mut out = Vec::new();
    let Some(packages) = doc.get("packages").and_then(Yaml::as_mapping) else {
        return Ok(out);
    };
    for (key, info) in packages {
        let Some(key) = key.as_str() else { continue };
        let from_key = pnpm_name_version(key, v5).map_err(|()| {
            ParseError::at(
                format!("invalid package path {key:?}"),
                line_of(content, key),
            )
        })?;
        let explicit_name = ystr(info, "name").map(str::to_string);
        let explicit_version = info.get("version").and_then(yaml_scalar);
        let (name, version) = match (explicit_name, explicit_version, from_key) {
            (Some(n), Some(v), _) => (n, v),
            (None, Some(v), Some((n, _))) => (n, v),
            (Some(n), None, Some((_, v))) => (n, v),
            (None, None, Some(nv)) => nv,
            _ => continue,
        };
        let dev = info.get("dev").and_then(Yaml::as_bool) == Some(true);
        let mut p = Package::new(name, version, Ecosystem::Npm).dev(dev);
        if let Some(res) = info.get("resolution") {
            if let Some(c) = ystr(res, "commit") {
                p = p.commit(c);
            } else if let Some(t) = ystr(res, "tarball") {
                p.commit = Some(commit_from_url(t).unwrap_or_default());
            } else if ystr(res, "directory").is_some() {
                p = p.commit("");
            }
        }
        // no location: Trivy's pnpm parser records none
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnpm_paths() {
        let nv = |n: &str, v: &str| Ok(Some((n.to_string(), v.to_string())));
        assert_eq!(
            pnpm_name_version("/acorn/8.7.0", true),
            nv("acorn", "8.7.0")
        );
        assert_eq!(
            pnpm_name_version("/@types/node@18.0.0(foo@1.0.0)", false),
            nv("@types/node", "18.0.0")
        );
        assert_eq!(
            pnpm_name_version("acorn@8.11.3", false),
            nv("acorn", "8.11.3")
        );
        assert_eq!(pnpm_name_version("acorn@8.11.3", true), Err(()));
    }
}
