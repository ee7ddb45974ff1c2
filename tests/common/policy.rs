//! A policy server for the tests (Postfix's SMTPD_POLICY_README protocol over TCP): it
//! answers `action=DUNNO` to every request and keeps each request's text, so a test can see
//! what smtpd sent.

#![allow(dead_code)]

use std::io::Write;

/// A policy server that answers DUNNO and keeps each request's attributes.
pub fn recording() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::BufRead;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("inet:{}", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        // A thread per connection: smtpd keeps a connection per session thread open.
        for stream in l.incoming().flatten() {
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(stream);
                let mut req = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line.trim_end().is_empty() {
                        seen.lock().unwrap().push(std::mem::take(&mut req));
                        if r.get_mut().write_all(b"action=DUNNO\n\n").is_err() {
                            break;
                        }
                    } else {
                        req.push_str(&line);
                    }
                }
            });
        }
    });
    (addr, seen)
}
