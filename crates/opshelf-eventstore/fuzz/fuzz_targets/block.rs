#![no_main]
//! The block decoders (footer, summary, chunk table, blooms, zstd chunks, records) on
//! arbitrary bytes, and on a valid block damaged by the input.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use opshelf_eventstore::fuzzing;

static SAMPLE: LazyLock<Vec<u8>> = LazyLock::new(fuzzing::sample_block);

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::block(data);
    let _ = fuzzing::block(&fuzzing::mangle(&SAMPLE, data));
});
