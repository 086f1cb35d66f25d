//! The capability contract: what a capability crate tells the platform, and what it is given.
//!
//! A capability (secrets, flags, the WAF, ...) is a type implementing [`Capability`]: a name
//! (its config section, storage namespace and metric prefix), a `Config` with the replaced
//! tool's defaults, the replaced tool's own environment variables ([`Capability::apply_env`],
//! applied before validation so a bad variable fails before anything binds), the listeners
//! it needs ([`ListenerSpec`]) and `start`, which returns a router per listener and a status
//! source ([`Started`]). The binary keeps the one list of capabilities and does the rest:
//! config sections, binding, serving with the core layers, `/status`, shutdown. Compare
//! Vector's `SourceConfig::build` and Quickwit's list of services.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Context;
use crate::config::ConfigError;
use crate::http::Limits;
use crate::logsink::LogSink;
use crate::status::StatusSource;
use crate::tls::TlsFiles;

/// What a capability crate implements (on a unit type, e.g. `opshelf_secrets::Secrets`).
pub trait Capability: Send + Sync + 'static {
    /// Its config section (`[secrets]`), storage namespace and metric prefix
    /// (`opshelf_secrets_`); lowercase ASCII.
    const NAME: &'static str;
    /// The commented `[NAME]` section printed by `opshelf config example`.
    const CONFIG_EXAMPLE: &'static str;
    /// Its settings: `deny_unknown_fields`, `Default` = the replaced tool's defaults.
    type Config: Serialize
        + DeserializeOwned
        + Default
        + Clone
        + fmt::Debug
        + PartialEq
        + Send
        + Sync
        + 'static;

    /// The replaced tool's own environment variables (`VAULT_DEV_ROOT_TOKEN_ID`,
    /// `INIT_*_API_TOKENS`, `OTEL_*`), applied after the file and `OPSHELF_*` overrides and
    /// before [`Capability::validate`].
    ///
    /// # Errors
    /// An [`EnvError`] naming the variable and what was expected.
    fn apply_env(config: &mut Self::Config, env: &Env) -> Result<(), EnvError> {
        let _ = (config, env);
        Ok(())
    }

    /// Check what can be checked without starting.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key relative to the section.
    fn validate(config: &Self::Config) -> Result<(), ConfigError>;

    /// The listeners this configuration needs (none when disabled, or for a CLI-only
    /// capability). Every one is bound before any capability starts.
    fn listeners(config: &Self::Config) -> Vec<ListenerSpec>;

    /// Whether `start` runs at all for this configuration (a disabled capability reports
    /// no status and starts nothing).
    fn enabled(config: &Self::Config) -> bool;

    /// What `/status` says of it when [`Capability::enabled`] is false: how to switch it on.
    fn disabled_summary(config: &Self::Config) -> String {
        let _ = config;
        format!("disabled: set [{}] enabled = true to start it", Self::NAME)
    }

    /// Build the service: a router for each listener it declared, and its status source.
    /// Background work goes through `ctx.tasks`, so `serve` can await it at shutdown.
    fn start(
        config: Self::Config,
        ctx: Context,
    ) -> impl Future<Output = Result<Started, StartError>> + Send;
}

/// One listener a capability needs.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// Unique name, used in logs, metric labels and `/status` (`"secrets"`, `"traces-grpc"`).
    pub name: &'static str,
    /// The config key of its address (`"secrets.listen"`), for error messages and `/status`.
    pub key: &'static str,
    pub addr: SocketAddr,
    /// Serve over TLS with these files (`None`: plain HTTP).
    pub tls: Option<TlsFiles>,
    /// Its body limit and, where it differs from `[server]`, its connection limits (the
    /// binary fills the rest from `[server]`).
    pub limits: Limits,
    /// How errors the core answers itself (413, 503 timeout, 500 panic) look on it.
    pub errors: ErrorStyle,
}

impl ListenerSpec {
    /// A plain-HTTP listener with JSON errors and `max_body_bytes`.
    #[must_use]
    pub fn new(
        name: &'static str,
        key: &'static str,
        addr: SocketAddr,
        max_body_bytes: Option<usize>,
    ) -> Self {
        Self {
            name,
            key,
            addr,
            tls: None,
            limits: Limits {
                max_body_bytes,
                ..Limits::default()
            },
            errors: ErrorStyle::Json,
        }
    }

    /// Serve over TLS.
    #[must_use]
    pub fn with_tls(mut self, tls: Option<TlsFiles>) -> Self {
        self.tls = tls;
        self
    }

    /// Render core-made errors in `style`.
    #[must_use]
    pub fn with_errors(mut self, style: ErrorStyle) -> Self {
        self.errors = style;
        self
    }

    /// At most `n` connections from one client address (0: no per-address cap).
    #[must_use]
    pub fn with_max_connections_per_ip(mut self, n: usize) -> Self {
        self.limits.max_connections_per_ip = Some(n);
        self
    }
}

/// How the core renders the errors it answers itself on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorStyle {
    /// opshelf's JSON envelope, `{"error": {"code": "...", "message": "..."}}` (`error::envelope`).
    #[default]
    Json,
    /// `text/plain` (a reverse proxy: the upstream's clients expect no JSON from us).
    PlainText,
    /// gRPC: HTTP 200 with `grpc-status` / `grpc-message` trailers-only responses.
    Grpc,
}

/// What `start` returns.
pub struct Started {
    /// A router for each listener the capability declared, by listener name.
    pub routers: BTreeMap<&'static str, Router>,
    /// Where `/status` reads this capability's health.
    pub status: Arc<dyn StatusSource>,
    /// The sink this capability offers for other capabilities' log records, if it stores logs.
    pub log_sink: Option<Arc<dyn LogSink>>,
    /// Routers to mount on OTHER capabilities' listeners, by listener name (the console's UI
    /// at `/` of the flags listener). The binary serves a mount's paths ([`Mount::paths`])
    /// before the owner's router, which keeps every other route and its own fallback. A
    /// mount only reaches listeners of capabilities started after this one.
    pub mounts: BTreeMap<&'static str, Mount>,
}

/// A router offered to another capability's listener, and the paths it takes there.
#[derive(Clone)]
pub struct Mount {
    /// Exact paths (`"/"`) and prefixes ending in `/` (`"/console/"`) it answers.
    pub paths: Vec<&'static str>,
    pub router: Router,
}

impl fmt::Debug for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mount")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started")
            .field("routers", &self.routers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Started {
    /// Started with no listener yet.
    #[must_use]
    pub fn new(status: Arc<dyn StatusSource>) -> Self {
        Self {
            routers: BTreeMap::new(),
            status,
            log_sink: None,
            mounts: BTreeMap::new(),
        }
    }

    /// Mount `router` on `paths` of another capability's listener named `listener`.
    #[must_use]
    pub fn with_mount(
        mut self,
        listener: &'static str,
        paths: Vec<&'static str>,
        router: Router,
    ) -> Self {
        self.mounts.insert(listener, Mount { paths, router });
        self
    }

    /// Serve `router` on the listener named `listener`.
    #[must_use]
    pub fn with_router(mut self, listener: &'static str, router: Router) -> Self {
        self.routers.insert(listener, router);
        self
    }

    /// Offer `sink` to the other capabilities (the binary puts it into every
    /// [`Context::logs`](crate::Context::logs)).
    #[must_use]
    pub fn with_log_sink(mut self, sink: Arc<dyn LogSink>) -> Self {
        self.log_sink = Some(sink);
        self
    }
}

/// Why a capability could not start (its own error type, boxed).
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// The process environment as the capabilities see it (a snapshot, so tests can pass their
/// own).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// A snapshot of these variables.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars.into_iter().collect(),
        }
    }

    /// The variable's value, when set and not empty.
    #[must_use]
    pub fn get(&self, var: &str) -> Option<&str> {
        self.vars
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A comma-separated list variable, items trimmed, empty items dropped.
    #[must_use]
    pub fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A replaced tool's environment variable with a value we cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var}: expected {expected}")]
pub struct EnvError {
    pub var: String,
    pub expected: String,
}

impl EnvError {
    /// `var` should have held `expected`.
    pub fn new(var: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            expected: expected.into(),
        }
    }
}
