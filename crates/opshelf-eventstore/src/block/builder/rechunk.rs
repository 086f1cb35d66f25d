//! Compaction of small chunks: the records of a run of blocks re-encoded into full chunks.
//!
//! A head is cut every `flush_interval_secs`. A stream that logs a line a second gives that
//! flush a chunk of a few tens of KB, and zstd does much worse on 30 KB than on 256 KB: on
//! `bench/logs` lines at level 7, 0.20 of the record bytes at 32 KB, 0.174 at 256 KB. Copying such
//! chunks verbatim would keep them small for good. So when a run's chunks are small on
//! average, compaction decodes them and pushes their records through `push` again, stream by
//! stream, in time order. That gives new chunks of `chunk_target_bytes`, with fresh chunk
//! and group filters.
//!
//! Invariants:
//! - every record of the inputs is in the output once, each stream's in time order;
//! - this is done only when each stream's input chunks, sorted by time, do not overlap (no
//!   merge needed). Otherwise `plan` returns `None` and compaction copies, as before;
//! - a group filter covers at most `GROUP_HASHES` chunk-distinct tokens, so the memory a
//!   compaction holds stays bounded whatever the block size.

use super::BlockBuilder;
use crate::block::{BlockSource, ChunkMeta, Table, chunk_records, read_chunk};
use crate::error::{Result, corrupt};

/// Token hashes a group filter is built from before the group is closed (8 bytes each).
const GROUP_HASHES: usize = 512 * 1024;

/// One chunk of a compaction input and the output stream it goes to.
pub(crate) struct InputChunk<'a> {
    pub src: &'a dyn BlockSource,
    pub chunk: &'a ChunkMeta,
    pub stream: u32,
}

/// Whether a run is worth re-chunking: its chunks average under half the target.
pub(crate) fn worth_it(tables: &[Table], raw_bytes: u64, chunk_target: usize) -> bool {
    let n: usize = tables.iter().map(|t| t.chunks.len()).sum();
    n > 1 && raw_bytes / (n as u64) < chunk_target as u64 / 2
}

/// The inputs' chunks by output stream, then time, or `None` when some stream's chunks
/// overlap in time (their records would need a merge; compaction then copies).
/// `inputs[i]` is an input's source, table and input-to-output stream map.
pub(crate) fn plan<'a>(
    inputs: &[(&'a dyn BlockSource, &'a Table, &[u32])],
) -> Result<Option<Vec<InputChunk<'a>>>> {
    let mut out = Vec::new();
    for &(src, table, map) in inputs {
        for chunk in &table.chunks {
            let stream = *map
                .get(chunk.stream as usize)
                .ok_or(corrupt("chunk stream index"))?;
            out.push(InputChunk { src, chunk, stream });
        }
    }
    out.sort_by_key(|c| (c.stream, c.chunk.min_t, c.chunk.max_t));
    let overlap = out
        .windows(2)
        .any(|w| w[0].stream == w[1].stream && w[0].chunk.max_t > w[1].chunk.min_t);
    Ok((!overlap).then_some(out))
}

impl BlockBuilder {
    /// Pushes the records of `chunks` (from `plan`) into this builder, whose streams were
    /// preset. The filters are built as `push` builds them.
    pub(crate) fn rechunk(&mut self, chunks: &[InputChunk<'_>]) -> Result<()> {
        let mut dec = zstd::bulk::Decompressor::new().map_err(|_| corrupt("zstd context"))?;
        let mut current = None;
        for c in chunks {
            if current != Some(c.stream) {
                self.select_stream(c.stream)?;
                current = Some(c.stream);
            }
            let raw = read_chunk(c.src, c.chunk, &mut dec)?;
            let mut n = 0u32;
            for rec in chunk_records(&raw, c.chunk.columnar) {
                self.push(rec?)?;
                n += 1;
            }
            if n != c.chunk.records {
                return Err(corrupt("chunk record count"));
            }
            if self.group_hashes.len() >= GROUP_HASHES {
                self.end_group()?;
            }
        }
        Ok(())
    }
}
