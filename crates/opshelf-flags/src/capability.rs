//! The flags capability as the platform sees it: config section, unleash-server's own
//! variables, the listener, status.

use std::sync::Arc;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, Env, EnvError, ListenerSpec, Report, StartError, Started};

use crate::{CONFIG_EXAMPLE, Config, MAX_BODY_BYTES, parse_token};

/// Unleash's client, frontend and admin APIs on `[flags] listen`.
#[derive(Debug)]
pub struct Flags;

/// unleash-server's start-up token variables: (variable, config list, admin?).
const TOKEN_VARS: &[(&str, TokenList, bool)] = &[
    ("INIT_ADMIN_API_TOKENS", TokenList::Admin, true),
    ("INIT_BACKEND_API_TOKENS", TokenList::Backend, false),
    ("INIT_CLIENT_API_TOKENS", TokenList::Backend, false),
    ("INIT_FRONTEND_API_TOKENS", TokenList::Frontend, false),
];

#[derive(Debug, Clone, Copy)]
enum TokenList {
    Admin,
    Backend,
    Frontend,
}

impl Capability for Flags {
    const NAME: &'static str = "flags";
    const CONFIG_EXAMPLE: &'static str = CONFIG_EXAMPLE;
    type Config = Config;

    /// unleash-server's `INIT_ADMIN_API_TOKENS`, `INIT_BACKEND_API_TOKENS` (alias
    /// `INIT_CLIENT_API_TOKENS`) and `INIT_FRONTEND_API_TOKENS`: comma-separated tokens added
    /// to the config file's lists; a malformed one names the variable.
    fn apply_env(config: &mut Config, env: &Env) -> Result<(), EnvError> {
        for (var, list, admin) in TOKEN_VARS {
            for token in env.list(var) {
                match parse_token(&token) {
                    Some((p, e)) if *admin && (p != "*" || e != "*") => {
                        return Err(EnvError::new(*var, "admin tokens of the form *:*.<secret>"));
                    }
                    Some((_, e)) if !*admin && e == "*" => {
                        return Err(EnvError::new(
                            *var,
                            "tokens bound to one environment, like *:development.<secret>",
                        ));
                    }
                    Some(_) => {}
                    None => {
                        return Err(EnvError::new(
                            *var,
                            "comma-separated tokens of the form <project>:<environment>.<secret>",
                        ));
                    }
                }
                match list {
                    TokenList::Admin => config.init_admin_api_tokens.push(token),
                    TokenList::Backend => config.init_backend_api_tokens.push(token),
                    TokenList::Frontend => config.init_frontend_api_tokens.push(token),
                }
            }
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
        vec![ListenerSpec::new(
            "flags",
            "flags.listen",
            config.listen,
            Some(MAX_BODY_BYTES),
        )]
    }

    async fn start(config: Config, ctx: Context) -> Result<Started, StartError> {
        let (router, app) = crate::start_service(&config, &ctx).await?;
        let status = move || {
            let s = app.store.snapshot();
            Report::up(format!(
                "{} flags, {} enabled in some environment",
                s.flags, s.active_flags
            ))
            .fact("flags", s.flags)
            .fact("active_flags", s.active_flags)
            .fact("revision", s.revision)
            .fact("last_change", s.built_at.clone())
        };
        Ok(Started::new(Arc::new(status)).with_router("flags", router))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::new(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn init_token_variables_add_to_the_lists_or_name_the_variable() {
        let mut c = Config::default();
        Flags::apply_env(
            &mut c,
            &env(&[
                ("INIT_ADMIN_API_TOKENS", "*:*.a, *:*.b"),
                ("INIT_CLIENT_API_TOKENS", "default:development.c"),
            ]),
        )
        .unwrap();
        assert_eq!(c.init_admin_api_tokens, ["*:*.a", "*:*.b"]);
        assert_eq!(c.init_backend_api_tokens, ["default:development.c"]);
        let e =
            Flags::apply_env(&mut c, &env(&[("INIT_ADMIN_API_TOKENS", "garbage")])).unwrap_err();
        assert_eq!(e.var, "INIT_ADMIN_API_TOKENS");
        assert!(
            e.to_string()
                .starts_with("environment variable INIT_ADMIN_API_TOKENS: expected")
        );
        let e =
            Flags::apply_env(&mut c, &env(&[("INIT_FRONTEND_API_TOKENS", "*:*.x")])).unwrap_err();
        assert_eq!(e.var, "INIT_FRONTEND_API_TOKENS");
    }
}
