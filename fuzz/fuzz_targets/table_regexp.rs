//! Fuzzes regexp: and pcre: table files: `tables::regexp::Rules::parse` (`/pattern/flags
//! result`, `!/pattern/`, `if`/`endif` nesting, `$n` substitutions) and lookups in the
//! parsed rules. The first byte picks the dialect (even: regexp, odd: pcre); the rest is
//! the file, then, after a NUL byte, lookup keys one per line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::tables::regexp::{Dialect, Rules};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dialect = if mode.is_multiple_of(2) {
        Dialect::Regexp
    } else {
        Dialect::Pcre
    };
    let (file, keys) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b"user@example.com\nexample.com\n"[..]),
    };
    let text = String::from_utf8_lossy(file);
    let Ok(rules) = Rules::parse(&text, "fuzz", dialect) else {
        return;
    };
    for key in String::from_utf8_lossy(keys).lines() {
        let _ = rules.lookup(key);
    }
});
