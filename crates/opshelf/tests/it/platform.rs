//! The capability contract, end to end: a capability defined here, added to the binary's
//! registry with one line, shows up in the config, `/status`, `/metrics` and shutdown; and
//! the platform's own guarantees (start-up errors, readiness, connection limits) on the real
//! binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use opshelf::Registry;
use opshelf::serve::Running;
use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, Env, EnvError, ListenerSpec, Report, StartError, Started};
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Server;

/// A capability that exists only in this test.
struct Probe;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ProbeConfig {
    enabled: bool,
    listen: SocketAddr,
    greeting: String,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            greeting: "hello".to_owned(),
        }
    }
}

impl Capability for Probe {
    const NAME: &'static str = "probe";
    const CONFIG_EXAMPLE: &'static str =
        "[probe]\nenabled = true\nlisten = \"127.0.0.1:0\"\ngreeting = \"hello\"\n";
    type Config = ProbeConfig;

    fn apply_env(config: &mut ProbeConfig, env: &Env) -> Result<(), EnvError> {
        if let Some(g) = env.get("PROBE_GREETING") {
            if g.contains(' ') {
                return Err(EnvError::new("PROBE_GREETING", "one word"));
            }
            g.clone_into(&mut config.greeting);
        }
        Ok(())
    }

    fn validate(config: &ProbeConfig) -> Result<(), ConfigError> {
        if config.greeting.is_empty() {
            return Err(ConfigError::new("greeting", "a word"));
        }
        Ok(())
    }

    fn enabled(config: &ProbeConfig) -> bool {
        config.enabled
    }

    fn listeners(config: &ProbeConfig) -> Vec<ListenerSpec> {
        vec![ListenerSpec::new(
            "probe",
            "probe.listen",
            config.listen,
            Some(1024),
        )]
    }

    async fn start(config: ProbeConfig, ctx: Context) -> Result<Started, StartError> {
        let hits = Counter::<u64>::default();
        ctx.metrics
            .register("hits", "Requests to the probe", hits.clone());
        // A task whose last act at shutdown is a write: it must find storage still open.
        let storage = ctx.storage.clone();
        ctx.tasks.spawn_every(
            "probe-tick",
            Duration::from_secs(3600),
            || async {},
            move || async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                storage
                    .put("stopped", b"cleanly")
                    .await
                    .expect("storage open during the final flush");
            },
        );
        let h = hits.clone();
        let router = axum::Router::new().route(
            "/",
            get(move || {
                h.inc();
                let g = config.greeting.clone();
                async move { g }
            }),
        );
        let status = move || Report::up("probing").fact("hits", hits.get());
        Ok(Started::new(Arc::new(status)).with_router("probe", router))
    }
}

fn registry() -> Registry {
    Registry::builtin().with::<Probe>()
}

fn config_file(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let text = crate::support::complete_config(extra, dir, "127.0.0.1:0");
    let path = dir.join("opshelf.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_capability_added_with_one_line_is_in_config_status_metrics_and_shutdown() {
    let r = registry();
    assert!(opshelf::config::example(&r).contains("[probe]\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), "[probe]\ngreeting = \"file\"\n");
    // Its section is parsed and validated like any other; its own variable applies.
    let env = vec![("PROBE_GREETING".to_owned(), "env".to_owned())];
    let loaded = opshelf::config::load(&r, &path, true, env, &[]).unwrap();
    assert_eq!(loaded.config.section::<Probe>().unwrap().greeting, "env");
    let bad = vec![("PROBE_GREETING".to_owned(), "two words".to_owned())];
    let e = opshelf::config::load(&r, &path, true, bad, &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable PROBE_GREETING: expected one word"
    );
    std::fs::write(dir.path().join("bad.toml"), "[probe]\ngreting = \"x\"\n").unwrap();
    let e =
        opshelf::config::load(&r, &dir.path().join("bad.toml"), true, Vec::new(), &[]).unwrap_err();
    assert!(e.to_string().contains("probe.greting: unknown key"), "{e}");

    let running = Running::start(loaded, &r).await.unwrap();
    let admin = format!("http://{}", running.admin_addr);
    let status: serde_json::Value = reqwest::get(format!("{admin}/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let probe_addr = status["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "probe")
        .expect("the probe's listener is in /status")["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!probe_addr.ends_with(":0"), "the real port: {probe_addr}");
    let body = reqwest::get(format!("http://{probe_addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "env");
    let status: serde_json::Value = reqwest::get(format!("{admin}/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let probe = status["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "probe")
        .expect("the probe reports");
    assert_eq!(probe["state"], "up");
    assert_eq!(probe["facts"]["hits"], 1);
    let metrics = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("opshelf_probe_hits_total 1"), "{metrics}");
    assert!(metrics.contains("opshelf_http_requests_total{listener=\"probe\""));

    // Shutdown waits for the probe's final write before it closes storage.
    let code = running.wait(async { "test" }).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let storage = opshelf_core::storage::open(&Default::default(), &dir.path().join("data"))
        .await
        .unwrap();
    assert_eq!(
        storage.get("probe", "stopped").await.unwrap().as_deref(),
        Some(&b"cleanly"[..])
    );
}

#[test]
fn a_bad_upstream_variable_is_one_line_exit_2_before_any_port_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), "[flags]\nenabled = true\n");
    let out = std::process::Command::new(crate::support::bin())
        .arg("--config")
        .arg(&path)
        .arg("serve")
        .env("INIT_ADMIN_API_TOKENS", "garbage")
        .env_remove("OPSHELF_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "opshelf: configuration error: environment variable INIT_ADMIN_API_TOKENS: expected"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"));
    assert!(!dir.path().join("data").exists(), "nothing was started");
}

#[cfg(feature = "secrets")]
#[tokio::test]
async fn a_sealed_vault_is_degraded_and_not_ready_until_unsealed() {
    let mut srv = Server::start("[secrets]\nenabled = true\n").await;
    let admin = srv.url("admin");
    let status = srv.status().await;
    let secrets = status["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "secrets")
        .unwrap()
        .clone();
    assert_eq!(secrets["state"], "degraded");
    assert_eq!(secrets["facts"]["sealed"], true);
    assert!(
        secrets["summary"]
            .as_str()
            .unwrap()
            .contains("vault operator init")
    );
    let ready = reqwest::get(format!("{admin}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("secrets: not ready"));
    // The start-up log says what to do next.
    assert!(
        srv.logs()
            .iter()
            .any(|l| l.contains("vault operator init") && l.contains("--dev")),
        "no hint in the log"
    );
    let vault = srv.url("secrets");
    let c = reqwest::Client::new();
    let init: serde_json::Value = c
        .put(format!("{vault}/v1/sys/init"))
        .json(&serde_json::json!({"secret_shares": 1, "secret_threshold": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = init["keys"][0].as_str().unwrap();
    let r = c
        .put(format!("{vault}/v1/sys/unseal"))
        .json(&serde_json::json!({ "key": key }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ready = reqwest::get(format!("{admin}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
}

/// Reads until EOF or an error; how long that took.
async fn closed_after(mut s: tokio::net::TcpStream) -> Duration {
    let t = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => return t.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[cfg(feature = "flags")]
#[tokio::test]
async fn half_sent_requests_are_closed_at_the_header_timeout_and_the_cap_refuses() {
    let srv = Server::start(
        "[server]\nheader_read_timeout_secs = 1\nmax_connections = 60\n[flags]\nenabled = true\n",
    )
    .await;
    let url = srv.url("flags");
    let addr = url.trim_start_matches("http://").to_owned();
    let mut half = Vec::new();
    for _ in 0..40 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        half.push(s);
    }
    // Another client is served meanwhile.
    let ok = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(ok.status(), 200);
    let waits: Vec<Duration> = futures_join_all(half.into_iter().map(closed_after).collect()).await;
    for w in &waits {
        assert!(*w < Duration::from_secs(4), "closed after {w:?}");
    }
    drop(srv);
    // Past the cap, new connections are closed at once, not queued (a long header timeout
    // here, so the held connections stay open for the whole check).
    let srv = Server::start(
        "[server]\nheader_read_timeout_secs = 30\nmax_connections = 60\n[flags]\nenabled = true\n",
    )
    .await;
    let addr = srv.url("flags").trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..60 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"G").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let over = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_after(over).await < Duration::from_secs(5));
    drop(held);
    let metrics = reqwest::get(format!("{}/metrics", srv.url("admin")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("opshelf_http_refused_connections_total{listener=\"flags\"}"));
}

async fn futures_join_all<F: std::future::Future<Output = Duration> + Send + 'static>(
    futs: Vec<F>,
) -> Vec<Duration> {
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
