#![no_main]
//! Every lockfile parser, whatever its format, on arbitrary text: packages or an error, never a
//! panic. The first byte picks the parser.

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use opshelf_scan::lockfile::{self, Kind};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kind = Kind::ALL[usize::from(pick) % Kind::ALL.len()];
    let no_includes = |_: &Path| Err(std::io::Error::other("no includes while fuzzing"));
    let _ = lockfile::parse(kind, Path::new("fuzz/lockfile"), text, &no_includes);
});
