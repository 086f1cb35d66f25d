//! `gradle.lockfile`: `group:artifact:version=configurations` lines.

use super::{Package, ParseError};
use crate::version::Ecosystem;

pub(super) fn parse_gradle(content: &str) -> Result<Vec<Package>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("empty=") {
            continue;
        }
        let coords = line.split('=').next().unwrap_or("");
        let parts: Vec<&str> = coords.split(':').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            continue; // malformed line: skipped, like Gradle itself
        }
        let mut p = Package::new(
            format!("{}:{}", parts[0], parts[1]),
            parts[2],
            Ecosystem::Maven,
        );
        p.locations = vec![super::Location::line(i + 1)];
        out.push(p);
    }
    Ok(out)
}
