//! End-to-end tests of the secrets capability (owned by the secrets engineer): the real
//! binary, real HTTP, Vault's wire format; nothing secret in the raw storage.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Options, Server};

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(srv: &Server) -> Self {
        Self {
            base: srv.url("secrets"),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

const MARKER: &str = "e2e-plaintext-marker-7f3a91";

fn dev_options(dir: Option<tempfile::TempDir>) -> Options {
    Options {
        env: vec![("VAULT_DEV_ROOT_TOKEN_ID".to_owned(), "e2e-root".to_owned())],
        args: vec!["--dev".to_owned()],
        dir,
    }
}

#[tokio::test]
async fn secrets_dev_mode_serves_kv_v2_and_sealing_blocks_everything() {
    let srv = Server::start_with("[secrets]\nenabled = true\n", dev_options(None)).await;
    let api = Api::new(&srv);
    let root = Some("e2e-root");
    let (s, h) = api.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!(
        (s, h["sealed"].clone(), h["initialized"].clone()),
        (200, json!(false), json!(true))
    );
    let (s, put) = api
        .send(
            "POST",
            "/v1/secret/data/app",
            root,
            Some(json!({"data": {"k": "v"}})),
        )
        .await;
    assert_eq!((s, put["data"]["version"].clone()), (200, json!(1)));
    let (s, got) = api.send("GET", "/v1/secret/data/app", root, None).await;
    assert_eq!((s, got["data"]["data"]["k"].clone()), (200, json!("v")));
    let (s, _) = api.send("GET", "/v1/secret/data/app", None, None).await;
    assert_eq!(s, 403);
    let (s, _) = api.send("PUT", "/v1/sys/seal", root, None).await;
    assert_eq!(s, 204);
    for path in [
        "/v1/secret/data/app",
        "/v1/auth/token/lookup-self",
        "/v1/sys/mounts",
        "/v1/nope",
    ] {
        let (s, body) = api.send("GET", path, root, None).await;
        assert_eq!(
            (s, body),
            (503, json!({"errors": ["Vault is sealed"]})),
            "{path}"
        );
    }
    let (s, h) = api.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!((s, h["sealed"].clone()), (503, json!(true)));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// As root (dev mode): write a secret holding [`MARKER`] and create a token; returns the token.
async fn write_marker_and_mint_token(api: &Api) -> String {
    let root = Some("e2e-root");
    let (s, _) = api
        .send(
            "POST",
            "/v1/secret/data/db",
            root,
            Some(json!({"data": {"password": MARKER}})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, tok) = api
        .send(
            "POST",
            "/v1/auth/token/create",
            root,
            Some(json!({"ttl": "1h"})),
        )
        .await;
    tok["auth"]["client_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn secrets_nothing_secret_in_the_raw_sqlite_file() {
    let srv = Server::start_with("[secrets]\nenabled = true\n", dev_options(None)).await;
    let api = Api::new(&srv);
    let token = write_marker_and_mint_token(&api).await;
    let (s, _) = api
        .send("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .await;
    assert_eq!(s, 200);
    let data_dir = srv.data_dir();
    let (status, _dir) = srv.stop();
    assert!(status.success());
    let mut scanned = 0;
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("opshelf.sqlite3")
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        scanned += bytes.len();
        assert!(
            !contains(&bytes, MARKER),
            "secret in clear in {}",
            path.display()
        );
        assert!(
            !contains(&bytes, &token),
            "token in clear in {}",
            path.display()
        );
        assert!(
            !contains(&bytes, "e2e-root"),
            "root token in clear in {}",
            path.display()
        );
    }
    assert!(scanned > 4096, "the SQLite file was not found or empty");
}

#[tokio::test]
async fn secrets_nothing_secret_in_postgres_rows() {
    let psql = |db: &str, sql: &str| {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-d", db, "-Atc", sql])
            .output()
    };
    let probe = psql("test", "select 1");
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: no PostgreSQL on 127.0.0.1:5432 (psql -d test failed)");
        return;
    }
    let db = format!("opshelf_secrets_e2e_{}", std::process::id());
    let created = psql("test", &format!("CREATE DATABASE {db}")).unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let user = String::from_utf8(psql("test", "select current_user").unwrap().stdout).unwrap();
    let config = format!(
        "[storage]\nurl = \"postgres://{}@127.0.0.1:5432/{db}\"\n[secrets]\nenabled = true\n",
        user.trim()
    );
    let srv = Server::start_with(&config, dev_options(None)).await;
    let api = Api::new(&srv);
    let token = write_marker_and_mint_token(&api).await;
    let dump = psql(
        &db,
        "select key || ' ' || encode(value, 'escape') from opshelf_kv",
    )
    .unwrap();
    let _ = srv.stop();
    let _ = psql("test", &format!("DROP DATABASE {db}"));
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let rows = dump.stdout;
    assert!(
        contains(&rows, "core/keyring"),
        "the secrets rows were not found"
    );
    assert!(!contains(&rows, MARKER));
    assert!(!contains(&rows, &token));
    assert!(!contains(&rows, "e2e-root"));
}

#[tokio::test]
async fn secrets_shamir_init_unseal_and_restart() {
    let srv = Server::start("[secrets]\nenabled = true\n").await;
    let api = Api::new(&srv);
    let (s, init) = api
        .send(
            "PUT",
            "/v1/sys/init",
            None,
            Some(json!({"secret_shares": 3, "secret_threshold": 2})),
        )
        .await;
    assert_eq!(s, 200);
    let keys: Vec<String> = init["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let root = init["root_token"].as_str().unwrap().to_owned();
    for k in &keys[..2] {
        api.send("PUT", "/v1/sys/unseal", None, Some(json!({"key": k})))
            .await;
    }
    let (s, _) = api
        .send(
            "POST",
            "/v1/sys/mounts/kv",
            Some(&root),
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await;
    assert_eq!(s, 204);
    api.send(
        "POST",
        "/v1/kv/data/x",
        Some(&root),
        Some(json!({"data": {"v": MARKER}})),
    )
    .await;

    // kill -9 and restart: sealed again; one share is not enough, a wrong one neither
    let dir = srv.kill9();
    let srv = Server::start_with(
        "[secrets]\nenabled = true\n",
        Options {
            dir: Some(dir),
            ..Options::default()
        },
    )
    .await;
    let api = Api::new(&srv);
    let (_, st) = api.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(
        (st["sealed"].clone(), st["initialized"].clone()),
        (json!(true), json!(true))
    );
    api.send("PUT", "/v1/sys/unseal", None, Some(json!({"key": keys[2]})))
        .await;
    let mut wrong = hex_decode(&keys[0]);
    wrong[0] ^= 1;
    let (s, _) = api
        .send(
            "PUT",
            "/v1/sys/unseal",
            None,
            Some(json!({"key": hex_encode(&wrong)})),
        )
        .await;
    assert_eq!(s, 400);
    let (_, st) = api.send("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(st["sealed"], true);
    let (s, _) = api.send("GET", "/v1/kv/data/x", Some(&root), None).await;
    assert_eq!(s, 503);
    api.send("PUT", "/v1/sys/unseal", None, Some(json!({"key": keys[2]})))
        .await;
    let (_, st) = api
        .send("PUT", "/v1/sys/unseal", None, Some(json!({"key": keys[1]})))
        .await;
    assert_eq!(st["sealed"], false);
    let (s, got) = api.send("GET", "/v1/kv/data/x", Some(&root), None).await;
    assert_eq!((s, got["data"]["data"]["v"].clone()), (200, json!(MARKER)));
}

#[tokio::test]
async fn secrets_auto_unseal_key_file_survives_restart() {
    let cfg = "[secrets]\nenabled = true\nunseal_key_file = \"unseal.key\"\n";
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("unseal.key");
    let cfg = cfg.replace("unseal.key", &key_path.display().to_string());
    let srv = Server::start_with(
        &cfg,
        Options {
            dir: Some(dir),
            ..Options::default()
        },
    )
    .await;
    let api = Api::new(&srv);
    let (_, init) = api
        .send(
            "PUT",
            "/v1/sys/init",
            None,
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
    let root = init["root_token"].as_str().unwrap().to_owned();
    assert!(key_path.exists());
    let dir = srv.kill9();
    let srv = Server::start_with(
        &cfg,
        Options {
            dir: Some(dir),
            ..Options::default()
        },
    )
    .await;
    let api = Api::new(&srv);
    let (s, h) = api.send("GET", "/v1/sys/health", None, None).await;
    assert_eq!((s, h["sealed"].clone()), (200, json!(false)));
    let (s, _) = api
        .send("GET", "/v1/auth/token/lookup-self", Some(&root), None)
        .await;
    assert_eq!(s, 200);
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn secrets_audit_file_from_config_logs_hmaced_entries() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let cfg = format!(
        "[secrets]\nenabled = true\naudit_file = \"{}\"\n",
        log.display()
    );
    let srv = Server::start_with(&cfg, dev_options(Some(dir))).await;
    let api = Api::new(&srv);
    let (s, _) = api
        .send(
            "POST",
            "/v1/secret/data/audited",
            Some("e2e-root"),
            Some(json!({"data": {"pw": MARKER}})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .send("GET", "/v1/secret/data/audited", Some("e2e-root"), None)
        .await;
    assert_eq!(s, 200);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 4, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "response" && l["request"]["path"] == "secret/data/audited")
    );
    assert!(!text.contains(MARKER) && !text.contains("e2e-root"));
    assert!(text.contains("hmac-sha256:"));
}

/// `tls_cert_file` / `tls_key_file`: the Vault API over HTTPS (as hvac's harness and
/// `VAULT_ADDR=https://...` use it); plain HTTP on that port gets no answer.
#[tokio::test]
async fn secrets_serves_over_tls_with_the_configured_certificate() {
    let tls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tls");
    let config = format!(
        "[secrets]\nenabled = true\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        tls.join("cert.pem").display(),
        tls.join("key.pem").display()
    );
    let srv = Server::start_with(&config, dev_options(None)).await;
    let base = srv.url("secrets").replacen("http://", "https://", 1);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls.join("cert.pem")).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let res = https
        .post(format!("{base}/v1/secret/data/tls"))
        .header("X-Vault-Token", "e2e-root")
        .json(&json!({"data": {"k": "v"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let read: Value = https
        .get(format!("{base}/v1/secret/data/tls"))
        .header("X-Vault-Token", "e2e-root")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"]["data"]["k"], "v");
    // Plain HTTP to the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(format!("{}/v1/sys/health", srv.url("secrets")))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
}

/// Half a TLS pair is a config error naming the missing key; an unreadable certificate
/// stops `serve` before anything starts, naming the setting and the file.
#[test]
fn secrets_tls_config_errors_name_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("half.toml"),
        "[secrets]\ntls_cert_file = \"/nonexistent/cert.pem\"\n",
    )
    .unwrap();
    let out = Command::new(crate::support::bin())
        .args(["--config", "half.toml", "config", "check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("half.toml") && err.contains("secrets.tls_key_file"),
        "{err}"
    );

    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "data_dir = \"data\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[secrets]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = \"junk.pem\"\ntls_key_file = \"junk.pem\"\n",
    )
    .unwrap();
    let out = Command::new(crate::support::bin())
        .args(["--config", "bad.toml", "serve"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml")
            && err.contains("secrets.tls_cert_file")
            && err.contains("junk.pem"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists(), "nothing may start");
}
