use super::*;
use std::path::PathBuf;

fn versions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scan/versions")
}

fn run_file(eco: Ecosystem, file: &str) -> (usize, Vec<String>) {
    let path = versions_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut total = 0;
    let mut failures = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# ") || line.starts_with("// ") {
            continue;
        }
        let pieces: Vec<&str> = line.split(' ').collect();
        assert_eq!(pieces.len(), 3, "bad fixture line {line:?} in {file}");
        let expected = match pieces[1] {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            other => panic!("unknown operator {other}"),
        };
        total += 1;
        let forward = compare(eco, pieces[0], pieces[2]);
        let backward = compare(eco, pieces[2], pieces[0]);
        if forward != expected || backward != expected.reverse() {
            failures.push(format!("{eco}: {line} (got {forward:?}/{backward:?})"));
        }
    }
    (total, failures)
}

#[test]
fn ecosystem_fixtures_all_pass() {
    let cases = [
        (Ecosystem::Npm, "semver-versions.txt"),
        (Ecosystem::CratesIo, "semver-versions.txt"),
        (Ecosystem::Go, "semver-versions.txt"),
        (Ecosystem::Hex, "semver-versions.txt"),
        (Ecosystem::RubyGems, "rubygems-versions.txt"),
        (Ecosystem::RubyGems, "rubygems-versions-generated.txt"),
        (Ecosystem::NuGet, "nuget-versions.txt"),
        (Ecosystem::Packagist, "packagist-versions.txt"),
        (Ecosystem::Packagist, "packagist-versions-generated.txt"),
        (Ecosystem::Maven, "maven-versions.txt"),
        (Ecosystem::Maven, "maven-versions-generated.txt"),
        (Ecosystem::PyPI, "pypi-versions.txt"),
        (Ecosystem::PyPI, "pypi-versions-generated.txt"),
        (Ecosystem::Debian, "debian-versions.txt"),
        (Ecosystem::Debian, "debian-versions-generated.txt"),
        (Ecosystem::Cran, "cran-versions.txt"),
        (Ecosystem::Cran, "cran-versions-generated.txt"),
        (Ecosystem::Alpine, "alpine-versions.txt"),
        (Ecosystem::Alpine, "alpine-versions-generated.txt"),
        (Ecosystem::RedHat, "redhat-versions.txt"),
    ];
    let mut all_failures = Vec::new();
    let mut total = 0;
    for (eco, file) in cases {
        let (n, failures) = run_file(eco, file);
        assert!(n > 0, "{file} has no assertions");
        total += n;
        all_failures.extend(failures);
    }
    assert!(
        all_failures.is_empty(),
        "{} of {total} assertions failed:\n{}",
        all_failures.len(),
        all_failures.join("\n")
    );
}

#[test]
fn go_pseudo_versions_order() {
    let e = Ecosystem::Go;
    assert_eq!(
        e.compare(
            "v0.0.0-20210101000000-abcdefabcdef",
            "v0.0.0-20220101000000-abcdefabcdef"
        ),
        Ordering::Less
    );
    assert_eq!(
        e.compare("v1.2.4-0.20210101000000-abcdefabcdef", "v1.2.4"),
        Ordering::Less
    );
    assert_eq!(e.compare("v1.2.3", "1.2.3"), Ordering::Equal);
}

#[test]
fn garbage_never_panics() {
    let long = "9".repeat(100);
    let inputs = [
        "", ".", "-", "+", "~", "::", "1:", ":1", "-r", "_p", "1..2", "ä.ö", &long,
    ];
    let ecos = [
        Ecosystem::Npm,
        Ecosystem::PyPI,
        Ecosystem::Maven,
        Ecosystem::RubyGems,
        Ecosystem::Packagist,
        Ecosystem::NuGet,
        Ecosystem::Debian,
        Ecosystem::Alpine,
        Ecosystem::Cran,
        Ecosystem::RedHat,
    ];
    for eco in ecos {
        for a in inputs {
            for b in inputs {
                let _ = compare(eco, a, b);
            }
        }
    }
}
