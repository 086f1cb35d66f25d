//! LogQL parser: never panics; whatever parses formats to a query that parses again to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    if opshelf_logql::parse_expr(q).is_ok() {
        let f = opshelf_logql::format_query(q).expect("a parsed query formats");
        let again = opshelf_logql::format_query(&f).expect("a formatted query parses");
        assert_eq!(f, again, "format_query is a fixed point");
    }
    let _ = opshelf_logql::selector_matchers(q);
});
