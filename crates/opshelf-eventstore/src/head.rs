//! The head: records acknowledged (in the WAL) but not yet in a block, per stream, in
//! chunks of encoded records (`codec::put_record`, in arrival order). The active head takes
//! appends; at `head_cut_bytes` or `flush_interval_secs` the writer freezes it (every chunk
//! sealed, immutable behind an `Arc`) and the maintenance thread turns it into blocks.
//!
//! A chunk sealed because it was full gets a token filter (`HeadChunk::filter`), built by the
//! writer after it releases the state lock, so a needle query (a trace by id) skips the head
//! chunks that cannot hold it instead of searching their bytes. Chunks sealed at a freeze and
//! the open chunks have none: they are searched.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::bloom::{self, Filter};
use crate::codec;
use crate::model::Labels;

/// An open chunk is sealed before it would grow past this.
const HEAD_CHUNK: usize = 64 * 1024;
/// Bytes of records per byte of a full chunk's filter: ~10 bits per distinct token for spans
/// and for log lines of ~150 bytes (a false positive costs one search of the chunk).
const FILTER_RATIO: usize = 8;

#[derive(Debug, Clone)]
pub(crate) struct HeadChunk {
    pub data: Vec<u8>,
    pub min_t: i64,
    pub max_t: i64,
    pub count: u32,
    /// Every token and attribute value of its records; set once, after sealing.
    pub filter: OnceLock<Filter>,
}

impl HeadChunk {
    fn new() -> Self {
        HeadChunk {
            data: Vec::new(),
            min_t: i64::MAX,
            max_t: i64::MIN,
            count: 0,
            filter: OnceLock::new(),
        }
    }

    /// Builds and sets the filter, one byte per `FILTER_RATIO` bytes of records; returns the
    /// bytes it holds, 0 when it was set already. A record that does not decode leaves the
    /// chunk without one (it is then searched, and the query reports the corruption).
    pub(crate) fn build_filter(&self) -> usize {
        if self.filter.get().is_some() {
            return 0;
        }
        let mut f = Filter::with_size(self.data.len() / FILTER_RATIO);
        for rec in codec::read_records(&self.data) {
            let ok = rec.and_then(|rec| {
                rec.for_each_text(|text, is_attr| {
                    bloom::for_each_whole_token(text, |h| f.insert(h));
                    if is_attr {
                        f.insert(bloom::value_hash(text));
                    }
                })
            });
            if ok.is_err() {
                return 0;
            }
        }
        let n = f.size();
        if self.filter.set(f).is_ok() { n } else { 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct StreamKey {
    pub tenant: String,
    pub labels: Arc<Labels>,
}

#[derive(Debug)]
pub(crate) struct StreamHead {
    pub labels: Arc<Labels>,
    pub sealed: Vec<Arc<HeadChunk>>,
    pub open: HeadChunk,
}

#[derive(Debug)]
pub(crate) struct Head {
    /// The WAL generation being written while this head is active; once frozen, its records
    /// are all in segments `<= gen_`.
    pub gen_: u64,
    pub streams: HashMap<StreamKey, StreamHead>,
    pub tenant_streams: HashMap<String, usize>,
    /// Capacity of every chunk buffer (what the ingestion budget is charged).
    pub bytes: usize,
    pub records: u64,
    pub created: Instant,
}

impl Head {
    pub(crate) fn new(gen_: u64) -> Self {
        Head {
            gen_,
            streams: HashMap::new(),
            tenant_streams: HashMap::new(),
            bytes: 0,
            records: 0,
            created: Instant::now(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub(crate) fn has_stream(&self, key: &StreamKey) -> bool {
        self.streams.contains_key(key)
    }

    pub(crate) fn streams_of(&self, tenant: &str) -> usize {
        self.tenant_streams.get(tenant).copied().unwrap_or(0)
    }

    /// Adds one batch's encoded records; returns how many bytes the head grew by. A chunk it
    /// sealed to make room goes to `sealed` (for its filter).
    pub(crate) fn insert(
        &mut self,
        key: StreamKey,
        records: &[u8],
        count: usize,
        min_t: i64,
        max_t: i64,
        sealed: &mut Vec<Arc<HeadChunk>>,
    ) -> usize {
        if self.records == 0 {
            self.created = Instant::now();
        }
        let tenant_streams = &mut self.tenant_streams;
        let sh = self.streams.entry(key).or_insert_with_key(|k| {
            *tenant_streams.entry(k.tenant.clone()).or_insert(0) += 1;
            StreamHead {
                labels: k.labels.clone(),
                sealed: Vec::new(),
                open: HeadChunk::new(),
            }
        });
        let mut grown = 0usize;
        if !sh.open.data.is_empty() && sh.open.data.len() + records.len() > HEAD_CHUNK {
            let full = Arc::new(std::mem::replace(&mut sh.open, HeadChunk::new()));
            sealed.push(full.clone());
            sh.sealed.push(full);
        }
        let before = sh.open.data.capacity();
        if sh.open.data.is_empty() {
            sh.open
                .data
                .reserve_exact(records.len().max(HEAD_CHUNK / 16));
        }
        sh.open.data.extend_from_slice(records);
        grown += sh.open.data.capacity() - before;
        sh.open.min_t = sh.open.min_t.min(min_t);
        sh.open.max_t = sh.open.max_t.max(max_t);
        sh.open.count += count as u32;
        self.records += count as u64;
        self.bytes += grown;
        grown
    }

    /// Seals every open chunk (before the head is frozen).
    pub(crate) fn seal_all(&mut self) {
        for sh in self.streams.values_mut() {
            if sh.open.count > 0 {
                let full = std::mem::replace(&mut sh.open, HeadChunk::new());
                sh.sealed.push(Arc::new(full));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Record;

    #[test]
    fn chunks_seal_at_their_size_and_bytes_are_counted() {
        let mut h = Head::new(1);
        let key = StreamKey {
            tenant: "t".into(),
            labels: Arc::new(Labels::new([("a", "b")])),
        };
        let mut enc = Vec::new();
        let mut sealed = Vec::new();
        crate::codec::put_record(&mut enc, &Record::new(5, vec![b'x'; 1000]));
        for _ in 0..200 {
            h.insert(key.clone(), &enc, 1, 5, 5, &mut sealed);
        }
        let sh = &h.streams[&key];
        assert!(sh.sealed.len() >= 2);
        assert_eq!(sealed.len(), sh.sealed.len());
        assert_eq!(h.records, 200);
        assert!(h.bytes >= 200 * enc.len());
        assert_eq!(h.streams_of("t"), 1);
    }

    #[test]
    fn a_filter_holds_every_token_and_value_of_its_chunk() {
        let mut h = Head::new(1);
        let key = StreamKey {
            tenant: "t".into(),
            labels: Arc::new(Labels::new([("a", "b")])),
        };
        let mut sealed = Vec::new();
        for i in 0..1000u32 {
            let mut enc = Vec::new();
            let rec = Record::new(i64::from(i), format!("GET /items/{i} user=u{i}-x"))
                .with_attr("trace_id", format!("{i:032x}"));
            crate::codec::put_record(&mut enc, &rec);
            h.insert(key.clone(), &enc, 1, 5, 5, &mut sealed);
        }
        let c = sealed.first().expect("a chunk filled up");
        assert!(c.filter.get().is_none());
        let n = c.build_filter();
        assert!(n > 0 && n < c.data.len(), "{n} of {}", c.data.len());
        assert_eq!(c.build_filter(), 0, "built once");
        let f = c.filter.get().unwrap();
        let probe = bloom::NeedleProbe::delimited;
        for i in 0..c.count {
            assert!(f.may_contain(&probe(&format!("{i:032x}"))), "{i}");
            assert!(f.may_contain(&probe(&format!("u{i}-x"))), "value {i}");
        }
        let absent = (50_000..51_000u32)
            .filter(|i| f.may_contain(&probe(&format!("{i:032x}"))))
            .count();
        assert!(absent < 10, "{absent} false positives of 1000");
        // a substring probe with no whole token cannot use it: the chunk is searched
        assert!(f.may_contain(&bloom::NeedleProbe::substring(
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzz"
        )));
    }
}
