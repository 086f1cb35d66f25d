//! `EventStore`: the writer thread (group commit into the WAL, then the head) and the read
//! path; the maintenance thread (head → blocks, compaction, retention) is `maintenance.rs`.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::block::Block;
use crate::budget::Budget;
use crate::codec;
use crate::config::Config;
use crate::error::{Error, Result, io};
use crate::head::{Head, HeadChunk, StreamKey};
use crate::limits::RateLimits;
use crate::location::{BlockStore, LocalDir};
use crate::maintenance::{flush_frozen, maintain, maintenance_loop};
use crate::model::{Ack, Direction, Hit, Labels, Matcher, Query, Record};
use crate::purge::{PurgeStats, purge_blocks};
use crate::query::{QueryIter, Source};
use crate::wal::{self, Frame, Segment};

/// What `open` found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    pub wal_segments_replayed: usize,
    pub records_replayed: u64,
    /// Bytes of torn or corrupt WAL tail cut on open.
    pub torn_bytes_cut: u64,
    /// Blocks removed because a crash interrupted the flush or compaction that wrote them.
    pub blocks_discarded: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub blocks: usize,
    pub block_bytes: u64,
    pub block_raw_bytes: u64,
    pub block_records: u64,
    pub head_records: u64,
    pub head_bytes: usize,
    pub frozen_heads: usize,
    pub ingest_memory_used: usize,
    pub ingest_memory_budget: usize,
    pub query_memory_used: usize,
    pub query_memory_budget: usize,
    pub wal_generation: u64,
    pub compactions: u64,
    pub blocks_expired: u64,
    pub recovery: Recovery,
}

pub(crate) struct State {
    pub(crate) active: Head,
    pub(crate) frozen: VecDeque<Arc<Head>>,
    pub(crate) blocks: Vec<Arc<Block>>,
}

struct AppendReq {
    key: StreamKey,
    frame: Frame,
    reserved: usize,
    ack: tokio::sync::oneshot::Sender<Result<Ack>>,
}

enum Msg {
    Append(AppendReq),
    /// Freeze the active head now (tests, `flush`, `close`).
    Freeze(tokio::sync::oneshot::Sender<()>),
}

pub(crate) struct Inner {
    pub(crate) cfg: Config,
    pub(crate) wal_dir: PathBuf,
    pub(crate) store: Box<dyn BlockStore>,
    pub(crate) state: RwLock<State>,
    pub(crate) ingest: Budget,
    pub(crate) queries: Arc<Budget>,
    pub(crate) rates: RateLimits,
    pub(crate) failed: Mutex<Option<String>>,
    pub(crate) next_block_id: Mutex<u64>,
    /// serializes flush, compaction and retention
    pub(crate) maint_lock: Mutex<()>,
    pub(crate) wake: (Mutex<bool>, Condvar),
    pub(crate) closing: std::sync::atomic::AtomicBool,
    pub(crate) recovery: Recovery,
    pub(crate) counters: Mutex<(u64, u64)>,
}

/// A handle to the store; clones share it. Dropping the last handle stops the threads
/// (acknowledged data is in the WAL either way); `close` also flushes the head to blocks.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
    tx: Arc<Mutex<Option<Sender<Msg>>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl EventStore {
    /// Opens (or creates) a store in `dir`: blocks under `dir/blocks`, the WAL under `dir/wal`.
    /// Replays the WAL and cuts a torn tail. Blocking: call it at start-up or in
    /// `spawn_blocking`.
    pub fn open(dir: &Path, cfg: Config) -> Result<EventStore> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let store = LocalDir::new(dir)?;
        Self::open_with(dir, cfg, Box::new(store))
    }

    /// Opens with another block location (the WAL stays in `dir/wal`).
    pub fn open_with(dir: &Path, cfg: Config, store: Box<dyn BlockStore>) -> Result<EventStore> {
        cfg.validate()?;
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(io(&wal_dir))?;
        let mut recovery = Recovery::default();

        let flushed = store.flushed_gen()?;
        let loaded = store.load()?;
        let mut next_id = loaded.iter().map(|b| b.meta.id).max().unwrap_or(0) + 1;
        let replaced: HashSet<u64> = loaded
            .iter()
            .flat_map(|b| b.meta.replaces.iter().copied())
            .collect();
        let mut blocks = Vec::new();
        for b in loaded {
            if b.meta.gen_ > flushed || replaced.contains(&b.meta.id) {
                store.remove(b.meta.id)?;
                recovery.blocks_discarded += 1;
            } else {
                blocks.push(Arc::new(b));
            }
        }
        blocks.sort_by_key(|b| b.meta.min_t);

        let segs = wal::list_segments(&wal_dir)?;
        let last = segs.last().copied().unwrap_or(0).max(flushed);
        let mut active = Head::new(last + 1);
        for &g in &segs {
            let path = wal::segment_path(&wal_dir, g);
            if g <= flushed {
                std::fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            let r = wal::replay_segment(&path, |b| {
                let key = StreamKey {
                    tenant: b.tenant.to_owned(),
                    labels: Arc::new(b.labels),
                };
                active.insert(key, b.records, b.count, b.min_t, b.max_t);
                recovery.records_replayed += b.count as u64;
                Ok(())
            })?;
            tracing::debug!(
                segment = g,
                valid_bytes = r.valid_bytes,
                "event store WAL replayed"
            );
            recovery.wal_segments_replayed += 1;
            recovery.torn_bytes_cut += r.cut_bytes;
        }
        next_id = next_id.max(1);
        let seg = Segment::create(&wal_dir, active.gen_)?;
        let ingest = Budget::new(cfg.ingest_budget());
        ingest.charge(active.bytes);
        let queries = Arc::new(Budget::new(cfg.query_budget()));
        let inner = Arc::new(Inner {
            cfg,
            wal_dir,
            store,
            state: RwLock::new(State {
                active,
                frozen: VecDeque::new(),
                blocks,
            }),
            ingest,
            queries,
            rates: RateLimits::default(),
            failed: Mutex::new(None),
            next_block_id: Mutex::new(next_id),
            maint_lock: Mutex::new(()),
            wake: (Mutex::new(false), Condvar::new()),
            closing: std::sync::atomic::AtomicBool::new(false),
            recovery,
            counters: Mutex::new((0, 0)),
        });
        let (tx, rx) = mpsc::channel();
        let w = inner.clone();
        let writer = std::thread::Builder::new()
            .name("eventstore-wal".into())
            .spawn(move || writer_loop(&w, &rx, seg))
            .map_err(io("writer thread"))?;
        let m = inner.clone();
        let maint = std::thread::Builder::new()
            .name("eventstore-maint".into())
            .spawn(move || maintenance_loop(&m))
            .map_err(io("maintenance thread"))?;
        Ok(EventStore {
            inner,
            tx: Arc::new(Mutex::new(Some(tx))),
            threads: Arc::new(Mutex::new(vec![writer, maint])),
        })
    }

    /// Appends a batch to the stream `(tenant, labels)`; resolves once every record is
    /// durable. Waits (without blocking the runtime) while the ingestion budget is full,
    /// then fails with `Overloaded` — it never drops a record silently.
    pub async fn append(&self, tenant: &str, labels: &Labels, records: &[Record]) -> Result<Ack> {
        if records.is_empty() {
            return Ok(Ack { records: 0 });
        }
        let (key, frame) = self.prepare(tenant, labels, records)?;
        let n = frame.bytes.len();
        let timeout = Duration::from_millis(self.inner.cfg.backpressure_timeout_ms);
        if !self.inner.ingest.reserve(n, timeout).await {
            return Err(self.overloaded());
        }
        let rx = self.send(key, frame, n)?;
        rx.await
            .map_err(|_| Error::Closed("writer stopped".to_owned()))?
    }

    /// `append` for plain threads (never call it on a runtime worker).
    pub fn append_blocking(
        &self,
        tenant: &str,
        labels: &Labels,
        records: &[Record],
    ) -> Result<Ack> {
        if records.is_empty() {
            return Ok(Ack { records: 0 });
        }
        let (key, frame) = self.prepare(tenant, labels, records)?;
        let n = frame.bytes.len();
        let timeout = Duration::from_millis(self.inner.cfg.backpressure_timeout_ms);
        if !self.inner.ingest.reserve_blocking(n, timeout) {
            return Err(self.overloaded());
        }
        let rx = self.send(key, frame, n)?;
        rx.blocking_recv()
            .map_err(|_| Error::Closed("writer stopped".to_owned()))?
    }

    fn overloaded(&self) -> Error {
        Error::Overloaded {
            retry_after: Duration::from_secs(1),
        }
    }

    fn prepare(
        &self,
        tenant: &str,
        labels: &Labels,
        records: &[Record],
    ) -> Result<(StreamKey, Frame)> {
        if let Some(f) = lock(&self.inner.failed).as_ref() {
            return Err(Error::Closed(f.clone()));
        }
        let l = &self.inner.cfg.limits;
        if tenant.is_empty() || tenant.len() > 256 {
            return Err(Error::Invalid("tenant must be 1..=256 bytes".to_owned()));
        }
        if labels.len() > l.max_labels_per_stream {
            return Err(Error::Limit(format!(
                "{} labels on a stream (max_labels_per_stream = {})",
                labels.len(),
                l.max_labels_per_stream
            )));
        }
        if labels
            .iter()
            .any(|(k, v)| k.len() > l.max_label_bytes || v.len() > l.max_label_bytes)
        {
            return Err(Error::Limit(format!(
                "a label name or value is longer than max_label_bytes = {}",
                l.max_label_bytes
            )));
        }
        for r in records {
            let size = r.body.len()
                + r.attrs
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 4)
                    .sum::<usize>();
            if size > l.max_record_bytes {
                return Err(Error::Limit(format!(
                    "a record of {size} bytes (max_record_bytes = {})",
                    l.max_record_bytes
                )));
            }
        }
        let frame = wal::encode(tenant, labels, records);
        if frame.bytes.len() > l.max_batch_bytes {
            return Err(Error::Limit(format!(
                "a batch of {} bytes (max_batch_bytes = {})",
                frame.bytes.len(),
                l.max_batch_bytes
            )));
        }
        let key = StreamKey {
            tenant: tenant.to_owned(),
            labels: Arc::new(labels.clone()),
        };
        {
            let st = self
                .inner
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if !st.active.has_stream(&key)
                && st.active.streams_of(tenant) >= l.max_streams_per_tenant
            {
                return Err(Error::Limit(format!(
                    "tenant {tenant:?} has {} active streams (max_streams_per_tenant)",
                    l.max_streams_per_tenant
                )));
            }
        }
        if l.tenant_bytes_per_sec > 0 || l.stream_bytes_per_sec > 0 {
            let mut kb = Vec::new();
            codec::put_bytes(&mut kb, tenant.as_bytes());
            codec::put_labels(&mut kb, labels);
            let h = xxhash_rust::xxh3::xxh3_64(&kb);
            self.inner
                .rates
                .check(l, tenant, h, frame.bytes.len() as u64)?;
        }
        Ok((key, frame))
    }

    fn send(
        &self,
        key: StreamKey,
        frame: Frame,
        reserved: usize,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Ack>>> {
        let (ack, rx) = tokio::sync::oneshot::channel();
        let tx = lock(&self.tx);
        let sent = tx.as_ref().is_some_and(|tx| {
            tx.send(Msg::Append(AppendReq {
                key,
                frame,
                reserved,
                ack,
            }))
            .is_ok()
        });
        if !sent {
            self.inner.ingest.release(reserved);
            return Err(Error::Closed("store closed".to_owned()));
        }
        Ok(rx)
    }

    /// Runs a query: an iterator of hits in time order that reads lazily (blocking I/O).
    pub fn query(&self, q: Query) -> Result<QueryIter> {
        if q.from_ns >= q.to_ns {
            return Err(Error::Invalid("empty time range (from >= to)".to_owned()));
        }
        let inner = &self.inner;
        let cap = inner.cfg.per_query_budget();
        let mut sources: Vec<(Source, i64, i64)> = Vec::new();
        let mut copied = 0usize;
        let text = crate::query::TextFilter::new(&q);
        {
            let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
            for b in &st.blocks {
                let m = &b.meta;
                if m.tenant != q.tenant || m.max_t < q.from_ns || m.min_t >= q.to_ns {
                    continue;
                }
                if !m.streams.iter().any(|s| {
                    s.max_t >= q.from_ns && s.min_t < q.to_ns && q.matches_labels(&s.labels)
                }) {
                    continue;
                }
                sources.push((Source::Block(b.clone()), m.min_t, m.max_t));
            }
            let heads = st.frozen.iter().map(AsRef::as_ref).chain([&st.active]);
            for h in heads {
                for (k, sh) in &h.streams {
                    if k.tenant != q.tenant || !q.matches_labels(&sh.labels) {
                        continue;
                    }
                    let mut add = |c: Arc<HeadChunk>| {
                        if c.count > 0 && c.max_t >= q.from_ns && c.min_t < q.to_ns {
                            let (a, z) = (c.min_t, c.max_t);
                            sources.push((
                                Source::Head {
                                    labels: sh.labels.clone(),
                                    chunk: c,
                                },
                                a,
                                z,
                            ));
                        }
                    };
                    for c in &sh.sealed {
                        add(c.clone());
                    }
                    // an open chunk is copied, unless it cannot hold the needle
                    if sh.open.count > 0
                        && sh.open.max_t >= q.from_ns
                        && sh.open.min_t < q.to_ns
                        && text.may_hold(&sh.open.data)
                    {
                        copied += sh.open.data.len();
                        add(Arc::new(sh.open.clone()));
                    }
                }
            }
        }
        // the copies of open head chunks are held by this query until it ends
        if copied > cap {
            return Err(Error::QueryMemory { budget: cap });
        }
        if !inner.queries.try_reserve(copied)
            && !inner
                .queries
                .reserve_blocking(copied, crate::query::BUSY_WAIT)
        {
            return Err(Error::QueryBusy {
                retry_after: std::time::Duration::from_secs(1),
            });
        }
        QueryIter::new(q, text, sources, inner.queries.clone(), cap, copied)
    }

    /// Records that contain `token` as a whole token (a trace id, a request id, an e-mail),
    /// newest first.
    pub fn lookup_token(
        &self,
        tenant: &str,
        token: &str,
        from_ns: i64,
        to_ns: i64,
        limit: usize,
    ) -> Result<QueryIter> {
        self.query(Query {
            tenant: tenant.to_owned(),
            from_ns,
            to_ns,
            matchers: Vec::new(),
            direction: Direction::Backward,
            limit,
            needle: Some(token.to_owned()),
            contains: None,
        })
    }

    /// The async form of `query`: batches of up to `batch` hits through a bounded channel,
    /// produced on tokio's blocking pool. Must be called inside a runtime.
    pub fn query_stream(
        &self,
        q: Query,
        batch: usize,
    ) -> tokio::sync::mpsc::Receiver<Result<Vec<Hit>>> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let it = match store.query(q) {
                Ok(it) => it,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            let mut buf = Vec::with_capacity(batch.max(1));
            for h in it {
                match h {
                    Ok(h) => buf.push(h),
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
                if buf.len() >= batch.max(1)
                    && tx.blocking_send(Ok(std::mem::take(&mut buf))).is_err()
                {
                    return;
                }
            }
            if !buf.is_empty() {
                let _ = tx.blocking_send(Ok(buf));
            }
        });
        rx
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
        let (compactions, expired) = *lock(&inner.counters);
        let mut s = Stats {
            blocks: st.blocks.len(),
            head_records: st.active.records + st.frozen.iter().map(|h| h.records).sum::<u64>(),
            head_bytes: st.active.bytes + st.frozen.iter().map(|h| h.bytes).sum::<usize>(),
            frozen_heads: st.frozen.len(),
            ingest_memory_used: inner.ingest.used(),
            ingest_memory_budget: inner.ingest.limit(),
            query_memory_used: inner.queries.used(),
            query_memory_budget: inner.queries.limit(),
            wal_generation: st.active.gen_,
            compactions,
            blocks_expired: expired,
            recovery: inner.recovery,
            ..Stats::default()
        };
        for b in &st.blocks {
            s.block_bytes += b.meta.disk_bytes;
            s.block_raw_bytes += b.meta.raw_bytes;
            s.block_records += b.meta.records;
        }
        s
    }

    /// Cuts the head into blocks now and waits until they are written.
    pub fn flush(&self) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let g = lock(&self.tx);
            let Some(s) = g.as_ref() else {
                return Err(Error::Closed("store closed".to_owned()));
            };
            s.send(Msg::Freeze(tx))
                .map_err(|_| Error::Closed("writer stopped".to_owned()))?;
        }
        rx.blocking_recv()
            .map_err(|_| Error::Closed("writer stopped".to_owned()))?;
        flush_frozen(&self.inner)
    }

    /// Removes for good every record of `tenant` in a stream matching all `matchers` with
    /// `from_ns <= time_ns <= to_ns` (both ends inclusive, like a Loki delete request): cuts
    /// and flushes the head first (as `flush`, so records still in the head or the WAL are
    /// covered), then rewrites each block that holds such records without them, or deletes
    /// it when nothing else is left — crash-safe like compaction (see `purge.rs`). Records
    /// appended while it runs are not covered. Blocking, like `flush`: call it from a plain
    /// thread or `spawn_blocking`.
    pub fn purge(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<PurgeStats> {
        if from_ns > to_ns {
            return Err(Error::Invalid("empty time range (from > to)".to_owned()));
        }
        self.flush()?;
        purge_blocks(&self.inner, tenant, matchers, from_ns, to_ns)
    }

    /// Compaction and retention now (they also run every `maintenance_interval_secs`).
    pub fn run_maintenance(&self) -> Result<()> {
        maintain(&self.inner)
    }

    /// Flushes the head, stops the threads. Later calls on any clone fail with `Closed`.
    pub fn close(&self) -> Result<()> {
        let r = self.flush();
        self.shutdown();
        r
    }

    fn shutdown(&self) {
        lock(&self.tx).take();
        self.inner
            .closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        wake(&self.inner);
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for EventStore {
    fn drop(&mut self) {
        if Arc::strong_count(&self.tx) == 1 {
            self.shutdown();
        }
    }
}

fn wake(inner: &Inner) {
    *lock(&inner.wake.0) = true;
    inner.wake.1.notify_all();
}

fn fail(inner: &Inner, msg: String) {
    tracing::error!(error = %msg, "event store writer failed; appends are refused");
    *lock(&inner.failed) = Some(msg);
}

fn writer_loop(inner: &Arc<Inner>, rx: &Receiver<Msg>, mut seg: Segment) {
    let window = inner.cfg.fsync_window();
    let flush_every = Duration::from_secs(inner.cfg.flush_interval_secs);
    let cut = inner.cfg.head_cut_bytes();
    let mut group: Vec<AppendReq> = Vec::new();
    let mut freezes: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let tick = Duration::from_millis(250);
        match rx.recv_timeout(tick) {
            Ok(Msg::Append(r)) => group.push(r),
            Ok(Msg::Freeze(t)) => freezes.push(t),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // gather the group: whatever is queued, plus what arrives within the window
        let deadline = Instant::now() + window;
        let mut bytes: usize = group.iter().map(|r| r.frame.bytes.len()).sum();
        while bytes < 8 << 20 {
            let m = match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if group.is_empty() || now >= deadline {
                        break;
                    }
                    match rx.recv_timeout(deadline - now) {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            match m {
                Msg::Append(r) => {
                    bytes += r.frame.bytes.len();
                    group.push(r);
                }
                Msg::Freeze(t) => freezes.push(t),
            }
        }
        if !group.is_empty() {
            buf.clear();
            for r in &group {
                buf.extend_from_slice(&r.frame.bytes);
            }
            if let Err(e) = seg.write_durable(&buf) {
                let msg = e.to_string();
                fail(inner, msg.clone());
                for r in group.drain(..) {
                    inner.ingest.release(r.reserved);
                    let _ = r.ack.send(Err(Error::Closed(msg.clone())));
                }
                break;
            }
            let (mut reserved, mut grown) = (0usize, 0usize);
            {
                let mut st = inner.state.write().unwrap_or_else(PoisonError::into_inner);
                for r in &group {
                    reserved += r.reserved;
                    grown += st.active.insert(
                        r.key.clone(),
                        r.frame.records(),
                        r.frame.count,
                        r.frame.min_t,
                        r.frame.max_t,
                    );
                }
            }
            inner.ingest.charge(grown);
            inner.ingest.release(reserved);
            for r in group.drain(..) {
                let _ = r.ack.send(Ok(Ack {
                    records: r.frame.count,
                }));
            }
        }
        let (size, age, empty) = {
            let st = inner.state.read().unwrap_or_else(PoisonError::into_inner);
            (
                st.active.bytes,
                st.active.created.elapsed(),
                st.active.is_empty(),
            )
        };
        if !freezes.is_empty() || (!empty && (size >= cut || age >= flush_every)) {
            if !empty {
                match Segment::create(&inner.wal_dir, seg.gen_ + 1) {
                    Ok(s) => {
                        seg = s;
                        let mut st = inner.state.write().unwrap_or_else(PoisonError::into_inner);
                        let mut old = std::mem::replace(&mut st.active, Head::new(seg.gen_));
                        old.seal_all();
                        st.frozen.push_back(Arc::new(old));
                    }
                    Err(e) => {
                        fail(inner, e.to_string());
                        break;
                    }
                }
                wake(inner);
            }
            for t in freezes.drain(..) {
                let _ = t.send(());
            }
        }
    }
    for t in freezes.drain(..) {
        let _ = t.send(());
    }
    wake(inner);
}
