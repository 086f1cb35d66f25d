#![no_main]
//! The WAL segment decoder on arbitrary bytes, and on a valid segment damaged by the input.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use opshelf_eventstore::fuzzing;

static SAMPLE: LazyLock<Vec<u8>> = LazyLock::new(fuzzing::sample_wal);

fuzz_target!(|data: &[u8]| {
    let valid = fuzzing::wal_segment(data);
    assert!(valid <= data.len());
    let damaged = fuzzing::mangle(&SAMPLE, data);
    assert!(fuzzing::wal_segment(&damaged) <= damaged.len());
});
