//! The offline advisory database: import OSV records from folders and zip files into one compact
//! index file under the data dir, load it for scans, report its status. Never touches the network.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::osv::{self, Advisory, Database};

/// The index file's format version.
const FORMAT: u32 = 1;

/// Largest single advisory file read from a folder or a zip entry.
const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;

/// One import, as recorded in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub path: String,
    pub records: usize,
    pub imported_at: String,
}

/// The on-disk index.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IndexFile {
    pub format: u32,
    pub updated_at: String,
    pub sources: Vec<Source>,
    pub advisories: Vec<Advisory>,
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImportReport {
    pub files_read: usize,
    pub records_imported: usize,
    pub records_skipped: usize,
    /// Files that could not be parsed: (path, reason). The import goes on.
    pub errors: Vec<(String, String)>,
    pub total_advisories: usize,
    pub index_bytes: u64,
}

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid zip archive: {message}")]
    Zip { path: String, message: String },
    #[error("{path}: corrupt advisory index: {message}")]
    Corrupt { path: String, message: String },
    #[error(
        "{path}: advisory index format {found} is not supported (expected {FORMAT}); re-import"
    )]
    Format { path: String, found: u32 },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The index file location for a data dir (unless `[scan] db_path` overrides it).
pub fn default_index_path(data_dir: &Path) -> PathBuf {
    data_dir.join("scan").join("advisories.json")
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Reads the index file; `Ok(None)` when there is none yet.
pub fn read_index(path: &Path) -> Result<Option<IndexFile>, DbError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    #[derive(Deserialize)]
    struct Head {
        format: u32,
    }
    let head: Head = serde_json::from_slice(&bytes).map_err(|e| DbError::Corrupt {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    if head.format != FORMAT {
        return Err(DbError::Format {
            path: path.display().to_string(),
            found: head.format,
        });
    }
    let index: IndexFile = serde_json::from_slice(&bytes).map_err(|e| DbError::Corrupt {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(Some(index))
}

/// Loads the database for a scan (empty when nothing was imported).
pub fn load(path: &Path) -> Result<(Database, Option<IndexFile>), DbError> {
    match read_index(path)? {
        Some(mut index) => {
            let advisories = std::mem::take(&mut index.advisories);
            Ok((Database::new(advisories), Some(index)))
        }
        None => Ok((Database::default(), None)),
    }
}

fn write_index(path: &Path, index: &IndexFile) -> Result<u64, DbError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let bytes = serde_json::to_vec(index).map_err(|e| DbError::Corrupt {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, &bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(bytes.len() as u64)
}

fn record_kind(name: &str) -> Option<bool> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        Some(false)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Some(true)
    } else {
        None
    }
}

fn take_record(
    name: &str,
    bytes: &[u8],
    yaml: bool,
    out: &mut Vec<Advisory>,
    report: &mut ImportReport,
) {
    report.files_read += 1;
    match osv::parse_record(bytes, yaml) {
        Ok(record) => match osv::compact(&record) {
            Some(a) => {
                report.records_imported += 1;
                out.push(a);
            }
            None => report.records_skipped += 1,
        },
        Err(e) => report.errors.push((name.to_string(), e)),
    }
}

fn import_zip(
    path: &Path,
    out: &mut Vec<Advisory>,
    report: &mut ImportReport,
) -> Result<(), DbError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| DbError::Zip {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                report
                    .errors
                    .push((format!("{}#{i}", path.display()), e.to_string()));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        let Some(yaml) = record_kind(&name) else {
            continue;
        };
        let mut bytes = Vec::new();
        // bounded read: a zip bomb entry stops at the cap
        if let Err(e) = (&mut entry)
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut bytes)
        {
            report
                .errors
                .push((format!("{}!{name}", path.display()), e.to_string()));
            continue;
        }
        if bytes.len() as u64 > MAX_RECORD_BYTES {
            report.errors.push((
                format!("{}!{name}", path.display()),
                "entry too large".to_string(),
            ));
            continue;
        }
        take_record(
            &format!("{}!{name}", path.display()),
            &bytes,
            yaml,
            out,
            report,
        );
    }
    Ok(())
}

fn import_dir(
    dir: &Path,
    out: &mut Vec<Advisory>,
    report: &mut ImportReport,
) -> Result<(), DbError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .map_err(io_err(&d))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.display().to_string();
            if name.to_ascii_lowercase().ends_with(".zip") {
                import_zip(&path, out, report)?;
                continue;
            }
            let Some(yaml) = record_kind(&name) else {
                continue;
            };
            let meta = entry.metadata().map_err(io_err(&path))?;
            if meta.len() > MAX_RECORD_BYTES {
                report.errors.push((name, "file too large".to_string()));
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            take_record(&name, &bytes, yaml, out, report);
        }
    }
    Ok(())
}

/// Reads OSV records from folders, zip files or single files, without writing anything.
pub fn read_sources(
    paths: &[PathBuf],
) -> Result<(Vec<Advisory>, Vec<Source>, ImportReport), DbError> {
    let mut report = ImportReport::default();
    let mut advisories = Vec::new();
    let mut sources = Vec::new();
    let stamp = now_rfc3339();
    for path in paths {
        let before = report.records_imported;
        let meta = std::fs::metadata(path).map_err(io_err(path))?;
        if meta.is_dir() {
            import_dir(path, &mut advisories, &mut report)?;
        } else if path
            .to_string_lossy()
            .to_ascii_lowercase()
            .ends_with(".zip")
        {
            import_zip(path, &mut advisories, &mut report)?;
        } else {
            let name = path.display().to_string();
            let yaml = record_kind(&name).unwrap_or(false);
            let bytes = std::fs::read(path).map_err(io_err(path))?;
            take_record(&name, &bytes, yaml, &mut advisories, &mut report);
        }
        sources.push(Source {
            path: std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string(),
            records: report.records_imported - before,
            imported_at: stamp.clone(),
        });
    }
    Ok((advisories, sources, report))
}

/// Imports into the index at `index_path`, merging with what is already there.
pub fn import(index_path: &Path, paths: &[PathBuf]) -> Result<ImportReport, DbError> {
    let (incoming, sources, mut report) = read_sources(paths)?;
    let mut index = read_index(index_path)?.unwrap_or_default();
    index.format = FORMAT;
    index.advisories = osv::merge(std::mem::take(&mut index.advisories), incoming);
    for s in sources {
        index.sources.retain(|old| old.path != s.path);
        index.sources.push(s);
    }
    index.updated_at = now_rfc3339();
    report.total_advisories = index.advisories.len();
    report.index_bytes = write_index(index_path, &index)?;
    Ok(report)
}

/// `scan db status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub path: PathBuf,
    pub present: bool,
    pub advisories: usize,
    pub packages: usize,
    pub ecosystems: Vec<(String, usize)>,
    pub updated_at: String,
    pub age_seconds: Option<i64>,
    pub bytes: u64,
    pub sources: Vec<Source>,
}

pub fn status(index_path: &Path) -> Result<Status, DbError> {
    let bytes = std::fs::metadata(index_path).map(|m| m.len()).unwrap_or(0);
    let Some(index) = read_index(index_path)? else {
        return Ok(Status {
            path: index_path.to_path_buf(),
            present: false,
            advisories: 0,
            packages: 0,
            ecosystems: Vec::new(),
            updated_at: String::new(),
            age_seconds: None,
            bytes: 0,
            sources: Vec::new(),
        });
    };
    let mut per_eco: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for a in &index.advisories {
        let mut seen = Vec::new();
        for af in &a.affected {
            if !seen.contains(&af.ecosystem) {
                seen.push(af.ecosystem);
                *per_eco.entry(af.ecosystem.to_string()).or_default() += 1;
            }
        }
    }
    let age = time::OffsetDateTime::parse(
        &index.updated_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
    .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds());
    let db = Database::new(index.advisories.clone());
    Ok(Status {
        path: index_path.to_path_buf(),
        present: true,
        advisories: index.advisories.len(),
        packages: db.package_count(),
        ecosystems: per_eco.into_iter().collect(),
        updated_at: index.updated_at,
        age_seconds: age,
        bytes,
        sources: index.sources,
    })
}

/// Renders `scan db status` as `table` or `json`.
pub fn render_status(st: &Status, format: &str) -> Result<String, String> {
    match format {
        "json" => {
            let v = serde_json::json!({
                "Path": st.path.display().to_string(),
                "Present": st.present,
                "Advisories": st.advisories,
                "Packages": st.packages,
                "Ecosystems": st.ecosystems.iter().map(|(e, n)| serde_json::json!({"Ecosystem": e, "Advisories": n})).collect::<Vec<_>>(),
                "UpdatedAt": st.updated_at,
                "AgeSeconds": st.age_seconds,
                "Bytes": st.bytes,
                "Sources": st.sources.iter().map(|s| serde_json::json!({"Path": s.path, "Records": s.records, "ImportedAt": s.imported_at})).collect::<Vec<_>>(),
            });
            Ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            ))
        }
        "table" => {
            use std::fmt::Write as _;
            let mut out = String::new();
            if !st.present {
                let _ = writeln!(
                    out,
                    "No advisory database at {} (run `opshelf scan db import PATH`).",
                    st.path.display()
                );
                return Ok(out);
            }
            let age = st.age_seconds.map_or("unknown".to_string(), human_age);
            let _ = writeln!(out, "Database:   {}", st.path.display());
            let _ = writeln!(
                out,
                "Advisories: {} ({} packages)",
                st.advisories, st.packages
            );
            let _ = writeln!(out, "Updated:    {} ({age} ago)", st.updated_at);
            let _ = writeln!(out, "Size:       {:.1} MiB", st.bytes as f64 / 1_048_576.0);
            for (eco, n) in &st.ecosystems {
                let _ = writeln!(out, "  {eco:<12} {n}");
            }
            for s in &st.sources {
                let _ = writeln!(
                    out,
                    "Source:     {} ({} records, {})",
                    s.path, s.records, s.imported_at
                );
            }
            Ok(out)
        }
        other => Err(format!("unknown format {other:?} (table, json)")),
    }
}

fn human_age(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 120 {
        format!("{secs}s")
    } else if secs < 7200 {
        format!("{}m", secs / 60)
    } else if secs < 172_800 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osv::{RangeKind, range_includes};
    use crate::version::Ecosystem;

    fn shared() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scan/advisories")
    }

    #[test]
    #[ignore = "full staged corpus: ~1.5 min in a debug build; run with `cargo test -p opshelf-scan --release -- --ignored`"]
    fn imports_all_staged_advisories_and_pypa_versions_are_affected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = dir.path().join("scan/advisories.json");
        let report =
            import(&index, &[shared().join("rustsec"), shared().join("pypa")]).expect("import");
        assert!(
            report.errors.is_empty(),
            "parse errors: {:?}",
            report.errors
        );
        assert_eq!(report.files_read, 1206 + 2661);
        assert!(report.records_imported > 3500, "{report:?}");
        assert!(
            report.index_bytes < 30 * 1024 * 1024,
            "index is {} bytes",
            report.index_bytes
        );

        let (db, _) = load(&index).expect("load");
        // every version listed by a PyPA advisory is affected (IsVulnerable), and the ranges
        // alone agree except where the advisory contradicts itself
        let mut listed = 0;
        let mut contradictions = Vec::new();
        let mut withdrawn = 0;
        for adv in db.advisories.iter().filter(|a| a.id.starts_with("PYSEC-")) {
            if adv.withdrawn {
                // withdrawn advisories affect nothing, by the schema
                withdrawn += 1;
                assert!(
                    db.vulnerabilities(
                        adv.affected[0].ecosystem,
                        &adv.affected[0].name,
                        adv.affected[0].versions.first().map_or("0", String::as_str)
                    )
                    .iter()
                    .all(|f| f.advisory.id != adv.id)
                );
                continue;
            }
            for a in &adv.affected {
                for v in &a.versions {
                    listed += 1;
                    let found = db.vulnerabilities(a.ecosystem, &a.name, v);
                    assert!(
                        found.iter().any(|f| f
                            .advisory
                            .all_ids()
                            .any(|id| adv.all_ids().any(|x| x == id))),
                        "{} {}@{v} not affected",
                        adv.id,
                        a.name
                    );
                    let by_ranges = a
                        .ranges
                        .iter()
                        .filter(|r| r.kind == RangeKind::Ecosystem)
                        .any(|r| range_includes(Ecosystem::PyPI, r, v));
                    if !a.ranges.is_empty() && !by_ranges {
                        contradictions.push(format!("{} {}@{v}", adv.id, a.name));
                    }
                }
            }
        }
        assert!(listed > 10_000, "only {listed} listed versions");
        eprintln!(
            "PyPA: {listed} listed versions ({withdrawn} withdrawn advisories skipped), {} outside the advisory's own ranges: {:?}",
            contradictions.len(),
            contradictions
        );
        // the advisories contradict themselves only rarely
        assert!(
            contradictions.len() * 100 < listed,
            "{} contradictions",
            contradictions.len()
        );

        let st = status(&index).expect("status");
        assert!(st.present);
        assert_eq!(st.advisories, report.total_advisories);
        assert!(st.ecosystems.iter().any(|(e, _)| e == "PyPI"));
        assert!(st.ecosystems.iter().any(|(e, _)| e == "crates.io"));

        // re-import is idempotent
        let again = import(&index, &[shared().join("rustsec")]).expect("reimport");
        assert_eq!(again.total_advisories, report.total_advisories);
    }

    #[test]
    fn imports_zip_files_and_reports_bad_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zip_path = dir.path().join("osv.zip");
        {
            let f = std::fs::File::create(&zip_path).expect("create");
            let mut w = zip::ZipWriter::new(f);
            let opts = zip::write::SimpleFileOptions::default();
            w.start_file("GHSA-1.json", opts).expect("start");
            std::io::Write::write_all(
                &mut w,
                br#"{"id":"GHSA-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#,
            )
            .expect("write");
            w.start_file("broken.json", opts).expect("start");
            std::io::Write::write_all(&mut w, b"{not json").expect("write");
            w.finish().expect("finish");
        }
        let index = dir.path().join("idx.json");
        let report = import(&index, &[zip_path]).expect("import");
        assert_eq!(report.records_imported, 1);
        assert_eq!(report.errors.len(), 1);
        let (db, _) = load(&index).expect("load");
        let f = db.vulnerabilities(Ecosystem::Npm, "left-pad", "1.2.0");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].advisory.severity, crate::cvss::Severity::Critical);
        assert_eq!(f[0].fixed, vec!["1.3.0".to_string()]);
        assert!(
            db.vulnerabilities(Ecosystem::Npm, "left-pad", "1.3.0")
                .is_empty()
        );
    }

    #[test]
    fn missing_index_is_empty_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("none.json");
        assert!(read_index(&p).expect("read").is_none());
        std::fs::write(&p, b"garbage").expect("write");
        assert!(read_index(&p).is_err());
    }
}
