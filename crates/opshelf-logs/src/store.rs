//! `LogStore`: Loki streams on the event store. Push (validated whole, then appended stream by
//! stream, acknowledged once durable), the engine's `Source` over a tenant, the core
//! `LogSink`, live tail fan-out and delete requests' tombstones, applied at read time (the
//! purge that removes their entries from disk is `deletes.rs`).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use opshelf_core::logsink::{Accepted, LogSink, LogStream, OtelLogRecord, SinkError};
use opshelf_eventstore as es;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::broadcast;

use crate::config::Limits;
use crate::deletes::Deletes;
use crate::logql_adapter::{
    self as logql, LabelMatcher, Labels, LogRow, RowIter, SelectRequest, SourceError,
};
use crate::push::{self, Entry, PushError, PushStream};

/// Records per append are cut at this many encoded bytes (well under the store's batch cap).
const APPEND_CHUNK_BYTES: usize = 1 << 20;

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Push(#[from] PushError),
    /// 429 with `Retry-After`.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after: Duration,
    },
    #[error("{0}")]
    Failed(String),
}

/// What a push delivered to live tails.
#[derive(Debug)]
pub struct Pushed {
    pub tenant: String,
    pub streams: Vec<PushStream>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub lines: Counter,
    pub bytes: Counter,
    pub refused: Counter,
    pub out_of_window: Counter,
}

pub struct LogStore {
    es: es::EventStore,
    limits: Limits,
    default_tenant: String,
    tails: broadcast::Sender<Arc<Pushed>>,
    pub(crate) deletes: Deletes,
    pub(crate) counters: Counters,
    /// The last labels converted from the store's type (hits of one stream come in runs).
    convert_cache: RwLock<Option<(Arc<es::Labels>, Labels)>>,
}

impl LogStore {
    pub fn new(
        store: es::EventStore,
        limits: Limits,
        default_tenant: String,
        deletes: Deletes,
    ) -> Self {
        let (tails, _) = broadcast::channel(256);
        Self {
            es: store,
            limits,
            default_tenant,
            tails,
            deletes,
            counters: Counters::default(),
            convert_cache: RwLock::new(None),
        }
    }

    pub fn events(&self) -> &es::EventStore {
        &self.es
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn tenant<'a>(&'a self, t: Option<&'a str>) -> &'a str {
        match t {
            Some(t) if !t.is_empty() => t,
            _ => &self.default_tenant,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Pushed>> {
        self.tails.subscribe()
    }

    /// Validate the whole request, drop the entries outside the time window, then append the
    /// rest; returns the entries stored. Nothing is written when validation fails.
    ///
    /// # Errors
    /// Loki's 400s, the stream limit (429), back-pressure (429 + Retry-After), store failures.
    /// A 400 for entries outside the time window comes after the others are stored, as
    /// Loki's does ([`push::TimeWindow`]).
    pub async fn push(&self, tenant: &str, streams: Vec<PushStream>) -> Result<u64, StoreError> {
        let mut streams = push::merge(streams);
        if let Err(e) = push::validate(&streams, &self.limits) {
            self.counters.refused.inc();
            return Err(e.into());
        }
        let window = push::TimeWindow::new(&self.limits, crate::now_ns());
        let (dropped, outside) = window.retain(&mut streams);
        if dropped > 0 {
            self.counters.refused.inc();
            self.counters.out_of_window.inc_by(dropped as u64);
        }
        let stored = self.append_all(tenant, streams).await?;
        match outside {
            Some(e) => Err(e.into()),
            None => Ok(stored),
        }
    }

    async fn append_all(&self, tenant: &str, streams: Vec<PushStream>) -> Result<u64, StoreError> {
        if streams.is_empty() {
            return Ok(0);
        }
        let labels: Vec<es::Labels> = streams.iter().map(|s| to_es_labels(&s.labels)).collect();
        let refs: Vec<&es::Labels> = labels.iter().collect();
        if let Err(i) = self.es.admits_streams(tenant, &refs) {
            self.counters.refused.inc();
            return Err(PushError::TooMany(format!(
                "Maximum active stream limit exceeded when trying to create stream {}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant}'",
                streams[i].labels
            ))
            .into());
        }
        let mut stored = 0u64;
        for (s, l) in streams.iter().zip(&labels) {
            let mut batch = Vec::new();
            let mut size = 0usize;
            for e in &s.entries {
                size += e.line.len()
                    + e.metadata
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + 8)
                        .sum::<usize>()
                    + 16;
                batch.push(to_record(e));
                if size >= APPEND_CHUNK_BYTES {
                    stored += self.append(tenant, l, &batch).await?;
                    batch.clear();
                    size = 0;
                }
            }
            stored += self.append(tenant, l, &batch).await?;
        }
        let bytes: usize = streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len())
            .sum();
        self.counters.lines.inc_by(stored);
        self.counters.bytes.inc_by(bytes as u64);
        if self.tails.receiver_count() > 0 {
            let _ = self.tails.send(Arc::new(Pushed {
                tenant: tenant.to_owned(),
                streams,
            }));
        }
        Ok(stored)
    }

    async fn append(
        &self,
        tenant: &str,
        labels: &es::Labels,
        batch: &[es::Record],
    ) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        match self.es.append(tenant, labels, batch).await {
            Ok(ack) => Ok(ack.records as u64),
            Err(
                es::Error::Overloaded { retry_after } | es::Error::RateLimited { retry_after, .. },
            ) => Err(StoreError::Overloaded {
                message: "ingestion buffers are full, retry later".to_owned(),
                retry_after,
            }),
            Err(es::Error::Limit(m) | es::Error::Invalid(m)) => Err(PushError::Invalid(m).into()),
            Err(e) => Err(StoreError::Failed(e.to_string())),
        }
    }

    /// The engine's view of one tenant's logs.
    pub fn source(self: &Arc<Self>, tenant: &str) -> TenantSource {
        TenantSource {
            store: self.clone(),
            tenant: tenant.to_owned(),
            deletes: self.deletes.active_for(tenant),
        }
    }

    fn convert(&self, l: &Arc<es::Labels>) -> Labels {
        if let Ok(g) = self.convert_cache.read()
            && let Some((k, v)) = g.as_ref()
            && Arc::ptr_eq(k, l)
        {
            return v.clone();
        }
        let v = Labels::new(
            l.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        if let Ok(mut g) = self.convert_cache.write() {
            *g = Some((l.clone(), v.clone()));
        }
        v
    }
}

pub(crate) fn to_es_labels(l: &Labels) -> es::Labels {
    es::Labels::new(l.iter())
}

fn to_record(e: &Entry) -> es::Record {
    es::Record {
        time_ns: e.ts_ns,
        attrs: e.metadata.clone(),
        body: e.line.as_bytes().to_vec(),
    }
}

/// The store's matchers for LogQL matchers.
pub(crate) fn to_es_matchers(ms: &[LabelMatcher]) -> Result<Vec<es::Matcher>, SourceError> {
    let mut out = Vec::with_capacity(ms.len());
    for m in ms {
        let name = m.name.clone();
        out.push(match m.op {
            logql::MatchOp::Eq => es::Matcher::eq(name, m.value.clone()),
            logql::MatchOp::Neq => es::Matcher::neq(name, m.value.clone()),
            logql::MatchOp::Re => {
                es::Matcher::re(name, &m.value).map_err(|e| SourceError::Other(e.to_string()))?
            }
            logql::MatchOp::Nre => es::Matcher::not_re(name, &m.value)
                .map_err(|e| SourceError::Other(e.to_string()))?,
        });
    }
    Ok(out)
}

/// One tenant's logs as the engine reads them.
pub struct TenantSource {
    store: Arc<LogStore>,
    tenant: String,
    deletes: Vec<crate::deletes::Tombstone>,
}

impl logql::Source for TenantSource {
    fn select(&self, req: &SelectRequest) -> Result<RowIter<'_>, SourceError> {
        if req.from_ns >= req.to_ns {
            return Ok(Box::new(std::iter::empty()));
        }
        // every needle must match, so one is enough to narrow the read: the longest, which
        // has the most tokens and minimizers for the store's filters to rule chunks out
        let contains = req.needles.iter().max_by_key(|n| n.len()).cloned();
        let q = es::Query {
            tenant: self.tenant.clone(),
            from_ns: req.from_ns,
            to_ns: req.to_ns,
            matchers: to_es_matchers(&req.matchers)?,
            direction: match req.direction {
                logql::Direction::Forward => es::Direction::Forward,
                logql::Direction::Backward => es::Direction::Backward,
            },
            // `limit` is a hint: the engine filters after us, and the iterator is lazy anyway
            limit: 0,
            needle: None,
            contains,
        };
        let it = self.store.es.query(q).map_err(source_error)?;
        let store = self.store.clone();
        let deletes = &self.deletes;
        Ok(Box::new(it.filter_map(move |h| match h {
            Err(e) => Some(Err(source_error(e))),
            Ok(h) => {
                if deletes
                    .iter()
                    .any(|d| d.covers(h.record.time_ns, &h.labels))
                {
                    return None;
                }
                let line = match String::from_utf8(h.record.body) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                Some(Ok(LogRow {
                    ts_ns: h.record.time_ns,
                    labels: store.convert(&h.labels),
                    metadata: h.record.attrs,
                    line,
                }))
            }
        })))
    }

    fn series(
        &self,
        matchers: &[Vec<LabelMatcher>],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<Labels>, SourceError> {
        Ok(self
            .summaries(matchers, from_ns, to_ns)?
            .into_iter()
            .map(|s| self.store.convert(&s.labels))
            .collect())
    }
}

impl TenantSource {
    /// Streams with data in the range matching any of the matcher groups (no group: all).
    pub fn summaries(
        &self,
        matchers: &[Vec<LabelMatcher>],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<es::StreamSummary>, SourceError> {
        let mut out: Vec<es::StreamSummary> = Vec::new();
        if matchers.is_empty() {
            out = self.store.es.streams(&self.tenant, from_ns, to_ns, &[]);
        }
        // each group's streams are distinct already; several groups may overlap (a set, not
        // a scan of `out` per stream: that was quadratic, 1.2 s at 10,000 streams)
        let mut seen = std::collections::HashSet::new();
        for group in matchers {
            let ms = to_es_matchers(group)?;
            for s in self.store.es.streams(&self.tenant, from_ns, to_ns, &ms) {
                if matchers.len() == 1 || seen.insert(s.labels.clone()) {
                    out.push(s);
                }
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

pub(crate) fn source_error(e: es::Error) -> SourceError {
    match e {
        es::Error::QueryMemory { budget } => SourceError::Limit(format!(
            "the query needs more than its memory budget of {budget} bytes: narrow the time range or the stream selector"
        )),
        es::Error::QueryBusy { .. } => {
            SourceError::Busy("too many outstanding requests".to_owned())
        }
        es::Error::Invalid(m) => SourceError::Limit(m),
        other => SourceError::Other(other.to_string()),
    }
}

/// The core sink: OTLP logs from the traces receiver, WAF events, opshelf's own lines.
#[async_trait]
impl LogSink for LogStore {
    async fn push_streams(
        &self,
        tenant: Option<&str>,
        streams: Vec<LogStream>,
    ) -> Result<Accepted, SinkError> {
        let mut out = Vec::with_capacity(streams.len());
        for s in streams {
            if let Some((k, _)) = s.labels.iter().find(|(k, _)| !push::valid_label_name(k)) {
                return Err(SinkError::Invalid(format!("invalid label name {k:?}")));
            }
            out.push(PushStream {
                labels: Labels::new(s.labels),
                entries: s
                    .entries
                    .into_iter()
                    .map(|e| Entry {
                        ts_ns: e.time_ns,
                        line: e.line,
                        metadata: e.metadata,
                    })
                    .collect(),
            });
        }
        let tenant = self.tenant(tenant).to_owned();
        sink_result(self.push(&tenant, out).await)
    }

    async fn push_otel(
        &self,
        tenant: Option<&str>,
        records: Vec<OtelLogRecord>,
    ) -> Result<Accepted, SinkError> {
        let tenant = self.tenant(tenant).to_owned();
        sink_result(self.push(&tenant, crate::otlp::to_streams(records)).await)
    }
}

fn sink_result(r: Result<u64, StoreError>) -> Result<Accepted, SinkError> {
    match r {
        Ok(n) => Ok(Accepted {
            stored: n,
            ..Accepted::default()
        }),
        Err(StoreError::Push(PushError::TooMany(m))) => Err(SinkError::Overloaded {
            message: m,
            retry_after: Duration::from_secs(30),
        }),
        Err(StoreError::Push(e)) => Err(SinkError::Invalid(e.to_string())),
        Err(StoreError::Overloaded {
            message,
            retry_after,
        }) => Err(SinkError::Overloaded {
            message,
            retry_after,
        }),
        Err(StoreError::Failed(m)) => Err(SinkError::Failed(m)),
    }
}
