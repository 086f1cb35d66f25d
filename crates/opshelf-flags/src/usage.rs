//! What SDKs report: registrations and yes/no/variant counts per flag and per application.
//!
//! Reports are added up in memory (a request never waits on storage) and flushed every few
//! seconds and at shutdown into `usage/<app>/<flag>` (compare-and-swap, so several nodes
//! can add to the same record) and `app/<app>/<instance>`.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use opshelf_core::StorageView;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::model::ToggleCounts;

/// A registered SDK instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub app_name: String,
    pub instance_id: String,
    pub sdk_type: String,
    pub last_seen: String,
    pub registration: Value,
}

/// Pending counts and registrations.
#[derive(Debug, Default)]
pub struct Usage {
    counts: Mutex<BTreeMap<(String, String), ToggleCounts>>,
    apps: Mutex<BTreeMap<(String, String), Application>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Usage {
    /// Add one metrics report of `app`.
    pub fn add(&self, app: &str, toggles: &BTreeMap<String, ToggleCounts>) {
        let mut counts = lock(&self.counts);
        for (flag, c) in toggles {
            let e = counts.entry((app.to_owned(), flag.clone())).or_default();
            merge(e, c);
        }
    }

    /// Record a registration.
    pub fn register(&self, app: Application) {
        lock(&self.apps).insert((app.app_name.clone(), app.instance_id.clone()), app);
    }

    /// Write everything pending to storage.
    ///
    /// # Errors
    /// Storage failures (what could not be written is kept for the next flush).
    pub async fn flush(&self, storage: &StorageView) -> Result<(), Error> {
        let counts = std::mem::take(&mut *lock(&self.counts));
        let apps = std::mem::take(&mut *lock(&self.apps));
        let mut failed: Option<Error> = None;
        let mut counts_iter = counts.into_iter();
        for ((app, flag), c) in counts_iter.by_ref() {
            if let Err(e) = add_stored(storage, &app, &flag, &c).await {
                self.add(&app, &BTreeMap::from([(flag, c)]));
                failed = Some(e);
                break;
            }
        }
        for ((app, flag), c) in counts_iter {
            self.add(&app, &BTreeMap::from([(flag, c)]));
        }
        for ((app, instance), a) in apps {
            let value = serde_json::to_vec(&a).map_err(|e| Error::Internal(e.to_string()))?;
            if let Err(e) = storage.put(&format!("app/{app}/{instance}"), &value).await {
                failed = Some(e.into());
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Stored counts of `flag`, by application (pending ones included).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn of_flag(
        &self,
        storage: &StorageView,
        flag: &str,
    ) -> Result<BTreeMap<String, ToggleCounts>, Error> {
        let mut out: BTreeMap<String, ToggleCounts> = BTreeMap::new();
        for (key, value) in storage.scan("usage/").await? {
            let Some(rest) = key.strip_prefix("usage/") else {
                continue;
            };
            let Some((app, f)) = rest.rsplit_once('/') else {
                continue;
            };
            if f != flag {
                continue;
            }
            if let Ok(c) = serde_json::from_slice::<ToggleCounts>(&value) {
                merge(out.entry(app.to_owned()).or_default(), &c);
            }
        }
        for ((app, f), c) in lock(&self.counts).iter() {
            if f == flag {
                merge(out.entry(app.clone()).or_default(), c);
            }
        }
        Ok(out)
    }

    /// Registered applications (stored and pending).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn applications(&self, storage: &StorageView) -> Result<Vec<Application>, Error> {
        let mut out: BTreeMap<(String, String), Application> = BTreeMap::new();
        for (_, v) in storage.scan("app/").await? {
            if let Ok(a) = serde_json::from_slice::<Application>(&v) {
                out.insert((a.app_name.clone(), a.instance_id.clone()), a);
            }
        }
        for (k, a) in lock(&self.apps).iter() {
            out.insert(k.clone(), a.clone());
        }
        Ok(out.into_values().collect())
    }
}

fn merge(into: &mut ToggleCounts, c: &ToggleCounts) {
    into.yes = into.yes.saturating_add(c.yes);
    into.no = into.no.saturating_add(c.no);
    for (v, n) in &c.variants {
        let e = into.variants.entry(v.clone()).or_insert(0);
        *e = e.saturating_add(*n);
    }
}

async fn add_stored(
    storage: &StorageView,
    app: &str,
    flag: &str,
    c: &ToggleCounts,
) -> Result<(), Error> {
    let key = format!("usage/{app}/{flag}");
    for _ in 0..16 {
        let old = storage.get(&key).await?;
        let mut sum: ToggleCounts = old
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        merge(&mut sum, c);
        let new = serde_json::to_vec(&sum).map_err(|e| Error::Internal(e.to_string()))?;
        if storage
            .compare_and_swap(&key, old.as_deref(), Some(&new))
            .await?
        {
            return Ok(());
        }
    }
    Err(Error::Conflict(format!(
        "usage record {key} is too contended"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_add_up_across_flushes() {
        let ctx = opshelf_core::Context::for_tests().await;
        let u = Usage::default();
        let mut t = BTreeMap::new();
        t.insert(
            "f".to_owned(),
            ToggleCounts {
                yes: 2,
                no: 1,
                variants: BTreeMap::from([("blue".to_owned(), 2)]),
            },
        );
        u.add("app", &t);
        u.flush(&ctx.storage).await.unwrap();
        u.add("app", &t);
        u.add("other", &t);
        assert_eq!(u.of_flag(&ctx.storage, "f").await.unwrap()["app"].yes, 4);
        u.flush(&ctx.storage).await.unwrap();
        let by_app = u.of_flag(&ctx.storage, "f").await.unwrap();
        assert_eq!(
            by_app["app"],
            ToggleCounts {
                yes: 4,
                no: 2,
                variants: BTreeMap::from([("blue".to_owned(), 4)])
            }
        );
        assert_eq!(by_app["other"].yes, 2);
    }
}
