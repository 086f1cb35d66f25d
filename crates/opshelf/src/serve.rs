//! `opshelf serve`: bind every listener, open storage, start the capabilities, serve until
//! SIGTERM/SIGINT, then drain and flush.
//!
//! Order matters: every socket is bound before anything else happens, so a taken port is a
//! clean error with nothing started; `/readyz` turns 200 only after every capability's
//! `start` has returned and storage answers.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use opshelf_core::admin::Readiness;
use opshelf_core::http::{Limits, serve, with_layers};
use opshelf_core::{Context, Metrics, Shutdown};
use tokio::net::TcpListener;

use crate::config::Loaded;
use crate::listeners;

/// `opshelf serve` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Development mode, like `vault server -dev`: secrets initialised and unsealed in
    /// memory of this run, root token from VAULT_DEV_ROOT_TOKEN_ID.
    #[arg(long)]
    pub dev: bool,
}

pub async fn run(loaded: Loaded, args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    #[allow(unused_mut)]
    let mut config = loaded.config.clone();
    apply_dev_mode(&mut config, &args);
    apply_upstream_env(&mut config);

    // 1. Bind every socket first.
    let admin = bind(config.admin.listen, "admin.listen", &loaded).await?;
    let mut planned = Vec::new();
    for l in listeners::table(&config) {
        let socket = bind(l.addr, l.key, &loaded).await?;
        let tls = match &l.tls {
            None => None,
            Some(files) => Some(files.load().map_err(|e| {
                let section = l.key.split('.').next().unwrap_or(l.key);
                let e = e.in_section(section);
                anyhow::anyhow!("{}: {e}", loaded.origin(&e.key))
            })?),
        };
        planned.push((l, socket, tls));
    }

    // 2. Storage.
    let storage = opshelf_core::storage::open(&config.storage, &config.data_dir)
        .await
        .with_context(|| format!("opening storage (data_dir {})", config.data_dir.display()))?;
    tracing::info!(backend = storage.backend(), "storage open");
    let ctx = Context {
        storage,
        data_dir: config.data_dir.clone(),
        metrics: Metrics::new(),
        shutdown: Shutdown::new(),
    };
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let readiness = Readiness::default();
    for (l, _, _) in &planned {
        readiness.expect(l.name);
    }

    // 3. The admin listener first, so /readyz can be polled during start-up.
    let mut tasks = tokio::task::JoinSet::new();
    let admin_limits = Limits {
        max_body_bytes: Some(64 * 1024),
        ..Limits::default()
    };
    let admin_router = with_layers(
        opshelf_core::admin::router(ctx.clone(), readiness.clone()),
        "admin",
        admin_limits,
        &ctx.metrics,
    );
    announce("admin", &admin);
    tasks.spawn(serve_named(
        "admin",
        admin,
        admin_router,
        None,
        ctx.shutdown.clone(),
        grace,
    ));

    // 4. Capabilities.
    for (l, socket, tls) in planned {
        let router = (l.start)(ctx.clone())
            .await
            .with_context(|| format!("starting {}", l.name))?;
        let router = with_layers(router, l.name, l.limits, &ctx.metrics);
        announce(l.name, &socket);
        tasks.spawn(serve_named(
            l.name,
            socket,
            router,
            tls,
            ctx.shutdown.clone(),
            grace,
        ));
        readiness.set(l.name, true);
    }
    tracing::info!(
        startup_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "ready"
    );

    // 5. Wait for a signal (or a listener dying), then drain.
    let mut failed = false;
    tokio::select! {
        sig = stop_signal() => tracing::info!(signal = sig, "stopping: no new connections, finishing requests in flight"),
        Some(res) = tasks.join_next() => {
            failed = true;
            tracing::error!(?res, "a listener stopped unexpectedly; shutting down");
        }
    }
    ctx.shutdown.trigger();
    while let Some(res) = tasks.join_next().await {
        if let Ok(Err(e)) = res {
            failed = true;
            tracing::error!(error = %e, "listener ended with an error");
        }
    }
    ctx.storage.close().await.context("flushing storage")?;
    tracing::info!("stopped");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `--dev` and Vault's `VAULT_DEV_ROOT_TOKEN_ID`, mapped onto the secrets settings.
#[allow(unused_variables)]
fn apply_dev_mode(config: &mut crate::config::Config, args: &Args) {
    #[cfg(feature = "secrets")]
    {
        if args.dev {
            config.secrets.dev = true;
        }
        if config.secrets.dev && config.secrets.dev_root_token.is_none() {
            config.secrets.dev_root_token = std::env::var("VAULT_DEV_ROOT_TOKEN_ID")
                .ok()
                .filter(|t| !t.is_empty());
        }
    }
}

/// Environment variables of the replaced tools that their users already set, mapped onto
/// our settings (they add to the config file's lists): unleash-server's `INIT_*_API_TOKENS`.
#[allow(unused_variables)]
fn apply_upstream_env(config: &mut crate::config::Config) {
    #[cfg(feature = "flags")]
    {
        let list = |var: &str| -> Vec<String> {
            std::env::var(var)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let f = &mut config.flags;
        f.init_admin_api_tokens
            .extend(list("INIT_ADMIN_API_TOKENS"));
        f.init_backend_api_tokens
            .extend(list("INIT_BACKEND_API_TOKENS"));
        f.init_backend_api_tokens
            .extend(list("INIT_CLIENT_API_TOKENS"));
        f.init_frontend_api_tokens
            .extend(list("INIT_FRONTEND_API_TOKENS"));
    }
}

async fn bind(
    addr: std::net::SocketAddr,
    key: &str,
    loaded: &Loaded,
) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr} ({key}, from {}): {e}",
            loaded.origin(key)
        )
    })
}

fn announce(name: &str, socket: &TcpListener) {
    match socket.local_addr() {
        Ok(addr) => tracing::info!(listener = name, addr = %addr, "listening"),
        Err(e) => tracing::warn!(listener = name, error = %e, "listening (address unknown)"),
    }
}

async fn serve_named(
    name: &'static str,
    socket: TcpListener,
    router: axum::Router,
    tls: Option<std::sync::Arc<opshelf_core::tls::ServerConfig>>,
    shutdown: Shutdown,
    grace: Duration,
) -> std::io::Result<()> {
    let r = serve(socket, router, tls, shutdown, grace).await;
    tracing::debug!(listener = name, "listener closed");
    r
}

async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
