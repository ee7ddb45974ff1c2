//! Fuzzes master.cf parsing: `config::master_cf::parse` (eight fields, `-` defaults,
//! continuation lines, `-o name=value` overrides, `{ ... }` arguments), then what the
//! master asks of every service (listener kind, support, inet address).

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::config::master_cf;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(services) = master_cf::parse(text, "master.cf") else {
        return;
    };
    for s in &services {
        let _ = s.is_smtpd_listener();
        let _ = s.is_supported();
        let _ = s.unsupported_reason();
        let _ = s.inet_address();
    }
});
