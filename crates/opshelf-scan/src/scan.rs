//! `scan fs` / `scan config`: walk a tree (ripgrep's `ignore` walker: .gitignore-aware,
//! parallel), run the engines on each file, filter by severity / ignore file / flags.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::cvss::Severity;
use crate::ignorefile::{Class, IgnoreList};
use crate::lockfile::{self, Package};
use crate::misconfig;
use crate::osv::Database;
use crate::report::{self, Report, ResultClass, ScanResult, Vulnerability};
use crate::secret;

/// Which scanners run (`--scanners vuln,secret,misconfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanners {
    pub vuln: bool,
    pub secret: bool,
    pub misconfig: bool,
}

impl Scanners {
    /// Parses a comma-separated list (Trivy's names; `config` = `misconfig`).
    pub fn parse(s: &str) -> Result<Scanners, String> {
        let mut out = Scanners {
            vuln: false,
            secret: false,
            misconfig: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "vuln" => out.vuln = true,
                "secret" => out.secret = true,
                "misconfig" | "config" => out.misconfig = true,
                "license" => {}
                other => {
                    return Err(format!(
                        "unknown scanner {other:?} (expected vuln, secret, misconfig)"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Everything a scan needs, already resolved from flags and config.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: PathBuf,
    pub scanners: Scanners,
    /// Severities to report (empty = all).
    pub severities: Vec<Severity>,
    pub ignore_unfixed: bool,
    pub include_dev_deps: bool,
    pub list_all_pkgs: bool,
    pub skip_dirs: Vec<String>,
    pub skip_files: Vec<String>,
    /// `trivy-secret.yaml` text (already read), if any.
    pub secret_config: Option<String>,
    /// The secret config's path as given (`--secret-config` or the configured name): a file
    /// at the scan root with its base name is not searched for secrets, as in Trivy.
    pub secret_config_path: Option<PathBuf>,
    pub ignore: IgnoreList,
    pub max_secret_file_bytes: u64,
    /// Show a progress line on stderr.
    pub progress: bool,
    pub threads: usize,
}

/// Errors that stop a scan (per-file problems are reported in the results instead).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {message}")]
    Target { path: String, message: String },
    #[error(transparent)]
    SecretConfig(#[from] secret::ConfigError),
    #[error("invalid pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
}

/// What a scan found, plus counters for benchmarks and progress.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub files: usize,
    pub bytes: u64,
}

fn globset(patterns: &[String]) -> Result<GlobSet, ScanError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim_start_matches("./").trim_end_matches('/');
        for variant in [p.to_string(), format!("**/{p}")] {
            let g = Glob::new(&variant).map_err(|e| ScanError::Pattern {
                pattern: p.to_string(),
                message: e.to_string(),
            })?;
            b.add(g);
        }
    }
    b.build().map_err(|e| ScanError::Pattern {
        pattern: patterns.join(","),
        message: e.to_string(),
    })
}

/// True on an interactive terminal outside CI (where a progress line helps).
pub fn progress_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

struct FileOutcome {
    results: Vec<ScanResult>,
}

fn rel_path(root: &Path, path: &Path, root_is_file: bool) -> String {
    if root_is_file {
        return path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn wanted(opts: &Options, s: Severity) -> bool {
    opts.severities.is_empty() || opts.severities.contains(&s)
}

fn scan_lockfile(
    kind: lockfile::Kind,
    rel: &str,
    path: &Path,
    text: &str,
    db: &Database,
    opts: &Options,
) -> ScanResult {
    let mut result = ScanResult::new(rel, ResultClass::LangPkgs, kind.trivy_type());
    let read = |p: &Path| std::fs::read_to_string(p);
    let packages = match lockfile::parse(kind, path, text, &read) {
        Ok(p) => p,
        Err(e) => {
            result.error = Some(format!("{rel}: {e}"));
            return result;
        }
    };
    let mut packages: Vec<Package> = packages
        .into_iter()
        .filter(|p| opts.include_dev_deps || !p.dev)
        // an unpinned requirement (`flask`, `MarkupSafe>2.0.0`) names no installed version:
        // Trivy does not list it
        .filter(|p| !(kind == lockfile::Kind::Requirements && p.version == "0.0.0"))
        .collect();
    // Trivy sorts a target's packages by name (byte order), then version
    packages.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    if opts.scanners.vuln {
        for p in &packages {
            // unpinned requirements carry no version to match; the project itself is no dependency
            if p.project
                || p.version.is_empty()
                || (kind == lockfile::Kind::Requirements && p.version == "0.0.0")
            {
                continue;
            }
            let found = package_vulnerabilities(opts, db, rel, p, None, &p.name, &p.version);
            result.vulnerabilities.extend(found);
        }
        sort_vulnerabilities(&mut result.vulnerabilities);
    }
    result.packages = packages;
    result
}

/// Trivy's order: by package, then most severe first, then by ID.
pub(crate) fn sort_vulnerabilities(v: &mut [Vulnerability]) {
    v.sort_by(|a, b| {
        a.pkg_name
            .cmp(&b.pkg_name)
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// The reported vulnerabilities of one package: advisories for `lookup_name@lookup_version`
/// (an OS package's source package; a language package itself) in `release` of its
/// ecosystem, after `--ignore-unfixed`, `--severity` and the ignore file.
pub(crate) fn package_vulnerabilities(
    opts: &Options,
    db: &Database,
    rel: &str,
    p: &Package,
    release: Option<&str>,
    lookup_name: &str,
    lookup_version: &str,
) -> Vec<Vulnerability> {
    let mut out = Vec::new();
    for f in db.vulnerabilities_in(p.ecosystem, release, lookup_name, lookup_version) {
        let adv = f.advisory;
        if opts.ignore_unfixed && f.fixed.is_empty() {
            continue;
        }
        if !wanted(opts, adv.severity) {
            continue;
        }
        let id = adv.display_id().to_string();
        let ids: Vec<&str> = adv.all_ids().collect();
        let purl = report::purl(p);
        if opts
            .ignore
            .ignores(Class::Vulnerability, &ids, rel, Some(&purl))
        {
            continue;
        }
        out.push(Vulnerability {
            vendor_ids: adv
                .all_ids()
                .filter(|x| *x != id)
                .map(str::to_string)
                .collect(),
            id,
            pkg_name: p.name.clone(),
            pkg_id: report::pkg_id(p),
            purl,
            installed_version: p.version.clone(),
            fixed_version: f.fixed.join(", "),
            severity: adv.severity,
            title: adv.summary.clone(),
            description: adv.details.clone(),
            primary_url: adv.primary_url(),
            references: adv.references.clone(),
            cvss_vector: adv.cvss_vector.clone(),
            cvss_score: adv.cvss_score,
            published: adv.published.clone(),
            modified: adv.modified.clone(),
            line: p.line(),
            layer: p
                .image
                .as_deref()
                .map(|i| (i.layer_digest.clone(), i.layer_diff_id.clone())),
        });
    }
    out
}

/// Runs a scan. `db` may be empty when the vulnerability scanner is off.
pub fn run(opts: &Options, db: &Database) -> Result<Outcome, ScanError> {
    let root = opts.target.clone();
    let meta = std::fs::metadata(&root).map_err(|e| ScanError::Target {
        path: root.display().to_string(),
        message: e.to_string(),
    })?;
    let root_is_file = meta.is_file();
    let secrets = if opts.scanners.secret {
        Some(secret::Scanner::new(opts.secret_config.as_deref())?)
    } else {
        None
    };
    let skip_dirs = globset(&opts.skip_dirs)?;
    let skip_files = globset(&opts.skip_files)?;

    let files = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let collected: Mutex<Vec<ScanResult>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);

    std::thread::scope(|scope| {
        if opts.progress {
            let files = &files;
            let done = &done;
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    eprint!("\rscanning… {} files", files.load(Ordering::Relaxed));
                    std::thread::sleep(Duration::from_millis(120));
                }
                eprint!("\r\x1b[K");
            });
        }
        let mut builder = ignore::WalkBuilder::new(&root);
        builder
            .hidden(false)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(true)
            .require_git(false)
            .parents(false)
            .threads(opts.threads.max(1));
        let root_for_filter = root.clone();
        let skip_dirs_f = skip_dirs.clone();
        builder.filter_entry(move |e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if !is_dir {
                return true;
            }
            if e.file_name() == ".git" {
                return false;
            }
            let rel = rel_path(&root_for_filter, e.path(), false);
            rel.is_empty() || !skip_dirs_f.is_match(&rel)
        });
        builder.build_parallel().run(|| {
            let root = &root;
            let secrets = secrets.as_ref();
            let skip_files = &skip_files;
            let skip_dirs = &skip_dirs;
            let collected = &collected;
            let files = &files;
            let bytes = &bytes;
            Box::new(move |entry| {
                let Ok(entry) = entry else {
                    return ignore::WalkState::Continue;
                };
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    return ignore::WalkState::Continue;
                }
                let path = entry.path();
                let rel = rel_path(root, path, root_is_file);
                if skip_files.is_match(&rel) {
                    return ignore::WalkState::Continue;
                }
                // a skipped directory given as a file path prefix
                if rel
                    .rsplit_once('/')
                    .is_some_and(|(dir, _)| skip_dirs.is_match(dir))
                {
                    return ignore::WalkState::Continue;
                }
                let out = scan_file(opts, db, secrets, path, &rel);
                files.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(out.1, Ordering::Relaxed);
                if !out.0.results.is_empty()
                    && let Ok(mut c) = collected.lock()
                {
                    c.extend(out.0.results);
                }
                ignore::WalkState::Continue
            })
        });
        done.store(true, Ordering::Relaxed);
    });

    let mut results = collected.into_inner().unwrap_or_default();
    results.sort_by(|a, b| a.class.cmp(&b.class).then_with(|| a.target.cmp(&b.target)));
    let root_abs = std::fs::canonicalize(&root).unwrap_or(root.clone());
    let root_dir = if root_is_file {
        root_abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(root_abs.clone())
    } else {
        root_abs
    };
    let report = Report {
        artifact_name: opts.target.display().to_string(),
        artifact_type: report::ArtifactType::Filesystem,
        metadata: None,
        root_uri: root_dir.display().to_string(),
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        results,
        list_all_pkgs: opts.list_all_pkgs,
    };
    Ok(Outcome {
        report,
        files: files.into_inner(),
        bytes: bytes.into_inner(),
    })
}

/// Trivy's secret analyzer skips `filepath.Base(configPath) == filePath`: the config file's
/// base name at the root of the scan (its own rules would match it).
fn is_secret_config(opts: &Options, rel: &str) -> bool {
    opts.secret_config_path
        .as_deref()
        .and_then(Path::file_name)
        .is_some_and(|base| base.to_string_lossy() == rel)
}

fn scan_file(
    opts: &Options,
    db: &Database,
    secrets: Option<&secret::Scanner>,
    path: &Path,
    rel: &str,
) -> (FileOutcome, u64) {
    let mut results = Vec::new();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock_kind = if opts.scanners.vuln || opts.list_all_pkgs {
        lockfile::detect(&name)
    } else {
        None
    };
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let want_secret =
        secrets.is_some() && size <= opts.max_secret_file_bytes && !is_secret_config(opts, rel);
    let maybe_config = opts.scanners.misconfig
        && (misconfig::detect(&name, None).is_some()
            || name.ends_with(".yaml")
            || name.ends_with(".yml")
            || name.ends_with(".conf"));
    if lock_kind.is_none() && !want_secret && !maybe_config {
        return (FileOutcome { results }, 0);
    }
    let Ok(bytes) = std::fs::read(path) else {
        return (FileOutcome { results }, 0);
    };
    let n = bytes.len() as u64;
    if secret::looks_binary(&bytes) {
        return (FileOutcome { results }, n);
    }
    let text = String::from_utf8_lossy(&bytes);
    if let Some(kind) = lock_kind {
        let r = scan_lockfile(kind, rel, path, &text, db, opts);
        if !r.vulnerabilities.is_empty()
            || r.error.is_some()
            || (opts.list_all_pkgs && !r.packages.is_empty())
        {
            results.push(r);
        }
    }
    if opts.scanners.misconfig
        && let Some(kind) = misconfig::detect(&name, Some(&text))
    {
        let mut r = ScanResult::new(rel, ResultClass::Config, kind.trivy_type());
        r.checks_run = misconfig::CHECKS.iter().filter(|c| c.kind == kind).count();
        match misconfig::scan(kind, &text) {
            Ok(found) => {
                r.misconfigurations = found
                    .into_iter()
                    .filter(|f| wanted(opts, f.severity))
                    .filter(|f| {
                        !opts.ignore.ignores(
                            Class::Misconfiguration,
                            &[&f.id, &f.avd_id()],
                            rel,
                            None,
                        )
                    })
                    .collect();
            }
            Err(e) => r.error = Some(format!("{rel}: {e}")),
        }
        results.push(r);
    }
    if want_secret && let Some(s) = secrets {
        let found: Vec<secret::Finding> = s
            .scan(rel, &text)
            .into_iter()
            .filter(|f| wanted(opts, f.severity))
            .filter(|f| !opts.ignore.ignores(Class::Secret, &[&f.rule_id], rel, None))
            .collect();
        if !found.is_empty() {
            let mut r = ScanResult::new(rel, ResultClass::Secret, "");
            r.secrets = found;
            results.push(r);
        }
    }
    (FileOutcome { results }, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(target: &Path) -> Options {
        Options {
            target: target.to_path_buf(),
            scanners: Scanners::parse("vuln,secret,misconfig").expect("scanners"),
            severities: Vec::new(),
            ignore_unfixed: false,
            include_dev_deps: false,
            list_all_pkgs: false,
            skip_dirs: Vec::new(),
            skip_files: Vec::new(),
            secret_config: None,
            secret_config_path: None,
            ignore: IgnoreList::default(),
            max_secret_file_bytes: 1 << 20,
            progress: false,
            threads: 2,
        }
    }

    fn db() -> Database {
        let rec = br#"{"id":"GHSA-1","aliases":["CVE-2099-1"],"modified":"2024-01-01T00:00:00Z","summary":"bad","affected":[{"package":{"ecosystem":"PyPI","name":"Django"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0"}]}]}],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#;
        let r = crate::osv::parse_record(rec, false).expect("record");
        Database::new(vec![crate::osv::compact(&r).expect("compact")])
    }

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        let w = |p: &str, c: &str| {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, c).expect("write");
        };
        w("requirements.txt", "django==2.2.24\nflask\n");
        w(
            "sub/poetry.lock",
            "[[package]]\nname = \"django\"\nversion = \"2.0\"\ncategory = \"dev\"\n",
        );
        w("Dockerfile", "FROM alpine:latest\nRUN apk add curl\n");
        w(
            "docs/notes.md",
            "key phc_GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb\n",
        );
        w(
            "node_modules/x/.env",
            "GITHUB=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
        );
        w(
            "skipme/.env",
            "GITHUB=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
        );
        w("broken/package-lock.json", "{ nope");
        w(".gitignore", "ignored/\n");
        w(
            "ignored/.env",
            "GITHUB=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
        );
        d
    }

    #[test]
    fn full_scan_finds_everything_once() {
        let d = tree();
        let mut o = opts(d.path());
        o.skip_dirs = vec!["skipme".into()];
        let out = run(&o, &db()).expect("scan");
        let r = &out.report;
        let targets: Vec<(&str, ResultClass)> = r
            .results
            .iter()
            .map(|x| (x.target.as_str(), x.class))
            .collect();
        assert!(
            targets.contains(&("requirements.txt", ResultClass::LangPkgs)),
            "{targets:?}"
        );
        // dev dependency excluded by default
        assert!(
            !targets.contains(&("sub/poetry.lock", ResultClass::LangPkgs)),
            "{targets:?}"
        );
        assert!(targets.contains(&("Dockerfile", ResultClass::Config)));
        assert!(targets.contains(&("docs/notes.md", ResultClass::Secret)));
        assert!(
            !targets.iter().any(|(t, _)| t.starts_with("skipme")
                || t.starts_with("ignored")
                || t.starts_with("node_modules")),
            "{targets:?}"
        );
        let broken = r
            .results
            .iter()
            .find(|x| x.target == "broken/package-lock.json")
            .expect("broken lockfile reported");
        assert!(broken.error.is_some());
        let req = r
            .results
            .iter()
            .find(|x| x.target == "requirements.txt")
            .expect("req");
        assert_eq!(req.vulnerabilities.len(), 1);
        assert_eq!(req.vulnerabilities[0].id, "CVE-2099-1");
        assert_eq!(req.vulnerabilities[0].line, Some(1));
        assert!(out.files >= 6, "{} files", out.files);

        // include dev deps, severity filter, ignore file
        let mut o2 = opts(d.path());
        o2.include_dev_deps = true;
        o2.skip_dirs = vec!["skipme".into()];
        o2.severities = vec![Severity::Critical];
        o2.ignore =
            IgnoreList::parse_text("DS002\n", time::macros::date!(2026 - 01 - 01)).expect("ignore");
        let out2 = run(&o2, &db()).expect("scan");
        let t2: Vec<&str> = out2
            .report
            .results
            .iter()
            .map(|x| x.target.as_str())
            .collect();
        assert!(t2.contains(&"sub/poetry.lock"), "{t2:?}");
        let docker = out2
            .report
            .results
            .iter()
            .find(|x| x.target == "Dockerfile")
            .expect("dockerfile");
        assert!(
            docker.misconfigurations.is_empty(),
            "only CRITICAL wanted: {:?}",
            docker.misconfigurations
        );
        let secrets: usize = out2.report.results.iter().map(|x| x.secrets.len()).sum();
        assert_eq!(secrets, 0, "the PostHog project key is LOW");
    }

    #[test]
    fn single_file_target() {
        let d = tree();
        let out = run(&opts(&d.path().join("docs/notes.md")), &Database::default()).expect("scan");
        assert_eq!(out.report.results.len(), 1);
        assert_eq!(out.report.results[0].target, "notes.md");
        assert_eq!(out.report.results[0].secrets[0].severity, Severity::Low);
    }

    #[test]
    fn secret_config_file_is_not_scanned_for_secrets() {
        let d = tempfile::tempdir().expect("tempdir");
        let config = "rules:\n  - id: my-rule\n    category: general\n    title: mine\n    severity: HIGH\n    regex: 'opshelf-[0-9]{8}'\n# example: opshelf-12345678\n";
        std::fs::write(d.path().join("trivy-secret.yaml"), config).expect("write");
        std::fs::create_dir_all(d.path().join("sub")).expect("mkdir");
        std::fs::write(d.path().join("sub/trivy-secret.yaml"), config).expect("write");
        std::fs::write(d.path().join("app.env"), "X=opshelf-87654321\n").expect("write");
        let mut o = opts(d.path());
        o.secret_config = Some(config.to_string());
        o.secret_config_path = Some(PathBuf::from("/etc/ci/trivy-secret.yaml"));
        let out = run(&o, &Database::default()).expect("scan");
        let targets: Vec<&str> = out
            .report
            .results
            .iter()
            .filter(|r| !r.secrets.is_empty())
            .map(|r| r.target.as_str())
            .collect();
        // only the root-level file with the config's base name is skipped (Trivy compares
        // the base name with the path relative to the root)
        assert_eq!(targets, vec!["app.env", "sub/trivy-secret.yaml"]);
        o.secret_config_path = None;
        let out = run(&o, &Database::default()).expect("scan");
        assert!(
            out.report
                .results
                .iter()
                .any(|r| r.target == "trivy-secret.yaml" && !r.secrets.is_empty())
        );
    }

    #[test]
    fn pkg_names_as_spelled_and_go_versions_with_v() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("requirements.txt"), "Werkzeug==0.11\n").expect("write");
        std::fs::write(
            d.path().join("go.mod"),
            "module x\n\ngo 1.21\n\nrequire (\n\tgithub.com/a/b v0.3.6\n\tgithub.com/c/d v2.7.1+incompatible\n)\n",
        )
        .expect("write");
        let recs = [
            br#"{"id":"PYSEC-W","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"werkzeug"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0.15.3"}]}]}]}"#.as_slice(),
            br#"{"id":"GO-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"github.com/c/d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"2.8.0"}]}]}]}"#.as_slice(),
        ];
        let db = Database::new(
            recs.iter()
                .map(|r| {
                    crate::osv::compact(&crate::osv::parse_record(r, false).expect("record"))
                        .expect("compact")
                })
                .collect(),
        );
        let mut o = opts(d.path());
        o.list_all_pkgs = true;
        let out = run(&o, &db).expect("scan");
        let req = out
            .report
            .results
            .iter()
            .find(|r| r.target == "requirements.txt")
            .expect("requirements result");
        assert_eq!(req.packages[0].name, "Werkzeug");
        assert_eq!(req.vulnerabilities[0].pkg_name, "Werkzeug");
        // the purl normalises the name, as the purl spec and Trivy do
        assert_eq!(req.vulnerabilities[0].purl, "pkg:pypi/werkzeug@0.11");
        assert_eq!(req.vulnerabilities[0].id, "PYSEC-W");
        let gomod = out
            .report
            .results
            .iter()
            .find(|r| r.target == "go.mod")
            .expect("go.mod result");
        let versions: Vec<(&str, &str)> = gomod
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert!(
            versions.contains(&("github.com/a/b", "v0.3.6")),
            "{versions:?}"
        );
        assert!(
            versions.contains(&("github.com/c/d", "v2.7.1+incompatible")),
            "{versions:?}"
        );
        assert_eq!(
            gomod.vulnerabilities[0].installed_version,
            "v2.7.1+incompatible"
        );
        assert_eq!(gomod.vulnerabilities[0].fixed_version, "2.8.0");
    }

    #[test]
    fn scanners_parse() {
        assert!(Scanners::parse("vuln,secret").expect("ok").secret);
        assert!(Scanners::parse("vuln,bogus").is_err());
    }
}
