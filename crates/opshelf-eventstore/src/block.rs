//! Block files: the immutable, compressed unit of storage.
//!
//! ```text
//! "OSEVBLK1"                                   8-byte magic
//! chunk 0 (zstd frame) | chunk 0 bloom (n×64 B) | chunk 1 | bloom 1 | ... | group bloom
//! chunk table     (varints; CRC in the footer)  one entry per chunk: stream, time bounds,
//!                                               records, offset, lengths, CRC, bloom blocks;
//!                                               then the bloom groups: chunk range, offset
//! summary         (varints; CRC in the footer)  id, tenant, generation, time bounds, counts,
//!                                               replaced block ids, streams (labels + bounds)
//! footer          table off/len/crc, summary off/len/crc, "OSEVBLK1"   (40 bytes)
//! ```
//! A chunk holds one stream's records in time order, about `chunk_target_bytes` before
//! compression: the record count, every record's time delta, then every record's attrs and
//! body (a "columnar" chunk; the time deltas are the noisy bytes, and zstd finds the
//! repeats between lines better without them in between: ~2% smaller on `bench/logs`), or,
//! in blocks before format 3, `time delta, attrs, body` record after record. A group bloom covers every token of the chunks
//! one flush wrote (half the bits per token of a chunk filter). Compaction copies chunks,
//! chunk filters and group filters verbatim, so a compacted block has one group per input;
//! when the inputs' chunks are small it re-encodes their records into full chunks instead,
//! with fresh filters (`builder/rechunk.rs`).
//! Opening a block reads only the footer and the summary (kept in memory: what selects blocks
//! by tenant, time and labels); a query reads the table, then for a needle 64 bytes per group
//! and per chunk of the groups that hit, then only the chunks that may hold it.
//! Every decoder checks lengths, offsets and CRCs: a mangled file is `Corrupt`, never a panic.
//!
//! Format versions (the summary's first varint): 1, the first; 2 adds a flags varint after
//! each chunk's and each group's bloom length (bit 0: the filter indexes minimizers, see
//! `bloom.rs`). Version 1 filters have no minimizers, so gram probes are skipped on them;
//! compaction keeps each copied filter's flag. 3 adds chunk flag bit 1: the chunk is
//! columnar (every chunk this code writes is; copied chunks keep their layout).

use std::sync::{Arc, Mutex, PoisonError};

use crate::bloom::{self, BLOOM_BLOCK, NeedleProbe};
use crate::codec::{self, Reader, RecordRef};
use crate::error::{Error, Result, corrupt};
use crate::model::{Labels, Record};

pub(crate) const MAGIC: &[u8; 8] = b"OSEVBLK1";
pub(crate) const FOOTER: usize = 40;
/// Largest uncompressed chunk a decoder accepts (a chunk is cut after the record that
/// crosses `chunk_target_bytes`, and one record is at most `max_record_bytes`).
pub(crate) const MAX_CHUNK_RAW: usize = 32 << 20;
/// The format this code writes (the summary version); it reads 1 to 3.
const FORMAT: u64 = 3;
/// Chunk and group flag: the filter indexes minimizers (substring probes).
const FLAG_GRAMS: u64 = 1;
/// Chunk flag (format 3): times first, then attrs and bodies.
const FLAG_COLUMNAR: u64 = 2;
const MAX_SECTION: usize = 64 << 20;

/// Random-access bytes of one block (a local file, an object-store range reader, a buffer).
pub trait BlockSource: Send + Sync {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl BlockSource for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl BlockSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Where a builder's bytes go; `commit` makes the block durable and visible to `load`.
pub trait BlockWrite: Send {
    fn append(&mut self, bytes: &[u8]) -> Result<()>;
    fn commit(self: Box<Self>) -> Result<()>;
    /// Gives the block up (a purge that left it empty or unchanged): nothing becomes visible,
    /// and what was appended should go. The default leaves it to the next `load` to clean.
    fn abort(self: Box<Self>) {}
}

/// A stream inside a block.
#[derive(Debug, Clone)]
pub struct StreamMeta {
    pub labels: Arc<Labels>,
    pub min_t: i64,
    pub max_t: i64,
    pub records: u64,
}

/// A block's summary: what the in-memory index holds for every block.
#[derive(Debug, Clone)]
pub struct BlockMeta {
    pub id: u64,
    pub tenant: String,
    /// The WAL generation whose flush wrote it (for compaction output: the newest input's).
    pub gen_: u64,
    pub min_t: i64,
    pub max_t: i64,
    pub records: u64,
    pub raw_bytes: u64,
    pub disk_bytes: u64,
    /// Blocks this one was compacted from (deleted at open if a crash left them behind).
    pub replaces: Vec<u64>,
    pub streams: Vec<StreamMeta>,
    pub(crate) table_off: u64,
    pub(crate) table_len: u32,
    pub(crate) table_crc: u32,
    /// The format version read from the summary (1 or 2).
    pub(crate) format: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkMeta {
    pub stream: u32,
    pub min_t: i64,
    pub max_t: i64,
    pub records: u32,
    pub offset: u64,
    pub len: u32,
    pub raw_len: u32,
    pub crc: u32,
    pub bloom_blocks: u32,
    /// The chunk's filter indexes minimizers.
    pub grams: bool,
    /// The chunk's records are laid out columnar (see the module docs).
    pub columnar: bool,
}

impl ChunkMeta {
    fn bloom_off(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
    fn end(&self) -> u64 {
        self.bloom_off() + u64::from(self.bloom_blocks) * BLOOM_BLOCK as u64
    }
}

/// A bloom filter over every token of a run of chunks (`first..end` in the table): one per
/// flushed head; a compacted block keeps the groups of its inputs, or has new ones when its
/// chunks were re-encoded. A needle probes the
/// groups first (a few 64-byte reads per block), then the chunk filters of the groups that hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupBloom {
    pub first: u32,
    pub end: u32,
    pub offset: u64,
    pub blocks: u32,
    /// The group's filter indexes minimizers.
    pub grams: bool,
}

/// A block's chunk table and bloom groups.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub chunks: Vec<ChunkMeta>,
    pub groups: Vec<GroupBloom>,
}

impl Table {
    /// Which chunks may hold the needle according to the group filters (a chunk outside every
    /// group is kept).
    pub(crate) fn chunks_passing(
        &self,
        src: &dyn BlockSource,
        probe: &NeedleProbe,
    ) -> Result<Vec<bool>> {
        let n = self.chunks.len();
        let mut covered = vec![false; n];
        let mut pass = vec![false; n];
        for g in &self.groups {
            let hit = may_contain(src, g.offset, g.blocks, g.grams, probe)?;
            for i in g.first as usize..(g.end as usize).min(n) {
                covered[i] = true;
                pass[i] |= hit;
            }
        }
        for i in 0..n {
            pass[i] |= !covered[i];
        }
        Ok(pass)
    }
}

/// A block the store can read: summary plus its bytes.
pub struct Block {
    pub meta: BlockMeta,
    pub(crate) src: Arc<dyn BlockSource>,
    /// The chunk table, read and checked on first use and kept: every query that reaches the
    /// block needs it (a few bytes per chunk), and reading it again per query was most of a
    /// trace-by-id lookup.
    table: std::sync::OnceLock<Arc<Table>>,
}

impl Block {
    pub(crate) fn new(meta: BlockMeta, src: Arc<dyn BlockSource>) -> Self {
        Block {
            meta,
            src,
            table: std::sync::OnceLock::new(),
        }
    }

    /// The chunk table (cached after the first successful read).
    pub(crate) fn table(&self) -> Result<Arc<Table>> {
        if let Some(t) = self.table.get() {
            return Ok(t.clone());
        }
        let t = Arc::new(read_table(&self.meta, self.src.as_ref())?);
        Ok(self.table.get_or_init(|| t).clone())
    }
}

fn read_at(src: &dyn BlockSource, off: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    src.read_exact_at(&mut buf, off)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt("block section past the end of the file"),
            _ => Error::Io {
                path: "block".to_owned(),
                source: e,
            },
        })?;
    Ok(buf)
}

/// Reads and checks the footer and summary.
pub(crate) fn read_meta(src: &dyn BlockSource) -> Result<BlockMeta> {
    let len = src.len();
    if len < (MAGIC.len() + FOOTER) as u64 {
        return Err(corrupt("block shorter than its footer"));
    }
    let head = read_at(src, 0, MAGIC.len())?;
    if head != MAGIC {
        return Err(corrupt("block magic"));
    }
    let foot = read_at(src, len - FOOTER as u64, FOOTER)?;
    let mut r = Reader::new(&foot);
    let table_off = r.u64_le()?;
    let table_len = r.u32_le()?;
    let table_crc = r.u32_le()?;
    let sum_off = r.u64_le()?;
    let sum_len = r.u32_le()?;
    let sum_crc = r.u32_le()?;
    if r.fixed::<8>()? != *MAGIC {
        return Err(corrupt("block footer magic"));
    }
    let body_end = len - FOOTER as u64;
    let in_file = |off: u64, l: u32| {
        off >= MAGIC.len() as u64
            && (l as usize) <= MAX_SECTION
            && off.checked_add(u64::from(l)).is_some_and(|e| e <= body_end)
    };
    if !in_file(table_off, table_len) || !in_file(sum_off, sum_len) {
        return Err(corrupt("block section bounds"));
    }
    let sum = read_at(src, sum_off, sum_len as usize)?;
    if crc32fast::hash(&sum) != sum_crc {
        return Err(corrupt("block summary CRC"));
    }
    let mut m = decode_summary(&sum)?;
    m.disk_bytes = len;
    m.table_off = table_off;
    m.table_len = table_len;
    m.table_crc = table_crc;
    Ok(m)
}

fn decode_summary(b: &[u8]) -> Result<BlockMeta> {
    let mut r = Reader::new(b);
    let format = r.uvarint()?;
    if !(1..=FORMAT).contains(&format) {
        return Err(corrupt("block summary version"));
    }
    let id = r.uvarint()?;
    let tenant = r.str()?.to_owned();
    let gen_ = r.uvarint()?;
    let min_t = r.ivarint()?;
    let max_t = r.ivarint()?;
    let records = r.uvarint()?;
    let raw_bytes = r.uvarint()?;
    let n = r.count(1)?;
    let mut replaces = Vec::with_capacity(n);
    for _ in 0..n {
        replaces.push(r.uvarint()?);
    }
    let n = r.count(4)?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = Arc::new(codec::get_labels(&mut r)?);
        let smin = r.ivarint()?;
        let smax = r.ivarint()?;
        let srec = r.uvarint()?;
        if smin > smax || smin < min_t || smax > max_t {
            return Err(corrupt("block stream time bounds"));
        }
        streams.push(StreamMeta {
            labels,
            min_t: smin,
            max_t: smax,
            records: srec,
        });
    }
    if !r.is_empty() || min_t > max_t {
        return Err(corrupt("block summary"));
    }
    Ok(BlockMeta {
        id,
        tenant,
        gen_,
        min_t,
        max_t,
        records,
        raw_bytes,
        disk_bytes: 0,
        replaces,
        streams,
        table_off: 0,
        table_len: 0,
        table_crc: 0,
        format,
    })
}

fn encode_summary(m: &BlockMeta) -> Vec<u8> {
    let mut b = Vec::new();
    codec::put_uvarint(&mut b, FORMAT);
    codec::put_uvarint(&mut b, m.id);
    codec::put_bytes(&mut b, m.tenant.as_bytes());
    codec::put_uvarint(&mut b, m.gen_);
    codec::put_ivarint(&mut b, m.min_t);
    codec::put_ivarint(&mut b, m.max_t);
    codec::put_uvarint(&mut b, m.records);
    codec::put_uvarint(&mut b, m.raw_bytes);
    codec::put_uvarint(&mut b, m.replaces.len() as u64);
    for &id in &m.replaces {
        codec::put_uvarint(&mut b, id);
    }
    codec::put_uvarint(&mut b, m.streams.len() as u64);
    for s in &m.streams {
        codec::put_labels(&mut b, &s.labels);
        codec::put_ivarint(&mut b, s.min_t);
        codec::put_ivarint(&mut b, s.max_t);
        codec::put_uvarint(&mut b, s.records);
    }
    b
}

/// Reads and checks the chunk table.
pub(crate) fn read_table(m: &BlockMeta, src: &dyn BlockSource) -> Result<Table> {
    let b = read_at(src, m.table_off, m.table_len as usize)?;
    if crc32fast::hash(&b) != m.table_crc {
        return Err(corrupt("block chunk table CRC"));
    }
    decode_table(&b, m)
}

fn decode_table(b: &[u8], m: &BlockMeta) -> Result<Table> {
    let mut r = Reader::new(b);
    let flags = |r: &mut Reader<'_>, known: u64| -> Result<u64> {
        if m.format < 2 {
            return Ok(0);
        }
        let f = r.uvarint()?;
        if f & !known != 0 {
            return Err(corrupt("bloom flags"));
        }
        Ok(f)
    };
    let chunk_flags = if m.format >= 3 {
        FLAG_GRAMS | FLAG_COLUMNAR
    } else {
        FLAG_GRAMS
    };
    let n = r.count(12)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = u32::try_from(r.uvarint()?).map_err(|_| corrupt("chunk stream"))?;
        let min_t = r.ivarint()?;
        let span = r.uvarint()?;
        let max_t = i64::try_from(span)
            .ok()
            .and_then(|s| min_t.checked_add(s))
            .ok_or(corrupt("chunk time span"))?;
        let small = |v: u64| u32::try_from(v).map_err(|_| corrupt("chunk field"));
        let records = small(r.uvarint()?)?;
        let offset = r.uvarint()?;
        let len = small(r.uvarint()?)?;
        let raw_len = small(r.uvarint()?)?;
        let crc = r.u32_le()?;
        let bloom_blocks = small(r.uvarint()?)?;
        let f = flags(&mut r, chunk_flags)?;
        let c = ChunkMeta {
            stream,
            min_t,
            max_t,
            records,
            offset,
            len,
            raw_len,
            crc,
            bloom_blocks,
            grams: f & FLAG_GRAMS != 0,
            columnar: f & FLAG_COLUMNAR != 0,
        };
        let Some(s) = m.streams.get(c.stream as usize) else {
            return Err(corrupt("chunk stream index"));
        };
        if c.min_t < s.min_t
            || c.max_t > s.max_t
            || c.offset < MAGIC.len() as u64
            || c.raw_len as usize > MAX_CHUNK_RAW
            || c.records == 0
            || c.bloom_blocks == 0
            || c.offset.checked_add(u64::from(c.len)).is_none()
            || c.end() > m.table_off
        {
            return Err(corrupt("chunk bounds"));
        }
        v.push(c);
    }
    let n = r.count(4)?;
    let mut groups = Vec::with_capacity(n);
    for _ in 0..n {
        let small = |v: u64| u32::try_from(v).map_err(|_| corrupt("bloom group field"));
        let g = GroupBloom {
            first: small(r.uvarint()?)?,
            end: small(r.uvarint()?)?,
            offset: r.uvarint()?,
            blocks: small(r.uvarint()?)?,
            grams: flags(&mut r, FLAG_GRAMS)? != 0,
        };
        let end = u64::from(g.blocks)
            .checked_mul(BLOOM_BLOCK as u64)
            .and_then(|l| g.offset.checked_add(l));
        if g.first > g.end
            || g.end as usize > v.len()
            || g.blocks == 0
            || g.offset < MAGIC.len() as u64
            || end.is_none_or(|e| e > m.table_off)
        {
            return Err(corrupt("bloom group bounds"));
        }
        groups.push(g);
    }
    if !r.is_empty() {
        return Err(corrupt("chunk table trailing bytes"));
    }
    Ok(Table { chunks: v, groups })
}

fn encode_table(chunks: &[ChunkMeta], groups: &[GroupBloom]) -> Vec<u8> {
    let mut b = Vec::with_capacity(chunks.len() * 24 + 4);
    codec::put_uvarint(&mut b, chunks.len() as u64);
    for c in chunks {
        codec::put_uvarint(&mut b, u64::from(c.stream));
        codec::put_ivarint(&mut b, c.min_t);
        codec::put_uvarint(&mut b, c.max_t.wrapping_sub(c.min_t) as u64);
        codec::put_uvarint(&mut b, u64::from(c.records));
        codec::put_uvarint(&mut b, c.offset);
        codec::put_uvarint(&mut b, u64::from(c.len));
        codec::put_uvarint(&mut b, u64::from(c.raw_len));
        b.extend_from_slice(&c.crc.to_le_bytes());
        codec::put_uvarint(&mut b, u64::from(c.bloom_blocks));
        let grams = if c.grams { FLAG_GRAMS } else { 0 };
        let columnar = if c.columnar { FLAG_COLUMNAR } else { 0 };
        codec::put_uvarint(&mut b, grams | columnar);
    }
    codec::put_uvarint(&mut b, groups.len() as u64);
    for g in groups {
        codec::put_uvarint(&mut b, u64::from(g.first));
        codec::put_uvarint(&mut b, u64::from(g.end));
        codec::put_uvarint(&mut b, g.offset);
        codec::put_uvarint(&mut b, u64::from(g.blocks));
        codec::put_uvarint(&mut b, if g.grams { FLAG_GRAMS } else { 0 });
    }
    b
}

/// Could the chunk hold the needle? One 64-byte read per probe.
pub(crate) fn chunk_may_contain(
    src: &dyn BlockSource,
    c: &ChunkMeta,
    probe: &NeedleProbe,
) -> Result<bool> {
    may_contain(src, c.bloom_off(), c.bloom_blocks, c.grams, probe)
}

/// Probes the filter of `nblocks` 64-byte blocks at `off`.
fn may_contain(
    src: &dyn BlockSource,
    off: u64,
    nblocks: u32,
    grams: bool,
    probe: &NeedleProbe,
) -> Result<bool> {
    probe.check(grams, |h| {
        let blk = bloom::block_of(h, nblocks);
        let b = read_at(src, off + u64::from(blk) * BLOOM_BLOCK as u64, BLOOM_BLOCK)?;
        Ok(bloom::block_may_contain(&b, h))
    })
}

/// Reads, checks and decompresses one chunk (the output is capped at its recorded length).
pub(crate) fn read_chunk(
    src: &dyn BlockSource,
    c: &ChunkMeta,
    dec: &mut zstd::bulk::Decompressor<'static>,
) -> Result<Vec<u8>> {
    let z = read_at(src, c.offset, c.len as usize)?;
    if crc32fast::hash(&z) != c.crc {
        return Err(corrupt("chunk CRC"));
    }
    let raw = dec
        .decompress(&z, c.raw_len as usize)
        .map_err(|_| corrupt("chunk zstd frame"))?;
    if raw.len() != c.raw_len as usize {
        return Err(corrupt("chunk length"));
    }
    Ok(raw)
}

/// The records of a decompressed chunk, in time order.
pub(crate) fn chunk_records(
    raw: &[u8],
    columnar: bool,
) -> impl Iterator<Item = Result<RecordRef<'_>>> {
    ChunkRecords::new(raw, columnar)
}

/// Reads a chunk's records: times from `times`, attrs and bodies from `rest` (one reader
/// over the whole chunk for the record-after-record layout).
struct ChunkRecords<'a> {
    times: Reader<'a>,
    rest: Option<Reader<'a>>,
    /// records left to read (columnar)
    left: u64,
    t: i64,
    /// the columnar sections did not parse
    bad: bool,
    /// an error or the end was returned
    done: bool,
}

impl<'a> ChunkRecords<'a> {
    fn new(raw: &'a [u8], columnar: bool) -> Self {
        let mut it = ChunkRecords {
            times: Reader::new(raw),
            rest: None,
            left: 0,
            t: 0,
            bad: false,
            done: false,
        };
        if columnar {
            match Self::split(raw) {
                Ok((n, times, rest)) => {
                    it.times = Reader::new(times);
                    it.rest = Some(Reader::new(rest));
                    it.left = n;
                }
                Err(_) => it.bad = true,
            }
        }
        it
    }

    /// A columnar chunk's record count, its times section and its attrs-and-bodies section.
    fn split(raw: &'a [u8]) -> Result<(u64, &'a [u8], &'a [u8])> {
        let mut r = Reader::new(raw);
        let n = r.uvarint()?;
        if n == 0 || n > r.remaining() as u64 {
            return Err(corrupt("chunk record count"));
        }
        let start = r.pos();
        for _ in 0..n {
            r.ivarint()?;
        }
        let end = r.pos();
        Ok((n, &raw[start..end], &raw[end..]))
    }

    fn step(&mut self) -> Option<Result<RecordRef<'a>>> {
        if self.bad {
            return Some(Err(corrupt("chunk sections")));
        }
        match &self.rest {
            None if self.times.is_empty() => return None,
            Some(rest) if self.left == 0 => {
                return (!rest.is_empty()).then(|| Err(corrupt("chunk bytes after its records")));
            }
            Some(_) => self.left -= 1,
            None => {}
        }
        Some(self.read())
    }

    fn read(&mut self) -> Result<RecordRef<'a>> {
        let d = self.times.ivarint()?;
        self.t = self
            .t
            .checked_add(d)
            .ok_or(corrupt("chunk time overflow"))?;
        let r = match self.rest.as_mut() {
            Some(rest) => rest,
            None => &mut self.times,
        };
        RecordRef::read_rest(r, self.t)
    }
}

impl<'a> Iterator for ChunkRecords<'a> {
    type Item = Result<RecordRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let out = self.step();
        self.done = !matches!(out, Some(Ok(_)));
        out
    }
}

/// A `BlockWrite` into a shared buffer (tests and fuzz seeds).
pub(crate) struct MemWrite(pub Arc<Mutex<Vec<u8>>>);

impl BlockWrite for MemWrite {
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The trace id of record `i` of `sample_block`: 32 well-mixed hex digits.
pub(crate) fn sample_trace_id(i: i64) -> String {
    format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

/// A small valid block: two streams of `n` records, many chunks (tests and fuzz seeds).
pub(crate) fn sample_block(n: i64) -> Result<Vec<u8>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let cfg = crate::Config {
        chunk_target_bytes: 4096,
        ..crate::Config::default()
    };
    let mut b = BlockBuilder::new(Box::new(MemWrite(buf.clone())), 7, "t", 3, vec![], &cfg)?;
    for s in 0..2 {
        b.begin_stream(Arc::new(Labels::new([("s", s.to_string())])))?;
        for i in 0..n {
            let rec = Record::new(i * 1000, format!("line {i} of stream {s} req-{}", i % 7))
                .with_attr("trace_id", sample_trace_id(i * 31 + s));
            let mut e = Vec::new();
            codec::put_record(&mut e, &rec);
            for rr in codec::read_records(&e) {
                b.push(rr?)?;
            }
        }
    }
    b.finish()?;
    let v = buf.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(v)
}

/// Decodes every part of a block held in memory (the fuzz target and the mangling test).
pub(crate) fn decode_all(bytes: Vec<u8>) -> Result<u64> {
    let src: Arc<dyn BlockSource> = Arc::new(bytes);
    let m = read_meta(src.as_ref())?;
    let table = read_table(&m, src.as_ref())?;
    let mut dec = zstd::bulk::Decompressor::new().map_err(|_| corrupt("zstd context"))?;
    let probe = NeedleProbe::delimited("4bf92f3577b34da6a3ce929d0e0e4736");
    table.chunks_passing(src.as_ref(), &probe)?;
    let mut n = 0u64;
    for c in &table.chunks {
        chunk_may_contain(src.as_ref(), c, &probe)?;
        let raw = read_chunk(src.as_ref(), c, &mut dec)?;
        for rec in chunk_records(&raw, c.columnar) {
            rec?.to_record()?;
            n += 1;
        }
    }
    Ok(n)
}

mod builder;
#[cfg(test)]
mod tests;

pub(crate) use builder::{BlockBuilder, Cut, rechunk_plan, worth_rechunking};
