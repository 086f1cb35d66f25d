//! Writing blocks: `BlockBuilder` takes records stream by stream (a flush), copies chunks
//! and filters of other blocks verbatim (compaction), re-encodes small chunks of other blocks
//! into full ones (compaction, `builder/rechunk.rs`), or copies a block without the records
//! a purge drops (`builder/rewrite.rs`). The layout it writes is in `block.rs`.
//!
//! Invariants: a chunk holds one stream's records in time order; every chunk gets its own
//! filter, and a group filter covers only chunks whose tokens it was built from; nothing is
//! visible until `finish` commits.

use std::sync::Arc;

use super::{
    BlockMeta, BlockSource, BlockWrite, ChunkMeta, FOOTER, FORMAT, GroupBloom, MAGIC, StreamMeta,
    Table, encode_summary, encode_table, read_at,
};
use crate::bloom::{self, BLOOM_BLOCK};
use crate::codec::{self, RecordRef};
use crate::error::{Error, Result, corrupt};
use crate::model::Labels;

mod rechunk;
mod rewrite;

pub(crate) use rechunk::{plan as rechunk_plan, worth_it as worth_rechunking};
pub(crate) use rewrite::Cut;

/// Writes a block as its records come, stream by stream, each stream in time order.
pub(crate) struct BlockBuilder {
    w: Box<dyn BlockWrite>,
    pos: u64,
    meta: BlockMeta,
    chunks: Vec<ChunkMeta>,
    comp: zstd::bulk::Compressor<'static>,
    chunk_target: usize,
    bloom_bits: u32,
    group_bits: u32,
    groups: Vec<GroupBloom>,
    /// the stream new records go to (an index into `meta.streams`)
    cur_stream: u32,
    /// distinct tokens of every chunk since `group_start` (for the group filter)
    group_hashes: Vec<u64>,
    group_start: u32,
    // the chunk being filled: its time deltas and its attrs and bodies (columnar), and the
    // buffer they are joined in to be compressed
    times: Vec<u8>,
    raw: Vec<u8>,
    joined: Vec<u8>,
    hashes: Vec<u64>,
    prev_t: i64,
    cmin: i64,
    cmax: i64,
    ccount: u32,
}

impl BlockBuilder {
    pub(crate) fn new(
        mut w: Box<dyn BlockWrite>,
        id: u64,
        tenant: &str,
        gen_: u64,
        replaces: Vec<u64>,
        cfg: &crate::Config,
    ) -> Result<Self> {
        w.append(MAGIC)?;
        let comp = zstd::bulk::Compressor::new(cfg.zstd_level)
            .map_err(|e| Error::Config(format!("zstd_level: {e}")))?;
        Ok(BlockBuilder {
            w,
            pos: MAGIC.len() as u64,
            meta: BlockMeta {
                id,
                tenant: tenant.to_owned(),
                gen_,
                min_t: i64::MAX,
                max_t: i64::MIN,
                records: 0,
                raw_bytes: 0,
                disk_bytes: 0,
                replaces,
                streams: Vec::new(),
                table_off: 0,
                table_len: 0,
                table_crc: 0,
                format: FORMAT,
            },
            chunks: Vec::new(),
            comp,
            chunk_target: cfg.chunk_target_bytes,
            bloom_bits: cfg.bloom_bits_per_token,
            group_bits: (cfg.bloom_bits_per_token / 2).max(4),
            groups: Vec::new(),
            cur_stream: 0,
            group_hashes: Vec::new(),
            group_start: 0,
            times: Vec::new(),
            raw: Vec::with_capacity(cfg.chunk_target_bytes + 4096),
            joined: Vec::new(),
            hashes: Vec::new(),
            prev_t: 0,
            cmin: i64::MAX,
            cmax: i64::MIN,
            ccount: 0,
        })
    }

    /// Starts the next stream; the caller pushes at least one record or chunk into it.
    pub(crate) fn begin_stream(&mut self, labels: Arc<Labels>) -> Result<()> {
        self.end_chunk()?;
        self.meta.streams.push(StreamMeta {
            labels,
            min_t: i64::MAX,
            max_t: i64::MIN,
            records: 0,
        });
        self.cur_stream = (self.meta.streams.len() - 1) as u32;
        Ok(())
    }

    /// Adds a record to the current stream; records must come in time order.
    pub(crate) fn push(&mut self, rec: RecordRef<'_>) -> Result<()> {
        if self.ccount == 0 {
            self.prev_t = 0;
        }
        codec::put_ivarint(&mut self.times, rec.time_ns.wrapping_sub(self.prev_t));
        self.raw.extend_from_slice(rec.rest);
        self.prev_t = rec.time_ns;
        record_hashes(rec, &mut self.hashes)?;
        self.cmin = self.cmin.min(rec.time_ns);
        self.cmax = self.cmax.max(rec.time_ns);
        self.ccount += 1;
        if self.times.len() + self.raw.len() >= self.chunk_target {
            self.end_chunk()?;
        }
        Ok(())
    }

    fn end_chunk(&mut self) -> Result<()> {
        if self.ccount == 0 {
            return Ok(());
        }
        self.joined.clear();
        codec::put_uvarint(&mut self.joined, u64::from(self.ccount));
        self.joined.extend_from_slice(&self.times);
        self.joined.extend_from_slice(&self.raw);
        let z = self
            .comp
            .compress(&self.joined)
            .map_err(|e| Error::Config(format!("zstd: {e}")))?;
        let (bloom, nblocks) = bloom::build(&mut self.hashes, self.bloom_bits);
        self.group_hashes.extend_from_slice(&self.hashes);
        let c = ChunkMeta {
            stream: self.cur_stream,
            min_t: self.cmin,
            max_t: self.cmax,
            records: self.ccount,
            offset: self.pos,
            len: z.len() as u32,
            raw_len: self.joined.len() as u32,
            crc: crc32fast::hash(&z),
            bloom_blocks: nblocks,
            grams: true,
            columnar: true,
        };
        self.w.append(&z)?;
        self.w.append(&bloom)?;
        self.pos = c.end();
        self.add_chunk(c);
        self.times.clear();
        self.raw.clear();
        self.hashes.clear();
        self.cmin = i64::MAX;
        self.cmax = i64::MIN;
        self.ccount = 0;
        Ok(())
    }

    fn add_chunk(&mut self, c: ChunkMeta) {
        if let Some(s) = self.meta.streams.get_mut(c.stream as usize) {
            s.min_t = s.min_t.min(c.min_t);
            s.max_t = s.max_t.max(c.max_t);
            s.records += u64::from(c.records);
        }
        self.meta.min_t = self.meta.min_t.min(c.min_t);
        self.meta.max_t = self.meta.max_t.max(c.max_t);
        self.meta.records += u64::from(c.records);
        self.meta.raw_bytes += u64::from(c.raw_len);
        self.chunks.push(c);
    }

    /// Writes the group filter of the chunks built since the last group.
    fn end_group(&mut self) -> Result<()> {
        self.end_chunk()?;
        let end = self.chunks.len() as u32;
        if end > self.group_start && !self.group_hashes.is_empty() {
            let (bloom, blocks) = bloom::build(&mut self.group_hashes, self.group_bits);
            self.w.append(&bloom)?;
            self.groups.push(GroupBloom {
                first: self.group_start,
                end,
                offset: self.pos,
                blocks,
                grams: true,
            });
            self.pos += bloom.len() as u64;
        }
        self.group_hashes = Vec::new();
        self.group_start = end;
        Ok(())
    }

    /// Compaction: the output's streams, all at once (chunks are then copied input by input).
    pub(crate) fn preset_streams(&mut self, labels: &[Arc<Labels>]) {
        for l in labels {
            self.meta.streams.push(StreamMeta {
                labels: l.clone(),
                min_t: i64::MAX,
                max_t: i64::MIN,
                records: 0,
            });
        }
    }

    /// Compaction: copies a block's chunks (with their filters) and its group filters
    /// without recompressing; `stream_map` maps its stream indexes to the output's.
    pub(crate) fn copy_block(
        &mut self,
        src: &dyn BlockSource,
        table: &Table,
        stream_map: &[u32],
    ) -> Result<()> {
        self.end_group()?;
        let base = self.chunks.len() as u32;
        for c in &table.chunks {
            let stream = *stream_map
                .get(c.stream as usize)
                .ok_or(corrupt("chunk stream index"))?;
            self.copy_chunk(src, c, stream)?;
        }
        for g in &table.groups {
            self.copy_group(src, g, base + g.first)?;
        }
        self.group_start = self.chunks.len() as u32;
        Ok(())
    }

    /// Copies one chunk and its filter byte for byte (checking its CRC) into `stream`. No
    /// chunk may be open.
    fn copy_chunk(&mut self, src: &dyn BlockSource, c: &ChunkMeta, stream: u32) -> Result<()> {
        let bytes = read_at(src, c.offset, (c.end() - c.offset) as usize)?;
        if crc32fast::hash(&bytes[..c.len as usize]) != c.crc {
            return Err(corrupt("chunk CRC"));
        }
        self.w.append(&bytes)?;
        let mut n = *c;
        n.stream = stream;
        n.offset = self.pos;
        self.pos = n.end();
        self.add_chunk(n);
        Ok(())
    }

    /// Copies a group filter byte for byte, for the copied chunks from output index `first`.
    fn copy_group(&mut self, src: &dyn BlockSource, g: &GroupBloom, first: u32) -> Result<()> {
        let bytes = read_at(src, g.offset, g.blocks as usize * BLOOM_BLOCK)?;
        self.w.append(&bytes)?;
        self.groups.push(GroupBloom {
            first,
            end: first + (g.end - g.first),
            offset: self.pos,
            blocks: g.blocks,
            grams: g.grams,
        });
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Writes table, summary and footer, commits; returns the block's summary. Streams that
    /// got no record (a purge emptied them) are left out of the summary.
    pub(crate) fn finish(mut self) -> Result<BlockMeta> {
        self.end_group()?;
        self.drop_empty_streams();
        let table = encode_table(&self.chunks, &self.groups);
        let summary = encode_summary(&self.meta);
        let table_off = self.pos;
        let sum_off = table_off + table.len() as u64;
        let mut foot = Vec::with_capacity(FOOTER);
        foot.extend_from_slice(&table_off.to_le_bytes());
        foot.extend_from_slice(&(table.len() as u32).to_le_bytes());
        foot.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
        foot.extend_from_slice(&sum_off.to_le_bytes());
        foot.extend_from_slice(&(summary.len() as u32).to_le_bytes());
        foot.extend_from_slice(&crc32fast::hash(&summary).to_le_bytes());
        foot.extend_from_slice(MAGIC);
        self.w.append(&table)?;
        self.w.append(&summary)?;
        self.w.append(&foot)?;
        self.w.commit()?;
        self.meta.table_off = table_off;
        self.meta.table_len = table.len() as u32;
        self.meta.table_crc = crc32fast::hash(&table);
        self.meta.disk_bytes = sum_off + summary.len() as u64 + FOOTER as u64;
        Ok(self.meta)
    }
}

/// What a chunk's filter indexes for one record: the tokens and minimizers of the attribute
/// values and the body, and each attribute value whole.
fn record_hashes(rec: RecordRef<'_>, out: &mut Vec<u64>) -> Result<()> {
    rec.for_each_text(|text, is_attr| {
        bloom::for_each_token(text, |h| out.push(h));
        if is_attr {
            out.push(bloom::value_hash(text));
        }
    })
}
