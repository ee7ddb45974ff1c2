//! Fuzzes MAIL FROM / RCPT TO argument parsing and address quoting: `smtpd::address`
//! (`parse_path` for both keywords, `qualify`, `domain_of`, xtext and NOTIFY= parameters)
//! and the local-part unquoting and sender-specified routing of `rewrite` (`unquote`,
//! `Rewrite::unroute` with www.a.org as our domain). The input
//! is the argument text after the verb, made a string the way the session makes one
//! (lossy UTF-8).

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use postern::config::Config;
use postern::rewrite::{self, Rewrite};
use postern::smtpd::address;

fn rewriter() -> &'static Rewrite {
    static RW: OnceLock<Rewrite> = OnceLock::new();
    RW.get_or_init(|| {
        Rewrite::new(&Config::from_pairs(
            Path::new("/nonexistent"),
            &[("mydestination", "www.a.org"), ("myhostname", "www.a.org")],
        ))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for keyword in ["FROM", "TO"] {
        let Ok(path) = address::parse_path(&text, keyword) else {
            continue;
        };
        let qualified = address::qualify(&path.address, "www.a.org");
        let _ = address::domain_of(&qualified);
        if let Some((local, _)) = qualified.rsplit_once('@') {
            let _ = rewrite::unquote(local);
        }
        let _ = rewriter().unroute(&qualified);
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
