//! pip `requirements*.txt`: `-r` includes (through the caller's reader), continuation lines,
//! comments, environment markers; only pinned (`==`, `===`, `>=`, `~=`) versions are kept.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use super::{Package, ParseError, Reader, dedup_packages, regex};
use crate::version::Ecosystem;

pub(super) fn parse_requirements(
    path: &Path,
    content: &str,
    read: Reader<'_>,
) -> Result<Vec<Package>, ParseError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    requirements_into(path, content, read, &mut seen, &mut out)?;
    dedup_packages(&mut out);
    Ok(out)
}

fn requirements_into(
    path: &Path,
    content: &str,
    read: Reader<'_>,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<Package>,
) -> Result<(), ParseError> {
    seen.insert(normalize_path(path));
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in content.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        let trailing = raw.len() - raw.trim_end_matches('\\').len();
        if trailing % 2 == 1
            && let Some(stripped) = raw.strip_suffix('\\')
        {
            pending.push_str(stripped);
            continue;
        }
        pending.push_str(raw);
        lines.push((start, std::mem::take(&mut pending)));
    }
    if !pending.is_empty() {
        lines.push((start, pending));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    for (line_no, line) in lines {
        // comments: whole-line, or " #" inline
        let line = if line.trim_start().starts_with('#') {
            ""
        } else if let Some(i) = line.find(" #") {
            &line[..i]
        } else {
            line.as_str()
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let include = line
            .strip_prefix("-r ")
            .or_else(|| line.strip_prefix("--requirement "))
            .or_else(|| line.strip_prefix("--requirement="));
        if let Some(target) = include {
            let target = normalize_path(&dir.join(target.trim()));
            if seen.contains(&target) {
                continue;
            }
            let text = read(&target).map_err(|e| {
                ParseError::at(
                    format!("failed to include {}: {e}", target.display()),
                    Some(line_no),
                )
            })?;
            requirements_into(&target, &text, read, seen, out)?;
            continue;
        }
        if line.starts_with('-') {
            continue; // other options (-c, -e, --index-url, ...)
        }
        if let Some(p) = parse_requirement_line(line) {
            out.push(p.at_line(Some(line_no)));
        }
    }
    Ok(())
}

/// Lexically resolves `.` and `..` (no file system access).
fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn parse_requirement_line(line: &str) -> Option<Package> {
    // per-requirement options
    let line = match line.find(" --") {
        Some(i) => &line[..i],
        None => line,
    };
    // environment markers
    let line = line.split(';').next().unwrap_or(line).trim();
    if line.contains("://")
        || line.starts_with('.')
        || line.starts_with('/')
        || line.contains(".whl")
    {
        return None;
    }
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = regex(
        &RE,
        r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(===|==|>=|~=|<=|!=|<|>)?\s*([^,\s]*)",
    );
    let caps = re.captures(line)?;
    // the name as spelled in the file (Trivy's `PkgName`); lookups normalise it (PEP 503)
    let name = caps.get(1)?.as_str();
    let op = caps.get(3).map_or("", |m| m.as_str());
    let ver = caps.get(4).map_or("", |m| m.as_str());
    let version = match op {
        "==" | "===" | ">=" | "~=" if !ver.is_empty() && !ver.contains('*') => ver.to_string(),
        _ => "0.0.0".to_string(),
    };
    Some(Package::new(name, version, Ecosystem::PyPI))
}
