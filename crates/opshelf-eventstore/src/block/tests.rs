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
        "a v1 table is not a v2 table"
    );
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
