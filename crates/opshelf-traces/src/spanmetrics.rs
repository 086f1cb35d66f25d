//! Span metrics, as the collector's `spanmetrics` connector makes them and its Prometheus
//! exporter names them: `traces_span_metrics_calls_total` and
//! `traces_span_metrics_duration_milliseconds_{bucket,sum,count}` by `service_name`,
//! `span_name`, `span_kind`, `status_code`, with the connector's default buckets. Past the
//! cardinality cap new series fold into one series labelled `otel_metric_overflow="true"`
//! (the connector's overflow attribute). Exception events are counted by service and
//! `exception.type` (`traces_span_metrics_exceptions_total`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::otlp::{self, TracesRequest};

/// The connector's default histogram buckets, in milliseconds.
pub const BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    service: String,
    span: String,
    kind: i32,
    status: i32,
}

#[derive(Debug, Clone, Default)]
struct Series {
    calls: u64,
    sum_ms: f64,
    /// per bucket (not cumulative), the last one is +Inf
    buckets: [u64; BUCKETS_MS.len() + 1],
}

impl Series {
    fn observe(&mut self, ms: f64) {
        self.calls += 1;
        self.sum_ms += ms;
        let i = BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BUCKETS_MS.len());
        self.buckets[i] += 1;
    }
}

#[derive(Debug, Default)]
struct State {
    series: HashMap<Key, Series>,
    overflow: Option<Series>,
    exceptions: HashMap<(String, String), u64>,
    exceptions_overflow: u64,
}

/// The span-metrics state, shared by the receiver (which records) and the registry (which
/// reads it at scrape time).
#[derive(Debug, Clone)]
pub struct SpanMetrics {
    state: Arc<Mutex<State>>,
    max_series: usize,
}

fn kind_label(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

fn status_label(code: i32) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

impl SpanMetrics {
    #[must_use]
    pub fn new(max_series: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            max_series,
        }
    }

    /// Count every span of a stored export.
    pub fn record(&self, req: &TracesRequest) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for rs in &req.resource_spans {
            let service = otlp::service_name(rs.resource.as_ref());
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let ns = span
                        .end_time_unix_nano
                        .saturating_sub(span.start_time_unix_nano);
                    #[allow(clippy::cast_precision_loss)]
                    let ms = ns as f64 / 1e6;
                    let key = Key {
                        service: service.clone(),
                        span: span.name.clone(),
                        kind: span.kind,
                        status: span.status.as_ref().map_or(0, |s| s.code),
                    };
                    let max = self.max_series;
                    let State {
                        series, overflow, ..
                    } = &mut *st;
                    if let Some(s) = series.get_mut(&key) {
                        s.observe(ms);
                    } else if series.len() < max {
                        series.entry(key).or_default().observe(ms);
                    } else {
                        overflow.get_or_insert_with(Series::default).observe(ms);
                    }
                    for ev in span.events.iter().filter(|e| e.name == "exception") {
                        let ty = ev
                            .attributes
                            .iter()
                            .find(|kv| kv.key == "exception.type")
                            .and_then(|kv| kv.value.as_ref())
                            .map(otlp::value_text)
                            .unwrap_or_default();
                        let k = (service.clone(), ty);
                        if let Some(n) = st.exceptions.get_mut(&k) {
                            *n += 1;
                        } else if st.exceptions.len() < max {
                            st.exceptions.insert(k, 1);
                        } else {
                            st.exceptions_overflow += 1;
                        }
                    }
                }
            }
        }
    }
}

type LabelVec = Vec<(&'static str, String)>;

fn labels(k: &Key) -> LabelVec {
    vec![
        ("service_name", k.service.clone()),
        ("span_name", k.span.clone()),
        ("span_kind", kind_label(k.kind).to_owned()),
        ("status_code", status_label(k.status).to_owned()),
    ]
}

fn overflow_labels() -> LabelVec {
    vec![("otel_metric_overflow", "true".to_owned())]
}

impl Collector for SpanMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<(LabelVec, &Series)> =
            st.series.iter().map(|(k, s)| (labels(k), s)).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(o) = &st.overflow {
            rows.push((overflow_labels(), o));
        }
        if rows.is_empty() {
            return Ok(());
        }
        {
            let mut e = encoder.encode_descriptor(
                "traces_span_metrics_calls",
                "Number of spans, by service, span name, kind and status (spanmetrics connector)",
                None,
                MetricType::Counter,
            )?;
            for (l, s) in &rows {
                ConstCounter::new(s.calls).encode(e.encode_family(l)?)?;
            }
        }
        {
            let mut e = encoder.encode_descriptor(
                "traces_span_metrics_duration_milliseconds",
                "Span durations in milliseconds (spanmetrics connector's default buckets)",
                None,
                MetricType::Histogram,
            )?;
            for (l, s) in &rows {
                let mut buckets: Vec<(f64, u64)> = BUCKETS_MS
                    .iter()
                    .copied()
                    .zip(s.buckets.iter().copied())
                    .collect();
                buckets.push((f64::INFINITY, s.buckets[BUCKETS_MS.len()]));
                e.encode_family(l)?
                    .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                        s.sum_ms, s.calls, &buckets, None,
                    )?;
            }
        }
        if !st.exceptions.is_empty() || st.exceptions_overflow > 0 {
            let mut e = encoder.encode_descriptor(
                "traces_span_metrics_exceptions",
                "Exception span events, by service and exception.type",
                None,
                MetricType::Counter,
            )?;
            let mut ex: Vec<(LabelVec, u64)> = st
                .exceptions
                .iter()
                .map(|((svc, ty), n)| {
                    (
                        vec![
                            ("service_name", svc.clone()),
                            ("exception_type", ty.clone()),
                        ],
                        *n,
                    )
                })
                .collect();
            ex.sort();
            if st.exceptions_overflow > 0 {
                ex.push((overflow_labels(), st.exceptions_overflow));
            }
            for (l, n) in &ex {
                ConstCounter::new(*n).encode(e.encode_family(l)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{
        AnyValue, AnyValueKind, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    };
    use opshelf_core::Metrics;

    fn req(service: &str, spans: Vec<(&str, u64)>) -> TracesRequest {
        TracesRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(AnyValueKind::StringValue(service.into())),
                        }),
                        ..KeyValue::default()
                    }],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .into_iter()
                        .map(|(name, ms)| Span {
                            name: name.into(),
                            kind: 2,
                            start_time_unix_nano: 1_000_000_000,
                            end_time_unix_nano: 1_000_000_000 + ms * 1_000_000,
                            ..Span::default()
                        })
                        .collect(),
                    ..ScopeSpans::default()
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn calls_and_buckets_and_the_overflow_series() {
        let m = Metrics::new();
        let sm = SpanMetrics::new(2);
        m.register_collector(Box::new(sm.clone()));
        sm.record(&req(
            "api",
            vec![("GET /a", 3), ("GET /a", 120), ("GET /b", 1)],
        ));
        sm.record(&req("api", vec![("GET /c", 7), ("GET /d", 20_000)]));
        let text = m.encode();
        let a = r#"service_name="api",span_name="GET /a",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET""#;
        assert!(
            text.contains(&format!("traces_span_metrics_calls_total{{{a}}} 2")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "traces_span_metrics_duration_milliseconds_bucket{{le=\"2.0\",{a}}} 0"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "traces_span_metrics_duration_milliseconds_bucket{{le=\"4.0\",{a}}} 1"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "traces_span_metrics_duration_milliseconds_bucket{{le=\"200.0\",{a}}} 2"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "traces_span_metrics_duration_milliseconds_sum{{{a}}} 123"
            )),
            "{text}"
        );
        // the cap is 2 series: /c and /d fold into the overflow series
        assert!(
            text.contains("traces_span_metrics_calls_total{otel_metric_overflow=\"true\"} 2"),
            "{text}"
        );
        assert!(text.contains("traces_span_metrics_duration_milliseconds_bucket{le=\"+Inf\",otel_metric_overflow=\"true\"} 2"), "{text}");
        assert!(!text.contains("GET /c"), "{text}");
    }
}
