//! Bundler's `Gemfile.lock` / `gems.locked`: the `specs:` of the GEM, GIT, PATH and PLUGIN SOURCE
//! sections.

use std::sync::OnceLock;

use regex::Regex;

use super::{Package, ParseError, regex};
use crate::version::Ecosystem;

pub(super) fn parse_gemfile(content: &str) -> Result<Vec<Package>, ParseError> {
    let mut out = Vec::new();
    let mut section = "";
    let mut in_specs = false;
    let mut revision: Option<String> = None;
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = regex(&RE, r"^    (\S+) \(([^)]+)\)\s*$");
    for (i, line) in content.lines().enumerate() {
        if !line.starts_with(' ') && !line.is_empty() {
            section = match line.trim() {
                "GIT" => "GIT",
                "GEM" => "GEM",
                "PATH" => "PATH",
                "PLUGIN SOURCE" => "PLUGIN",
                _ => "",
            };
            in_specs = false;
            revision = None;
            continue;
        }
        if section.is_empty() {
            continue;
        }
        if let Some(r) = line.trim().strip_prefix("revision: ") {
            revision = Some(r.to_string());
            continue;
        }
        if line.trim() == "specs:" {
            in_specs = true;
            continue;
        }
        if !in_specs {
            continue;
        }
        if let Some(c) = re.captures(line) {
            let name = c.get(1).map_or("", |m| m.as_str());
            let mut version = c.get(2).map_or("", |m| m.as_str());
            // platform-specific gems: 1.13.1-x86_64-linux
            if let Some((v, _platform)) = version.split_once('-') {
                version = v;
            }
            let mut p = Package::new(name, version, Ecosystem::RubyGems);
            if section == "GIT" {
                p.commit = Some(revision.clone().unwrap_or_default());
            } else if section == "GEM" && content.contains("\nGIT\n") {
                p.commit = Some(String::new());
            }
            p.locations = vec![super::Location::line(i + 1)];
            out.push(p);
        }
    }
    Ok(out)
}
