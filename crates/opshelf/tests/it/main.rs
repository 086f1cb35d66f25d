//! One end-to-end test binary for the whole server (ripgrep's `tests/tests.rs` pattern):
//! a module per capability, all driving the real `opshelf` binary over HTTP.

mod architecture;
mod foundation;
mod platform;
mod support;

#[cfg(all(feature = "console", feature = "flags"))]
mod console;
#[cfg(feature = "flags")]
mod flags;
#[cfg(feature = "logs")]
mod logs;
#[cfg(feature = "scan")]
mod scan;
#[cfg(all(feature = "scan", feature = "console"))]
mod scan_upload;
#[cfg(feature = "secrets")]
mod secrets;
#[cfg(feature = "traces")]
mod traces;
#[cfg(feature = "waf")]
mod waf;
