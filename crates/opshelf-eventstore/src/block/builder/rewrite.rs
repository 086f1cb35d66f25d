//! Purge: a block copied without the records a delete request selects (`EventStore::purge`).
//!
//! Invariants:
//! - a chunk the cut cannot touch (another stream, or no time overlap) is copied byte for byte
//!   with its filter; a chunk it touches is decoded and its surviving records re-encoded the
//!   way `push` encodes them (new chunks, fresh filters). No byte of a dropped record is
//!   copied.
//! - a bloom group none of whose chunks is touched is copied with its filter; a group with a
//!   touched chunk gets a fresh group filter built from the records left (its verbatim chunks
//!   are decoded for their tokens), so no filter of the output indexes a dropped record.
//! - chunks keep the input's order; streams keep their indexes until `finish` drops the
//!   ones left without records.

use std::ops::Range;

use super::{BlockBuilder, record_hashes};
use crate::block::{
    BlockMeta, BlockSource, ChunkMeta, GroupBloom, Table, chunk_records, read_chunk,
};
use crate::error::{Result, corrupt};

/// Which records a purge drops: those of the input streams flagged in `streams` with
/// `from_ns <= time_ns <= to_ns` (both ends inclusive, like Loki's delete requests).
pub(crate) struct Cut<'a> {
    pub streams: &'a [bool],
    pub from_ns: i64,
    pub to_ns: i64,
}

impl Cut<'_> {
    fn touches(&self, c: &ChunkMeta) -> bool {
        self.streams
            .get(c.stream as usize)
            .copied()
            .unwrap_or(false)
            && c.max_t >= self.from_ns
            && c.min_t <= self.to_ns
    }

    fn drops(&self, time_ns: i64) -> bool {
        time_ns >= self.from_ns && time_ns <= self.to_ns
    }
}

/// What `copy_without` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Copied {
    pub kept: u64,
    pub dropped: u64,
}

impl BlockBuilder {
    /// Purge: copies the block `meta` describes into this empty builder, without the records
    /// `cut` selects. The output's streams are the input's, by index.
    pub(crate) fn copy_without(
        &mut self,
        src: &dyn BlockSource,
        meta: &BlockMeta,
        table: &Table,
        cut: &Cut<'_>,
    ) -> Result<Copied> {
        let labels: Vec<_> = meta.streams.iter().map(|s| s.labels.clone()).collect();
        self.preset_streams(&labels);
        let mut dec = zstd::bulk::Decompressor::new().map_err(|_| corrupt("zstd context"))?;
        let mut out = Copied::default();
        for (range, group) in units(table) {
            self.end_group()?;
            let chunks = &table.chunks[range];
            if !chunks.iter().any(|c| cut.touches(c)) {
                let first = self.chunks.len() as u32;
                for c in chunks {
                    self.copy_chunk(src, c, c.stream)?;
                    out.kept += u64::from(c.records);
                }
                if let Some(g) = group {
                    self.copy_group(src, g, first)?;
                }
                self.group_start = self.chunks.len() as u32;
                continue;
            }
            // the group filter is rebuilt from every record left in the unit
            for c in chunks {
                let raw = read_chunk(src, c, &mut dec)?;
                if cut.touches(c) {
                    self.select_stream(c.stream)?;
                    for rec in chunk_records(&raw, c.columnar) {
                        let rec = rec?;
                        if cut.drops(rec.time_ns) {
                            out.dropped += 1;
                        } else {
                            self.push(rec)?;
                            out.kept += 1;
                        }
                    }
                    self.end_chunk()?;
                } else {
                    for rec in chunk_records(&raw, c.columnar) {
                        record_hashes(rec?, &mut self.group_hashes)?;
                    }
                    self.copy_chunk(src, c, c.stream)?;
                    out.kept += u64::from(c.records);
                }
            }
            self.end_group()?;
        }
        Ok(out)
    }

    /// New records go to stream `index` (ends the open chunk).
    pub(super) fn select_stream(&mut self, index: u32) -> Result<()> {
        if index as usize >= self.meta.streams.len() {
            return Err(corrupt("chunk stream index"));
        }
        self.end_chunk()?;
        self.cur_stream = index;
        Ok(())
    }

    /// Drops the streams that got no record and renumbers the chunks' stream indexes.
    pub(super) fn drop_empty_streams(&mut self) {
        if self.meta.streams.iter().all(|s| s.records > 0) {
            return;
        }
        let mut map = Vec::with_capacity(self.meta.streams.len());
        let mut kept = Vec::new();
        for s in std::mem::take(&mut self.meta.streams) {
            map.push(kept.len() as u32);
            if s.records > 0 {
                kept.push(s);
            }
        }
        for c in &mut self.chunks {
            c.stream = map[c.stream as usize];
        }
        self.meta.streams = kept;
    }

    /// Gives up the block: nothing is committed and the writer removes what it wrote.
    pub(crate) fn abandon(self) {
        self.w.abort();
    }
}

/// The table cut into the chunk ranges of its bloom groups and the runs of chunks outside
/// every group, in order. Groups that are not sorted and disjoint (no writer makes them) give
/// one unit of every chunk, whose group filter is then rebuilt.
fn units(table: &Table) -> Vec<(Range<usize>, Option<&GroupBloom>)> {
    let n = table.chunks.len();
    let mut groups: Vec<&GroupBloom> = table.groups.iter().filter(|g| g.first < g.end).collect();
    groups.sort_by_key(|g| g.first);
    let mut out = Vec::new();
    let mut at = 0usize;
    for g in groups {
        let (first, end) = (g.first as usize, g.end as usize);
        if first < at || end > n {
            return vec![(0..n, None)];
        }
        if first > at {
            out.push((at..first, None));
        }
        out.push((first..end, Some(g)));
        at = end;
    }
    if at < n {
        out.push((at..n, None));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::block::{
        MemWrite, chunk_may_contain, decode_all, read_meta, read_table, sample_block,
        sample_trace_id,
    };
    use crate::bloom::NeedleProbe;

    /// `sample_block(500)` (streams s=0 and s=1, record i at i µs) copied without `cut`.
    fn rewritten(streams: &[bool], from_ns: i64, to_ns: i64) -> (Vec<u8>, Vec<u8>, Copied) {
        let old = sample_block(500).unwrap();
        let m = read_meta(&old).unwrap();
        let table = read_table(&m, &old).unwrap();
        let buf = Arc::new(Mutex::new(Vec::new()));
        let cfg = crate::Config {
            chunk_target_bytes: 4096,
            ..crate::Config::default()
        };
        let w = Box::new(MemWrite(buf.clone()));
        let mut b = BlockBuilder::new(w, 8, "t", m.gen_, vec![m.id], &cfg).unwrap();
        let cut = Cut {
            streams,
            from_ns,
            to_ns,
        };
        let copied = b.copy_without(&old, &m, &table, &cut).unwrap();
        b.finish().unwrap();
        let new = buf.lock().unwrap().clone();
        (old, new, copied)
    }

    fn raw_chunks(bytes: &[u8]) -> Vec<u8> {
        let m = read_meta(&bytes.to_vec()).unwrap();
        let table = read_table(&m, &bytes.to_vec()).unwrap();
        let mut dec = zstd::bulk::Decompressor::new().unwrap();
        let mut out = Vec::new();
        for c in &table.chunks {
            out.extend(read_chunk(&bytes.to_vec(), c, &mut dec).unwrap());
        }
        out
    }

    #[test]
    fn only_the_cut_goes_other_chunks_are_copied_verbatim_and_filters_forget_it() {
        let (old, new, copied) = rewritten(&[true, false], 100_000, 199_000);
        assert_eq!(
            copied,
            Copied {
                kept: 900,
                dropped: 100
            }
        );
        assert_eq!(decode_all(new.clone()).unwrap(), 900);
        let (om, nm) = (read_meta(&old).unwrap(), read_meta(&new).unwrap());
        assert_eq!(
            (nm.id, nm.replaces.as_slice(), nm.records),
            (8, &[7][..], 900)
        );
        assert_eq!(nm.streams[0].records, 400);
        assert!(nm.disk_bytes < om.disk_bytes);
        // stream 1 is untouched: its chunks are the same bytes
        let (ot, nt) = (
            read_table(&om, &old).unwrap(),
            read_table(&nm, &new).unwrap(),
        );
        let crcs = |t: &Table, s: u32| -> Vec<u32> {
            t.chunks
                .iter()
                .filter(|c| c.stream == s)
                .map(|c| c.crc)
                .collect()
        };
        assert_eq!(crcs(&ot, 1), crcs(&nt, 1));
        assert_ne!(crcs(&ot, 0), crcs(&nt, 0));
        // the dropped records' bytes are in no chunk, the neighbours' are
        let raw = raw_chunks(&new);
        let has = |id: String| raw.windows(id.len()).any(|w| w == id.as_bytes());
        for i in [100, 150, 199] {
            assert!(!has(sample_trace_id(i * 31)), "record {i} of stream 0 left");
            assert!(
                has(sample_trace_id(i * 31 + 1)),
                "record {i} of stream 1 lost"
            );
        }
        assert!(has(sample_trace_id(99 * 31)) && has(sample_trace_id(200 * 31)));
        // no filter of the output indexes them: they pass as often as ids that were never
        // there (bloom filters say yes by chance), where the old block passed them all
        let passing = |bytes: &Vec<u8>, t: &Table, id: &dyn Fn(i64) -> String| {
            (100..200)
                .filter(|&i| {
                    let p = NeedleProbe::delimited(&id(i));
                    let pass = t.chunks_passing(bytes, &p).unwrap();
                    t.chunks
                        .iter()
                        .zip(pass)
                        .any(|(c, g)| g && chunk_may_contain(bytes, c, &p).unwrap())
                })
                .count()
        };
        let dropped = |i: i64| sample_trace_id(i * 31);
        let never = |i: i64| sample_trace_id(i * 31 + 7);
        assert_eq!(passing(&old, &ot, &dropped), 100);
        let (d, n) = (passing(&new, &nt, &dropped), passing(&new, &nt, &never));
        assert!(
            d <= n + 5,
            "{d} dropped ids pass the filters, {n} absent ones"
        );
        let group_passing = |id: &dyn Fn(i64) -> String| {
            (100..200)
                .filter(|&i| {
                    let p = NeedleProbe::delimited(&id(i));
                    nt.chunks_passing(&new, &p).unwrap().contains(&true)
                })
                .count()
        };
        let (d, n) = (group_passing(&dropped), group_passing(&never));
        assert!(
            d <= n + 5,
            "{d} dropped ids pass the group filter, {n} absent ones"
        );
    }

    #[test]
    fn a_stream_left_empty_leaves_the_summary() {
        let (_, new, copied) = rewritten(&[false, true], i64::MIN, i64::MAX);
        assert_eq!(
            copied,
            Copied {
                kept: 500,
                dropped: 500
            }
        );
        let m = read_meta(&new).unwrap();
        assert_eq!(m.streams.len(), 1);
        assert_eq!(m.streams[0].labels.get("s"), Some("0"));
        assert_eq!(decode_all(new).unwrap(), 500);
    }

    #[test]
    fn units_follow_groups_and_the_runs_between_them() {
        let chunk = ChunkMeta {
            stream: 0,
            min_t: 0,
            max_t: 0,
            records: 1,
            offset: 8,
            len: 1,
            raw_len: 1,
            crc: 0,
            bloom_blocks: 1,
            grams: true,
            columnar: true,
        };
        let group = |first, end| GroupBloom {
            first,
            end,
            offset: 8,
            blocks: 1,
            grams: true,
        };
        let t = Table {
            chunks: vec![chunk; 6],
            groups: vec![group(3, 5), group(1, 3)],
        };
        let got: Vec<_> = units(&t)
            .into_iter()
            .map(|(r, g)| (r, g.is_some()))
            .collect();
        assert_eq!(
            got,
            [(0..1, false), (1..3, true), (3..5, true), (5..6, false)]
        );
        let overlapping = Table {
            chunks: vec![chunk; 6],
            groups: vec![group(0, 4), group(2, 6)],
        };
        let got: Vec<_> = units(&overlapping)
            .into_iter()
            .map(|(r, g)| (r, g.is_some()))
            .collect();
        assert_eq!(got, [(0..6, false)]);
    }
}
