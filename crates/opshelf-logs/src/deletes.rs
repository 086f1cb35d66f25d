//! Loki's compactor delete API, for data-subject requests: `POST /loki/api/v1/delete`
//! (`query` = a stream selector, `start`, `end`), `GET` (the list), `DELETE` (cancel).
//!
//! A request is kept in opshelf storage (`delete/<tenant>/<id>`) with Loki's status:
//! - `received`: accepted. From that moment every read (query, tail back-fill) skips the
//!   entries it covers (its tombstone), and it can be cancelled.
//! - `processed`: the processor (`spawn_processor`, Loki's compactor pass) has run
//!   `EventStore::purge` for it: the covered entries that were stored when it ran are gone
//!   from the blocks, the head and the WAL, not just hidden. It runs once a request is older
//!   than `[logs] delete_cancel_period_secs` (Loki's `delete_request_cancel_period`), checks
//!   every `CHECK_EVERY` and right after a request is accepted, and stores the new status
//!   before it counts the request as done, so a restart (or a failed purge) leaves the
//!   request `received` and the next check purges it again (a purge is idempotent).
//!
//! A processed request cannot be cancelled (Loki's 400). Tombstones of processed requests
//! still apply to reads: entries pushed later with timestamps inside a processed request's
//! range stay hidden, though their bytes are only removed by retention.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use opshelf_core::{StorageView, Tasks};
use opshelf_eventstore as es;
use serde::{Deserialize, Serialize};

/// Loki's status of a request the compactor has not processed yet.
pub const RECEIVED: &str = "received";
/// Loki's status of a request whose entries the compactor removed.
pub const PROCESSED: &str = "processed";
/// How often the processor looks for requests whose cancel period is over.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// One delete request as stored and as Loki lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeleteRequest {
    pub request_id: String,
    #[serde(skip)]
    pub tenant: String,
    /// Unix seconds (Loki lists them as numbers).
    pub start_time: f64,
    pub end_time: f64,
    pub query: String,
    /// `received` or `processed`.
    pub status: String,
    pub created_at: f64,
    /// The exact range (the seconds above are rounded).
    pub start_ns: i64,
    pub end_ns: i64,
}

/// What reads apply.
#[derive(Debug, Clone)]
pub struct Tombstone {
    matchers: Vec<es::Matcher>,
    from_ns: i64,
    to_ns: i64,
}

impl Tombstone {
    pub fn covers(&self, ts_ns: i64, labels: &es::Labels) -> bool {
        ts_ns >= self.from_ns
            && ts_ns <= self.to_ns
            && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// What `cancel` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    Yes,
    /// No request of that id for the tenant.
    NotFound,
    /// It was processed already: the entries are gone, there is nothing to cancel.
    Processed,
}

#[derive(Clone)]
pub struct Deletes {
    storage: Option<StorageView>,
    active: Arc<RwLock<Vec<(DeleteRequest, Tombstone)>>>,
    /// Held by a processing pass and by `cancel`, so a request is never cancelled while
    /// it is being purged.
    processing: Arc<tokio::sync::Mutex<()>>,
    /// Wakes the processor when a request is accepted.
    accepted: Arc<tokio::sync::Notify>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    tenant: String,
    #[serde(flatten)]
    req: DeleteRequest,
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn now_secs() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

impl Deletes {
    /// Load the stored requests (`storage: None` keeps them in memory only: tests).
    ///
    /// # Errors
    /// Storage failures, or a stored request that no longer parses.
    pub async fn load(storage: Option<StorageView>) -> Result<Self, String> {
        let mut active = Vec::new();
        if let Some(s) = &storage {
            for (_, v) in s.scan("delete/").await.map_err(|e| e.to_string())? {
                let st: Stored = serde_json::from_slice(&v).map_err(|e| e.to_string())?;
                let mut req = st.req;
                req.tenant = st.tenant;
                let t = tombstone(&req.query, req.start_ns, req.end_ns)?;
                active.push((req, t));
            }
        }
        Ok(Self {
            storage,
            active: Arc::new(RwLock::new(active)),
            processing: Arc::new(tokio::sync::Mutex::new(())),
            accepted: Arc::new(tokio::sync::Notify::new()),
        })
    }

    pub fn active_for(&self, tenant: &str) -> Vec<Tombstone> {
        self.active
            .read()
            .map(|g| {
                g.iter()
                    .filter(|(r, _)| r.tenant == tenant)
                    .map(|(_, t)| t.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn list(&self, tenant: &str) -> Vec<DeleteRequest> {
        self.active
            .read()
            .map(|g| {
                g.iter()
                    .filter(|(r, _)| r.tenant == tenant)
                    .map(|(r, _)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Accept a request: stored first, then applied to reads; the processor is woken.
    ///
    /// # Errors
    /// A 400 message for a bad query, or a storage failure.
    pub async fn add(
        &self,
        tenant: &str,
        query: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<DeleteRequest, String> {
        let req = DeleteRequest {
            request_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            tenant: tenant.to_owned(),
            start_time: secs(start_ns),
            end_time: secs(end_ns),
            query: query.to_owned(),
            status: RECEIVED.to_owned(),
            created_at: now_secs(),
            start_ns,
            end_ns,
        };
        let t = tombstone(query, start_ns, end_ns)?;
        self.store(&req).await?;
        if let Ok(mut g) = self.active.write() {
            g.push((req.clone(), t));
        }
        self.accepted.notify_one();
        Ok(req)
    }

    async fn store(&self, req: &DeleteRequest) -> Result<(), String> {
        let Some(s) = &self.storage else {
            return Ok(());
        };
        let body = serde_json::to_vec(&Stored {
            tenant: req.tenant.clone(),
            req: req.clone(),
        })
        .map_err(|e| e.to_string())?;
        s.put(&format!("delete/{}/{}", req.tenant, req.request_id), &body)
            .await
            .map_err(|e| e.to_string())
    }

    /// Cancel a request that has not been processed (waits for a processing pass to end).
    ///
    /// # Errors
    /// A storage failure.
    pub async fn cancel(&self, tenant: &str, id: &str) -> Result<Cancelled, String> {
        let _one = self.processing.lock().await;
        let status = self.active.read().ok().and_then(|g| {
            g.iter()
                .find(|(r, _)| r.tenant == tenant && r.request_id == id)
                .map(|(r, _)| r.status.clone())
        });
        match status {
            None => return Ok(Cancelled::NotFound),
            Some(s) if s != RECEIVED => return Ok(Cancelled::Processed),
            Some(_) => {}
        }
        if let Some(s) = &self.storage {
            s.delete(&format!("delete/{tenant}/{id}"))
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Ok(mut g) = self.active.write() {
            g.retain(|(r, _)| !(r.tenant == tenant && r.request_id == id));
        }
        Ok(Cancelled::Yes)
    }

    /// One processing pass: purges every `received` request created at least
    /// `cancel_period` ago from `events` (on the blocking pool), then stores it as
    /// `processed`. Returns how many it processed; stops at the first failure (the request
    /// stays `received` and the next pass retries it).
    ///
    /// # Errors
    /// The purge's or the storage's failure.
    pub async fn process_due(
        &self,
        events: &es::EventStore,
        cancel_period: Duration,
    ) -> Result<usize, String> {
        let _one = self.processing.lock().await;
        let due_before = now_secs() - cancel_period.as_secs_f64();
        let due: Vec<(DeleteRequest, Tombstone)> = self
            .active
            .read()
            .map(|g| {
                g.iter()
                    .filter(|(r, _)| r.status == RECEIVED && r.created_at <= due_before)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut done = 0;
        for (mut req, t) in due {
            let ev = events.clone();
            let tenant = req.tenant.clone();
            let stats = tokio::task::spawn_blocking(move || {
                ev.purge(&tenant, &t.matchers, t.from_ns, t.to_ns)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("purging delete request {}: {e}", req.request_id))?;
            tracing::info!(
                request_id = %req.request_id,
                tenant = %req.tenant,
                records_removed = stats.records_removed,
                blocks_rewritten = stats.blocks_rewritten,
                blocks_removed = stats.blocks_removed,
                "logs: delete request processed"
            );
            req.status = PROCESSED.to_owned();
            self.store(&req).await?;
            if let Ok(mut g) = self.active.write()
                && let Some(e) = g
                    .iter_mut()
                    .find(|(r, _)| r.tenant == req.tenant && r.request_id == req.request_id)
            {
                e.0.status = PROCESSED.to_owned();
            }
            done += 1;
        }
        Ok(done)
    }

    /// The compactor pass as a background task: a processing pass at start (requests left
    /// `received` by a restart), right after each accepted request and every `CHECK_EVERY`,
    /// until shutdown.
    pub fn spawn_processor(&self, tasks: &Tasks, events: es::EventStore, cancel_period: Duration) {
        let this = self.clone();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn("logs-deletes", async move {
            loop {
                if let Err(e) = this.process_due(&events, cancel_period).await {
                    tracing::warn!(error = %e, "logs: processing delete requests failed; will retry");
                }
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = this.accepted.notified() => {}
                    () = tokio::time::sleep(CHECK_EVERY) => {}
                }
            }
        });
    }
}

fn tombstone(query: &str, from_ns: i64, to_ns: i64) -> Result<Tombstone, String> {
    let ms = crate::logql_adapter::selector_matchers(query).map_err(|e| e.to_string())?;
    let matchers = crate::store::to_es_matchers(&ms).map_err(|e| e.to_string())?;
    Ok(Tombstone {
        matchers,
        from_ns,
        to_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_225_600_000_000_000;

    async fn stored_lines(events: &es::EventStore) -> Vec<String> {
        let ev = events.clone();
        tokio::task::spawn_blocking(move || {
            ev.query(es::Query::all("fake"))
                .unwrap()
                .map(|h| String::from_utf8(h.unwrap().record.body).unwrap())
                .collect()
        })
        .await
        .unwrap()
    }

    async fn open(dir: &std::path::Path) -> es::EventStore {
        let store = es::EventStore::open(dir, crate::Config::default().store_config()).unwrap();
        for (user, n) in [("jane", 5), ("joe", 3)] {
            let labels = es::Labels::new([("app", "shop"), ("user", user)]);
            let recs: Vec<es::Record> = (0..n)
                .map(|i| es::Record::new(T + i, format!("{user} line {i}")))
                .collect();
            store.append("fake", &labels, &recs).await.unwrap();
        }
        store
    }

    fn status(d: &Deletes, id: &str) -> String {
        d.list("fake")
            .into_iter()
            .find(|r| r.request_id == id)
            .unwrap()
            .status
    }

    #[tokio::test]
    async fn a_request_is_purged_once_its_cancel_period_is_over_and_is_then_final() {
        let dir = tempfile::tempdir().unwrap();
        let events = open(dir.path()).await;
        let ctx = opshelf_core::Context::for_tests_named("logs").await;
        let d = Deletes::load(Some(ctx.storage.clone())).await.unwrap();
        // the range is inclusive: jane's lines 1..=3 go, 0 and 4 stay
        let req = d
            .add("fake", r#"{user="jane"}"#, T + 1, T + 3)
            .await
            .unwrap();
        let other = d.add("fake", r#"{user="joe"}"#, T, T + 9).await.unwrap();
        assert_eq!(req.status, RECEIVED);
        assert_eq!(
            d.process_due(&events, Duration::from_secs(3600)).await,
            Ok(0)
        );
        assert_eq!(status(&d, &req.request_id), RECEIVED);
        assert_eq!(stored_lines(&events).await.len(), 8, "nothing purged yet");
        // a received request can still be cancelled; an unknown one is not found
        assert_eq!(
            d.cancel("fake", &other.request_id).await,
            Ok(Cancelled::Yes)
        );
        assert_eq!(d.cancel("fake", "nope").await, Ok(Cancelled::NotFound));

        assert_eq!(d.process_due(&events, Duration::ZERO).await, Ok(1));
        assert_eq!(status(&d, &req.request_id), PROCESSED);
        let mut lines = stored_lines(&events).await;
        lines.sort();
        assert_eq!(
            lines,
            [
                "jane line 0",
                "jane line 4",
                "joe line 0",
                "joe line 1",
                "joe line 2"
            ]
        );
        assert_eq!(
            d.cancel("fake", &req.request_id).await,
            Ok(Cancelled::Processed)
        );
        // processed once: a later pass has nothing to do
        assert_eq!(d.process_due(&events, Duration::ZERO).await, Ok(0));
        // the status is stored; the cancelled request is gone from storage
        let again = Deletes::load(Some(ctx.storage.clone())).await.unwrap();
        assert_eq!(again.list("fake").len(), 1);
        assert_eq!(status(&again, &req.request_id), PROCESSED);
        assert_eq!(
            again.active_for("fake").len(),
            1,
            "its tombstone still applies"
        );
    }

    #[tokio::test]
    async fn a_received_request_found_at_load_is_purged_by_the_processor() {
        let dir = tempfile::tempdir().unwrap();
        let events = open(dir.path()).await;
        let ctx = opshelf_core::Context::for_tests_named("logs").await;
        let before_restart = Deletes::load(Some(ctx.storage.clone())).await.unwrap();
        let req = before_restart
            .add("fake", r#"{app="shop", user=~"ja.*"}"#, T, T + 100)
            .await
            .unwrap();
        drop(before_restart);

        let d = Deletes::load(Some(ctx.storage.clone())).await.unwrap();
        assert_eq!(status(&d, &req.request_id), RECEIVED);
        let tasks = Tasks::new(opshelf_core::Shutdown::new());
        d.spawn_processor(&tasks, events.clone(), Duration::ZERO);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while status(&d, &req.request_id) != PROCESSED {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not processed in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(stored_lines(&events).await.len(), 3);
        tasks.shutdown().trigger();
        assert!(tasks.close_and_wait(Duration::from_secs(10)).await);
    }
}
