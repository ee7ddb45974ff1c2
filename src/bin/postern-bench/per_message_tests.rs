//! Tests of postern-bench's connection-per-message mode against a scripted server.

use super::tests::{args, scripted_session};
use super::*;

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
            let seen = scripted_session(s, |cmd, line| match cmd {
                "EHLO" => b"250-test\r\n250 AUTH PLAIN\r\n",
                "AUTH" if line == "AUTH PLAIN AGJlbmNoAHB3" => b"235 2.7.0 ok\r\n",
                "AUTH" => b"535 5.7.8 no\r\n",
                "MAIL" | "RCPT" => b"250 Ok\r\n",
                _ => b"500 what\r\n",
            });
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
