//! Skeleton created by the lead; the waf engineer replaces it.

use std::net::SocketAddr;

/// `[waf]` settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    pub listen: SocketAddr,
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: true, listen: SocketAddr::from(([0, 0, 0, 0], 8080)) }
    }
}

impl Config {
    /// # Errors
    /// Never yet.
    pub fn validate(&self) -> Result<(), opshelf_core::config::ConfigError> {
        Ok(())
    }
}

/// The commented `[waf]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = "[waf]\nenabled = true\nlisten = \"0.0.0.0:8080\"\n";

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Errors of this capability.
#[derive(Debug, thiserror::Error)]
pub enum Error {}

/// Build the router.
///
/// # Errors
/// Never yet.
#[allow(clippy::unused_async)]
pub async fn start(_config: &Config, _ctx: &opshelf_core::Context) -> Result<axum::Router, Error> {
    Ok(axum::Router::new())
}
