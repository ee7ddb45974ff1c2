//! Fuzzes cidr: table files: `tables::cidr::CidrRules::parse` (IPv4/IPv6 networks,
//! `!` negation, `if`/`endif`) and lookups in the parsed rules. The input is the file,
//! then, after a NUL byte, lookup keys (client addresses) one per line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::tables::cidr::CidrRules;

fuzz_target!(|data: &[u8]| {
    let (file, keys) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"192.0.2.1\n2001:db8::1\n::ffff:10.1.2.3\n"[..]),
    };
    let text = String::from_utf8_lossy(file);
    let Ok(rules) = CidrRules::parse(&text, "fuzz") else {
        return;
    };
    for key in String::from_utf8_lossy(keys).lines() {
        let _ = rules.lookup(key);
    }
});
