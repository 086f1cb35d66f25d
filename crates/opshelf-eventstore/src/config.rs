//! `Config`: serde, `Default`, `validate()` — embedded by every capability that ingests events.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

const MIB: usize = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Memory for ingestion buffers (the head), query working sets and caches. Half is the
    /// ingestion share (appends wait, then get `Overloaded`, when it is full), a quarter the
    /// query share (a query that needs more ends with `QueryMemory`).
    pub memory_budget_bytes: usize,
    /// Blocks whose newest record is older than this are deleted (0 = keep forever).
    pub retention_age_secs: u64,
    /// Oldest blocks are deleted while blocks take more than this on disk (0 = no size cap).
    pub retention_bytes: u64,
    /// Compaction merges small blocks up to this many uncompressed bytes.
    pub block_target_bytes: usize,
    /// No block spans more time than this; records are bucketed by `time / max_block_span`.
    pub max_block_span_secs: u64,
    /// Uncompressed size of one zstd chunk inside a block (the unit of decompression).
    pub chunk_target_bytes: usize,
    /// zstd level for chunks (3 is zstd's default: ~300 MB/s per core).
    pub zstd_level: i32,
    /// Bloom filter bits per distinct token per chunk (16 ≈ 0.1% false positives).
    pub bloom_bits_per_token: u32,
    /// After the first write of a group arrives, wait this long for more before the fsync.
    pub fsync_window_micros: u64,
    /// The head is cut into blocks at least this often (seconds), even when small.
    pub flush_interval_secs: u64,
    /// Retention and compaction run this often.
    pub maintenance_interval_secs: u64,
    /// How long an append waits for ingestion memory before `Overloaded`.
    pub backpressure_timeout_ms: u64,
    /// One query's memory cap; 0 = the whole query share (a quarter of the budget).
    pub query_memory_bytes: usize,
    pub limits: Limits,
}

/// Per-tenant and per-stream limits (Loki's names in brackets). Rates are bytes of encoded
/// records per second with a burst; 0 disables a rate limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Streams a tenant may have in the head at once [max_global_streams_per_user].
    pub max_streams_per_tenant: usize,
    pub max_labels_per_stream: usize,
    /// Longest label name or value.
    pub max_label_bytes: usize,
    /// Largest encoded record (attributes + body).
    pub max_record_bytes: usize,
    /// Largest batch in one append.
    pub max_batch_bytes: usize,
    /// [ingestion_rate_mb] / [ingestion_burst_size_mb]
    pub tenant_bytes_per_sec: u64,
    pub tenant_burst_bytes: u64,
    /// [per_stream_rate_limit] / [per_stream_rate_limit_burst]
    pub stream_bytes_per_sec: u64,
    pub stream_burst_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_streams_per_tenant: 10_000,
            max_labels_per_stream: 32,
            max_label_bytes: 1024,
            max_record_bytes: 256 * 1024,
            max_batch_bytes: 4 * MIB,
            tenant_bytes_per_sec: 0,
            tenant_burst_bytes: 0,
            stream_bytes_per_sec: 0,
            stream_burst_bytes: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            memory_budget_bytes: 64 * MIB,
            retention_age_secs: 7 * 86_400,
            retention_bytes: 0,
            block_target_bytes: 64 * MIB,
            max_block_span_secs: 3_600,
            chunk_target_bytes: 256 * 1024,
            zstd_level: 3,
            bloom_bits_per_token: 16,
            fsync_window_micros: 200,
            flush_interval_secs: 300,
            maintenance_interval_secs: 30,
            backpressure_timeout_ms: 10_000,
            query_memory_bytes: 0,
            limits: Limits::default(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        let fail = |m: String| Err(Error::Config(m));
        if self.memory_budget_bytes < 4 * MIB {
            return fail(format!(
                "memory_budget_bytes = {}: at least 4 MiB",
                self.memory_budget_bytes
            ));
        }
        if self.limits.max_batch_bytes > self.ingest_budget() / 2 {
            return fail(format!(
                "limits.max_batch_bytes = {} exceeds half the ingestion share ({} of memory_budget_bytes)",
                self.limits.max_batch_bytes,
                self.ingest_budget()
            ));
        }
        if self.limits.max_record_bytes > self.limits.max_batch_bytes {
            return fail("limits.max_record_bytes exceeds limits.max_batch_bytes".to_owned());
        }
        if !(4096..=8 * MIB).contains(&self.chunk_target_bytes) {
            return fail(format!(
                "chunk_target_bytes = {}: between 4 KiB and 8 MiB",
                self.chunk_target_bytes
            ));
        }
        if self.block_target_bytes < self.chunk_target_bytes {
            return fail("block_target_bytes is smaller than chunk_target_bytes".to_owned());
        }
        if self.max_block_span_secs == 0 {
            return fail("max_block_span_secs must be > 0".to_owned());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return fail(format!("zstd_level = {}: 1..=22", self.zstd_level));
        }
        if !(4..=64).contains(&self.bloom_bits_per_token) {
            return fail(format!(
                "bloom_bits_per_token = {}: 4..=64",
                self.bloom_bits_per_token
            ));
        }
        if self.flush_interval_secs == 0 || self.maintenance_interval_secs == 0 {
            return fail(
                "flush_interval_secs and maintenance_interval_secs must be > 0".to_owned(),
            );
        }
        if self.query_memory_bytes > self.query_budget() {
            return fail(format!(
                "query_memory_bytes = {} exceeds the query share ({})",
                self.query_memory_bytes,
                self.query_budget()
            ));
        }
        Ok(())
    }

    /// Head (unflushed records, active and frozen) plus appends in flight.
    pub(crate) fn ingest_budget(&self) -> usize {
        self.memory_budget_bytes / 2
    }

    /// Shared by all running queries.
    pub(crate) fn query_budget(&self) -> usize {
        self.memory_budget_bytes / 4
    }

    pub(crate) fn per_query_budget(&self) -> usize {
        if self.query_memory_bytes == 0 {
            self.query_budget()
        } else {
            self.query_memory_bytes
        }
    }

    /// The active head is frozen (and flushed by the maintenance thread) at this size, so up to
    /// three heads fit in the ingestion share while the flusher catches up.
    pub(crate) fn head_cut_bytes(&self) -> usize {
        (self.ingest_budget() / 3).min(self.block_target_bytes)
    }

    pub(crate) fn max_block_span_ns(&self) -> i64 {
        i64::try_from(self.max_block_span_secs.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX)
    }

    pub(crate) fn fsync_window(&self) -> Duration {
        Duration::from_micros(self.fsync_window_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn tiny_budget_is_refused_with_its_key() {
        let c = Config {
            memory_budget_bytes: 1024,
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("memory_budget_bytes"), "{e}");
    }
}
