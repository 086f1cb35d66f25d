//! The console: one web UI for what opshelf replaces (the Unleash admin UI, Vault's UI, the
//! WAF's blocked requests, the scanners' reports) and the roadmap's success metrics.
//!
//! It depends on no capability crate: it reaches the flags and secrets capabilities over
//! HTTP, on the addresses the platform bound ([`opshelf_core::Context::board`]), and
//! forwards a signed-in user's requests to them same-origin under
//! `/console/api/proxy/<capability>/...` ([`proxy`]). It reads the platform's own figures
//! in-process (the metrics registry, the capability reports, the data directory). It keeps
//! its users, sessions, audit stream and scan reports in its storage namespace.
//!
//! Everything it serves is under `/console/` plus the page at `/`, so the binary can mount
//! the same UI on another capability's listener (`[console] mount_on`) without touching
//! that capability's routes.

pub mod assets;
pub mod audit;
pub mod auth;
pub mod capability;
pub mod error;
pub mod overview;
pub mod proxy;
pub mod routes;
pub mod scans;
pub mod waf;

#[cfg(test)]
mod http_tests;

use std::net::SocketAddr;
use std::path::PathBuf;

use opshelf_core::config::ConfigError;
use serde::{Deserialize, Serialize};

pub use capability::Console;
pub use error::Error;

/// `[console]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Serve the console.
    pub enabled: bool,
    /// Where the console listens.
    pub listen: SocketAddr,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The first admin's password (user `admin`), used only when no user exists yet; empty:
    /// a random one is printed once at first start.
    pub admin_password: String,
    /// An Unleash admin token (`*:*.<secret>`, also listed in `[flags]
    /// init_admin_api_tokens`) the console adds to the flags requests it forwards.
    pub flags_admin_token: String,
    /// The WAF's audit log (`[waf] audit_log`), read for the WAF page.
    pub waf_audit_log: Option<PathBuf>,
    /// A bearer token that may POST scan reports without a session (CI); empty: sessions only.
    pub scan_upload_token: String,
    /// Other listeners that serve this UI at `/` too, opening on their page.
    pub mount_on: Vec<String>,
    /// How long a session lasts after sign-in, in hours.
    pub session_hours: u64,
    /// Largest scan report accepted, in bytes.
    pub max_upload_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            tls_cert_file: None,
            tls_key_file: None,
            admin_password: String::new(),
            flags_admin_token: String::new(),
            waf_audit_log: None,
            scan_upload_token: String::new(),
            mount_on: vec!["flags".to_owned(), "traces-query".to_owned()],
            session_hours: 12,
            max_upload_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The page `/` of a mounted listener opens on: its capability's page (the Jaeger
/// listener, `traces-query`, opens on Traces, as Jaeger's UI at :16686 would).
#[must_use]
pub fn home_page(listener: &str) -> &str {
    match listener {
        "traces-query" => "traces",
        other => other,
    }
}

impl Config {
    /// Check what can be checked without starting.
    ///
    /// # Errors
    /// A key with a value that cannot work, named relative to `[console]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.tls()?;
        if !self.admin_password.is_empty() && self.admin_password.len() < 8 {
            return Err(ConfigError::new(
                "admin_password",
                "at least 8 characters (or empty: a random password is printed at first start)",
            ));
        }
        if !self.flags_admin_token.is_empty() && !self.flags_admin_token.starts_with("*:*.") {
            return Err(ConfigError::new(
                "flags_admin_token",
                "an Unleash admin token of the form *:*.<secret>",
            ));
        }
        if !self.scan_upload_token.is_empty() && self.scan_upload_token.len() < 16 {
            return Err(ConfigError::new(
                "scan_upload_token",
                "at least 16 characters (or empty: uploads need a session)",
            ));
        }
        if self.session_hours == 0 || self.session_hours > 24 * 30 {
            return Err(ConfigError::new("session_hours", "1 to 720"));
        }
        if self.max_upload_bytes < 1024 {
            return Err(ConfigError::new("max_upload_bytes", "at least 1024"));
        }
        for m in &self.mount_on {
            if m.is_empty() || m == "console" || m == "admin" {
                return Err(ConfigError::new(
                    "mount_on",
                    "names of other capabilities' listeners (\"flags\", \"traces-query\", ...)",
                ));
            }
        }
        Ok(())
    }

    /// The listener's TLS files.
    ///
    /// # Errors
    /// Only one of `tls_cert_file` / `tls_key_file` is set.
    pub fn tls(&self) -> Result<Option<opshelf_core::tls::TlsFiles>, ConfigError> {
        opshelf_core::tls::TlsFiles::from_pair(
            self.tls_cert_file.as_ref(),
            self.tls_key_file.as_ref(),
        )
    }
}

/// The `[console]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = r#"[console]
# The web console: flags, WAF, secrets, scans, the success metrics.
enabled = true
listen = "127.0.0.1:9000"
# tls_cert_file = "/etc/opshelf/console.pem"    # with TLS the session cookie is Secure
# tls_key_file = "/etc/opshelf/console.key"
# First admin (user "admin"), only when no user exists; empty: a random password is printed
# once at first start. Also OPSHELF_CONSOLE__ADMIN_PASSWORD.
admin_password = ""
# An Unleash admin token the console adds to the flag requests it forwards for signed-in
# users; list the same token in [flags] init_admin_api_tokens (INIT_ADMIN_API_TOKENS).
flags_admin_token = ""
# The WAF's audit log ([waf] audit_log), read by the WAF page.
# waf_audit_log = "/var/log/opshelf/waf-audit.log"
# A bearer token CI may POST scan reports with (Trivy JSON or SARIF) to
# /console/api/scans?repo=...&branch=...; empty: uploads need a signed-in admin.
scan_upload_token = ""
# Other listeners that serve this UI at / too, opening on their page (traces-query:
# the Jaeger listener, :16686).
mount_on = ["flags", "traces-query"]
session_hours = 12
max_upload_bytes = 16777216
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_to_the_defaults_and_validates() {
        #[derive(Deserialize)]
        struct Doc {
            console: Config,
        }
        let doc: Doc = toml_like(CONFIG_EXAMPLE);
        assert_eq!(doc.console, Config::default());
        Config::default().validate().unwrap();
        let bad = Config {
            flags_admin_token: "default:development.x".into(),
            ..Config::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "flags_admin_token");
    }

    fn toml_like<T: serde::de::DeserializeOwned>(s: &str) -> T {
        toml::from_str(s).unwrap()
    }
}
