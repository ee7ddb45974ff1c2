//! Fuzzes the parsing of delivery status from a remote server and the bounce built from
//! it: `delivery::smtp::reply` (reply lines, multi-line replies, RFC 3463 enhanced status
//! codes via `Reply::dsn`, EHLO keywords) and `bounce::compose` (the RFC 3464 report with
//! the remote text and the original message, whose headers it reads). The input is the
//! server's reply lines, then, after the first empty line, the original message.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use postern::bounce::{self, Failure};
use postern::config::Config;
use postern::delivery::smtp::reply::Collector;
use postern::queue::{Envelope, Recipient};

fn config() -> &'static Config {
    static CFG: OnceLock<Config> = OnceLock::new();
    CFG.get_or_init(|| {
        Config::from_pairs(
            Path::new("/nonexistent"),
            &[("myhostname", "www.a.org"), ("bounce_size_limit", "2000")],
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (replies, original) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (&text[..], "Subject: test\n\nbody\n"),
    };
    let mut collector = Collector::default();
    let mut failures = Vec::new();
    for line in replies.lines() {
        match collector.push(line.trim_end_matches('\r')) {
            Ok(Some(reply)) => {
                let dsn = reply.dsn().to_string();
                // The reply's own code when it is of the reply's class, else X.0.0 with X
                // the class (a 3xx reply, a protocol error here, gives 5.5.0).
                let parts: Vec<&str> = dsn.split('.').collect();
                assert!(
                    parts.len() == 3
                        && parts[0].len() == 1
                        && ("2"..="5").contains(&parts[0])
                        && parts[1..].iter().all(|p| {
                            (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
                        }),
                    "bad DSN {:?} from {:?}",
                    dsn,
                    reply.lines
                );
                let _ = reply.extensions();
                failures.push(Failure {
                    address: "user@remote.test".to_string(),
                    original: Some("user@remote.test".to_string()),
                    dsn,
                    text: reply.text(),
                    relay: "mx.remote.test[192.0.2.25]:25".to_string(),
                });
            }
            Ok(None) => {}
            Err(_) => collector = Collector::default(),
        }
    }
    if failures.is_empty() {
        return;
    }
    let mut env = Envelope::new("sender@www.a.org");
    env.recipients.push(Recipient::new("user@remote.test"));
    let _ = bounce::compose(
        config(),
        "3F2A51C0D1",
        "4B7E02A9F3",
        &env,
        original.as_bytes(),
        &failures,
    );
});
