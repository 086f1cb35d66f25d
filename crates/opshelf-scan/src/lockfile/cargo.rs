//! `Cargo.lock`. Locations as Trivy's `naive_pkg_parser.go` finds them: from a table's header
//! line to the line before the first blank line (or the next header) after it. With the
//! `Cargo.toml` beside it, as Trivy's cargo analyzer: the crate itself is listed (not matched
//! to advisories) and only what its `[dependencies]` (and `[target.*.dependencies]`,
//! `[workspace.dependencies]`) reach is kept, so dev-dependencies drop out.

use std::collections::{BTreeSet, HashMap};

use super::{Location, Package, ParseError, toml_doc, toml_packages, tstr};
use crate::version::Ecosystem;

pub(super) fn parse_cargo(
    content: &str,
    manifest: Option<&str>,
) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let positions = package_positions(content);
    let locked: Vec<&toml::Table> = toml_packages(&doc)
        .filter(|p| !tstr(p, "name").is_empty())
        .collect();
    let keep = manifest
        .and_then(|m| m.parse::<toml::Table>().ok())
        .and_then(|m| reachable_from_manifest(&locked, &m));
    let mut out = Vec::new();
    for (i, pkg) in locked.iter().enumerate() {
        let (name, version) = (tstr(pkg, "name"), tstr(pkg, "version"));
        let mut project = false;
        if let Some((root, keep)) = &keep {
            project = *root == Some(i);
            if !project && !keep.contains(&i) {
                continue;
            }
        }
        let location = positions
            .get(&(name.to_string(), version.to_string()))
            .copied();
        let mut p = Package::new(name, version, Ecosystem::CratesIo).at(location);
        p.project = project;
        out.push(p);
    }
    Ok(out)
}

/// Names of the dependencies a manifest declares for the build (not `[dev-dependencies]`).
fn manifest_dependencies(manifest: &toml::Table) -> BTreeSet<String> {
    let mut tables: Vec<&toml::Table> = Vec::new();
    if let Some(t) = manifest.get("dependencies").and_then(toml::Value::as_table) {
        tables.push(t);
    }
    for target in manifest
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|t| t.values())
    {
        if let Some(t) = target.get("dependencies").and_then(toml::Value::as_table) {
            tables.push(t);
        }
    }
    if let Some(t) = manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
    {
        tables.push(t);
    }
    let mut names = BTreeSet::new();
    for t in tables {
        for (key, spec) in t {
            // a renamed dependency (`alias = { package = "real" }`) is locked by its real name
            let real = spec.get("package").and_then(toml::Value::as_str);
            names.insert(real.unwrap_or(key).to_string());
        }
    }
    names
}

/// The index of the crate itself and the indexes the manifest's dependencies reach; `None`
/// when the manifest names no crate found in the lockfile.
fn reachable_from_manifest(
    locked: &[&toml::Table],
    manifest: &toml::Table,
) -> Option<(Option<usize>, BTreeSet<usize>)> {
    let name = manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)?;
    let root = locked
        .iter()
        .position(|p| tstr(p, "name") == name && !p.contains_key("source"))?;
    let wanted = manifest_dependencies(manifest);
    // `name`, `name version` or `name version (source)`
    let resolve = |spec: &str| -> Option<usize> {
        let mut parts = spec.split(' ');
        let dep = parts.next().unwrap_or("");
        let version = parts.next();
        let mut candidates = (0..locked.len()).filter(|&j| {
            tstr(locked[j], "name") == dep
                && version.is_none_or(|v| tstr(locked[j], "version") == v)
        });
        let first = candidates.next()?;
        candidates.next().is_none().then_some(first)
    };
    let deps_of = |i: usize| -> Vec<String> {
        locked[i]
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut keep = BTreeSet::new();
    let mut stack: Vec<usize> = deps_of(root)
        .iter()
        .filter(|d| wanted.contains(d.split(' ').next().unwrap_or("")))
        .filter_map(|d| resolve(d))
        .collect();
    while let Some(i) = stack.pop() {
        if keep.insert(i) {
            stack.extend(deps_of(i).iter().filter_map(|d| resolve(d)));
        }
    }
    Some((Some(root), keep))
}

fn property(line: &str) -> String {
    match line.split_once('=') {
        Some((_, v)) => v.trim().trim_matches('"').to_string(),
        None => String::new(),
    }
}

/// `(name, version)` -> the lines of its `[[package]]` table.
fn package_positions(content: &str) -> HashMap<(String, String), Location> {
    let mut out = HashMap::new();
    let (mut name, mut version) = (String::new(), String::new());
    let (mut start, mut end) = (0, 0);
    let mut last = 0;
    let mut flush = |name: &mut String, version: &mut String, start: usize, end: usize| {
        if !name.is_empty() {
            out.insert(
                (std::mem::take(name), std::mem::take(version)),
                Location::lines(start, end),
            );
        }
        name.clear();
        version.clear();
    };
    for (i, line) in content.lines().enumerate() {
        let n = i + 1;
        last = n;
        let t = line.trim();
        if t.starts_with('[') {
            flush(
                &mut name,
                &mut version,
                start,
                if end == 0 { n - 1 } else { end },
            );
            start = n;
            end = 0;
        } else if t.starts_with("name =") {
            name = property(t);
        } else if t.starts_with("version =") {
            version = property(t);
        } else if t.is_empty() && end == 0 && start != 0 {
            end = n - 1;
        }
    }
    flush(
        &mut name,
        &mut version,
        start,
        if end == 0 { last } else { end },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of Trivy's `integration/testdata/fixtures/repo/trivy-ci-test/Cargo.lock`; the
    /// test-repo golden gives ammonia lines 2-13.
    const LOCK: &str = "# It is not intended for manual editing.\n[[package]]\nname = \"ammonia\"\nversion = \"1.9.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\ndependencies = [\n \"html5ever 0.23.0 (registry+https://github.com/rust-lang/crates.io-index)\",\n \"lazy_static 1.3.0 (registry+https://github.com/rust-lang/crates.io-index)\",\n \"maplit 1.0.1 (registry+https://github.com/rust-lang/crates.io-index)\",\n \"matches 0.1.8 (registry+https://github.com/rust-lang/crates.io-index)\",\n \"tendril 0.4.1 (registry+https://github.com/rust-lang/crates.io-index)\",\n \"url 1.7.2 (registry+https://github.com/rust-lang/crates.io-index)\",\n]\n\n[[package]]\nname = \"autocfg\"\nversion = \"0.1.2\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n[[package]]\nname = \"bitflags\"\nversion = \"0.7.0\"\n";

    #[test]
    fn packages_span_their_table() {
        let pkgs = parse_cargo(LOCK, None).expect("parses");
        let got: Vec<(&str, Vec<Location>)> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.locations.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("ammonia", vec![Location::lines(2, 13)]),
                ("autocfg", vec![Location::lines(15, 18)]),
                ("bitflags", vec![Location::lines(19, 21)]),
            ]
        );
    }

    /// Trivy's `integration/testdata/fixtures/repo/cargo` (Cargo.lock, Cargo.toml): the golden
    /// lists `app` (14-21) and what `regex` and the optional `memchr` reach, not the
    /// dev-dependency `winapi` and its own dependencies.
    const APP_LOCK: &str = "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n\n[[package]]\nname = \"aho-corasick\"\nversion = \"0.7.20\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"cc936419f96fa211c1b9166887b38e5e40b19958e5b895be7c1f93adec7071ac\"\ndependencies = [\n \"memchr 2.7.4\",\n]\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"memchr 1.0.2\",\n \"regex\",\n \"winapi\",\n]\n\n[[package]]\nname = \"libc\"\nversion = \"0.2.171\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"c19937216e9d3aa9956d9bb8dfc0b0c8beb6058fc4f7a4dc4d850edf86a237d6\"\n\n[[package]]\nname = \"memchr\"\nversion = \"1.0.2\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"148fab2e51b4f1cfc66da2a7c32981d1d3c083a803978268bb11fe4b86925e7a\"\ndependencies = [\n \"libc\",\n]\n\n[[package]]\nname = \"memchr\"\nversion = \"2.7.4\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"78ca9ab1a0babb1e7d5695e3530886289c18cf2f87ec19a575a0abdce112e3a3\"\n\n[[package]]\nname = \"regex\"\nversion = \"1.7.3\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"8b1f693b24f6ac912f4893ef08244d70b6067480d2f1a46e950c9691e6749d1d\"\ndependencies = [\n \"aho-corasick\",\n \"memchr 2.7.4\",\n \"regex-syntax\",\n]\n\n[[package]]\nname = \"regex-syntax\"\nversion = \"0.6.29\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"f162c6dd7b008981e4d40210aca20b4bd0f9b60ca9271061b07f78537722f2e1\"\n\n[[package]]\nname = \"winapi\"\nversion = \"0.3.9\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"5c839a674fcd7a98952e593242ea400abe93992746761e38641405d28b00f419\"\ndependencies = [\n \"winapi-i686-pc-windows-gnu\",\n \"winapi-x86_64-pc-windows-gnu\",\n]\n\n[[package]]\nname = \"winapi-i686-pc-windows-gnu\"\nversion = \"0.4.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ac3b87c63620426dd9b991e5ce0329eff545bccbbb34f3be09ff6fb6ab51b7b6\"\n\n[[package]]\nname = \"winapi-x86_64-pc-windows-gnu\"\nversion = \"0.4.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"712e227841d057c1ee1cd2fb22fa7e5a5461ae8e48fa2ca79ec42cfc1931183f\"\n";
    const APP_TOML: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n# See more keys and their definitions at https://doc.rust-lang.org/cargo/reference/manifest.html\n\n[dependencies]\nregex = \"=1.7.3\"\n\n[target.'cfg(not(target_os = \"windows\"))'.dependencies]\nmemchr = { version = \"1.*\", optional = true }\n\n[dev-dependencies]\nwinapi = \"*\"";

    #[test]
    fn cargo_toml_drops_dev_dependencies_and_lists_the_crate() {
        let pkgs = parse_cargo(APP_LOCK, Some(APP_TOML)).expect("parses");
        let got: Vec<(String, bool, Vec<Location>)> = pkgs
            .iter()
            .map(|p| {
                (
                    format!("{}@{}", p.name, p.version),
                    p.project,
                    p.locations.clone(),
                )
            })
            .collect();
        let row = |id: &str, project, s, e| (id.to_string(), project, vec![Location::lines(s, e)]);
        assert_eq!(
            got,
            [
                row("aho-corasick@0.7.20", false, 5, 12),
                row("app@0.1.0", true, 14, 21),
                row("libc@0.2.171", false, 23, 27),
                row("memchr@1.0.2", false, 29, 36),
                row("memchr@2.7.4", false, 38, 42),
                row("regex@1.7.3", false, 44, 53),
                row("regex-syntax@0.6.29", false, 55, 59),
            ]
        );
        // without the manifest every locked crate is listed
        assert_eq!(parse_cargo(APP_LOCK, None).expect("parses").len(), 10);
    }
}
