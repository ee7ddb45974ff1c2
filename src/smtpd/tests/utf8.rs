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
        out[9..],
        [
            "501 5.5.4 Syntax: MAIL FROM:<address>",
            "500 5.5.2 Error: bad UTF-8 syntax",
            "500 5.5.2 Error: bad UTF-8 syntax",
            "250 2.1.0 Ok",
            "221 2.0.0 Bye",
        ]
    );
}
