//! The WAF capability as the platform sees it: config section, the proxy listener, status.

use std::sync::Arc;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, ErrorStyle, ListenerSpec, Report, StartError, Started};

use crate::{CONFIG_EXAMPLE, Config};

/// The reverse proxy with the OWASP CRS on `[waf] listen`; it starts once `upstream` is set.
#[derive(Debug)]
pub struct Waf;

impl Capability for Waf {
    const NAME: &'static str = "waf";
    const CONFIG_EXAMPLE: &'static str = CONFIG_EXAMPLE;
    type Config = Config;

    fn validate(config: &Config) -> Result<(), ConfigError> {
        config.validate()
    }

    /// With no upstream there is nothing to protect, so nothing starts.
    fn enabled(config: &Config) -> bool {
        config.enabled && config.upstream.is_some()
    }

    fn disabled_summary(config: &Config) -> String {
        if config.enabled {
            "not started: nothing to protect yet; set [waf] upstream (and rules_dir, the CRS \
             rules/ directory) to start the proxy"
                .to_owned()
        } else {
            "disabled: set [waf] enabled = true and an upstream to start the proxy".to_owned()
        }
    }

    fn listeners(config: &Config) -> Vec<ListenerSpec> {
        // No core body limit: the proxy reads a body up to the inspection limit
        // (SecRequestBodyLimit) and streams the rest or answers 413 itself.
        vec![
            ListenerSpec::new("waf", "waf.listen", config.listen, None)
                // validate() has checked the pair already.
                .with_tls(config.tls().ok().flatten())
                .with_errors(ErrorStyle::PlainText)
                .with_max_connections_per_ip(config.max_connections_per_ip),
        ]
    }

    async fn start(config: Config, ctx: Context) -> Result<Started, StartError> {
        let (router, proxy) = crate::proxy::start(&config, &ctx)?;
        let status = move || proxy.report();
        Ok(Started::new(Arc::new(status)).with_router("waf", router))
    }
}

impl crate::proxy::Proxy {
    /// Rules loaded, the last reload's outcome, requests blocked.
    #[must_use]
    pub fn report(&self) -> Report {
        let status = self.status();
        let summary = format!(
            "{} rules, mode {}, proxying to {}",
            status.rules, status.mode, status.upstream
        );
        let r = match &status.last_reload_error {
            None => Report::up(summary),
            Some(e) => Report::degraded(
                format!("{summary}; the last reload failed, the previous rules stay: {e}"),
                true,
            ),
        };
        r.fact("rules_loaded", status.rules)
            .fact("mode", status.mode)
            .fact("upstream", status.upstream)
            .fact("requests", status.requests)
            .fact("blocked", status.blocked)
            .fact("last_reload_error", status.last_reload_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_upstream_it_does_not_start_and_says_what_is_missing() {
        let c = Config::default();
        assert!(!Waf::enabled(&c));
        assert!(Waf::disabled_summary(&c).contains("set [waf] upstream"));
        let c = Config {
            upstream: Some("http://127.0.0.1:3000".to_owned()),
            ..Config::default()
        };
        assert!(Waf::enabled(&c));
        assert_eq!(Waf::listeners(&c)[0].key, "waf.listen");
    }
}
