//! smtpd_end_of_data_restrictions over real TCP: evaluated after the final dot of DATA and
//! after the last BDAT chunk, a refusal named `<END-OF-MESSAGE>: End-of-data rejected`
//! (or by the class of the check that refused), logged with the queue ID as Postfix does,
//! and nothing queued; a policy server is told END-OF-MESSAGE with the queue ID, the size
//! and the recipient count.

mod common;
#[path = "common/inproc.rs"]
mod inproc;
#[path = "common/policy.rs"]
mod policy;

use inproc::{Server, assert_logged, cl, me};
use postern::qmgr::Wake;

fn server(eod: &str) -> Server {
    Server::builder()
        .set(&[
            ("mydestination", "$myhostname, localhost"),
            ("smtpd_end_of_data_restrictions", eod),
        ])
        .aliases(true)
        .start()
}

/// One message from `sender` to the test user over DATA; the reply to the final dot.
fn send(s: &Server, sender: &str) -> String {
    let mut c = inproc::Client::connect(s);
    c.reply();
    c.cmd("EHLO c.b.test");
    assert_eq!(c.cmd(&format!("MAIL FROM:<{sender}>")), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{}@www.a.org>", me())),
        "250 2.1.5 Ok"
    );
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send("Subject: t\r\n\r\nhello\r\n");
    let reply = c.cmd(".");
    c.cmd("QUIT");
    c.expect_eof();
    reply
}

/// Queue IDs the server announced to the scheduler.
fn queued(s: &Server) -> Vec<String> {
    s.wake
        .try_iter()
        .filter_map(|w| match w {
            Wake::New(id) => Some(id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refusal_at_the_end_of_data_queues_nothing() {
    let s = server("check_sender_access inline:{ spam@b.test=REJECT no spam here }, reject");
    let files = s.incoming_entries();
    let reply = send(&s, "spam@b.test");
    assert_eq!(
        reply,
        "554 5.7.1 <spam@b.test>: Sender address rejected: no spam here"
    );
    let reply = send(&s, "ham@b.test");
    assert_eq!(
        reply,
        "554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: Access denied"
    );
    assert!(queued(&s).is_empty());
    assert_eq!(s.incoming_entries(), files, "no queue file is left behind");
    // Postfix's line, with the queue ID the message had.
    let log = common::process_log_text();
    let line = log
        .lines()
        .find(|l| l.contains(": reject: END-OF-MESSAGE from ") && l.contains("from=<ham@b.test>"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(&format!(
            "reject: END-OF-MESSAGE from {}: {reply}; from=<ham@b.test> to=<{}@www.a.org> proto=ESMTP helo=<c.b.test>",
            cl(),
            me()
        )),
        "{line}"
    );
    assert!(!line.contains("NOQUEUE"), "{line}");
}

#[test]
fn bdat_messages_pass_the_same_restrictions() {
    let s = server("reject");
    let rcpt = format!("RCPT TO:<{}@www.a.org>", me());
    let out = s.talk(&[
        "EHLO c.b.test",
        "MAIL FROM:<a@b.test>",
        &rcpt,
        "BDAT 0 LAST",
    ]);
    assert_eq!(
        out[4],
        "554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: Access denied"
    );
    assert!(queued(&s).is_empty());
}

#[test]
fn a_policy_server_sees_the_end_of_the_message() {
    let (addr, seen) = policy::recording();
    let s = server(&format!("check_policy_service {addr}"));
    let reply = send(&s, "a@b.test");
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    let id = reply.rsplit(' ').next().unwrap().to_string();
    assert_eq!(queued(&s), std::slice::from_ref(&id));
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    for want in [
        "protocol_state=END-OF-MESSAGE\n".to_string(),
        format!("queue_id={id}\n"),
        "recipient_count=1\n".into(),
        "sender=a@b.test\n".into(),
    ] {
        assert!(reqs[0].contains(&want), "{want}\n{}", reqs[0]);
    }
    // Postfix counts each line with its CR LF: 12 + 2 + 7.
    assert!(reqs[0].contains("\nsize=21\n"), "{}", reqs[0]);
    assert_logged(&format!("{id}: client="));
}

/// With one recipient the list sees it (Postfix keeps it for DATA and END-OF-MESSAGE);
/// PREPEND is too late there and is ignored with Postfix's warning.
#[test]
fn the_single_recipient_is_checked_and_prepend_is_refused() {
    let me = me();
    let s = server(&format!(
        "check_recipient_access inline:{{ {me}@www.a.org=PREPEND X-Late: yes }}, check_sender_access inline:{{ blocked@b.test=REJECT }}"
    ));
    let reply = send(&s, "a@b.test");
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    assert_logged(&format!(
        "warning: access table inline:{{ {me}@www.a.org=PREPEND X-Late: yes }}: action PREPEND must be used before smtpd_end_of_data_restrictions"
    ));
    let s = server(&format!(
        "check_recipient_access inline:{{ {me}@www.a.org=REJECT not at the end }}"
    ));
    assert_eq!(
        send(&s, "a@b.test"),
        format!("554 5.7.1 <{me}@www.a.org>: Recipient address rejected: not at the end")
    );
}
