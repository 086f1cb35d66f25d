//! The crate's one error type. Callers map it to a status: `Overloaded`, `RateLimited` → 429/503
//! with `Retry-After`; `Limit`, `Invalid` → 400; `QueryMemory` → 422 (narrow the query);
//! `QueryBusy` → 503 with `Retry-After` (other queries hold the shared share: retry);
//! `Io`, `Corrupt`, `Closed` → 500/503.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Bytes read back from disk (WAL frame, block section, chunk) failed validation.
    #[error("corrupt {what}")]
    Corrupt { what: &'static str },
    /// The ingestion memory budget is full and did not drain within the back-pressure timeout.
    /// Nothing was written; retry after `retry_after`.
    #[error("event store overloaded (ingestion buffers full); retry after {retry_after:?}")]
    Overloaded { retry_after: Duration },
    /// A per-tenant or per-stream rate limit refused the batch; nothing was written.
    #[error("rate limit exceeded for {scope}; retry after {retry_after:?}")]
    RateLimited {
        scope: &'static str,
        retry_after: Duration,
    },
    /// A static limit (streams per tenant, record size, labels, ...) refused the batch.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A query would need more memory than its share of the budget; nothing partial is hidden:
    /// the iterator ends with this error. Narrow the time range, the matchers or the limit.
    #[error("query needs more than its memory budget of {budget} bytes")]
    QueryMemory { budget: usize },
    /// The query fits its own cap, but concurrent queries hold the shared query share and did
    /// not release enough within a short wait. Transient: retry after `retry_after`.
    #[error("too many concurrent queries (query memory in use); retry after {retry_after:?}")]
    QueryBusy { retry_after: Duration },
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("invalid config: {0}")]
    Config(String),
    /// The store is closed, or its writer failed (an fsync error poisons the WAL: every later
    /// append fails instead of acknowledging data that may not be durable).
    #[error("event store closed: {0}")]
    Closed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: impl AsRef<std::path::Path>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.as_ref().display().to_string();
    move |source| Error::Io { path, source }
}

pub(crate) const fn corrupt(what: &'static str) -> Error {
    Error::Corrupt { what }
}
