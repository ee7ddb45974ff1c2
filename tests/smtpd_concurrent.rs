//! smtpd under concurrency, over real TCP (`serve` on 127.0.0.1:0 with a temporary spool):
//! many sessions finishing DATA at once (their queue files share directory fsyncs, see
//! `postern::queue::dirsync`) each get their own 250 and each message is whole in
//! incoming/; many idle sessions do not keep a new client from being greeted and served.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use inproc::{Client, Server};
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use postern::queue::{QueueFile, QueueName};

/// 40 sessions send one message each, all ending DATA together; every one is answered
/// 250 with a distinct queue ID, and every ID names a complete queue file in incoming/
/// with that session's sender and content.
#[test]
fn concurrent_commits_are_each_acknowledged_and_all_in_place() {
    const N: usize = 40;
    let s = Server::start("smtp", &[], N);
    let barrier = Arc::new(Barrier::new(N));
    let addr = s.addr;
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect_to(addr);
                assert!(c.reply().starts_with("220 "));
                assert!(c.cmd("EHLO client.test").starts_with("250"));
                assert_eq!(c.cmd(&format!("MAIL FROM:<s{i}@a.test>")), "250 2.1.0 Ok");
                assert_eq!(c.cmd("RCPT TO:<r@b.test>"), "250 2.1.5 Ok");
                assert!(c.cmd("DATA").starts_with("354 "));
                c.send(&format!("Subject: message {i}\r\n\r\nbody of {i}\r\n"));
                barrier.wait();
                let r = c.cmd(".");
                let id = r
                    .strip_prefix("250 2.0.0 Ok: queued as ")
                    .unwrap_or_else(|| panic!("session {i}: {r}"))
                    .to_string();
                assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
                (i, id)
            })
        })
        .collect();
    let results: Vec<(usize, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ids: BTreeSet<&String> = results.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), N, "distinct queue IDs");
    for (i, id) in &results {
        let mut qf = QueueFile::open(&s.queue.path(QueueName::Incoming, id))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(qf.envelope.sender, format!("s{i}@a.test"));
        let content = String::from_utf8(qf.content().unwrap()).unwrap();
        assert!(
            content.ends_with(&format!("\nbody of {i}\n")),
            "{content:?}"
        );
    }
    assert_eq!(s.queue.list(QueueName::Incoming).unwrap().len(), N);
}

/// 200 clients that were greeted and say nothing do not keep a new client from its greeting
/// and a whole message (the server has room for them: maxproc 210).
#[test]
fn idle_sessions_leave_room_for_a_new_client() {
    let s = Server::start("smtp", &[], 210);
    let idle: Vec<Client> = (0..200)
        .map(|_| {
            let mut c = Client::connect(&s);
            assert!(c.reply().starts_with("220 "));
            c
        })
        .collect();
    let r = s.talk(&[
        "EHLO client.test",
        "MAIL FROM:<a@a.test>",
        "RCPT TO:<r@b.test>",
        "DATA",
        "Subject: x\r\n\r\nbody\r\n.",
    ]);
    assert!(r[0].starts_with("220 "), "{r:?}");
    assert!(r[5].starts_with("250 2.0.0 Ok: queued as "), "{r:?}");
    assert_eq!(s.queue.list(QueueName::Incoming).unwrap().len(), 1);
    drop(idle);
}
