//! Client limits (anvil) and the queue space check over real sockets: an in-process smtpd
//! on 127.0.0.1:0, checking replies and maillog lines as Postfix writes them.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use common::{Client, process_log_text, wait_for};
use inproc::Server;
use postern::smtpd::ClientInfo;

fn client_log_name() -> String {
    ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).log_name()
}

/// Connect and read the greeting.
fn greeted(s: &Server) -> (Client, String) {
    let mut c = Client::connect(s.port());
    let r = c.reply();
    (c, r)
}

fn quit(mut c: Client) {
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert_eq!(c.reply(), "", "the server closes after QUIT");
}

#[test]
fn connection_count_limit_as_postfix() {
    // The facts seen on Postfix 3.7.11: limit 50, exceptions empty, connection 51 refused.
    let s = Server::start(
        "count-svc",
        &[("smtpd_client_event_limit_exceptions", "")],
        100,
    );
    let mut open = Vec::new();
    for i in 0..50 {
        let (c, r) = greeted(&s);
        assert_eq!(r, "220 www.a.org ESMTP Postfix", "connection {}", i + 1);
        open.push(c);
    }
    let (mut c51, r) = greeted(&s);
    assert_eq!(
        r,
        "421 4.7.0 www.a.org Error: too many connections from 127.0.0.1"
    );
    assert_eq!(c51.reply(), "", "closed after the 421");
    let client = client_log_name();
    let log = process_log_text();
    assert!(
        log.contains(&format!(
            "warning: Connection concurrency limit exceeded: 51 from {client} for service count-svc"
        )),
        "{log}"
    );
    // A refused connection does not count; one that ends frees its place.
    let (c, r) = greeted(&s);
    assert!(r.starts_with("421 4.7.0"), "{r}");
    drop(c);
    quit(open.pop().unwrap());
    let (c, r) = greeted(&s);
    assert_eq!(r, "220 www.a.org ESMTP Postfix");
    quit(c);
    for c in open {
        quit(c);
    }
}

#[test]
fn mynetworks_is_the_default_exception() {
    let s = Server::start(
        "except-svc",
        &[("smtpd_client_connection_count_limit", "2")],
        10,
    );
    let mut open = Vec::new();
    for _ in 0..4 {
        let (c, r) = greeted(&s);
        assert_eq!(r, "220 www.a.org ESMTP Postfix");
        open.push(c);
    }
    for c in open {
        quit(c);
    }
    assert!(!process_log_text().contains("for service except-svc"));
}

#[test]
fn explicit_exceptions_replace_mynetworks() {
    let s = Server::start(
        "explicit-svc",
        &[
            ("smtpd_client_connection_count_limit", "1"),
            ("smtpd_client_event_limit_exceptions", "192.0.2.0/24"),
        ],
        10,
    );
    let (c1, r) = greeted(&s);
    assert_eq!(r, "220 www.a.org ESMTP Postfix");
    let (_c2, r) = greeted(&s);
    assert_eq!(
        r,
        "421 4.7.0 www.a.org Error: too many connections from 127.0.0.1"
    );
    quit(c1);
}

#[test]
fn connection_rate_limit() {
    let s = Server::start(
        "rate-svc",
        &[
            ("smtpd_client_event_limit_exceptions", ""),
            ("smtpd_client_connection_rate_limit", "2"),
            ("anvil_rate_time_unit", "1h"),
        ],
        10,
    );
    for _ in 0..2 {
        let (c, r) = greeted(&s);
        assert_eq!(r, "220 www.a.org ESMTP Postfix");
        quit(c);
    }
    let (_c, r) = greeted(&s);
    assert_eq!(
        r,
        "421 4.7.0 www.a.org Error: too many connections from 127.0.0.1"
    );
    let client = client_log_name();
    let log = process_log_text();
    assert!(
        log.contains(&format!(
            "warning: Connection rate limit exceeded: 3 from {client} for service rate-svc"
        )),
        "{log}"
    );
}

#[test]
fn message_rate_limit_and_a_new_window() {
    let s = Server::start(
        "mail-svc",
        &[
            ("smtpd_client_event_limit_exceptions", ""),
            ("smtpd_client_message_rate_limit", "1"),
            ("anvil_rate_time_unit", "1s"),
            ("smtpd_hard_error_limit", "100000"),
        ],
        10,
    );
    let (mut c, _) = greeted(&s);
    assert_eq!(c.cmd("HELO x"), "250 www.a.org");
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.test>"),
        "450 4.7.1 Error: too much mail from 127.0.0.1"
    );
    let client = client_log_name();
    assert!(process_log_text().contains(&format!(
        "warning: Message delivery request rate limit exceeded: 2 from {client} for service mail-svc"
    )));
    // Once the one-second window has passed, the count starts again.
    assert!(wait_for(10, || c.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"));
    quit(c);
}

#[test]
fn recipient_rate_limit() {
    let s = Server::start(
        "rcpt-svc",
        &[
            ("smtpd_client_event_limit_exceptions", ""),
            ("smtpd_client_recipient_rate_limit", "2"),
            ("anvil_rate_time_unit", "1h"),
        ],
        10,
    );
    let (mut c, _) = greeted(&s);
    assert_eq!(c.cmd("HELO x"), "250 www.a.org");
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd("RCPT TO:<u1@www.a.org>"), "250 2.1.5 Ok");
    assert_eq!(c.cmd("RCPT TO:<u2@www.a.org>"), "250 2.1.5 Ok");
    assert_eq!(
        c.cmd("RCPT TO:<u3@www.a.org>"),
        "450 4.7.1 Error: too many recipients from 127.0.0.1"
    );
    let client = client_log_name();
    assert!(process_log_text().contains(&format!(
        "warning: Recipient address rate limit exceeded: 3 from {client} for service rcpt-svc"
    )));
    quit(c);
}

#[test]
fn low_queue_space_refuses_mail() {
    // No disk is filled: the thresholds are set above any real free space.
    for (setting, value) in [
        ("queue_minfree", "9223372036854775807"),
        ("message_size_limit", "6148914691236517205"),
    ] {
        let s = Server::start("space-svc", &[(setting, value)], 10);
        let (mut c, _) = greeted(&s);
        assert_eq!(c.cmd("EHLO x").lines().next(), Some("250-www.a.org"));
        assert_eq!(
            c.cmd("MAIL FROM:<a@b.test>"),
            "452 4.3.1 Insufficient system storage",
            "{setting}"
        );
        assert_eq!(
            c.cmd("RCPT TO:<u@www.a.org>"),
            "503 5.5.1 Error: need MAIL command"
        );
        quit(c);
    }
    let client = client_log_name();
    let log = process_log_text();
    assert!(
        log.contains(&format!(
            "NOQUEUE: reject: MAIL from {client}: 452 4.3.1 Insufficient system storage; proto=ESMTP helo=<x>"
        )),
        "{log}"
    );
    assert!(log.contains("warning: not enough free space in mail queue: "));
    assert!(log.contains(" bytes < 1.5*message size limit"));
    // With Postfix's defaults there is room.
    let s = Server::start("space-ok-svc", &[], 10);
    let (mut c, _) = greeted(&s);
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    quit(c);
}

#[test]
fn anvil_statistics_at_stop() {
    let inst = common::Instance::new(&[
        ("smtpd_client_event_limit_exceptions", ""),
        ("smtpd_client_connection_count_limit", "1"),
    ]);
    inst.start();
    let mut c = inst.connect();
    assert_eq!(c.reply(), "220 www.a.org ESMTP Postfix");
    let mut c2 = inst.connect();
    assert_eq!(
        c2.reply(),
        "421 4.7.0 www.a.org Error: too many connections from 127.0.0.1"
    );
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    inst.stop();
    let log = inst.log();
    let service = format!("127.0.0.1:{}", inst.port);
    for want in [
        format!("statistics: max connection rate 2/60s for ({service}:127.0.0.1) at "),
        format!("statistics: max connection count 2 for ({service}:127.0.0.1) at "),
        "statistics: max cache size 1 at ".to_string(),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("postfix/anvil[") && l.contains(&want)),
            "{want}\n{log}"
        );
    }
}
