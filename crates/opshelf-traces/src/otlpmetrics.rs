//! OTLP metrics on `/metrics`, named as the collector's Prometheus exporter names them:
//! the metric name with every character outside `[a-zA-Z0-9_:]` as `_`, the unit as a
//! suffix (`ms` → `_milliseconds`, `s` → `_seconds`, `By` → `_bytes`, `1` on a gauge →
//! `_ratio`, `{...}` annotations dropped), monotonic sums as counters with `_total`,
//! non-monotonic sums and gauges as gauges, explicit-bucket histograms as histograms;
//! attributes as labels (sanitized the same way), `job` = `service.namespace/service.name`
//! and `instance` = `service.instance.id`. Cumulative points replace the series' value,
//! delta points add to it. Past the series cap new series are dropped and counted
//! (`opshelf_traces_otlp_metric_points_dropped_total`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::otlp::{self, KeyValue, MetricData, MetricsRequest, NumberDataPoint, NumberValue};

const DELTA: i32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone, Default)]
struct Point {
    value: f64,
    sum: f64,
    count: u64,
    /// per bucket (not cumulative); the last one is +Inf
    buckets: Vec<(f64, u64)>,
}

type LabelSet = Vec<(String, String)>;

#[derive(Debug, Default)]
struct Family {
    help: String,
    kind: Option<Kind>,
    series: BTreeMap<LabelSet, Point>,
}

#[derive(Debug, Default)]
struct State {
    families: BTreeMap<String, Family>,
    series: usize,
}

/// OTLP metrics received, as Prometheus families.
#[derive(Debug, Clone)]
pub struct OtlpMetrics {
    state: Arc<Mutex<State>>,
    max_series: usize,
    pub dropped: Arc<AtomicU64>,
}

/// `[a-zA-Z0-9_:]`, others `_`; a leading digit gets a `_` in front.
#[must_use]
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn unit_suffix(unit: &str, kind: Kind) -> Option<&'static str> {
    let unit = unit.split('{').next().unwrap_or("").trim();
    Some(match unit {
        "ms" => "milliseconds",
        "s" => "seconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "min" => "minutes",
        "h" => "hours",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "%" => "percent",
        "1" if kind == Kind::Gauge => "ratio",
        _ => return None,
    })
}

/// The exporter's name for a metric.
fn prom_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut n = sanitize(name);
    if kind == Kind::Counter && n.ends_with("_total") {
        n.truncate(n.len() - "_total".len());
    }
    if let Some(s) = unit_suffix(unit, kind)
        && !n.ends_with(s)
    {
        n.push('_');
        n.push_str(s);
    }
    n
}

fn labels(resource: &[(String, String)], attrs: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for kv in attrs {
        if let Some(v) = &kv.value {
            out.insert(sanitize(&kv.key), otlp::value_text(v));
        }
    }
    for (k, v) in resource {
        out.insert(k.clone(), v.clone());
    }
    out.into_iter().collect()
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(NumberValue::AsDouble(d)) => d,
        #[allow(clippy::cast_precision_loss)]
        Some(NumberValue::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

impl OtlpMetrics {
    #[must_use]
    pub fn new(max_series: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            max_series,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Take in an export; returns the data points refused (over the cap, or a type clash).
    pub fn record(&self, req: &MetricsRequest) -> u64 {
        let mut rejected = 0;
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for rm in &req.resource_metrics {
            let attr = |k: &str| {
                rm.resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|kv| kv.key == k))
                    .and_then(|kv| kv.value.as_ref())
                    .map(otlp::value_text)
            };
            let mut res = Vec::new();
            let service = attr("service.name");
            if let Some(svc) = service {
                let job = match attr("service.namespace") {
                    Some(ns) => format!("{ns}/{svc}"),
                    None => svc,
                };
                res.push(("job".to_owned(), job));
            }
            if let Some(i) = attr("service.instance.id") {
                res.push(("instance".to_owned(), i));
            }
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    rejected += self.metric(&mut st, &res, m);
                }
            }
        }
        self.dropped.fetch_add(rejected, Ordering::Relaxed);
        rejected
    }

    fn metric(&self, st: &mut State, res: &[(String, String)], m: &otlp::Metric) -> u64 {
        // (labels, point, is a delta)
        let mut points: Vec<(LabelSet, Point, bool)> = Vec::new();
        let kind = match &m.data {
            Some(MetricData::Gauge(g)) => {
                for p in &g.data_points {
                    points.push((
                        labels(res, &p.attributes),
                        Point {
                            value: number(p),
                            ..Point::default()
                        },
                        false,
                    ));
                }
                Kind::Gauge
            }
            Some(MetricData::Sum(s)) => {
                let delta = s.aggregation_temporality == DELTA;
                for p in &s.data_points {
                    points.push((
                        labels(res, &p.attributes),
                        Point {
                            value: number(p),
                            ..Point::default()
                        },
                        delta,
                    ));
                }
                if s.is_monotonic {
                    Kind::Counter
                } else {
                    Kind::Gauge
                }
            }
            Some(MetricData::Histogram(h)) => {
                let delta = h.aggregation_temporality == DELTA;
                for p in &h.data_points {
                    let mut buckets: Vec<(f64, u64)> = p
                        .explicit_bounds
                        .iter()
                        .copied()
                        .zip(p.bucket_counts.iter().copied())
                        .collect();
                    buckets.push((
                        f64::INFINITY,
                        p.bucket_counts
                            .get(p.explicit_bounds.len())
                            .copied()
                            .unwrap_or(0),
                    ));
                    points.push((
                        labels(res, &p.attributes),
                        Point {
                            sum: p.sum.unwrap_or(0.0),
                            count: p.count,
                            buckets,
                            ..Point::default()
                        },
                        delta,
                    ));
                }
                Kind::Histogram
            }
            // Exponential histograms and summaries are not exported (the count says so).
            Some(MetricData::ExponentialHistogram(h)) => return h.data_points.len() as u64,
            Some(MetricData::Summary(s)) => return s.data_points.len() as u64,
            None => return 0,
        };
        let name = prom_name(&m.name, &m.unit, kind);
        let max = self.max_series;
        let mut rejected = 0;
        let total = st.series;
        let fam = st.families.entry(name).or_default();
        if fam.kind.is_some_and(|k| k != kind) {
            return points.len() as u64;
        }
        fam.kind = Some(kind);
        if fam.help.is_empty() {
            fam.help.clone_from(&m.description);
        }
        let mut added = 0;
        for (l, p, delta) in points {
            if let Some(cur) = fam.series.get_mut(&l) {
                if delta {
                    cur.value += p.value;
                    cur.sum += p.sum;
                    cur.count += p.count;
                    if cur.buckets.len() == p.buckets.len() {
                        for (c, n) in cur.buckets.iter_mut().zip(&p.buckets) {
                            c.1 += n.1;
                        }
                    } else {
                        cur.buckets = p.buckets;
                    }
                } else {
                    *cur = p;
                }
            } else if total + added < max {
                fam.series.insert(l, p);
                added += 1;
            } else {
                rejected += 1;
            }
        }
        st.series += added;
        rejected
    }
}

impl Collector for OtlpMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, fam) in &st.families {
            let Some(kind) = fam.kind else { continue };
            if fam.series.is_empty() {
                continue;
            }
            let help = if fam.help.is_empty() {
                "OTLP metric"
            } else {
                fam.help.as_str()
            };
            let ty = match kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut e = encoder.encode_descriptor(name, help, None, ty)?;
            for (l, p) in &fam.series {
                let fe = e.encode_family(l)?;
                match kind {
                    Kind::Counter => ConstCounter::new(p.value).encode(fe)?,
                    Kind::Gauge => ConstGauge::new(p.value).encode(fe)?,
                    Kind::Histogram => {
                        let mut fe = fe;
                        fe.encode_histogram::<NoLabelSet>(p.sum, p.count, &p.buckets, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opshelf_core::Metrics;

    #[test]
    fn names_follow_the_prometheus_exporter() {
        assert_eq!(
            prom_name("http.server.duration", "ms", Kind::Histogram),
            "http_server_duration_milliseconds"
        );
        assert_eq!(
            prom_name("orders.placed", "{order}", Kind::Counter),
            "orders_placed"
        );
        assert_eq!(prom_name("requests_total", "1", Kind::Counter), "requests");
        assert_eq!(
            prom_name("cpu.utilization", "1", Kind::Gauge),
            "cpu_utilization_ratio"
        );
        assert_eq!(sanitize("9lives"), "_9lives");
    }

    #[test]
    fn the_python_capture_becomes_prometheus_families() {
        use base64::Engine as _;
        let text = std::fs::read_to_string(opshelf_core::testing::shared(
            "obs/wire/py-otlp-http-metrics.jsonl",
        ))
        .unwrap();
        let rec: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(rec["body_b64"].as_str().unwrap())
            .unwrap();
        let req: MetricsRequest = otlp::decode(&body, otlp::Encoding::Protobuf).unwrap();
        let m = Metrics::new();
        let om = OtlpMetrics::new(100);
        m.register_collector(Box::new(om.clone()));
        assert_eq!(om.record(&req), 0);
        assert_eq!(om.record(&req), 0, "a cumulative re-export replaces");
        let out = m.encode();
        assert!(out.contains("job=\"checkout\""), "{out}");
        assert!(out.contains("# TYPE"), "{out}");
        let small = OtlpMetrics::new(1);
        assert!(
            small.record(&req) > 0,
            "past the cap points are refused and counted"
        );
        assert!(small.dropped.load(Ordering::Relaxed) > 0);
    }
}
