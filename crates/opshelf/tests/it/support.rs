//! The end-to-end harness: start the real `opshelf` binary with a config, on ephemeral
//! ports on 127.0.0.1, and find out where each listener is.
//!
//! ```ignore
//! let srv = Server::start("[flags]\nenabled = true\n").await;   // listen = 127.0.0.1:0 added for you
//! let url = srv.url("flags");                                    // "http://127.0.0.1:41234"
//! ```
//! Every capability section in the TOML you pass gets `listen = "127.0.0.1:0"` unless it sets
//! one, and every compiled-in capability you do not mention is disabled, so tests never touch
//! the default ports. Storage is a fresh SQLite file in a temp dir (see `start_with`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Capabilities with a listener, in a full build.
pub const LISTENING_CAPABILITIES: &[&str] = &["secrets", "flags", "waf"];

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_opshelf")
}

/// A running opshelf.
pub struct Server {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub addrs: BTreeMap<String, String>,
    /// Every log line printed so far (JSON), collected in the background.
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

/// Options beyond the config text.
#[derive(Default)]
pub struct Options {
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Reuse this data dir (e.g. to restart on the same state).
    pub dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Start with `config` (TOML), wait until `/readyz` is 200.
    pub async fn start(config: &str) -> Server {
        Self::start_with(config, Options::default()).await
    }

    pub async fn start_with(config: &str, opts: Options) -> Server {
        let dir = opts
            .dir
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let config = complete_config(config, dir.path());
        let path = dir.path().join("opshelf.toml");
        std::fs::write(&path, &config).expect("write config");
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&path)
            .arg("--log-format")
            .arg("json")
            .arg("serve")
            .args(&opts.args)
            .env_remove("OPSHELF_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn opshelf");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut srv = Server {
            child: Some(child),
            dir,
            addrs: BTreeMap::new(),
            lines: rx,
            log: Vec::new(),
        };
        srv.wait_ready(Duration::from_secs(20)).await;
        srv
    }

    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["message"] == "listening" {
                    if let (Some(l), Some(a)) = (v["listener"].as_str(), v["addr"].as_str()) {
                        self.addrs.insert(l.to_owned(), a.to_owned());
                    }
                }
            }
            self.log.push(line);
        }
    }

    async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain();
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.drain();
                panic!(
                    "opshelf exited early with {status}:\n{}",
                    self.log.join("\n")
                );
            }
            // The "ready" line comes after every "listening" line on the same stderr, so
            // once it has been read every listener's address is known (a 200 from /readyz
            // alone can arrive before the reader thread has passed those lines on).
            let logged_ready = self.log.iter().any(|l| {
                serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["message"] == "ready")
            });
            if let (true, Some(admin)) = (logged_ready, self.addrs.get("admin")) {
                if let Ok(r) = reqwest::get(format!("http://{admin}/readyz")).await {
                    if r.status() == 200 {
                        self.drain();
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "opshelf not ready in {timeout:?}:\n{}",
                self.log.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `http://ADDR` of a listener (`"admin"`, `"secrets"`, ...).
    pub fn url(&self, listener: &str) -> String {
        let addr = self
            .addrs
            .get(listener)
            .unwrap_or_else(|| panic!("no listener {listener}: {:?}", self.addrs));
        format!("http://{addr}")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Send a signal by name (`"TERM"`, `"KILL"`) and wait for the exit status.
    pub fn signal_and_wait(&mut self, sig: &str) -> std::process::ExitStatus {
        let pid = self.pid();
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(ok.success());
        let status = self.child.as_mut().expect("running").wait().expect("wait");
        self.child = None;
        std::thread::sleep(Duration::from_millis(50));
        self.drain();
        status
    }

    /// Stop with SIGKILL and hand back the data dir, for a restart on the same state.
    pub fn kill9(mut self) -> tempfile::TempDir {
        self.signal_and_wait("KILL");
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// Stop with SIGTERM (graceful) and hand back the data dir.
    pub fn stop(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let status = self.signal_and_wait("TERM");
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        (status, dir)
    }

    /// Log lines so far.
    pub fn logs(&mut self) -> Vec<String> {
        self.drain();
        self.log.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Put `listen = "127.0.0.1:0"` into the admin section and every capability section that
/// does not set one; disable capabilities the text does not mention; point data_dir at `dir`.
pub fn complete_config(config: &str, dir: &Path) -> String {
    let mut table: toml::Table = toml::from_str(config).expect("test config parses");
    table
        .entry("data_dir")
        .or_insert_with(|| toml::Value::String(dir.join("data").display().to_string()));
    for section in std::iter::once("admin").chain(LISTENING_CAPABILITIES.iter().copied()) {
        let mentioned = table.contains_key(section);
        let entry = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let t = entry.as_table_mut().expect("section is a table");
        if section != "admin" && !mentioned {
            t.insert("enabled".into(), toml::Value::Boolean(false));
        }
        t.entry("listen")
            .or_insert_with(|| toml::Value::String("127.0.0.1:0".into()));
    }
    // Only keep sections this build knows, so a feature-limited build still starts.
    let known = compiled_capabilities();
    table.retain(|k, _| !LISTENING_CAPABILITIES.contains(&k) || known.contains(&k));
    toml::to_string(&table).expect("serialise config")
}

pub fn compiled_capabilities() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "secrets") {
        v.push("secrets");
    }
    if cfg!(feature = "flags") {
        v.push("flags");
    }
    if cfg!(feature = "waf") {
        v.push("waf");
    }
    v
}
