//! The scanner as the platform sees it: a config section and a status (the advisory
//! database's age), no listener — the scanner runs as `opshelf scan`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, ListenerSpec, Report, StartError, Started};

use crate::{CONFIG_EXAMPLE, Config};

/// An advisory database older than this makes the scanner report degraded (Trivy's own DB
/// is rebuilt every 6 hours; a week without an import means CI scans miss new advisories).
const STALE_AFTER_DAYS: u64 = 7;

/// `opshelf scan` (Trivy's CLI); `[scan]` holds its defaults.
#[derive(Debug)]
pub struct Scan;

impl Capability for Scan {
    const NAME: &'static str = "scan";
    const CONFIG_EXAMPLE: &'static str = CONFIG_EXAMPLE;
    type Config = Config;

    fn validate(config: &Config) -> Result<(), ConfigError> {
        config.validate()
    }

    fn enabled(_: &Config) -> bool {
        true
    }

    fn listeners(_: &Config) -> Vec<ListenerSpec> {
        Vec::new()
    }

    async fn start(config: Config, ctx: Context) -> Result<Started, StartError> {
        let index = config.index_path(&ctx.data_dir);
        Ok(Started::new(Arc::new(move || report(&index))))
    }
}

/// The database's presence and age, from the index file's metadata (one `stat`).
fn report(index: &PathBuf) -> Report {
    let Ok(meta) = std::fs::metadata(index) else {
        return Report::degraded(
            format!(
                "no advisory database at {}: import one with `opshelf scan db import <OSV zips or \
                 directories>` before scanning for vulnerabilities",
                index.display()
            ),
            true,
        )
        .fact("database", false);
    };
    let age_secs = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .map_or(0, |d| d.as_secs());
    let days = age_secs / 86_400;
    let r = if days >= STALE_AFTER_DAYS {
        Report::degraded(
            format!(
                "the advisory database is {days} days old: import fresh OSV data with `opshelf \
                 scan db import`"
            ),
            true,
        )
    } else {
        Report::up(format!("advisory database {}h old", age_secs / 3600))
    };
    r.fact("database", true)
        .fact("database_age_secs", age_secs)
        .fact("database_bytes", meta.len())
        .fact("path", index.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_database_is_degraded_but_serving_and_a_fresh_one_is_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advisories.json");
        let r = report(&path);
        assert_eq!(r.health, opshelf_core::Health::Degraded);
        assert!(r.serving);
        assert!(
            r.summary.contains("opshelf scan db import"),
            "{}",
            r.summary
        );
        std::fs::write(&path, "{}").unwrap();
        let r = report(&path);
        assert_eq!(r.health, opshelf_core::Health::Up);
        assert_eq!(r.facts["database"], true);
    }
}
