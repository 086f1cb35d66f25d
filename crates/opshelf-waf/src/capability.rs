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
            .fact("detected_only", status.detected_only)
            .fact("last_reload_error", status.last_reload_error)
            .fact("rules_loaded_at", status.rules_loaded_at)
            .fact("last_reload_at", status.last_reload_at)
            .fact(
                "routes",
                serde_json::to_value(&status.routes).unwrap_or_default(),
            )
            .fact(
                "rate_limited",
                serde_json::to_value(&status.rate_limited).unwrap_or_default(),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blocking default route and a DetectionOnly route with a rate limit of 1/min: the
    /// report says which route does what, who was rate limited, what was blocked or only
    /// detected, and when the rules were (re)loaded.
    #[tokio::test]
    async fn the_report_shows_routes_modes_reloads_limited_addresses_and_detections() {
        use axum::extract::{ConnectInfo, State};
        let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up_addr = up.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(up, axum::Router::new().fallback(|| async { "ok" }))
                .await
                .unwrap();
        });
        let dir = std::env::temp_dir().join(format!(
            "opshelf-waf-report-{}",
            opshelf_core::token::new_salt()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("rules.conf"),
            "SecRule ARGS \"@contains attack\" \"id:1001,phase:2,deny,status:403,log,msg:'test attack'\"\n",
        )
        .unwrap();
        let upstream = format!("http://{up_addr}");
        let config = Config {
            enabled: true,
            upstream: Some(upstream.clone()),
            rules_dir: Some(dir.clone()),
            mode: "On".into(),
            routes: vec![crate::Route {
                path_prefix: "/report".into(),
                upstream: upstream.clone(),
                mode: Some("DetectionOnly".into()),
                rate_limit_per_minute: Some(1),
                ..crate::Route::default()
            }],
            ..Config::default()
        };
        let ctx = Context::for_tests().await;
        let (_, proxy) = crate::proxy::start(&config, &ctx).unwrap();
        let send = |uri: &str, peer: &str| {
            let req = axum::http::Request::builder()
                .uri(uri)
                .header("host", "app.example")
                .body(axum::body::Body::empty())
                .unwrap();
            crate::proxy::handle(
                State(Arc::clone(&proxy)),
                ConnectInfo(peer.parse().unwrap()),
                req,
            )
        };
        assert_eq!(send("/?q=attack", "10.0.0.1:1000").await.status(), 403);
        // Detected, not blocked: the upstream answers.
        assert_eq!(
            send("/report?q=attack", "10.0.0.2:1000").await.status(),
            200
        );
        // The second request in the minute from the same address is refused.
        assert_eq!(send("/report", "10.0.0.2:1001").await.status(), 429);
        assert_eq!(send("/report", "10.0.0.2:1002").await.status(), 429);
        let r = proxy.report();
        assert_eq!(r.facts["blocked"], 1);
        assert_eq!(r.facts["detected_only"], 1);
        let routes = r.facts["routes"].as_array().unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(
            (
                &routes[0]["path_prefix"],
                &routes[0]["mode"],
                &routes[0]["rate_limit_per_minute"]
            ),
            (
                &serde_json::json!("/report"),
                &serde_json::json!("DetectionOnly"),
                &serde_json::json!(1)
            )
        );
        assert_eq!(routes[1]["mode"], "On");
        let limited = r.facts["rate_limited"].as_array().unwrap();
        assert_eq!(limited.len(), 1, "{limited:?}");
        assert_eq!(limited[0]["address"], "10.0.0.2");
        assert_eq!(limited[0]["route"], "/report");
        assert_eq!(limited[0]["refused"], 2);
        let loaded = r.facts["rules_loaded_at"].as_str().unwrap().to_owned();
        assert!(loaded.starts_with("20"), "{loaded}");
        assert!(r.facts["last_reload_at"].is_null());
        // A reload that fails keeps the rules (and their load time) and says when it was tried.
        std::fs::write(dir.join("broken.conf"), "SecRule ARGS \"@nope\"\n").unwrap();
        proxy.reload();
        let r = proxy.report();
        assert!(r.facts["last_reload_at"].is_string());
        assert!(r.facts["last_reload_error"].is_string());
        assert_eq!(r.facts["rules_loaded_at"], loaded.as_str());
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
