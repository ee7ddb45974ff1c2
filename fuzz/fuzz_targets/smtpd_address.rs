//! Fuzzes MAIL FROM / RCPT TO argument parsing and address quoting: `smtpd::address`
//! (`parse_path` for both keywords, `qualify`, `domain_of`, xtext and NOTIFY= parameters)
//! and the local-part unquoting and sender-specified routing of `qmgr::resolve`. The input
//! is the argument text after the verb, made a string the way the session makes one
//! (lossy UTF-8).

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::qmgr::resolve;
use postern::smtpd::address;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for keyword in ["FROM", "TO"] {
        let Ok(path) = address::parse_path(&text, keyword) else {
            continue;
        };
        let qualified = address::qualify(&path.address, "www.a.org");
        let _ = address::domain_of(&qualified);
        if let Some((local, _)) = qualified.rsplit_once('@') {
            let _ = resolve::unquote(local);
        }
        let _ = resolve::unroute(&qualified, true, true, &|d: &str| d == "www.a.org");
        for (name, value) in &path.params {
            let Some(value) = value else { continue };
            match name.to_ascii_uppercase().as_str() {
                "ORCPT" | "ENVID" => {
                    let _ = address::xtext_decode(value);
                }
                "NOTIFY" => {
                    let _ = address::valid_notify(value);
                }
                _ => {}
            }
        }
    }
});
