//! The `[traces]` section.

use std::net::SocketAddr;

use opshelf_core::config::ConfigError;
use serde::{Deserialize, Serialize};

const MIB: u64 = 1 << 20;

/// `[traces]`: the collector's `otlp` receiver and Jaeger's query service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// OTLP/gRPC (`TraceService`, `LogsService`, `MetricsService` `Export`), h2c.
    pub otlp_grpc_listen: SocketAddr,
    /// OTLP/HTTP (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`), protobuf or JSON.
    pub otlp_http_listen: SocketAddr,
    /// Jaeger's query API (`/api/...`, `/api/v3/...`) and Tempo's trace by id.
    pub query_listen: SocketAddr,
    /// Browser origins allowed to post to OTLP/HTTP (`"*"` = any; empty = no CORS).
    pub cors_allowed_origins: Vec<String>,
    /// Request headers allowed from those origins besides the CORS-safelisted ones and
    /// `Content-Type` (`"*"` = any).
    pub cors_allowed_headers: Vec<String>,
    /// Largest export message after decompression (the collector's `max_recv_msg_size_mib`
    /// is 4 MiB); bigger ones are refused with 413 / `RESOURCE_EXHAUSTED`.
    pub max_message_bytes: u64,
    /// Spans older than this many days are deleted (0 = keep forever).
    pub retention_days: u64,
    /// Oldest spans are deleted while they take more than this on disk (0 = no cap).
    pub retention_max_bytes: u64,
    /// Memory for ingestion buffers and queries in the span store; past its ingestion
    /// share exports get 503 / `UNAVAILABLE` with `Retry-After`.
    pub memory_budget_bytes: u64,
    /// Span-metrics series at most; further series fold into one overflow series.
    pub span_metrics_max_series: usize,
    /// OTLP metric series at most (all metrics together); further points are dropped and
    /// counted.
    pub otlp_metrics_max_series: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            otlp_grpc_listen: SocketAddr::from(([127, 0, 0, 1], 4317)),
            otlp_http_listen: SocketAddr::from(([127, 0, 0, 1], 4318)),
            query_listen: SocketAddr::from(([127, 0, 0, 1], 16686)),
            cors_allowed_origins: Vec::new(),
            cors_allowed_headers: Vec::new(),
            max_message_bytes: 4 * MIB,
            retention_days: 7,
            retention_max_bytes: 0,
            memory_budget_bytes: 64 * MIB,
            span_metrics_max_series: 10_000,
            otlp_metrics_max_series: 10_000,
        }
    }
}

/// The commented `[traces]` section of `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = r#"[traces]
# Receive OTLP (as the OpenTelemetry collector's otlp receiver) and answer Jaeger's queries.
enabled = true
# OTLP/gRPC: TraceService, LogsService and MetricsService Export (plain HTTP/2).
otlp_grpc_listen = "127.0.0.1:4317"
# OTLP/HTTP: POST /v1/traces, /v1/logs, /v1/metrics (protobuf or JSON, gzip).
otlp_http_listen = "127.0.0.1:4318"
# Jaeger's query API (/api/..., /api/v3/...) and Tempo's /api/traces/{id}.
query_listen = "127.0.0.1:16686"
# Browser origins allowed to post spans (the web SDK): "*" = any, empty = no CORS.
cors_allowed_origins = []
# Extra request headers browsers may send (Content-Type is always allowed).
cors_allowed_headers = []
# Largest export message after decompression, in bytes (413 / RESOURCE_EXHAUSTED beyond).
max_message_bytes = 4194304
# Spans are deleted after this many days (0 = never).
retention_days = 7
# Oldest spans are deleted while the store is larger than this many bytes (0 = no cap).
retention_max_bytes = 0
# Memory for the span store's buffers and queries, in bytes.
memory_budget_bytes = 67108864
# Span-metrics series at most; past it new series fold into otel_metric_overflow="true".
span_metrics_max_series = 10000
# OTLP metric series at most; past it new series are dropped and counted.
otlp_metrics_max_series = 10000
"#;

impl Config {
    /// # Errors
    /// The first setting that is out of range, by key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1024..=256 * MIB).contains(&self.max_message_bytes) {
            return Err(ConfigError::new(
                "max_message_bytes",
                "a size between 1024 and 268435456 bytes",
            ));
        }
        if self.memory_budget_bytes < 8 * MIB {
            return Err(ConfigError::new(
                "memory_budget_bytes",
                "at least 8388608 bytes (8 MiB)",
            ));
        }
        if self.max_message_bytes > self.memory_budget_bytes / 4 {
            return Err(ConfigError::new(
                "max_message_bytes",
                "at most a quarter of memory_budget_bytes",
            ));
        }
        if self.retention_days > 36_500 {
            return Err(ConfigError::new("retention_days", "at most 36500 days"));
        }
        for (i, o) in self.cors_allowed_origins.iter().enumerate() {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(ConfigError::new(
                    format!("cors_allowed_origins[{i}]"),
                    "\"*\" or an origin like https://app.example.com",
                ));
            }
        }
        if self.span_metrics_max_series == 0 {
            return Err(ConfigError::new(
                "span_metrics_max_series",
                "at least 1 series",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        traces: Config,
    }

    #[test]
    fn the_example_is_the_default_and_valid() {
        let f: File = toml::from_str(CONFIG_EXAMPLE).unwrap();
        assert_eq!(f.traces, Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn validate_names_the_key() {
        let c = Config {
            cors_allowed_origins: vec!["*".into(), "example.com".into()],
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "cors_allowed_origins[1]");
        let c = Config {
            max_message_bytes: 10,
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "max_message_bytes");
    }
}
