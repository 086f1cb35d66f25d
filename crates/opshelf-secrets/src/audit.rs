//! File audit devices: one JSON line per request and per response, in Vault's shape, with
//! every string value inside `data` (and the token / accessor) replaced by
//! `hmac-sha256:<hex>` under a per-device salt. If every enabled device fails to write,
//! the request is refused (as Vault does).
//!
//! The HMAC-ing of an entry is pure ([`hash_strings`]); each device appends to its file
//! through core's JSON-lines writer: the file I/O happens on the writer's own thread, lines
//! of concurrent requests are group-committed, and a request goes on only once its entry
//! is in the file (handed to the kernel, not fsynced: Vault's file device does not fsync
//! either). No rotation by size, like Vault: logrotate renames the file and
//! [`reopen_all`] (on `SIGHUP`) starts a new one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hmac::{Hmac, Mac};
use opshelf_core::jsonl::{self, JsonlError, JsonlWriter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::error::{Error, Result};

/// An enabled device as stored in the barrier (`core/audit`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceConfig {
    /// with trailing slash: `file/`
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub file_path: String,
    pub salt: String,
    pub local: bool,
}

impl DeviceConfig {
    /// The entry as `sys/audit` lists it.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": self.kind,
            "description": self.description,
            "options": { "file_path": self.file_path },
            "path": self.path,
            "local": self.local,
        })
    }
}

/// An enabled device with its open file.
pub struct Device {
    pub config: DeviceConfig,
    log: JsonlWriter,
    health: Health,
}

/// How a device's writes have gone since it was opened (Vault has no API for it, only the
/// `vault.audit.log_request_failure` telemetry; this is what the platform status shows).
#[derive(Default)]
struct Health {
    written: AtomicU64,
    failed: AtomicU64,
    /// The latest write failed.
    failing: AtomicBool,
    /// The last failure: when (RFC 3339) and why.
    last_error: Mutex<Option<(String, String)>>,
}

impl Device {
    fn wrote(&self, result: std::result::Result<(), String>) {
        match result {
            Ok(()) => {
                self.health.written.fetch_add(1, Ordering::Relaxed);
                self.health.failing.store(false, Ordering::Relaxed);
            }
            Err(e) => {
                self.health.failed.fetch_add(1, Ordering::Relaxed);
                self.health.failing.store(true, Ordering::Relaxed);
                let when = crate::util::rfc3339_nanos(crate::util::now_nanos());
                *self
                    .health
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some((when, e));
            }
        }
    }

    /// The device's health for `/status`: healthy when its last write succeeded (or it has
    /// not written yet). No salt, no file contents.
    #[must_use]
    pub fn health_json(&self) -> Value {
        let last = self
            .health
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let failed = self.health.failed.load(Ordering::Relaxed);
        let written = self.health.written.load(Ordering::Relaxed);
        json!({
            "path": self.config.path,
            "type": self.config.kind,
            "file_path": self.config.file_path,
            "entries_written": written,
            "write_failures": failed,
            "healthy": !self.health.failing.load(Ordering::Relaxed),
            "last_error": last.as_ref().map(|(_, e)| e.clone()),
            "last_error_time": last.map(|(t, _)| t),
        })
    }
}

fn io_error(e: JsonlError) -> Error {
    match e {
        JsonlError::Io { source, .. } => {
            Error::Io(std::io::Error::new(source.kind(), source.to_string()))
        }
        other => Error::Internal(other.to_string()),
    }
}

impl Device {
    /// Open (create / append) the device's file, creating its directory, and start its
    /// writer thread.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(config: DeviceConfig) -> Result<Self> {
        let log =
            JsonlWriter::open(&config.file_path, jsonl::Options::default()).map_err(io_error)?;
        Ok(Self {
            config,
            log,
            health: Health::default(),
        })
    }

    /// Close and reopen the file at its path (log rotation).
    ///
    /// # Errors
    /// When the path cannot be opened.
    pub async fn reopen(&self) -> Result<()> {
        self.log.reopen().await.map_err(io_error)
    }

    /// `hmac-sha256:<hex>` of `input` under this device's salt.
    #[must_use]
    pub fn hash(&self, input: &str) -> String {
        hmac_hex(&self.config.salt, input)
    }
}

/// Reopen every device's file (what `SIGHUP` does to Vault's file devices); failures are
/// logged and the device tries again at its next write.
pub async fn reopen_all(devices: &[Arc<Device>]) {
    for d in devices {
        if let Err(e) = d.reopen().await {
            tracing::error!(device = %d.config.path, error = %e, "audit device cannot reopen its file");
        }
    }
}

/// `hmac-sha256:<hex>`.
#[must_use]
pub fn hmac_hex(salt: &str, input: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(salt.as_bytes()) else {
        return String::new();
    };
    mac.update(input.as_bytes());
    format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

/// Replace every string inside `v` with its HMAC (Vault hashes data values, keeps keys).
#[must_use]
pub fn hash_strings(salt: &str, v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(hmac_hex(salt, s)),
        Value::Array(items) => Value::Array(items.iter().map(|i| hash_strings(salt, i)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, val) in map {
                out.insert(k.clone(), hash_strings(salt, val));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// What one request looked like, for the log.
pub struct Event<'a> {
    pub id: &'a str,
    pub operation: &'a str,
    pub path: &'a str,
    pub token: &'a str,
    pub accessor: &'a str,
    pub display_name: &'a str,
    pub policies: &'a [String],
    pub issue_time: &'a str,
    pub data: &'a Map<String, Value>,
    pub remote: Option<std::net::SocketAddr>,
}

fn base_entry(dev: &Device, kind: &str, ev: &Event<'_>) -> Value {
    let salt = &dev.config.salt;
    let mut request = json!({
        "id": ev.id,
        "operation": ev.operation,
        "client_token": dev.hash(ev.token),
        "client_token_accessor": dev.hash(ev.accessor),
        "namespace": { "id": "root" },
        "path": ev.path,
    });
    if !ev.data.is_empty() {
        request["data"] = hash_strings(salt, &Value::Object(ev.data.clone()));
    }
    if let Some(addr) = ev.remote {
        request["remote_address"] = json!(addr.ip().to_string());
        request["remote_port"] = json!(addr.port());
    }
    json!({
        "time": crate::util::rfc3339_nanos(crate::util::now_nanos()),
        "type": kind,
        "auth": {
            "client_token": dev.hash(ev.token),
            "accessor": dev.hash(ev.accessor),
            "display_name": ev.display_name,
            "policies": ev.policies,
            "token_policies": ev.policies,
            "token_type": "service",
            "token_issue_time": ev.issue_time,
        },
        "request": request,
    })
}

/// Log the request to every device; resolves once it is in their files. Err when devices
/// exist and none could write.
///
/// # Errors
/// No device could write the entry.
pub async fn log_request(devices: &[Arc<Device>], ev: &Event<'_>) -> Result<()> {
    write_all(devices, |d| base_entry(d, "request", ev)).await
}

/// Log the response (its body, hashed) to every device.
///
/// # Errors
/// No device could write the entry.
pub async fn log_response(
    devices: &[Arc<Device>],
    ev: &Event<'_>,
    status: u16,
    body: Option<&Value>,
    error: Option<&str>,
) -> Result<()> {
    write_all(devices, |d| {
        let mut e = base_entry(d, "response", ev);
        let mut response = json!({ "status_code": status });
        if let Some(b) = body {
            for key in ["data", "auth", "wrap_info"] {
                if !b[key].is_null() {
                    response[key] = hash_strings(&d.config.salt, &b[key]);
                }
            }
        }
        e["response"] = response;
        if let Some(err) = error {
            e["error"] = json!(err);
        }
        e
    })
    .await
}

/// Queue the entry on every device first, then wait for all of them (their threads write
/// in parallel).
async fn write_all(devices: &[Arc<Device>], make: impl Fn(&Device) -> Value) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let mut pending = Vec::with_capacity(devices.len());
    for d in devices {
        match d.log.submit(make(d).to_string()).await {
            Ok(written) => pending.push((d, written)),
            Err(e) => {
                tracing::error!(device = %d.config.path, error = %e, "audit device failed to write");
                d.wrote(Err(e.to_string()));
            }
        }
    }
    let mut ok = 0;
    for (d, written) in pending {
        match written.await {
            Ok(()) => {
                ok += 1;
                d.wrote(Ok(()));
            }
            Err(e) => {
                tracing::error!(device = %d.config.path, error = %e, "audit device failed to write");
                d.wrote(Err(e.to_string()));
            }
        }
    }
    if ok == 0 {
        return Err(Error::Internal(
            "no audit device could log the request".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_every_string_but_keeps_keys_and_numbers() {
        let v = json!({"password": "hunter2", "n": 3, "list": ["a"], "nested": {"k": "v"}});
        let h = hash_strings("salt", &v);
        assert_eq!(h["n"], 3);
        assert!(h["password"].as_str().unwrap().starts_with("hmac-sha256:"));
        assert_ne!(h["password"], h["nested"]["k"]);
        assert_eq!(h["list"][0], json!(hmac_hex("salt", "a")));
        assert!(!h.to_string().contains("hunter2"));
        assert_ne!(hmac_hex("salt", "x"), hmac_hex("other", "x"));
        assert_eq!(hmac_hex("salt", "x").len(), "hmac-sha256:".len() + 64);
    }

    #[tokio::test]
    async fn a_device_appends_lines_and_fails_loudly_when_none_can_write() {
        let dir = std::env::temp_dir().join(format!("opshelf-audit-{}", uuid::Uuid::new_v4()));
        let cfg = DeviceConfig {
            path: "file/".into(),
            kind: "file".into(),
            description: String::new(),
            file_path: dir.join("audit.log").display().to_string(),
            salt: "s".into(),
            local: false,
        };
        let dev = std::sync::Arc::new(Device::open(cfg).unwrap());
        let data = Map::new();
        let ev = Event {
            id: "1",
            operation: "read",
            path: "secret/data/x",
            token: "hvs.tok",
            accessor: "acc",
            display_name: "root",
            policies: &["root".to_owned()],
            issue_time: "",
            data: &data,
            remote: None,
        };
        log_request(&[Arc::clone(&dev)], &ev).await.unwrap();
        log_response(
            &[Arc::clone(&dev)],
            &ev,
            200,
            Some(&json!({"data": {"pw": "hunter2"}})),
            None,
        )
        .await
        .unwrap();
        // Answered means written: readable without closing anything.
        let text = std::fs::read_to_string(dir.join("audit.log")).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("hunter2") && !text.contains("hvs.tok"));
        assert!(text.contains("\"type\":\"response\""));
        assert!(log_request(&[], &ev).await.is_ok());
        // logrotate: rename, then SIGHUP → reopen; the next entry starts a new file.
        std::fs::rename(dir.join("audit.log"), dir.join("audit.log.1")).unwrap();
        reopen_all(&[Arc::clone(&dev)]).await;
        log_request(&[Arc::clone(&dev)], &ev).await.unwrap();
        let text = std::fs::read_to_string(dir.join("audit.log")).unwrap();
        assert_eq!(text.lines().count(), 1);
        // A device that cannot write refuses the request; another that can is enough.
        #[cfg(target_os = "linux")]
        {
            let full = Arc::new(
                Device::open(DeviceConfig {
                    file_path: "/dev/full".into(),
                    ..dev.config.clone()
                })
                .unwrap(),
            );
            assert!(log_request(&[Arc::clone(&full)], &ev).await.is_err());
            log_request(&[Arc::clone(&full), Arc::clone(&dev)], &ev)
                .await
                .unwrap();
            let h = full.health_json();
            assert_eq!(
                (h["healthy"].clone(), h["write_failures"].clone()),
                (json!(false), json!(2))
            );
            assert!(
                h["last_error"].as_str().is_some_and(|e| !e.is_empty()),
                "{h}"
            );
            assert!(h["last_error_time"].is_string());
        }
        let h = dev.health_json();
        assert_eq!(h["healthy"], true);
        assert_eq!(h["write_failures"], 0);
        assert!(h["entries_written"].as_u64().unwrap() >= 3, "{h}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
