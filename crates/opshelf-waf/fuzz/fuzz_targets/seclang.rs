#![no_main]
//! The SecLang lexer and the rule compiler on arbitrary text: errors, never panics.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut loader = opshelf_waf::Loader::new();
    let _ = loader.load_str("fuzz.conf", &text, None);
    let _ = loader.finish();
});
