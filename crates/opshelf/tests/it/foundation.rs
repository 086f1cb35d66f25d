//! `opshelf serve`, config handling, admin endpoints, signals.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Options, Server, bin};

fn opshelf(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("OPSHELF_DATA_DIR")
        .output()
        .expect("run opshelf")
}

#[tokio::test]
async fn serves_admin_endpoints_and_stops_cleanly_on_sigterm() {
    let srv = Server::start("").await;
    let admin = srv.url("admin");
    assert_eq!(
        reqwest::get(format!("{admin}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = reqwest::get(format!("{admin}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        ready
            .text()
            .await
            .unwrap()
            .contains("storage (sqlite): ready")
    );

    let res = reqwest::get(format!("{admin}/metrics")).await.unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = res.text().await.unwrap();
    check_exposition(&text);
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "opshelf_uptime_seconds",
        "opshelf_http_requests_total{listener=\"admin\",method=\"GET\",status=\"200\"}",
        "opshelf_http_request_duration_seconds_bucket{le=",
    ] {
        assert!(
            text.contains(name) || text.contains(&name.replace("{le=", "{listener=\"admin\",le=")),
            "{name} missing:\n{text}"
        );
    }
    assert!(srv.data_dir().join("opshelf.sqlite3").exists());

    let (status, _) = srv.stop();
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
}

/// A strict-enough check of the Prometheus/OpenMetrics text exposition: every line is a
/// comment (`# HELP`/`# TYPE`/`# UNIT`/`# EOF`) or `name{labels} value`, every sample's
/// family has a TYPE, and values parse as numbers.
fn check_exposition(text: &str) {
    let mut typed = std::collections::BTreeSet::new();
    let mut saw_eof = false;
    for line in text.lines() {
        assert!(!saw_eof, "content after # EOF");
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            typed.insert(it.next().unwrap().to_owned());
            let kind = it.next().unwrap();
            assert!(
                [
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "info",
                    "unknown",
                    "stateset",
                    "gaugehistogram"
                ]
                .contains(&kind),
                "{line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value in {line:?}"
        );
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name {name:?}"
        );
        if series.contains('{') {
            assert!(series.ends_with('}'), "unterminated labels in {line:?}");
        }
        let family = ["_total", "_bucket", "_count", "_sum", "_created"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample {name} has no # TYPE");
    }
    assert!(saw_eof, "missing # EOF");
}

#[test]
fn no_config_at_all_starts_on_defaults_within_a_second_and_says_what_to_do() {
    // The one test that uses the default ports (127.0.0.1:9464 and the capabilities'), as
    // a user would; it runs in an empty directory with no opshelf.toml.
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(bin())
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("OPSHELF_DATA_DIR")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Started: every capability has left "starting". Not ready: a new vault is not
    // initialised (Vault's sys/health answers 501 then), and /readyz says so.
    let ready = rt.block_on(async {
        let client = reqwest::Client::new();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(r) = client.get("http://127.0.0.1:9464/status").send().await
                && let Ok(v) = r.json::<serde_json::Value>().await
            {
                let caps = v["capabilities"].as_array().cloned().unwrap_or_default();
                if !caps.is_empty() && caps.iter().all(|c| c["state"] != "starting") {
                    let elapsed = started.elapsed();
                    let r = client
                        .get("http://127.0.0.1:9464/readyz")
                        .send()
                        .await
                        .ok()?;
                    return Some((elapsed, r.status(), r.text().await.ok()?));
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    });
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    let (elapsed, code, body) =
        ready.expect("/status on 127.0.0.1:9464 never showed a started opshelf");
    assert!(
        elapsed < Duration::from_secs(1),
        "started after {elapsed:?}"
    );
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("secrets: not ready (degraded: not initialised"),
        "{body}"
    );
    assert!(body.contains("flags: ready"), "{body}");
    assert!(status.success(), "{status}");
    assert!(
        dir.path().join("data/opshelf.sqlite3").exists(),
        "default data_dir is ./data"
    );
}

#[test]
fn bad_config_is_one_line_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[admin]\nlisten = \"not-an-address\"\n",
            "admin.listen",
            "expected an address like",
        ),
        (
            "[server]\nshutdown_grace_secs = \"soon\"\n",
            "server.shutdown_grace_secs",
            "expected u64",
        ),
        (
            "[admin]\nlisen = \"127.0.0.1:0\"\n",
            "admin.lisen",
            "unknown key",
        ),
        (
            "[storage]\nurl = \"mysql://db\"\n",
            "storage.url",
            "expected a postgres://",
        ),
    ];
    for (text, key, expected) in cases {
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        for sub in [&["config", "check"][..], &["serve"][..]] {
            let mut args = vec!["--config", "bad.toml"];
            args.extend_from_slice(sub);
            let out = opshelf(&args, dir.path());
            assert_eq!(out.status.code(), Some(2), "{text}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.lines().count(), 1, "one line, got {err:?}");
            assert!(
                err.contains("bad.toml") && err.contains(key) && err.contains(expected),
                "{err}"
            );
        }
    }
    // The same from the environment names the variable.
    let out = Command::new(bin())
        .args(["config", "check"])
        .current_dir(dir.path())
        .env("OPSHELF_ADMIN__LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("environment variable OPSHELF_ADMIN__LISTEN: admin.listen")
    );
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error_before_anything_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = format!("data_dir = \"data\"\n[admin]\nlisten = \"{addr}\"\n");
    std::fs::write(dir.path().join("opshelf.toml"), config).unwrap();
    let out = opshelf(&["serve"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot listen on {addr} (admin.listen, from opshelf.toml)"
        )),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing may start (no data dir created)"
    );
}

#[test]
fn config_check_example_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = opshelf(&["config", "check"], dir.path());
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "defaults: ok\n");

    let out = opshelf(&["config", "example"], dir.path());
    assert!(out.status.success());
    let example = String::from_utf8(out.stdout).unwrap();
    std::fs::write(dir.path().join("opshelf.toml"), &example).unwrap();
    let out = opshelf(&["config", "check"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = opshelf(&["--version"], dir.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("opshelf {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn env_overrides_the_file() {
    let srv = Server::start_with(
        "",
        Options {
            env: vec![("OPSHELF_SERVER__REQUEST_TIMEOUT_SECS".into(), "3".into())],
            ..Options::default()
        },
    )
    .await;
    assert!(srv.url("admin").starts_with("http://127.0.0.1:"));
}
