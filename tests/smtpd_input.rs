//! Hostile input against the real server (the built `postfix` on a free port, its own
//! maillog): bytes that are not UTF-8 or split a character in a command, clients that talk
//! before the greeting or pipeline where they may not, and header lines with NUL, bare CR
//! and bare LF. Each session must go on (or end as Postfix ends it) and be logged.

mod common;

use common::{Client, Instance, wait_for};
use postern::smtpd::ClientInfo;

const SYNC: &str = "554 5.5.0 Error: SMTP protocol synchronization";

fn client_log_name() -> String {
    ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).log_name()
}

fn logged(inst: &Instance, text: &str) -> bool {
    wait_for(10, || inst.log().contains(text))
}

/// One command line of raw bytes, and its reply.
fn raw_cmd(c: &mut Client, line: &[u8]) -> String {
    c.send_raw(&[line, b"\r\n"].concat());
    c.reply()
}

#[test]
fn split_characters_and_bad_utf8_keep_the_session() {
    let inst = Instance::new(&[]);
    inst.start();
    let mut c = inst.connect();
    assert_eq!(c.reply(), "220 www.a.org ESMTP Postfix");
    c.cmd("EHLO x");
    // A two-byte character across byte 4 of the argument used to kill the session thread.
    assert_eq!(
        raw_cmd(&mut c, b"MAIL FRO\xc3\xa9:<a@b>"),
        "501 5.5.4 Syntax: MAIL FROM:<address>"
    );
    assert_eq!(
        raw_cmd(&mut c, b"MAIL FROM:<\xff\xfe@x>"),
        "500 5.5.2 Error: bad UTF-8 syntax"
    );
    assert_eq!(
        raw_cmd(&mut c, b"RCPT TO:<\xc3@x>"),
        "500 5.5.2 Error: bad UTF-8 syntax"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(logged(
        &inst,
        &format!("disconnect from {}", client_log_name())
    ));
    assert!(!inst.log().contains("panicked"), "{}", inst.log());
}

#[test]
fn talking_before_the_greeting_is_refused() {
    let inst = Instance::new(&[]);
    // One session at a time: the second client's early words are surely there when its
    // session starts, as they are for a real early talker.
    let master = std::fs::read_to_string(inst.etc.join("master.cf")).unwrap();
    let one = master.replacen("inet n - n - - smtpd", "inet n - n - 1 smtpd", 1);
    std::fs::write(inst.etc.join("master.cf"), one).unwrap();
    inst.start();
    let mut first = inst.connect();
    assert_eq!(first.reply(), "220 www.a.org ESMTP Postfix");
    let mut early = inst.connect();
    early.send_raw(b"EHLO early\r\n");
    assert_eq!(first.cmd("QUIT"), "221 2.0.0 Bye");
    assert_eq!(early.reply(), SYNC, "no greeting, only the refusal");
    assert_eq!(early.reply(), "", "then the server hangs up");
    let client = client_log_name();
    assert!(logged(
        &inst,
        &format!("improper command pipelining after CONNECT from {client}: EHLO early\\r\\n")
    ));
    assert!(logged(&inst, &format!("disconnect from {client}")));
}

#[test]
fn pipelining_after_helo_is_refused_by_default() {
    let inst = Instance::new(&[]);
    inst.start();
    let mut c = inst.connect();
    c.reply();
    c.send_raw(b"HELO x\r\nMAIL FROM:<a@b.test>\r\n");
    assert_eq!(c.reply(), SYNC);
    assert_eq!(c.reply(), "");
    let client = client_log_name();
    assert!(logged(
        &inst,
        &format!(
            "improper command pipelining after HELO from {client}: MAIL FROM:<a@b.test>\\r\\n"
        )
    ));
    // PIPELINING is offered only in the EHLO reply: nothing may ride along with EHLO.
    let mut c = inst.connect();
    c.reply();
    c.send_raw(b"EHLO x\r\nMAIL FROM:<a@b.test>\r\n");
    assert_eq!(c.reply(), SYNC);
    assert_eq!(c.reply(), "");
    assert!(logged(
        &inst,
        &format!("improper command pipelining after EHLO from {client}: MAIL FROM:<a@b.test>")
    ));
}

#[test]
fn reject_unauth_pipelining_remembers_early_input() {
    let inst = Instance::new(&[
        ("smtpd_forbid_unauth_pipelining", "no"),
        ("smtpd_client_restrictions", "reject_unauth_pipelining"),
    ]);
    inst.start();
    let mut c = inst.connect();
    c.reply();
    c.send_raw(b"HELO x\r\nMAIL FROM:<a@b.test>\r\n");
    assert_eq!(c.reply(), "250 www.a.org");
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    // This RCPT waits for its turn, yet the client already broke the rules.
    let client = client_log_name();
    let refusal = format!(
        "503 5.5.0 <{client}>: Client host rejected: Improper use of SMTP command pipelining"
    );
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{}>", inst.local_address())),
        refusal
    );
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(logged(
        &inst,
        &format!("NOQUEUE: reject: RCPT from {client}: {refusal}; from=<a@b.test>")
    ));
    assert!(inst.log().contains(&format!(
        "improper command pipelining after HELO from {client}: "
    )));
}

#[test]
fn header_nul_and_bare_cr_never_reach_the_mailbox() {
    let inst = Instance::new(&[]);
    inst.newaliases();
    inst.start();
    let mut c = inst.connect();
    c.reply();
    c.cmd("EHLO x");
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    let rcpt = format!("RCPT TO:<{}>", inst.local_address());
    assert_eq!(c.cmd(&rcpt), "250 2.1.5 Ok");
    let reply = c.data("Subject: x \0y\nX-Note: a\rBcc: evil@x.test\n\nbody\n");
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    c.cmd("QUIT");
    assert!(
        wait_for(20, || inst.mbox(&inst.user).contains("\nbody\n")),
        "not delivered: {}",
        inst.log()
    );
    let mbox = std::fs::read(inst.mail.join(&inst.user)).unwrap();
    let text = String::from_utf8_lossy(&mbox);
    assert!(
        text.contains("\nSubject: x \nX-Note: a Bcc: evil@x.test\n"),
        "{text:?}"
    );
    assert!(!mbox.contains(&0) && !mbox.contains(&b'\r'), "{text:?}");
}

#[test]
fn bare_lf_command_is_refused_with_reject() {
    let inst = Instance::new(&[
        ("smtpd_forbid_bare_newline", "reject"),
        ("smtpd_forbid_bare_newline_exclusions", ""),
    ]);
    inst.start();
    let mut c = inst.connect();
    c.reply();
    assert_eq!(c.cmd("EHLO x").lines().next(), Some("250-www.a.org"));
    c.send_raw(b"NOOP\n");
    assert_eq!(c.reply(), "550 5.5.2 www.a.org Error: bare <LF> received");
    assert_eq!(c.reply(), "", "then the server hangs up");
    let client = client_log_name();
    assert!(logged(
        &inst,
        &format!("NOQUEUE: reject: EHLO from {client}: bare <LF> received; proto=ESMTP helo=<x>")
    ));
}
