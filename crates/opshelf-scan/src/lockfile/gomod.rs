//! `go.mod`: `require` and `replace` directives (blocks or single lines); the `go` directive
//! becomes the `stdlib` package.

use super::{Package, ParseError, dedup_packages};
use crate::version::Ecosystem;

pub(super) fn parse_gomod(content: &str) -> Result<Vec<Package>, ParseError> {
    let mut requires: Vec<Package> = Vec::new();
    let mut replaces: Vec<(String, Option<String>, String, Option<String>)> = Vec::new();
    let mut go_version: Option<String> = None;
    let mut block: Option<String> = None;
    let mut saw_directive = false;
    for (i, raw) in content.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if block.is_some() && line == ")" {
            block = None;
            continue;
        }
        let (directive, rest) = match &block {
            Some(b) => (b.clone(), line.to_string()),
            None => {
                let mut it = line.splitn(2, char::is_whitespace);
                let d = it.next().unwrap_or("").to_string();
                let r = it.next().unwrap_or("").trim().to_string();
                if r == "(" {
                    saw_directive = true;
                    block = Some(d);
                    continue;
                }
                (d, r)
            }
        };
        match directive.as_str() {
            "module" | "toolchain" | "exclude" | "retract" | "godebug" | "tool" | "ignore" => {
                saw_directive = true;
            }
            "go" => {
                saw_directive = true;
                go_version = Some(rest.clone());
            }
            "require" => {
                saw_directive = true;
                let f: Vec<&str> = rest.split_whitespace().collect();
                if f.len() < 2 {
                    return Err(ParseError::at(
                        "could not extract from file: malformed require",
                        Some(i + 1),
                    ));
                }
                // the version as Go spells it (`v0.3.6`, `v2.7.1+incompatible`), as Trivy prints it
                let mut p = Package::new(f[0], f[1], Ecosystem::Go);
                p.locations = vec![super::Location::line(i + 1)];
                requires.push(p);
            }
            "replace" => {
                saw_directive = true;
                let Some((left, right)) = rest.split_once("=>") else {
                    return Err(ParseError::at(
                        "could not extract from file: malformed replace",
                        Some(i + 1),
                    ));
                };
                let l: Vec<&str> = left.split_whitespace().collect();
                let r: Vec<&str> = right.split_whitespace().collect();
                if l.is_empty() || r.is_empty() {
                    return Err(ParseError::at(
                        "could not extract from file: malformed replace",
                        Some(i + 1),
                    ));
                }
                replaces.push((
                    l[0].to_string(),
                    l.get(1).map(|v| (*v).to_string()),
                    r[0].to_string(),
                    r.get(1).map(|v| (*v).to_string()),
                ));
            }
            _ => {
                return Err(ParseError::at(
                    format!("could not extract from file: unknown directive {directive:?}"),
                    Some(i + 1),
                ));
            }
        }
    }
    if !saw_directive && !content.trim().is_empty() {
        return Err(ParseError::new("could not extract from file: not a go.mod"));
    }
    for (old, old_ver, new, new_ver) in &replaces {
        for p in &mut requires {
            if &p.name != old {
                continue;
            }
            if let Some(v) = old_ver
                && v != &p.version
            {
                continue;
            }
            p.name.clone_from(new);
            match new_ver {
                Some(v) => p.version.clone_from(v),
                None if new.starts_with('.') || new.starts_with('/') => p.version.clear(),
                None => {}
            }
        }
    }
    let mut out = requires;
    dedup_packages(&mut out);
    if let Some(v) = go_version {
        // Trivy prefixes the toolchain version with `v` for consistency with module versions
        out.push(Package::new("stdlib", format!("v{v}"), Ecosystem::Go));
    }
    Ok(out)
}
