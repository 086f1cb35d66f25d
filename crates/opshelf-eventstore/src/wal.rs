//! The write-ahead log: one segment file per head generation, `wal/<gen:016x>.wal`.
//!
//! A segment is a sequence of frames `len: u32 LE | crc32(payload): u32 LE | payload`, one per
//! appended batch. The payload is `tenant, labels, count, min_time, max_time, records` (see
//! `codec`). The writer thread writes a group of frames and calls `fdatasync` once before any
//! of them is acknowledged. On open, segments newer than the flushed generation are replayed;
//! the first frame that is short, oversized or fails its CRC ends the segment and the file
//! is cut there (a torn tail from a crash mid-write).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::codec::{self, Reader};
use crate::error::{Result, corrupt, io};
use crate::model::{Labels, Record};

pub(crate) const FRAME_HEADER: usize = 8;
/// No frame is larger (a hostile length cannot make replay allocate more).
pub(crate) const MAX_FRAME: usize = 64 << 20;

/// One decoded WAL frame.
#[derive(Debug)]
pub(crate) struct Batch<'a> {
    pub tenant: &'a str,
    pub labels: Labels,
    pub count: usize,
    pub min_t: i64,
    pub max_t: i64,
    /// `count` records in `codec::put_record` form.
    pub records: &'a [u8],
}

/// A frame ready for the writer: header + payload, and where the records start.
#[derive(Debug)]
pub(crate) struct Frame {
    pub bytes: Vec<u8>,
    pub records_at: usize,
    pub count: usize,
    pub min_t: i64,
    pub max_t: i64,
}

impl Frame {
    pub(crate) fn records(&self) -> &[u8] {
        &self.bytes[self.records_at..]
    }
}

/// Encodes a batch into a frame (done on the caller's thread, so the writer only copies).
pub(crate) fn encode(tenant: &str, labels: &Labels, records: &[Record]) -> Frame {
    let min_t = records.iter().map(|r| r.time_ns).min().unwrap_or(0);
    let max_t = records.iter().map(|r| r.time_ns).max().unwrap_or(0);
    let mut b = Vec::with_capacity(
        FRAME_HEADER + 64 + records.iter().map(|r| r.body.len() + 16).sum::<usize>(),
    );
    b.extend_from_slice(&[0u8; FRAME_HEADER]);
    codec::put_bytes(&mut b, tenant.as_bytes());
    codec::put_labels(&mut b, labels);
    codec::put_uvarint(&mut b, records.len() as u64);
    codec::put_ivarint(&mut b, min_t);
    codec::put_ivarint(&mut b, max_t);
    let records_at = b.len();
    for r in records {
        codec::put_record(&mut b, r);
    }
    let len = (b.len() - FRAME_HEADER) as u32;
    let crc = crc32fast::hash(&b[FRAME_HEADER..]);
    b[0..4].copy_from_slice(&len.to_le_bytes());
    b[4..8].copy_from_slice(&crc.to_le_bytes());
    Frame {
        bytes: b,
        records_at,
        count: records.len(),
        min_t,
        max_t,
    }
}

/// Decodes and checks a payload: every record parses, the count and time bounds are true.
pub(crate) fn decode_payload(p: &[u8]) -> Result<Batch<'_>> {
    let mut r = Reader::new(p);
    let tenant = r.str()?;
    let labels = codec::get_labels(&mut r)?;
    let count = r.count(0)?;
    let min_t = r.ivarint()?;
    let max_t = r.ivarint()?;
    let records = r.rest();
    let mut n = 0usize;
    for rec in codec::read_records(records) {
        let rec = rec?;
        if rec.time_ns < min_t || rec.time_ns > max_t {
            return Err(corrupt("WAL record outside its batch's time bounds"));
        }
        n += 1;
    }
    if n != count {
        return Err(corrupt("WAL batch record count"));
    }
    Ok(Batch {
        tenant,
        labels,
        count,
        min_t,
        max_t,
        records,
    })
}

/// Walks the frames of a segment; stops at the first invalid one. Returns the length of the
/// valid prefix (where a torn tail gets cut).
pub(crate) fn decode_segment<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(Batch<'a>) -> Result<()>,
) -> Result<usize> {
    let mut pos = 0usize;
    while buf.len() - pos >= FRAME_HEADER {
        let mut h = Reader::new(&buf[pos..pos + FRAME_HEADER]);
        let len = h.u32_le()? as usize;
        let crc = h.u32_le()?;
        if len > MAX_FRAME || len > buf.len() - pos - FRAME_HEADER {
            break;
        }
        let payload = &buf[pos + FRAME_HEADER..pos + FRAME_HEADER + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Ok(batch) = decode_payload(payload) else {
            break;
        };
        f(batch)?;
        pos += FRAME_HEADER + len;
    }
    Ok(pos)
}

pub(crate) fn segment_path(dir: &Path, gen_: u64) -> PathBuf {
    dir.join(format!("{gen_:016x}.wal"))
}

/// Segment generations present in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let name = e.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let Ok(g) = u64::from_str_radix(stem, 16) {
            v.push(g);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// What replaying one segment found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Replayed {
    pub valid_bytes: u64,
    pub cut_bytes: u64,
}

/// Replays a segment into `f`; cuts a torn tail (truncate + fsync).
pub(crate) fn replay_segment(
    path: &Path,
    f: impl FnMut(Batch<'_>) -> Result<()>,
) -> Result<Replayed> {
    let buf = std::fs::read(path).map_err(io(path))?;
    let valid = decode_segment(&buf, f)?;
    let cut = (buf.len() - valid) as u64;
    if cut > 0 {
        tracing::warn!(
            path = %path.display(),
            valid_bytes = valid,
            cut_bytes = cut,
            "event store WAL: torn or corrupt tail cut"
        );
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path))?;
        file.set_len(valid as u64).map_err(io(path))?;
        file.sync_all().map_err(io(path))?;
    }
    Ok(Replayed {
        valid_bytes: valid as u64,
        cut_bytes: cut,
    })
}

/// The segment the writer appends to.
pub(crate) struct Segment {
    pub gen_: u64,
    path: PathBuf,
    file: File,
    pub bytes: u64,
}

impl Segment {
    pub(crate) fn create(dir: &Path, gen_: u64) -> Result<Segment> {
        let path = segment_path(dir, gen_);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        sync_dir(dir)?;
        Ok(Segment {
            gen_,
            path,
            file,
            bytes: 0,
        })
    }

    /// Writes `buf` (whole frames) and makes it durable.
    pub(crate) fn write_durable(&mut self, buf: &[u8]) -> Result<()> {
        self.file.write_all(buf).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.bytes += buf.len() as u64;
        Ok(())
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: i64) -> Frame {
        let labels = Labels::new([("service", "api")]);
        encode(
            "t1",
            &labels,
            &[Record::new(i, format!("line {i}")), Record::new(i + 5, "x")],
        )
    }

    #[test]
    fn frames_round_trip() {
        let mut seg = Vec::new();
        for i in 0..3 {
            seg.extend_from_slice(&frame(i).bytes);
        }
        let mut got = Vec::new();
        let valid = decode_segment(&seg, |b| {
            got.push((b.tenant.to_owned(), b.count, b.min_t, b.max_t));
            Ok(())
        })
        .unwrap();
        assert_eq!(valid, seg.len());
        assert_eq!(got[2], ("t1".to_owned(), 2, 2, 7));
    }

    #[test]
    fn torn_and_mangled_tails_stop_at_the_last_good_frame() {
        let one = frame(1).bytes;
        let mut seg = one.clone();
        seg.extend_from_slice(&frame(2).bytes);
        for cut in one.len()..seg.len() {
            let valid = decode_segment(&seg[..cut], |_| Ok(())).unwrap();
            assert_eq!(valid, one.len(), "cut at {cut}");
        }
        for i in one.len()..seg.len() {
            let mut m = seg.clone();
            m[i] ^= 0x5a;
            let valid = decode_segment(&m, |_| Ok(())).unwrap();
            assert_eq!(valid, one.len(), "flip at {i}");
        }
    }

    #[test]
    fn replay_cuts_the_torn_tail_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 1).unwrap();
        let f = frame(1);
        s.write_durable(&f.bytes).unwrap();
        s.write_durable(&f.bytes[..f.bytes.len() / 2]).unwrap();
        let path = segment_path(dir.path(), 1);
        let r = replay_segment(&path, |_| Ok(())).unwrap();
        assert_eq!(r.valid_bytes as usize, f.bytes.len());
        assert!(r.cut_bytes > 0);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            f.bytes.len()
        );
        assert_eq!(list_segments(dir.path()).unwrap(), [1]);
    }
}
