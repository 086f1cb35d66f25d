//! Capability subcommands (`opshelf scan ...`, `opshelf waf ...`, `opshelf flags ...`).
//! Each lives in its own file and receives a [`CliContext`].

#[cfg(feature = "flags")]
pub mod flags;
#[cfg(feature = "logs")]
pub mod logs;
#[cfg(feature = "scan")]
pub mod scan;
#[cfg(feature = "scan")]
pub mod upload;
#[cfg(feature = "waf")]
pub mod waf;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::Config;

#[allow(dead_code)] // unused in a build without the capabilities that have subcommands
/// What a subcommand gets: the loaded configuration and a way to open storage.
#[derive(Debug)]
pub struct CliContext {
    pub config: Config,
    pub data_dir: PathBuf,
}

#[allow(dead_code)] // unused in a build without the capabilities that have subcommands
impl CliContext {
    /// Capability `C`'s settings (its defaults when it is not registered).
    #[must_use]
    pub fn section<C: opshelf_core::Capability>(&self) -> C::Config {
        self.config.section::<C>().cloned().unwrap_or_default()
    }

    /// Open the configured storage (creating the data directory if needed).
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub async fn open_storage(&self) -> anyhow::Result<opshelf_core::DynStorage> {
        opshelf_core::storage::open(&self.config.storage, &self.data_dir)
            .await
            .with_context(|| format!("opening storage under {}", self.data_dir.display()))
    }
}
