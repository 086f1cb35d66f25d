//! opshelf's event store: append-mostly, time-ordered records (spans, log lines, analytics
//! hits, audit events) in one embedded library, shared by every capability that ingests
//! events. No HTTP and no knowledge of OTLP, Loki or Matomo shapes: callers append
//! `Record`s (time, attributes, body) to a stream (`tenant` + `Labels`) and read them back.
//!
//! # Map
//! - `store.rs` — `EventStore`: `append` (async) / `append_blocking`, `query`,
//!   `lookup_token`, `query_stream`, `flush`, `purge`, `run_maintenance`, `stats`, `close`. Owns two
//!   threads: the WAL writer (group commit: the queued batches are written and fsynced once,
//!   then inserted into the head, then acknowledged through oneshot channels — callers never
//!   block a runtime thread) and the maintenance thread, whose work is `maintenance.rs`
//!   (frozen head → blocks, compaction, retention).
//! - `purge.rs` — `purge`: the records of a delete request removed from disk, each touched
//!   block rewritten without them (`block/builder/rewrite.rs`) or deleted.
//! - `wal.rs` — segments of `len | crc32 | payload` frames; replay cuts a torn tail.
//! - `head.rs` — acknowledged records not yet in a block, per stream, in 64 KiB chunks.
//! - `block.rs` — block files: zstd chunks of one stream each, a bloom filter per chunk,
//!   a chunk table and a summary (tenant, time bounds, stream labels) behind a footer.
//!   `block/builder.rs` writes them (`BlockBuilder`: a flush's records, compaction's copies,
//!   or, when a run's chunks are small, their records re-encoded into full chunks:
//!   `block/builder/rechunk.rs`).
//! - `bloom.rs` — tokenizer and blocked (64-byte) bloom filters, one per chunk and one per
//!   flushed group of chunks: a needle costs one 64-byte `pread` per group, then one per chunk
//!   of the groups that hit, so filters never need to be in memory.
//! - `query.rs` — the lazy k-way merge that streams results in time order.
//! - `listing.rs` — `streams` (label sets with data in a range, from summaries and heads, no
//!   I/O) and `admits_stream` (the stream limit, asked before writing).
//! - `location.rs` — the `BlockStore` trait and `LocalDir` (`<data_dir>/blocks`).
//! - `budget.rs`, `limits.rs` — the memory budget (back-pressure, query caps) and rate limits.
//!
//! # Durability
//! A batch is acknowledged only after its WAL frame is fsynced. The head is cut into blocks
//! that are written to a temporary name, fsynced, renamed and the directory fsynced; then the
//! flushed WAL generation is recorded (same dance) and older segments are deleted. On open,
//! blocks newer than the recorded generation (an interrupted flush) and blocks replaced by a
//! compaction or purge output are deleted, and the newer WAL segments are replayed. `kill -9` at any
//! point loses no acknowledged record and duplicates none (`tests/crash.rs`).
//!
//! # Memory
//! `memory_budget_bytes` (64 MiB): half for the head and appends in flight (appends wait up
//! to `backpressure_timeout_ms`, then `Overloaded` → 429/503 with `Retry-After`), a quarter
//! for queries (each resident chunk, cursor and pending entry is charged; a query that needs
//! more than its share ends with `QueryMemory`, after the hits it already yielded; one that
//! fits but finds the share held by concurrent queries waits 250 ms, then ends with the
//! transient `QueryBusy` → 503/429 with `Retry-After`), the rest
//! for fixed overheads (zstd contexts, block summaries, the flush's sort buffer). A block's
//! chunk table is kept once read (a few bytes per chunk); filters are not cached: they are
//! re-read with `pread` and the OS page cache keeps the hot ones. `flush`, `close` and iterating a `QueryIter` block: call them from a plain
//! thread or `spawn_blocking` (`append` and `query_stream` are the async entry points).
//!
//! # Several nodes: object storage + PostgreSQL (not built yet)
//! Blocks are immutable and self-describing, so sharing them is a new `BlockStore`, not a new
//! engine. An `ObjectStore` implementation writes each block with a multipart upload to
//! `s3://bucket/<tenant>/<id>.blk` and `commit`s by inserting the block's summary into a
//! PostgreSQL table `eventstore_blocks(id, tenant, min_t, max_t, gen, node, bytes, streams
//! jsonb, replaces bigint[], state)` in the same transaction that records the node's flushed
//! WAL generation (`eventstore_nodes(node, flushed_gen)`); `load` is a `SELECT` of committed
//! rows, `open` returns a `BlockSource` doing ranged GETs (footer, table, 64-byte bloom probes,
//! chunks — the same reads as `pread` today, with a small LRU of tables and bloom pages inside
//! the cache share of the budget), `remove` marks the row deleted and a janitor deletes the
//! object after a grace period longer than the longest query. Block ids become node-scoped
//! (`node << 48 | seq`). Each ingesting node keeps its own local WAL and head (clients
//! spread by tenant or stream hash); readers query PostgreSQL for blocks overlapping the range
//! (`WHERE tenant = $1 AND max_t >= $2 AND min_t < $3`, a GiST/btree index on the bounds)
//! instead of the in-memory list, and ask the ingesting nodes for their heads. Compaction and
//! retention run on one node at a time under a PostgreSQL advisory lock, the way core's
//! storage serializes writers; a compaction commits its output row and marks its inputs
//! replaced in one transaction, which is what `replaces` does for one machine today.

mod block;
mod bloom;
mod budget;
mod codec;
mod config;
mod error;
mod head;
mod limits;
mod listing;
mod location;
mod maintenance;
mod model;
mod purge;
mod query;
mod store;
mod wal;

pub use block::{Block, BlockMeta, BlockSource, BlockWrite, StreamMeta};
pub use config::{Config, Limits};
pub use error::{Error, Result};
pub use listing::StreamSummary;
pub use location::{BlockStore, LocalDir};
pub use model::{Ack, Direction, Hit, Labels, MatchOp, Matcher, Query, Record};
pub use purge::PurgeStats;
pub use query::QueryIter;
pub use store::{EventStore, Recovery, Stats};

/// Entry points for the cargo-fuzz targets (`fuzz/`); not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes a WAL segment frame by frame; returns the valid prefix length.
    pub fn wal_segment(bytes: &[u8]) -> usize {
        crate::wal::decode_segment(bytes, |b| {
            for r in crate::codec::read_records(b.records) {
                r?.to_record()?;
            }
            Ok(())
        })
        .unwrap_or(0)
    }

    /// Decodes a whole block held in memory: footer, summary, table, blooms, chunks.
    pub fn block(bytes: &[u8]) -> bool {
        crate::block::decode_all(bytes.to_vec()).is_ok()
    }

    /// A valid block to mutate (random bytes rarely get past the magic and the CRCs).
    pub fn sample_block() -> Vec<u8> {
        crate::block::sample_block(40).unwrap_or_default()
    }

    /// A valid WAL segment of three frames.
    pub fn sample_wal() -> Vec<u8> {
        let labels = crate::Labels::new([("service", "api"), ("env", "prod")]);
        let mut seg = Vec::new();
        for i in 0..3 {
            let recs = [
                crate::Record::new(i, format!("GET /x/{i} trace=4bf92f35")).with_attr("k", "v"),
                crate::Record::new(i + 9, "second"),
            ];
            seg.extend_from_slice(&crate::wal::encode("tenant", &labels, &recs).bytes);
        }
        seg
    }

    /// `base` with fuzz-chosen damage: each 3 input bytes XOR one byte (16-bit offset);
    /// a trailing byte truncates at that fraction of the length.
    pub fn mangle(base: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = base.to_vec();
        if out.is_empty() {
            return out;
        }
        let mut it = data.chunks_exact(3);
        for c in it.by_ref() {
            let at = usize::from(u16::from_le_bytes([c[0], c[1]])) % out.len();
            out[at] ^= c[2];
        }
        if let [t] = it.remainder() {
            out.truncate(out.len() * usize::from(*t) / 255);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    /// The fuzz targets' inputs, on stable: random damage to a valid WAL segment and block.
    #[test]
    fn fuzz_stand_in_random_damage_never_panics() {
        let wal = crate::fuzzing::sample_wal();
        let block = crate::fuzzing::sample_block();
        assert_eq!(crate::fuzzing::wal_segment(&wal), wal.len());
        assert!(crate::fuzzing::block(&block));
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0..2000 {
            let data: Vec<u8> = (0..(round % 13) * 3 + round % 2)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let w = crate::fuzzing::mangle(&wal, &data);
            assert!(crate::fuzzing::wal_segment(&w) <= w.len());
            let _ = crate::fuzzing::block(&crate::fuzzing::mangle(&block, &data));
            let _ = crate::fuzzing::wal_segment(&data);
            let _ = crate::fuzzing::block(&data);
        }
    }
}
