//! check_policy_service over real TCP and a real UNIX socket: a policy server in the test
//! (as postgrey or policyd would answer) sees Postfix's request attributes, its actions are
//! applied as access-table answers (DEFER_IF_PERMIT, REJECT, PREPEND into the queued
//! message, DUNNO), one connection serves a session's requests, and a server that is down
//! or answers without an action refuses with 451 4.3.5 and a warning, never a pass.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use common::process_log_text as log_text;
use inproc::{Server, me, scratch};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};

use postern::queue::{QueueFile, QueueName};

type Requests = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// The action for one request, by its recipient's local part.
fn decide(req: &[(String, String)]) -> String {
    let sender = req
        .iter()
        .find(|(n, _)| n == "sender")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    match sender {
        // Two answers to one request: the second must never be taken for the next one.
        "double@b.test" => return "action=DUNNO\n\naction=REJECT stale answer\n\n".into(),
        "table@b.test" => return "action=check_client_access hash:/etc/passwd\n\n".into(),
        _ => {}
    }
    let rcpt = req
        .iter()
        .find(|(n, _)| n == "recipient")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    match rcpt.split('@').next().unwrap_or("") {
        "grey" => "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.test/\n\n".into(),
        "bad" => "action=REJECT go away\n\n".into(),
        "broken" => "something=else\n\n".into(),
        _ if rcpt.starts_with("root") || rcpt.contains('+') => "action=DUNNO\n\n".into(),
        _ => "action=PREPEND X-Policy: seen\n\n".into(),
    }
}

/// Serve one connection's requests until it closes; record each.
fn serve(stream: impl std::io::Read + Write, seen: &Requests) {
    let mut r = BufReader::new(stream);
    loop {
        let mut req = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once('=').unwrap();
            req.push((n.to_string(), v.to_string()));
        }
        let answer = decide(&req);
        seen.lock().unwrap().push(req);
        if r.get_mut().write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A policy server on a loopback port: its address, the requests, the connections made.
fn tcp_policy() -> (String, Requests, Arc<Mutex<usize>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("inet:{}", l.local_addr().unwrap());
    let seen: Requests = Arc::default();
    let conns = Arc::new(Mutex::new(0));
    let (s2, c2) = (seen.clone(), conns.clone());
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            *c2.lock().unwrap() += 1;
            let s3 = s2.clone();
            std::thread::spawn(move || serve(stream, &s3));
        }
    });
    (addr, seen, conns)
}

fn server(policy: &str) -> Server {
    let list =
        format!("permit_mynetworks, check_policy_service {policy}, reject_unauth_destination");
    Server::builder()
        .in_dir(scratch())
        .set(&[
            ("mydestination", "$myhostname, localhost"),
            ("mynetworks", "192.0.2.0/24"),
            ("smtpd_recipient_restrictions", &list),
        ])
        .aliases(true)
        .start()
}

fn attr<'a>(req: &'a [(String, String)], name: &str) -> &'a str {
    req.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {req:?}"))
}

#[test]
fn actions_of_a_policy_server_are_applied() {
    let (policy, seen, conns) = tcp_policy();
    let s = server(&policy);
    let me = me();
    let out = s.talk(&[
        "EHLO mail.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<grey@www.a.org>",
        "RCPT TO:<bad@www.a.org>",
        &format!("RCPT TO:<{me}@www.a.org>"),
        "RCPT TO:<broken@www.a.org>",
        "RSET",
        "MAIL FROM:<double@b.test>",
        &format!("RCPT TO:<{me}@www.a.org>"),
        "RSET",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<bad@www.a.org>",
        "RSET",
        "MAIL FROM:<table@b.test>",
        &format!("RCPT TO:<{me}@www.a.org>"),
    ]);
    assert_eq!(
        out[3],
        "450 4.7.1 <grey@www.a.org>: Recipient address rejected: Greylisted, see http://postgrey.test/"
    );
    assert_eq!(
        out[4],
        "554 5.7.1 <bad@www.a.org>: Recipient address rejected: go away"
    );
    assert_eq!(out[5], "250 2.1.5 Ok");
    assert_eq!(out[6], "451 4.3.5 Server configuration problem");
    // The stale second answer to `double` is not taken for the next request.
    assert_eq!(out[9], "250 2.1.5 Ok");
    assert_eq!(
        out[12],
        "554 5.7.1 <bad@www.a.org>: Recipient address rejected: go away"
    );
    // An action naming a table is refused, as Postfix refuses it.
    assert_eq!(out[15], "451 4.3.5 Server configuration error");
    let text = log_text();
    let name = policy.trim_start_matches("inet:");
    assert!(
        text.contains(&format!(
            "warning: problem talking to server {name}: missing attribute action"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "warning: access table {policy} has entry with lookup table: check_client_access hash:/etc/passwd"
        )),
        "{text}"
    );
    // Postfix's attributes; the broken answer is asked twice (the retry).
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(reqs.len(), 8);
    assert_ne!(
        attr(&reqs[5], "instance"),
        attr(&reqs[0], "instance"),
        "a new transaction"
    );
    let first = &reqs[0];
    assert_eq!(attr(first, "request"), "smtpd_access_policy");
    assert_eq!(attr(first, "protocol_state"), "RCPT");
    assert_eq!(attr(first, "protocol_name"), "ESMTP");
    assert_eq!(attr(first, "helo_name"), "mail.b.test");
    assert_eq!(attr(first, "sender"), "a@b.test");
    assert_eq!(attr(first, "recipient"), "grey@www.a.org");
    assert_eq!(attr(first, "client_address"), "127.0.0.1");
    let instance = attr(first, "instance");
    assert!(!instance.is_empty());
    assert!(
        reqs[..5].iter().all(|r| attr(r, "instance") == instance),
        "one transaction"
    );
    // The first connection until the broken answer; its retry's; the double answer's
    // (not reused); the one after it.
    assert_eq!(*conns.lock().unwrap(), 4, "{reqs:?}");
}

#[test]
fn a_prepend_reaches_the_queued_message() {
    let (policy, _seen, _) = tcp_policy();
    let s = server(&policy);
    let out = s.talk(&[
        "EHLO mail.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<postmaster@www.a.org>",
        "DATA",
        "Subject: hi\r\n\r\nbody\r\n.",
    ]);
    assert_eq!(out[3], "250 2.1.5 Ok");
    assert!(out[5].starts_with("250 2.0.0 Ok: queued as "), "{out:?}");
    let id = out[5].rsplit(' ').next().unwrap();
    let path = s.queue.path(QueueName::Incoming, id);
    let mut qf = QueueFile::open(&path).unwrap();
    let content = String::from_utf8(qf.content().unwrap()).unwrap();
    assert!(content.starts_with("X-Policy: seen\n"), "{content}");
}

#[test]
fn a_server_that_is_down_or_on_a_unix_socket() {
    // Nothing listens on this port (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = server(&format!("inet:127.0.0.1:{port}"));
    let out = s.talk(&[
        "HELO mail.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<root@www.a.org>",
    ]);
    assert_eq!(out[3], "451 4.3.5 Server configuration problem");
    let text = log_text();
    assert!(
        text.contains(&format!(
            "warning: problem talking to server 127.0.0.1:{port}: Connection refused"
        )),
        "{text}"
    );
    // A UNIX socket.
    let dir = scratch();
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("policy.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let seen: Requests = Arc::default();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            serve(stream, &s2);
        }
    });
    let s = server(&format!("unix:{}", sock.display()));
    let out = s.talk(&[
        "HELO mail.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<bad@www.a.org>",
    ]);
    assert_eq!(
        out[3],
        "554 5.7.1 <bad@www.a.org>: Recipient address rejected: go away"
    );
    assert_eq!(attr(&seen.lock().unwrap()[0], "protocol_name"), "SMTP");
}

/// SIZE= and the recipient count reach the server (size at MAIL with smtpd_delay_reject =
/// no and at RCPT; recipient_count only at DATA); a plaintext session has no encryption_*
/// or ccert_* values and no SASL login.
#[test]
fn size_recipient_count_and_session_attributes() {
    let (policy, seen, _) = tcp_policy();
    let check = format!("check_policy_service {policy}");
    let s = Server::builder()
        .in_dir(scratch())
        .set(&[
            ("mydestination", "$myhostname, localhost"),
            ("smtpd_delay_reject", "no"),
            ("smtpd_sender_restrictions", &check),
            (
                "smtpd_recipient_restrictions",
                &format!("{check}, permit_mynetworks, reject_unauth_destination"),
            ),
            ("smtpd_data_restrictions", &check),
        ])
        .aliases(true)
        .start();
    let me = me();
    let out = s.talk(&[
        "EHLO mail.b.test",
        "MAIL FROM:<a@b.test> SIZE=4321",
        &format!("RCPT TO:<{me}@www.a.org>"),
        "RCPT TO:<root@www.a.org>",
        "DATA",
        ".",
    ]);
    assert!(out[5].starts_with("354 "), "{out:?}");
    let reqs = seen.lock().unwrap().clone();
    let states: Vec<&str> = reqs.iter().map(|r| attr(r, "protocol_state")).collect();
    assert_eq!(states, ["MAIL", "RCPT", "RCPT", "DATA"]);
    for r in &reqs[..3] {
        assert_eq!(attr(r, "size"), "4321");
        assert_eq!(attr(r, "recipient_count"), "0");
    }
    assert_eq!(attr(&reqs[3], "recipient_count"), "2");
    for r in &reqs {
        for name in [
            "encryption_protocol",
            "encryption_cipher",
            "ccert_subject",
            "sasl_method",
        ] {
            assert_eq!(attr(r, name), "", "{name}");
        }
        assert_eq!(attr(r, "encryption_keysize"), "0");
    }
}
