//! Prometheus metrics: one registry for the process, exposed on the admin listener's
//! `/metrics`. Capabilities register their own metrics through [`Metrics::register`]; the
//! core adds process figures (RSS, CPU, open fds, uptime) and per-listener HTTP counts and
//! latency histograms.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// Labels of the per-listener request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub listener: String,
    pub method: String,
    pub status: u16,
}

/// Labels of the per-listener latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: String,
}

/// Labels of the per-listener connection metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConnectionLabels {
    pub listener: String,
}

/// The HTTP metrics every listener records (see `http::with_layers` and `http::serve`).
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<ListenerLabels, Histogram>,
    pub open_connections: Family<ConnectionLabels, Gauge>,
    pub refused_connections: Family<ConnectionLabels, Counter>,
    pub timed_out_connections: Family<ConnectionLabels, Counter>,
}

/// The process-wide metrics registry (cheap to clone). [`Metrics::scoped`] gives a
/// capability its own view, whose names all start with `opshelf_<capability>_`.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    http: HttpMetrics,
    prefix: Option<Arc<str>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the process collector and the HTTP metrics already in it.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ])
            }),
            open_connections: Family::default(),
            refused_connections: Family::default(),
            timed_out_connections: Family::default(),
        };
        registry.register(
            "opshelf_http_open_connections",
            "Connections open now, by listener",
            http.open_connections.clone(),
        );
        registry.register(
            "opshelf_http_refused_connections",
            "Connections closed at accept because the listener's connection cap was reached",
            http.refused_connections.clone(),
        );
        registry.register(
            "opshelf_http_timed_out_connections",
            "Connections closed for sending no complete request head in time, or for idling",
            http.timed_out_connections.clone(),
        );
        registry.register(
            "opshelf_http_requests",
            "HTTP requests served, by listener, method and status",
            http.requests.clone(),
        );
        registry.register(
            "opshelf_http_request_duration_seconds",
            "HTTP request latency by listener",
            http.duration.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector {
            started: Instant::now(),
        }));
        Self {
            registry: Arc::new(Mutex::new(registry)),
            http,
            prefix: None,
        }
    }

    /// The same registry, with every name registered through it prefixed
    /// `opshelf_<capability>_`.
    #[must_use]
    pub fn scoped(&self, capability: &str) -> Self {
        Self {
            registry: Arc::clone(&self.registry),
            http: self.http.clone(),
            prefix: Some(Arc::from(format!("opshelf_{capability}_"))),
        }
    }

    /// Add a metric; `name` without the `_total` suffix for counters (the encoder adds it),
    /// and without the `opshelf_<capability>_` prefix on a scoped view (it is added).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        let full = match &self.prefix {
            Some(p) => format!("{p}{name}"),
            None => name.to_owned(),
        };
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register(full, help, metric);
    }

    /// Add a collector (figures computed at scrape time). Its names are used as they are.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register_collector(collector);
    }

    /// The HTTP metrics, for the listener layers.
    #[must_use]
    pub fn http(&self) -> &HttpMetrics {
        &self.http
    }

    /// The whole registry in Prometheus text format (OpenMetrics flavour, `# EOF` last).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Reads `/proc/self` on every scrape.
#[derive(Debug)]
struct ProcessCollector {
    started: Instant,
}

/// Process figures read from `/proc`. Fields are `None` off Linux.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
}

/// Linux reports CPU time in clock ticks of `sysconf(_SC_CLK_TCK)`, which is 100 on
/// every architecture opshelf targets (asking needs `unsafe` libc; we forbid it).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

impl ProcessStats {
    /// Read this process's figures now.
    #[must_use]
    pub fn read() -> Self {
        let rss_bytes = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
                let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kb * 1024)
            });
        let cpu_seconds = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                // Fields after the parenthesised command name; utime and stime are 14th and 15th.
                let rest = &s[s.rfind(')')? + 2..];
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let utime: u64 = fields.get(11)?.parse().ok()?;
                let stime: u64 = fields.get(12)?.parse().ok()?;
                #[allow(clippy::cast_precision_loss)]
                Some((utime + stime) as f64 / CLOCK_TICKS_PER_SECOND)
            });
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        Self {
            rss_bytes,
            cpu_seconds,
            open_fds,
        }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        if let Some(rss) = stats.rss_bytes {
            let g = ConstGauge::new(i64::try_from(rss).unwrap_or(i64::MAX));
            let e = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                None,
                g.metric_type(),
            )?;
            g.encode(e)?;
        }
        if let Some(cpu) = stats.cpu_seconds {
            let c = ConstCounter::new(cpu);
            let e = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                MetricType::Counter,
            )?;
            c.encode(e)?;
        }
        if let Some(fds) = stats.open_fds {
            let g = ConstGauge::new(i64::try_from(fds).unwrap_or(i64::MAX));
            let e = encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors",
                None,
                g.metric_type(),
            )?;
            g.encode(e)?;
        }
        let uptime = ConstGauge::new(self.started.elapsed().as_secs_f64());
        let e = encoder.encode_descriptor(
            "opshelf_uptime_seconds",
            "Seconds since the process started serving",
            None,
            uptime.metric_type(),
        )?;
        uptime.encode(e)?;
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() - self.started.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let start = ConstGauge::new(start);
        let e = encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            None,
            start.metric_type(),
        )?;
        start.encode(e)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_has_process_and_registered_metrics() {
        let m = Metrics::new();
        let c: Counter = Counter::default();
        c.inc();
        m.register("test_things", "things", c);
        let text = m.encode();
        assert!(text.contains("test_things_total 1"), "{text}");
        assert!(text.contains("opshelf_uptime_seconds"), "{text}");
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_resident_memory_bytes"), "{text}");
            assert!(ProcessStats::read().rss_bytes.unwrap() > 1024 * 1024);
        }
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
