//! SMTP client pieces for postern-bench: reading a (multi-line) reply, finding an EHLO
//! keyword, building a test message of a given size, dot-stuffing (RFC 5321 4.2, 4.5.2).
//!
//! Security role: none (client-side tooling). Replies are read with bounded line length and
//! line count so a misbehaving server cannot make the client buffer without limit.

use super::BenchError;
use std::io::{BufRead, Read};

const MAX_REPLY_LINES: usize = 100;
const MAX_LINE: usize = 4096;

/// One SMTP reply: the code and the text of each line.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

/// Read one (possibly multi-line) reply: "250-..." lines continue, "250 ..." or "250" ends.
pub fn read_reply<R: BufRead>(r: &mut R) -> Result<Reply, BenchError> {
    let mut lines = Vec::new();
    let mut code = None;
    loop {
        let mut buf = Vec::new();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| BenchError::Io("read reply".into(), e))?;
        if n == 0 {
            return Err(BenchError::Protocol("connection closed by server".into()));
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\r', '\n']);
        let b = line.as_bytes();
        if b.len() < 3
            || !b[..3].iter().all(u8::is_ascii_digit)
            || (b.len() > 3 && b[3] != b' ' && b[3] != b'-')
        {
            return Err(BenchError::Protocol(format!(
                "malformed reply line: {:?}",
                line
            )));
        }
        let this: u16 = line[..3].parse().unwrap_or(0);
        if *code.get_or_insert(this) != this {
            return Err(BenchError::Protocol(format!(
                "reply code changed within a reply: {:?}",
                line
            )));
        }
        lines.push(line.get(4..).unwrap_or("").to_string());
        if b.len() == 3 || b[3] == b' ' {
            return Ok(Reply { code: this, lines });
        }
        if lines.len() >= MAX_REPLY_LINES {
            return Err(BenchError::Protocol("reply too long".into()));
        }
    }
}

/// Whether an EHLO reply offers `keyword`.
pub fn offers(ehlo: &Reply, keyword: &str) -> bool {
    ehlo.lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
    })
}

/// Build message number `n`: headers, then body lines up to about `size` bytes in all,
/// CR LF line ends, dot-stuffed, without the final ".".
pub fn make_message(n: usize, size: usize, from: &str, to: &str, date: &str) -> Vec<u8> {
    let mut m = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: postern-bench message {n}\r\nDate: {date}\r\nMessage-ID: <bench.{n}.{pid}@localhost>\r\n\r\n",
        pid = std::process::id()
    )
    .into_bytes();
    let mut line_no = 0usize;
    while m.len() < size {
        let mut line = format!("{:06} ", line_no);
        while line.len() < 76 {
            line.push((b'a' + ((line.len() + line_no + n) % 26) as u8) as char);
        }
        let room = size.saturating_sub(m.len() + 2).max(1);
        line.truncate(room);
        m.extend_from_slice(line.as_bytes());
        m.extend_from_slice(b"\r\n");
        line_no += 1;
    }
    dot_stuff(&m)
}

/// Double a "." that starts a line (RFC 5321 4.5.2).
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut at_start = true;
    for &b in data {
        if at_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_start = b == b'\n';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn reply(text: &str) -> Result<Reply, BenchError> {
        read_reply(&mut Cursor::new(text.as_bytes().to_vec()))
    }

    #[test]
    fn single_and_multi_line_replies() {
        assert_eq!(
            reply("250 2.1.0 Ok\r\n").unwrap(),
            Reply {
                code: 250,
                lines: vec!["2.1.0 Ok".into()]
            }
        );
        let r =
            reply("250-www.a.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 DSN\r\n").unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(
            r.lines,
            vec!["www.a.org", "PIPELINING", "SIZE 10240000", "DSN"]
        );
        assert!(offers(&r, "pipelining"));
        assert!(
            !offers(&r, "www.a.org"),
            "the first line is the host name, not a keyword"
        );
        assert!(!offers(&r, "STARTTLS"));
        assert_eq!(reply("354\n").unwrap().code, 354);
    }

    #[test]
    fn bad_replies_are_errors() {
        assert!(matches!(reply(""), Err(BenchError::Protocol(_))));
        assert!(matches!(reply("hello\r\n"), Err(BenchError::Protocol(_))));
        assert!(matches!(reply("25\r\n"), Err(BenchError::Protocol(_))));
        assert!(matches!(reply("250x\r\n"), Err(BenchError::Protocol(_))));
        assert!(matches!(
            reply("250-a\r\n354 b\r\n"),
            Err(BenchError::Protocol(_))
        ));
        assert!(matches!(
            reply("250-unfinished\r\n"),
            Err(BenchError::Protocol(_))
        ));
    }

    #[test]
    fn two_replies_read_in_order() {
        let mut c = Cursor::new(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n".to_vec());
        assert_eq!(read_reply(&mut c).unwrap().lines, vec!["2.1.0 Ok"]);
        assert_eq!(read_reply(&mut c).unwrap().lines, vec!["2.1.5 Ok"]);
    }

    #[test]
    fn messages_have_the_requested_size_and_shape() {
        for size in [1024, 102_400, 10] {
            let m = make_message(3, size, "a@b", "c@d", "Thu, 30 Apr 2020 14:56:30 +0800");
            let text = String::from_utf8(m.clone()).unwrap();
            assert!(
                text.starts_with(
                    "From: <a@b>\r\nTo: <c@d>\r\nSubject: postern-bench message 3\r\n"
                )
            );
            assert!(text.contains("\r\n\r\n"), "headers end with an empty line");
            assert!(text.ends_with("\r\n"));
            assert!(
                !text.replace("\r\n", "").contains('\n'),
                "only CR LF line ends"
            );
            if size >= 1024 {
                assert!(
                    m.len() >= size && m.len() <= size + 80,
                    "size {} for {}",
                    m.len(),
                    size
                );
            }
            for line in text.split("\r\n") {
                assert!(line.len() <= 998);
                assert!(!line.starts_with('.') && !line.starts_with("From "));
            }
        }
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_only() {
        assert_eq!(
            dot_stuff(b".a\r\nb.c\r\n.\r\n"),
            b"..a\r\nb.c\r\n..\r\n".to_vec()
        );
        assert_eq!(dot_stuff(b"x\r\n"), b"x\r\n".to_vec());
    }
}
