//! End-to-end tests of the flags capability (owned by the flags engineer): the real binary,
//! real HTTP, Unleash's wire format.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Options, Server};

const ADMIN: &str = "*:*.e2e-admin-secret";
const DEV: &str = "*:development.e2e-backend-secret";
const PROD: &str = "*:production.e2e-backend-secret";
const FRONT: &str = "*:development.e2e-frontend-secret";

fn config() -> String {
    format!(
        "[flags]\nenabled = true\ninit_admin_api_tokens = [\"{ADMIN}\"]\ninit_frontend_api_tokens = [\"{FRONT}\"]\n"
    )
}

/// Start with some tokens from the config file and some from unleash-server's env vars.
async fn start(dir: Option<tempfile::TempDir>) -> Server {
    let env = vec![
        ("INIT_CLIENT_API_TOKENS".to_owned(), DEV.to_owned()),
        ("INIT_BACKEND_API_TOKENS".to_owned(), PROD.to_owned()),
    ];
    Server::start_with(
        &config(),
        Options {
            env,
            dir,
            ..Options::default()
        },
    )
    .await
}

fn shared(rel: &str) -> PathBuf {
    opshelf_core::testing::shared(&format!("unleash-spec/{rel}"))
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(srv: &Server) -> Self {
        Self {
            base: srv.url("flags"),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn raw_post(&self, path: &str, token: &str, body: Vec<u8>) -> u16 {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        res.status().as_u16()
    }
}

impl Api {
    /// Announce a body of `len` bytes and send the first megabyte: the server must answer 413
    /// from the headers alone (a client library may see the connection closed mid-body).
    async fn oversized_post(&self, path: &str, token: &str, len: usize) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let _ = s.write_all(&vec![b' '; 1024 * 1024]).await;
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        let line = String::from_utf8_lossy(&buf[..n]);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
}

const FEATURE: &str = "/api/admin/projects/default/features/checkout";

#[tokio::test]
async fn flags_client_frontend_and_admin_apis_work_end_to_end() {
    let srv = start(None).await;
    let api = Api::new(&srv);
    assert_eq!(
        api.get("/health", "").await,
        (200, json!({"health": "GOOD"}))
    );

    // Admin: create a flag, a segment, a strategy with a constraint and the segment, turn it on.
    let (s, _) = api
        .post(
            "/api/admin/projects/default/features",
            ADMIN,
            json!({"name": "checkout", "type": "release"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, seg) = api
        .post("/api/admin/segments", ADMIN, json!({"name": "beta", "constraints": [{"contextName": "userId", "operator": "IN", "values": ["42", "7"]}]}))
        .await;
    assert_eq!(s, 201, "{seg}");
    let strategy = json!({"name": "flexibleRollout", "parameters": {"rollout": 100, "stickiness": "default", "groupId": "checkout"},
        "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}], "segments": [seg["id"]],
        "variants": [{"name": "blue", "weight": 1000, "stickiness": "default", "payload": {"type": "string", "value": "b"}}]});
    let (s, st) = api
        .post(
            &format!("{FEATURE}/environments/development/strategies"),
            ADMIN,
            strategy,
        )
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(
        api.post(
            &format!("{FEATURE}/environments/development/on"),
            ADMIN,
            json!({})
        )
        .await
        .0,
        200
    );

    // Client API: v2 body with top-level segments for a 5.x SDK, inlined for an old one.
    let url = format!("{}/api/client/features", api.base);
    let res = api
        .http
        .get(&url)
        .header("authorization", DEV)
        .header("unleash-client-spec", "5.2.0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["version"], 2);
    assert_eq!(body["features"][0]["name"], "checkout");
    assert_eq!(body["features"][0]["enabled"], true);
    assert_eq!(body["segments"][0]["id"], seg["id"]);
    assert_eq!(body["meta"]["etag"], etag.as_str());
    let old: Value = api
        .http
        .get(&url)
        .header("authorization", DEV)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(old.get("segments").is_none(), "{old}");
    assert_eq!(
        old["features"][0]["strategies"][0]["constraints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // ETag / 304.
    let res = api
        .http
        .get(&url)
        .header("authorization", DEV)
        .header("unleash-client-spec", "5.2.0")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    // Filters.
    let (_, b) = api.get("/api/client/features?namePrefix=nope", DEV).await;
    assert_eq!(b["features"].as_array().unwrap().len(), 0);
    let (_, b) = api.get("/api/client/features/checkout", DEV).await;
    assert_eq!(b["name"], "checkout");
    assert_eq!(api.get("/api/client/features/missing", DEV).await.0, 404);
    // Another environment's token does not see development's state.
    let (_, b) = api.get("/api/client/features", PROD).await;
    assert_eq!(b["features"][0]["enabled"], false);

    // Frontend API: query-string context exactly as unleash-proxy-client sends it.
    let q = "/api/frontend?sessionId=209250914&appName=probe&environment=default&userId=42&properties%5Bplan%5D=pro";
    let (s, b) = api.get(q, FRONT).await;
    assert_eq!(s, 200, "{b}");
    let t = &b["toggles"][0];
    assert_eq!(t["name"], "checkout");
    assert_eq!(t["variant"]["name"], "blue");
    assert_eq!(t["variant"]["payload"]["value"], "b");
    assert_eq!(t["variant"]["feature_enabled"], true);
    assert_eq!(t["variant"]["featureEnabled"], true);
    let (_, b) = api
        .get("/api/frontend?userId=42&properties%5Bplan%5D=free", FRONT)
        .await;
    assert_eq!(
        b["toggles"].as_array().unwrap().len(),
        0,
        "only enabled flags"
    );
    let (_, b) = api
        .post(
            "/api/frontend/all",
            FRONT,
            json!({"context": {"userId": "1", "properties": {"plan": "pro"}}}),
        )
        .await;
    assert_eq!(b["toggles"][0]["enabled"], false);
    let (_, b) = api
        .post(
            "/api/proxy",
            FRONT,
            json!({"context": {"userId": "7", "properties": {"plan": "pro"}}}),
        )
        .await;
    assert_eq!(b["toggles"][0]["enabled"], true);
    assert_eq!(
        api.get(
            "/api/frontend/features/checkout?userId=42&properties[plan]=pro",
            FRONT
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.get("/api/frontend/features/checkout?userId=1", FRONT)
            .await
            .0,
        404
    );
    // Frontend 304 on an unchanged answer.
    let res = api
        .http
        .get(format!("{}{q}", api.base))
        .header("authorization", FRONT)
        .send()
        .await
        .unwrap();
    let fe_tag = res.headers()["etag"].to_str().unwrap().to_owned();
    let res = api
        .http
        .get(format!("{}{q}", api.base))
        .header("authorization", FRONT)
        .header("if-none-match", fe_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    // CORS preflight from a browser.
    let res = api
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/frontend", api.base),
        )
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(res.headers()["access-control-allow-origin"], "*");

    // Tokens: unknown 401, wrong type 403.
    assert_eq!(
        api.get("/api/client/features", "*:development.nope")
            .await
            .0,
        401
    );
    assert_eq!(api.get("/api/client/features", "").await.0, 401);
    assert_eq!(api.get("/api/client/features", FRONT).await.0, 403);
    assert_eq!(api.get("/api/frontend", DEV).await.0, 403);
    assert_eq!(api.get("/api/admin/projects", DEV).await.0, 403);
    assert_eq!(
        api.get("/api/client/features", &format!("Bearer {DEV}"))
            .await
            .0,
        200
    );

    // Register / metrics: 202, counts stored per flag and app, unknown fields tolerated.
    let reg = json!({"appName": "probe", "instanceId": "i1", "sdkVersion": "unleash-node-sdk:6.12.1", "strategies": ["default"], "started": "2026-11-28T08:34:46.842Z", "interval": 1500, "whatever": {"x": 1}});
    assert_eq!(api.post("/api/client/register", DEV, reg).await.0, 202);
    let m = json!({"appName": "probe", "instanceId": "i1", "bucket": {"start": "2026-11-28T08:34:46.842Z", "stop": "2026-11-28T08:34:48.383Z",
        "toggles": {"checkout": {"yes": 3, "no": 1, "variants": {"blue": 3}}}}, "platformName": "node", "yggdrasilVersion": null});
    assert_eq!(api.post("/api/client/metrics", DEV, m.clone()).await.0, 202);
    assert_eq!(
        api.post("/api/frontend/client/metrics", FRONT, m).await.0,
        200
    );
    let (_, u) = api
        .get("/api/admin/client-metrics/features/checkout", ADMIN)
        .await;
    assert_eq!(u["data"][0]["appName"], "probe");
    assert_eq!(u["data"][0]["yes"], 6);
    let (_, apps) = api.get("/api/admin/metrics/applications", ADMIN).await;
    assert_eq!(apps["applications"][0]["appName"], "probe");

    // Bad input: clear 4xx, nothing changed.
    let (_, before) = api.get("/api/client/features", DEV).await;
    assert_eq!(
        api.raw_post("/api/client/metrics", DEV, b"{not json".to_vec())
            .await,
        400
    );
    assert_eq!(
        api.raw_post("/api/frontend", FRONT, b"{\"context\": [".to_vec())
            .await,
        400
    );
    assert_eq!(
        api.raw_post(
            &format!("{FEATURE}/environments/development/strategies"),
            ADMIN,
            b"{\"name\":".to_vec()
        )
        .await,
        400
    );
    let bad_op = json!({"name": "default", "constraints": [{"contextName": "userId", "operator": "LOOKS_LIKE", "values": ["1"]}]});
    assert_eq!(
        api.post(
            &format!("{FEATURE}/environments/development/strategies"),
            ADMIN,
            bad_op
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.oversized_post("/api/admin/opshelf/import", ADMIN, 10 * 1024 * 1024)
            .await,
        413
    );
    assert_eq!(
        api.post(
            &format!("{FEATURE}/environments/nowhere/on"),
            ADMIN,
            json!({})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.post(
            "/api/admin/projects/default/features",
            ADMIN,
            json!({"name": "checkout"})
        )
        .await
        .0,
        409
    );
    let (_, after) = api.get("/api/client/features", DEV).await;
    assert_eq!(before, after);

    // A toggle changes the revision and the ETag.
    assert_eq!(
        api.post(
            &format!("{FEATURE}/environments/development/off"),
            ADMIN,
            json!({})
        )
        .await
        .0,
        200
    );
    let res = api
        .http
        .get(&url)
        .header("authorization", DEV)
        .header("unleash-client-spec", "5.2.0")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);

    // Event log: who changed what.
    let (_, ev) = api.get("/api/admin/events?feature=checkout", ADMIN).await;
    let types: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "feature-environment-disabled");
    assert!(
        types.contains(&"feature-created") && types.contains(&"feature-strategy-add"),
        "{types:?}"
    );
    assert_eq!(ev["events"][0]["createdBy"], "init-admin");

    // Evaluations show up on /metrics.
    let metrics = reqwest::get(format!("{}/metrics", srv.url("admin")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "opshelf_flags_evaluations_total{flag=\"checkout\",result=\"true\",source=\"frontend\"}"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn flags_state_survives_a_kill_and_tokens_are_stored_hashed() {
    let srv = start(None).await;
    let api = Api::new(&srv);
    let (s, tok) = api
        .post("/api/admin/api-tokens", ADMIN, json!({"tokenName": "web", "type": "frontend", "environment": "production", "projects": ["*"]}))
        .await;
    assert_eq!(s, 201, "{tok}");
    let secret = tok["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("*:production."));
    api.post(
        "/api/admin/projects/default/features",
        ADMIN,
        json!({"name": "persist"}),
    )
    .await;
    api.post(
        "/api/admin/projects/default/features/persist/environments/production/on",
        ADMIN,
        json!({}),
    )
    .await;
    let (_, before) = api.get("/api/client/features", PROD).await;
    let (_, listed) = api.get("/api/admin/api-tokens", ADMIN).await;
    assert!(
        !listed.to_string().contains(&secret[14..]),
        "secrets are not listed"
    );
    let dir = srv.kill9();
    let db = std::fs::read(dir.path().join("data/opshelf.sqlite3")).unwrap();
    let needle = &secret.as_bytes()[14..];
    assert!(
        !db.windows(needle.len()).any(|w| w == needle),
        "the secret must not be stored"
    );

    let srv = start(Some(dir)).await;
    let api = Api::new(&srv);
    let (_, after) = api.get("/api/client/features", PROD).await;
    assert_eq!(before, after);
    let (s, b) = api.get("/api/frontend", &secret).await;
    assert_eq!(s, 200);
    assert_eq!(b["toggles"][0]["name"], "persist");
}

#[tokio::test]
async fn flags_every_client_specification_case_passes_over_http() {
    let srv = start(None).await;
    let api = Api::new(&srv);
    let index: Vec<String> =
        serde_json::from_slice(&std::fs::read(shared("specifications/index.json")).unwrap())
            .unwrap();
    let (mut passed, mut failed) = (0, Vec::new());
    for file in &index {
        let spec: Value = serde_json::from_slice(
            &std::fs::read(shared(&format!("specifications/{file}"))).unwrap(),
        )
        .unwrap();
        let env = format!("spec{}", &file[..2]);
        let (s, r) = api
            .post(
                &format!("/api/admin/opshelf/import?project=default&environment={env}"),
                ADMIN,
                spec["state"].clone(),
            )
            .await;
        assert_eq!(s, 200, "{file}: {r}");
        let (s, tok) = api
            .post(
                "/api/admin/api-tokens",
                ADMIN,
                json!({"tokenName": env, "type": "frontend", "environment": env}),
            )
            .await;
        assert_eq!(s, 201);
        let token = tok["secret"].as_str().unwrap().to_owned();
        for t in spec["tests"].as_array().into_iter().flatten() {
            let (_, b) = api
                .post(
                    "/api/frontend/all",
                    &token,
                    json!({"context": t["context"]}),
                )
                .await;
            let got = b["toggles"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == t["toggleName"])
                .is_some_and(|x| x["enabled"] == true);
            if json!(got) == t["expectedResult"] {
                passed += 1;
            } else {
                failed.push(format!("{file}: {}", t["description"]));
            }
        }
        for t in spec["variantTests"].as_array().into_iter().flatten() {
            let (_, b) = api
                .post(
                    "/api/frontend/all",
                    &token,
                    json!({"context": t["context"]}),
                )
                .await;
            let v = b["toggles"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == t["toggleName"])
                .map(|x| x["variant"].clone());
            let v = v
                .unwrap_or(json!({"name": "disabled", "enabled": false, "feature_enabled": false}));
            let want = &t["expectedResult"];
            let same = v["name"] == want["name"]
                && v["enabled"] == want["enabled"]
                && want.get("payload").is_none_or(|p| v["payload"] == *p)
                && want
                    .get("feature_enabled")
                    .is_none_or(|f| v["feature_enabled"] == *f);
            if same {
                passed += 1;
            } else {
                failed.push(format!("{file}: {} (got {v})", t["description"]));
            }
        }
    }
    // The frontend API enriches an empty context as unleash-server does (a random sessionId,
    // the caller's address as remoteAddress); these cases assert their absence.
    let enriched = [
        "04-gradual-rollout-session-id-strategy.json: \"Feature.A4 should be disabled when no user on context\"",
        "06-remote-address-strategy.json: \"Feature.remoteAddress.A should not be enabled for missing remoteAddress on context\"",
    ];
    let unexpected: Vec<&String> = failed
        .iter()
        .filter(|f| !enriched.iter().any(|e| f.starts_with(e)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{passed} passed; unexpected failures: {unexpected:#?}"
    );
    assert_eq!(
        passed + failed.len(),
        167,
        "the v6.1.0 specification has 167 cases"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn flags_cli_import_then_export_round_trips_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        crate::support::complete_config("[flags]\nenabled = true\n", dir.path(), "127.0.0.1:0");
    let cfg_path = dir.path().join("opshelf.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let sample = shared("samples/client-features-v2.sample.json");
    let out = std::process::Command::new(crate::support::bin())
        .arg("--config")
        .arg(&cfg_path)
        .args(["flags", "import"])
        .arg(&sample)
        .args(["--project", "default", "--environment", "staging"])
        .env_remove("OPSHELF_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 flags and 1 segments"));
    let out = std::process::Command::new(crate::support::bin())
        .arg("--config")
        .arg(&cfg_path)
        .args(["flags", "export", "--environment", "staging"])
        .env_remove("OPSHELF_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: Value = serde_json::from_slice(&out.stdout).unwrap();
    let original: Value = serde_json::from_slice(&std::fs::read(&sample).unwrap()).unwrap();
    let names = |v: &Value| {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let mut want = names(&original);
    want.sort();
    assert_eq!(names(&exported), want);
    assert_eq!(
        exported["segments"][0]["constraints"],
        original["segments"][0]["constraints"]
    );
    // A bad file is refused with a clear error and a failure exit.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{\"features\": 1}").unwrap();
    let out = std::process::Command::new(crate::support::bin())
        .arg("--config")
        .arg(&cfg_path)
        .args(["flags", "import"])
        .arg(&bad)
        .env_remove("OPSHELF_DATA_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn flags_usage_posted_just_before_sigterm_is_stored_by_the_final_flush() {
    // The periodic flush is an hour away: only the flush at shutdown can store this.
    let srv = Server::start_with(
        &format!("{}metrics_flush_secs = 3600\n", config()),
        Options {
            env: vec![("INIT_CLIENT_API_TOKENS".to_owned(), DEV.to_owned())],
            ..Options::default()
        },
    )
    .await;
    let api = Api::new(&srv);
    let m = json!({"appName": "last-words", "instanceId": "i1",
        "bucket": {"start": "2026-11-28T08:34:46.842Z", "stop": "2026-11-28T08:34:48.383Z",
        "toggles": {"checkout": {"yes": 7, "no": 2, "variants": {}}}}});
    assert_eq!(api.post("/api/client/metrics", DEV, m).await.0, 202);
    let (status, dir) = srv.stop();
    assert!(status.success(), "{status}");
    let srv = start(Some(dir)).await;
    let api = Api::new(&srv);
    let (_, u) = api
        .get("/api/admin/client-metrics/features/checkout", ADMIN)
        .await;
    assert_eq!(u["data"][0]["appName"], "last-words", "{u}");
    assert_eq!(u["data"][0]["yes"], 7);
    assert_eq!(u["data"][0]["no"], 2);
}
