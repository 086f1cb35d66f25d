//! Lockfile parsers: text in, packages out. No I/O except `requirements.txt` includes, which go
//! through the caller-supplied reader. Malformed input is an error, never a panic.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use crate::version::Ecosystem;

/// One package found in a lockfile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub ecosystem: Ecosystem,
    /// Development-only dependency (excluded unless `--include-dev-deps`).
    pub dev: bool,
    /// VCS commit the package was resolved to, when the lockfile records one.
    pub commit: Option<String>,
    /// 1-based line of the package in the lockfile, when known.
    pub line: Option<usize>,
}

impl Package {
    fn new(name: impl Into<String>, version: impl Into<String>, ecosystem: Ecosystem) -> Self {
        Package {
            name: name.into(),
            version: version.into(),
            ecosystem,
            dev: false,
            commit: None,
            line: None,
        }
    }

    fn dev(mut self, dev: bool) -> Self {
        self.dev = dev;
        self
    }

    fn commit(mut self, commit: impl Into<String>) -> Self {
        let c: String = commit.into();
        self.commit = Some(c);
        self
    }
}

/// Why a lockfile could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct ParseError {
    pub message: String,
    pub line: Option<usize>,
}

impl ParseError {
    fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
            line: None,
        }
    }

    fn at(message: impl Into<String>, line: Option<usize>) -> Self {
        ParseError {
            message: message.into(),
            line,
        }
    }
}

/// The lockfile formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Requirements,
    Pipfile,
    Poetry,
    Pdm,
    Uv,
    Pylock,
    NpmLock,
    Yarn,
    Pnpm,
    Bun,
    Cargo,
    GoMod,
    Gemfile,
    Composer,
    Gradle,
    Pom,
    NuGet,
    Pub,
    Mix,
}

impl Kind {
    /// Every format, in the order of the enum.
    pub const ALL: [Kind; 19] = [
        Kind::Requirements,
        Kind::Pipfile,
        Kind::Poetry,
        Kind::Pdm,
        Kind::Uv,
        Kind::Pylock,
        Kind::NpmLock,
        Kind::Yarn,
        Kind::Pnpm,
        Kind::Bun,
        Kind::Cargo,
        Kind::GoMod,
        Kind::Gemfile,
        Kind::Composer,
        Kind::Gradle,
        Kind::Pom,
        Kind::NuGet,
        Kind::Pub,
        Kind::Mix,
    ];

    /// Trivy's `Type` name for the target.
    pub fn trivy_type(self) -> &'static str {
        match self {
            Kind::Requirements => "pip",
            Kind::Pipfile => "pipenv",
            Kind::Poetry => "poetry",
            Kind::Pdm => "pdm",
            Kind::Uv => "uv",
            Kind::Pylock => "pylock",
            Kind::NpmLock => "npm",
            Kind::Yarn => "yarn",
            Kind::Pnpm => "pnpm",
            Kind::Bun => "bun",
            Kind::Cargo => "cargo",
            Kind::GoMod => "gomod",
            Kind::Gemfile => "bundler",
            Kind::Composer => "composer",
            Kind::Gradle => "gradle",
            Kind::Pom => "pom",
            Kind::NuGet => "nuget",
            Kind::Pub => "pub",
            Kind::Mix => "hex",
        }
    }
}

/// Recognises a lockfile by its file name.
pub fn detect(file_name: &str) -> Option<Kind> {
    let kind = match file_name {
        "requirements.txt" => Kind::Requirements,
        "Pipfile.lock" => Kind::Pipfile,
        "poetry.lock" => Kind::Poetry,
        "pdm.lock" => Kind::Pdm,
        "uv.lock" => Kind::Uv,
        "pylock.toml" => Kind::Pylock,
        "package-lock.json" | "npm-shrinkwrap.json" => Kind::NpmLock,
        "yarn.lock" => Kind::Yarn,
        "pnpm-lock.yaml" => Kind::Pnpm,
        "bun.lock" => Kind::Bun,
        "Cargo.lock" => Kind::Cargo,
        "go.mod" => Kind::GoMod,
        "Gemfile.lock" | "gems.locked" => Kind::Gemfile,
        "composer.lock" => Kind::Composer,
        "gradle.lockfile" => Kind::Gradle,
        "pom.xml" => Kind::Pom,
        "packages.lock.json" => Kind::NuGet,
        "pubspec.lock" => Kind::Pub,
        "mix.lock" => Kind::Mix,
        _ => {
            if file_name.starts_with("pylock.") && file_name.ends_with(".toml") {
                Kind::Pylock
            } else if file_name.ends_with(".txt")
                && (file_name.starts_with("requirements")
                    || file_name.ends_with("requirements.txt"))
            {
                Kind::Requirements
            } else {
                return None;
            }
        }
    };
    Some(kind)
}

/// Reads a file for `-r` includes of requirements files.
pub type Reader<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// Parses one lockfile. `path` is used for relative includes and requirement groups.
pub fn parse(
    kind: Kind,
    path: &Path,
    content: &str,
    read: Reader<'_>,
) -> Result<Vec<Package>, ParseError> {
    match kind {
        Kind::Requirements => parse_requirements(path, content, read),
        Kind::Pipfile => parse_pipfile(content),
        Kind::Poetry => parse_poetry(content),
        Kind::Pdm => parse_pdm(content),
        Kind::Uv => parse_uv(content),
        Kind::Pylock => parse_pylock(content),
        Kind::NpmLock => parse_npm(content),
        Kind::Yarn => parse_yarn(content),
        Kind::Pnpm => parse_pnpm(content),
        Kind::Bun => parse_bun(content),
        Kind::Cargo => parse_cargo(content),
        Kind::GoMod => parse_gomod(content),
        Kind::Gemfile => parse_gemfile(content),
        Kind::Composer => parse_composer(content),
        Kind::Gradle => parse_gradle(content),
        Kind::Pom => parse_pom(content),
        Kind::NuGet => parse_nuget(content),
        Kind::Pub => parse_pub(content),
        Kind::Mix => parse_mix(content),
    }
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

fn json(content: &str) -> Result<Json, ParseError> {
    serde_json::from_str(content).map_err(|e| {
        ParseError::at(
            format!("could not extract from file: invalid JSON: {e}"),
            Some(e.line()),
        )
    })
}

fn toml_doc(content: &str) -> Result<toml::Table, ParseError> {
    content.parse::<toml::Table>().map_err(|e| {
        let line = e
            .span()
            .map(|s| content[..s.start.min(content.len())].matches('\n').count() + 1);
        ParseError::at(
            format!("could not extract from file: invalid TOML: {}", e.message()),
            line,
        )
    })
}

fn yaml(content: &str) -> Result<Yaml, ParseError> {
    serde_yaml_ng::from_str(content).map_err(|e| {
        ParseError::at(
            format!("could not extract from file: invalid YAML: {e}"),
            e.location().map(|l| l.line()),
        )
    })
}

fn jstr<'a>(v: &'a Json, key: &str) -> &'a str {
    v.get(key).and_then(Json::as_str).unwrap_or("")
}

fn ystr<'a>(v: &'a Yaml, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Yaml::as_str)
}

fn yaml_scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Finds the 1-based line of the first occurrence of `needle`, for reports.
fn line_of(content: &str, needle: &str) -> Option<usize> {
    content
        .find(needle)
        .map(|i| content[..i].matches('\n').count() + 1)
}

// ---------------------------------------------------------------------------------------------
// Python

/// PEP 503 name normalisation.
pub fn normalize_pypi_name(name: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, r"[-_.]+")
        .replace_all(&name.to_ascii_lowercase(), "-")
        .into_owned()
}

fn parse_requirements(
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
            let mut p = p;
            p.line = Some(line_no);
            out.push(p);
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
    let name = normalize_pypi_name(caps.get(1)?.as_str());
    let op = caps.get(3).map_or("", |m| m.as_str());
    let ver = caps.get(4).map_or("", |m| m.as_str());
    let version = match op {
        "==" | "===" | ">=" | "~=" if !ver.is_empty() && !ver.contains('*') => ver.to_string(),
        _ => "0.0.0".to_string(),
    };
    Some(Package::new(name, version, Ecosystem::PyPI))
}

fn parse_pipfile(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
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
            let mut p = Package::new(name.clone(), version, Ecosystem::PyPI).dev(dev);
            p.line = line_of(content, &format!("\"{name}\""));
            out.push(p);
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

fn toml_packages(doc: &toml::Table) -> impl Iterator<Item = &toml::Table> {
    doc.get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
}

fn tstr<'a>(t: &'a toml::Table, key: &str) -> &'a str {
    t.get(key).and_then(toml::Value::as_str).unwrap_or("")
}

fn parse_poetry(content: &str) -> Result<Vec<Package>, ParseError> {
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
        p.line = line_of(content, &format!("name = \"{name}\""));
        out.push(p);
    }
    Ok(out)
}

fn parse_pdm(content: &str) -> Result<Vec<Package>, ParseError> {
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

fn parse_uv(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let packages: Vec<&toml::Table> = toml_packages(&doc).collect();
    // the project itself (source = { editable/virtual = "." }) is not a dependency
    let mut dev_only: HashSet<String> = HashSet::new();
    let mut prod: HashSet<String> = HashSet::new();
    for pkg in &packages {
        let is_root = pkg
            .get("source")
            .and_then(toml::Value::as_table)
            .is_some_and(|s| s.contains_key("editable") || s.contains_key("virtual"));
        if !is_root {
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
        let is_root = pkg
            .get("source")
            .and_then(toml::Value::as_table)
            .is_some_and(|s| s.contains_key("editable") || s.contains_key("virtual"));
        if is_root {
            continue;
        }
        let name = tstr(pkg, "name");
        let dev = !prod.contains(name) && (!dev_only.is_empty() || !prod.is_empty());
        let mut p = Package::new(name, tstr(pkg, "version"), Ecosystem::PyPI).dev(dev);
        p.line = line_of(content, &format!("name = \"{name}\""));
        out.push(p);
    }
    Ok(out)
}

fn parse_pylock(content: &str) -> Result<Vec<Package>, ParseError> {
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

// ---------------------------------------------------------------------------------------------
// JavaScript

fn commit_from_url(s: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = regex(&RE, r"(?:#|commit[=:]|ref=|/tar\.gz/|/)([0-9a-f]{40})\b");
    re.captures(s)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

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

fn parse_npm(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
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
            p.line = line_of(content, &format!("\"{key}\""));
            out.push(p);
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(Json::as_object) {
        npm_v1_walk(content, deps, &mut out);
    }
    dedup_packages(&mut out);
    Ok(out)
}

fn npm_v1_walk(content: &str, deps: &serde_json::Map<String, Json>, out: &mut Vec<Package>) {
    for (name, info) in deps {
        let raw_version = jstr(info, "version");
        let (version, commit) = npm_version_and_commit(raw_version, jstr(info, "resolved"));
        let name = match raw_version.strip_prefix("npm:") {
            Some(alias) => split_name_at(alias).0.to_string(),
            None => name.clone(),
        };
        let dev = info.get("dev").and_then(Json::as_bool) == Some(true);
        p_push(content, out, name, version, dev, commit);
        if let Some(nested) = info.get("dependencies").and_then(Json::as_object) {
            npm_v1_walk(content, nested, out);
        }
    }
}

fn p_push(
    content: &str,
    out: &mut Vec<Package>,
    name: String,
    version: String,
    dev: bool,
    commit: Option<String>,
) {
    let line = line_of(content, &format!("\"{name}\""));
    let mut p = Package::new(name, version, Ecosystem::Npm).dev(dev);
    p.commit = commit;
    p.line = line;
    out.push(p);
}

/// Removes exact duplicates (same name, version, commit); a package that is both dev and
/// production is production.
fn dedup_packages(out: &mut Vec<Package>) {
    let mut result: Vec<Package> = Vec::with_capacity(out.len());
    let mut index: BTreeMap<(String, String, Option<String>), usize> = BTreeMap::new();
    for p in out.drain(..) {
        let key = (p.name.clone(), p.version.clone(), p.commit.clone());
        if let Some(&i) = index.get(&key) {
            result[i].dev &= p.dev;
            continue;
        }
        index.insert(key, result.len());
        result.push(p);
    }
    *out = result;
}

/// Splits `name@range` (the name may be scoped: `@scope/name@range`).
fn split_name_at(spec: &str) -> (&str, &str) {
    let search_from = usize::from(spec.starts_with('@'));
    match spec[search_from..].find('@') {
        Some(i) => (&spec[..i + search_from], &spec[i + search_from + 1..]),
        None => (spec, ""),
    }
}

fn parse_yarn(content: &str) -> Result<Vec<Package>, ParseError> {
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

fn parse_pnpm(content: &str) -> Result<Vec<Package>, ParseError> {
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
        p.line = line_of(content, key);
        out.push(p);
    }
    Ok(out)
}

fn parse_bun(content: &str) -> Result<Vec<Package>, ParseError> {
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
            p.line = line_of(content, &format!("\"{key}\""));
            out.push(p);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Rust, Go, Ruby, PHP, JVM, .NET, Dart, Elixir

fn parse_cargo(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let mut out = Vec::new();
    for pkg in toml_packages(&doc) {
        let name = tstr(pkg, "name");
        if name.is_empty() {
            continue;
        }
        let mut p = Package::new(name, tstr(pkg, "version"), Ecosystem::CratesIo);
        p.line = line_of(
            content,
            &format!("name = \"{name}\"\nversion = \"{}\"", tstr(pkg, "version")),
        );
        out.push(p);
    }
    Ok(out)
}

fn parse_gomod(content: &str) -> Result<Vec<Package>, ParseError> {
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
                let mut p = Package::new(f[0], f[1].trim_start_matches('v'), Ecosystem::Go);
                p.line = Some(i + 1);
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
                    l.get(1).map(|v| v.trim_start_matches('v').to_string()),
                    r[0].to_string(),
                    r.get(1).map(|v| v.trim_start_matches('v').to_string()),
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
        out.push(Package::new("stdlib", v, Ecosystem::Go));
    }
    Ok(out)
}

fn parse_gemfile(content: &str) -> Result<Vec<Package>, ParseError> {
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
            p.line = Some(i + 1);
            out.push(p);
        }
    }
    Ok(out)
}

fn parse_composer(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let mut out = Vec::new();
    for (section, dev) in [("packages", false), ("packages-dev", true)] {
        for pkg in doc
            .get(section)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let name = jstr(pkg, "name");
            if name.is_empty() {
                continue;
            }
            let version = jstr(pkg, "version").trim_start_matches('v');
            let mut p = Package::new(name, version, Ecosystem::Packagist).dev(dev);
            if let Some(src) = pkg.get("source") {
                p = p.commit(jstr(src, "reference"));
            }
            p.line = line_of(content, &format!("\"name\": \"{name}\""));
            out.push(p);
        }
    }
    Ok(out)
}

fn parse_gradle(content: &str) -> Result<Vec<Package>, ParseError> {
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
        p.line = Some(i + 1);
        out.push(p);
    }
    Ok(out)
}

fn parse_pom(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = roxmltree::Document::parse(content).map_err(|e| {
        let pos = e.pos();
        ParseError::at(format!("XML syntax error: {e}"), Some(pos.row as usize))
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "project" {
        return Err(ParseError::new(
            "could not extract from file: not a Maven pom.xml",
        ));
    }
    let child = |n: roxmltree::Node<'_, '_>, name: &str| -> Option<String> {
        n.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    };
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    if let Some(v) = child(root, "version") {
        props.insert("project.version".into(), v);
    }
    if let Some(g) = child(root, "groupId") {
        props.insert("project.groupId".into(), g);
    }
    if let Some(p) = root
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "properties")
    {
        for prop in p.children().filter(roxmltree::Node::is_element) {
            props.insert(
                prop.tag_name().name().to_string(),
                prop.text().unwrap_or("").trim().to_string(),
            );
        }
    }
    let interpolate = |s: &str| -> String {
        let mut s = s.to_string();
        for _ in 0..8 {
            let Some(start) = s.find("${") else { break };
            let Some(len) = s[start..].find('}') else {
                break;
            };
            let key = &s[start + 2..start + len];
            let value = props.get(key).cloned().unwrap_or_default();
            s.replace_range(start..start + len + 1, &value);
        }
        s
    };
    let mut out: Vec<Package> = Vec::new();
    let mut deps: Vec<(bool, roxmltree::Node<'_, '_>)> = Vec::new();
    for dep in root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "dependency")
    {
        let Some(parent) = dep.parent() else { continue };
        if parent.tag_name().name() != "dependencies" {
            continue;
        }
        let managed = parent
            .parent()
            .is_some_and(|g| g.tag_name().name() == "dependencyManagement");
        deps.push((managed, dep));
    }
    // direct dependencies first; managed ones only when not declared directly
    deps.sort_by_key(|(managed, _)| *managed);
    for (managed, dep) in deps {
        let Some(group) = child(dep, "groupId") else {
            continue;
        };
        let Some(artifact) = child(dep, "artifactId") else {
            continue;
        };
        let version = interpolate(&child(dep, "version").unwrap_or_default());
        let version = version.trim_start_matches('[').trim_end_matches(']');
        let version = version.split(',').next().unwrap_or("").trim().to_string();
        let name = format!("{}:{}", interpolate(&group), interpolate(&artifact));
        if managed && out.iter().any(|p| p.name == name) {
            continue;
        }
        let mut p = Package::new(name, version, Ecosystem::Maven);
        p.line = Some(doc.text_pos_at(dep.range().start).row as usize);
        out.push(p);
    }
    Ok(out)
}

fn parse_nuget(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = json(content)?;
    let version = doc.get("version").and_then(Json::as_i64).unwrap_or(0);
    if version != 1 {
        return Err(ParseError::new(format!(
            "unsupported lock file version {version}"
        )));
    }
    let mut out = Vec::new();
    if let Some(frameworks) = doc.get("dependencies").and_then(Json::as_object) {
        for deps in frameworks.values().filter_map(Json::as_object) {
            for (name, info) in deps {
                let v = jstr(info, "resolved");
                if v.is_empty() {
                    continue;
                }
                out.push(Package::new(name.clone(), v, Ecosystem::NuGet));
            }
        }
    }
    dedup_packages(&mut out);
    Ok(out)
}

fn parse_pub(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = yaml(content)?;
    if doc.is_null() {
        return Ok(Vec::new());
    }
    if !doc.is_mapping() {
        return Err(ParseError::new(
            "could not extract from file: not a pubspec.lock",
        ));
    }
    let mut out = Vec::new();
    if let Some(pkgs) = doc.get("packages").and_then(Yaml::as_mapping) {
        for (name, info) in pkgs {
            let Some(name) = name.as_str() else { continue };
            let version = info
                .get("version")
                .and_then(yaml_scalar)
                .unwrap_or_default();
            let dev = ystr(info, "dependency") == Some("direct dev");
            let mut p = Package::new(name, version, Ecosystem::Pub).dev(dev);
            if let Some(desc) = info.get("description")
                && desc.is_mapping()
            {
                p.commit = Some(ystr(desc, "resolved-ref").unwrap_or("").to_string());
            }
            out.push(p);
        }
    }
    Ok(out)
}

fn parse_mix(content: &str) -> Result<Vec<Package>, ParseError> {
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
        p.line = Some(i + 1);
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fixtures_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/scan/lockfiles/osv-scanner-v1")
    }

    fn kind_for_parser(parser: &str) -> Kind {
        match parser {
            "ParseGemfileLock" => Kind::Gemfile,
            "ParseCargoLock" => Kind::Cargo,
            "ParseComposerLock" => Kind::Composer,
            "ParseGoLock" => Kind::GoMod,
            "ParseGradleLock" => Kind::Gradle,
            "ParseMavenLock" => Kind::Pom,
            "ParseMixLock" => Kind::Mix,
            "ParseNpmLock" => Kind::NpmLock,
            "ParseNuGetLock" => Kind::NuGet,
            "ParsePdmLock" => Kind::Pdm,
            "ParseRequirementsTxt" => Kind::Requirements,
            "ParsePipenvLock" => Kind::Pipfile,
            "ParsePnpmLock" => Kind::Pnpm,
            "ParsePoetryLock" => Kind::Poetry,
            "ParsePubspecLock" => Kind::Pub,
            "ParseYarnLock" => Kind::Yarn,
            other => panic!("unknown parser {other}"),
        }
    }

    fn canonical_ecosystem(name: &str) -> Ecosystem {
        match name {
            "PnpmEcosystem" | "YarnEcosystem" => Ecosystem::Npm,
            "PipenvEcosystem" | "PoetryEcosystem" | "PdmEcosystem" => Ecosystem::PyPI,
            other => Ecosystem::parse(other).unwrap_or_else(|| panic!("ecosystem {other}")),
        }
    }

    /// Lockfiles are untrusted input: every parser, fed every fixture (of any format) cut
    /// short and with bytes replaced by structural characters, returns packages or an error
    /// and never panics. A deterministic, stable-Rust stand-in for a fuzzing run.
    #[test]
    fn no_parser_panics_on_mangled_lockfiles() {
        let mut files = Vec::new();
        let mut stack = vec![fixtures_root().join("fixtures")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("fixtures dir").flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    files.push((p, text));
                }
            }
        }
        assert!(files.len() > 150, "only {} fixtures found", files.len());
        let no_includes = |_: &Path| Err(std::io::Error::other("no includes in this test"));
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % 1_000_003).unwrap_or(0)
        };
        const NOISE: &[u8] = b"\"{}[]:,=\n '#@/\\-0";
        let mut parses = 0;
        for (path, text) in &files {
            let mut variants = vec![text.clone()];
            for _ in 0..4 {
                let mut cut = next() % (text.len() + 1);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                variants.push(text[..cut].to_owned());
            }
            for _ in 0..4 {
                let mut bytes = text.clone().into_bytes();
                for _ in 0..8 {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = next() % bytes.len();
                    if bytes[i].is_ascii() {
                        bytes[i] = NOISE[next() % NOISE.len()];
                    }
                }
                variants.push(String::from_utf8(bytes).expect("ASCII swaps keep UTF-8"));
            }
            for v in &variants {
                for kind in Kind::ALL {
                    let _ = parse(kind, path, v, &no_includes);
                    parses += 1;
                }
            }
        }
        assert!(parses > 20_000, "{parses}");
    }

    /// Fixtures whose derived expectation is an extraction artefact, with the reason.
    const KNOWN_BAD_EXPECTATIONS: &[(&str, &str)] = &[(
        "npm/nested-dependencies-dup.v1.json",
        "expected-packages.json lists no packages for it although the file declares 39 \
         (name, version) pairs; taken as an extraction artefact of the derived expectations",
    )];

    type Row = (String, String, Ecosystem, bool, Option<String>);

    #[test]
    fn osv_scanner_fixtures_match_expected_packages() {
        let root = fixtures_root();
        let text = std::fs::read_to_string(root.join("expected-packages.json"))
            .expect("expected-packages.json");
        let expected: BTreeMap<String, Vec<Json>> = serde_json::from_str(&text).expect("json");
        let read = |p: &Path| std::fs::read_to_string(p);
        let mut failures = Vec::new();
        let mut checked = 0;
        for (fixture, cases) in &expected {
            if KNOWN_BAD_EXPECTATIONS.iter().any(|(f, _)| f == fixture) {
                continue;
            }
            for case in cases {
                checked += 1;
                let kind = kind_for_parser(case["parser"].as_str().unwrap_or(""));
                let path = root.join("fixtures").join(fixture);
                let result = std::fs::read_to_string(&path)
                    .map_err(|e| ParseError::new(e.to_string()))
                    .and_then(|content| parse(kind, &path, &content, &read));
                let expect_error = case["expect_error"].as_str();
                match (expect_error, result) {
                    (Some(_), Err(_)) => {}
                    (Some(e), Ok(pkgs)) => failures.push(format!(
                        "{fixture}: expected error {e}, got {} packages",
                        pkgs.len()
                    )),
                    (None, Err(e)) => failures.push(format!("{fixture}: unexpected error {e}")),
                    (None, Ok(pkgs)) => {
                        let mut want: Vec<Row> = Vec::new();
                        let mut check_commit = false;
                        for p in case["packages"].as_array().into_iter().flatten() {
                            let groups: Vec<&str> = p
                                .get("dep_groups")
                                .and_then(Json::as_array)
                                .map(|g| g.iter().filter_map(Json::as_str).collect())
                                .unwrap_or_default();
                            let commit = p.get("commit").and_then(Json::as_str).map(str::to_string);
                            check_commit |= commit.as_deref().is_some_and(|c| !c.is_empty());
                            want.push((
                                p["name"].as_str().unwrap_or("").to_string(),
                                // the expectations were regex-extracted from Go literals
                                p["version"].as_str().unwrap_or("").replace("\\\\", "\\"),
                                canonical_ecosystem(p["ecosystem"].as_str().unwrap_or("")),
                                groups.contains(&"dev"),
                                commit.filter(|c| !c.is_empty()),
                            ));
                        }
                        let mut got: Vec<Row> = pkgs
                            .iter()
                            .map(|p| {
                                (
                                    p.name.clone(),
                                    p.version.clone(),
                                    p.ecosystem,
                                    p.dev,
                                    p.commit.clone().filter(|c| !c.is_empty()),
                                )
                            })
                            .collect();
                        if !check_commit {
                            for r in want.iter_mut().chain(got.iter_mut()) {
                                r.4 = None;
                            }
                        }
                        want.sort();
                        got.sort();
                        if want != got {
                            failures.push(format!("{fixture}:\n  want {want:?}\n  got  {got:?}"));
                        }
                    }
                }
            }
        }
        assert!(checked > 190, "only {checked} cases");
        assert!(
            failures.is_empty(),
            "{} of {checked} fixtures failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

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
