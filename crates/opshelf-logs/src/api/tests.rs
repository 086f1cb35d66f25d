//! Router tests (no socket): the real clients' captured bodies in, Loki's shapes and messages
//! out, through a real event store in a temp dir.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{App, router};
use crate::config::Config;
use crate::deletes::Deletes;
use crate::store::LogStore;

struct T {
    _dir: tempfile::TempDir,
    app: Arc<App>,
}

/// The captures are dated `T0` (2026-01-01): the time window is off so they can be replayed;
/// `entries_outside_the_time_window_are_dropped_and_the_rest_is_stored` checks it on.
fn captures_config() -> Config {
    let mut cfg = Config::default();
    cfg.limits.reject_old_samples = false;
    cfg
}

async fn setup() -> T {
    setup_with(captures_config()).await
}

async fn setup_with(cfg: Config) -> T {
    let dir = tempfile::tempdir().unwrap();
    let es = opshelf_eventstore::EventStore::open(dir.path(), cfg.store_config()).unwrap();
    let store = Arc::new(LogStore::new(
        es,
        cfg.limits.clone(),
        cfg.default_tenant.clone(),
        Deletes::load(None).await.unwrap(),
    ));
    T {
        _dir: dir,
        app: App::new(store, cfg.max_push_bytes),
    }
}

impl T {
    async fn call(&self, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let r = router(self.app.clone()).oneshot(req).await.unwrap();
        let status = r.status();
        (
            status,
            r.into_body().collect().await.unwrap().to_bytes().to_vec(),
        )
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (s, b) = self
            .call(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        let v = serde_json::from_slice(&b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into_owned()));
        (s, v)
    }

    async fn push(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, String) {
        let mut b = Request::post(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (s, body) = self.call(b.body(Body::from(body)).unwrap()).await;
        (s, String::from_utf8_lossy(&body).into_owned())
    }

    /// `POST /loki/api/v1/delete` of `selector` over `T0 ± 10 s`.
    async fn request_delete(&self, selector: &str) -> (StatusCode, String) {
        let uri = format!(
            "/loki/api/v1/delete?query={}&start={}&end={}",
            enc(selector),
            T0 - 10,
            T0 + 10
        );
        self.push(&uri, &[], Vec::new()).await
    }
}

/// Every request of a wire capture: (path, headers, body).
/// (path, headers, body)
type Captured = (String, Vec<(String, String)>, Vec<u8>);

fn capture(name: &str) -> Vec<Captured> {
    let path = opshelf_core::testing::shared(&format!("obs/wire/{name}.jsonl"));
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let headers = v["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_owned(),
                        h[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (
                v["path"].as_str().unwrap().to_owned(),
                headers,
                b64(v["body_b64"].as_str().unwrap()),
            )
        })
        .collect()
}

fn b64(s: &str) -> Vec<u8> {
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = table.iter().position(|&t| t == c).unwrap() as u32;
        buf = buf << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

async fn replay(t: &T, name: &str) {
    for (path, headers, body) in capture(name) {
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case("content-type") || k.eq_ignore_ascii_case("content-encoding")
            })
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (s, b) = t.push(&path, &hs, body).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{name} {path}: {b}");
    }
}

/// 2026-01-01T00:00:00Z, the captures' T0.
const T0: i64 = 1_767_225_600;

fn range_uri(q: &str, extra: &str) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}{extra}",
        enc(q),
        T0 - 10,
        T0 + 10
    )
}

fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn lines(v: &Value) -> Vec<(Value, String)> {
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            out.push((s["stream"].clone(), e[1].as_str().unwrap().to_owned()));
        }
    }
    out
}

#[tokio::test]
async fn winston_protobuf_snappy_without_content_encoding_reads_back_in_order() {
    let t = setup().await;
    replay(&t, "js-winston-loki-protobuf-snappy").await;
    let (s, v) = t
        .get(&range_uri(r#"{app="shop"}"#, "&direction=forward"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "streams");
    let got = lines(&v);
    assert_eq!(got.len(), 5, "{v}");
    let mut ts: Vec<i64> = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        assert_eq!(s["stream"]["app"], "shop");
        assert_eq!(s["stream"]["env"], "test");
        for e in s["values"].as_array().unwrap() {
            ts.push(e[0].as_str().unwrap().parse().unwrap());
        }
    }
    assert!(got.iter().any(|(_, l)| l.starts_with("user login ok")));
    assert!(
        v["data"]["stats"]["summary"]["totalLinesProcessed"]
            .as_u64()
            .unwrap()
            >= 5
    );
    // backward (the default) is newest first within a stream
    let (_, v) = t.get(&range_uri(r#"{app="shop", level="info"}"#, "")).await;
    let vals = v["data"]["result"][0]["values"].as_array().unwrap();
    let a: i64 = vals[0][0].as_str().unwrap().parse().unwrap();
    let b: i64 = vals[vals.len() - 1][0].as_str().unwrap().parse().unwrap();
    assert!(a > b, "{v}");
}

#[tokio::test]
async fn python_v1_legacy_and_winston_json_pushes_are_accepted() {
    let t = setup().await;
    replay(&t, "py-logging-loki-v1").await;
    replay(&t, "py-logging-loki-v0-legacy").await;
    replay(&t, "js-winston-loki-json-nosnappy").await;
    let (_, v) = t
        .get(&range_uri(r#"{app="shop", severity="warning"}"#, ""))
        .await;
    // v1 and legacy pushed the same five lines: the warning line twice (once each)
    assert_eq!(lines(&v).len(), 2, "{v}");
    // winston JSON sends structured metadata: with categorize-labels it is the 3rd element
    let req = Request::get(range_uri(r#"{app="shop", level="warn"}"#, ""))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .body(Body::empty())
        .unwrap();
    let (s, b) = t.call(req).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["data"]["encodingFlags"][0], "categorize-labels");
    let e = &v["data"]["result"][0]["values"][0];
    assert!(e[2]["structuredMetadata"].is_object(), "{v}");
}

#[tokio::test]
async fn gzip_json_push_and_tenants_are_separate() {
    use std::io::Write;
    let t = setup().await;
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"z"}},"values":[["{}","zipped"]]}}]}}"#,
        T0 * 1_000_000_000
    );
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let (s, b) = t
        .push(
            "/loki/api/v1/push",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
                ("x-scope-orgid", "a"),
            ],
            gz,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (_, v) = t.get(&range_uri(r#"{app="z"}"#, "")).await;
    assert_eq!(
        lines(&v).len(),
        0,
        "the default tenant sees nothing of tenant a"
    );
    let req = Request::get(range_uri(r#"{app="z"}"#, ""))
        .header("X-Scope-OrgID", "a")
        .body(Body::empty())
        .unwrap();
    let (_, b) = t.call(req).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(lines(&v)[0].1, "zipped");
}

#[tokio::test]
async fn bad_input_gets_lokis_status_and_message_and_writes_nothing() {
    let t = setup().await;
    let ns = T0 * 1_000_000_000;
    let json = |labels: &str, line: &str| {
        format!(
            r#"{{"streams":[{{"stream":{labels},"values":[["{ns}","ok"],["{}","{line}"]]}}]}}"#,
            ns + 1
        )
        .into_bytes()
    };
    let ct = [("content-type", "application/json")];
    let long = "x".repeat(256 * 1024 + 1);
    let (s, b) = t
        .push("/loki/api/v1/push", &ct, json(r#"{"app":"bad"}"#, &long))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        b,
        "Max entry size '262144' bytes exceeded for stream '{app=\"bad\"}' while adding an entry with length '262145' bytes\n"
    );
    let many: Vec<String> = (0..16).map(|i| format!(r#""l{i:02}":"v""#)).collect();
    let (s, b) = t
        .push(
            "/loki/api/v1/push",
            &ct,
            json(&format!("{{{}}}", many.join(",")), "x"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.ends_with("has 16 label names; limit 15\n"), "{b}");
    let (s, b) = t
        .push(
            "/loki/api/v1/push",
            &[("content-type", "application/x-protobuf")],
            b"\xff\xff\xff\xff\xff\x00garbage".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.starts_with("snappy"), "{b}");
    let bad_proto = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\x01")
        .unwrap();
    let (s, b) = t.push("/loki/api/v1/push", &[], bad_proto).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b.starts_with("failed to parse the protobuf push request"),
        "{b}"
    );
    // the first entry of each refused request was valid: none of it is stored
    let (_, v) = t.get(&range_uri(r#"{app="bad"}"#, "")).await;
    assert_eq!(lines(&v).len(), 0, "{v}");
    let (_, v) = t
        .get(&format!(
            "/loki/api/v1/labels?start={}&end={}",
            T0 - 10,
            T0 + 10
        ))
        .await;
    assert_eq!(v["data"], serde_json::json!([]));
    // queries
    let (s, v) = t
        .get(&format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}",
            enc(r#"{app="x"}"#),
            T0 - 31 * 86400,
            T0
        ))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        "the query time range exceeds the limit (query length: 744h0m0s, limit: 30d1h)\n"
    );
    let (s, v) = t.get(&range_uri(r#"{app="x""#, "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v.as_str()
            .unwrap()
            .starts_with("parse error at line 1, col "),
        "{v}"
    );
    let (s, v) = t.get(&range_uri(r#"{app="x"}"#, "&limit=5001")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)\n"
    );
}

/// Loki's `reject_old_samples` (1w) and `creation_grace_period` (10m): the entries outside
/// are dropped, the others stored, and the push answers 400 with the last one's message.
#[tokio::test]
async fn entries_outside_the_time_window_are_dropped_and_the_rest_is_stored() {
    let t = setup_with(Config::default()).await;
    let now = crate::now_ns();
    let day = 86_400 * 1_000_000_000i64;
    let ct = [("content-type", "application/json")];
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"w"}},"values":[["{}","eight days old"],["{}","six days old"],["{}","now"],["{}","in an hour"]]}},{{"stream":{{"app":"v"}},"values":[["{}","a year old"]]}}]}}"#,
        now - 8 * day,
        now - 6 * day,
        now,
        now + day / 24,
        now - 365 * day,
    );
    let (s, b) = t.push("/loki/api/v1/push", &ct, body.into_bytes()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b.starts_with("entry for stream '{app=\"v\"}' has timestamp too old: "),
        "{b}"
    );
    assert!(b.contains(", oldest acceptable timestamp is: "), "{b}");
    let window = |q: &str| {
        format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}&direction=forward",
            enc(q),
            now - 29 * day,
            now + day
        )
    };
    let (_, v) = t.get(&window(r#"{app=~"w|v"}"#)).await;
    let got: Vec<String> = lines(&v).into_iter().map(|(_, l)| l).collect();
    assert_eq!(got, ["six days old", "now"], "{v}");
    // a request of only entries outside stores nothing, and says which
    let (s, b) = t
        .push(
            "/loki/api/v1/push",
            &ct,
            format!(
                r#"{{"streams":[{{"stream":{{"app":"f"}},"values":[["{}","tomorrow"]]}}]}}"#,
                now + day
            )
            .into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b.starts_with("entry for stream '{app=\"f\"}' has timestamp too new: "),
        "{b}"
    );
    let (_, v) = t.get(&window(r#"{app="f"}"#)).await;
    assert_eq!(lines(&v).len(), 0, "{v}");
}

#[tokio::test]
async fn labels_values_series_stats_volume_and_delete() {
    let t = setup().await;
    replay(&t, "js-winston-loki-protobuf-snappy").await;
    let r = format!("start={}&end={}", T0 - 10, T0 + 10);
    let (_, v) = t.get(&format!("/loki/api/v1/labels?{r}")).await;
    assert_eq!(
        v["data"],
        serde_json::json!(["app", "component", "env", "level"]),
        "{v}"
    );
    let (_, v) = t.get(&format!("/loki/api/v1/label/level/values?{r}")).await;
    assert_eq!(
        v["data"],
        serde_json::json!(["debug", "error", "info", "warn"])
    );
    let (_, v) = t
        .get(&format!(
            "/loki/api/v1/label/level/values?{r}&query={}",
            enc(r#"{component="db"}"#)
        ))
        .await;
    assert_eq!(v["data"], serde_json::json!(["debug", "warn"]));
    let (_, v) = t
        .get(&format!(
            "/loki/api/v1/series?{r}&match[]={}",
            enc(r#"{level=~"warn|error"}"#)
        ))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    let (s, v) = t
        .get(&format!(
            "/loki/api/v1/index/stats?{r}&query={}",
            enc(r#"{app="shop"}"#)
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["entries"], 5);
    assert!(
        v["streams"].as_u64().unwrap() >= 4 && v["bytes"].as_u64().unwrap() > 0,
        "{v}"
    );
    let (_, v) = t
        .get(&format!(
            "/loki/api/v1/index/volume?{r}&query={}&aggregateBy=labels",
            enc(r#"{app="shop"}"#)
        ))
        .await;
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(
        v["data"]["result"][0]["metric"],
        serde_json::json!({"app": "shop"})
    );
    let (_, v) = t
        .get(&format!(
            "/loki/api/v1/index/volume_range?{r}&step=60&query={}&targetLabels=level",
            enc(r#"{app="shop"}"#)
        ))
        .await;
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 4, "{v}");
    // delete the error line's stream
    let (s, b) = t.request_delete(r#"{level="error"}"#).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (_, v) = t.get(&range_uri(r#"{app="shop"}"#, "")).await;
    assert_eq!(lines(&v).len(), 4);
    let (_, v) = t.get("/loki/api/v1/delete").await;
    assert_eq!(v[0]["query"], r#"{level="error"}"#);
    let (s, _) = t.get("/loki/api/v1/detected_fields?query=x").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = t.get("/loki/api/v1/status/buildinfo").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["version"].is_string());
    let (s, v) = t
        .get(&format!(
            "/loki/api/v1/format_query?query={}",
            enc(r#"{a="b"}|="c""#)
        ))
        .await;
    assert_eq!(
        (s, v["data"].as_str()),
        (StatusCode::OK, Some(r#"{a="b"} |= "c""#))
    );
}

#[tokio::test]
async fn otlp_http_protobuf_capture_maps_service_name() {
    let t = setup().await;
    for (path, headers, body) in capture("py-otlp-http-logs-gzip") {
        assert_eq!(path, "/v1/logs");
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case("content-type") || k.eq_ignore_ascii_case("content-encoding")
            })
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (s, b) = t.push("/otlp/v1/logs", &hs, body).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (_, v) = t
        .get(&format!(
            "/loki/api/v1/label/service_name/values?start={}&end={}",
            T0 - 10,
            T0 + 60
        ))
        .await;
    assert_eq!(v["data"], serde_json::json!(["checkout"]), "{v}");
}

/// A store in `dir` whose delete requests are processed at once (cancel period 0).
async fn open_with_processor(
    dir: &std::path::Path,
    storage: &opshelf_core::StorageView,
) -> (T, opshelf_core::Tasks) {
    let cfg = captures_config();
    let es = opshelf_eventstore::EventStore::open(dir, cfg.store_config()).unwrap();
    let deletes = Deletes::load(Some(storage.clone())).await.unwrap();
    let tasks = opshelf_core::Tasks::new(opshelf_core::Shutdown::new());
    deletes.spawn_processor(&tasks, es.clone(), Duration::ZERO);
    let store = Arc::new(LogStore::new(
        es,
        cfg.limits.clone(),
        cfg.default_tenant.clone(),
        deletes,
    ));
    let t = T {
        _dir: tempfile::tempdir().unwrap(),
        app: App::new(store, cfg.max_push_bytes),
    };
    (t, tasks)
}

/// `POST /loki/api/v1/delete` with `delete_cancel_period_secs = 0`: the background processor
/// purges the entries (gone from the event store itself, not only hidden), the request
/// lists as `processed` and cannot be cancelled, and a restart brings nothing back.
#[tokio::test]
async fn a_delete_request_is_purged_processed_and_stays_gone_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = opshelf_core::Context::for_tests_named("logs").await;
    let (t, tasks) = open_with_processor(dir.path(), &ctx.storage).await;
    let ns = |s: i64| (T0 * 1_000_000_000 + s).to_string();
    let body = serde_json::json!({"streams": [
        {"stream": {"app": "shop", "user": "jane"},
         "values": [[ns(1), "jane@example.org paid"], [ns(2), "jane@example.org left"]]},
        {"stream": {"app": "shop", "user": "joe"},
         "values": [[ns(1), "joe paid"], [ns(3), "joe left"]]},
    ]});
    let (s, b) = t
        .push(
            "/loki/api/v1/push",
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = t.request_delete(r#"{user="jane"}"#).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let id = loop {
        let (_, v) = t.get("/loki/api/v1/delete").await;
        if v[0]["status"] == "processed" {
            break v[0]["request_id"].as_str().unwrap().to_owned();
        }
        assert_eq!(v[0]["status"], "received", "{v}");
        assert!(std::time::Instant::now() < deadline, "not processed: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stored = |t: &T| {
        let ev = t.app.store.events().clone();
        std::thread::spawn(move || {
            ev.query(opshelf_eventstore::Query::all("fake"))
                .unwrap()
                .map(|h| String::from_utf8(h.unwrap().record.body).unwrap())
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap()
    };
    let want = ["joe paid", "joe left"];
    assert_eq!(stored(&t), want, "purged from the store, not just hidden");
    let (_, v) = t
        .get(&range_uri(r#"{app="shop"}"#, "&direction=forward"))
        .await;
    let got: Vec<String> = lines(&v).into_iter().map(|(_, l)| l).collect();
    assert_eq!(got, want, "{v}");
    let (s, b) = t
        .call(
            Request::delete(format!("/loki/api/v1/delete?request_id={id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, String::from_utf8_lossy(&b).trim()),
        (
            StatusCode::BAD_REQUEST,
            "deletion of request which is in process or already processed is not allowed"
        )
    );

    tasks.shutdown().trigger();
    assert!(tasks.close_and_wait(Duration::from_secs(10)).await);
    let ev = t.app.store.events().clone();
    drop(t);
    std::thread::spawn(move || ev.close())
        .join()
        .unwrap()
        .unwrap();

    let (t, tasks) = open_with_processor(dir.path(), &ctx.storage).await;
    assert_eq!(stored(&t), want);
    let (_, v) = t
        .get(&range_uri(r#"{app="shop"}"#, "&direction=forward"))
        .await;
    assert_eq!(lines(&v).len(), 2, "{v}");
    let (_, v) = t.get("/loki/api/v1/delete").await;
    assert_eq!(
        (v[0]["request_id"].as_str(), &v[0]["status"]),
        (Some(id.as_str()), &Value::from("processed"))
    );
    tasks.shutdown().trigger();
    assert!(tasks.close_and_wait(Duration::from_secs(10)).await);
}

/// A query that fits its own memory cap but finds the store's query memory held by another
/// query answers Loki's scheduler's 429 "too many outstanding requests" (retryable), and runs
/// once the memory is free.
#[tokio::test]
async fn a_query_that_finds_the_query_memory_held_answers_429() {
    const MIB: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let cfg = captures_config();
    let mut sc = cfg.store_config();
    sc.memory_budget_bytes = 4 * MIB; // a 1 MiB query share, all of it one query's cap
    sc.chunk_target_bytes = 4096;
    sc.maintenance_interval_secs = 3600;
    sc.limits.max_batch_bytes = MIB;
    let es = opshelf_eventstore::EventStore::open(dir.path(), sc).unwrap();
    let store = Arc::new(LogStore::new(
        es,
        cfg.limits.clone(),
        cfg.default_tenant.clone(),
        Deletes::load(None).await.unwrap(),
    ));
    // 80 streams overlapping in time: the first hit opens a chunk of each
    let now = crate::now_ns();
    let streams = (0..80)
        .map(|k| crate::push::PushStream {
            labels: crate::logql_adapter::Labels::new(vec![("app".into(), format!("s{k}"))]),
            entries: (0..40)
                .map(|i| crate::push::Entry {
                    ts_ns: now - 1_000_000 + i,
                    line: "x".repeat(100),
                    metadata: Vec::new(),
                })
                .collect(),
        })
        .collect();
    assert_eq!(store.push("fake", streams).await.unwrap(), 3200);
    let s2 = store.clone();
    tokio::task::spawn_blocking(move || s2.events().flush())
        .await
        .unwrap()
        .unwrap();
    let t = T {
        _dir: tempfile::tempdir().unwrap(),
        app: App::new(store.clone(), cfg.max_push_bytes),
    };
    let uri = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit=5000",
        enc(r#"{app=~"s.+"}"#),
        now - 60_000_000_000,
        now + 1_000_000_000
    );
    let mut held = store
        .events()
        .query(opshelf_eventstore::Query::all("fake"))
        .unwrap();
    held.next().unwrap().unwrap();
    assert!(held.memory_held() > 512 * 1024, "{}", held.memory_held());
    let (s, v) = t.get(&uri).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v, "too many outstanding requests\n");
    drop(held);
    let (s, v) = t.get(&uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(lines(&v).len(), 3200);
}
