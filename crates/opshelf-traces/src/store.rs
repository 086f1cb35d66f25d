//! Spans on the event store.
//!
//! One stream per service (label `service`), so a search for a service reads only its
//! stream. Each span is one record at its start time: the body is the span with its
//! resource and scope (`otlp::encode_single`, protobuf), the attributes are what searches
//! look at without decoding — `trace_id` and `span_id` (hex), `name`, `kind`, `status`,
//! `duration_ns`, and every span and resource attribute as `a.<key>` / `r.<key>` with its
//! value as text. The event store indexes attribute values whole in its bloom filters, so a
//! trace by id is one needle lookup (`lookup_token`), and a search by operation or tag
//! value skips the chunks that cannot hold it.
//!
//! Services and operations are also kept in core storage (`ops/...`), written the first
//! time each is seen, so `/api/services` never scans spans.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use opshelf_core::StorageView;
use opshelf_eventstore::{Direction, EventStore, Hit, Labels, Matcher, Query, Record};

use crate::otlp::{self, ResourceSpans, Span, TracesRequest};

/// Every span is stored under one tenant (OTLP has no tenant; multi-tenancy would be an
/// `X-Scope-OrgID` header as Tempo's).
pub const TENANT: &str = "default";
/// The most spans one trace answer carries.
pub const MAX_TRACE_SPANS: usize = 100_000;
/// The most spans a search looks at before it answers with what it found.
const MAX_SCANNED: usize = 2_000_000;
/// Operations remembered per service, services at most (the rest are still stored and
/// searchable, just not listed).
const MAX_OPERATIONS: usize = 10_000;
const MAX_SERVICES: usize = 10_000;
/// Core-storage key of [`SpanStore::tags_indexed_since_ns`].
const TAGS_INDEXED_KEY: &str = "format/tags-indexed-since-ns";

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Events(#[from] opshelf_eventstore::Error),
    #[error("index storage: {0}")]
    Index(#[from] opshelf_core::StorageError),
    #[error("stored span unreadable: {0}")]
    Corrupt(String),
    #[error("query task failed: {0}")]
    Task(String),
}

/// A stored span with its resource and scope.
#[derive(Debug, Clone)]
pub struct StoredSpan {
    pub rs: ResourceSpans,
}

impl StoredSpan {
    #[must_use]
    pub fn span(&self) -> &Span {
        // encode_single always writes exactly one scope with one span; decode checks it.
        &self.rs.scope_spans[0].spans[0]
    }

    #[must_use]
    pub fn service(&self) -> String {
        otlp::service_name(self.rs.resource.as_ref())
    }

    fn decode(hit: &Hit) -> Result<Self, StoreError> {
        let rs = otlp::decode_single(&hit.record.body)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if rs.scope_spans.len() != 1 || rs.scope_spans[0].spans.len() != 1 {
            return Err(StoreError::Corrupt("not one span".to_owned()));
        }
        Ok(Self { rs })
    }
}

/// A search (Jaeger's `TraceQueryParameters`).
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub service: String,
    pub operation: Option<String>,
    /// Tags every matching span must carry (span, resource or event attributes, or the
    /// derived `error`, `span.kind`, `otel.status_code`).
    pub tags: BTreeMap<String, String>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub min_duration_ns: Option<i64>,
    pub max_duration_ns: Option<i64>,
    /// Traces at most.
    pub limit: usize,
    /// Only spans of this kind (`server`, `client`, ...), for `/api/operations`.
    pub span_kind: Option<String>,
}

/// Service → its (operation, span kind) pairs.
type OpIndex = BTreeMap<String, BTreeSet<(String, i32)>>;

/// The spans and the service/operation index.
#[derive(Clone)]
pub struct SpanStore {
    events: EventStore,
    kv: StorageView,
    index: Arc<Mutex<OpIndex>>,
    /// Spans starting at or after this time carry every tag value searches probe for
    /// (see [`needle`]); spans stored by a version before event attributes were indexed
    /// may start earlier, so searches reaching back before it are not narrowed by tags.
    tags_indexed_since_ns: i64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn op_key(service: &str, kind: i32, name: &str) -> String {
    // JSON keeps any byte in a name unambiguous.
    format!("ops/{}", serde_json::json!([service, kind, name]))
}

impl SpanStore {
    /// Open the event store under `dir` and load the index.
    ///
    /// # Errors
    /// The event store or core storage failed.
    pub async fn open(
        dir: &Path,
        cfg: opshelf_eventstore::Config,
        kv: StorageView,
    ) -> Result<Self, StoreError> {
        let dir = dir.to_owned();
        let events = tokio::task::spawn_blocking(move || EventStore::open(&dir, cfg))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        let mut index = OpIndex::new();
        for key in kv.list("ops/").await? {
            let Some(json) = key.strip_prefix("ops/") else {
                continue;
            };
            if let Ok((svc, kind, name)) = serde_json::from_str::<(String, i32, String)>(json) {
                index.entry(svc).or_default().insert((name, kind));
            }
        }
        let tags_indexed_since_ns = match kv.get(TAGS_INDEXED_KEY).await? {
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("{TAGS_INDEXED_KEY}: {v:?}")))?,
            None => {
                // A store that never held a span holds none without these attributes; an
                // older one may, up to now (plus an hour for clients' clocks running ahead).
                let since = if index.is_empty() {
                    i64::MIN
                } else {
                    now_ns().saturating_add(3_600_000_000_000)
                };
                kv.put(TAGS_INDEXED_KEY, since.to_string().as_bytes())
                    .await?;
                since
            }
        };
        Ok(Self {
            events,
            kv,
            index: Arc::new(Mutex::new(index)),
            tags_indexed_since_ns,
        })
    }

    #[must_use]
    pub fn events(&self) -> &EventStore {
        &self.events
    }

    /// Store every span of `req` (already checked by `otlp::check_traces`); resolves once
    /// all are durable.
    ///
    /// # Errors
    /// The event store refused a batch (`Overloaded` → retry later) or failed.
    pub async fn append(&self, req: &TracesRequest) -> Result<usize, StoreError> {
        let mut by_service: HashMap<String, Vec<Record>> = HashMap::new();
        let mut new_ops: Vec<(String, String, i32)> = Vec::new();
        {
            let index = lock(&self.index);
            for rs in &req.resource_spans {
                let service = otlp::service_name(rs.resource.as_ref());
                let known = index.get(&service);
                let records = by_service.entry(service.clone()).or_default();
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        records.push(record(rs, ss, span));
                        let op = (span.name.clone(), span.kind);
                        if !known.is_some_and(|k| k.contains(&op))
                            && !new_ops
                                .iter()
                                .any(|(s, n, k)| *s == service && *n == op.0 && *k == op.1)
                        {
                            new_ops.push((service.clone(), op.0, op.1));
                        }
                    }
                }
            }
        }
        let mut n = 0;
        for (service, records) in &by_service {
            let labels = Labels::new([("service", service.as_str())]);
            // One append per stream; a batch bigger than the store's batch limit is split.
            for part in split(records) {
                n += self.events.append(TENANT, &labels, part).await?.records;
            }
        }
        for (service, name, kind) in new_ops {
            let fits = {
                let index = lock(&self.index);
                index.len() < MAX_SERVICES || index.contains_key(&service)
            } && lock(&self.index)
                .get(&service)
                .is_none_or(|ops| ops.len() < MAX_OPERATIONS);
            if !fits {
                continue;
            }
            self.kv.put(&op_key(&service, kind, &name), b"").await?;
            lock(&self.index)
                .entry(service)
                .or_default()
                .insert((name, kind));
        }
        Ok(n)
    }

    /// Services seen, sorted.
    #[must_use]
    pub fn services(&self) -> Vec<String> {
        lock(&self.index).keys().cloned().collect()
    }

    /// (operation, kind) pairs of `service`, sorted by name.
    #[must_use]
    pub fn operations(&self, service: &str) -> Vec<(String, i32)> {
        lock(&self.index)
            .get(service)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every span of the trace `trace_id` (16 bytes) between `from_ns` and `to_ns`, in start
    /// order.
    ///
    /// # Errors
    /// The event store failed.
    pub async fn trace(
        &self,
        trace_id: &[u8],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<StoredSpan>, StoreError> {
        let hex_id = hex::encode(trace_id);
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            let it = events.lookup_token(TENANT, &hex_id, from_ns, to_ns, 0)?;
            let mut out = Vec::new();
            for hit in it {
                let hit = hit?;
                if attr(&hit.record, "trace_id") != Some(hex_id.as_str()) {
                    continue;
                }
                out.push(StoredSpan::decode(&hit)?);
                if out.len() >= MAX_TRACE_SPANS {
                    break;
                }
            }
            out.sort_by_key(|s| s.span().start_time_unix_nano);
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The traces `ids` (each as [`trace`](Self::trace) gives it), read concurrently: a
    /// search answers with up to its limit of whole traces.
    ///
    /// # Errors
    /// The event store failed.
    pub async fn traces(
        &self,
        ids: &[impl AsRef<[u8]>],
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<Vec<StoredSpan>>, StoreError> {
        // A few at a time: every read holds its chunks against the store's query memory.
        const AT_ONCE: usize = 4;
        let mut out = Vec::with_capacity(ids.len());
        for part in ids.chunks(AT_ONCE) {
            let reads: Vec<_> = part
                .iter()
                .map(|id| {
                    let (st, id) = (self.clone(), id.as_ref().to_vec());
                    tokio::spawn(async move { st.trace(&id, from_ns, to_ns).await })
                })
                .collect();
            for r in reads {
                out.push(r.await.map_err(|e| StoreError::Task(e.to_string()))??);
            }
        }
        Ok(out)
    }

    /// Trace ids of the newest traces with a span matching `q`, newest first.
    ///
    /// # Errors
    /// The event store failed.
    pub async fn find_trace_ids(&self, q: Search) -> Result<Vec<Vec<u8>>, StoreError> {
        let events = self.events.clone();
        let tags_indexed = q.start_ns >= self.tags_indexed_since_ns;
        tokio::task::spawn_blocking(move || find_blocking(&events, &q, tags_indexed))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Spans between `from_ns` and `to_ns` of every service, for the dependency graph (at
    /// most `MAX_SCANNED`).
    ///
    /// # Errors
    /// The event store failed.
    pub async fn scan(&self, from_ns: i64, to_ns: i64) -> Result<Vec<StoredSpan>, StoreError> {
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            let mut q = Query::all(TENANT);
            q.from_ns = from_ns;
            q.to_ns = to_ns;
            q.limit = MAX_SCANNED;
            let mut out = Vec::new();
            for hit in events.query(q)? {
                out.push(StoredSpan::decode(&hit?)?);
            }
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// Parts of at most 2 MiB of bodies, so no append exceeds the store's batch limit.
fn split(records: &[Record]) -> Vec<&[Record]> {
    const PART: usize = 2 << 20;
    let mut parts = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, r) in records.iter().enumerate() {
        let size = r.body.len()
            + r.attrs
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>();
        if bytes + size > PART && i > start {
            parts.push(&records[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        parts.push(&records[start..]);
    }
    parts
}

fn attr<'a>(r: &'a Record, key: &str) -> Option<&'a str> {
    r.attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Longest attribute value kept in the record's searchable attributes (the body keeps all).
const MAX_INDEXED_VALUE: usize = 256;

fn record(rs: &ResourceSpans, ss: &otlp::ScopeSpans, span: &Span) -> Record {
    let start = i64::try_from(span.start_time_unix_nano).unwrap_or(i64::MAX);
    let duration = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    let status = span.status.as_ref().map_or(0, |s| s.code);
    let mut attrs = vec![
        ("trace_id".to_owned(), hex::encode(&span.trace_id)),
        ("span_id".to_owned(), hex::encode(&span.span_id)),
        ("name".to_owned(), span.name.clone()),
        ("kind".to_owned(), span.kind.to_string()),
        ("status".to_owned(), status.to_string()),
        ("duration_ns".to_owned(), duration.to_string()),
    ];
    for kv in &span.attributes {
        if let Some(v) = &kv.value {
            let text = otlp::value_text(v);
            if text.len() <= MAX_INDEXED_VALUE {
                attrs.push((format!("a.{}", kv.key), text));
            }
        }
    }
    if let Some(r) = &rs.resource {
        for kv in &r.attributes {
            if let Some(v) = &kv.value
                && kv.key != "service.name"
            {
                let text = otlp::value_text(v);
                if text.len() <= MAX_INDEXED_VALUE {
                    attrs.push((format!("r.{}", kv.key), text));
                }
            }
        }
    }
    // What `derived_tag` and `has_tag` also match, so a tag's value is always an attribute
    // value of the spans that have it (and the store's filters can skip the others).
    if status == 2 || error_attribute(rs, span) {
        attrs.push(("otel.status_code".to_owned(), "ERROR".to_owned()));
    }
    let mut seen: BTreeSet<(&str, String)> = BTreeSet::new();
    for e in &span.events {
        if e.name.len() <= MAX_INDEXED_VALUE && seen.insert(("", e.name.clone())) {
            attrs.push(("event".to_owned(), e.name.clone()));
        }
        for kv in &e.attributes {
            if let Some(v) = &kv.value {
                let text = otlp::value_text(v);
                if text.len() <= MAX_INDEXED_VALUE && seen.insert((&kv.key, text.clone())) {
                    attrs.push((format!("e.{}", kv.key), text));
                }
            }
        }
    }
    Record {
        time_ns: start,
        attrs,
        body: otlp::encode_single(rs.resource.as_ref(), &rs.schema_url, ss, span),
    }
}

/// Whether an attribute (span, resource or event) makes the `error=true` or
/// `otel.status_code=ERROR` tag match a span whose status is not an error.
fn error_attribute(rs: &ResourceSpans, span: &Span) -> bool {
    let hit = |kvs: &[otlp::KeyValue]| {
        kvs.iter().any(|kv| {
            kv.value.as_ref().is_some_and(|v| {
                let t = otlp::value_text(v);
                (kv.key == "error" && t == "true") || (kv.key == "otel.status_code" && t == "ERROR")
            })
        })
    };
    hit(&span.attributes)
        || rs.resource.as_ref().is_some_and(|r| hit(&r.attributes))
        || span.events.iter().any(|e| hit(&e.attributes))
}

/// Jaeger's names for span kinds (as `span.kind` tags and `spanKind` fields).
#[must_use]
pub fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "",
    }
}

/// Tags whose value the record's attributes cannot be probed for (derived from fields).
fn derived_tag(span: &Span, key: &str) -> Option<String> {
    let status = span.status.as_ref().map_or(0, |s| s.code);
    match key {
        "error" => (status == 2).then(|| "true".to_owned()),
        "span.kind" => Some(kind_name(span.kind).to_owned()).filter(|k| !k.is_empty()),
        "otel.status_code" => match status {
            1 => Some("OK".to_owned()),
            2 => Some("ERROR".to_owned()),
            _ => None,
        },
        "otel.status_description" => span
            .status
            .as_ref()
            .map(|s| s.message.clone())
            .filter(|m| !m.is_empty()),
        "otel.scope.name" => None,
        _ => None,
    }
}

fn has_tag(s: &StoredSpan, key: &str, want: &str) -> bool {
    let span = s.span();
    if derived_tag(span, key).as_deref() == Some(want) {
        return true;
    }
    let kv_matches = |kvs: &[otlp::KeyValue]| {
        kvs.iter().any(|kv| {
            kv.key == key
                && kv
                    .value
                    .as_ref()
                    .is_some_and(|v| otlp::value_text(v) == want)
        })
    };
    if kv_matches(&span.attributes) {
        return true;
    }
    if let Some(r) = &s.rs.resource
        && kv_matches(&r.attributes)
    {
        return true;
    }
    if let Some(scope) = &s.rs.scope_spans[0].scope
        && ((key == "otel.scope.name" && scope.name == want)
            || (key == "otel.scope.version" && scope.version == want))
    {
        return true;
    }
    span.events
        .iter()
        .any(|e| (key == "event" && e.name == want) || kv_matches(&e.attributes))
}

fn span_matches(s: &StoredSpan, q: &Search) -> bool {
    let span = s.span();
    if q.operation.as_ref().is_some_and(|op| *op != span.name) {
        return false;
    }
    if q.span_kind
        .as_ref()
        .is_some_and(|k| k != kind_name(span.kind))
    {
        return false;
    }
    let duration = i64::try_from(
        span.end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano),
    )
    .unwrap_or(i64::MAX);
    if q.min_duration_ns.is_some_and(|m| duration < m)
        || q.max_duration_ns.is_some_and(|m| duration > m)
    {
        return false;
    }
    q.tags.iter().all(|(k, v)| has_tag(s, k, v))
}

/// A value every matching span holds whole as a record attribute value, so the store's
/// filters can skip the chunks without it: the operation name, else the longest tag value
/// (span, resource and event attributes, event names and the error status are all record
/// attributes; see [`record`]). Only the scope's name and version are not: they never
/// narrow. `tags_indexed` is false for a search reaching back to spans stored before event
/// attributes were.
fn needle(q: &Search, tags_indexed: bool) -> Option<String> {
    if let Some(op) = &q.operation
        && op.len() <= MAX_INDEXED_VALUE
    {
        return Some(op.clone());
    }
    if !tags_indexed {
        return None;
    }
    q.tags
        .iter()
        .filter_map(|(k, v)| match k.as_str() {
            "error" => (v == "true").then_some("ERROR"),
            "otel.status_code" => (v == "ERROR").then_some("ERROR"),
            // `service.name` is the stream's label, not an attribute.
            "service.name"
            | "span.kind"
            | "otel.status_description"
            | "otel.scope.name"
            | "otel.scope.version" => None,
            _ => (v.len() <= MAX_INDEXED_VALUE).then_some(v.as_str()),
        })
        .filter(|v| !v.is_empty())
        .max_by_key(|v| v.len())
        .map(str::to_owned)
}

fn find_blocking(
    events: &EventStore,
    q: &Search,
    tags_indexed: bool,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let query = Query {
        tenant: TENANT.to_owned(),
        from_ns: q.start_ns,
        to_ns: q.end_ns,
        matchers: vec![Matcher::eq("service", q.service.clone())],
        direction: Direction::Backward,
        limit: MAX_SCANNED,
        needle: needle(q, tags_indexed),
        contains: None,
    };
    let limit = if q.limit == 0 { 20 } else { q.limit };
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for hit in events.query(query)? {
        let hit = hit?;
        let Some(id) = attr(&hit.record, "trace_id") else {
            continue;
        };
        if seen.contains(id) {
            continue;
        }
        // Cheap checks on the attributes before decoding the body.
        if let Some(op) = &q.operation
            && attr(&hit.record, "name") != Some(op.as_str())
        {
            continue;
        }
        let s = StoredSpan::decode(&hit)?;
        if !span_matches(&s, q) {
            continue;
        }
        seen.insert(id.to_owned());
        found.push(s.span().trace_id.clone());
        if found.len() >= limit {
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{AnyValue, AnyValueKind, KeyValue, Resource, ScopeSpans, Status};

    pub(crate) fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.to_owned(),
            value: Some(AnyValue {
                value: Some(AnyValueKind::StringValue(v.to_owned())),
            }),
            ..KeyValue::default()
        }
    }

    pub(crate) fn span(
        trace: u8,
        id: u8,
        parent: u8,
        name: &str,
        start_ms: u64,
        dur_ms: u64,
    ) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![parent; 8]
            },
            name: name.to_owned(),
            kind: 2,
            start_time_unix_nano: start_ms * 1_000_000,
            end_time_unix_nano: (start_ms + dur_ms) * 1_000_000,
            ..Span::default()
        }
    }

    pub(crate) fn request(service: &str, spans: Vec<Span>) -> TracesRequest {
        TracesRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", service), kv("host.name", "h1")],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                schema_url: String::new(),
            }],
        }
    }

    async fn open(dir: &Path) -> SpanStore {
        let kv = opshelf_core::Context::for_tests_named("traces")
            .await
            .storage;
        SpanStore::open(dir, opshelf_eventstore::Config::default(), kv)
            .await
            .unwrap()
    }

    #[test]
    fn the_needle_is_the_operation_else_the_longest_probed_tag_value() {
        let mut q = Search::default();
        q.tags.insert("error".into(), "true".into());
        q.tags.insert("http.route".into(), "/checkout/{id}".into());
        assert_eq!(needle(&q, true).as_deref(), Some("/checkout/{id}"));
        assert_eq!(needle(&q, false), None, "not before tags were indexed");
        q.tags.remove("http.route");
        assert_eq!(needle(&q, true).as_deref(), Some("ERROR"));
        q.tags.insert("span.kind".into(), "server-and-more".into());
        q.tags.insert("error".into(), "false".into());
        assert_eq!(needle(&q, true), None);
        q.operation = Some("GET /".into());
        assert_eq!(needle(&q, false).as_deref(), Some("GET /"));
    }

    #[test]
    fn an_error_attribute_marks_the_span_for_the_error_tag() {
        let req = request("shop", vec![span(1, 1, 0, "GET /", 1_000, 1)]);
        let rs = &req.resource_spans[0];
        let mut sp = rs.scope_spans[0].spans[0].clone();
        let marked = |sp: &Span| {
            record(rs, &rs.scope_spans[0], sp)
                .attrs
                .iter()
                .any(|(k, v)| k == "otel.status_code" && v == "ERROR")
        };
        assert!(!marked(&sp));
        sp.attributes.push(KeyValue {
            key: "error".into(),
            value: Some(AnyValue {
                value: Some(AnyValueKind::BoolValue(true)),
            }),
            ..KeyValue::default()
        });
        assert!(marked(&sp));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_from_before_tag_indexing_is_not_narrowed_by_tags_for_old_spans() {
        let dir = tempfile::tempdir().unwrap();
        let kv = opshelf_core::Context::for_tests_named("traces")
            .await
            .storage;
        // An older version's store: an operation index, no marker.
        kv.put(&op_key("shop", 2, "GET /"), b"").await.unwrap();
        let st = SpanStore::open(
            dir.path(),
            opshelf_eventstore::Config::default(),
            kv.clone(),
        )
        .await
        .unwrap();
        assert!(st.tags_indexed_since_ns > now_ns());
        let es = st.events().clone();
        tokio::task::spawn_blocking(move || es.close())
            .await
            .unwrap()
            .unwrap();
        let since = st.tags_indexed_since_ns;
        drop(st);
        let again = SpanStore::open(dir.path(), opshelf_eventstore::Config::default(), kv)
            .await
            .unwrap();
        assert_eq!(again.tags_indexed_since_ns, since, "kept across restarts");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_are_found_by_trace_and_by_search() {
        let dir = tempfile::tempdir().unwrap();
        let st = open(dir.path()).await;
        let mut err = span(1, 2, 1, "charge", 1_000, 50);
        err.status = Some(Status {
            code: 2,
            message: "declined".into(),
        });
        err.attributes.push(kv("http.route", "/pay"));
        err.events.push(otlp::Event {
            name: "exception".into(),
            attributes: vec![kv("exception.type", "CardDeclined")],
            ..otlp::Event::default()
        });
        st.append(&request(
            "shop",
            vec![
                span(1, 1, 0, "GET /", 1_000, 100),
                err,
                span(3, 3, 0, "GET /", 2_000, 5),
            ],
        ))
        .await
        .unwrap();
        st.append(&request("db", vec![span(1, 4, 2, "SELECT", 1_010, 3)]))
            .await
            .unwrap();
        assert_eq!(st.services(), ["db", "shop"]);
        assert_eq!(
            st.operations("shop"),
            [("GET /".to_owned(), 2), ("charge".to_owned(), 2)]
        );
        let t = st.trace(&[1; 16], i64::MIN, i64::MAX).await.unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].service(), "db");
        let all = Search {
            service: "shop".into(),
            start_ns: 0,
            end_ns: i64::MAX,
            limit: 10,
            ..Search::default()
        };
        let ids = st.find_trace_ids(all.clone()).await.unwrap();
        assert_eq!(ids, [vec![3; 16], vec![1; 16]], "newest first");
        let mut q = all.clone();
        q.tags.insert("error".into(), "true".into());
        assert_eq!(st.find_trace_ids(q).await.unwrap(), [vec![1; 16]]);
        let mut q = all.clone();
        q.tags.insert("http.route".into(), "/pay".into());
        q.tags.insert("host.name".into(), "h1".into());
        assert_eq!(st.find_trace_ids(q).await.unwrap(), [vec![1; 16]]);
        // Event attributes and names, and error spans, narrow the read and are found.
        for (k, v) in [
            ("exception.type", "CardDeclined"),
            ("event", "exception"),
            ("otel.status_code", "ERROR"),
        ] {
            let mut q = all.clone();
            q.tags.insert(k.into(), v.into());
            assert!(needle(&q, true).is_some(), "{k}");
            assert_eq!(st.find_trace_ids(q).await.unwrap(), [vec![1; 16]], "{k}");
        }
        let mut q = all.clone();
        q.tags.insert("service.name".into(), "shop".into());
        assert_eq!(needle(&q, true), None);
        assert_eq!(st.find_trace_ids(q).await.unwrap().len(), 2);
        let mut q = all.clone();
        q.tags.insert("exception.type".into(), "Other".into());
        assert!(st.find_trace_ids(q).await.unwrap().is_empty());
        let mut q = all.clone();
        q.min_duration_ns = Some(60_000_000);
        assert_eq!(st.find_trace_ids(q).await.unwrap(), [vec![1; 16]]);
        let mut q = all.clone();
        q.max_duration_ns = Some(10_000_000);
        assert_eq!(st.find_trace_ids(q).await.unwrap(), [vec![3; 16]]);
        let mut q = all.clone();
        q.operation = Some("charge".into());
        assert_eq!(st.find_trace_ids(q).await.unwrap(), [vec![1; 16]]);
        let mut q = all;
        q.start_ns = 1_500_000_000;
        assert_eq!(st.find_trace_ids(q).await.unwrap(), [vec![3; 16]]);
        assert!(
            st.trace(&[9; 16], i64::MIN, i64::MAX)
                .await
                .unwrap()
                .is_empty()
        );
        // the index survives a restart
        let kv = st.kv.clone();
        let es = st.events().clone();
        tokio::task::spawn_blocking(move || es.close())
            .await
            .unwrap()
            .unwrap();
        drop(st);
        let again = SpanStore::open(dir.path(), opshelf_eventstore::Config::default(), kv)
            .await
            .unwrap();
        assert_eq!(again.services(), ["db", "shop"]);
        assert_eq!(
            again.tags_indexed_since_ns,
            i64::MIN,
            "a new store indexes tags from the start"
        );
        assert_eq!(
            again
                .trace(&[1; 16], i64::MIN, i64::MAX)
                .await
                .unwrap()
                .len(),
            3
        );
    }
}
