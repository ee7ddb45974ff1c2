//! Tests of postern-bench's connection-per-message mode against a scripted server.

use super::*;
use std::io::BufRead;

/// `--connect-per-message --auth`: one connection per message, each with greeting,
/// EHLO, AUTH PLAIN, MAIL/RCPT/DATA and QUIT; every session counts once.
#[test]
fn a_session_per_message_with_auth() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut sessions = Vec::new();
        for _ in 0..3 {
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut seen = Vec::new();
            w.write_all(b"220 test ESMTP\r\n").unwrap();
            let mut in_data = false;
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 {
                let l = line.trim_end().to_string();
                line.clear();
                if in_data {
                    if l == "." {
                        in_data = false;
                        w.write_all(b"250 2.0.0 Ok\r\n").unwrap();
                    }
                    continue;
                }
                seen.push(l.clone());
                let reply: &[u8] = match l.split(' ').next().unwrap_or("") {
                    "EHLO" => b"250-test\r\n250 AUTH PLAIN\r\n",
                    "AUTH" if l == "AUTH PLAIN AGJlbmNoAHB3" => b"235 2.7.0 ok\r\n",
                    "AUTH" => b"535 5.7.8 no\r\n",
                    "MAIL" | "RCPT" => b"250 Ok\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go\r\n"
                    }
                    "QUIT" => {
                        w.write_all(b"221 Bye\r\n").unwrap();
                        break;
                    }
                    _ => b"500 what\r\n",
                };
                w.write_all(reply).unwrap();
            }
            sessions.push(seen);
        }
        sessions
    });
    let o = parse_args(&args(&[
        "--auth",
        "bench:pw",
        "--connect-per-message",
        "--timeout",
        "10",
    ]))
    .unwrap();
    let mut res = SessionResult::default();
    session(&o, addr, None, 0, 3, None, &mut res).unwrap();
    assert_eq!((res.accepted, res.errors, res.sessions), (3, 0, 3));
    let sessions = server.join().unwrap();
    for seen in sessions {
        assert_eq!(
            seen,
            [
                "EHLO postern-bench.localhost",
                "AUTH PLAIN AGJlbmNoAHB3",
                "MAIL FROM:<bench@localhost>",
                "RCPT TO:<bench@localhost>",
                "DATA",
                "QUIT"
            ]
        );
    }
}

fn args(list: &[&str]) -> Vec<String> {
    std::iter::once("postern-bench")
        .chain(list.iter().copied())
        .map(String::from)
        .collect()
}
