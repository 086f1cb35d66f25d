//! The `opshelf` binary's library half: the list of capabilities, configuration, `serve`,
//! and the capability subcommands. `main.rs` parses the command line, sets up logging and
//! the allocator, and calls in here; the end-to-end tests call [`serve::Running`] directly
//! to run a capability of their own.

pub mod capabilities;
pub mod cli;
pub mod config;
pub mod serve;

pub use capabilities::Registry;
