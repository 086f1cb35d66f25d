//! `opshelf-secrets`: a Vault-compatible secrets store.
//!
//! Speaks Vault's HTTP API (`/v1/...`) so the `vault` / `bao` CLI and hvac work unchanged:
//! Shamir seal and an AES-256-GCM barrier over opshelf-core storage, KV v1 and v2, tokens,
//! ACL policies (HCL and JSON) and AppRole.
//!
//! Module map: `api` (the only module that knows Vault's wire shapes) → `vault` (seal state,
//! barrier, mounts, policy store) → engines `kv`, `tokens`, `approle`; pure code in
//! `shamir`, `barrier`, `policy`, `util`.

pub(crate) mod api;
pub(crate) mod approle;
pub(crate) mod audit;
pub(crate) mod barrier;
mod capability;
pub mod error;
pub(crate) mod kv;
pub(crate) mod policy;
pub(crate) mod shamir;
pub(crate) mod tokens;
pub(crate) mod transit;
pub(crate) mod util;
pub(crate) mod vault;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use capability::Secrets;
pub use error::Error;
use opshelf_core::config::ConfigError;
use zeroize::Zeroizing;

/// `[secrets]` settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Serve the secrets API.
    pub enabled: bool,
    /// Where the Vault-compatible API listens.
    pub listen: SocketAddr,
    /// Dev mode, like `vault server -dev`: initialised and unsealed at start, KV v2 at
    /// `secret/`. The unseal key is kept in a plain file under the data directory.
    pub dev: bool,
    /// The root token id in dev mode (`VAULT_DEV_ROOT_TOKEN_ID`); random when unset.
    pub dev_root_token: Option<String>,
    /// Auto-unseal for a single box: `sys/init` writes the whole unseal key here (mode
    /// 0600) and opshelf unseals itself from it at start.
    pub unseal_key_file: Option<PathBuf>,
    /// Default token / lease TTL (Go duration).
    pub default_lease_ttl: String,
    /// Maximum token / lease TTL (Go duration).
    pub max_lease_ttl: String,
    /// A file audit device from the config (besides those enabled with `sys/audit`):
    /// one JSON line per request and response, values HMAC-ed.
    pub audit_file: Option<PathBuf>,
    /// TLS like Vault's `tcp` listener: a PEM certificate chain and its key. Both or neither.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8200)),
            dev: false,
            dev_root_token: None,
            unseal_key_file: None,
            default_lease_ttl: "768h".to_owned(),
            max_lease_ttl: "768h".to_owned(),
            audit_file: None,
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
    pub fn tls(&self) -> Result<Option<opshelf_core::tls::TlsFiles>, ConfigError> {
        opshelf_core::tls::TlsFiles::from_pair(
            self.tls_cert_file.as_ref(),
            self.tls_key_file.as_ref(),
        )
    }

    /// Check the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key relative to `[secrets]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.tls()?;
        let Some(default_ttl) =
            util::parse_duration_str(&self.default_lease_ttl).filter(|d| *d >= 0)
        else {
            return Err(ConfigError::new(
                "default_lease_ttl",
                "a duration like \"768h\"",
            ));
        };
        let Some(max_ttl) = util::parse_duration_str(&self.max_lease_ttl).filter(|d| *d >= 0)
        else {
            return Err(ConfigError::new(
                "max_lease_ttl",
                "a duration like \"768h\"",
            ));
        };
        if max_ttl > 0 && default_ttl > max_ttl {
            return Err(ConfigError::new(
                "default_lease_ttl",
                "a duration no longer than max_lease_ttl",
            ));
        }
        if self.dev_root_token.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new(
                "dev_root_token",
                "a non-empty token (or leave it unset)",
            ));
        }
        Ok(())
    }
}

/// The commented `[secrets]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = r#"[secrets]
# Serve the Vault-compatible secrets API (vault / bao CLI, hvac, vaultrs).
enabled = true
# Where it listens; clients use VAULT_ADDR=http://127.0.0.1:8200.
listen = "127.0.0.1:8200"
# Dev mode like `vault server -dev`: initialised, unsealed, KV v2 at secret/.
# Never in production: the unseal key sits in a plain file in the data directory.
dev = false
# Root token id in dev mode (VAULT_DEV_ROOT_TOKEN_ID); random when unset.
# dev_root_token = "root"
# Single-box auto-unseal: sys/init writes the unseal key to this file (0600) and
# opshelf unseals itself from it at start. Unset: unseal with Shamir shares.
# unseal_key_file = "/var/lib/opshelf/unseal.key"
# Default and maximum token TTL (Go durations), as Vault's default_lease_ttl / max_lease_ttl.
default_lease_ttl = "768h"
max_lease_ttl = "768h"
# A file audit device (like `vault audit enable file`): one JSON line per request and
# response, every string value replaced by hmac-sha256:<hex>. Unset: none from the config.
# audit_file = "/var/log/opshelf/secrets-audit.log"
# TLS, like Vault's listener "tcp" (clients then use VAULT_ADDR=https://...). Both or neither.
# tls_cert_file = "/etc/opshelf/tls/vault.crt"
# tls_key_file = "/etc/opshelf/tls/vault.key"
"#;

/// Largest request body (Vault's default `max_request_size` is 32 MiB; 1 MiB is plenty for
/// secrets and policies).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const DEV_KEY_FILE: &str = "secrets-dev-unseal.key";
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Build the secrets service and its router; spawn the token-expiry sweeper.
///
/// # Errors
/// Storage failures, or a dev / auto-unseal key that does not open the barrier.
pub async fn start(config: &Config, ctx: &opshelf_core::Context) -> Result<axum::Router, Error> {
    Ok(start_service(config, ctx).await?.0)
}

/// [`start`], also returning the service (for its status).
pub(crate) async fn start_service(
    config: &Config,
    ctx: &opshelf_core::Context,
) -> Result<(axum::Router, Arc<vault::Vault>), Error> {
    let vault = Arc::new(
        vault::Vault::new(config.clone(), ctx.storage.clone(), ctx.data_dir.clone()).await?,
    );
    if config.dev {
        dev_setup(&vault).await?;
    } else if let Some(path) = &config.unseal_key_file
        && vault.seal_config().await?.is_some()
        && path.exists()
    {
        let key = read_key_file(path)?;
        vault.unseal_with_key(&key).await?;
        tracing::info!(path = %path.display(), "secrets: auto-unsealed from key file");
    }
    let sweeper = Arc::clone(&vault);
    ctx.tasks.spawn_every(
        "token-sweep",
        SWEEP_EVERY,
        move || {
            let sweeper = Arc::clone(&sweeper);
            async move {
                if let Some(u) = sweeper.unsealed() {
                    match tokens::sweep(&u).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(revoked = n, "secrets: expired tokens revoked"),
                        Err(e) => tracing::warn!(error = %e, "secrets: token sweep failed"),
                    }
                }
            }
        },
        || async {},
    );
    // SIGHUP: file audit devices reopen their files (logrotate's rename-then-HUP), as
    // Vault's file device does.
    let hup = Arc::clone(&vault);
    let mut reload = ctx.reload.clone();
    let shutdown = ctx.shutdown.clone();
    ctx.tasks.spawn("audit-reopen", async move {
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                () = reload.changed() => {
                    if let Some(u) = hup.unsealed() {
                        let devices = vault::read(&u.audit).clone();
                        audit::reopen_all(&devices).await;
                    }
                }
            }
        }
    });
    Ok((api::router(Arc::clone(&vault)), vault))
}

pub(crate) fn read_key_file(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    hex::decode(text.trim())
        .map(Zeroizing::new)
        .map_err(|_| Error::Internal(format!("{}: not a hex unseal key", path.display())))
}

pub(crate) fn write_key_file(path: &std::path::Path, key: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let hexed = Zeroizing::new(hex::encode(key));
    f.write_all(hexed.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

async fn dev_setup(vault: &vault::Vault) -> Result<(), Error> {
    let key_path = vault.data_dir.join(DEV_KEY_FILE);
    if vault.seal_config().await?.is_none() {
        let out = vault.initialize(1, 1).await?;
        write_key_file(&key_path, &out.unseal_key)?;
        vault.unseal_with_key(&out.unseal_key).await?;
        let u = vault.require_unsealed()?;
        {
            let mut options = std::collections::HashMap::new();
            options.insert("version".to_owned(), "2".to_owned());
            vault::write(&u.mounts).push(vault::MountEntry::new(
                "secret/",
                "kv",
                "key/value secret storage",
                options,
            ));
        }
        u.save_mounts().await?;
        if config_token(vault).is_some() {
            // the configured dev token replaces the random one from init
            tokens::revoke_tree(&u, &tokens::hash_token(&u, &out.root_token)).await?;
        } else {
            tracing::warn!(root_token = %out.root_token.as_str(), "secrets: dev mode root token");
        }
    } else {
        let key = read_key_file(&key_path)?;
        vault.unseal_with_key(&key).await?;
    }
    let u = vault.require_unsealed()?;
    if let Some(id) = config_token(vault)
        && tokens::lookup(&u, &id).await?.is_none()
    {
        tokens::create_root(&u, Some(&id)).await?;
    }
    tracing::warn!(
        "secrets: dev mode: initialised and unsealed, KV v2 at secret/; not for production"
    );
    Ok(())
}

fn config_token(vault: &vault::Vault) -> Option<String> {
    vault
        .config
        .dev_root_token
        .clone()
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests;
