//! SMTP server replies as the client reads them (RFC 5321 section 4.2, RFC 3463 enhanced
//! status codes), and how smtp(8) quotes them in the `status=... (text)` of its log lines.
//!
//! A reply's class and enhanced status code are the shared `crate::reply` types': the class
//! comes from `Class::of_code`, the DSN from the first line through `crate::reply::Reply::parse`
//! (Postfix's `X.0.0` from the class when the server sent none).
//!
//! Security role: reply text comes from a remote server; its length is bounded here
//! (`MAX_LINES`, the stream's line limit) and the logger makes it printable.

use std::fmt;

use crate::reply::{self as shared, Class, Dsn};

/// More reply lines than this is a protocol violation (a server that never ends a
/// multi-line reply).
pub const MAX_LINES: usize = 100;

/// One complete (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Every line as received, without CR LF (`250-PIPELINING`, `250 8BITMIME`).
    pub lines: Vec<String>,
}

/// A line that is not a reply line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReply(pub String);

impl fmt::Display for BadReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed reply: {}", self.0)
    }
}

/// Split one reply line into its code, whether more lines follow, and its text.
pub fn parse_line(line: &str) -> Result<(u16, bool, &str), BadReply> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return Err(BadReply(line.to_string()));
    }
    let code = line[..3].parse().map_err(|_| BadReply(line.to_string()))?;
    if Class::of_code(code).is_none() {
        return Err(BadReply(line.to_string()));
    }
    match b.get(3) {
        None => Ok((code, false, "")),
        Some(b' ') => Ok((code, false, &line[4..])),
        Some(b'-') => Ok((code, true, &line[4..])),
        Some(_) => Err(BadReply(line.to_string())),
    }
}

impl Reply {
    /// The class, from the code (`Class::of_code`; the collector only takes 200-599).
    pub fn class(&self) -> Class {
        Class::of_code(self.code).unwrap_or(Class::Permanent)
    }

    pub fn is_positive(&self) -> bool {
        matches!(self.class(), Class::Success | Class::Intermediate)
    }

    /// The reply as smtp(8) quotes it: all lines joined with one space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// Whether the reply fails a recipient for good: 5xx, and replies outside the protocol
    /// (1xx, 3xx where none is expected), as Postfix's smtp_chat gives those 5.5.0.
    pub fn is_permanent_failure(&self) -> bool {
        !matches!(self.class(), Class::Success | Class::Transient)
    }

    /// The enhanced status code of the first line when it has one of the reply's class,
    /// else `X.0.0`; `5.5.0` (a protocol error) for a reply that is not 2xx, 4xx or 5xx.
    pub fn dsn(&self) -> Dsn {
        let class = self.class();
        if class == Class::Intermediate {
            return Dsn::parse("5.5.0").unwrap_or(Dsn::of_class(Class::Permanent));
        }
        self.lines
            .first()
            .and_then(|l| shared::Reply::parse(l))
            .and_then(|r| r.dsn())
            .filter(|d| d.class() == class)
            .unwrap_or(Dsn::of_class(class))
    }

    /// EHLO keywords (upper case) with their parameters, from the lines after the first.
    pub fn extensions(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            .skip(1)
            .filter_map(|l| parse_line(l).ok())
            .map(|(_, _, t)| {
                let t = t.trim();
                let (k, v) = t.split_once([' ', '=']).unwrap_or((t, ""));
                (k.to_ascii_uppercase(), v.trim().to_string())
            })
            .collect()
    }
}

/// Accumulates reply lines until the reply is complete.
#[derive(Default)]
pub struct Collector {
    lines: Vec<String>,
    code: Option<u16>,
}

impl Collector {
    /// Add one line; `Some(reply)` when it was the last line.
    pub fn push(&mut self, line: &str) -> Result<Option<Reply>, BadReply> {
        let (code, more, _) = parse_line(line)?;
        if self.code.is_some_and(|c| c != code) || self.lines.len() >= MAX_LINES {
            return Err(BadReply(line.to_string()));
        }
        self.code = Some(code);
        self.lines.push(line.to_string());
        if more {
            return Ok(None);
        }
        Ok(Some(Reply {
            code,
            lines: std::mem::take(&mut self.lines),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(lines: &[&str]) -> Reply {
        let mut c = Collector::default();
        let mut out = None;
        for l in lines {
            out = c.push(l).unwrap();
        }
        out.unwrap()
    }

    #[test]
    fn multi_line_replies_join_with_a_space() {
        let r = reply(&[
            "550-5.1.1 The email account that you tried to reach does not exist.",
            "550 5.1.1 https://support.example/?p=NoSuchUser",
        ]);
        assert_eq!(r.code, 550);
        assert_eq!(
            r.text(),
            "550-5.1.1 The email account that you tried to reach does not exist. 550 5.1.1 https://support.example/?p=NoSuchUser"
        );
        assert_eq!(r.dsn(), "5.1.1");
    }

    #[test]
    fn dsn_defaults_to_the_class() {
        assert_eq!(
            reply(&["550 Domain may not exist or DNS check failed"]).dsn(),
            "5.0.0"
        );
        assert_eq!(reply(&["250 2.0.0 Ok: queued as X"]).dsn(), "2.0.0");
        assert_eq!(reply(&["451 Try later"]).dsn(), "4.0.0");
        // A code of another class is not believed.
        assert_eq!(reply(&["451 5.1.1 odd"]).dsn(), "4.0.0");
        assert_eq!(reply(&["250"]).dsn(), "2.0.0");
        // Out of protocol (a 3xx to RCPT or end of DATA): a protocol error, never 3.0.0.
        assert_eq!(reply(&["354 3.0.0 go on"]).dsn(), "5.5.0");
        assert!(reply(&["354 go on"]).is_permanent_failure());
        assert!(reply(&["550 no"]).is_permanent_failure());
        assert!(!reply(&["451 later"]).is_permanent_failure());
    }

    #[test]
    fn extensions_are_parsed() {
        let r = reply(&[
            "250-mx.example",
            "250-PIPELINING",
            "250-SIZE 10240000",
            "250-8bitmime",
            "250 AUTH=PLAIN LOGIN",
        ]);
        let e = r.extensions();
        assert_eq!(e[0], ("PIPELINING".into(), "".into()));
        assert_eq!(e[1], ("SIZE".into(), "10240000".into()));
        assert_eq!(e[2], ("8BITMIME".into(), "".into()));
        assert_eq!(e[3], ("AUTH".into(), "PLAIN LOGIN".into()));
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert!(parse_line("hello").is_err());
        assert!(parse_line("25").is_err());
        assert!(parse_line("250x").is_err());
        assert!(parse_line("650 ok").is_err());
        let mut c = Collector::default();
        assert_eq!(c.push("250-a").unwrap(), None);
        assert!(c.push("251 b").is_err(), "code changed mid-reply");
    }
}
