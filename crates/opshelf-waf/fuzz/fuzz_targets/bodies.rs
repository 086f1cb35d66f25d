#![no_main]
//! Request-body processors on arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use opshelf_waf::body;

fuzz_target!(|data: &[u8]| {
    let _ = body::parse_urlencoded(data, b'&');
    let _ = body::parse_cookies(data);
    let _ = body::parse_json(data, 64);
    let _ = body::parse_xml(data);
    let mut m = body::Multipart::default();
    if let Some(b) = body::multipart_boundary(data, &mut m) {
        let _ = body::parse_multipart(data, &b);
    }
    let _ = body::parse_multipart(data, b"----x");
});
