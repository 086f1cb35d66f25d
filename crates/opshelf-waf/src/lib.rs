//! opshelf's WAF: a SecLang (ModSecurity) engine that runs the unmodified OWASP Core Rule Set.
//!
//! Layers, from the bottom: [`seclang`] (lexer), [`ruleset`] (directives → rules, engine
//! settings), [`variable`], [`operator`], [`transform`], [`macros`], [`body`] (request-body
//! processors) and [`engine`] (phase-by-phase evaluation of one transaction). [`ftw`] runs
//! go-ftw regression files against the engine in-process. None of these does network I/O.

pub mod body;
mod capability;
pub(crate) mod engine;
pub mod ftw;
pub(crate) mod macros;
pub(crate) mod operator;
pub(crate) mod proxy;
pub(crate) mod records;
pub(crate) mod rule;
pub(crate) mod ruleset;
pub(crate) mod seclang;
pub mod transform;
pub(crate) mod variable;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use capability::Waf;
pub use engine::{Interruption, MatchRecord, Request, Response, Transaction};
pub use ruleset::{Loader, RuleSet};
pub use seclang::ParseError;

/// `[waf]` settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Serve the WAF listener once `upstream` is set (with no upstream there is nothing to
    /// protect, so nothing starts).
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Where requests go after inspection (`http://127.0.0.1:3000`).
    pub upstream: Option<String>,
    /// The CRS `rules/` directory (`*.conf` files are loaded in name order).
    pub rules_dir: Option<PathBuf>,
    /// A user's own `crs-setup.conf`; when unset, one is generated from the settings below.
    pub crs_setup: Option<PathBuf>,
    /// Extra rule files loaded after the CRS (the user's exclusions).
    pub exclusion_files: Vec<PathBuf>,
    /// `On` (block), `DetectionOnly` (log only) or `Off`.
    pub mode: String,
    /// CRS paranoia level (1-4).
    pub paranoia_level: u8,
    /// CRS inbound anomaly score threshold.
    pub inbound_anomaly_score_threshold: u32,
    /// CRS outbound anomaly score threshold.
    pub outbound_anomaly_score_threshold: u32,
    /// Requests per minute per client IP (0 = no limit).
    pub rate_limit_per_minute: u32,
    /// Open connections from one client address at most (0 = no cap); past it new ones are
    /// refused. Behind a load balancer, every connection comes from its address: raise it.
    pub max_connections_per_ip: usize,
    /// Audit log of flagged transactions (ModSecurity JSON), if set.
    pub audit_log: Option<PathBuf>,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed: the client is then the
    /// right-most address in it that is not a trusted proxy.
    pub trusted_proxies: Vec<String>,
    /// Routes tried in order before the default (`upstream`, `mode`, `rate_limit_per_minute`).
    pub routes: Vec<Route>,
    /// Terminate TLS here (what nginx's `ssl_certificate` / `ssl_certificate_key` did): a PEM
    /// certificate chain and its key. Both or neither.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

/// `[[waf.routes]]`: requests for `host` (any when unset) under `path_prefix` go to `upstream`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Route {
    pub host: Option<String>,
    pub path_prefix: String,
    pub upstream: String,
    /// On / DetectionOnly / Off for this route (default: `waf.mode`).
    pub mode: Option<String>,
    /// Requests per minute per client IP on this route (default: `waf.rate_limit_per_minute`).
    pub rate_limit_per_minute: Option<u32>,
}

impl Default for Route {
    fn default() -> Self {
        Self {
            host: None,
            path_prefix: "/".to_owned(),
            upstream: String::new(),
            mode: None,
            rate_limit_per_minute: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            upstream: None,
            rules_dir: None,
            crs_setup: None,
            exclusion_files: Vec::new(),
            mode: "On".to_owned(),
            paranoia_level: 1,
            inbound_anomaly_score_threshold: 5,
            outbound_anomaly_score_threshold: 4,
            rate_limit_per_minute: 100,
            max_connections_per_ip: 256,
            audit_log: None,
            trusted_proxies: Vec::new(),
            routes: Vec::new(),
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl Config {
    /// The listener's TLS files, if TLS is configured.
    ///
    /// # Errors
    /// Only one of `tls_cert_file` / `tls_key_file` is set.
    pub fn tls(
        &self,
    ) -> Result<Option<opshelf_core::tls::TlsFiles>, opshelf_core::config::ConfigError> {
        opshelf_core::tls::TlsFiles::from_pair(
            self.tls_cert_file.as_ref(),
            self.tls_key_file.as_ref(),
        )
    }

    /// # Errors
    /// A setting out of range, a half TLS pair, or an upstream without the CRS rules directory.
    pub fn validate(&self) -> Result<(), opshelf_core::config::ConfigError> {
        use opshelf_core::config::ConfigError;
        self.tls()?;
        if rule::EngineMode::parse(&self.mode).is_none() {
            return Err(ConfigError::new("mode", "On, DetectionOnly or Off"));
        }
        if !(1..=4).contains(&self.paranoia_level) {
            return Err(ConfigError::new(
                "paranoia_level",
                "a paranoia level from 1 to 4",
            ));
        }
        if self.inbound_anomaly_score_threshold == 0 {
            return Err(ConfigError::new(
                "inbound_anomaly_score_threshold",
                "a positive score",
            ));
        }
        if self.outbound_anomaly_score_threshold == 0 {
            return Err(ConfigError::new(
                "outbound_anomaly_score_threshold",
                "a positive score",
            ));
        }
        opshelf_core::client_ip::TrustedProxies::parse(&self.trusted_proxies)?;
        for (i, r) in self.routes.iter().enumerate() {
            if !(r.upstream.starts_with("http://") || r.upstream.starts_with("https://")) {
                return Err(ConfigError::new(
                    format!("routes[{i}].upstream"),
                    "an http:// URL",
                ));
            }
            if !r.path_prefix.starts_with('/') {
                return Err(ConfigError::new(
                    format!("routes[{i}].path_prefix"),
                    "a path starting with /",
                ));
            }
            if r.mode
                .as_deref()
                .is_some_and(|m| rule::EngineMode::parse(m).is_none())
            {
                return Err(ConfigError::new(
                    format!("routes[{i}].mode"),
                    "On, DetectionOnly or Off",
                ));
            }
        }
        if let Some(u) = &self.upstream
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError::new("upstream", "an http:// or https:// URL"));
        }
        if self.enabled && self.upstream.is_some() && self.rules_dir.is_none() {
            return Err(ConfigError::new(
                "rules_dir",
                "the CRS rules/ directory when the WAF has an upstream",
            ));
        }
        Ok(())
    }
}

/// The commented `[waf]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = r#"[waf]
# The web application firewall: a reverse proxy that runs the OWASP Core Rule Set v4.
# Serve it once `upstream` is set (it then needs `rules_dir` too); with no upstream it stays off.
enabled = true
# Where clients connect.
listen = "0.0.0.0:8080"
# Where inspected requests are forwarded, e.g. "http://127.0.0.1:3000".
# upstream = "http://127.0.0.1:3000"
# The CRS rules/ directory (its *.conf files are loaded in name order).
# rules_dir = "/etc/opshelf/crs/rules"
# Your own crs-setup.conf; when unset, opshelf generates one from the settings below.
# crs_setup = "/etc/opshelf/crs-setup.conf"
# Your rule exclusion files, loaded after the CRS; engine settings go here too. Request bodies
# are inspected up to SecRequestBodyLimit (non-multipart: SecRequestBodyNoFilesLimit, 128 KiB);
# longer ones get 413, or with `SecRequestBodyLimitAction ProcessPartial` are inspected in part
# and streamed on whole.
exclusion_files = []
# On = block, DetectionOnly = log only, Off = pass everything.
mode = "On"
# CRS paranoia level, 1 (few false positives) to 4.
paranoia_level = 1
# CRS anomaly score thresholds (5 = one critical rule).
inbound_anomaly_score_threshold = 5
outbound_anomaly_score_threshold = 4
# Requests per minute per client IP; 0 turns rate limiting off.
rate_limit_per_minute = 100
# Open connections per client address (0 = no cap). Behind a load balancer every connection
# comes from its address: raise this or set 0.
max_connections_per_ip = 256
# ModSecurity-format JSON audit log of flagged and blocked requests.
# audit_log = "/var/log/opshelf/waf-audit.log"
# Load balancers in front of opshelf whose X-Forwarded-For is believed (IPs or CIDRs).
trusted_proxies = []
# Routes by host and path prefix, tried in order; what matches none goes to `upstream`.
# [[waf.routes]]
# host = "api.example.com"
# path_prefix = "/v1"
# upstream = "http://127.0.0.1:9000"
# mode = "DetectionOnly"
# rate_limit_per_minute = 600
routes = []
# Terminate HTTPS here (nginx's ssl_certificate / ssl_certificate_key). Both or neither.
# tls_cert_file = "/etc/opshelf/tls/site.crt"
# tls_key_file = "/etc/opshelf/tls/site.key"
"#;

/// Errors of this capability.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rule set: {0}")]
    Rules(#[from] ParseError),
    #[error("{0}")]
    Config(String),
}

/// ModSecurity's recommended engine configuration (`modsecurity.conf-recommended`, v3), as the
/// CRS test suite expects it: rules 200000-200005 choose the XML/JSON body processors and
/// flag body-parsing errors. `SecAuditLogRelevantStatus` is rewritten without PCRE lookahead.
pub const RECOMMENDED_CONF: &str = include_str!("recommended.conf");

/// Loads the recommended config, a crs-setup, the CRS rules and extra files into a rule set.
///
/// # Errors
/// The first rule-file error (file, line, token).
pub fn load_crs(
    rules_dir: &std::path::Path,
    setup: Option<&str>,
    extra_before: &str,
    extra_files: &[PathBuf],
) -> Result<RuleSet, ParseError> {
    let mut loader = Loader::new();
    loader.load_str("modsecurity.conf-recommended", RECOMMENDED_CONF, None)?;
    if let Some(s) = setup {
        loader.load_str("crs-setup.conf", s, Some(rules_dir))?;
    }
    if !extra_before.is_empty() {
        loader.load_str("opshelf-generated.conf", extra_before, Some(rules_dir))?;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(rules_dir)
        .map_err(|e| {
            ParseError::new(
                &seclang::Location {
                    file: rules_dir.display().to_string(),
                    line: 0,
                },
                rules_dir.display().to_string(),
                e.to_string(),
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    for f in &files {
        loader.load_file(f)?;
    }
    for f in extra_files {
        loader.load_file(f)?;
    }
    loader.finish()
}

/// Builds the proxy router (rules loaded, SIGHUP reload task spawned).
///
/// # Errors
/// When the rules cannot be loaded or the upstream is unusable.
#[allow(clippy::unused_async)]
pub async fn start(config: &Config, ctx: &opshelf_core::Context) -> Result<axum::Router, Error> {
    proxy::router(config, ctx)
}

#[cfg(test)]
mod robustness {
    //! Random and hostile bytes through every parser of untrusted input: nothing may panic.
    //! (A deterministic generator, so a failure reproduces.)

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u8 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u8
        }
        fn bytes(&mut self, alphabet: &[u8], n: usize) -> Vec<u8> {
            (0..n)
                .map(|_| alphabet[usize::from(self.next()) % alphabet.len()])
                .collect()
        }
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut rng = Lcg(42);
        let alphabet: Vec<u8> = b"%uU0123456789abcdefABCDEF&#;x\\/.<>-*\"'\r\n\t {}[]:,=+?^`$!@\x00\xc3\xa9\xe2\x80\xff"
            .to_vec();
        let names = [
            "urldecodeuni",
            "urldecode",
            "htmlentitydecode",
            "jsdecode",
            "cssdecode",
            "escapeseqdecode",
            "cmdline",
            "normalizepath",
            "normalizepathwin",
            "utf8tounicode",
            "base64decode",
            "base64decodeext",
            "sqlhexdecode",
            "hexdecode",
            "removecomments",
            "removecommentschar",
            "replacecomments",
            "compresswhitespace",
            "removewhitespace",
            "trim",
            "md5",
            "sha1",
        ];
        let transforms: Vec<crate::transform::Transform> = names
            .iter()
            .map(|n| crate::transform::Transform::from_name(n).expect("known"))
            .collect();
        for round in 0..3000 {
            let len = usize::from(rng.next()) % 64;
            let input = rng.bytes(&alphabet, len);
            for t in &transforms {
                let _ = t.apply(&input);
            }
            let _ = crate::body::parse_urlencoded(&input, b'&');
            let _ = crate::body::parse_cookies(&input);
            let _ = crate::body::parse_json(&input, 8);
            let _ = crate::body::parse_xml(&input);
            let mut m = crate::body::Multipart::default();
            let _ = crate::body::multipart_boundary(&input, &mut m);
            let mut body = b"--B\r\n".to_vec();
            body.extend_from_slice(&input);
            let _ = crate::body::parse_multipart(&body, b"B");
            let text = String::from_utf8_lossy(&input);
            let _ = crate::seclang::lex("fuzz.conf", &text);
            let loc = crate::seclang::Location {
                file: "f".into(),
                line: round,
            };
            let _ = crate::seclang::parse_actions(&loc, &text);
            let _ = crate::seclang::parse_targets(&loc, &text);
            let mut l = crate::ruleset::Loader::new();
            let _ = l.load_str(
                "fuzz.conf",
                &format!("SecRule ARGS \"{text}\" \"id:1,{text}\""),
                None,
            );
        }
    }
}
