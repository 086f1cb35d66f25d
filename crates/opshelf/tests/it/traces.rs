//! Traces end to end: OTLP/HTTP (protobuf, JSON, gzip) and OTLP/gRPC into the real
//! binary, read back through Jaeger's API; bad input refused with nothing stored; kill -9
//! during ingest loses no acknowledged span.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::support::{Options, Server};

const CONFIG: &str = "[traces]\nenabled = true\n";

fn capture(name: &str, field: &str) -> Vec<u8> {
    let path = opshelf_core::testing::shared(&format!("obs/wire/{name}.jsonl"));
    let text = std::fs::read_to_string(path).expect("capture");
    let rec: Value = serde_json::from_str(text.lines().next().expect("one record")).expect("json");
    base64::engine::general_purpose::STANDARD
        .decode(rec[field].as_str().expect("body"))
        .expect("base64")
}

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

async fn post(url: &str, ct: &str, gzip: bool, body: Vec<u8>) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(url).header("content-type", ct);
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    req.body(body).send().await.expect("post")
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.expect("get");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The captured workload: 3 spans with parent/child links, events, an error status.
fn check_trace(t: &Value) {
    let spans = t["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 3, "{t}");
    let by = |n: &str| spans.iter().find(|s| s["operationName"] == n).expect(n);
    let root = by("GET /checkout");
    let db = by("SELECT orders");
    let charge = by("charge-card");
    assert_eq!(db["references"][0]["spanID"], root["spanID"]);
    assert_eq!(db["references"][0]["refType"], "CHILD_OF");
    assert_eq!(charge["references"][1]["refType"], "FOLLOWS_FROM");
    assert!(
        charge["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["key"] == "error" && x["value"] == true)
    );
    assert_eq!(t["processes"]["p1"]["serviceName"], "checkout");
    assert!(db["logs"][0]["fields"][0]["value"] == "cache-miss", "{db}");
}

#[tokio::test]
async fn otlp_http_and_grpc_exports_are_read_back_through_jaeger() {
    let srv = Server::start(CONFIG).await;
    let http = srv.url("traces-otlp-http");
    let query = srv.url("traces-query");
    let (s, v) = get_json(&format!("{query}/api/services")).await;
    assert_eq!((s, v["data"].clone()), (200, serde_json::json!([])));
    // Python protobuf
    let r = post(
        &format!("{http}/v1/traces"),
        "application/x-protobuf",
        false,
        capture("py-otlp-http-traces", "body_b64"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let (s, v) = get_json(&format!("{query}/api/traces/{TRACE}")).await;
    assert_eq!(s, 200, "{v}");
    check_trace(&v["data"][0]);
    // Node JSON, gzip: the same spans again, answered in JSON
    let r = post(
        &format!("{http}/v1/traces"),
        "application/json",
        true,
        gz(&capture("js-otlp-http-json-traces", "body_b64")),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "{}");
    let (_, v) = get_json(&format!("{query}/api/services")).await;
    assert_eq!(v["data"], serde_json::json!(["checkout"]));
    assert_eq!(v["total"], 1);
    let (_, v) = get_json(&format!("{query}/api/services/checkout/operations")).await;
    assert_eq!(
        v["data"],
        serde_json::json!(["GET /checkout", "SELECT orders", "charge-card"])
    );
    let (_, v) = get_json(&format!("{query}/api/traces?service=checkout&tags=%7B%22error%22%3A%22true%22%7D&start=1767225500000000&end=1767225700000000")).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"][0]["traceID"], TRACE);
    let (s, v) = get_json(&format!("{query}/api/v3/traces?query.service_name=checkout&query.start_time_min=2026-01-01T00:00:00Z&query.start_time_max=2026-01-01T01:00:00Z")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"],
        TRACE
    );
    // gRPC, h2c prior knowledge, gzip-compressed message
    let grpc = srv.url("traces-otlp-grpc");
    let msg = gz(&capture("py-otlp-grpc-traces", "message_b64"));
    let mut framed = vec![1u8];
    framed.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&msg);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = client
        .post(format!(
            "{grpc}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-encoding", "gzip")
        .body(framed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("grpc-status").is_none(),
        "not trailers-only: {:?}",
        r.headers()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &[0, 0, 0, 0, 0]);
    // logs without a logs capability: partial success naming why
    let r = post(
        &format!("{http}/v1/logs"),
        "application/json",
        false,
        std::fs::read(opshelf_core::testing::shared("obs/otlp/examples/logs.json")).unwrap(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("logs capability"),
        "{v}"
    );
    assert_ne!(v["partialSuccess"]["rejectedLogRecords"], "0");
    // span metrics on the admin /metrics
    let m = reqwest::get(srv.url("admin") + "/metrics")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("traces_span_metrics_calls_total{service_name=\"checkout\",span_name=\"charge-card\",span_kind=\"SPAN_KIND_INTERNAL\",status_code=\"STATUS_CODE_ERROR\"} 3"), "{m}");
    assert!(
        m.contains("traces_span_metrics_exceptions_total{service_name=\"checkout\""),
        "{m}"
    );
    assert!(
        m.contains("opshelf_traces_otlp_log_records_rejected_total"),
        "{m}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let srv = Server::start(CONFIG).await;
    let http = srv.url("traces-otlp-http");
    let query = srv.url("traces-query");
    let url = format!("{http}/v1/traces");
    let r = post(
        &url,
        "application/x-protobuf",
        false,
        b"\xff\xff\xff\xff".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let span = |tid: &str, kind: &str| {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"bad"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"{tid}","spanId":"0102030405060708","name":"x","kind":{kind},"startTimeUnixNano":"1","endTimeUnixNano":"2"}}]}}]}}]}}"#
        )
    };
    for body in [
        span("zz02030405060708090a0b0c0d0e0f10", "1"),
        span("0102", "1"),
        span("0102030405060708090a0b0c0d0e0f10", "\"SPAN_KIND_SERVER\""),
    ] {
        let r = post(&url, "application/json", false, body.into_bytes()).await;
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], 3, "google.rpc.Status INVALID_ARGUMENT: {v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    // a 100 MB gzip bomb (about 100 KB on the wire)
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    let t = Instant::now();
    let r = post(&url, "application/x-protobuf", true, bomb).await;
    assert_eq!(r.status(), 413);
    assert!(t.elapsed() < Duration::from_secs(5));
    // an oversize gRPC message
    let grpc = srv.url("traces-otlp-grpc");
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let big = vec![0u8; 5 << 20];
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(big.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&big);
    let r = client
        .post(format!(
            "{grpc}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        ))
        .header("content-type", "application/grpc")
        .body(framed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["grpc-status"],
        "8",
        "RESOURCE_EXHAUSTED: {:?}",
        r.headers()
    );
    // undecodable gRPC message
    let r = client
        .post(format!(
            "{grpc}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        ))
        .header("content-type", "application/grpc")
        .body(vec![0u8, 0, 0, 0, 2, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["grpc-status"], "3");
    // nothing stored, and the server still answers
    let (s, v) = get_json(&format!("{query}/api/services")).await;
    assert_eq!((s, v["data"].clone()), (200, serde_json::json!([])));
    let (s, _) = get_json(&format!(
        "{query}/api/traces/0102030405060708090a0b0c0d0e0f10"
    ))
    .await;
    assert_eq!(s, 404);
    let r = post(
        &url,
        "application/x-protobuf",
        false,
        capture("py-otlp-http-traces", "body_b64"),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn kill_9_during_ingest_loses_no_acknowledged_span() {
    let srv = Server::start(CONFIG).await;
    let url = format!("{}/v1/traces", srv.url("traces-otlp-http"));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Instant::now() + Duration::from_millis(1500);
    // Spans of the last minute: older ones would be retention's to delete (7 days by
    // default) at its first pass, while the test reads them back.
    let t0 = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
        - 60_000_000_000;
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let (url, acked) = (url.clone(), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..100_000u32 {
                if Instant::now() > stop {
                    break;
                }
                let tid = format!("{:08x}{:08x}0000000000000001", w + 1, i + 1);
                let spans: Vec<String> = (1..=20)
                    .map(|s| format!(r#"{{"traceId":"{tid}","spanId":"00000000000000{s:02x}","name":"op","kind":2,"startTimeUnixNano":"{}","endTimeUnixNano":"{}"}}"#, t0 + u64::from(i), t0 + 1_000_000 + u64::from(i)))
                    .collect();
                let body = format!(r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"crash"}}}}]}},"scopeSpans":[{{"spans":[{}]}}]}}]}}"#, spans.join(","));
                match client.post(&url).header("content-type", "application/json").body(body).send().await {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(tid),
                    _ => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let dir = srv.kill9();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "too few exports acknowledged: {}",
        acked.len()
    );
    let srv = Server::start_with(
        CONFIG,
        Options {
            dir: Some(dir),
            ..Options::default()
        },
    )
    .await;
    let query = srv.url("traces-query");
    for tid in &acked {
        let (s, v) = get_json(&format!("{query}/api/traces/{tid}")).await;
        assert_eq!(s, 200, "acknowledged trace {tid} lost after kill -9");
        assert_eq!(v["data"][0]["spans"].as_array().unwrap().len(), 20, "{tid}");
    }
}
