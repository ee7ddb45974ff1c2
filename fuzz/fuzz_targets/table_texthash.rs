//! Fuzzes the postmap(1) source format as texthash: tables read it (`tables::texthash::
//! parse`: `key value` lines, continuation lines, comments, first duplicate wins) and as
//! postmap reads it before building a hash: file (`tables::postmap_src::parse_lines`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::tables::{postmap_src, texthash};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = texthash::parse(&text, "fuzz");
    let lines = postmap_src::parse_lines(&text, "fuzz");
    assert_eq!(parsed.is_ok(), lines.is_ok(), "the two readers disagree");
    if let (Ok(entries), Ok(lines)) = (parsed, lines) {
        assert!(entries.list.len() <= lines.len());
    }
});
