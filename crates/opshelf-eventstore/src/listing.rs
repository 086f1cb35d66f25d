//! Stream listings without reading records: which streams of a tenant have data in a time
//! range (Loki's `/labels`, `/label/<name>/values`, `/series`, `index/stats`), and whether a
//! new stream would pass the stream limit (so callers can answer in their protocol's words).
//! Everything here reads the in-memory block summaries and heads only: no I/O.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use crate::head::StreamKey;
use crate::model::{Labels, Matcher};
use crate::store::EventStore;

/// One stream's data in a range, from block summaries and the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub labels: Arc<Labels>,
    /// Records of the stream in the blocks and head chunks overlapping the range (whole
    /// blocks and chunks are counted: an estimate at the range's edges).
    pub records: u64,
    /// Uncompressed bytes of those records (blocks: their share of the block's raw bytes).
    pub bytes: u64,
    /// Blocks and head chunks holding them.
    pub chunks: u64,
}

impl EventStore {
    /// Streams of `tenant` matching every matcher with data in `from_ns <= t < to_ns`,
    /// sorted by labels.
    pub fn streams(
        &self,
        tenant: &str,
        from_ns: i64,
        to_ns: i64,
        matchers: &[Matcher],
    ) -> Vec<StreamSummary> {
        let inner = self.inner();
        let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: HashMap<Arc<Labels>, StreamSummary> = HashMap::new();
        let matches = |l: &Labels| matchers.iter().all(|m| m.matches(l));
        for b in &st.blocks {
            let m = &b.meta;
            if m.tenant != tenant || m.max_t < from_ns || m.min_t >= to_ns {
                continue;
            }
            for s in &m.streams {
                if s.max_t < from_ns || s.min_t >= to_ns || !matches(&s.labels) {
                    continue;
                }
                let bytes = if m.records == 0 {
                    0
                } else {
                    u64::try_from(
                        u128::from(m.raw_bytes) * u128::from(s.records) / u128::from(m.records),
                    )
                    .unwrap_or(u64::MAX)
                };
                let e = out
                    .entry(s.labels.clone())
                    .or_insert_with(|| StreamSummary {
                        labels: s.labels.clone(),
                        records: 0,
                        bytes: 0,
                        chunks: 0,
                    });
                e.records += s.records;
                e.bytes += bytes;
                e.chunks += 1;
            }
        }
        let heads = st.frozen.iter().map(AsRef::as_ref).chain([&st.active]);
        for h in heads {
            for (k, sh) in &h.streams {
                if k.tenant != tenant || !matches(&sh.labels) {
                    continue;
                }
                let chunks = sh.sealed.iter().map(AsRef::as_ref).chain([&sh.open]);
                for c in chunks {
                    if c.count == 0 || c.max_t < from_ns || c.min_t >= to_ns {
                        continue;
                    }
                    let e = out
                        .entry(sh.labels.clone())
                        .or_insert_with(|| StreamSummary {
                            labels: sh.labels.clone(),
                            records: 0,
                            bytes: 0,
                            chunks: 0,
                        });
                    e.records += u64::from(c.count);
                    e.bytes += c.data.len() as u64;
                    e.chunks += 1;
                }
            }
        }
        let mut v: Vec<StreamSummary> = out.into_values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Whether appends to all of `streams` of `tenant` now would pass
    /// `max_streams_per_tenant` (existing streams always do): `Err(i)` names the first stream
    /// that would be one too many. `append` checks again; this lets a caller refuse a whole
    /// request before writing any of it, in its protocol's words.
    pub fn admits_streams(&self, tenant: &str, streams: &[&Labels]) -> Result<(), usize> {
        let inner = self.inner();
        let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut room = inner
            .cfg
            .limits
            .max_streams_per_tenant
            .saturating_sub(st.active.streams_of(tenant));
        for (i, labels) in streams.iter().enumerate() {
            let key = StreamKey {
                tenant: tenant.to_owned(),
                labels: Arc::new((*labels).clone()),
            };
            if st.active.has_stream(&key) {
                continue;
            }
            if room == 0 {
                return Err(i);
            }
            room -= 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, EventStore, Labels, Matcher, Record};

    #[test]
    fn streams_come_from_head_and_blocks_and_the_stream_limit_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.limits.max_streams_per_tenant = 2;
        let s = EventStore::open(dir.path(), cfg).unwrap();
        let a = Labels::new([("app", "a")]);
        let b = Labels::new([("app", "b"), ("env", "prod")]);
        s.append_blocking("t", &a, &[Record::new(10, "x"), Record::new(20, "y")])
            .unwrap();
        s.flush().unwrap();
        s.append_blocking("t", &b, &[Record::new(30, "z")]).unwrap();
        s.append_blocking("u", &b, &[Record::new(30, "z")]).unwrap();
        let all = s.streams("t", 0, 100, &[]);
        assert_eq!(all.len(), 2);
        assert_eq!(*all[0].labels, a);
        assert_eq!(all[0].records, 2);
        assert!(all[0].bytes > 0);
        assert_eq!(s.streams("t", 25, 100, &[]).len(), 1);
        assert_eq!(
            s.streams("t", 0, 100, &[Matcher::eq("env", "prod")]).len(),
            1
        );
        let (c, d) = (Labels::new([("app", "c")]), Labels::new([("app", "d")]));
        // `a` moved to a block: the active head holds one stream of "t", room for one more
        assert_eq!(s.admits_streams("t", &[&b, &c]), Ok(()));
        assert_eq!(s.admits_streams("t", &[&c, &b, &d]), Err(2));
        s.append_blocking("t", &c, &[Record::new(1, "c")]).unwrap();
        assert_eq!(s.admits_streams("t", &[&d]), Err(0));
        assert_eq!(s.admits_streams("t", &[&b, &c]), Ok(()));
        s.close().unwrap();
    }
}
