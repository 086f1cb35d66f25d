//! Byte encodings shared by the WAL, the head and blocks: LEB128 varints, length-prefixed
//! bytes, records and labels. `Reader` checks every length against what is left, so
//! decoding untrusted bytes returns `Corrupt` and never panics or over-allocates.

use crate::error::{Result, corrupt};
use crate::model::{Labels, Record};

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn put_ivarint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(corrupt("varint past the end"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(corrupt("varint overflow"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(corrupt("varint too long"))
    }

    pub(crate) fn ivarint(&mut self) -> Result<i64> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count or length that must fit in what is left (each item takes at least `min_item`
    /// bytes), so a hostile count cannot make us allocate.
    pub(crate) fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| corrupt("count"))?;
        if n.saturating_mul(min_item.max(1)) > self.remaining() {
            return Err(corrupt("count larger than the data"));
        }
        Ok(n)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.count(1)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("string is not UTF-8"))
    }

    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or(corrupt("fixed field past the end"))?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.fixed()?))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
}

pub(crate) fn put_labels(buf: &mut Vec<u8>, l: &Labels) {
    put_uvarint(buf, l.len() as u64);
    for (k, v) in l.iter() {
        put_bytes(buf, k.as_bytes());
        put_bytes(buf, v.as_bytes());
    }
}

pub(crate) fn get_labels(r: &mut Reader<'_>) -> Result<Labels> {
    let n = r.count(2)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push((r.str()?.to_owned(), r.str()?.to_owned()));
    }
    if !Labels::is_sorted_unique(&v) {
        return Err(corrupt("labels not sorted"));
    }
    Ok(Labels::from_sorted(v))
}

/// A record after its time: attributes then body.
pub(crate) fn put_record_rest(buf: &mut Vec<u8>, rec: &Record) {
    put_uvarint(buf, rec.attrs.len() as u64);
    for (k, v) in &rec.attrs {
        put_bytes(buf, k.as_bytes());
        put_bytes(buf, v.as_bytes());
    }
    put_bytes(buf, &rec.body);
}

/// A record with its absolute time (head and WAL encoding).
pub(crate) fn put_record(buf: &mut Vec<u8>, rec: &Record) {
    put_ivarint(buf, rec.time_ns);
    put_record_rest(buf, rec);
}

/// The borrowed view of an encoded record: what filters and the block builder look at
/// without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef<'a> {
    pub time_ns: i64,
    /// attribute count, then the encoded attributes and body
    pub rest: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// Reads the attributes and body after the time; advances `r` past the record.
    pub(crate) fn read_rest(r: &mut Reader<'a>, time_ns: i64) -> Result<Self> {
        let start = r.pos();
        let n = r.count(2)?;
        for _ in 0..n {
            r.bytes()?;
            r.bytes()?;
        }
        r.bytes()?;
        let end = r.pos();
        Ok(RecordRef {
            time_ns,
            rest: &r.buf[start..end],
        })
    }

    /// Calls `f` with every attribute value and then the body.
    pub(crate) fn for_each_text(&self, mut f: impl FnMut(&'a [u8], bool)) -> Result<()> {
        let mut r = Reader::new(self.rest);
        let n = r.count(2)?;
        for _ in 0..n {
            r.bytes()?;
            f(r.bytes()?, true);
        }
        f(r.bytes()?, false);
        Ok(())
    }

    pub(crate) fn to_record(self) -> Result<Record> {
        let mut r = Reader::new(self.rest);
        let n = r.count(2)?;
        let mut attrs = Vec::with_capacity(n);
        for _ in 0..n {
            attrs.push((r.str()?.to_owned(), r.str()?.to_owned()));
        }
        Ok(Record {
            time_ns: self.time_ns,
            attrs,
            body: r.bytes()?.to_vec(),
        })
    }
}

/// Decodes `count` records written by `put_record` (absolute times).
pub(crate) fn read_records(buf: &[u8]) -> impl Iterator<Item = Result<RecordRef<'_>>> {
    let mut r = Reader::new(buf);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || r.is_empty() {
            return None;
        }
        let rec = r.ivarint().and_then(|t| RecordRef::read_rest(&mut r, t));
        failed = rec.is_err();
        Some(rec)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(Reader::new(&b).uvarint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_700_000_000_000_000_000] {
            let mut b = Vec::new();
            put_ivarint(&mut b, v);
            assert_eq!(Reader::new(&b).ivarint().unwrap(), v);
        }
        assert!(Reader::new(&[0xff; 11]).uvarint().is_err());
    }

    #[test]
    fn records_round_trip_and_truncations_fail() {
        let rec = Record::new(42, "hello world").with_attr("trace_id", "abc");
        let mut b = Vec::new();
        put_record(&mut b, &rec);
        let got: Vec<_> = read_records(&b).collect::<Result<_>>().unwrap();
        assert_eq!(got[0].to_record().unwrap(), rec);
        for cut in 0..b.len() {
            let r: Result<Vec<_>> = read_records(&b[..cut]).collect();
            assert!(cut == 0 || r.is_err(), "cut at {cut}");
        }
    }
}
