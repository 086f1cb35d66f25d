//! Load client for `bench/traces` (not a test): drives a running opshelf's OTLP/HTTP
//! (protobuf) and OTLP/gRPC listeners with 512-span batches from several connections,
//! then measures trace-by-id and search latency through the Jaeger API.
//!
//! Usage: traces_bench <http host:port> <grpc host:port> <query host:port> <spans> <conns> [query-only]
//! Prints `key=value` lines the script formats. `query-only` skips the ingest and queries
//! what an earlier run with the same `<spans>` stored (profiling a settled store).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

const BATCH: u64 = 512;
const SERVICES: u64 = 8;
const OPS: [&str; 6] = [
    "GET /checkout",
    "GET /cart",
    "POST /pay",
    "SELECT orders",
    "charge-card",
    "render",
];

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

/// Batch `n`: 512 spans of 64 traces (8 spans each, parent/child), one service.
fn batch(n: u64, t0: u64) -> ExportTraceServiceRequest {
    let service = format!("svc-{}", n % SERVICES);
    let mut spans = Vec::with_capacity(BATCH as usize);
    for i in 0..BATCH {
        let trace = n * (BATCH / 8) + i / 8;
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&trace.to_be_bytes());
        trace_id[8..].copy_from_slice(&0x5b8e_fff7_9803_8103u64.to_be_bytes());
        let span_no = i % 8;
        let span_id = (trace << 3 | span_no) + 1;
        let start = t0 + n * 1_000_000 + i * 1000;
        let dur = 1_000_000 + (trace * 7919 + span_no * 104_729) % 400_000_000;
        spans.push(Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_be_bytes().to_vec(),
            parent_span_id: if span_no == 0 {
                Vec::new()
            } else {
                ((trace << 3) + 1).to_be_bytes().to_vec()
            },
            name: OPS[(span_no as usize) % OPS.len()].to_owned(),
            kind: if span_no == 0 { 2 } else { 3 },
            start_time_unix_nano: start,
            end_time_unix_nano: start + dur,
            attributes: vec![
                kv("http.route", Value::StringValue("/checkout".into())),
                kv("http.response.status_code", Value::IntValue(200)),
                kv(
                    "customer.id",
                    Value::StringValue(format!("c-{}", trace % 10_000)),
                ),
            ],
            status: (trace.is_multiple_of(50) && span_no == 3).then(|| Status {
                code: 2,
                message: "declined".into(),
            }),
            ..Span::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue(service)),
                    kv("host.name", Value::StringValue("bench-host".into())),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

async fn ingest(
    grpc: bool,
    addr: String,
    first: u64,
    batches: u64,
    conns: u64,
    t0: u64,
) -> (f64, Vec<f64>) {
    let next = Arc::new(AtomicU64::new(first));
    let end = first + batches;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, addr) = (Arc::clone(&next), addr.clone());
        tasks.push(tokio::spawn(async move {
            let client = if grpc {
                reqwest::Client::builder().http2_prior_knowledge().build().unwrap()
            } else {
                reqwest::Client::new()
            };
            let mut lat = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    break;
                }
                let body = batch(n, t0).encode_to_vec();
                let t = Instant::now();
                let ok = if grpc {
                    let mut framed = vec![0u8];
                    framed.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
                    framed.extend_from_slice(&body);
                    let r = client
                        .post(format!("http://{addr}/opentelemetry.proto.collector.trace.v1.TraceService/Export"))
                        .header("content-type", "application/grpc")
                        .header("te", "trailers")
                        .body(framed)
                        .send()
                        .await
                        .unwrap();
                    r.headers().get("grpc-status").is_none() && r.bytes().await.is_ok()
                } else {
                    let r = client
                        .post(format!("http://{addr}/v1/traces"))
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    r.status() == 200
                };
                assert!(ok, "export refused");
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (start.elapsed().as_secs_f64(), all)
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (http, grpc, query) = (a[1].clone(), a[2].clone(), a[3].clone());
    let spans: u64 = a[4].parse().unwrap();
    let conns: u64 = a[5].parse().unwrap();
    let t0 = 1_767_225_600_000_000_000u64;
    let batches = spans / BATCH;
    // the first 10% over gRPC (measured), the rest over HTTP (measured)
    let g = (batches / 10).max(1);
    if a.get(6).map(String::as_str) != Some("query-only") {
        let (secs, mut lat) = ingest(true, grpc, 0, g, conns, t0).await;
        println!(
            "grpc_spans={} grpc_secs={secs:.3} grpc_p99_ms={:.2} grpc_p50_ms={:.2}",
            g * BATCH,
            pct(&mut lat, 0.99),
            pct(&mut lat, 0.5)
        );
        let (secs, mut lat) = ingest(false, http, g, batches - g, conns, t0).await;
        println!(
            "http_spans={} http_secs={secs:.3} http_p99_ms={:.2} http_p50_ms={:.2}",
            (batches - g) * BATCH,
            pct(&mut lat, 0.99),
            pct(&mut lat, 0.5)
        );
    }
    let client = reqwest::Client::new();
    let total_traces = batches * (BATCH / 8);
    let mut by_id = Vec::new();
    for i in 0..200u64 {
        let trace = (i * 2_654_435_761) % total_traces;
        let id = format!("{trace:016x}5b8efff798038103");
        let t = Instant::now();
        let r = client
            .get(format!("http://{query}/api/traces/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "trace {id}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["data"][0]["spans"].as_array().map(Vec::len), Some(8));
        by_id.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "by_id_p95_ms={:.2} by_id_p50_ms={:.2}",
        pct(&mut by_id, 0.95),
        pct(&mut by_id, 0.5)
    );
    let mut search = Vec::new();
    let end_us = (t0 + batches * 1_000_000) / 1000 + 1_000_000;
    let start_us = t0 / 1000;
    for i in 0..50u64 {
        let svc = format!("svc-{}", i % SERVICES);
        let q = match i % 3 {
            0 => format!("service={svc}&limit=20"),
            1 => format!("service={svc}&operation=POST%20%2Fpay&limit=20"),
            _ => format!(
                "service={svc}&tags=%7B%22error%22%3A%22true%22%7D&limit=20&minDuration=1ms"
            ),
        };
        let t = Instant::now();
        let r = client
            .get(format!(
                "http://{query}/api/traces?{q}&start={start_us}&end={end_us}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(!v["data"].as_array().unwrap().is_empty(), "{q}");
        search.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "search_p95_ms={:.2} search_p50_ms={:.2}",
        pct(&mut search, 0.95),
        pct(&mut search, 0.5)
    );
}
