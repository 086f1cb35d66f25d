//! `opshelf-flags`: an Unleash-compatible feature-flag server.
//!
//! Backend SDKs poll `/api/client/features` (ETag/304, segments per `Unleash-Client-Spec`);
//! browser SDKs ask `/api/frontend` for a server-side evaluation; automation uses the admin
//! API. Evaluation is Unleash's own engine (`unleash-yggdrasil`) behind [`engine`]; the
//! state lives in opshelf storage ([`store`]) and is compiled into an immutable snapshot
//! that is swapped atomically on every change.

pub(crate) mod api;
mod capability;
pub(crate) mod engine;
pub mod error;
pub(crate) mod import;
pub(crate) mod model;
pub(crate) mod state;
pub(crate) mod store;
pub(crate) mod usage;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use opshelf_core::client_ip::TrustedProxies;
use opshelf_core::config::ConfigError;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

pub use capability::Flags;
pub use error::Error;
pub use import::{ImportReport, export, import};

use crate::state::{EventDraft, Token, TokenType};
use crate::store::{EvalLabels, Store, now};

/// `[flags]` settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Serve the flag APIs.
    pub enabled: bool,
    /// Where the Unleash-compatible API listens.
    pub listen: SocketAddr,
    /// Admin tokens created at start, `*:*.<secret>` (unleash-server's `INIT_ADMIN_API_TOKENS`).
    pub init_admin_api_tokens: Vec<String>,
    /// Backend (client) SDK tokens created at start, `<project>:<environment>.<secret>`
    /// (`INIT_BACKEND_API_TOKENS`, alias `INIT_CLIENT_API_TOKENS`).
    pub init_backend_api_tokens: Vec<String>,
    /// Frontend SDK tokens created at start (`INIT_FRONTEND_API_TOKENS`).
    pub init_frontend_api_tokens: Vec<String>,
    /// Origins allowed to call the frontend API from a browser; `*` allows any.
    pub cors_origins: Vec<String>,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed for `remoteAddress`.
    pub trusted_proxies: Vec<String>,
    /// How often to look for changes made by another opshelf node (seconds; 0 = never).
    pub sync_interval_secs: u64,
    /// How often SDK usage counts are written to storage (seconds).
    pub metrics_flush_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 4242)),
            init_admin_api_tokens: Vec::new(),
            init_backend_api_tokens: Vec::new(),
            init_frontend_api_tokens: Vec::new(),
            cors_origins: vec!["*".to_owned()],
            trusted_proxies: Vec::new(),
            sync_interval_secs: 5,
            metrics_flush_secs: 10,
        }
    }
}

/// A token string split into `(projects, environment)`: `<project>:<environment>.<secret>`,
/// where project is `*`, a project id, or `[]` (several projects, not known from the string).
#[must_use]
pub fn parse_token(token: &str) -> Option<(String, String)> {
    let (scope, secret) = token.split_once('.')?;
    let (project, env) = scope.split_once(':')?;
    if project.is_empty()
        || env.is_empty()
        || secret.is_empty()
        || token.chars().any(char::is_whitespace)
    {
        return None;
    }
    Some((project.to_owned(), env.to_owned()))
}

impl Config {
    /// Check the section.
    ///
    /// # Errors
    /// The first key that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, list, admin) in [
            ("init_admin_api_tokens", &self.init_admin_api_tokens, true),
            (
                "init_backend_api_tokens",
                &self.init_backend_api_tokens,
                false,
            ),
            (
                "init_frontend_api_tokens",
                &self.init_frontend_api_tokens,
                false,
            ),
        ] {
            for (i, t) in list.iter().enumerate() {
                match parse_token(t) {
                    Some((p, e)) if admin && (p != "*" || e != "*") => {
                        return Err(ConfigError::new(
                            format!("{key}[{i}]"),
                            "an admin token of the form *:*.<secret>",
                        ));
                    }
                    Some((_, e)) if !admin && e == "*" => {
                        return Err(ConfigError::new(
                            format!("{key}[{i}]"),
                            "a token bound to one environment, like *:development.<secret>",
                        ));
                    }
                    Some(_) => {}
                    None => {
                        return Err(ConfigError::new(
                            format!("{key}[{i}]"),
                            "a token of the form <project>:<environment>.<secret>",
                        ));
                    }
                }
            }
        }
        for (i, o) in self.cors_origins.iter().enumerate() {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(ConfigError::new(
                    format!("cors_origins[{i}]"),
                    "\"*\" or an origin like https://app.example.com",
                ));
            }
        }
        TrustedProxies::parse(&self.trusted_proxies)?;
        if self.metrics_flush_secs == 0 {
            return Err(ConfigError::new(
                "metrics_flush_secs",
                "a number of seconds of at least 1",
            ));
        }
        Ok(())
    }
}

/// The commented `[flags]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = r#"[flags]
# Serve the Unleash-compatible flag APIs (client, frontend, admin).
enabled = true
# Where SDKs connect: point them at http://<this>/api/.
listen = "127.0.0.1:4242"
# Tokens created at start, as unleash-server's INIT_*_API_TOKENS (stored hashed).
# Admin tokens are *:*.<secret>; SDK tokens are <project>:<environment>.<secret>.
init_admin_api_tokens = []
init_backend_api_tokens = []
init_frontend_api_tokens = []
# Browser origins allowed to call /api/frontend ("*" = any).
cors_origins = ["*"]
# Proxies whose X-Forwarded-For is trusted for the context's remoteAddress (IPs or CIDRs).
trusted_proxies = []
# Seconds between checks for changes made by another opshelf node (0 = never).
sync_interval_secs = 5
# Seconds between writes of SDK usage counts to storage.
metrics_flush_secs = 10
"#;

/// Largest request body (imports of big flag sets included).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Create or refresh the configured start-up tokens.
async fn seed_tokens(store: &Store, config: &Config) -> Result<(), Error> {
    let mut wanted = Vec::new();
    for (list, ty) in [
        (&config.init_admin_api_tokens, TokenType::Admin),
        (&config.init_backend_api_tokens, TokenType::Backend),
        (&config.init_frontend_api_tokens, TokenType::Frontend),
    ] {
        for t in list {
            let (project, env) =
                parse_token(t).ok_or_else(|| Error::BadRequest("malformed init token".into()))?;
            wanted.push(token_record(
                store,
                t,
                ty,
                &project,
                &env,
                &format!("init-{}", ty.as_str()),
            ));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let created_at = now();
    store
        .mutate("init", |s| {
            let mut events = Vec::new();
            for mut t in wanted {
                if s.tokens.contains_key(&t.hash) {
                    continue;
                }
                if t.token_type != TokenType::Admin && !s.environments.contains_key(&t.environment)
                {
                    s.environments.insert(
                        t.environment.clone(),
                        state::Environment {
                            name: t.environment.clone(),
                            env_type: "development".into(),
                            enabled: true,
                            sort_order: i64::try_from(s.environments.len()).unwrap_or(0) + 1,
                        },
                    );
                }
                t.created_at.clone_from(&created_at);
                events.push(EventDraft::new("api-token-created", token_view(&t)));
                s.tokens.insert(t.hash.clone(), t);
            }
            Ok(((), events))
        })
        .await
}

/// A token record for `secret` (hash only).
pub(crate) fn token_record(
    store: &Store,
    secret: &str,
    ty: TokenType,
    project: &str,
    env: &str,
    name: &str,
) -> Token {
    let display_len = secret.find('.').map_or(0, |i| i + 1) + 6;
    Token {
        hash: store.hash_token(secret),
        token_name: name.to_owned(),
        token_type: ty,
        projects: if project == "[]" {
            Vec::new()
        } else {
            vec![project.to_owned()]
        },
        environment: env.to_owned(),
        created_at: now(),
        display: format!(
            "{}...",
            secret.chars().take(display_len).collect::<String>()
        ),
    }
}

/// The admin-API view of a token (never the secret).
pub(crate) fn token_view(t: &Token) -> serde_json::Value {
    serde_json::json!({
        "tokenName": t.token_name,
        "username": t.token_name,
        "type": t.token_type.as_str(),
        "environment": t.environment,
        "project": if t.projects.len() == 1 { t.projects[0].clone() } else { "[]".to_owned() },
        "projects": t.projects,
        "createdAt": t.created_at,
        "secret": t.display,
    })
}

/// Start the flag server: load and compile the state, seed tokens, run the background
/// tasks (multi-node sync, usage flush — the last flush runs at shutdown, before storage
/// closes), return the router.
///
/// # Errors
/// Invalid config, storage failures.
pub async fn start(config: &Config, ctx: &opshelf_core::Context) -> Result<axum::Router, Error> {
    Ok(start_service(config, ctx).await?.0)
}

/// [`start`], also returning the service (for its status).
pub(crate) async fn start_service(
    config: &Config,
    ctx: &opshelf_core::Context,
) -> Result<(axum::Router, api::App), Error> {
    config
        .validate()
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let evals: Family<EvalLabels, Counter> = Family::default();
    ctx.metrics.register(
        "evaluations",
        "Flag evaluations by flag and result (source: frontend = evaluated here, sdk = reported by SDKs)",
        evals.clone(),
    );
    let store = Store::open(ctx.storage.clone(), evals).await?;
    seed_tokens(&store, config).await?;
    let inner = Arc::new(api::Inner {
        store,
        usage: usage::Usage::default(),
        trusted_proxies: TrustedProxies::parse(&config.trusted_proxies).unwrap_or_default(),
    });
    spawn_background(&inner, config, &ctx.tasks);
    Ok((api::router(Arc::clone(&inner), config), inner))
}

fn spawn_background(app: &api::App, config: &Config, tasks: &opshelf_core::Tasks) {
    let flush_every = Duration::from_secs(config.metrics_flush_secs.max(1));
    let (a, b) = (Arc::clone(app), Arc::clone(app));
    tasks.spawn_every(
        "usage-flush",
        flush_every,
        move || {
            let app = Arc::clone(&a);
            async move {
                if let Err(e) = app.usage.flush(app.store.storage()).await {
                    tracing::warn!(error = %e, "flags: usage flush failed; will retry");
                }
            }
        },
        // The last flush: shutdown waits for it before storage closes.
        move || async move {
            if let Err(e) = b.usage.flush(b.store.storage()).await {
                tracing::warn!(error = %e, "flags: final usage flush failed");
            }
        },
    );
    if config.sync_interval_secs > 0 {
        let app = Arc::clone(app);
        tasks.spawn_every(
            "multi-node-sync",
            Duration::from_secs(config.sync_interval_secs),
            move || {
                let app = Arc::clone(&app);
                async move {
                    match app.store.reload_if_changed().await {
                        Ok(true) => tracing::info!("flags: reloaded state changed by another node"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "flags: state sync failed"),
                    }
                }
            },
            || async {},
        );
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::PathBuf;

    /// A path under `../shared/unleash-spec` (beside the repository); missing data fails.
    pub fn shared(rel: &str) -> PathBuf {
        opshelf_core::testing::shared(&format!("unleash-spec/{rel}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_to_default_and_validates() {
        #[derive(serde::Deserialize)]
        struct File {
            flags: Config,
        }
        let f: File = toml::from_str(CONFIG_EXAMPLE).unwrap();
        assert_eq!(f.flags, Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn validate_rejects_malformed_tokens_and_proxies() {
        let mut c = Config {
            init_admin_api_tokens: vec!["*:development.x".into()],
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "init_admin_api_tokens[0]");
        c.init_admin_api_tokens = vec!["*:*.secret".into()];
        c.init_frontend_api_tokens = vec!["nope".into()];
        assert!(c.validate().is_err());
        c.init_frontend_api_tokens = vec!["default:development.abc".into()];
        c.validate().unwrap();
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "192.168.1.1".into()];
        c.validate().unwrap();
        c.trusted_proxies.push("x".into());
        assert_eq!(c.validate().unwrap_err().key, "trusted_proxies[2]");
    }

    #[test]
    fn token_strings_split() {
        assert_eq!(
            parse_token("*:development.abc"),
            Some(("*".into(), "development".into()))
        );
        assert_eq!(
            parse_token("default:production.x.y"),
            Some(("default".into(), "production".into()))
        );
        assert_eq!(parse_token("abc"), None);
        assert_eq!(parse_token(":dev.x"), None);
    }
}
