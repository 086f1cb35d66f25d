//! The head: records acknowledged (in the WAL) but not yet in a block, per stream, in
//! chunks of encoded records (`codec::put_record`, in arrival order). The active head takes
//! appends; at `head_cut_bytes` or `flush_interval_secs` the writer freezes it (every chunk
//! sealed, immutable behind an `Arc`) and the maintenance thread turns it into blocks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::model::Labels;

/// An open chunk is sealed before it would grow past this.
const HEAD_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct HeadChunk {
    pub data: Vec<u8>,
    pub min_t: i64,
    pub max_t: i64,
    pub count: u32,
}

impl HeadChunk {
    fn new() -> Self {
        HeadChunk {
            data: Vec::new(),
            min_t: i64::MAX,
            max_t: i64::MIN,
            count: 0,
        }
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

    /// Adds one batch's encoded records; returns how many bytes the head grew by.
    pub(crate) fn insert(
        &mut self,
        key: StreamKey,
        records: &[u8],
        count: usize,
        min_t: i64,
        max_t: i64,
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
            let full = std::mem::replace(&mut sh.open, HeadChunk::new());
            sh.sealed.push(Arc::new(full));
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
        crate::codec::put_record(&mut enc, &Record::new(5, vec![b'x'; 1000]));
        for _ in 0..200 {
            h.insert(key.clone(), &enc, 1, 5, 5);
        }
        let sh = &h.streams[&key];
        assert!(sh.sealed.len() >= 2);
        assert_eq!(h.records, 200);
        assert!(h.bytes >= 200 * enc.len());
        assert_eq!(h.streams_of("t"), 1);
    }
}
