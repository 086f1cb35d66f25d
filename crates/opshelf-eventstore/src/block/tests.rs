use super::*;

#[test]
fn block_round_trips_and_bloom_selects_chunks() {
    let bytes = sample_block(500).unwrap();
    assert_eq!(decode_all(bytes.clone()).unwrap(), 1000);
    let src: Arc<dyn BlockSource> = Arc::new(bytes);
    let m = read_meta(src.as_ref()).unwrap();
    assert_eq!((m.id, m.gen_, m.records, m.streams.len()), (7, 3, 1000, 2));
    let table = read_table(&m, src.as_ref()).unwrap();
    assert!(table.chunks.len() > 4, "{} chunks", table.chunks.len());
    assert_eq!(table.groups.len(), 1);
    let probe = NeedleProbe::delimited(&sample_trace_id(100 * 31 + 1));
    assert!(
        table
            .chunks_passing(src.as_ref(), &probe)
            .unwrap()
            .iter()
            .all(|&p| p)
    );
    let absent = NeedleProbe::delimited("ffffffffffffffffffffffffffffffff");
    let pass = table.chunks_passing(src.as_ref(), &absent).unwrap();
    assert!(
        pass.iter().all(|&p| !p),
        "the group filter rules the block out"
    );
    let hits: Vec<_> = table
        .chunks
        .iter()
        .filter(|c| chunk_may_contain(src.as_ref(), c, &probe).unwrap())
        .collect();
    assert!(
        !hits.is_empty() && hits.len() <= 2,
        "{} chunks pass",
        hits.len()
    );
}

#[test]
fn substring_probes_use_minimizers_and_skip_them_on_version_1_filters() {
    let bytes = sample_block(500).unwrap();
    let src: Arc<dyn BlockSource> = Arc::new(bytes);
    let m = read_meta(src.as_ref()).unwrap();
    assert_eq!(m.format, FORMAT);
    let table = read_table(&m, src.as_ref()).unwrap();
    assert!(table.chunks.iter().all(|c| c.grams) && table.groups.iter().all(|g| g.grams));
    // an infix of a trace id (not a token of its own)
    let id = sample_trace_id(100 * 31 + 1);
    let infix = NeedleProbe::substring(&id[2..30]);
    assert!(!infix.grams.is_empty());
    let hits = table
        .chunks
        .iter()
        .filter(|c| chunk_may_contain(src.as_ref(), c, &infix).unwrap())
        .count();
    assert!((1..=2).contains(&hits), "{hits} chunks pass");
    let absent = NeedleProbe::substring("q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6");
    assert!(absent.grams.len() > 1);
    assert!(
        table
            .chunks_passing(src.as_ref(), &absent)
            .unwrap()
            .iter()
            .all(|&p| !p)
    );

    // the same table as version 1 wrote it: no flags, so no gram may rule a chunk out
    let mut v1 = Vec::new();
    codec::put_uvarint(&mut v1, table.chunks.len() as u64);
    for c in &table.chunks {
        codec::put_uvarint(&mut v1, u64::from(c.stream));
        codec::put_ivarint(&mut v1, c.min_t);
        codec::put_uvarint(&mut v1, (c.max_t - c.min_t) as u64);
        codec::put_uvarint(&mut v1, u64::from(c.records));
        codec::put_uvarint(&mut v1, c.offset);
        codec::put_uvarint(&mut v1, u64::from(c.len));
        codec::put_uvarint(&mut v1, u64::from(c.raw_len));
        v1.extend_from_slice(&c.crc.to_le_bytes());
        codec::put_uvarint(&mut v1, u64::from(c.bloom_blocks));
    }
    codec::put_uvarint(&mut v1, table.groups.len() as u64);
    for g in &table.groups {
        for v in [
            u64::from(g.first),
            u64::from(g.end),
            g.offset,
            u64::from(g.blocks),
        ] {
            codec::put_uvarint(&mut v1, v);
        }
    }
    let old = BlockMeta {
        format: 1,
        ..m.clone()
    };
    let t1 = decode_table(&v1, &old).unwrap();
    assert!(t1.chunks.iter().all(|c| !c.grams) && t1.groups.iter().all(|g| !g.grams));
    assert!(
        t1.chunks_passing(src.as_ref(), &absent)
            .unwrap()
            .iter()
            .all(|&p| p)
    );
    let absent_token = NeedleProbe::delimited("ffffffffffffffffffffffffffffffff");
    assert!(
        t1.chunks_passing(src.as_ref(), &absent_token)
            .unwrap()
            .iter()
            .all(|&p| !p)
    );
    assert!(
        decode_table(&v1, &m).is_err(),
        "a v1 table is not read as the current format"
    );
    assert!(table.chunks.iter().all(|c| c.columnar));
    // the columnar flag is a format 3 flag: a version 2 table that has it is corrupt
    let v2 = BlockMeta {
        format: 2,
        ..m.clone()
    };
    assert!(decode_table(&encode_table(&table.chunks, &table.groups), &v2).is_err());
    let row: Vec<ChunkMeta> = table
        .chunks
        .iter()
        .map(|c| ChunkMeta {
            columnar: false,
            ..*c
        })
        .collect();
    let t2 = decode_table(&encode_table(&row, &table.groups), &v2).unwrap();
    assert!(t2.chunks.iter().all(|c| c.grams && !c.columnar));
}

/// Three records (times 5, 7, 7; no attrs) as format 2 writes a chunk (record after
/// record) and as format 3 does (count, times, then attrs and bodies).
fn both_layouts() -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let recs = [(5i64, "a"), (7, "bb"), (7, "ccc")];
    let rests: Vec<Vec<u8>> = recs
        .iter()
        .map(|(_, body)| {
            let mut r = Vec::new();
            codec::put_uvarint(&mut r, 0);
            codec::put_bytes(&mut r, body.as_bytes());
            r
        })
        .collect();
    let (mut row, mut times, mut prev) = (Vec::new(), Vec::new(), 0);
    for ((t, _), rest) in recs.iter().zip(&rests) {
        codec::put_ivarint(&mut row, t - prev);
        row.extend_from_slice(rest);
        codec::put_ivarint(&mut times, t - prev);
        prev = *t;
    }
    let mut col = Vec::new();
    codec::put_uvarint(&mut col, 3);
    col.extend_from_slice(&times);
    col.extend_from_slice(&rests.concat());
    (row, col, rests)
}

#[test]
fn chunks_read_in_both_layouts_and_a_bad_columnar_chunk_is_one_error() {
    let (row, col, rests) = both_layouts();
    for (raw, columnar) in [(&row, false), (&col, true)] {
        let got: Vec<(i64, Vec<u8>)> = chunk_records(raw, columnar)
            .map(|r| r.map(|r| (r.time_ns, r.rest.to_vec())).unwrap())
            .collect();
        let want: Vec<(i64, Vec<u8>)> = [5, 7, 7].into_iter().zip(rests.clone()).collect();
        assert_eq!(got, want, "columnar {columnar}");
    }
    let outcomes =
        |raw: &[u8]| -> Vec<bool> { chunk_records(raw, true).map(|r| r.is_ok()).collect() };
    let mut extra = col.clone();
    extra.push(0);
    assert_eq!(
        outcomes(&extra),
        [true, true, true, false],
        "a byte after the records"
    );
    let mut count = col.clone();
    count[0] = 100;
    assert_eq!(outcomes(&count), [false], "more records than bytes");
    count[0] = 2;
    let short = outcomes(&count);
    assert_eq!(
        short.last(),
        Some(&false),
        "a count that leaves bytes over: {short:?}"
    );
    assert_eq!(
        outcomes(&col[..col.len() - 1]),
        [true, true, false],
        "a body cut short"
    );
    assert_eq!(outcomes(&[]), [false], "no count");
    // a row chunk read as columnar, and every prefix of both: errors, never a panic
    let _ = outcomes(&row);
    for raw in [&row, &col] {
        for n in 0..raw.len() {
            for columnar in [false, true] {
                let _ = chunk_records(&raw[..n], columnar).count();
            }
        }
    }
}

#[test]
fn truncated_and_mangled_blocks_never_panic() {
    let bytes = sample_block(60).unwrap();
    for cut in (0..bytes.len()).step_by(7) {
        assert!(decode_all(bytes[..cut].to_vec()).is_err());
    }
    let mut x: u32 = 12345;
    for i in 0..3000 {
        let mut m = bytes.clone();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let at = x as usize % m.len();
        m[at] ^= (i as u8) | 1;
        let _ = decode_all(m);
    }
}
