//! The console as the platform sees it: `[console]`, its listener, the mounts on other
//! listeners, the first admin, the sampler, status.

use std::sync::Arc;
use std::time::Duration;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, ListenerSpec, Report, StartError, Started};

use crate::auth::{self, Role, User};
use crate::overview::{self, Day, Sample};
use crate::routes::{App, Inner};
use crate::{CONFIG_EXAMPLE, Config, Error, assets, audit, proxy};

/// The web console on `[console] listen`.
#[derive(Debug)]
pub struct Console;

/// Paths the console takes on another listener it is mounted on.
pub const MOUNT_PATHS: &[&str] = &["/", "/console/"];

impl Capability for Console {
    const NAME: &'static str = "console";
    const CONFIG_EXAMPLE: &'static str = CONFIG_EXAMPLE;
    type Config = Config;

    fn validate(config: &Config) -> Result<(), ConfigError> {
        config.validate()
    }

    fn enabled(config: &Config) -> bool {
        config.enabled
    }

    fn listeners(config: &Config) -> Vec<ListenerSpec> {
        vec![
            ListenerSpec::new(
                "console",
                "console.listen",
                config.listen,
                Some(config.max_upload_bytes),
            )
            // validate() has checked the pair.
            .with_tls(config.tls().ok().flatten()),
        ]
    }

    async fn start(config: Config, ctx: Context) -> Result<Started, StartError> {
        bootstrap_admin(&ctx, &config).await?;
        let mut homes: Vec<&'static str> = vec!["overview"];
        let mounts: Vec<&'static str> = config
            .mount_on
            .iter()
            // Leaked once per start: listener names live as long as the process.
            .map(|m| &*String::leak(m.clone()))
            .collect();
        homes.extend(mounts.iter().map(|m| crate::home_page(m)));
        let dummy_hash = tokio::task::spawn_blocking(|| auth::hash_password(&auth::random_token()))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let tls = config.tls().ok().flatten().is_some();
        let app = App(Arc::new(Inner {
            storage: ctx.storage.clone(),
            board: ctx.board.clone(),
            metrics: ctx.metrics.clone(),
            data_dir: ctx.data_dir.clone(),
            tls,
            limiter: auth::LoginLimiter::default(),
            assets: assets::Assets::new(&homes),
            client: proxy::client(),
            samples: overview::Samples::default(),
            dummy_hash,
            config,
        }));
        spawn_sampler(&ctx, app.clone());
        let status = {
            let app = app.clone();
            move || {
                let (bytes, files) = app.0.assets.compressed_total();
                Report::up("web console")
                    .fact("asset_files", files)
                    .fact("asset_bytes_gzip", bytes)
            }
        };
        let mut started = Started::new(Arc::new(status))
            .with_router("console", crate::routes::router(app.clone(), "overview"));
        for m in mounts {
            started = started.with_mount(
                m,
                MOUNT_PATHS.to_vec(),
                crate::routes::router(app.clone(), crate::home_page(m)),
            );
        }
        Ok(started)
    }
}

/// The first admin, when there is no user yet: `admin` with `[console] admin_password`, or
/// a random password printed once (on stderr, not in the log: it is a secret).
async fn bootstrap_admin(ctx: &Context, config: &Config) -> Result<(), Error> {
    if !ctx.storage.list("user/").await?.is_empty() {
        return Ok(());
    }
    let (password, generated) = if config.admin_password.is_empty() {
        (auth::random_token()[..24].to_owned(), true)
    } else {
        (config.admin_password.clone(), false)
    };
    let p = password.clone();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&p))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let u = User {
        name: "admin".to_owned(),
        role: Role::Admin,
        hash,
        created_ms: audit::now_ms(),
    };
    let v = serde_json::to_vec(&u).map_err(|e| Error::Internal(e.to_string()))?;
    ctx.storage.put("user/admin", &v).await?;
    audit::record(
        &ctx.storage,
        "-",
        "user.create",
        "admin",
        serde_json::json!({"role": "admin", "first_start": true}),
    )
    .await?;
    if generated {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "\nopshelf console: first admin created.\n  user:     admin\n  password: {password}\n(shown once; change it on the Users page)\n"
            );
        }
    }
    tracing::info!(generated, "console: first admin user created");
    Ok(())
}

/// Every [`overview::SAMPLE_SECS`]: a sample for the trends and a readiness count for the day.
fn spawn_sampler(ctx: &Context, app: App) {
    let shutdown = ctx.shutdown.clone();
    ctx.tasks.spawn("console-sampler", async move {
        let mut tick = tokio::time::interval(Duration::from_secs(overview::SAMPLE_SECS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        let mut disk = 0;
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                _ = tick.tick() => {}
            }
            if n.is_multiple_of(12) {
                let dir = app.0.data_dir.clone();
                disk = tokio::task::spawn_blocking(move || overview::dir_bytes(&dir))
                    .await
                    .unwrap_or(disk);
            }
            n += 1;
            if let Err(e) = sample(&app, disk).await {
                tracing::warn!(error = %e, "console sampler");
            }
        }
    });
}

async fn sample(app: &App, disk: u64) -> Result<(), Error> {
    let caps = app.0.board.capabilities();
    let ready = opshelf_core::status::StatusBoard::all_serving(&caps);
    let p = overview::process();
    let waf = |f| overview::fact_u64(&caps, "waf", f).unwrap_or(0);
    let text = app.0.metrics.encode();
    let attacks = overview::waf_counts(&text).unwrap_or_default();
    app.0.samples.push(Sample {
        t_ms: audit::now_ms(),
        ready,
        rss_bytes: p.rss_bytes.unwrap_or(0),
        cpu_seconds: p.cpu_seconds.unwrap_or(0.0),
        disk_bytes: disk,
        waf_requests: waf("requests"),
        waf_blocked: waf("blocked"),
        waf_attacks_blocked: attacks.blocked,
        waf_detected_only: attacks.detected_only,
        p95_ms: overview::p95_ms(&text),
        active_flags: overview::fact_u64(&caps, "flags", "active_flags"),
    });
    let day = time::OffsetDateTime::now_utc().date();
    let key = format!("uptime/{day}");
    let mut d: Day = app
        .0
        .storage
        .get(&key)
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default();
    d.total += 1;
    if ready {
        d.ready += 1;
    }
    let v = serde_json::to_vec(&d).map_err(|e| Error::Internal(e.to_string()))?;
    app.0.storage.put(&key, &v).await?;
    // Keep 30 days.
    let days = app.0.storage.list("uptime/").await?;
    if days.len() > 30 {
        for k in &days[..days.len() - 30] {
            app.0.storage.delete(k).await?;
        }
    }
    Ok(())
}
