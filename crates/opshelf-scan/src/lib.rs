//! `opshelf scan`: a Trivy-style, offline-first scanner for CI — vulnerable packages (OSV
//! advisories matched against lockfiles), secrets, misconfigurations — with Trivy-shaped
//! table / JSON / SARIF / CycloneDX reports.
//!
//! Engines are pure modules without I/O: [`version`] (ordering per ecosystem), [`lockfile`]
//! (parsers), [`osv`] (records, compact index, `IsVulnerable`), [`cvss`], [`secret`],
//! [`misconfig`], [`ignorefile`], [`report`]. [`db`] reads and writes the advisory index file,
//! [`scan`] walks a tree and runs the engines.

use std::path::PathBuf;

// Used by path outside the crate: the binary (`crates/opshelf/src/cli/scan.rs`: `db::load`,
// `db::import`, `db::status`, `scan::run`, `report::render`, `ignorefile::today`, ...) and the
// fuzz target (`fuzz/fuzz_targets/lockfiles.rs`: `lockfile::parse`, `lockfile::Kind::ALL`).
pub mod cvss;
pub mod db;
pub mod ignorefile;
pub mod image;
pub mod lockfile;
pub mod osv;
pub mod report;
pub mod scan;
// Not named outside the crate, but public all the same: their types are in the API above
// (`report::Report` holds `misconfig::Finding` and `secret::Finding`, `lockfile::Package` a
// `version::Ecosystem`, `scan::run` fails with `secret::ConfigError`).
pub mod misconfig;
pub mod secret;
pub mod version;

mod capability;
pub use capability::Scan;
// The types the binary names.
pub use cvss::Severity;
pub use ignorefile::{Date, IgnoreList};
pub use osv::Database;
pub use report::Format;
pub use scan::{Options, Scanners};

/// `[scan]` settings (the scanner has no listener; these are what a CI job sets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Advisory index file; default `<data_dir>/scan/advisories.json`.
    pub db_path: Option<PathBuf>,
    /// Ignore file looked up in the scanned directory when `--ignorefile` is not given.
    pub ignorefile: String,
    /// Trivy secret config looked up in the scanned directory when `--secret-config` is not given.
    pub secret_config: String,
    /// Files larger than this are not searched for secrets (bytes).
    pub max_secret_file_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db_path: None,
            ignorefile: ".trivyignore".to_string(),
            secret_config: "trivy-secret.yaml".to_string(),
            max_secret_file_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Config {
    /// # Errors
    /// When a setting is out of range.
    pub fn validate(&self) -> Result<(), opshelf_core::config::ConfigError> {
        use opshelf_core::config::ConfigError;
        if self.ignorefile.trim().is_empty() {
            return Err(ConfigError::new(
                "ignorefile",
                "a file name like \".trivyignore\"",
            ));
        }
        if self.secret_config.trim().is_empty() {
            return Err(ConfigError::new(
                "secret_config",
                "a file name like \"trivy-secret.yaml\"",
            ));
        }
        if self.max_secret_file_bytes == 0 {
            return Err(ConfigError::new(
                "max_secret_file_bytes",
                "a positive number of bytes",
            ));
        }
        if self
            .db_path
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError::new(
                "db_path",
                "a file path, or no value for the default",
            ));
        }
        Ok(())
    }

    /// The advisory index file for `data_dir`.
    pub fn index_path(&self, data_dir: &std::path::Path) -> PathBuf {
        self.db_path
            .clone()
            .unwrap_or_else(|| db::default_index_path(data_dir))
    }
}

/// The commented `[scan]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = r#"[scan]
# The scanner runs from the command line (`opshelf scan fs PATH`); it opens no port.
# Advisory index written by `opshelf scan db import` (default: <data_dir>/scan/advisories.json).
# db_path = "/var/lib/opshelf/scan/advisories.json"
# Ignore file looked up in the scanned directory (Trivy's .trivyignore; .trivyignore.yaml also works).
ignorefile = ".trivyignore"
# Trivy secret-scanning config looked up in the scanned directory.
secret_config = "trivy-secret.yaml"
# Files larger than this many bytes are not searched for secrets.
max_secret_file_bytes = 10485760
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_to_default() {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            scan: Config,
        }
        let w: Wrapper = toml::from_str(CONFIG_EXAMPLE).expect("example parses");
        assert_eq!(w.scan, Config::default());
        assert!(Config::default().validate().is_ok());
        let bad = Config {
            max_secret_file_bytes: 0,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }
}
