//! smtpd restrictions on addresses and bounces over real TCP: reject_unlisted_sender and
//! smtpd_reject_unlisted_sender (Postfix's check_sender_rcpt_maps: `Sender address
//! rejected` with X.1.0), relay_recipient_maps in the recipient table test,
//! reject_multi_recipient_bounce at RCPT and DATA, and `sleep`, each with Postfix's reply
//! and NOQUEUE log line.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use inproc::{Server, assert_logged, cl, me};
use std::time::{Duration, Instant};

/// An smtpd whose local recipients are the system accounts and the aliases (Postfix's
/// default local_recipient_maps), with `extra` settings.
fn server(extra: &[(&str, &str)]) -> Server {
    Server::builder()
        .set(&[("mydestination", "$myhostname, localhost")])
        .aliases(true)
        .set(extra)
        .start()
}

/// EHLO, MAIL FROM `sender`, RCPT TO the test user; the MAIL and RCPT replies.
fn mail_rcpt(s: &Server, sender: &str) -> (String, String) {
    let rcpt = format!("RCPT TO:<{}@www.a.org>", me());
    let out = s.talk(&["EHLO c.b.test", &format!("MAIL FROM:<{sender}>"), &rcpt]);
    (out[2].clone(), out[3].clone())
}

#[test]
fn reject_unlisted_sender_refuses_unknown_senders_of_our_domains() {
    let s = server(&[
        ("smtpd_sender_restrictions", "reject_unlisted_sender"),
        ("virtual_mailbox_domains", "v.test"),
        (
            "virtual_mailbox_maps",
            "inline:{ known@v.test=v.test/known/ }",
        ),
        ("virtual_alias_maps", "inline:{ alias@www.a.org=root }"),
    ]);
    let unknown_local = "550 5.1.0 <nosuch-user@www.a.org>: Sender address rejected: User unknown in local recipient table";
    let (mail, rcpt) = mail_rcpt(&s, "nosuch-user@www.a.org");
    assert_eq!(mail, "250 2.1.0 Ok", "smtpd_delay_reject: refused at RCPT");
    assert_eq!(rcpt, unknown_local);
    assert_logged(&format!(
        "NOQUEUE: reject: RCPT from {}: {unknown_local}; from=<nosuch-user@www.a.org> to=<{}@www.a.org> proto=ESMTP helo=<c.b.test>",
        cl(),
        me()
    ));
    // An unqualified sender is qualified with $myorigin, as for the envelope.
    let (_, rcpt) = mail_rcpt(&s, "nosuch-user");
    assert_eq!(
        rcpt,
        "550 5.1.0 <nosuch-user>: Sender address rejected: User unknown in local recipient table"
    );
    let (_, rcpt) = mail_rcpt(&s, "nobody-here@v.test");
    assert_eq!(
        rcpt,
        "550 5.1.0 <nobody-here@v.test>: Sender address rejected: User unknown in virtual mailbox table"
    );
    // Known local, virtual and aliased senders, other domains and the null sender pass.
    for ok in [
        format!("{}@www.a.org", me()),
        "known@v.test".to_string(),
        "alias@www.a.org".to_string(),
        "someone@b.test".to_string(),
        String::new(),
    ] {
        let (mail, rcpt) = mail_rcpt(&s, &ok);
        assert_eq!(
            (mail.as_str(), rcpt.as_str()),
            ("250 2.1.0 Ok", "250 2.1.5 Ok"),
            "{ok}"
        );
    }
}

#[test]
fn smtpd_reject_unlisted_sender_tests_after_the_sender_list() {
    // The implicit test: at RCPT with smtpd_delay_reject = yes, at MAIL without it.
    let s = server(&[("smtpd_reject_unlisted_sender", "yes")]);
    let want = "550 5.1.0 <ghost@www.a.org>: Sender address rejected: User unknown in local recipient table";
    let (mail, rcpt) = mail_rcpt(&s, "ghost@www.a.org");
    assert_eq!((mail.as_str(), rcpt.as_str()), ("250 2.1.0 Ok", want));
    let s = server(&[
        ("smtpd_reject_unlisted_sender", "yes"),
        ("smtpd_delay_reject", "no"),
    ]);
    let (mail, _) = mail_rcpt(&s, "ghost@www.a.org");
    assert_eq!(mail, want);
    assert_logged(&format!(
        "NOQUEUE: reject: MAIL from {}: {want}; from=<ghost@www.a.org> proto=ESMTP helo=<c.b.test>",
        cl()
    ));
    // A permit in the sender list does not skip it (Postfix runs it after the list).
    let s = server(&[
        ("smtpd_reject_unlisted_sender", "yes"),
        ("smtpd_sender_restrictions", "permit"),
    ]);
    assert_eq!(mail_rcpt(&s, "ghost@www.a.org").1, want);
    // The mail system's own names pass: bounces come from them.
    for system in [
        "double-bounce@www.a.org",
        "MAILER-DAEMON@www.a.org",
        "postmaster",
    ] {
        assert_eq!(mail_rcpt(&s, system).1, "250 2.1.5 Ok", "{system}");
    }
    // Off (the default): such a sender is accepted.
    let s = server(&[]);
    assert_eq!(mail_rcpt(&s, "ghost@www.a.org").1, "250 2.1.5 Ok");
}

#[test]
fn multi_recipient_bounces_are_refused_at_the_second_recipient_or_at_data() {
    let user = format!("{}@www.a.org", me());
    let rcpt = format!("RCPT TO:<{user}>");
    let rcpt2 = "RCPT TO:<postmaster@www.a.org>";
    let s = server(&[
        (
            "smtpd_recipient_restrictions",
            "reject_multi_recipient_bounce, permit_mynetworks, reject",
        ),
        ("multi_recipient_bounce_reject_code", "554"),
    ]);
    let out = s.talk(&["EHLO c.b.test", "MAIL FROM:<>", &rcpt, rcpt2]);
    assert_eq!(out[3], "250 2.1.5 Ok", "the first recipient of a bounce");
    let want =
        "554 5.5.3 <postmaster@www.a.org>: Recipient address rejected: Multi-recipient bounce";
    assert_eq!(out[4], want);
    assert_logged(&format!(
        "NOQUEUE: reject: RCPT from {}: {want}; from=<> to=<postmaster@www.a.org> proto=ESMTP helo=<c.b.test>",
        cl()
    ));
    let out = s.talk(&["EHLO c.b.test", "MAIL FROM:<a@b.test>", &rcpt, rcpt2]);
    assert_eq!(
        (out[3].as_str(), out[4].as_str()),
        ("250 2.1.5 Ok", "250 2.1.5 Ok")
    );

    let s = server(&[("smtpd_data_restrictions", "reject_multi_recipient_bounce")]);
    let out = s.talk(&["EHLO c.b.test", "MAIL FROM:<>", &rcpt, rcpt2, "DATA"]);
    assert_eq!(out[4], "250 2.1.5 Ok");
    let want = "550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce";
    assert_eq!(out[5], want);
    let out = s.talk(&["EHLO c.b.test", "MAIL FROM:<>", &rcpt, "DATA", "."]);
    assert!(out[4].starts_with("354 "), "one recipient: {}", out[4]);
    assert!(out[5].starts_with("250 2.0.0 Ok: queued as "), "{}", out[5]);
}

#[test]
fn sleep_pauses_the_list_and_needs_a_number() {
    let s = server(&[("smtpd_client_restrictions", "sleep 1, permit_mynetworks")]);
    let user = format!("RCPT TO:<{}@www.a.org>", me());
    let mut c = inproc::Client::connect(&s);
    c.reply();
    c.cmd("EHLO c.b.test");
    c.cmd("MAIL FROM:<a@b.test>");
    let started = Instant::now();
    assert_eq!(c.cmd(&user), "250 2.1.5 Ok");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the RCPT waited for the sleep"
    );

    let s = server(&[("smtpd_client_restrictions", "sleep, permit_mynetworks")]);
    let (_, rcpt) = mail_rcpt(&s, "a@b.test");
    assert_eq!(rcpt, "451 4.3.5 Server configuration error");
    assert_logged("warning: restriction sleep must be followed by number");
}

#[test]
fn relay_recipient_maps_lists_the_recipients_of_relay_domains() {
    let s = server(&[
        ("relay_domains", "relay.test, open.test"),
        ("mynetworks", "192.0.2.0/24"),
        (
            "relay_recipient_maps",
            "inline:{ known@relay.test=x, @open.test=x }",
        ),
        ("smtpd_sender_restrictions", "reject_unlisted_sender"),
    ]);
    let talk = |sender: &str, to: &str| {
        let rcpt = format!("RCPT TO:<{to}>");
        s.talk(&["EHLO c.b.test", &format!("MAIL FROM:<{sender}>"), &rcpt])[3].clone()
    };
    assert_eq!(talk("a@b.test", "known@relay.test"), "250 2.1.5 Ok");
    assert_eq!(talk("a@b.test", "anyone@open.test"), "250 2.1.5 Ok");
    let want = "550 5.1.1 <ghost@relay.test>: Recipient address rejected: User unknown in relay recipient table";
    assert_eq!(talk("a@b.test", "ghost@relay.test"), want);
    assert_logged(&format!(
        "NOQUEUE: reject: RCPT from {}: {want}; from=<a@b.test> to=<ghost@relay.test> proto=ESMTP helo=<c.b.test>",
        cl()
    ));
    // The client is outside $mynetworks: other domains are still not relayed (the default
    // smtpd_relay_restrictions end with defer_unauth_destination).
    assert_eq!(
        talk("a@b.test", "r@qq.com"),
        "454 4.7.1 <r@qq.com>: Relay access denied"
    );
    // The sender test uses the same table.
    assert_eq!(
        talk("ghost@relay.test", "known@relay.test"),
        "550 5.1.0 <ghost@relay.test>: Sender address rejected: User unknown in relay recipient table"
    );

    // A table that cannot answer is a temporary failure, never "unknown" or "known".
    let s = server(&[
        ("relay_domains", "relay.test"),
        ("relay_recipient_maps", "hash:/nonexistent/relay_recipients"),
        ("unknown_relay_recipient_reject_code", "450"),
    ]);
    let out = s.talk(&[
        "EHLO c.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<known@relay.test>",
    ]);
    assert_eq!(
        out[3],
        "451 4.3.0 <known@relay.test>: Temporary lookup failure"
    );
    // Without relay_recipient_maps every recipient of a relay domain passes the test.
    let s = server(&[
        ("relay_domains", "relay.test"),
        ("mynetworks", "192.0.2.0/24"),
    ]);
    let out = s.talk(&[
        "EHLO c.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<ghost@relay.test>",
    ]);
    assert_eq!(out[3], "250 2.1.5 Ok");
}

#[test]
fn unknown_relay_recipient_reject_code_sets_the_code() {
    let s = server(&[
        ("relay_domains", "relay.test"),
        ("relay_recipient_maps", "inline:{ known@relay.test=x }"),
        ("unknown_relay_recipient_reject_code", "450"),
        ("show_user_unknown_table_name", "no"),
    ]);
    let out = s.talk(&[
        "EHLO c.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<ghost@relay.test>",
    ]);
    assert_eq!(
        out[3],
        "450 4.1.1 <ghost@relay.test>: Recipient address rejected: User unknown"
    );
}

/// An access table that cannot answer: Postfix 2.10's check_access answer (a 451 in the
/// restriction's class, never "not found") and its warning.
#[test]
fn an_access_table_that_cannot_answer_refuses_with_451() {
    let s = server(&[(
        "smtpd_recipient_restrictions",
        "check_recipient_access hash:/nonexistent/access, permit_mynetworks, reject_unauth_destination",
    )]);
    let (_, rcpt) = mail_rcpt(&s, "a@b.test");
    assert_eq!(
        rcpt,
        format!(
            "451 4.3.5 <{}@www.a.org>: Recipient address rejected: Server configuration error",
            me()
        )
    );
    assert_logged("warning: hash:/nonexistent/access: table lookup problem");
}

/// strict_rfc821_envelopes: addresses must be enclosed in `<>`.
#[test]
fn strict_rfc821_envelopes_wants_angle_brackets() {
    let s = server(&[("strict_rfc821_envelopes", "yes")]);
    let to = format!("RCPT TO:<{}@www.a.org>", me());
    let bare_to = format!("RCPT TO:{}@www.a.org", me());
    let out = s.talk(&[
        "EHLO c.b.test",
        "MAIL FROM:a@b.test",
        "MAIL FROM:<(comment)a@b.test>",
        "MAIL FROM:<a@b.test>",
        &bare_to,
        &to,
    ]);
    assert_eq!(out[2], "501 5.1.7 Bad sender address syntax");
    assert_eq!(out[3], "501 5.1.7 Bad sender address syntax", "a comment");
    assert_eq!(out[4], "250 2.1.0 Ok");
    assert_eq!(out[5], "501 5.1.3 Bad recipient address syntax");
    assert_eq!(out[6], "250 2.1.5 Ok");
    // Without it, Postfix's tolerance.
    let s = server(&[]);
    let out = s.talk(&["EHLO c.b.test", "MAIL FROM:a@b.test", &bare_to]);
    assert_eq!(
        (out[2].as_str(), out[3].as_str()),
        ("250 2.1.0 Ok", "250 2.1.5 Ok")
    );
}
