//! `opshelf serve`: bind every listener, open storage, start the capabilities, serve until
//! SIGTERM/SIGINT, then drain, wait for background tasks and close storage.
//!
//! Order matters: every socket is bound before anything else happens, so a taken port is a
//! clean error with nothing started; `/status` and `/readyz` answer from the moment the
//! admin listener is up, and say which capability is still starting. SIGHUP reloads (the
//! capabilities that listen to `ctx.reload`, and every listener's TLS certificate).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use opshelf_core::admin::AdminState;
use opshelf_core::http::{Limits, ServeOptions, serve, with_layers};
use opshelf_core::status::{ListenerInfo, StatusBoard};
use opshelf_core::{
    Context, ErrorStyle, ListenerSpec, LogSinkSlot, Metrics, Reload, Shutdown, Tasks,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::capabilities::Registry;
use crate::config::{Config, Loaded};

/// `opshelf serve` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Development mode, like `vault server -dev`: secrets initialised and unsealed in
    /// memory of this run, root token from VAULT_DEV_ROOT_TOKEN_ID.
    #[arg(long)]
    pub dev: bool,
}

/// The settings `serve`'s flags stand for.
#[must_use]
pub fn flag_settings(args: &Args) -> Vec<crate::config::FlagSetting> {
    let mut out = Vec::new();
    if args.dev {
        out.push(crate::config::FlagSetting {
            key: "secrets.dev",
            value: toml::Value::Boolean(true),
            flag: "--dev",
        });
    }
    out
}

/// `opshelf serve` until SIGTERM/SIGINT.
///
/// # Errors
/// A port that cannot be bound, storage that cannot be opened, a capability that fails to
/// start.
pub async fn run(loaded: Loaded, registry: &Registry) -> anyhow::Result<ExitCode> {
    let running = Running::start(loaded, registry).await?;
    let reload = running.reload.clone();
    running.wait(signals(reload)).await
}

/// A started opshelf: every listener bound and serving.
pub struct Running {
    pub board: StatusBoard,
    /// Where the admin listener is bound.
    pub admin_addr: SocketAddr,
    pub reload: Reload,
    shutdown: Shutdown,
    tasks: Tasks,
    storage: opshelf_core::DynStorage,
    listeners: JoinSet<std::io::Result<()>>,
    grace: Duration,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("admin_addr", &self.admin_addr)
            .finish_non_exhaustive()
    }
}

struct Planned {
    capability: &'static str,
    spec: ListenerSpec,
    socket: TcpListener,
    tls: Option<watch::Sender<Arc<opshelf_core::tls::ServerConfig>>>,
}

impl Running {
    /// Bind, open storage, start every enabled capability of `registry`.
    ///
    /// # Errors
    /// As [`run`].
    pub async fn start(loaded: Loaded, registry: &Registry) -> anyhow::Result<Self> {
        let started = Instant::now();
        let config = &loaded.config;

        // 1. Bind every socket first.
        let admin = bind(config.admin.listen, "admin.listen", &loaded).await?;
        let mut planned = Vec::new();
        for c in registry.iter() {
            let Some(section) = config.sections.get(c.name()) else {
                continue;
            };
            if !c.enabled(section.as_ref()) {
                continue;
            }
            for spec in c.listeners(section.as_ref()) {
                let socket = bind(spec.addr, spec.key, &loaded).await?;
                let tls = match &spec.tls {
                    None => None,
                    Some(files) => {
                        let tls = files.load().map_err(|e| {
                            let section = spec.key.split('.').next().unwrap_or(spec.key);
                            let e = e.in_section(section);
                            anyhow::anyhow!("{}: {e}", loaded.origin(&e.key))
                        })?;
                        Some(watch::channel(tls).0)
                    }
                };
                planned.push(Planned {
                    capability: c.name(),
                    spec,
                    socket,
                    tls,
                });
            }
        }

        // 2. Storage.
        let storage = opshelf_core::storage::open(&config.storage, &config.data_dir)
            .await
            .with_context(|| format!("opening storage (data_dir {})", config.data_dir.display()))?;
        tracing::info!(backend = storage.backend(), "storage open");
        let metrics = Metrics::new();
        let shutdown = Shutdown::new();
        let tasks = Tasks::new(shutdown.clone());
        let reload = Reload::new();
        // One slot for the log sink: the capability that stores logs fills it at start, the
        // others (OTLP logs, WAF events) read it per batch.
        let log_sink = LogSinkSlot::default();
        let board = StatusBoard::default();
        let grace = Duration::from_secs(config.server.shutdown_grace_secs);
        for c in registry.iter() {
            match config.sections.get(c.name()) {
                Some(s) if c.enabled(s.as_ref()) => board.starting(c.name()),
                Some(s) => board.disabled(c.name(), c.disabled_summary(s.as_ref())),
                None => board.disabled(c.name(), "disabled"),
            }
        }

        // 3. The admin listener first, so /status can be polled during start-up.
        let mut listeners = JoinSet::new();
        let admin_addr = admin.local_addr()?;
        let admin_state = AdminState {
            storage: Arc::clone(&storage),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            board: board.clone(),
            started,
        };
        let admin_limits = Limits {
            max_body_bytes: Some(64 * 1024),
            ..limits(config, Limits::default())
        };
        let admin_router = with_layers(
            opshelf_core::admin::router(admin_state),
            "admin",
            admin_limits,
            ErrorStyle::Json,
            &metrics,
        );
        announce(&board, "admin", "admin", "admin.listen", admin_addr, false);
        listeners.spawn(serve_listener(
            admin,
            admin_router,
            ServeOptions {
                name: Arc::from("admin"),
                tls: None,
                limits: admin_limits,
                grace,
            },
            shutdown.clone(),
            metrics.clone(),
        ));

        // 4. Capabilities, in registry order. A capability may mount a router on a later
        // capability's listener (the console's UI at `/` of the flags listener).
        let mut mounts: std::collections::BTreeMap<&'static str, opshelf_core::Mount> =
            std::collections::BTreeMap::new();
        for c in registry.iter() {
            let Some(section) = config.sections.get(c.name()) else {
                continue;
            };
            if !c.enabled(section.as_ref()) {
                continue;
            }
            let mut ctx = Context::for_capability(
                c.name(),
                Arc::clone(&storage),
                config.data_dir.clone(),
                &metrics,
                &tasks,
                &reload,
                &log_sink,
            );
            ctx.board = board.view();
            let mut out = match c.start(section.as_ref(), ctx).await {
                Ok(out) => out,
                Err(e) => {
                    board.failed(c.name(), e.to_string());
                    shutdown.trigger();
                    return Err(anyhow::anyhow!("starting {}: {e}", c.name()));
                }
            };
            let mine: Vec<usize> = (0..planned.len())
                .filter(|i| planned[*i].capability == c.name())
                .collect();
            for i in mine.into_iter().rev() {
                let p = planned.swap_remove(i);
                let Some(router) = out.routers.remove(p.spec.name) else {
                    shutdown.trigger();
                    anyhow::bail!(
                        "{} declared listener {} but returned no router for it",
                        c.name(),
                        p.spec.name
                    );
                };
                let router = match mounts.remove(p.spec.name) {
                    Some(m) => mount(router, m),
                    None => router,
                };
                let limits = limits(config, p.spec.limits);
                let router = with_layers(router, p.spec.name, limits, p.spec.errors, &metrics);
                let addr = p.socket.local_addr()?;
                announce(
                    &board,
                    p.spec.name,
                    c.name(),
                    p.spec.key,
                    addr,
                    p.tls.is_some(),
                );
                let tls_rx = p.tls.as_ref().map(watch::Sender::subscribe);
                if let (Some(tx), Some(files)) = (p.tls, p.spec.tls.clone()) {
                    spawn_tls_reload(&tasks, &reload, p.spec.name, files, tx);
                }
                listeners.spawn(serve_listener(
                    p.socket,
                    router,
                    ServeOptions {
                        name: Arc::from(p.spec.name),
                        tls: tls_rx,
                        limits,
                        grace,
                    },
                    shutdown.clone(),
                    metrics.clone(),
                ));
            }
            mounts.append(&mut out.mounts);
            if let Some(sink) = out.log_sink.take() {
                log_sink.set(sink);
            }
            board.started(c.name(), out.status);
        }

        tracing::info!(
            startup_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            admin = %admin_addr,
            "ready"
        );
        // What a newcomer must do next: every capability that is not simply up says so.
        for s in board.capabilities() {
            match s.state.as_str() {
                "up" | "disabled" => {}
                state => tracing::warn!(capability = %s.name, state, "{}", s.summary),
            }
        }
        Ok(Self {
            board,
            admin_addr,
            reload,
            shutdown,
            tasks,
            storage,
            listeners,
            grace,
        })
    }

    /// Serve until `stop` resolves (or a listener dies), then drain: listeners finish their
    /// requests, background tasks end (their final flushes run), storage closes.
    ///
    /// # Errors
    /// Storage failing to close.
    pub async fn wait(
        mut self,
        stop: impl std::future::Future<Output = &'static str>,
    ) -> anyhow::Result<ExitCode> {
        let mut failed = false;
        tokio::select! {
            sig = stop => tracing::info!(signal = sig, "stopping: no new connections, finishing requests in flight"),
            Some(res) = self.listeners.join_next() => {
                failed = true;
                tracing::error!(?res, "a listener stopped unexpectedly; shutting down");
            }
        }
        self.shutdown.trigger();
        while let Some(res) = self.listeners.join_next().await {
            if let Ok(Err(e)) = res {
                failed = true;
                tracing::error!(error = %e, "listener ended with an error");
            }
        }
        if !self.tasks.close_and_wait(self.grace).await {
            tracing::warn!(
                running = self.tasks.len(),
                "background tasks still running after the grace period; closing storage anyway"
            );
        }
        self.storage.close().await.context("flushing storage")?;
        tracing::info!("stopped");
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// `m`'s paths answered by its router, everything else by the listener owner's `router`
/// (which keeps its own fallback).
fn mount(router: axum::Router, m: opshelf_core::Mount) -> axum::Router {
    // As services, not `Router`s: axum's `route_service` refuses a `Router` (it wants `nest`,
    // which would strip the prefix).
    let ui = m.router.into_service::<axum::body::Body>();
    let mut out = axum::Router::new();
    for p in m.paths {
        out = if p.len() > 1 && p.ends_with('/') {
            out.route_service(&format!("{p}{{*rest}}"), ui.clone())
        } else {
            out.route_service(p, ui.clone())
        };
    }
    out.fallback_service(router.into_service::<axum::body::Body>())
}

/// A listener's limits: the capability's body limit and per-address cap, `[server]`'s
/// timeouts and caps.
fn limits(config: &Config, spec: Limits) -> Limits {
    let s = &config.server;
    Limits {
        max_body_bytes: spec.max_body_bytes,
        request_timeout: Duration::from_secs(s.request_timeout_secs),
        header_read_timeout: Duration::from_secs(s.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(s.idle_timeout_secs),
        max_connections: s.max_connections,
        max_connections_per_ip: Some(
            spec.max_connections_per_ip
                .unwrap_or(s.max_connections_per_ip),
        ),
    }
}

/// On SIGHUP, load the listener's certificate again; a bad file keeps the old one.
fn spawn_tls_reload(
    tasks: &Tasks,
    reload: &Reload,
    listener: &'static str,
    files: opshelf_core::tls::TlsFiles,
    tx: watch::Sender<Arc<opshelf_core::tls::ServerConfig>>,
) {
    let mut reload = reload.clone();
    let shutdown = tasks.shutdown().clone();
    tasks.spawn("tls-reload", async move {
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                () = reload.changed() => match files.load() {
                    Ok(config) => {
                        tx.send_replace(config);
                        tracing::info!(listener, "TLS certificate reloaded");
                    }
                    Err(e) => tracing::error!(listener, error = %e, "TLS reload failed; keeping the previous certificate"),
                },
            }
        }
    });
}

async fn bind(addr: SocketAddr, key: &str, loaded: &Loaded) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr} ({key}, from {}): {e}",
            loaded.origin(key)
        )
    })
}

fn announce(
    board: &StatusBoard,
    name: &str,
    capability: &str,
    key: &str,
    addr: SocketAddr,
    tls: bool,
) {
    tracing::info!(listener = name, addr = %addr, "listening");
    board.listener(ListenerInfo {
        name: name.to_owned(),
        capability: capability.to_owned(),
        key: key.to_owned(),
        addr: addr.to_string(),
        tls,
    });
}

async fn serve_listener(
    socket: TcpListener,
    router: axum::Router,
    opts: ServeOptions,
    shutdown: Shutdown,
    metrics: Metrics,
) -> std::io::Result<()> {
    let name = Arc::clone(&opts.name);
    let r = serve(socket, router, opts, shutdown, &metrics).await;
    tracing::debug!(listener = %name, "listener closed");
    r
}

/// SIGTERM or SIGINT (returned, to stop); SIGHUP triggers `reload` and keeps waiting.
async fn signals(reload: Reload) -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return "SIGTERM",
            _ = int.recv() => return "SIGINT",
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                reload.trigger();
            }
        }
    }
}
