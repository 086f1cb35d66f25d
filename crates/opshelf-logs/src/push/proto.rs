//! `logproto.PushRequest` (`../shared/obs/loki/push/push_stripped.proto`) as prost messages
//! written by hand (no build script), snappy block framing, and the conversion to
//! [`PushStream`]s. Also the encoder, for tests, the benchmark and the compat checks.

use prost::Message;

use super::{Entry, PushError, PushStream, parse_labels};

#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
    #[prost(string, tag = "2")]
    pub format: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
    #[prost(message, repeated, tag = "4")]
    pub parsed: Vec<LabelPairAdapter>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Snappy-block-decompress (the decompressed length is read from the header and checked
/// against `limit` before any allocation), then decode the protobuf.
///
/// # Errors
/// Loki-style 400s for bad snappy or protobuf; 413 past `limit`.
pub fn decode(body: &[u8], limit: usize) -> Result<Vec<PushStream>, PushError> {
    let n =
        snap::raw::decompress_len(body).map_err(|e| PushError::Invalid(format!("snappy: {e}")))?;
    if n > limit {
        return Err(PushError::TooLarge(format!(
            "request body too large: {n} bytes, limit: {limit} bytes"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| PushError::Invalid(format!("snappy: {e}")))?;
    decode_raw(&raw)
}

/// Decode an uncompressed `PushRequest`.
///
/// # Errors
/// A 400 for bad protobuf or label strings.
pub fn decode_raw(raw: &[u8]) -> Result<Vec<PushStream>, PushError> {
    let req = PushRequest::decode(raw).map_err(|e| {
        PushError::Invalid(format!("failed to parse the protobuf push request: {e}"))
    })?;
    let mut out = Vec::with_capacity(req.streams.len());
    for s in req.streams {
        let labels = parse_labels(&s.labels).map_err(PushError::Invalid)?;
        let mut entries = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            let ts = e.timestamp.unwrap_or_default();
            let ts_ns = ts
                .seconds
                .checked_mul(1_000_000_000)
                .and_then(|s| s.checked_add(i64::from(ts.nanos)))
                .ok_or_else(|| PushError::Invalid("entry timestamp out of range".to_owned()))?;
            entries.push(Entry {
                ts_ns,
                line: e.line,
                metadata: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect(),
            });
        }
        out.push(PushStream { labels, entries });
    }
    Ok(out)
}

/// Encode streams as a snappy-compressed `PushRequest` (what Promtail and winston-loki send).
pub fn encode(streams: &[PushStream]) -> Vec<u8> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: s.labels.to_string(),
                entries: s
                    .entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: e.ts_ns.div_euclid(1_000_000_000),
                            nanos: i32::try_from(e.ts_ns.rem_euclid(1_000_000_000))
                                .unwrap_or_default(),
                        }),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(k, v)| LabelPairAdapter {
                                name: k.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: String::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql_adapter::Labels;

    #[test]
    fn round_trip_and_garbage() {
        let s = vec![PushStream {
            labels: Labels::new(vec![("app".into(), "x".into())]),
            entries: vec![Entry {
                ts_ns: 1_767_225_600_001_000_000,
                line: "hello".into(),
                metadata: vec![("trace_id".into(), "abc".into())],
            }],
        }];
        let body = encode(&s);
        assert_eq!(decode(&body, 1 << 20).unwrap(), s);
        assert!(matches!(
            decode(b"\x05\xff\x01", 1 << 20),
            Err(PushError::Invalid(_))
        ));
        assert!(matches!(
            decode(b"\xff\xff\xff\xff\x0f", 1 << 20),
            Err(PushError::TooLarge(_))
        ));
        let bad_proto = snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\x01")
            .unwrap();
        let e = decode(&bad_proto, 1 << 20).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("failed to parse the protobuf push request"),
            "{e}"
        );
        // a header that claims a huge output is refused before allocating it
        assert!(matches!(decode(&body, 4), Err(PushError::TooLarge(_))));
    }
}
