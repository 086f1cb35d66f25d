//! Reads: a lazy k-way merge over blocks, chunks and head chunks, in time order.
//!
//! Every source waits in one heap keyed by the earliest time it could yield (a block by its
//! min time, forward; by its max time, backward). Popping a block reads its chunk table and
//! pushes its chunks; popping a chunk checks its bloom (for a needle), decompresses it and
//! turns it into a cursor; popping a cursor yields its next record. So only the chunks that
//! overlap the current position in time are in memory, whatever the range: an aggregation
//! over a month streams with a few chunks resident. Every resident byte is charged to the
//! query's share of the budget; a query that would exceed it ends with `QueryMemory`, one
//! that fits but finds the share held by concurrent queries waits `BUSY_WAIT`, then ends
//! with `QueryBusy`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::block::{self, Block, ChunkMeta};
use crate::bloom::{self, NeedleProbe};
use crate::budget::Budget;
use crate::codec::{self, RecordRef};
use crate::error::{Error, Result, corrupt};
use crate::head::HeadChunk;
use crate::model::{Direction, Hit, Labels, Query, Record};

/// What an unopened heap entry costs (its share of the heap and its metadata).
const ENTRY_COST: usize = 160;
/// How long a query waits for other queries to release the shared share before `QueryBusy`.
pub(crate) const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(250);
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) enum Source {
    Block(Arc<Block>),
    Chunk {
        block: Arc<Block>,
        labels: Arc<Labels>,
        chunk: ChunkMeta,
    },
    Head {
        labels: Arc<Labels>,
        chunk: Arc<HeadChunk>,
    },
}

struct Cursor {
    labels: Arc<Labels>,
    /// in output order, reversed, so `pop` yields the next one
    records: Vec<Record>,
    mem: usize,
}

enum Item {
    Pending(Source),
    Cursor(Cursor),
}

struct Entry {
    key: u64,
    seq: u64,
    item: Item,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.seq) == (o.key, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // BinaryHeap is a max-heap: the smallest key (then the oldest entry) is the greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key.cmp(&self.key).then(o.seq.cmp(&self.seq))
    }
}

/// A query's needle and substring, compiled once: what a record's texts must hold, and the
/// whole-chunk test that skips a chunk without decoding it.
pub(crate) struct TextFilter {
    needle: Option<bloom::Matcher>,
    contains: Option<bloom::Matcher>,
}

impl TextFilter {
    pub(crate) fn new(q: &Query) -> Self {
        let m = |s: &Option<String>| s.as_deref().map(|n| bloom::Matcher::new(n.as_bytes()));
        TextFilter {
            needle: m(&q.needle),
            contains: m(&q.contains),
        }
    }

    /// Could encoded records (a head chunk, a decompressed chunk) hold a hit? Attribute
    /// values and bodies are stored verbatim, so a record can match the needle or the
    /// substring only if the whole chunk contains its bytes: a chunk without them is skipped
    /// without decoding a record (most of a trace lookup's head chunks, a bloom false
    /// positive).
    pub(crate) fn may_hold(&self, raw: &[u8]) -> bool {
        self.needle.as_ref().is_none_or(|m| m.contains(raw))
            && self.contains.as_ref().is_none_or(|m| m.contains(raw))
    }
}

/// The streaming result of a query: an `Iterator` of hits in time order. It does blocking
/// reads (`pread`): iterate it on a blocking thread (`EventStore::query_stream` does).
pub struct QueryIter {
    q: Query,
    probes: Vec<NeedleProbe>,
    text: TextFilter,
    heap: BinaryHeap<Entry>,
    /// The cursor that yielded last, held out of the heap while it would be popped next
    /// anyway (a stream's chunks rarely overlap): a pop and a push fewer per hit. It has the
    /// key and sequence number it would have had in the heap, so the order is the same.
    current: Option<Entry>,
    seq: u64,
    emitted: usize,
    done: bool,
    budget: Arc<Budget>,
    cap: usize,
    held: usize,
    dec: Option<zstd::bulk::Decompressor<'static>>,
}

fn order_key(t: i64, dir: Direction) -> u64 {
    let k = (t as u64) ^ (1 << 63);
    match dir {
        Direction::Forward => k,
        Direction::Backward => !k,
    }
}

impl QueryIter {
    pub(crate) fn new(
        q: Query,
        text: TextFilter,
        sources: Vec<(Source, i64, i64)>,
        budget: Arc<Budget>,
        cap: usize,
        prepaid: usize,
    ) -> Result<Self> {
        let mut probes: Vec<NeedleProbe> = q
            .needle
            .as_deref()
            .map(NeedleProbe::delimited)
            .into_iter()
            .collect();
        probes.extend(
            q.contains
                .as_deref()
                .map(NeedleProbe::substring)
                .filter(|p| !p.is_empty()),
        );
        let mut it = QueryIter {
            q,
            probes,
            text,
            heap: BinaryHeap::new(),
            current: None,
            seq: 0,
            emitted: 0,
            done: false,
            budget,
            cap,
            held: prepaid,
            dec: None,
        };
        for (s, min_t, max_t) in sources {
            it.push_pending(s, min_t, max_t)?;
        }
        Ok(it)
    }

    fn charge(&mut self, n: usize) -> Result<()> {
        if self.held + n > self.cap {
            return Err(Error::QueryMemory { budget: self.cap });
        }
        if !self.budget.try_reserve(n) && !self.budget.reserve_blocking(n, BUSY_WAIT) {
            return Err(Error::QueryBusy {
                retry_after: BUSY_RETRY,
            });
        }
        self.held += n;
        Ok(())
    }

    fn uncharge(&mut self, n: usize) {
        let n = n.min(self.held);
        self.held -= n;
        self.budget.release(n);
    }

    fn push_pending(&mut self, s: Source, min_t: i64, max_t: i64) -> Result<()> {
        self.charge(ENTRY_COST)?;
        let t = match self.q.direction {
            Direction::Forward => min_t,
            Direction::Backward => max_t,
        };
        self.push(order_key(t, self.q.direction), Item::Pending(s));
        Ok(())
    }

    fn push(&mut self, key: u64, item: Item) {
        self.seq += 1;
        self.heap.push(Entry {
            key,
            seq: self.seq,
            item,
        });
    }

    fn in_range(&self, t: i64) -> bool {
        t >= self.q.from_ns && t < self.q.to_ns
    }

    fn keep(&self, rec: &RecordRef<'_>) -> Result<bool> {
        if !self.in_range(rec.time_ns) {
            return Ok(false);
        }
        if let Some(m) = &self.text.needle {
            let mut hit = false;
            rec.for_each_text(|text, is_attr| {
                hit = hit || (is_attr && text == m.needle()) || m.contains_delimited(text);
            })?;
            if !hit {
                return Ok(false);
            }
        }
        if let Some(m) = &self.text.contains {
            let mut hit = false;
            rec.for_each_text(|text, _| {
                hit = hit || m.contains(text);
            })?;
            if !hit {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Opens a pending source: a block into its chunks, a chunk into a cursor.
    fn open(&mut self, s: Source) -> Result<()> {
        match s {
            Source::Block(b) => {
                let table = b.table()?;
                let mut pass: Option<Vec<bool>> = None;
                for p in &self.probes {
                    let now = table.chunks_passing(b.src.as_ref(), p)?;
                    pass = Some(match pass {
                        None => now,
                        Some(prev) => prev.iter().zip(&now).map(|(a, b)| *a && *b).collect(),
                    });
                }
                for (i, &c) in table.chunks.iter().enumerate() {
                    if pass.as_ref().is_some_and(|p| !p[i]) {
                        continue;
                    }
                    if c.max_t < self.q.from_ns || c.min_t >= self.q.to_ns {
                        continue;
                    }
                    let Some(sm) = b.meta.streams.get(c.stream as usize) else {
                        return Err(corrupt("chunk stream index"));
                    };
                    if !self.q.matches_labels(&sm.labels) {
                        continue;
                    }
                    let labels = sm.labels.clone();
                    self.push_pending(
                        Source::Chunk {
                            block: b.clone(),
                            labels,
                            chunk: c,
                        },
                        c.min_t,
                        c.max_t,
                    )?;
                }
            }
            Source::Chunk {
                block,
                labels,
                chunk,
            } => {
                for p in &self.probes {
                    if !block::chunk_may_contain(block.src.as_ref(), &chunk, p)? {
                        return Ok(());
                    }
                }
                let raw_cost = chunk.raw_len as usize + chunk.len as usize;
                self.charge(raw_cost)?;
                if self.dec.is_none() {
                    self.dec =
                        Some(zstd::bulk::Decompressor::new().map_err(|_| corrupt("zstd context"))?);
                }
                let dec = self.dec.as_mut().ok_or(corrupt("zstd context"))?;
                let raw = block::read_chunk(block.src.as_ref(), &chunk, dec);
                let raw = match raw {
                    Ok(r) => r,
                    Err(e) => {
                        self.uncharge(raw_cost);
                        return Err(e);
                    }
                };
                let records = if self.text.may_hold(&raw) {
                    self.decode(block::chunk_records(&raw, chunk.columnar), false)
                } else {
                    Ok(Vec::new())
                };
                drop(raw);
                self.uncharge(raw_cost);
                self.make_cursor(labels, records?)?;
            }
            Source::Head { labels, chunk } => {
                // head chunks have no filter: one memmem over the chunk instead
                if !self.text.may_hold(&chunk.data) {
                    return Ok(());
                }
                let records = self.decode(codec::read_records(&chunk.data), true)?;
                self.make_cursor(labels, records)?;
            }
        }
        Ok(())
    }

    fn decode<'a>(
        &self,
        it: impl Iterator<Item = Result<RecordRef<'a>>>,
        unsorted: bool,
    ) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for rec in it {
            let rec = rec?;
            if self.keep(&rec)? {
                out.push(rec.to_record()?);
            }
        }
        if unsorted {
            out.sort_by_key(|r| r.time_ns);
        }
        if self.q.direction == Direction::Forward {
            out.reverse();
        }
        Ok(out)
    }

    fn make_cursor(&mut self, labels: Arc<Labels>, records: Vec<Record>) -> Result<()> {
        let Some(next) = records.last().map(|r| r.time_ns) else {
            return Ok(());
        };
        let mem: usize = records
            .iter()
            .map(|r| {
                96 + r.body.len()
                    + r.attrs
                        .iter()
                        .map(|(k, v)| 48 + k.len() + v.len())
                        .sum::<usize>()
            })
            .sum();
        self.charge(mem)?;
        self.push(
            order_key(next, self.q.direction),
            Item::Cursor(Cursor {
                labels,
                records,
                mem,
            }),
        );
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Hit>> {
        loop {
            let e = match self.current.take() {
                Some(c) if self.heap.peek().is_none_or(|top| c > *top) => c,
                Some(c) => {
                    self.heap.push(c);
                    continue;
                }
                None => match self.heap.pop() {
                    Some(e) => e,
                    None => return Ok(None),
                },
            };
            match e.item {
                Item::Pending(s) => {
                    self.uncharge(ENTRY_COST);
                    self.open(s)?;
                }
                Item::Cursor(mut c) => {
                    let Some(record) = c.records.pop() else {
                        self.uncharge(c.mem);
                        continue;
                    };
                    let hit = Hit {
                        labels: c.labels.clone(),
                        record,
                    };
                    if let Some(next) = c.records.last().map(|r| r.time_ns) {
                        self.seq += 1;
                        self.current = Some(Entry {
                            key: order_key(next, self.q.direction),
                            seq: self.seq,
                            item: Item::Cursor(c),
                        });
                    } else {
                        self.uncharge(c.mem);
                    }
                    return Ok(Some(hit));
                }
            }
        }
    }

    /// Bytes this query holds against the budget right now.
    pub fn memory_held(&self) -> usize {
        self.held
    }
}

impl Iterator for QueryIter {
    type Item = Result<Hit>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || (self.q.limit > 0 && self.emitted >= self.q.limit) {
            self.finish();
            return None;
        }
        match self.step() {
            Ok(Some(h)) => {
                self.emitted += 1;
                Some(Ok(h))
            }
            Ok(None) => {
                self.finish();
                None
            }
            Err(e) => {
                self.finish();
                Some(Err(e))
            }
        }
    }
}

impl QueryIter {
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.heap.clear();
            self.current = None;
            let held = self.held;
            self.uncharge(held);
        }
    }
}

impl Drop for QueryIter {
    fn drop(&mut self) {
        self.finish();
    }
}
