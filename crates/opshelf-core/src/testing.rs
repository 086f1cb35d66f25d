//! Test support (the `test-support` feature; never in a release build): a throw-away
//! [`Context`] and the one way tests find the data in `../shared`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::{Context, LogSinkSlot, Metrics, Reload, Shutdown, Tasks, storage, token};

impl Context {
    /// A context for tests: private in-memory SQLite and a fresh directory under the
    /// system temp dir, for capability `name`.
    ///
    /// # Panics
    /// If SQLite cannot start or the temp dir cannot be created.
    pub async fn for_tests_named(name: &'static str) -> Self {
        let storage = storage::sqlite::SqliteStorage::open_in_memory().expect("in-memory SQLite");
        let data_dir = std::env::temp_dir().join(format!("opshelf-test-{}", token::new_salt()));
        std::fs::create_dir_all(&data_dir).expect("temp data dir");
        let tasks = Tasks::new(Shutdown::new());
        Self::for_capability(
            name,
            Arc::new(storage),
            data_dir,
            &Metrics::new(),
            &tasks,
            &Reload::new(),
            &LogSinkSlot::default(),
        )
    }

    /// [`Context::for_tests_named`] for a capability called `test`.
    pub async fn for_tests() -> Self {
        Self::for_tests_named("test").await
    }
}

/// `../shared/<rel>` beside the repository (the corpora tests use). Fails loudly when it is
/// missing: a test never skips quietly because its data is not there.
///
/// # Panics
/// When the path does not exist.
#[must_use]
pub fn shared(rel: &str) -> PathBuf {
    let root = std::env::var_os("OPSHELF_SHARED").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let path = root.join(rel);
    assert!(
        path.exists(),
        "test data missing: {} (the shared corpora live in ../shared beside the repository; \
         set OPSHELF_SHARED to point elsewhere)",
        path.display()
    );
    path
}
