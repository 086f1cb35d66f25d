//! The audit stream: every change made through the console, with who made it, kept in the
//! console's storage (`audit/<time ns>-<random>`), newest first when read.

use std::time::{SystemTime, UNIX_EPOCH};

use opshelf_core::{Range, StorageView};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix time, milliseconds.
    pub time_ms: u64,
    /// Who: a console user, `scan-upload-token`, or `-` for a failed sign-in.
    pub user: String,
    /// What: `login`, `user.create`, `flags.POST`, `scan.upload`, ...
    pub action: String,
    /// On what: a user name, an upstream path, a repository.
    pub target: String,
    /// The outcome and anything else worth keeping (never a secret).
    pub detail: Value,
}

/// Now, in Unix milliseconds.
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Append an entry.
///
/// # Errors
/// Storage.
pub async fn record(
    storage: &StorageView,
    user: &str,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), Error> {
    let entry = Entry {
        time_ms: now_ms(),
        user: user.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let key = format!(
        "audit/{nanos:024}-{}",
        &opshelf_core::token::new_salt()[..8]
    );
    let bytes = serde_json::to_vec(&entry).map_err(|e| Error::Internal(e.to_string()))?;
    storage.put(&key, &bytes).await?;
    Ok(())
}

/// The newest `limit` entries, newest first.
///
/// # Errors
/// Storage.
pub async fn recent(storage: &StorageView, limit: usize) -> Result<Vec<Entry>, Error> {
    let rows = storage
        .range(&Range::prefix("audit/").reverse().limit(limit))
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_come_back_newest_first() {
        let ctx = opshelf_core::Context::for_tests_named("console").await;
        record(&ctx.storage, "alice", "user.create", "bob", Value::Null)
            .await
            .unwrap();
        record(&ctx.storage, "alice", "user.delete", "bob", Value::Null)
            .await
            .unwrap();
        let got = recent(&ctx.storage, 10).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].action, "user.delete");
        assert_eq!(got[1].user, "alice");
        assert_eq!(recent(&ctx.storage, 1).await.unwrap().len(), 1);
    }
}
