//! Command lines are bytes until they are valid UTF-8: a character split by the MAIL/RCPT
//! keyword or invalid UTF-8 is answered and the session goes on.

use super::*;

#[test]
fn commands_are_bytes_until_valid_utf8() {
    let f = fixture("utf8", &[]);
    let out = talk_bytes(
        &f,
        "127.0.0.1",
        b"EHLO h\r\nMAIL FRO\xc3\xa9:<a@b>\r\nMAIL FROM:<\xff\xfe@x>\r\n\xc3\r\n\
          MAIL FROM:<j\xc3\xb6rg@x.test>\r\nQUIT\r\n",
        false,
    );
    assert_eq!(
        after_ehlo(&out)[..],
        [
            "501 5.5.4 Syntax: MAIL FROM:<address>",
            "500 5.5.2 Error: bad UTF-8 syntax",
            "500 5.5.2 Error: bad UTF-8 syntax",
            "250 2.1.0 Ok",
            "221 2.0.0 Bye",
        ]
    );
}

/// SMTPUTF8 is not offered, nor CHUNKING with `chunking` in smtpd_discard_ehlo_keywords; a
/// client that uses them anyway gets what Postfix 3.x answers with `smtputf8_enable = no`
/// and that setting: the SMTPUTF8 parameter is an unsupported option, and BDAT ends the
/// session (its chunk would be read as commands otherwise).
#[test]
fn smtputf8_and_bdat_are_refused_as_postfix_does_without_them() {
    let f = fixture("nochunk", &[("smtpd_discard_ehlo_keywords", "chunking")]);
    let out = talk(
        &f,
        "EHLO h\r\nMAIL FROM:<a@b.test> SMTPUTF8\r\nMAIL FROM:<a@b.test>\r\n\
         RCPT TO:<postmaster@www.a.org>\r\nBDAT 6 LAST\r\nQUIT\r\n",
    );
    assert!(
        !out.iter()
            .any(|l| l.contains("SMTPUTF8") && l.starts_with("250"))
    );
    assert!(!out.iter().any(|l| l.contains("CHUNKING")));
    assert_eq!(
        after_ehlo(&out)[..],
        [
            "555 5.5.4 Unsupported option: SMTPUTF8",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "521 5.5.1 Error: command not implemented",
        ]
    );
}
