//! Persistence and the published snapshot.
//!
//! Writers take one lock, apply a change to a copy of [`State`], write exactly the records
//! that changed plus an audit event and the new revision in ONE storage transaction (guarded
//! by a check on `state/meta`, so two nodes cannot interleave), then compile a new
//! [`Snapshot`] and swap it in atomically. Readers only ever load the current snapshot: a
//! request sees one revision from start to end.
//!
//! The audit event log (`event/<id, 20 digits>`, so key order is id order) is read newest
//! first with reverse range reads, never in full. Retention keeps the newest
//! [`EVENTS_KEPT`] events: every [`PRUNE_EVERY`] event ids a write removes older ones with
//! one bounded `delete_range` (Unleash itself keeps every event; its admin API, like ours,
//! returns at most 10,000 at once, so that is what we keep).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use bytes::Bytes;
use opshelf_core::{Range, StorageView, TxnOp};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::error::Error;
use crate::model::ClientFeaturesBody;
use crate::state::{
    ClientQuery, Event, EventDraft, MetaState, State, Token, Write, event_key, filter_body,
};

/// The revision record; every change checks and moves it in its transaction.
const META_KEY: &str = "state/meta";

/// Where the audit events are (see [`event_key`]).
const EVENT_PREFIX: &str = "event/";

/// How many audit events are kept: the newest 10,000, the most `GET /api/admin/events`
/// returns at once.
pub const EVENTS_KEPT: u64 = 10_000;

/// Retention runs when a write's event ids cross a multiple of this.
pub const PRUNE_EVERY: u64 = 100;

/// The most events one retention pass removes (a larger backlog, say from before retention
/// existed, drains over the next passes).
const PRUNE_BATCH: usize = 10_000;

/// Events read per page when filtering by flag (tiny in tests, to exercise paging).
const EVENT_PAGE: usize = if cfg!(test) { 4 } else { 500 };

/// Labels of `opshelf_flags_evaluations`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EvalLabels {
    pub flag: String,
    pub result: String,
    /// `frontend` (evaluated here) or `sdk` (reported by backend SDKs).
    pub source: String,
}

/// Pre-resolved counters of one flag, so the hot path is two atomic adds.
#[derive(Debug, Clone, Default)]
pub struct FlagCounters {
    pub yes: Counter,
    pub no: Counter,
}

/// One environment, compiled.
#[derive(Debug)]
pub struct EnvView {
    pub full: ClientFeaturesBody,
    pub engine: Engine,
    pub counters: HashMap<String, FlagCounters>,
}

/// A rendered client-features response.
#[derive(Debug)]
pub struct Rendered {
    pub etag: String,
    pub body: Bytes,
    pub features: BTreeMap<String, Bytes>,
}

/// An immutable view of one revision.
#[derive(Debug)]
pub struct Snapshot {
    pub revision: u64,
    /// Flags not archived, and those of them enabled in at least one environment.
    pub flags: usize,
    pub active_flags: usize,
    /// When this snapshot was built (the last change this node saw), RFC 3339.
    pub built_at: String,
    pub envs: HashMap<String, EnvView>,
    pub tokens: HashMap<String, Token>,
    pub tags: HashMap<String, Vec<(String, String)>>,
    cache: Mutex<HashMap<(String, ClientQuery), Arc<Rendered>>>,
}

impl Snapshot {
    fn build(state: &State, evals: &Family<EvalLabels, Counter>) -> Self {
        let mut envs = HashMap::new();
        for env in state.environments.keys() {
            let full = state.client_body(env);
            let (engine, warnings) = Engine::compile(&full);
            for w in warnings {
                tracing::warn!(environment = %env, warning = %w, "flags: evaluates as off");
            }
            let mut counters = HashMap::new();
            for f in &full.features {
                let get = |result: &str| {
                    evals
                        .get_or_create(&EvalLabels {
                            flag: f.name.clone(),
                            result: result.to_owned(),
                            source: "frontend".to_owned(),
                        })
                        .clone()
                };
                counters.insert(
                    f.name.clone(),
                    FlagCounters {
                        yes: get("true"),
                        no: get("false"),
                    },
                );
            }
            envs.insert(
                env.clone(),
                EnvView {
                    full,
                    engine,
                    counters,
                },
            );
        }
        let tokens = state
            .tokens
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let tags = state
            .features
            .values()
            .map(|f| {
                (
                    f.name.clone(),
                    f.tags
                        .iter()
                        .map(|t| (t.tag_type.clone(), t.value.clone()))
                        .collect(),
                )
            })
            .collect();
        let live = state.features.values().filter(|f| !f.archived);
        let (flags, active_flags) = live.fold((0, 0), |(n, on), f| {
            let enabled = f.environments.values().any(|e| e.enabled);
            (n + 1, on + usize::from(enabled))
        });
        Self {
            revision: state.meta.revision,
            flags,
            active_flags,
            built_at: now(),
            envs,
            tokens,
            tags,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client-features response of `env` for `q`, rendered once per revision and query.
    ///
    /// # Errors
    /// Never in practice (serializing our own types).
    pub fn client_features(&self, env: &str, q: &ClientQuery) -> Result<Arc<Rendered>, Error> {
        let key = (env.to_owned(), q.clone());
        if let Some(r) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Arc::clone(r));
        }
        let empty;
        let full = match self.envs.get(env) {
            Some(v) => &v.full,
            None => {
                empty = ClientFeaturesBody {
                    version: 2,
                    features: vec![],
                    query: None,
                    segments: Some(vec![]),
                    meta: None,
                };
                &empty
            }
        };
        let mut body = filter_body(full, |n| self.tags.get(n).cloned().unwrap_or_default(), q);
        let query_hash = {
            let mut h = Sha256::new();
            h.update(format!("{env}|{q:?}").as_bytes());
            hex::encode(&h.finalize()[..4])
        };
        let etag = format!("\"{query_hash}:{}:v1\"", self.revision);
        let mut query = serde_json::json!({
            "project": q.projects.as_ref().map_or_else(|| vec!["*".to_owned()], |p| p.iter().cloned().collect()),
            "environment": env,
            "inlineSegmentConstraints": q.inline_segments,
        });
        if let Some(p) = &q.name_prefix {
            query["namePrefix"] = serde_json::Value::String(p.clone());
        }
        if !q.tags.is_empty() {
            query["tag"] = q
                .tags
                .iter()
                .map(|(t, v)| vec![t.clone(), v.clone()])
                .collect::<Vec<_>>()
                .into();
        }
        body.query = Some(query);
        body.meta = Some(crate::model::Meta {
            revision_id: Some(self.revision),
            etag: Some(etag.clone()),
            query_hash: Some(query_hash),
        });
        let mut features = BTreeMap::new();
        for f in &body.features {
            features.insert(
                f.name.clone(),
                Bytes::from(serde_json::to_vec(f).map_err(|e| Error::Internal(e.to_string()))?),
            );
        }
        let bytes =
            Bytes::from(serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?);
        let rendered = Arc::new(Rendered {
            etag,
            body: bytes,
            features,
        });
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded: distinct queries per revision are few (tokens x filters); drop all if abused.
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&rendered));
        Ok(rendered)
    }
}

/// The flag store: persistent state, the writer lock and the published snapshot.
pub struct Store {
    storage: StorageView,
    salt: String,
    writer: tokio::sync::Mutex<State>,
    snapshot: ArcSwap<Snapshot>,
    evals: Family<EvalLabels, Counter>,
    /// [`EVENTS_KEPT`] and [`PRUNE_EVERY`]; smaller in tests.
    events_kept: u64,
    prune_every: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("revision", &self.snapshot.load().revision)
            .finish_non_exhaustive()
    }
}

/// Now, RFC 3339 in UTC.
#[must_use]
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

async fn load_state(storage: &StorageView) -> Result<Option<State>, Error> {
    let rows = storage.scan("state/").await?;
    let mut state = State::default();
    let mut seen_meta = false;
    for (k, v) in rows {
        if k == META_KEY {
            seen_meta = true;
        }
        state
            .load_record(&k, &v)
            .map_err(|e| Error::Internal(format!("corrupt record {k}: {e}")))?;
    }
    Ok(seen_meta.then_some(state))
}

impl Store {
    /// Load the state from storage (creating the initial one on first start) and compile it.
    ///
    /// # Errors
    /// Storage failures, corrupt records.
    pub async fn open(
        storage: StorageView,
        evals: Family<EvalLabels, Counter>,
    ) -> Result<Self, Error> {
        let salt = match storage.get("meta/salt").await? {
            Some(s) => {
                String::from_utf8(s).map_err(|_| Error::Internal("corrupt meta/salt".into()))?
            }
            None => {
                let s = opshelf_core::token::new_salt();
                if !storage
                    .compare_and_swap("meta/salt", None, Some(s.as_bytes()))
                    .await?
                {
                    let stored = storage.get("meta/salt").await?.unwrap_or_default();
                    String::from_utf8(stored)
                        .map_err(|_| Error::Internal("corrupt meta/salt".into()))?
                } else {
                    s
                }
            }
        };
        let state = if let Some(s) = load_state(&storage).await? {
            s
        } else {
            let initial = State::initial(&now());
            let (writes, _) = State::default().diff(&initial);
            let mut ops = vec![TxnOp::Check {
                key: META_KEY.into(),
                expected: None,
            }];
            ops.extend(writes.into_iter().map(to_op));
            ops.push(TxnOp::Put {
                key: META_KEY.into(),
                value: meta_bytes(&initial.meta),
            });
            if !storage.transaction(&ops).await? {
                // Another node initialised concurrently: take theirs.
                load_state(&storage)
                    .await?
                    .ok_or_else(|| Error::Internal("state vanished".into()))?
            } else {
                initial
            }
        };
        let snapshot = Snapshot::build(&state, &evals);
        Ok(Self {
            storage,
            salt,
            writer: tokio::sync::Mutex::new(state),
            snapshot: ArcSwap::from_pointee(snapshot),
            evals,
            events_kept: EVENTS_KEPT,
            prune_every: PRUNE_EVERY,
        })
    }

    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The storage handle.
    #[must_use]
    pub fn storage(&self) -> &StorageView {
        &self.storage
    }

    /// The evaluation counters family.
    #[must_use]
    pub fn evals(&self) -> &Family<EvalLabels, Counter> {
        &self.evals
    }

    /// The stored hash of a token string.
    #[must_use]
    pub fn hash_token(&self, token: &str) -> String {
        opshelf_core::token::hash(&self.salt, token)
    }

    /// A copy of the current state.
    pub async fn state(&self) -> State {
        self.writer.lock().await.clone()
    }

    /// Apply `change` atomically, as `actor`: persist what changed plus its events, bump the
    /// revision if SDK-visible state changed, publish the new snapshot.
    ///
    /// # Errors
    /// What `change` returns (nothing is written then); storage failures; `Conflict` when
    /// another node changed the state first (the local copy is reloaded; retry).
    pub async fn mutate<R>(
        &self,
        actor: &str,
        change: impl FnOnce(&mut State) -> Result<(R, Vec<EventDraft>), Error>,
    ) -> Result<R, Error> {
        let mut current = self.writer.lock().await;
        let mut next = current.clone();
        let (result, drafts) = change(&mut next)?;
        let (writes, flags_changed) = current.diff(&next);
        if writes.is_empty() && drafts.is_empty() {
            return Ok(result);
        }
        next.meta = current.meta;
        if flags_changed {
            next.meta.revision += 1;
        }
        let mut ops = vec![TxnOp::Check {
            key: META_KEY.into(),
            expected: Some(meta_bytes(&current.meta)),
        }];
        ops.extend(writes.into_iter().map(to_op));
        let created_at = now();
        for d in drafts {
            next.meta.next_event_id += 1;
            let ev = Event {
                id: next.meta.next_event_id,
                event_type: d.event_type,
                created_by: actor.to_owned(),
                created_at: created_at.clone(),
                feature_name: d.feature_name,
                project: d.project,
                environment: d.environment,
                data: d.data,
                pre_data: d.pre_data,
            };
            let value = serde_json::to_vec(&ev).map_err(|e| Error::Internal(e.to_string()))?;
            ops.push(TxnOp::Put {
                key: event_key(ev.id),
                value,
            });
        }
        ops.push(TxnOp::Put {
            key: META_KEY.into(),
            value: meta_bytes(&next.meta),
        });
        if !self.storage.transaction(&ops).await? {
            if let Some(fresh) = load_state(&self.storage).await? {
                self.snapshot
                    .store(Arc::new(Snapshot::build(&fresh, &self.evals)));
                *current = fresh;
            }
            return Err(Error::Conflict(
                "the flag state was changed concurrently; retry".into(),
            ));
        }
        self.snapshot
            .store(Arc::new(Snapshot::build(&next, &self.evals)));
        let (before, after) = (current.meta.next_event_id, next.meta.next_event_id);
        *current = next;
        if after / self.prune_every > before / self.prune_every {
            self.prune_events(after).await;
        }
        Ok(result)
    }

    /// Keep `kept` events, pruning every `every` ids (tests).
    #[cfg(test)]
    fn with_event_retention(mut self, kept: u64, every: u64) -> Self {
        self.events_kept = kept.max(1);
        self.prune_every = every.max(1);
        self
    }

    /// Retention: remove events older than the newest `events_kept`, given the last event id.
    /// The change that triggered it is already committed, so a failure is only logged (the
    /// next pass catches up).
    async fn prune_events(&self, last_id: u64) {
        let Some(oldest_kept) = last_id.checked_sub(self.events_kept.saturating_sub(1)) else {
            return;
        };
        let older = Range::prefix(EVENT_PREFIX)
            .end_before(event_key(oldest_kept))
            .limit(PRUNE_BATCH);
        match self.storage.delete_range(&older).await {
            Ok(removed) => tracing::debug!(removed, oldest_kept, "flags: pruned the event log"),
            Err(e) => tracing::warn!(error = %e, "flags: event log retention failed; will retry"),
        }
    }

    /// Reload from storage if another node moved `state/meta`. `true` if reloaded.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn reload_if_changed(&self) -> Result<bool, Error> {
        let stored = self.storage.get(META_KEY).await?;
        let mut current = self.writer.lock().await;
        if stored.as_deref() == Some(meta_bytes(&current.meta).as_slice()) {
            return Ok(false);
        }
        if let Some(fresh) = load_state(&self.storage).await? {
            self.snapshot
                .store(Arc::new(Snapshot::build(&fresh, &self.evals)));
            *current = fresh;
            return Ok(true);
        }
        Ok(false)
    }

    /// Audit events, newest first, optionally only those of one flag.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn events(&self, feature: Option<&str>, limit: usize) -> Result<Vec<Event>, Error> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Keys are zero-padded ids, so the newest are last: read backwards, a page at a time
        // (only a filter or an unreadable record needs more than one page).
        let page = if feature.is_some() {
            limit.max(EVENT_PAGE)
        } else {
            limit
        };
        let mut range = Range::prefix(EVENT_PREFIX).reverse().limit(page);
        loop {
            let rows = self.storage.range(&range).await?;
            let (Some((oldest, _)), full) = (rows.last(), rows.len() == page) else {
                break;
            };
            range = range.end_before(oldest.clone());
            for (_, v) in rows {
                let Ok(ev) = serde_json::from_slice::<Event>(&v) else {
                    continue;
                };
                if feature.is_some_and(|f| ev.feature_name.as_deref() != Some(f)) {
                    continue;
                }
                out.push(ev);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }
}

fn meta_bytes(m: &MetaState) -> Vec<u8> {
    serde_json::to_vec(m).unwrap_or_default()
}

fn to_op(w: Write) -> TxnOp {
    match w {
        Write::Put(key, value) => TxnOp::Put { key, value },
        Write::Delete(key) => TxnOp::Delete { key },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Feature, FeatureEnv};

    fn feature(name: &str, enabled: bool) -> Feature {
        let mut environments = BTreeMap::new();
        let mut fe = FeatureEnv {
            enabled,
            ..FeatureEnv::default()
        };
        fe.strategies
            .push(serde_json::from_str(r#"{"name":"default"}"#).unwrap());
        environments.insert("development".to_owned(), fe);
        Feature {
            name: name.into(),
            project: "default".into(),
            feature_type: "release".into(),
            description: None,
            impression_data: false,
            stale: false,
            archived: false,
            archived_at: None,
            created_at: now(),
            tags: vec![],
            dependencies: vec![],
            environments,
        }
    }

    #[tokio::test]
    async fn mutations_persist_publish_and_log() {
        let ctx = opshelf_core::Context::for_tests().await;
        let store = Store::open(ctx.storage.clone(), Family::default())
            .await
            .unwrap();
        assert_eq!(store.snapshot().revision, 0);
        assert!(store.snapshot().envs.contains_key("development"));
        store
            .mutate("alice", |s| {
                s.features.insert("f".into(), feature("f", true));
                Ok((
                    (),
                    vec![
                        EventDraft::new("feature-created", serde_json::json!({"name":"f"}))
                            .feature("f", "default"),
                    ],
                ))
            })
            .await
            .unwrap();
        let snap = store.snapshot();
        assert_eq!(snap.revision, 1);
        let e = snap.envs["development"]
            .engine
            .evaluate("f", &crate::engine::EvalContext::default())
            .unwrap();
        assert!(e.enabled);
        let r1 = snap
            .client_features("development", &ClientQuery::default())
            .unwrap();
        // A failing change writes nothing.
        let err = store
            .mutate("bob", |_s| -> Result<((), Vec<EventDraft>), Error> {
                Err(Error::BadRequest("no".into()))
            })
            .await;
        assert!(err.is_err());
        assert_eq!(store.snapshot().revision, 1);
        // Restart: everything is back.
        let again = Store::open(ctx.storage.clone(), Family::default())
            .await
            .unwrap();
        assert_eq!(again.snapshot().revision, 1);
        let r2 = again
            .snapshot()
            .client_features("development", &ClientQuery::default())
            .unwrap();
        assert_eq!(r1.etag, r2.etag);
        assert_eq!(r1.body, r2.body);
        let events = again.events(None, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].created_by, "alice");
        // Another node's change is picked up.
        again
            .mutate("carol", |s| {
                s.features
                    .get_mut("f")
                    .unwrap()
                    .environments
                    .get_mut("development")
                    .unwrap()
                    .enabled = false;
                Ok(((), vec![]))
            })
            .await
            .unwrap();
        assert!(store.reload_if_changed().await.unwrap());
        let r3 = store
            .snapshot()
            .client_features("development", &ClientQuery::default())
            .unwrap();
        assert_ne!(r3.etag, r1.etag);
        // A write from the stale node is refused, then succeeds after its reload.
        let stale = Store::open(ctx.storage.clone(), Family::default())
            .await
            .unwrap();
        again
            .mutate("x", |s| {
                s.features.remove("f");
                Ok(((), vec![]))
            })
            .await
            .unwrap();
        let res = stale
            .mutate("y", |s| {
                s.features.insert("g".into(), feature("g", true));
                Ok(((), vec![]))
            })
            .await;
        assert!(matches!(res, Err(Error::Conflict(_))));
        assert!(
            !stale.snapshot().envs["development"]
                .full
                .features
                .iter()
                .any(|f| f.name == "f")
        );
    }

    async fn log(store: &Store, flag: &str, n: usize) {
        for _ in 0..n {
            store
                .mutate("t", |_s| {
                    let draft = EventDraft::new("feature-updated", serde_json::json!({}))
                        .feature(flag, "default");
                    Ok(((), vec![draft]))
                })
                .await
                .unwrap();
        }
    }

    fn ids(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn event_keys_sort_by_id() {
        let ids = [0, 1, 9, 10, 99, 100, 12_345, u64::MAX - 1, u64::MAX];
        for pair in ids.windows(2) {
            assert!(event_key(pair[0]) < event_key(pair[1]), "{pair:?}");
        }
        assert!(event_key(u64::MAX).starts_with(EVENT_PREFIX));
    }

    #[tokio::test]
    async fn events_are_read_newest_first_a_page_at_a_time() {
        let ctx = opshelf_core::Context::for_tests().await;
        let store = Store::open(ctx.storage.clone(), Family::default())
            .await
            .unwrap();
        log(&store, "a", 3).await;
        log(&store, "b", 9).await;
        log(&store, "a", 2).await;
        assert_eq!(ids(&store.events(None, 3).await.unwrap()), [14, 13, 12]);
        assert_eq!(store.events(None, 100).await.unwrap().len(), 14);
        assert!(store.events(None, 0).await.unwrap().is_empty());
        assert_eq!(
            ids(&store.events(Some("a"), 100).await.unwrap()),
            [14, 13, 3, 2, 1]
        );
        // A filter pages back past the other flag's events (pages of 4 in tests).
        assert_eq!(ids(&store.events(Some("a"), 3).await.unwrap()), [14, 13, 3]);
        assert!(store.events(Some("none"), 10).await.unwrap().is_empty());
        // An unreadable record is skipped, not an error, and does not shorten the answer.
        ctx.storage.put(&event_key(15), b"not json").await.unwrap();
        assert_eq!(ids(&store.events(None, 2).await.unwrap()), [14, 13]);
    }

    #[tokio::test]
    async fn the_event_log_keeps_the_newest_events() {
        let ctx = opshelf_core::Context::for_tests().await;
        // Events from before retention existed: a backlog the first passes drain.
        for id in 1..=19 {
            let ev = serde_json::json!({
                "id": id, "type": "feature-created", "createdBy": "old",
                "createdAt": "2020-01-01T00:00:00Z", "data": null, "preData": null,
            });
            let v = serde_json::to_vec(&ev).unwrap();
            ctx.storage.put(&event_key(id), &v).await.unwrap();
        }
        let first = Store::open(ctx.storage.clone(), Family::default())
            .await
            .unwrap();
        let mut meta = first.state().await.meta;
        meta.next_event_id = 19;
        ctx.storage.put(META_KEY, &meta_bytes(&meta)).await.unwrap();
        let store = Store::open(ctx.storage.clone(), Family::default())
            .await
            .unwrap()
            .with_event_retention(5, 3);
        log(&store, "f", 1).await; // id 20: no multiple of 3 crossed, nothing pruned
        assert_eq!(ctx.storage.list(EVENT_PREFIX).await.unwrap().len(), 20);
        log(&store, "f", 1).await; // id 21: crosses 21, keeps 17..=21
        let stored = ctx.storage.list(EVENT_PREFIX).await.unwrap();
        assert_eq!(stored.first().unwrap(), &event_key(17));
        assert_eq!(stored.len(), 5);
        log(&store, "f", 2).await; // 22, 23: not pruned until 24
        assert_eq!(
            ids(&store.events(None, 100).await.unwrap()),
            [23, 22, 21, 20, 19, 18, 17]
        );
        log(&store, "f", 1).await;
        assert_eq!(
            ids(&store.events(None, 100).await.unwrap()),
            [24, 23, 22, 21, 20]
        );
    }
}
