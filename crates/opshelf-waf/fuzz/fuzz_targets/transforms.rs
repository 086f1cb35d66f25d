#![no_main]
//! Every transformation on arbitrary bytes: no panic, no unbounded growth.

use libfuzzer_sys::fuzz_target;
use opshelf_waf::transform::Transform;

const NAMES: &[&str] = &[
    "base64decode",
    "base64decodeext",
    "cmdline",
    "compresswhitespace",
    "cssdecode",
    "escapeseqdecode",
    "hexdecode",
    "htmlentitydecode",
    "jsdecode",
    "lowercase",
    "normalizepath",
    "normalizepathwin",
    "removecomments",
    "removecommentschar",
    "removenulls",
    "removewhitespace",
    "replacecomments",
    "sqlhexdecode",
    "trim",
    "urldecode",
    "urldecodeuni",
    "utf8tounicode",
    "md5",
    "sha1",
    "hexencode",
];

fuzz_target!(|data: &[u8]| {
    for name in NAMES {
        if let Some(t) = Transform::from_name(name) {
            let out = t.apply(data);
            assert!(out.len() <= data.len() * 6 + 64);
        }
    }
});
