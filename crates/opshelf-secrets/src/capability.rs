//! The secrets capability as the platform sees it: config section, Vault's own variables,
//! the listener, status.

use std::sync::Arc;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, Env, EnvError, ListenerSpec, Report, StartError, Started};

use crate::vault::{Vault, read};
use crate::{CONFIG_EXAMPLE, Config, MAX_BODY_BYTES};

/// Vault's HTTP API (`/v1/...`) on `[secrets] listen`.
#[derive(Debug)]
pub struct Secrets;

impl Capability for Secrets {
    const NAME: &'static str = "secrets";
    const CONFIG_EXAMPLE: &'static str = CONFIG_EXAMPLE;
    type Config = Config;

    /// `VAULT_DEV_ROOT_TOKEN_ID` in dev mode, as `vault server -dev` reads it.
    fn apply_env(config: &mut Config, env: &Env) -> Result<(), EnvError> {
        if config.dev && config.dev_root_token.is_none() {
            config.dev_root_token = env.get("VAULT_DEV_ROOT_TOKEN_ID").map(str::to_owned);
        }
        Ok(())
    }

    fn validate(config: &Config) -> Result<(), ConfigError> {
        config.validate()
    }

    fn enabled(config: &Config) -> bool {
        config.enabled
    }

    fn listeners(config: &Config) -> Vec<ListenerSpec> {
        vec![
            ListenerSpec::new(
                "secrets",
                "secrets.listen",
                config.listen,
                Some(MAX_BODY_BYTES),
            )
            // validate() has checked the pair already.
            .with_tls(config.tls().ok().flatten()),
        ]
    }

    async fn start(config: Config, ctx: Context) -> Result<Started, StartError> {
        let scheme = if config.tls_cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        let addr = format!("{scheme}://{}", config.listen);
        let (router, vault) = crate::start_service(&config, &ctx).await?;
        let status = move || status(&vault, &addr);
        Ok(Started::new(Arc::new(status)).with_router("secrets", router))
    }
}

/// Sealed is degraded and not serving (Vault's `sys/health` answers 503 then); the summary
/// says what to run next.
fn status(vault: &Vault, addr: &str) -> Report {
    let initialized = !vault.cluster().1.is_empty();
    let Some(u) = vault.unsealed() else {
        let summary = if initialized {
            format!(
                "sealed: unseal with `VAULT_ADDR={addr} vault operator unseal` (repeat with key \
                 shares up to the threshold), or set [secrets] unseal_key_file"
            )
        } else {
            format!(
                "not initialised: run `VAULT_ADDR={addr} vault operator init`, then `vault \
                 operator unseal` with the key shares it prints — or start with `opshelf serve \
                 --dev` to try it out"
            )
        };
        return Report::degraded(summary, false)
            .fact("initialized", initialized)
            .fact("sealed", true);
    };
    let mounts = read(&u.mounts).len();
    let auth = read(&u.auth_mounts).len();
    let audit: Vec<serde_json::Value> = read(&u.audit).iter().map(|d| d.health_json()).collect();
    let audit_failing = audit.iter().filter(|d| d["healthy"] == false).count();
    Report::up(format!(
        "unsealed; {mounts} secrets engines, {auth} auth methods"
    ))
    .fact("initialized", true)
    .fact("sealed", false)
    .fact("dev", vault.config.dev)
    .fact("mounts", mounts)
    .fact("auth_methods", auth)
    .fact("audit_devices", audit.len())
    .fact("audit_devices_failing", audit_failing)
    .fact("audit", audit)
}
