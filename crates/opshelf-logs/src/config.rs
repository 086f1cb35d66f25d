//! `[logs]`, `[logs.limits]`, `[logs.tail]`: serde, Loki's defaults, `validate()`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use opshelf_core::config::ConfigError;
use serde::{Deserialize, Serialize};

const MIB: usize = 1 << 20;
/// zstd level of log chunks. On `bench/logs` chunks, level 7 stores them 9% smaller than
/// level 3, at ~100 MB/s per core instead of ~270: about 1 µs more per line at ingest, where
/// the goal of 100k lines/s per core leaves 10.
const LOG_ZSTD_LEVEL: i32 = 7;
/// Filter bits per distinct token of log chunks (group filters get half; the store's
/// default is 16). A probe then passes a chunk without its hash about once in 100. A
/// trace-id needle makes three probes, all of which must pass, so about one chunk in 10^6
/// without it is decompressed; a one-token needle, one in 100. On `bench/logs` (1 GB) this
/// is 0.004 of the raw size less than 12 bits.
const LOG_BLOOM_BITS: u32 = 10;

/// `[logs]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Serve Loki's HTTP API.
    pub enabled: bool,
    /// Where Loki clients and Grafana connect (Loki's `http_listen_port` 3100).
    pub listen: SocketAddr,
    /// The tenant of requests without `X-Scope-OrgID` (Loki with `auth_enabled: false` uses "fake").
    pub default_tenant: String,
    /// Largest push body once decompressed (Loki's `distributor.max_recv_msg_size` is 100 MB; a
    /// single node keeps it smaller so one request cannot take the ingestion budget).
    pub max_push_bytes: usize,
    /// The event store's memory budget (ingestion buffers, query working sets).
    pub memory_budget_bytes: usize,
    /// Delete log data older than this (seconds; 0 = keep forever).
    pub retention_age_secs: u64,
    /// Delete the oldest log data while the store takes more than this on disk (0 = no cap).
    pub retention_bytes: u64,
    /// How long a delete request can be cancelled before its entries are purged from disk
    /// (seconds; Loki's `delete_request_cancel_period`). The default is Loki's 24 hours: a
    /// purge cannot be undone, reads hide the entries from the moment the request is
    /// accepted (so waiting exposes nothing through the API), and a day leaves an operator
    /// time to cancel a request with a wrong selector or range — well inside the month a
    /// data-subject request may take. At most 30 days; 0 purges within seconds.
    pub delete_cancel_period_secs: u64,
    pub limits: Limits,
    pub tail: TailConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 3100)),
            default_tenant: "fake".to_owned(),
            max_push_bytes: 8 * MIB,
            memory_budget_bytes: 64 * MIB,
            retention_age_secs: 7 * 86_400,
            retention_bytes: 0,
            delete_cancel_period_secs: 86_400,
            limits: Limits::default(),
            tail: TailConfig::default(),
        }
    }
}

/// Loki's `limits_config`, with Loki's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// `max_line_size` (bytes; 256 KB).
    pub max_line_size: usize,
    /// `max_label_names_per_series` (15).
    pub max_label_names_per_series: usize,
    /// `max_label_name_length` (1024).
    pub max_label_name_length: usize,
    /// `max_label_value_length` (2048).
    pub max_label_value_length: usize,
    /// `max_global_streams_per_user` (5000).
    pub max_streams_per_tenant: usize,
    /// `max_structured_metadata_size` (64 KB).
    pub max_structured_metadata_size: usize,
    /// `max_structured_metadata_entries_count` (128).
    pub max_structured_metadata_entries_count: usize,
    /// `reject_old_samples` (true): drop entries older than `reject_old_samples_max_age_secs`.
    pub reject_old_samples: bool,
    /// `reject_old_samples_max_age` in seconds (1w).
    pub reject_old_samples_max_age_secs: u64,
    /// `creation_grace_period` in seconds (10m): entries further in the future are dropped.
    pub creation_grace_period_secs: u64,
    /// `max_query_length` in seconds (30d1h).
    pub max_query_length_secs: u64,
    /// `max_entries_limit_per_query` (5000).
    pub max_entries_limit_per_query: usize,
    /// `max_query_series` (500).
    pub max_query_series: usize,
    /// `query_timeout` in seconds (1m).
    pub query_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_size: 256 * 1024,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_streams_per_tenant: 5000,
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries_count: 128,
            reject_old_samples: true,
            reject_old_samples_max_age_secs: 7 * 86_400,
            creation_grace_period_secs: 600,
            max_query_length_secs: 30 * 86_400 + 3600,
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            query_timeout_secs: 60,
        }
    }
}

/// `[logs.tail]`: the Promtail replacement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Tail the targets below.
    pub enabled: bool,
    /// Where read positions are kept (empty: `<data_dir>/logs/positions.json`).
    pub positions_file: PathBuf,
    /// How often globs are re-expanded and files checked for growth or rotation (ms).
    pub poll_interval_ms: u64,
    /// The tenant tailed lines are stored under (empty: `default_tenant`).
    pub tenant: String,
    /// Lines sent per append.
    pub batch_lines: usize,
    pub targets: Vec<TailTarget>,
}

impl Default for TailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            positions_file: PathBuf::new(),
            poll_interval_ms: 250,
            tenant: String::new(),
            batch_lines: 1000,
            targets: Vec::new(),
        }
    }
}

/// One `scrape_config`: files and the labels their lines get.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TailTarget {
    /// Glob patterns of files (`/var/log/*.log`); Promtail's `__path__`.
    pub paths: Vec<String>,
    /// Static labels (`job = "varlogs"`); `filename` is added per file.
    pub labels: BTreeMap<String, String>,
    /// The files are Docker json-file logs: each line is `{"log","stream","time"}`, and the
    /// container's name (from `config.v2.json` beside the file) becomes the `container` label.
    pub docker: bool,
    /// Promtail pipeline stages, applied in order.
    pub pipeline: Vec<Stage>,
}

/// A Promtail pipeline stage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "stage", rename_all = "lowercase", deny_unknown_fields)]
pub enum Stage {
    /// Named captures of `expression` (RE2 syntax) into the extracted map.
    Regex {
        expression: String,
        #[serde(default)]
        source: Option<String>,
    },
    /// `expressions`: extracted name → top-level JSON key (empty: the same name).
    Json {
        expressions: BTreeMap<String, String>,
        #[serde(default)]
        source: Option<String>,
    },
    /// logfmt keys into the extracted map (`mapping`: extracted name → key; empty = all keys).
    Logfmt {
        #[serde(default)]
        mapping: BTreeMap<String, String>,
        #[serde(default)]
        source: Option<String>,
    },
    /// Extracted values become labels: label name → extracted name (empty: the same name).
    Labels { values: BTreeMap<String, String> },
    /// The entry's time from an extracted value; `format` is Go-style names Promtail accepts:
    /// RFC3339, RFC3339Nano, Unix, UnixMs, UnixUs, UnixNs.
    Timestamp { source: String, format: String },
    /// Drop lines matching `expression` (on `source` or the line), or longer than
    /// `longer_than` bytes.
    Drop {
        #[serde(default)]
        expression: Option<String>,
        #[serde(default)]
        source: Option<String>,
        #[serde(default)]
        longer_than: Option<usize>,
    },
    /// Lines not matching `firstline` are appended to the previous entry (up to `max_lines`),
    /// which is sent when the next first line arrives or after `max_wait_time_ms`.
    Multiline {
        firstline: String,
        #[serde(default = "default_max_lines")]
        max_lines: usize,
        #[serde(default = "default_max_wait")]
        max_wait_time_ms: u64,
    },
    /// Replace the line with an extracted value.
    Output { source: String },
}

fn default_max_lines() -> usize {
    128
}

fn default_max_wait() -> u64 {
    3000
}

impl Config {
    /// Check the section.
    ///
    /// # Errors
    /// The first key that is wrong, relative to `[logs]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.default_tenant.is_empty() || self.default_tenant.len() > 256 {
            return Err(ConfigError::new(
                "default_tenant",
                "a tenant name of 1 to 256 bytes",
            ));
        }
        if !(64 * 1024..=256 * MIB).contains(&self.max_push_bytes) {
            return Err(ConfigError::new(
                "max_push_bytes",
                "between 64 KiB and 256 MiB",
            ));
        }
        if self.memory_budget_bytes < 16 * MIB {
            return Err(ConfigError::new(
                "memory_budget_bytes",
                "at least 16 MiB (16777216)",
            ));
        }
        if self.delete_cancel_period_secs > 30 * 86_400 {
            return Err(ConfigError::new(
                "delete_cancel_period_secs",
                "at most 2592000 seconds (30 days)",
            ));
        }
        let l = &self.limits;
        if l.max_line_size == 0 || l.max_line_size > 4 * MIB {
            return Err(ConfigError::new(
                "limits.max_line_size",
                "between 1 and 4194304 bytes",
            ));
        }
        for (key, v) in [
            (
                "limits.max_label_names_per_series",
                l.max_label_names_per_series,
            ),
            ("limits.max_label_name_length", l.max_label_name_length),
            ("limits.max_label_value_length", l.max_label_value_length),
            ("limits.max_streams_per_tenant", l.max_streams_per_tenant),
            (
                "limits.max_entries_limit_per_query",
                l.max_entries_limit_per_query,
            ),
            ("limits.max_query_series", l.max_query_series),
        ] {
            if v == 0 {
                return Err(ConfigError::new(key, "a number greater than 0"));
            }
        }
        if l.max_label_names_per_series > 64 {
            return Err(ConfigError::new(
                "limits.max_label_names_per_series",
                "at most 64",
            ));
        }
        if l.max_label_name_length.max(l.max_label_value_length) > 64 * 1024 {
            return Err(ConfigError::new(
                "limits.max_label_value_length",
                "at most 65536",
            ));
        }
        if l.reject_old_samples && l.reject_old_samples_max_age_secs == 0 {
            return Err(ConfigError::new(
                "limits.reject_old_samples_max_age_secs",
                "a number of seconds greater than 0 (or reject_old_samples = false)",
            ));
        }
        // far enough for any real clock, and `now ± it` in nanoseconds stays inside an i64
        for (key, v) in [
            (
                "limits.reject_old_samples_max_age_secs",
                l.reject_old_samples_max_age_secs,
            ),
            (
                "limits.creation_grace_period_secs",
                l.creation_grace_period_secs,
            ),
        ] {
            if v > 100 * 365 * 86_400 {
                return Err(ConfigError::new(
                    key,
                    "at most 3153600000 seconds (100 years)",
                ));
            }
        }
        if l.query_timeout_secs == 0 {
            return Err(ConfigError::new(
                "limits.query_timeout_secs",
                "a number of seconds greater than 0",
            ));
        }
        self.tail.validate()
    }

    /// The event store's settings for this section.
    /// The event store as logs use it. Log text is most of what opshelf keeps on disk, so its
    /// chunks get zstd level 7 instead of the store's 3, and its filters 10 bits per token
    /// instead of 16: see `LOG_ZSTD_LEVEL` and `LOG_BLOOM_BITS`.
    pub fn store_config(&self) -> opshelf_eventstore::Config {
        let l = &self.limits;
        let mut c = opshelf_eventstore::Config {
            memory_budget_bytes: self.memory_budget_bytes,
            retention_age_secs: self.retention_age_secs,
            retention_bytes: self.retention_bytes,
            zstd_level: LOG_ZSTD_LEVEL,
            bloom_bits_per_token: LOG_BLOOM_BITS,
            ..opshelf_eventstore::Config::default()
        };
        c.limits.max_streams_per_tenant = l.max_streams_per_tenant;
        c.limits.max_labels_per_stream = l.max_label_names_per_series;
        c.limits.max_label_bytes = l.max_label_name_length.max(l.max_label_value_length);
        // a record is the line plus its structured metadata (and 4 bytes of framing per pair)
        c.limits.max_record_bytes = l.max_line_size
            + l.max_structured_metadata_size
            + 4 * l.max_structured_metadata_entries_count;
        c.limits.max_batch_bytes = (self.memory_budget_bytes / 4)
            .max(c.limits.max_record_bytes + 64 * 1024)
            .min(self.memory_budget_bytes / 4);
        c
    }
}

impl TailConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.poll_interval_ms == 0 || self.poll_interval_ms > 60_000 {
            return Err(ConfigError::new(
                "tail.poll_interval_ms",
                "between 1 and 60000 milliseconds",
            ));
        }
        if self.batch_lines == 0 || self.batch_lines > 100_000 {
            return Err(ConfigError::new("tail.batch_lines", "between 1 and 100000"));
        }
        for (i, t) in self.targets.iter().enumerate() {
            if t.paths.is_empty() {
                return Err(ConfigError::new(
                    format!("tail.targets[{i}].paths"),
                    "at least one glob like /var/log/*.log",
                ));
            }
            for (j, p) in t.paths.iter().enumerate() {
                if let Err(e) = globset::Glob::new(p) {
                    return Err(ConfigError::new(
                        format!("tail.targets[{i}].paths[{j}]"),
                        format!("a glob pattern ({e})"),
                    ));
                }
            }
            for name in t.labels.keys() {
                if !crate::push::valid_label_name(name) {
                    return Err(ConfigError::new(
                        format!("tail.targets[{i}].labels.{name}"),
                        "a label name matching [a-zA-Z_][a-zA-Z0-9_]*",
                    ));
                }
            }
            for (j, s) in t.pipeline.iter().enumerate() {
                if let Err(e) = crate::tail::pipeline::compile_stage(s) {
                    return Err(ConfigError::new(
                        format!("tail.targets[{i}].pipeline[{j}]"),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The commented `[logs]` section printed by `opshelf config example`.
pub const CONFIG_EXAMPLE: &str = r#"[logs]
# Serve Loki's HTTP API (push, query, tail, delete): point Grafana's Loki data source and
# Loki clients (Promtail, python-logging-loki, winston-loki, OTLP exporters) here.
enabled = true
listen = "127.0.0.1:3100"
# Tenant of requests without X-Scope-OrgID (Loki with auth_enabled: false uses "fake").
default_tenant = "fake"
# Largest push body once decompressed.
max_push_bytes = 8388608
# Memory for ingestion buffers and query working sets; ingestion over it gets 429 + Retry-After.
memory_budget_bytes = 67108864
# Delete data older than this (seconds; 0 = forever) or while the store is over this size (0 = no cap).
retention_age_secs = 604800
retention_bytes = 0
# Delete requests (POST /loki/api/v1/delete) hide entries at once and can be cancelled for this
# long (seconds; Loki's delete_request_cancel_period); then the entries are purged from disk.
delete_cancel_period_secs = 86400

[logs.limits]
# Loki's limits_config names and defaults.
max_line_size = 262144
max_label_names_per_series = 15
max_label_name_length = 1024
max_label_value_length = 2048
max_streams_per_tenant = 5000
max_structured_metadata_size = 65536
max_structured_metadata_entries_count = 128
# Entries older than this (seconds; 1w) or more than creation_grace_period_secs (10m) in the
# future are dropped, and the push answers 400 with Loki's message; the rest of it is stored.
reject_old_samples = true
reject_old_samples_max_age_secs = 604800
creation_grace_period_secs = 600
# max_query_length = 30d1h
max_query_length_secs = 2595600
max_entries_limit_per_query = 5000
max_query_series = 500
query_timeout_secs = 60

[logs.tail]
# The Promtail replacement: tail files into the store.
enabled = false
# Read positions (empty: <data_dir>/logs/positions.json).
positions_file = ""
poll_interval_ms = 250
# Tenant of tailed lines (empty: default_tenant).
tenant = ""
batch_lines = 1000
targets = []
# [[logs.tail.targets]]
# paths = ["/var/log/*.log"]
# labels = { job = "varlogs" }
# docker = false          # true for /var/lib/docker/containers/*/*-json.log
# [[logs.tail.targets.pipeline]]
# stage = "regex"
# expression = '^(?P<level>\w+) (?P<msg>.*)$'
# [[logs.tail.targets.pipeline]]
# stage = "labels"
# values = { level = "" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        logs: Config,
    }

    #[test]
    fn the_example_is_the_default_and_valid() {
        let f: File = toml_from(CONFIG_EXAMPLE);
        assert_eq!(f.logs, Config::default());
        Config::default().validate().unwrap();
        Config::default().store_config().validate().unwrap();
    }

    #[test]
    fn bad_keys_are_named() {
        let mut c = Config::default();
        c.limits.max_label_names_per_series = 0;
        assert_eq!(
            c.validate().unwrap_err().key,
            "limits.max_label_names_per_series"
        );
        let mut c = Config::default();
        c.tail.targets.push(TailTarget {
            paths: vec!["/var/log/[".into()],
            ..TailTarget::default()
        });
        assert_eq!(c.validate().unwrap_err().key, "tail.targets[0].paths[0]");
        let mut c = Config::default();
        c.tail.targets.push(TailTarget {
            paths: vec!["/x".into()],
            pipeline: vec![Stage::Regex {
                expression: "(".into(),
                source: None,
            }],
            ..TailTarget::default()
        });
        assert_eq!(c.validate().unwrap_err().key, "tail.targets[0].pipeline[0]");
        let mut c = Config {
            delete_cancel_period_secs: 30 * 86_400 + 1,
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "delete_cancel_period_secs");
        c.delete_cancel_period_secs = 0;
        c.validate().unwrap();
    }

    fn toml_from<T: serde::de::DeserializeOwned>(s: &str) -> T {
        match toml::from_str(s) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
}
