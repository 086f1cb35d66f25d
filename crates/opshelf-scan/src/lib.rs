//! Skeleton created by the lead; the scan engineer replaces it.

/// `[scan]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {}

impl Config {
    /// # Errors
    /// Never yet.
    pub fn validate(&self) -> Result<(), opshelf_core::config::ConfigError> {
        Ok(())
    }
}

/// The commented `[scan]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = "[scan]\n";
