//! `scan image`: a `docker save` archive or an OCI layout, read without extracting anything.
//!
//! Layers are walked in order ([`layer`]); each file an analyzer wants is read (capped) and
//! turned into findings at once, kept per path in a virtual view; a later layer's entry at
//! the same path, a `.wh.` whiteout or a `.wh..wh..opq` opaque directory drops the findings
//! of the layers below — Trivy's analyze-per-layer-then-apply model. Nothing is written to
//! disk, symlinks are never followed, so a layer cannot reach outside the image.
//!
//! [`archive`] opens the container, [`pkgs`] and [`binary`] are the pure analyzers,
//! [`history`] the image-config checks.

pub mod archive;
pub mod binary;
pub mod history;
pub mod layer;
pub mod pkgs;

use std::collections::BTreeMap;

use serde_json::json;

use crate::lockfile::{ImageInfo, Package};
use crate::osv::{self, Database};
use crate::report::{ArtifactType, Report, ResultClass, ScanResult};
use crate::scan::{self, Options};
use crate::secret;
use crate::version::Ecosystem;
use archive::Image;
use layer::{Budget, Entry, EntryKind, Limits};
use pkgs::OsPackage;

/// Why an image could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {message}")]
    Archive { path: String, message: String },
    #[error("layer {layer}: {message}")]
    Layer { layer: String, message: String },
    #[error(transparent)]
    SecretConfig(#[from] secret::ConfigError),
}

/// An image scan's settings: the filesystem scan's (target = the image path) plus limits.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub scan: Options,
    pub limits: Limits,
    /// Run the Dockerfile checks on the image config (`--image-config-scanners misconfig`).
    pub config_misconfig: bool,
}

/// What an image scan found.
#[derive(Debug)]
pub struct ImageOutcome {
    pub report: Report,
    /// Skipped entries and files (unsafe paths, files past a limit), for stderr.
    pub warnings: Vec<String>,
    /// Regular files seen in all layers, bytes read from them.
    pub files: usize,
    pub bytes: u64,
}

/// Language-package kinds found in images (Trivy's types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LangKind {
    Python,
    Node,
    Jar,
    GoBinary,
    RustBinary,
}

impl LangKind {
    fn trivy_type(self) -> &'static str {
        match self {
            LangKind::Python => "python-pkg",
            LangKind::Node => "node-pkg",
            LangKind::Jar => "jar",
            LangKind::GoBinary => "gobinary",
            LangKind::RustBinary => "rustbinary",
        }
    }

    fn ecosystem(self) -> Ecosystem {
        match self {
            LangKind::Python => Ecosystem::PyPI,
            LangKind::Node => Ecosystem::Npm,
            LangKind::Jar => Ecosystem::Maven,
            LangKind::GoBinary => Ecosystem::Go,
            LangKind::RustBinary => Ecosystem::CratesIo,
        }
    }

    /// Trivy gathers installed packages of these kinds into one result per kind.
    fn aggregate_target(self) -> Option<&'static str> {
        match self {
            LangKind::Python => Some("Python"),
            LangKind::Node => Some("Node.js"),
            LangKind::Jar => Some("Java"),
            LangKind::GoBinary | LangKind::RustBinary => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Found {
    OsRelease(Vec<(String, String)>),
    /// `etc/debian_version`, `etc/alpine-release`: the exact version.
    Release(String),
    OsPackages(Vec<OsPackage>),
    Lang(LangKind, Vec<(String, String)>),
    Secrets(Vec<secret::Finding>),
}

#[derive(Debug, Clone)]
struct Node {
    layer: usize,
    found: Vec<Found>,
}

/// Findings per path, after the layers read so far.
#[derive(Default)]
struct View {
    nodes: BTreeMap<String, Node>,
}

impl View {
    /// Drops `path` and everything under it from layers below `below`.
    fn remove(&mut self, path: &str, below: usize, with_self: bool) {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < below)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
        if with_self && self.nodes.get(path).is_some_and(|n| n.layer < below) {
            self.nodes.remove(path);
        }
    }
}

const MAX_WARNINGS: usize = 50;

fn warn(warnings: &mut Vec<String>, w: String) {
    tracing::warn!(warning = %w, "image scan");
    warnings.push(w);
}

fn is_dpkg_db(path: &str) -> bool {
    path == "var/lib/dpkg/status"
        || path
            .strip_prefix("var/lib/dpkg/status.d/")
            .is_some_and(|n| !n.is_empty() && !n.contains('/') && !n.ends_with(".md5sums"))
}

fn is_python_metadata(path: &str) -> bool {
    path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
        || (path.ends_with(".egg-info") && !path.ends_with("/.egg-info"))
}

fn is_jar(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".jar", ".war", ".ear", ".par"]
        .iter()
        .any(|e| lower.ends_with(e))
}

struct Analyzer<'a> {
    opts: &'a ImageOptions,
    secrets: Option<&'a secret::Scanner>,
}

impl Analyzer<'_> {
    /// Reads what the analyzers want of one regular file and analyzes it.
    fn file(&self, e: &mut Entry<'_>, warnings: &mut Vec<String>) -> (Vec<Found>, u64) {
        let path = e.path.clone();
        let base = path.rsplit('/').next().unwrap_or(&path);
        let limits = &self.opts.limits;
        let os_file = matches!(
            path.as_str(),
            "etc/os-release" | "usr/lib/os-release" | "etc/debian_version" | "etc/alpine-release"
        );
        let dpkg = is_dpkg_db(&path);
        let apk = path == "lib/apk/db/installed";
        let python = is_python_metadata(&path);
        let node = base == "package.json";
        let jar = is_jar(&path);
        let exec = e.mode & 0o111 != 0;
        let secret_path = format!("/{path}");
        let want_secret = self
            .secrets
            .is_some_and(|s| !s.path_allowed(&secret_path) && !scan_skip(self.opts, &path));
        let metadata = os_file || dpkg || apk || python || node;
        if !(metadata || jar || exec || want_secret) || e.size == 0 {
            return (Vec::new(), 0);
        }
        let secret_cap = self.opts.scan.max_secret_file_bytes;
        // executables and archives may be large: look at their first bytes first
        let mut head = Vec::new();
        let mut binary_cap = None;
        if jar || exec {
            head = e.peek(4).unwrap_or_default();
            if jar || head.starts_with(b"\x7fELF") {
                binary_cap = Some(limits.max_binary_bytes);
            }
        }
        let cap = match binary_cap {
            Some(c) => c,
            None if metadata => limits
                .max_file_bytes
                .max(if want_secret { secret_cap } else { 0 }),
            None if want_secret => secret_cap,
            None => return (Vec::new(), 0),
        };
        if e.size > cap {
            if binary_cap.is_some() || metadata {
                warn(
                    warnings,
                    format!(
                        "skipped {path}: {} bytes is more than the {cap}-byte limit for analysis",
                        e.size
                    ),
                );
            } else if e.size > secret_cap {
                warn(
                    warnings,
                    format!(
                        "{path}: {} bytes, not searched for secrets (limit {secret_cap})",
                        e.size
                    ),
                );
            }
            return (Vec::new(), 0);
        }
        let rest = match e.read(cap.saturating_sub(head.len() as u64)) {
            Ok(Some(b)) => b,
            Ok(None) => return (Vec::new(), 0),
            Err(err) => {
                warn(warnings, format!("skipped {path}: {err}"));
                return (Vec::new(), 0);
            }
        };
        let mut bytes = head;
        bytes.extend_from_slice(&rest);
        drop(rest);
        let n = bytes.len() as u64;
        let mut found = Vec::new();
        if binary_cap.is_some() {
            if jar {
                match pkgs::parse_jar(&bytes) {
                    Ok(p) if !p.is_empty() => found.push(Found::Lang(LangKind::Jar, p)),
                    Ok(_) => {}
                    Err(err) => warn(warnings, format!("{path}: {err}")),
                }
            } else if let Some(mods) = binary::go_modules(&bytes) {
                found.push(Found::Lang(LangKind::GoBinary, mods));
            } else if let Some(r) = binary::rust_audit(&bytes) {
                match r {
                    Ok(p) => found.push(Found::Lang(LangKind::RustBinary, p)),
                    Err(err) => warn(warnings, format!("{path}: {err}")),
                }
            }
            return (found, n);
        }
        if secret::looks_binary(&bytes) {
            return (found, n);
        }
        let text = String::from_utf8_lossy(&bytes);
        if os_file {
            if base == "os-release" {
                found.push(Found::OsRelease(pkgs::parse_os_release(&text)));
            } else {
                found.push(Found::Release(text.trim().to_string()));
            }
        } else if dpkg {
            found.push(Found::OsPackages(pkgs::parse_dpkg(&text)));
        } else if apk {
            found.push(Found::OsPackages(pkgs::parse_apk(&text)));
        } else if python {
            if let Some(p) = pkgs::parse_python_metadata(&text) {
                found.push(Found::Lang(LangKind::Python, vec![p]));
            }
        } else if node && let Some(p) = pkgs::parse_package_json(&bytes) {
            found.push(Found::Lang(LangKind::Node, vec![p]));
        }
        if want_secret
            && n <= secret_cap
            && let Some(s) = self.secrets
        {
            let f: Vec<secret::Finding> = s
                .scan(&secret_path, &text)
                .into_iter()
                .filter(|f| scan::wanted(&self.opts.scan, f.severity))
                .filter(|f| {
                    !self.opts.scan.ignore.ignores(
                        crate::ignorefile::Class::Secret,
                        &[&f.rule_id],
                        &path,
                        None,
                    )
                })
                .collect();
            if !f.is_empty() {
                found.push(Found::Secrets(f));
            }
        }
        (found, n)
    }
}

/// `--skip-files` / `--skip-dirs` for image paths (given with or without the leading `/`).
fn scan_skip(opts: &ImageOptions, path: &str) -> bool {
    let hit = |patterns: &[String], p: &str, dir: bool| {
        patterns.iter().any(|pat| {
            let pat = pat.trim_start_matches('/').trim_end_matches('/');
            if dir {
                p == pat || p.starts_with(&format!("{pat}/"))
            } else {
                p == pat
            }
        })
    };
    hit(&opts.scan.skip_files, path, false) || hit(&opts.scan.skip_dirs, path, true)
}

/// OS family and version from the files found.
fn detect_os(view: &View) -> Option<(String, String)> {
    let get = |p: &str| view.nodes.get(p).map(|n| &n.found);
    let mut os_release: Option<&Vec<(String, String)>> = None;
    for p in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(found) = get(p) {
            for f in found {
                if let Found::OsRelease(kv) = f {
                    os_release = Some(kv);
                }
            }
        }
        if os_release.is_some() {
            break;
        }
    }
    let release = |p: &str| -> Option<String> {
        get(p)?.iter().find_map(|f| match f {
            Found::Release(r) => Some(r.clone()),
            _ => None,
        })
    };
    let kv = |k: &str| -> Option<String> {
        os_release?
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    match kv("ID").as_deref() {
        Some("debian") | None
            if release("etc/debian_version").is_some() && kv("ID").as_deref() != Some("ubuntu") =>
        {
            // Trivy reads the point release from debian_version (`12.5`)
            let v = release("etc/debian_version").unwrap_or_default();
            let v = if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                v
            } else {
                kv("VERSION_ID").unwrap_or(v)
            };
            Some(("debian".into(), v))
        }
        Some("alpine") => Some((
            "alpine".into(),
            release("etc/alpine-release")
                .or_else(|| kv("VERSION_ID"))
                .unwrap_or_default(),
        )),
        None if release("etc/alpine-release").is_some() => Some((
            "alpine".into(),
            release("etc/alpine-release").unwrap_or_default(),
        )),
        Some(id) => Some((id.to_string(), kv("VERSION_ID").unwrap_or_default())),
        None => None,
    }
}

fn os_ecosystem(family: &str) -> Option<Ecosystem> {
    match family {
        "debian" => Some(Ecosystem::Debian),
        "ubuntu" => Some(Ecosystem::Ubuntu),
        "alpine" => Some(Ecosystem::Alpine),
        _ => None,
    }
}

/// Scans an image archive or layout.
pub fn scan_image(opts: &ImageOptions, db: &Database) -> Result<ImageOutcome, ImageError> {
    let image = Image::open(&opts.scan.target)?;
    let secrets = if opts.scan.scanners.secret {
        Some(secret::Scanner::new(opts.scan.secret_config.as_deref())?)
    } else {
        None
    };
    let analyzer = Analyzer {
        opts,
        secrets: secrets.as_ref(),
    };
    let budget = Budget::new(&opts.limits);
    let mut view = View::default();
    let mut warnings: Vec<String> = Vec::new();
    let mut files = 0usize;
    let mut bytes = 0u64;
    for (i, l) in image.layers.iter().enumerate() {
        let blob = image.layer_blob(l)?;
        let name = if l.diff_id.is_empty() {
            l.name.clone()
        } else {
            l.diff_id.clone()
        };
        let mut walk_warnings = Vec::new();
        let mut file_warnings = Vec::new();
        layer::walk(blob, &budget, &mut walk_warnings, &name, &mut |mut e| {
            match &e.kind {
                EntryKind::Whiteout => view.remove(&e.path, i, true),
                EntryKind::Opaque => view.remove(&e.path, i, false),
                EntryKind::Dir => {}
                EntryKind::Symlink(_) | EntryKind::Other => view.remove(&e.path, i + 1, true),
                EntryKind::Hardlink(target) => {
                    let copy = view.nodes.get(target).map(|n| n.found.clone());
                    view.remove(&e.path, i + 1, true);
                    if let Some(found) = copy {
                        view.nodes.insert(e.path.clone(), Node { layer: i, found });
                    }
                }
                EntryKind::File => {
                    view.remove(&e.path, i + 1, true);
                    files += 1;
                    let (found, n) = analyzer.file(&mut e, &mut file_warnings);
                    bytes += n;
                    if !found.is_empty() {
                        view.nodes.insert(e.path.clone(), Node { layer: i, found });
                    }
                }
            }
            Ok(())
        })?;
        for w in walk_warnings {
            warn(&mut warnings, w);
        }
        warnings.extend(file_warnings);
    }
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - MAX_WARNINGS;
        warnings.truncate(MAX_WARNINGS);
        warnings.push(format!("... and {more} more warnings"));
    }
    let report = build_report(opts, db, &image, &view);
    Ok(ImageOutcome {
        report,
        warnings,
        files,
        bytes,
    })
}

fn layer_of(image: &Image, i: usize) -> (String, String) {
    image
        .layers
        .get(i)
        .map(|l| (l.digest.clone(), l.diff_id.clone()))
        .unwrap_or_default()
}

fn build_report(opts: &ImageOptions, db: &Database, image: &Image, view: &View) -> Report {
    let o = &opts.scan;
    let artifact = o.target.display().to_string();
    let os = detect_os(view);
    let mut results = Vec::new();

    // OS packages
    let mut os_pkgs: Vec<(usize, &str, &OsPackage)> = Vec::new();
    for (path, n) in &view.nodes {
        for f in &n.found {
            if let Found::OsPackages(list) = f {
                os_pkgs.extend(list.iter().map(|p| (n.layer, path.as_str(), p)));
            }
        }
    }
    if os.is_some() || !os_pkgs.is_empty() {
        let (family, name) = os
            .clone()
            .unwrap_or_else(|| ("unknown".into(), String::new()));
        let eco = os_ecosystem(&family).unwrap_or(
            if os_pkgs.iter().any(|p| p.1.starts_with("lib/apk")) {
                Ecosystem::Alpine
            } else {
                Ecosystem::Debian
            },
        );
        let release = os_ecosystem(&family).and_then(|e| osv::osv_release(e, &name));
        let target = format!("{artifact} ({family} {name})");
        let mut r = ScanResult::new(&target, ResultClass::OsPkgs, &family);
        os_pkgs.sort_by(|a, b| {
            a.2.name
                .cmp(&b.2.name)
                .then_with(|| a.2.version.cmp(&b.2.version))
        });
        for (layer, path, p) in os_pkgs {
            let (digest, diff_id) = layer_of(image, layer);
            let mut pkg = Package::new(&p.name, &p.version, eco);
            pkg.image = Some(Box::new(ImageInfo {
                layer_digest: digest,
                layer_diff_id: diff_id,
                file_path: path.to_string(),
                src_name: p.src_name.clone(),
                src_version: p.src_version.clone(),
                arch: p.arch.clone(),
                namespace: family.clone(),
                distro: if name.is_empty() {
                    family.clone()
                } else {
                    format!("{family}-{name}")
                },
            }));
            if o.scanners.vuln {
                let v = scan::package_vulnerabilities(
                    o,
                    db,
                    &target,
                    &pkg,
                    release.as_deref(),
                    &p.src_name,
                    &p.src_version,
                );
                r.vulnerabilities.extend(v);
            }
            r.packages.push(pkg);
        }
        scan::sort_vulnerabilities(&mut r.vulnerabilities);
        results.push(r);
    }

    // language packages: aggregated kinds, then one result per binary
    let mut aggregated: BTreeMap<LangKind, ScanResult> = BTreeMap::new();
    let mut per_file: Vec<ScanResult> = Vec::new();
    for (path, n) in &view.nodes {
        for f in &n.found {
            let Found::Lang(kind, list) = f else { continue };
            let (digest, diff_id) = layer_of(image, n.layer);
            let target = kind.aggregate_target().unwrap_or(path);
            let mut fresh = None;
            let r = match kind.aggregate_target() {
                Some(_) => aggregated.entry(*kind).or_insert_with(|| {
                    ScanResult::new(target, ResultClass::LangPkgs, kind.trivy_type())
                }),
                None => fresh.insert(ScanResult::new(
                    target,
                    ResultClass::LangPkgs,
                    kind.trivy_type(),
                )),
            };
            for (name, version) in list {
                let mut pkg = Package::new(name, version, kind.ecosystem());
                pkg.image = Some(Box::new(ImageInfo {
                    layer_digest: digest.clone(),
                    layer_diff_id: diff_id.clone(),
                    file_path: path.clone(),
                    ..ImageInfo::default()
                }));
                if o.scanners.vuln {
                    let v = scan::package_vulnerabilities(o, db, path, &pkg, None, name, version);
                    r.vulnerabilities.extend(v);
                }
                r.packages.push(pkg);
            }
            if let Some(r) = fresh {
                per_file.push(r);
            }
        }
    }
    for mut r in aggregated.into_values().chain(per_file) {
        r.packages.sort();
        scan::sort_vulnerabilities(&mut r.vulnerabilities);
        results.push(r);
    }

    // image config
    if opts.config_misconfig {
        let (found, run) = history::check(&image.config);
        let mut r = ScanResult::new("Dockerfile", ResultClass::Config, "dockerfile");
        r.checks_run = run;
        r.misconfigurations = found
            .into_iter()
            .filter(|f| scan::wanted(o, f.severity))
            .filter(|f| {
                !o.ignore.ignores(
                    crate::ignorefile::Class::Misconfiguration,
                    &[&f.id, &f.avd_id()],
                    "Dockerfile",
                    None,
                )
            })
            .collect();
        results.push(r);
    }

    // secrets
    for (path, n) in &view.nodes {
        for f in &n.found {
            if let Found::Secrets(list) = f {
                let mut r = ScanResult::new(&format!("/{path}"), ResultClass::Secret, "");
                r.secrets.clone_from(list);
                r.layer = Some(layer_of(image, n.layer));
                results.push(r);
            }
        }
    }

    let mut metadata = json!({
        "ImageID": image.image_id,
        "DiffIDs": image.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        "ImageConfig": image.config,
    });
    if let Some((family, name)) = &os {
        metadata["OS"] = json!({"Family": family, "Name": name});
    }
    if !image.repo_tags.is_empty() {
        metadata["RepoTags"] = json!(image.repo_tags);
    }
    Report {
        artifact_name: artifact,
        artifact_type: ArtifactType::ContainerImage,
        metadata: Some(metadata),
        root_uri: "/".to_string(),
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        results,
        list_all_pkgs: o.list_all_pkgs,
    }
}

#[cfg(test)]
use crate::report;

#[cfg(test)]
mod tests;
