//! The end-to-end harness: start the real `opshelf` binary with a config, on ephemeral
//! ports on 127.0.0.1, and find out where each listener is.
//!
//! ```ignore
//! let srv = Server::start("[flags]\nenabled = true\n").await;   // listen = 127.0.0.1:0 added for you
//! let url = srv.url("flags");                                    // "http://127.0.0.1:41234"
//! ```
//! Every listener key of a capability in the TOML you pass gets `127.0.0.1:0` unless it sets
//! one, and every compiled-in capability with listeners you do not mention is disabled, so
//! tests never touch the default ports (the list comes from the binary's own registry). The
//! harness learns where each listener is from the admin listener's `/status`, not from log
//! lines. Storage is a fresh SQLite file in a temp dir (see `start_with`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
        let admin = free_port();
        let config = complete_config(config, dir.path(), &admin);
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
            addrs: BTreeMap::from([("admin".to_owned(), admin)]),
            lines: rx,
            log: Vec::new(),
        };
        srv.wait_ready(Duration::from_secs(20)).await;
        srv
    }

    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    /// The admin listener's `/status` document.
    pub async fn status(&self) -> serde_json::Value {
        let admin = self.addrs.get("admin").expect("admin address");
        reqwest::get(format!("http://{admin}/status"))
            .await
            .expect("GET /status")
            .json()
            .await
            .expect("/status is JSON")
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
            // Started = every capability has left "starting" (a sealed vault is started but
            // not ready, so /readyz is not the test); its listeners are in /status by then.
            let admin = self.addrs.get("admin").cloned().expect("admin address");
            if let Ok(r) = reqwest::get(format!("http://{admin}/status")).await
                && let Ok(v) = r.json::<serde_json::Value>().await
            {
                let caps = v["capabilities"].as_array().cloned().unwrap_or_default();
                if caps.iter().all(|c| c["state"] != "starting") {
                    for l in v["listeners"].as_array().into_iter().flatten() {
                        if let (Some(n), Some(a)) = (l["name"].as_str(), l["addr"].as_str()) {
                            self.addrs.insert(n.to_owned(), a.to_owned());
                        }
                    }
                    self.drain();
                    return;
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

/// A port on 127.0.0.1 that was free a moment ago (the admin listener's: the harness must
/// know it to read `/status`).
fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").to_string()
}

/// Set the admin listener to `admin`; put `127.0.0.1:0` into every listener key of every
/// capability the text mentions (unless it sets one); disable the capabilities with listeners
/// it does not mention; point data_dir at `dir`.
pub fn complete_config(config: &str, dir: &Path, admin: &str) -> String {
    let mut table: toml::Table = toml::from_str(config).expect("test config parses");
    table
        .entry("data_dir")
        .or_insert_with(|| toml::Value::String(dir.join("data").display().to_string()));
    let admin_section = table
        .entry("admin")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    admin_section
        .as_table_mut()
        .expect("[admin] is a table")
        .entry("listen")
        .or_insert_with(|| toml::Value::String(admin.to_owned()));
    let registry = opshelf::Registry::builtin();
    for (name, keys) in listener_keys(&registry) {
        let mentioned = table.contains_key(name);
        let entry = table
            .entry(name)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let t = entry.as_table_mut().expect("section is a table");
        if !mentioned {
            t.insert("enabled".into(), toml::Value::Boolean(false));
        }
        for key in keys {
            t.entry(key)
                .or_insert_with(|| toml::Value::String("127.0.0.1:0".into()));
        }
    }
    // Only keep sections this build knows, so a feature-limited build still starts.
    table.retain(|k, _| !registry.not_built.contains(&k));
    toml::to_string(&table).expect("serialise config")
}

/// Each capability with listeners, and the keys of its listen addresses (from its defaults).
pub fn listener_keys(registry: &opshelf::Registry) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for c in registry.iter() {
        let section = c.default_section();
        let keys: Vec<String> = c
            .listeners(section.as_ref())
            .iter()
            .filter_map(|l| l.key.split_once('.').map(|(_, k)| k.to_owned()))
            .collect();
        if !keys.is_empty() {
            out.push((c.name(), keys));
        }
    }
    out
}

/// Capabilities compiled into this build (the binary's registry).
pub fn compiled_capabilities() -> Vec<&'static str> {
    opshelf::Registry::builtin().names()
}
