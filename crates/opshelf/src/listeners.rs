//! THE listener table: every port opshelf opens, and which capability's router serves it.
//! Adding a capability means adding its block here (and its section in `config.rs`).
//! The routes themselves live in each capability crate's `router`/`start`
//! (e.g. `opshelf_secrets` serves `/v1/...`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use opshelf_core::Context;
use opshelf_core::http::Limits;

use crate::config::Config;

type StartFuture = Pin<Box<dyn Future<Output = anyhow::Result<Router>> + Send>>;

/// One listener to open.
pub struct Listener {
    /// Short name, used in logs, metrics labels and `/readyz`.
    pub name: &'static str,
    /// The config key of its address, for error messages.
    pub key: &'static str,
    pub addr: SocketAddr,
    pub limits: Limits,
    /// Serve over TLS with these files (`None`: plain HTTP).
    pub tls: Option<opshelf_core::tls::TlsFiles>,
    /// Builds the capability's router (runs after every socket is bound).
    pub start: Box<dyn FnOnce(Context) -> StartFuture + Send>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish()
    }
}

#[allow(dead_code)] // unused in a build without capabilities
fn limits(config: &Config, max_body_bytes: Option<usize>) -> Limits {
    Limits {
        max_body_bytes,
        request_timeout: Duration::from_secs(config.server.request_timeout_secs),
    }
}

/// The capability listeners enabled by `config` (the admin listener is added by `serve`).
#[must_use]
#[allow(unused_mut, clippy::vec_init_then_push)]
pub fn table(config: &Config) -> Vec<Listener> {
    let mut t: Vec<Listener> = Vec::new();

    #[cfg(feature = "secrets")]
    if config.secrets.enabled {
        let c = config.secrets.clone();
        t.push(Listener {
            name: "secrets",
            key: "secrets.listen",
            addr: c.listen,
            limits: limits(config, Some(opshelf_secrets::MAX_BODY_BYTES)),
            // validate() has checked the pair already.
            tls: c.tls().ok().flatten(),
            start: Box::new(move |ctx| {
                Box::pin(async move { Ok(opshelf_secrets::start(&c, &ctx).await?) })
            }),
        });
    }

    #[cfg(feature = "flags")]
    if config.flags.enabled {
        let c = config.flags.clone();
        t.push(Listener {
            name: "flags",
            key: "flags.listen",
            addr: c.listen,
            limits: limits(config, Some(opshelf_flags::MAX_BODY_BYTES)),
            tls: None,
            start: Box::new(move |ctx| {
                Box::pin(async move { Ok(opshelf_flags::start(&c, &ctx).await?) })
            }),
        });
    }

    // The proxy needs somewhere to send traffic: it starts only once an upstream is set.
    #[cfg(feature = "waf")]
    if config.waf.enabled && config.waf.upstream.is_some() {
        let c = config.waf.clone();
        t.push(Listener {
            name: "waf",
            key: "waf.listen",
            addr: c.listen,
            limits: limits(config, Some(opshelf_waf::MAX_BODY_BYTES)),
            tls: c.tls().ok().flatten(),
            start: Box::new(move |ctx| {
                Box::pin(async move { Ok(opshelf_waf::start(&c, &ctx).await?) })
            }),
        });
    }

    let _ = config;
    t
}
