//! Fuzzes aliases(5) parsing, as newaliases/postalias read the file: `tables::aliases::
//! parse_lines` (`name: value`, continuation lines, comments) and `targets` on every value
//! (comma lists, quoted addresses, :include:, |command, /file).

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::tables::aliases;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(entries) = aliases::parse_lines(&text, "aliases") else {
        return;
    };
    for (_, value, _) in &entries {
        let _ = aliases::targets(value);
    }
});
