//! `EventStore::purge`: delete requests applied to the bytes (Loki's compactor pass).
//!
//! Invariants:
//! - runs under `Inner::maint_lock`, so no flush, compaction or retention interleaves; the
//!   caller has cut and flushed the head first, so every record acknowledged before the call
//!   is in a block.
//! - a block is touched only if its tenant is the request's, its time range overlaps and one
//!   of its streams matches every matcher with an overlapping range. A touched block is
//!   rewritten (`BlockBuilder::copy_without`) into a new block that lists it in `replaces`;
//!   once the new block is committed, `st.blocks` swaps them under the state write lock,
//!   then the old file is removed. A crash between the commit and the removal leaves both
//!   files: `open` deletes the replaced one (as after a compaction), so records are never
//!   seen twice and the purged ones never come back.
//! - a block with nothing left is removed without a successor; one with nothing to drop
//!   (its chunks miss the range) is kept as it is.
//! - queries that already hold the old block keep reading it until they end.

use std::sync::{Arc, PoisonError};

use crate::block::{Block, BlockBuilder, Cut};
use crate::error::Result;
use crate::maintenance::new_block_id;
use crate::model::Matcher;
use crate::store::{Inner, lock};

/// What `EventStore::purge` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Blocks written anew without the purged records (each replaced one).
    pub blocks_rewritten: usize,
    /// Blocks deleted because none of their records was left.
    pub blocks_removed: usize,
    pub records_removed: u64,
    /// On-disk bytes of the blocks rewritten or removed, before.
    pub bytes_before: u64,
    /// On-disk bytes of the blocks that replaced them.
    pub bytes_after: u64,
}

/// Rewrites or removes the blocks holding records of `tenant` in streams matching every
/// matcher with `from_ns <= time_ns <= to_ns`.
pub(crate) fn purge_blocks(
    inner: &Inner,
    tenant: &str,
    matchers: &[Matcher],
    from_ns: i64,
    to_ns: i64,
) -> Result<PurgeStats> {
    let _g = lock(&inner.maint_lock);
    let stream_hit = |b: &Block| -> Vec<bool> {
        b.meta
            .streams
            .iter()
            .map(|s| {
                s.max_t >= from_ns
                    && s.min_t <= to_ns
                    && matchers.iter().all(|m| m.matches(&s.labels))
            })
            .collect()
    };
    let affected: Vec<Arc<Block>> = {
        let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
        st.blocks
            .iter()
            .filter(|b| {
                b.meta.tenant == tenant
                    && b.meta.max_t >= from_ns
                    && b.meta.min_t <= to_ns
                    && stream_hit(b).contains(&true)
            })
            .cloned()
            .collect()
    };
    let mut stats = PurgeStats::default();
    for old in affected {
        let hit = stream_hit(&old);
        let m = &old.meta;
        let whole = hit.iter().all(|&h| h) && m.min_t >= from_ns && m.max_t <= to_ns;
        let next = if whole {
            None
        } else {
            let cut = Cut {
                streams: &hit,
                from_ns,
                to_ns,
            };
            match rewrite(inner, &old, &cut)? {
                Rewrite::Unchanged => continue,
                Rewrite::Empty => None,
                Rewrite::Block(b) => Some(b),
            }
        };
        {
            let mut st = inner.state.write().unwrap_or_else(PoisonError::into_inner);
            st.blocks.retain(|b| b.meta.id != m.id);
            if let Some(b) = &next {
                st.blocks.push(b.clone());
                st.blocks.sort_by_key(|b| b.meta.min_t);
            }
        }
        inner.store.remove(m.id)?;
        stats.bytes_before += m.disk_bytes;
        match &next {
            Some(b) => {
                stats.blocks_rewritten += 1;
                stats.bytes_after += b.meta.disk_bytes;
                stats.records_removed += m.records - b.meta.records;
            }
            None => {
                stats.blocks_removed += 1;
                stats.records_removed += m.records;
            }
        }
        tracing::debug!(
            block = m.id,
            tenant,
            replaced_by = next.as_ref().map(|b| b.meta.id),
            "event store: block purged"
        );
    }
    Ok(stats)
}

enum Rewrite {
    /// No chunk held a record in the range.
    Unchanged,
    /// Every record was in the range.
    Empty,
    Block(Arc<Block>),
}

/// Writes `old` without the records `cut` selects, as a committed block replacing it.
fn rewrite(inner: &Inner, old: &Block, cut: &Cut<'_>) -> Result<Rewrite> {
    let table = old.table()?;
    let id = new_block_id(inner);
    let w = inner.store.create(id)?;
    let m = &old.meta;
    let mut nb = BlockBuilder::new(w, id, &m.tenant, m.gen_, vec![m.id], &inner.cfg)?;
    let copied = match nb.copy_without(old.src.as_ref(), m, &table, cut) {
        Ok(c) => c,
        Err(e) => {
            nb.abandon();
            return Err(e);
        }
    };
    if copied.dropped == 0 {
        nb.abandon();
        return Ok(Rewrite::Unchanged);
    }
    if copied.kept == 0 {
        nb.abandon();
        return Ok(Rewrite::Empty);
    }
    let meta = nb.finish()?;
    let src = inner.store.open(id)?;
    Ok(Rewrite::Block(Arc::new(Block::new(meta, src))))
}
