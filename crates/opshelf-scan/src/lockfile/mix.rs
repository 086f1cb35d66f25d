//! Elixir's `mix.lock`: `:hex` and `:git` entries.

use std::sync::OnceLock;

use regex::Regex;

use super::{Package, ParseError, regex};
use crate::version::Ecosystem;

pub(super) fn parse_mix(content: &str) -> Result<Vec<Package>, ParseError> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = regex(
        &RE,
        r#"^\s*"([^"]+)":\s*\{:(hex|git),\s*(?::([^,]+)|"[^"]*"),\s*"([^"]*)"(?:,\s*"([^"]*)")?"#,
    );
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let Some(c) = re.captures(line) else { continue };
        let name = c.get(1).map_or("", |m| m.as_str());
        let kind = c.get(2).map_or("", |m| m.as_str());
        let mut p = if kind == "hex" {
            let version = c.get(4).map_or("", |m| m.as_str());
            let hash = c.get(5).map_or("", |m| m.as_str());
            Package::new(name, version, Ecosystem::Hex).commit(hash)
        } else {
            let commit = c.get(4).map_or("", |m| m.as_str());
            Package::new(name, "", Ecosystem::Hex).commit(commit)
        };
        p.locations = vec![super::Location::line(i + 1)];
        out.push(p);
    }
    Ok(out)
}
