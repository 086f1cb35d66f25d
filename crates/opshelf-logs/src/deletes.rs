//! Loki's compactor delete API, for data-subject requests: `POST /loki/api/v1/delete`
//! (`query` = a stream selector, `start`, `end`), `GET` (the list), `DELETE` (cancel).
//!
//! A request is a tombstone kept in opshelf storage (`delete/<tenant>/<id>`); every read
//! (query, tail back-fill) skips the entries it covers from the moment it is accepted. The
//! blocks themselves are not rewritten: the bytes go when retention expires them. This is
//! Loki's own behaviour until its compactor has processed a request (its reads filter
//! pending deletes too), but opshelf has no compactor pass that rewrites blocks yet.

use std::sync::{Arc, RwLock};

use opshelf_core::StorageView;
use opshelf_eventstore as es;
use serde::{Deserialize, Serialize};

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

#[derive(Clone)]
pub struct Deletes {
    storage: Option<StorageView>,
    active: Arc<RwLock<Vec<(DeleteRequest, Tombstone)>>>,
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

    /// Accept a request: stored first, then applied to reads.
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
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
        let req = DeleteRequest {
            request_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            tenant: tenant.to_owned(),
            start_time: secs(start_ns),
            end_time: secs(end_ns),
            query: query.to_owned(),
            status: "received".to_owned(),
            created_at: now,
            start_ns,
            end_ns,
        };
        let t = tombstone(query, start_ns, end_ns)?;
        if let Some(s) = &self.storage {
            let body = serde_json::to_vec(&Stored {
                tenant: tenant.to_owned(),
                req: req.clone(),
            })
            .map_err(|e| e.to_string())?;
            s.put(&format!("delete/{tenant}/{}", req.request_id), &body)
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Ok(mut g) = self.active.write() {
            g.push((req.clone(), t));
        }
        Ok(req)
    }

    /// Cancel a request; `false` when there is none of that id.
    ///
    /// # Errors
    /// A storage failure.
    pub async fn cancel(&self, tenant: &str, id: &str) -> Result<bool, String> {
        if let Some(s) = &self.storage {
            s.delete(&format!("delete/{tenant}/{id}"))
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut found = false;
        if let Ok(mut g) = self.active.write() {
            let before = g.len();
            g.retain(|(r, _)| !(r.tenant == tenant && r.request_id == id));
            found = g.len() != before;
        }
        Ok(found)
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
