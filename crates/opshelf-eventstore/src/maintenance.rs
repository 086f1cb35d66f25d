//! The maintenance thread: frozen heads cut into blocks, compaction of small blocks,
//! retention by age and size. Serialized by `Inner::maint_lock`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crate::block::{self, Block, BlockBuilder};
use crate::codec;
use crate::error::{Result, io};
use crate::head::Head;
use crate::model::Labels;
use crate::store::{Inner, lock, now_ns};
use crate::wal;

pub(crate) fn maintenance_loop(inner: &Arc<Inner>) {
    let every = Duration::from_secs(inner.cfg.maintenance_interval_secs);
    let mut last = Instant::now();
    loop {
        {
            let mut woken = lock(&inner.wake.0);
            if !*woken {
                woken = inner
                    .wake
                    .1
                    .wait_timeout(woken, Duration::from_millis(500))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            *woken = false;
        }
        let closing = inner.closing.load(std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = flush_frozen(inner) {
            if closing {
                // nothing is lost: the frozen heads' WAL segments stay until a flush
                // succeeds, and the next open replays them. Retrying here would keep the
                // process from exiting (a full disk, a removed data directory).
                tracing::error!(error = %e, "event store: flushing the head at shutdown failed; the WAL keeps it for the next start");
                break;
            }
            tracing::error!(error = %e, "event store: flushing the head failed; will retry");
            std::thread::sleep(Duration::from_secs(1));
        }
        if closing {
            let pending = inner
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .frozen
                .len();
            if pending == 0 || lock(&inner.failed).is_some() {
                break;
            }
            continue;
        }
        if last.elapsed() >= every {
            last = Instant::now();
            if let Err(e) = maintain(inner) {
                tracing::error!(error = %e, "event store: compaction or retention failed");
            }
        }
    }
}

pub(crate) fn new_block_id(inner: &Inner) -> u64 {
    let mut g = lock(&inner.next_block_id);
    let id = *g;
    *g += 1;
    id
}

/// Writes every frozen head into blocks, oldest first.
pub(crate) fn flush_frozen(inner: &Inner) -> Result<()> {
    let _g = lock(&inner.maint_lock);
    loop {
        let head = {
            let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
            match st.frozen.front() {
                Some(h) => h.clone(),
                None => return Ok(()),
            }
        };
        let blocks = build_blocks(inner, &head)?;
        inner.store.set_flushed_gen(head.gen_)?;
        {
            let mut st = inner.state.write().unwrap_or_else(PoisonError::into_inner);
            for b in blocks {
                st.blocks.push(Arc::new(b));
            }
            st.blocks.sort_by_key(|b| b.meta.min_t);
            st.frozen.pop_front();
        }
        inner.ingest.release(head.bytes);
        for g in wal::list_segments(&inner.wal_dir)? {
            if g <= head.gen_ {
                let p = wal::segment_path(&inner.wal_dir, g);
                std::fs::remove_file(&p).map_err(io(&p))?;
            }
        }
    }
}

/// One block per (tenant, time bucket of `max_block_span`), streams in label order, each
/// stream's records sorted by time.
fn build_blocks(inner: &Inner, head: &Head) -> Result<Vec<Block>> {
    let span = inner.cfg.max_block_span_ns();
    let mut by_tenant: HashMap<&str, Vec<&crate::head::StreamHead>> = HashMap::new();
    for (k, sh) in &head.streams {
        by_tenant.entry(k.tenant.as_str()).or_default().push(sh);
    }
    let mut tenants: Vec<_> = by_tenant.into_iter().collect();
    tenants.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    for (tenant, mut streams) in tenants {
        streams.sort_by(|a, b| a.labels.cmp(&b.labels));
        // every stream's records, sorted, and the buckets they fall in
        let mut sorted = Vec::with_capacity(streams.len());
        let mut buckets = std::collections::BTreeSet::new();
        for sh in &streams {
            let mut recs = Vec::new();
            for c in &sh.sealed {
                for r in codec::read_records(&c.data) {
                    recs.push(r?);
                }
            }
            recs.sort_by_key(|r| r.time_ns);
            for r in &recs {
                buckets.insert(r.time_ns.div_euclid(span));
            }
            sorted.push((sh.labels.clone(), recs));
        }
        for bucket in buckets {
            let id = new_block_id(inner);
            let w = inner.store.create(id)?;
            let mut b = BlockBuilder::new(w, id, tenant, head.gen_, Vec::new(), &inner.cfg)?;
            for (labels, recs) in &sorted {
                let lo = recs.partition_point(|r| r.time_ns.div_euclid(span) < bucket);
                let hi = recs.partition_point(|r| r.time_ns.div_euclid(span) <= bucket);
                if lo == hi {
                    continue;
                }
                b.begin_stream(labels.clone())?;
                for r in &recs[lo..hi] {
                    b.push(*r)?;
                }
            }
            let meta = b.finish()?;
            let src = inner.store.open(id)?;
            out.push(Block::new(meta, src));
        }
    }
    Ok(out)
}

/// Compaction, then retention.
pub(crate) fn maintain(inner: &Inner) -> Result<()> {
    let _g = lock(&inner.maint_lock);
    while compact_once(inner)? {}
    retention(inner)
}

/// Merges one run of small blocks of a tenant (adjacent in time, together at most
/// `block_target_bytes` raw and `max_block_span` long). Chunks and blooms are copied, not
/// recompressed, unless the chunks are small (see `block/builder/rechunk.rs`). Returns
/// whether it merged anything.
fn compact_once(inner: &Inner) -> Result<bool> {
    let target = inner.cfg.block_target_bytes as u64;
    let span = inner.cfg.max_block_span_ns();
    let run: Vec<Arc<Block>> = {
        let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut by_tenant: HashMap<&str, Vec<&Arc<Block>>> = HashMap::new();
        for b in &st.blocks {
            by_tenant.entry(b.meta.tenant.as_str()).or_default().push(b);
        }
        let mut best: Vec<Arc<Block>> = Vec::new();
        for (_, blocks) in by_tenant {
            // st.blocks is sorted by min_t
            let mut run: Vec<&Arc<Block>> = Vec::new();
            let mut raw = 0u64;
            let flush = |run: &mut Vec<&Arc<Block>>, raw: u64, best: &mut Vec<Arc<Block>>| {
                if run.len() >= 2 && (raw >= target / 2 || run.len() >= 8) && best.is_empty() {
                    *best = run.iter().map(|b| (*b).clone()).collect();
                }
                run.clear();
            };
            for b in blocks {
                let small = b.meta.raw_bytes < target / 2;
                let fits = run.first().is_none_or(|f| {
                    raw + b.meta.raw_bytes <= target
                        && b.meta.max_t.max(f.meta.max_t).saturating_sub(f.meta.min_t) < span
                });
                if !small || !fits {
                    flush(&mut run, raw, &mut best);
                    raw = 0;
                }
                if small {
                    raw += b.meta.raw_bytes;
                    run.push(b);
                }
            }
            flush(&mut run, raw, &mut best);
        }
        best
    };
    if run.is_empty() {
        return Ok(false);
    }
    let id = new_block_id(inner);
    let gen_ = run.iter().map(|b| b.meta.gen_).max().unwrap_or(0);
    let replaces: Vec<u64> = run.iter().map(|b| b.meta.id).collect();
    let mut all_labels: Vec<Arc<Labels>> = run
        .iter()
        .flat_map(|b| b.meta.streams.iter().map(|s| s.labels.clone()))
        .collect();
    all_labels.sort();
    all_labels.dedup();
    let w = inner.store.create(id)?;
    let mut nb = BlockBuilder::new(w, id, &run[0].meta.tenant, gen_, replaces, &inner.cfg)?;
    nb.preset_streams(&all_labels);
    let maps: Vec<Vec<u32>> = run
        .iter()
        .map(|b| {
            b.meta
                .streams
                .iter()
                .map(|s| all_labels.binary_search(&s.labels).unwrap_or(0) as u32)
                .collect()
        })
        .collect();
    let raw: u64 = run.iter().map(|b| b.meta.raw_bytes).sum();
    let tables = run
        .iter()
        .map(|b| block::read_table(&b.meta, b.src.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let plan = if block::worth_rechunking(&tables, raw, inner.cfg.chunk_target_bytes) {
        let inputs: Vec<_> = run
            .iter()
            .zip(&tables)
            .zip(&maps)
            .map(|((b, t), m)| (b.src.as_ref(), t, m.as_slice()))
            .collect();
        block::rechunk_plan(&inputs)?
    } else {
        None
    };
    match plan {
        // small chunks, each stream's disjoint in time: re-encoded into full ones
        Some(chunks) => nb.rechunk(&chunks)?,
        // input by input, so each keeps its bloom groups
        None => {
            for ((b, table), map) in run.iter().zip(&tables).zip(&maps) {
                nb.copy_block(b.src.as_ref(), table, map)?;
            }
        }
    }
    let meta = nb.finish()?;
    let src = inner.store.open(id)?;
    let ids: HashSet<u64> = run.iter().map(|b| b.meta.id).collect();
    {
        let mut st = inner.state.write().unwrap_or_else(PoisonError::into_inner);
        st.blocks.retain(|b| !ids.contains(&b.meta.id));
        st.blocks.push(Arc::new(Block::new(meta, src)));
        st.blocks.sort_by_key(|b| b.meta.min_t);
    }
    for id in ids {
        inner.store.remove(id)?;
    }
    lock(&inner.counters).0 += 1;
    Ok(true)
}

fn retention(inner: &Inner) -> Result<()> {
    let cfg = &inner.cfg;
    let mut doomed = Vec::new();
    {
        let mut st = inner.state.write().unwrap_or_else(PoisonError::into_inner);
        if cfg.retention_age_secs > 0 {
            let age = i64::try_from(cfg.retention_age_secs.saturating_mul(1_000_000_000))
                .unwrap_or(i64::MAX);
            let cutoff = now_ns().saturating_sub(age);
            st.blocks.retain(|b| {
                let keep = b.meta.max_t >= cutoff;
                if !keep {
                    doomed.push(b.meta.id);
                }
                keep
            });
        }
        if cfg.retention_bytes > 0 {
            let mut total: u64 = st.blocks.iter().map(|b| b.meta.disk_bytes).sum();
            if total > cfg.retention_bytes {
                let mut by_age: Vec<(i64, u64, u64)> = st
                    .blocks
                    .iter()
                    .map(|b| (b.meta.max_t, b.meta.id, b.meta.disk_bytes))
                    .collect();
                by_age.sort_unstable();
                let mut drop_ids = HashSet::new();
                for (_, id, bytes) in by_age {
                    if total <= cfg.retention_bytes {
                        break;
                    }
                    total -= bytes;
                    drop_ids.insert(id);
                }
                st.blocks.retain(|b| !drop_ids.contains(&b.meta.id));
                doomed.extend(drop_ids);
            }
        }
    }
    lock(&inner.counters).1 += doomed.len() as u64;
    for id in doomed {
        inner.store.remove(id)?;
    }
    Ok(())
}
