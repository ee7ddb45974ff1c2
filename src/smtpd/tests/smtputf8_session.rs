//! SMTPUTF8 (RFC 6531) in the server as Postfix 3.x with `smtputf8_enable = yes`: the EHLO
//! keyword, MAIL's SMTPUTF8 parameter, UTF-8 domains only with it, strict_smtputf8,
//! VRFY's SMTPUTF8 word, smtpd_discard_ehlo_keywords, and the queue file's flags.

use super::*;
use crate::smtputf8;

const ON: (&str, &str) = ("smtputf8_enable", "yes");

fn queued(f: &Fixture, out: &[String]) -> QueueFile {
    let line = out
        .iter()
        .find(|l| l.starts_with("250 2.0.0 Ok: queued as "))
        .unwrap_or_else(|| panic!("{out:?}"));
    let id = &line["250 2.0.0 Ok: queued as ".len()..];
    QueueFile::open(&f.ctx.queue.path(QueueName::Incoming, id)).unwrap()
}

#[test]
fn ehlo_offers_it_and_a_utf8_transaction_is_queued_with_its_flags() {
    let f = fixture("u8-on", &[ON]);
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<j\u{f6}rg@b\u{fc}cher.example> SMTPUTF8\r\n\
         RCPT TO:<\u{e9}l\u{e8}ve@\u{e9}cole.example>\r\nDATA\r\n\
         Subject: gr\u{fc}\u{df}e\r\n\r\nhi\r\n.\r\nQUIT\r\n",
    );
    let ehlo: Vec<&String> = out.iter().filter(|l| l.starts_with("250")).collect();
    assert_eq!(ehlo[ehlo.len() - 2..].len(), 2);
    let dsn = out.iter().position(|l| l == "250-DSN").expect("250-DSN");
    assert_eq!(out[dsn + 1], "250-SMTPUTF8", "{out:?}");
    assert_eq!(out[dsn + 2], "250 CHUNKING", "{out:?}");
    assert_eq!(out[dsn + 3], "250 2.1.0 Ok", "{out:?}");
    assert_eq!(out[dsn + 4], "250 2.1.5 Ok", "{out:?}");
    let mut qf = queued(&f, &out);
    assert_eq!(qf.envelope.sender, "j\u{f6}rg@b\u{fc}cher.example");
    assert_eq!(
        qf.envelope.recipients[0].address,
        "\u{e9}l\u{e8}ve@\u{e9}cole.example"
    );
    let flags = smtputf8::stored(&qf.envelope.attrs);
    assert_eq!(
        flags,
        smtputf8::REQUESTED | smtputf8::HEADER | smtputf8::SENDER
    );
    // The protocol_name attribute stays ESMTP; the Received: header says UTF8SMTP.
    assert_eq!(qf.envelope.attr("protocol_name"), Some("ESMTP"));
    let content = String::from_utf8(qf.content().unwrap()).unwrap();
    assert!(content.contains("with UTF8SMTP id "), "{content}");
}

#[test]
fn requested_but_all_ascii_keeps_only_the_request() {
    let f = fixture("u8-ascii", &[ON]);
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<a@b.example> smtputf8\r\nRCPT TO:<c@d.example>\r\n\
         DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
    );
    let qf = queued(&f, &out);
    assert_eq!(smtputf8::stored(&qf.envelope.attrs), smtputf8::REQUESTED);
    // Not requested and all ASCII: no flag at all.
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n\
         DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
    );
    let qf = queued(&f, &out);
    assert_eq!(qf.envelope.attr(smtputf8::ATTR), None);
}

#[test]
fn utf8_domains_need_the_request_and_valid_idna() {
    let f = fixture("u8-bad", &[ON]);
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<a@b\u{fc}cher.example>\r\n\
         MAIL FROM:<a@b\u{fc}_cher.example> SMTPUTF8\r\n\
         MAIL FROM:<a@b.example> SMTPUTF8=yes\r\n\
         MAIL FROM:<j\u{f6}rg@b.example>\r\n\
         RCPT TO:<x@\u{e9}cole.example>\r\nRCPT TO:<\u{e9}@d.example>\r\nRSET\r\n\
         MAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<x@\u{e9}cole.example>\r\n\
         RCPT TO:<x@\u{e9}\u{a0}.example>\r\nVRFY x@\u{e9}cole.example\r\n\
         VRFY x@\u{e9}cole.example SMTPUTF8\r\nQUIT\r\n",
    );
    let start = out.iter().position(|l| l == "250-SMTPUTF8").unwrap() + 2;
    assert_eq!(
        out[start..],
        [
            "501 5.1.7 Bad sender address syntax",
            "501 5.1.7 Bad sender address syntax",
            "555 5.5.4 Unsupported option: SMTPUTF8=yes",
            // A UTF-8 local part without SMTPUTF8: accepted, as Postfix always did.
            "250 2.1.0 Ok",
            "501 5.1.3 Bad recipient address syntax",
            "250 2.1.5 Ok",
            "250 2.0.0 Ok",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "501 5.1.3 Bad recipient address syntax",
            // VRFY: the same rule, with its own SMTPUTF8 word.
            "501 5.1.3 Bad recipient address syntax",
            "252 2.0.0 x@\u{e9}cole.example",
            "221 2.0.0 Bye",
        ]
    );
}

#[test]
fn strict_smtputf8_refuses_undeclared_utf8_addresses() {
    let f = fixture("u8-strict", &[ON, ("strict_smtputf8", "yes")]);
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<j\u{f6}rg@b.example>\r\nMAIL FROM:<a@b.example>\r\n\
         RCPT TO:<\u{e9}@d.example>\r\nRSET\r\nMAIL FROM:<j\u{f6}rg@b.example> SMTPUTF8\r\n\
         RCPT TO:<\u{e9}@d.example>\r\nVRFY \u{e9}@www.a.org\r\nVRFY \u{e9}@www.a.org SMTPUTF8\r\n\
         VRFY SMTPUTF8\r\nQUIT\r\n",
    );
    let start = out.iter().position(|l| l == "250-SMTPUTF8").unwrap() + 2;
    assert_eq!(
        out[start..start + 7],
        [
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address",
            "250 2.1.0 Ok",
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address",
            "250 2.0.0 Ok",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address",
        ]
    );
    // VRFY with SMTPUTF8 gets past the check (to the recipient test), and a bare
    // SMTPUTF8 word is a syntax error.
    assert!(!out[start + 7].starts_with("553"), "{out:?}");
    assert_eq!(out[start + 8], "501 5.5.4 Syntax: VRFY address [SMTPUTF8]");
}

#[test]
fn discarded_keywords_are_not_offered_nor_honoured() {
    let f = fixture(
        "u8-discard",
        &[
            ON,
            (
                "smtpd_discard_ehlo_keywords",
                "ehlo_mask_smtputf8, DSN, etrn",
            ),
        ],
    );
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\nMAIL FROM:<a@b.example> RET=FULL\r\n\
         MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example> NOTIFY=NEVER\r\nQUIT\r\n",
    );
    assert!(
        !out.iter()
            .any(|l| l.contains("SMTPUTF8") && l.starts_with("250"))
    );
    assert!(
        !out.iter()
            .any(|l| l.starts_with("250") && (l.contains("DSN") || l.contains("ETRN")))
    );
    let last = out
        .iter()
        .position(|l| l == "250 CHUNKING")
        .expect("CHUNKING last");
    assert_eq!(
        out[last + 1..],
        [
            "555 5.5.4 Unsupported option: SMTPUTF8",
            "501 5.7.1 DSN support is disabled",
            "250 2.1.0 Ok",
            "501 5.7.1 DSN support is disabled",
            "221 2.0.0 Bye",
        ]
    );
}

#[test]
fn disabled_by_default_at_level_0_and_enabled_from_level_1() {
    let f = fixture("u8-level0", &[]);
    let out = talk(&f, "EHLO h\r\nVRFY\r\nQUIT\r\n");
    assert!(!out.iter().any(|l| l.contains("SMTPUTF8")), "{out:?}");
    assert!(out.contains(&"501 5.5.4 Syntax: VRFY address".to_string()));
    let f = fixture("u8-level1", &[("compatibility_level", "1")]);
    let out = talk(&f, "EHLO h\r\nQUIT\r\n");
    assert!(out.contains(&"250-SMTPUTF8".to_string()), "{out:?}");
}

/// `sendmail -bs` (stand-alone): Postfix does not check the address's domain there.
#[test]
fn stand_alone_sessions_skip_the_domain_check() {
    let mut f = fixture("u8-bs", &[ON]);
    f.ctx.stand_alone = true;
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<a@b\u{fc}cher.example>\r\nQUIT\r\n",
    );
    assert!(out.contains(&"250 2.1.0 Ok".to_string()), "{out:?}");
}
