//! One reply type for both sides of the mail system: what smtpd answers a client and what a
//! delivery attempt came to (a mailbox write, a command, a remote server's answer). A
//! `Reply` is a three-digit SMTP code (RFC 5321 section 4.2), an RFC 3463 enhanced status
//! code (`Dsn`) and the text. Its class (`Class`: success, intermediate, transient,
//! permanent) comes from the code, once, here: nothing else looks at the first character of
//! a reply string. smtpd turns a `Reply` into its wire form with `Display`
//! (`550 5.1.1 <x@y>: Recipient address rejected: ...`); the delivery side reads the DSN's
//! class as the outcome (2: sent, 4: deferred, 5: bounced).
//!
//! Security role: parses reply lines that may come from a remote server (`Reply::parse`):
//! it works on the text's bytes, accepts only codes 200-599 and never panics. A leaf: it
//! imports nothing from the rest of the crate. Logs nothing.

use std::fmt;

/// The class of a reply, from the first digit of its code (RFC 5321 section 4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx: done.
    Success,
    /// 3xx: go on (354 after DATA, 334 in AUTH).
    Intermediate,
    /// 4xx: try again later.
    Transient,
    /// 5xx: do not try again.
    Permanent,
}

impl Class {
    /// The class of a reply code (200-599); `None` for anything else.
    pub fn of_code(code: u16) -> Option<Class> {
        match code {
            200..=299 => Some(Class::Success),
            300..=399 => Some(Class::Intermediate),
            400..=499 => Some(Class::Transient),
            500..=599 => Some(Class::Permanent),
            _ => None,
        }
    }

    /// 4xx or 5xx: a refusal (it counts toward smtpd's error limits).
    pub fn is_error(self) -> bool {
        matches!(self, Class::Transient | Class::Permanent)
    }
}

/// An RFC 3463 enhanced status code, `class.subject.detail` (`5.1.1`). It keeps its
/// canonical text (at most `5.999.999`) so that `as_str` can lend it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dsn {
    class: u8,
    subject: u16,
    detail: u16,
    buf: [u8; 9],
    len: u8,
}

impl Dsn {
    /// Parse `X.Y.Z` with X one of 2, 4, 5 and Y, Z of one to three digits.
    pub fn parse(s: &str) -> Option<Dsn> {
        let mut parts = s.split('.');
        let (c, sub, det) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let num = |p: &str| -> Option<u16> {
            (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let class = match c {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        Some(Dsn::make(class, num(sub)?, num(det)?))
    }

    /// `X.0.0` for a class: the DSN Postfix gives a reply that carries none.
    pub fn of_class(class: Class) -> Dsn {
        Dsn::make(2, 0, 0).with_class(class)
    }

    fn make(class: u8, subject: u16, detail: u16) -> Dsn {
        let mut buf = [0u8; 9];
        let mut len = 0usize;
        let mut put = |n: u16, dot: bool| {
            let digits = n.to_string();
            for b in digits.bytes().chain(dot.then_some(b'.')) {
                if let Some(slot) = buf.get_mut(len) {
                    *slot = b;
                    len += 1;
                }
            }
        };
        put(u16::from(class), true);
        put(subject, true);
        put(detail, false);
        Dsn {
            class,
            subject,
            detail,
            buf,
            len: len as u8,
        }
    }

    /// The canonical text, `5.1.1`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }

    /// The class digit's meaning: 2 success, 4 transient, 5 permanent.
    pub fn class(self) -> Class {
        match self.class {
            2 => Class::Success,
            4 => Class::Transient,
            _ => Class::Permanent,
        }
    }

    /// The same subject and detail in another class (`5.1.1` as `4.1.1`: soft_bounce).
    pub fn with_class(self, class: Class) -> Dsn {
        let digit = match class {
            Class::Success | Class::Intermediate => 2,
            Class::Transient => 4,
            Class::Permanent => 5,
        };
        Dsn::make(digit, self.subject, self.detail)
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Dsn {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Dsn {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One reply: code, optional enhanced status code, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    dsn: Option<Dsn>,
    text: String,
}

impl Reply {
    /// A reply from its parts. `code` must be 200-599 (a programming error otherwise).
    pub fn new(code: u16, dsn: Option<Dsn>, text: impl Into<String>) -> Reply {
        debug_assert!(Class::of_code(code).is_some(), "reply code {}", code);
        Reply {
            code,
            dsn,
            text: text.into(),
        }
    }

    /// `CODE X.Y.Z text` with a DSN written as a string (a constant of the caller's):
    /// `Reply::with_dsn(550, "5.1.1", "<x>: User unknown")`. A string that is not a DSN is
    /// kept as the start of the text.
    pub fn with_dsn(code: u16, dsn: &str, text: &str) -> Reply {
        match Dsn::parse(dsn) {
            Some(d) => Reply::new(code, Some(d), text),
            None if dsn.is_empty() => Reply::new(code, None, text),
            None => Reply::new(code, None, format!("{} {}", dsn, text)),
        }
    }

    /// Parse one reply line: `CODE[ SP X.Y.Z][ SP text]`, or `CODE-...` (the last line of a
    /// multi-line reply is what callers pass). `None` unless it starts with a code 200-599
    /// followed by the end, a space or a hyphen.
    pub fn parse(line: &str) -> Option<Reply> {
        let b = line.as_bytes();
        if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let code: u16 = line.get(..3)?.parse().ok()?;
        Class::of_code(code)?;
        let rest = match b.get(3) {
            None => "",
            Some(b' ') | Some(b'-') => line.get(4..)?,
            Some(_) => return None,
        };
        let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(match Dsn::parse(first) {
            Some(d) => Reply::new(code, Some(d), after),
            None => Reply::new(code, None, rest),
        })
    }

    pub fn code(&self) -> u16 {
        self.code
    }

    pub fn dsn(&self) -> Option<Dsn> {
        self.dsn
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The class, from the code.
    pub fn class(&self) -> Class {
        Class::of_code(self.code).unwrap_or(Class::Permanent)
    }

    /// 4xx or 5xx.
    pub fn is_error(&self) -> bool {
        self.class().is_error()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(d) = self.dsn {
            write!(f, " {}", d)?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_parse_and_class() {
        let d = Dsn::parse("5.1.1").unwrap();
        assert_eq!(d.to_string(), "5.1.1");
        assert_eq!(d.class(), Class::Permanent);
        assert_eq!(Dsn::parse("4.7.12").unwrap().class(), Class::Transient);
        assert_eq!(Dsn::parse("2.0.0").unwrap().class(), Class::Success);
        assert_eq!(d.with_class(Class::Transient).to_string(), "4.1.1");
        assert_eq!(Dsn::parse("5.999.999").unwrap().as_str(), "5.999.999");
        assert_eq!(Dsn::parse("4.01.1").unwrap(), "4.1.1");
        assert_eq!(Dsn::of_class(Class::Permanent), "5.0.0");
        for bad in [
            "", "5", "5.1", "3.1.1", "5.1.1.1", "5.1000.1", "5.a.1", "5..1", "５.1.1",
        ] {
            assert_eq!(Dsn::parse(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn reply_parse_and_display_round_trip() {
        for line in [
            "250 2.0.0 Ok: queued as ABC",
            "550 5.1.1 <x@y>: Recipient address rejected: User unknown",
            "220 www.a.org ESMTP Postfix",
            "354 End data with <CR><LF>.<CR><LF>",
            "421",
        ] {
            let r = Reply::parse(line).unwrap();
            assert_eq!(r.to_string(), line);
        }
        let r = Reply::parse("451 4.3.0 Temporary lookup failure").unwrap();
        assert_eq!(
            (r.code(), r.class(), r.is_error()),
            (451, Class::Transient, true)
        );
        assert_eq!(r.dsn().unwrap().to_string(), "4.3.0");
        assert_eq!(r.text(), "Temporary lookup failure");
        let r = Reply::parse("250-PIPELINING").unwrap();
        assert_eq!((r.code(), r.text()), (250, "PIPELINING"));
        assert!(!r.is_error());
    }

    #[test]
    fn reply_parse_refuses_what_is_not_a_reply() {
        for bad in [
            "", "25", "2500 x", "250x", "199 x", "600 x", "abc", "2é0 x", "\u{0}",
        ] {
            assert_eq!(Reply::parse(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn with_dsn_keeps_a_non_dsn_prefix_as_text() {
        assert_eq!(
            Reply::with_dsn(550, "5.7.1", "<a>: denied").to_string(),
            "550 5.7.1 <a>: denied"
        );
        assert_eq!(Reply::with_dsn(502, "", "x").to_string(), "502 x");
        assert_eq!(Reply::with_dsn(502, "oops", "x").to_string(), "502 oops x");
    }
}
