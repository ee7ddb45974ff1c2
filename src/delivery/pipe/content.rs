//! What a pipe(8) command reads on standard input: the message as Postfix's mail_copy()
//! writes it for the `flags=`: `F` a `From SENDER  DATE` line, `R` `Return-Path: <SENDER>`,
//! `O` `X-Original-To: RECIPIENT`, `D` `Delivered-To: RECIPIENT` (lower case), then the
//! message with `>` before lines starting `From ` (`>`), `.` before lines starting with a
//! dot (`.`), every line ended by `eol=` (LF by default), and with `B` a blank line at the
//! end.
//!
//! Security role: none (the bytes go to a command running as `user=`). Logs nothing.

use super::attrs::Attrs;
use crate::delivery::mbox;

/// The single recipient the `D` and `O` headers name.
pub struct Headers<'a> {
    pub sender: &'a str,
    pub recipient: &'a str,
    pub original: &'a str,
    /// Seconds since the epoch for the `F` line.
    pub now: i64,
}

/// The bytes the command reads.
pub fn input(attrs: &Attrs, h: &Headers<'_>, content: &[u8]) -> Vec<u8> {
    let f = attrs.flags;
    let mut head = Vec::new();
    if f.from_line {
        head.extend(mbox::from_line(h.sender, h.now));
    }
    if f.return_path {
        head.extend(format!("Return-Path: <{}>\n", h.sender).into_bytes());
    }
    if f.original_to {
        head.extend(format!("X-Original-To: {}\n", h.original).into_bytes());
    }
    if f.delivered_to {
        head.extend(format!("Delivered-To: {}\n", h.recipient.to_lowercase()).into_bytes());
    }
    let mut out = Vec::with_capacity(content.len() + head.len() + 64);
    let lines = head
        .split_inclusive(|&b| b == b'\n')
        .map(|l| (l, true))
        .chain(content.split_inclusive(|&b| b == b'\n').map(|l| (l, false)));
    for (line, ours) in lines {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if !ours && f.quote_from && body.starts_with(b"From ") {
            out.push(b'>');
        }
        if !ours && f.dot && body.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(body);
        out.extend_from_slice(&attrs.eol);
    }
    if f.blank {
        out.extend_from_slice(&attrs.eol);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::pipe::attrs::Flags;

    fn attrs(flags: Flags, eol: &[u8]) -> Attrs {
        Attrs {
            flags,
            user: "u".into(),
            uid: 1000,
            gid: 1000,
            directory: None,
            eol: eol.to_vec(),
            null_sender: "MAILER-DAEMON".into(),
            size_limit: 0,
            argv: vec!["x".into()],
        }
    }

    const H: Headers<'static> = Headers {
        sender: "s@x",
        recipient: "U@Y",
        original: "o@y",
        now: 0,
    };

    #[test]
    fn headers_quoting_and_eol() {
        let flags = Flags {
            delivered_to: true,
            return_path: true,
            original_to: true,
            dot: true,
            quote_from: true,
            blank: true,
            ..Flags::default()
        };
        let got = input(
            &attrs(flags, b"\r\n"),
            &H,
            b"Subject: t\n\nFrom me\n.x\nend",
        );
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "Return-Path: <s@x>\r\nX-Original-To: o@y\r\nDelivered-To: u@y\r\nSubject: t\r\n\r\n>From me\r\n..x\r\nend\r\n\r\n"
        );
    }

    #[test]
    fn plain_copy_and_from_line() {
        let got = input(&attrs(Flags::default(), b"\n"), &H, b"a\n\nb\n");
        assert_eq!(got, b"a\n\nb\n");
        let f = Flags {
            from_line: true,
            ..Flags::default()
        };
        let got = input(&attrs(f, b"\n"), &H, b"a\n");
        assert!(
            got.starts_with(b"From s@x  Thu Jan  1 00:00:00 1970\na\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }
}
