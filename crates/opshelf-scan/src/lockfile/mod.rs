//! Lockfile parsers: text in, packages out. No I/O except `requirements.txt` includes, which go
//! through the caller-supplied reader. Malformed input is an error, never a panic.
//!
//! One file per format (Python's TOML/JSON lockfiles share `python.rs`); this module holds the
//! shared types, [`detect`] (file name -> [`Kind`]), the [`parse`] dispatcher and the helpers
//! several formats use.

mod bun;
mod cargo;
mod composer;
mod dotnet;
mod gemfile;
mod gomod;
mod gradle;
mod jsonspan;
mod mix;
mod npm;
mod nuget;
mod packagesprops;
mod pip;
mod pnpm;
mod pom;
mod pubspec;
mod python;
mod sbt;
mod yarn;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use crate::version::Ecosystem;

pub use python::normalize_pypi_name;

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
    /// Where the package is declared in the lockfile (Trivy's `Locations`): the lines of its
    /// entry, more than one when the same package is locked at several places.
    pub locations: Vec<Location>,
    /// The project itself or a member of its workspace (Trivy's `Relationship: root` /
    /// `workspace`): listed, never matched to advisories.
    pub project: bool,
    /// Packages found in container images: the layer, and for OS packages the source package.
    pub image: Option<Box<ImageInfo>>,
}

/// A 1-based, inclusive line range in a lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub start_line: usize,
    pub end_line: usize,
}

impl Location {
    pub fn lines(start_line: usize, end_line: usize) -> Self {
        Location {
            start_line,
            end_line: end_line.max(start_line),
        }
    }

    pub fn line(line: usize) -> Self {
        Location::lines(line, line)
    }
}

/// Where an image package came from; for OS packages also what advisories key it by.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageInfo {
    /// The layer's blob digest (`sha256:...`, empty when unknown) and its `diff_id`.
    pub layer_digest: String,
    pub layer_diff_id: String,
    /// The file the package was read from (`usr/lib/python3/dist-packages/x.dist-info/METADATA`).
    pub file_path: String,
    /// OS packages: source package name and version (Debian/Ubuntu/Alpine advisories are
    /// keyed by source package), architecture, purl namespace (`debian`) and distro
    /// qualifier (`debian-12.5`).
    pub src_name: String,
    pub src_version: String,
    pub arch: String,
    pub namespace: String,
    pub distro: String,
}

impl Package {
    pub fn new(name: impl Into<String>, version: impl Into<String>, ecosystem: Ecosystem) -> Self {
        Package {
            name: name.into(),
            version: version.into(),
            ecosystem,
            dev: false,
            commit: None,
            locations: Vec::new(),
            project: false,
            image: None,
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

    /// Sets the package's location to one line, when known.
    fn at_line(mut self, line: Option<usize>) -> Self {
        self.locations = line.map(Location::line).into_iter().collect();
        self
    }

    /// Sets the package's location to a line range, when known.
    fn at(mut self, location: Option<Location>) -> Self {
        self.locations = location.into_iter().collect();
        self
    }

    /// The first line of the package in its lockfile.
    pub fn line(&self) -> Option<usize> {
        self.locations.first().map(|l| l.start_line)
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
    DotnetDeps,
    PackagesProps,
    Sbt,
    Pub,
    Mix,
}

impl Kind {
    /// Every format, in the order of the enum.
    pub const ALL: [Kind; 22] = [
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
        Kind::DotnetDeps,
        Kind::PackagesProps,
        Kind::Sbt,
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
            Kind::DotnetDeps => "dotnet-core",
            Kind::PackagesProps => "packages-props",
            Kind::Sbt => "sbt",
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
        "build.sbt.lock" => Kind::Sbt,
        _ => {
            if file_name.starts_with("pylock.") && file_name.ends_with(".toml") {
                Kind::Pylock
            } else if file_name.len() > ".deps.json".len() && file_name.ends_with(".deps.json") {
                Kind::DotnetDeps
            } else if file_name.to_ascii_lowercase().ends_with("packages.props") {
                Kind::PackagesProps
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
        Kind::Requirements => pip::parse_requirements(path, content, read),
        Kind::Pipfile => python::parse_pipfile(content),
        Kind::Poetry => python::parse_poetry(content),
        Kind::Pdm => python::parse_pdm(content),
        Kind::Uv => python::parse_uv(content),
        Kind::Pylock => python::parse_pylock(content),
        Kind::NpmLock => npm::parse_npm(content),
        Kind::Yarn => {
            // Trivy reads the package.json beside yarn.lock (root, dev dependencies)
            let manifest = read(&path.with_file_name("package.json")).ok();
            yarn::parse_yarn(content, manifest.as_deref())
        }
        Kind::Pnpm => pnpm::parse_pnpm(content),
        Kind::Bun => bun::parse_bun(content),
        Kind::Cargo => {
            // Trivy reads the Cargo.toml beside Cargo.lock (the crate, dev-dependencies)
            let manifest = read(&path.with_file_name("Cargo.toml")).ok();
            cargo::parse_cargo(content, manifest.as_deref())
        }
        Kind::GoMod => gomod::parse_gomod(content),
        Kind::Gemfile => gemfile::parse_gemfile(content),
        Kind::Composer => composer::parse_composer(content),
        Kind::Gradle => gradle::parse_gradle(content),
        Kind::Pom => pom::parse_pom(content),
        Kind::NuGet => nuget::parse_nuget(content),
        Kind::DotnetDeps => dotnet::parse_deps_json(content),
        Kind::PackagesProps => packagesprops::parse_packages_props(content),
        Kind::Sbt => sbt::parse_sbt(content),
        Kind::Pub => pubspec::parse_pub(content),
        Kind::Mix => mix::parse_mix(content),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the format modules

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

fn commit_from_url(s: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = regex(&RE, r"(?:#|commit[=:]|ref=|/tar\.gz/|/)([0-9a-f]{40})\b");
    re.captures(s)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

/// Removes exact duplicates (same name, version, commit); a package that is both dev and
/// production is production; the locations of the duplicates are kept (as Trivy merges them).
fn dedup_packages(out: &mut Vec<Package>) {
    let mut result: Vec<Package> = Vec::with_capacity(out.len());
    let mut index: BTreeMap<(String, String, Option<String>), usize> = BTreeMap::new();
    for p in out.drain(..) {
        let key = (p.name.clone(), p.version.clone(), p.commit.clone());
        if let Some(&i) = index.get(&key) {
            result[i].dev &= p.dev;
            for l in p.locations {
                if !result[i].locations.contains(&l) {
                    result[i].locations.push(l);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

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
                        // osv-scanner normalises PyPI names and drops Go's `v`; opshelf
                        // keeps both as Trivy prints them, so compare the normalised forms
                        let mut got: Vec<Row> = pkgs
                            .iter()
                            .map(|p| {
                                (
                                    match p.ecosystem {
                                        Ecosystem::PyPI => normalize_pypi_name(&p.name),
                                        _ => p.name.clone(),
                                    },
                                    match p.ecosystem {
                                        Ecosystem::Go => {
                                            p.version.trim_start_matches('v').to_string()
                                        }
                                        _ => p.version.clone(),
                                    },
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

    /// Trivy's integration fixtures (`pipenv`, `fs/nuget`, `npm`) and the `Locations` their
    /// goldens give: the package's JSON object.
    #[test]
    fn json_lockfiles_locate_the_package_object() {
        let no_includes = |_: &Path| Err(std::io::Error::other("no includes in this test"));
        let locations = |kind: Kind, text: &str| -> Vec<(String, Vec<Location>)> {
            parse(kind, Path::new("lock"), text, &no_includes)
                .expect("parses")
                .into_iter()
                .map(|p| (p.name, p.locations))
                .collect()
        };
        let pipenv = "{\n    \"_meta\": {\n        \"hash\": {\n            \"sha256\": \"06bf5e1462f5cf5abd8c226d9db597827c8fde5c6bbb0e9c87c2977720130c56\"\n        },\n        \"pipfile-spec\": 6,\n        \"requires\": {\n            \"python_version\": \"3.10\"\n        },\n        \"sources\": [\n            {\n                \"name\": \"pypi\",\n                \"url\": \"https://pypi.org/simple\",\n                \"verify_ssl\": true\n            }\n        ]\n    },\n    \"default\": {\n        \"werkzeug\": {\n            \"hashes\": [\n                \"sha256:1e0dedc2acb1f46827daa2e399c1485c8fa17c0d8e70b6b875b4e7f54bf408d2\",\n                \"sha256:b353856d37dec59d6511359f97f6a4b2468442e454bd1c98298ddce53cac1f04\"\n            ],\n            \"index\": \"pypi\",\n            \"version\": \"==0.11.1\"\n        }\n    },\n    \"develop\": {}\n}\n";
        assert_eq!(
            locations(Kind::Pipfile, pipenv),
            [("werkzeug".to_string(), vec![Location::lines(19, 26)])]
        );
        let nuget = "{\n    \"version\": 1,\n    \"dependencies\": {\n        \".NETCoreApp,Version=v5.0\": {\n            \"Newtonsoft.Json\": {\n                \"type\": \"Direct\",\n                \"requested\": \"[12.0.3, )\",\n                \"resolved\": \"12.0.3\",\n                \"contentHash\": \"6mgjfnRB4jKMlzHSl+VD+oUc1IebOZabkbyWj2RiTgWwYPPuaK1H97G1sHqGwPlS5npiF5Q0OrxN1wni2n5QWg==\"\n            },\n            \"NuGet.Frameworks\": {\n                \"type\": \"Direct\",\n                \"requested\": \"[5.7.0, )\",\n                \"resolved\": \"5.7.0\",\n                \"contentHash\": \"7Q/wUoB3jCBcq9zoBOBGHFhe78C13jViPmvjvzTwthVV8DAjMfpXnqAYtgwdaRLJMkTXrtdLxfPBIFFhmlsnIQ==\",\n                \"dependencies\": {\n                    \"Newtonsoft.Json\": \"12.0.3\"\n                }\n            }\n        }\n    }\n}\n";
        assert_eq!(
            locations(Kind::NuGet, nuget),
            [
                ("Newtonsoft.Json".to_string(), vec![Location::lines(5, 10)]),
                (
                    "NuGet.Frameworks".to_string(),
                    vec![Location::lines(11, 19)]
                ),
            ]
        );
        let npm = "{\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 1,\n  \"requires\": true,\n  \"dependencies\": {\n    \"asap\": {\n      \"version\": \"2.0.6\",\n      \"resolved\": \"https://registry.npmjs.org/asap/-/asap-2.0.6.tgz\",\n      \"integrity\": \"sha1-5QNHYR1+aQlDIIu9r+vLwvuGbUY=\"\n    },\n    \"jquery\": {\n      \"version\": \"3.3.9\",\n      \"resolved\": \"https://registry.npmjs.org/jquery/-/jquery-3.4.0.tgz\",\n      \"integrity\": \"sha512-ggRCXln9zEqv6OqAGXFEcshF5dSBvCkzj6Gm2gzuR5fWawaX8t7cxKVkkygKODrDAzKdoYw3l/e3pm3vlT4IbQ==\"\n    },\n    \"js-tokens\": {\n      \"version\": \"4.0.0\",\n      \"resolved\": \"https://registry.npmjs.org/js-tokens/-/js-tokens-4.0.0.tgz\",\n      \"integrity\": \"sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhHN4k6apgJtifcoCtT9bcxOpYBtpD2kCM6Sbzg4CausW/PKQ==\"\n    },\n    \"loose-envify\": {\n      \"version\": \"1.4.0\",\n      \"resolved\": \"https://registry.npmjs.org/loose-envify/-/loose-envify-1.4.0.tgz\",\n      \"integrity\": \"sha512-lyuxPGr/Wfhrlem2CL/UcnUc1zcqKAImBDzukY7Y5F/yQiNdko6+fRLevlw1HgMySw7f611UIY408EtxRSoK3Q==\",\n      \"requires\": {\n        \"js-tokens\": \"^3.0.0 || ^4.0.0\"\n      }\n    },\n    \"object-assign\": {\n      \"version\": \"4.1.1\",\n      \"resolved\": \"https://registry.npmjs.org/object-assign/-/object-assign-4.1.1.tgz\",\n      \"integrity\": \"sha1-IQmtx5ZYh8/AXLvUQsrIv7s2CGM=\"\n    },\n    \"promise\": {\n      \"version\": \"8.0.3\",\n      \"resolved\": \"https://registry.npmjs.org/promise/-/promise-8.0.3.tgz\",\n      \"integrity\": \"sha512-HeRDUL1RJiLhyA0/grn+PTShlBAcLuh/1BJGtrvjwbvRDCTLLMEz9rOGCV+R3vHY4MixIuoMEd9Yq/XvsTPcjw==\",\n      \"requires\": {\n        \"asap\": \"~2.0.6\"\n      }\n    },\n    \"prop-types\": {\n      \"version\": \"15.7.2\",\n      \"resolved\": \"https://registry.npmjs.org/prop-types/-/prop-types-15.7.2.tgz\",\n      \"integrity\": \"sha512-8QQikdH7//R2vurIJSutZ1smHYTcLpRWEOlHnzcWHmBYrOGUysKwSsrC89BCiFj3CbrfJ/nXFdJepOVrY1GCHQ==\",\n      \"requires\": {\n        \"loose-envify\": \"^1.4.0\",\n        \"object-assign\": \"^4.1.1\",\n        \"react-is\": \"^16.8.1\"\n      }\n    },\n    \"react\": {\n      \"version\": \"16.8.6\",\n      \"resolved\": \"https://registry.npmjs.org/react/-/react-16.8.6.tgz\",\n      \"integrity\": \"sha512-pC0uMkhLaHm11ZSJULfOBqV4tIZkx87ZLvbbQYunNixAAvjnC+snJCg0XQXn9VIsttVsbZP/H/ewzgsd5fxKXw==\",\n      \"requires\": {\n        \"loose-envify\": \"^1.1.0\",\n        \"object-assign\": \"^4.1.1\",\n        \"prop-types\": \"^15.6.2\",\n        \"scheduler\": \"^0.13.6\"\n      }\n    },\n    \"react-is\": {\n      \"version\": \"16.8.6\",\n      \"resolved\": \"https://registry.npmjs.org/react-is/-/react-is-16.8.6.tgz\",\n      \"integrity\": \"sha512-aUk3bHfZ2bRSVFFbbeVS4i+lNPZr3/WM5jT2J5omUVV1zzcs1nAaf3l51ctA5FFvCRbhrH0bdAsRRQddFJZPtA==\"\n    },\n    \"redux\": {\n      \"version\": \"4.0.1\",\n      \"resolved\": \"https://registry.npmjs.org/redux/-/redux-4.0.1.tgz\",\n      \"integrity\": \"sha512-R7bAtSkk7nY6O/OYMVR9RiBI+XghjF9rlbl5806HJbQph0LJVHZrU5oaO4q70eUKiqMRqm4y07KLTlMZ2BlVmg==\",\n      \"requires\": {\n        \"loose-envify\": \"^1.4.0\",\n        \"symbol-observable\": \"^1.2.0\"\n      }\n    },\n    \"scheduler\": {\n      \"version\": \"0.13.6\",\n      \"resolved\": \"https://registry.npmjs.org/scheduler/-/scheduler-0.13.6.tgz\",\n      \"integrity\": \"sha512-IWnObHt413ucAYKsD9J1QShUKkbKLQQHdxRyw73sw4FN26iWr3DY/H34xGPe4nmL1DwXyWmSWmMrA9TfQbE/XQ==\",\n      \"requires\": {\n        \"loose-envify\": \"^1.1.0\",\n        \"object-assign\": \"^4.1.1\"\n      }\n    },\n    \"symbol-observable\": {\n      \"version\": \"1.2.0\",\n      \"resolved\": \"https://registry.npmjs.org/symbol-observable/-/symbol-observable-1.2.0.tgz\",\n      \"integrity\": \"sha512-e900nM8RRtGhlV36KGEU9k65K3mPb1WV70OdjfxlG2EAuM1noi/E/BaW/uMhL7bPEssK8QV57vN3esixjUvcXQ==\"\n    },\n    \"z-lock\": {\n      \"version\": \"1.0.0\",\n      \"resolved\": \"https://registry.npmjs.org/z-lock/-/z-lock-1.0.0.tgz\",\n      \"integrity\": \"sha512-TWoID7h5wphb4YHcY/tu9u7nZb6wtmBjqpRUYbQCemrhmJXL+7/Vblb6rs7ANnBInIt9Qccb7bXUCNGZpxekeA==\",\n      \"dev\": true\n    }\n  }\n}";
        let got = locations(Kind::NpmLock, npm);
        assert_eq!(got.len(), 13);
        assert!(got.contains(&("asap".to_string(), vec![Location::lines(6, 10)])));
        assert!(got.contains(&("react".to_string(), vec![Location::lines(52, 62)])));
        assert!(got.contains(&("z-lock".to_string(), vec![Location::lines(91, 96)])));
    }
}
