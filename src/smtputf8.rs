//! SMTPUTF8 (RFC 6531 SMTP extension, RFC 6532 UTF-8 headers, RFC 6533 UTF-8 DSNs) as
//! Postfix 3.x decides it: the flags a message carries, when they are set, and when a
//! delivery needs a server that offers the extension (Postfix's global/smtputf8.[hc],
//! cleanup_addr.c, cleanup_out.c, qmgr_deliver.c and SMTPUTF8_README).
//!
//! The flags are Postfix's values: `REQUESTED` (the client said `MAIL FROM:<...> SMTPUTF8`,
//! or autodetection found UTF-8), `HEADER` (a header holds UTF-8), `SENDER` (the envelope
//! sender is UTF-8), and, per delivery request only, `RECIPIENT`. The first three are kept
//! in the queue file as the attribute `smtputf8=N` (spool-layout.md); a sender marks the
//! envelope before cleanup (`mark`), cleanup settles the stored flags (`settle`), and the
//! SMTP and LMTP clients ask `for_delivery` and `required`.
//!
//! Security role: a message declared SMTPUTF8 is never handed to a server that did not
//! offer the extension when it holds UTF-8 the server could mangle (`required`: the SMTP
//! client bounces it with 5.6.7 instead). UTF-8 domains are checked by IDNA (UTS #46,
//! non-transitional, STD3 rules) before they are accepted. Logs only a warning for an
//! unknown smtputf8_autodetect_classes name.

use crate::config::Config;
use crate::queue::Envelope;

/// The sender asked for SMTPUTF8, or autodetection found UTF-8 (kept when mail is
/// forwarded or bounced).
pub const REQUESTED: u32 = 1;
/// A message header holds UTF-8.
pub const HEADER: u32 = 2;
/// The envelope sender holds UTF-8.
pub const SENDER: u32 = 4;
/// A recipient of this delivery request holds UTF-8 (never stored).
pub const RECIPIENT: u32 = 8;
/// Before cleanup only: autodetect (Postfix's CLEANUP_FLAG_AUTOUTF8); never stored.
const AUTODETECT: u32 = 0x100;
/// The queue-file attribute that holds the stored flags.
pub const ATTR: &str = "smtputf8";

/// Where a message comes from, for smtputf8_autodetect_classes (Postfix's mail source
/// classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Sendmail,
    Smtpd,
    Forward,
    Bounce,
    Notify,
    Verify,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Sendmail => "sendmail",
            Source::Smtpd => "smtpd",
            Source::Forward => "forward",
            Source::Bounce => "bounce",
            Source::Notify => "notify",
            Source::Verify => "verify",
        }
    }
}

/// smtputf8_enable.
pub fn enabled(cfg: &Config) -> bool {
    cfg.bool("smtputf8_enable")
}

/// The classes smtputf8_autodetect_classes may name (Postfix also knows `qmqpd`, which
/// Postern has no server for).
const CLASSES: &[&str] = &[
    "all", "sendmail", "smtpd", "qmqpd", "forward", "bounce", "notify", "verify",
];

/// Whether smtputf8_autodetect_classes names `source` (or `all`). Unknown names are
/// skipped here; `unknown_classes` names them for the start-up warnings.
pub fn autodetect(cfg: &Config, source: Source) -> bool {
    cfg.list("smtputf8_autodetect_classes")
        .iter()
        .any(|name| name.eq_ignore_ascii_case("all") || name.eq_ignore_ascii_case(source.name()))
}

/// The names in smtputf8_autodetect_classes that are no class (warned about once, at
/// start, reload and `postfix check`; Postfix stops on them).
pub fn unknown_classes(cfg: &Config) -> Vec<String> {
    cfg.list("smtputf8_autodetect_classes")
        .into_iter()
        .filter(|n| !CLASSES.iter().any(|c| n.eq_ignore_ascii_case(c)))
        .collect()
}

/// Mark a new message's envelope before cleanup: `requested` carries the sender's request
/// (or a forwarded or returned message's flag); otherwise autodetection applies when
/// smtputf8_autodetect_classes names `source`.
pub fn mark(cfg: &Config, env: &mut Envelope, requested: bool, source: Source) {
    let flags = if requested {
        REQUESTED
    } else if autodetect(cfg, source) {
        AUTODETECT
    } else {
        0
    };
    if flags == 0 {
        env.attrs.retain(|(n, _)| n != ATTR);
    } else {
        env.set_attr(ATTR, &flags.to_string());
    }
}

/// The stored flags of a queue file's attributes (0 when none).
pub fn stored(attrs: &[(String, String)]) -> u32 {
    attrs
        .iter()
        .rev()
        .find(|(n, _)| n == ATTR)
        .and_then(|(_, v)| v.trim().parse::<u32>().ok())
        .unwrap_or(0)
        & (REQUESTED | HEADER | SENDER)
}

/// Non-empty text with a non-ASCII character (Rust strings are valid UTF-8 already).
pub fn is_utf8(s: &str) -> bool {
    !s.is_ascii()
}

/// cleanup: the flags to store, from the mark, the final envelope and the header block
/// `headers`: with smtputf8_enable, a UTF-8 sender sets `SENDER` and a header with
/// non-ASCII bytes `HEADER`; under autodetection any of these, or a UTF-8 recipient, sets
/// `REQUESTED`. The attribute is removed when no flag is left.
pub fn settle(cfg: &Config, env: &mut Envelope, headers: &[u8]) {
    let marked = env
        .attr(ATTR)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let mut flags = marked & REQUESTED;
    if enabled(cfg) {
        let mut found = false;
        if is_utf8(&env.sender) {
            flags |= SENDER;
            found = true;
        }
        if !headers.is_ascii() {
            flags |= HEADER;
            found = true;
        }
        found |= env.recipients.iter().any(|r| is_utf8(&r.address));
        if found && marked & AUTODETECT != 0 {
            flags |= REQUESTED;
        }
    }
    env.attrs.retain(|(n, _)| n != ATTR);
    if flags != 0 {
        env.set_attr(ATTR, &flags.to_string());
    }
}

/// The flags of one delivery request (Postfix's qmgr_deliver): the stored ones, plus
/// `RECIPIENT` when one of `recipients` is UTF-8 (with smtputf8_enable).
pub fn for_delivery<'a>(
    cfg: &Config,
    attrs: &[(String, String)],
    mut recipients: impl Iterator<Item = &'a str>,
) -> u32 {
    let mut flags = stored(attrs);
    if enabled(cfg) && recipients.any(is_utf8) {
        flags |= RECIPIENT;
    }
    flags
}

/// Whether the delivery needs a server that offers SMTPUTF8: requested, and the sender,
/// a header or a recipient of this delivery is UTF-8 (Postfix's
/// DELIVERY_REQUIRES_SMTPUTF8). A requested all-ASCII message goes to any server.
pub fn required(flags: u32) -> bool {
    flags & REQUESTED != 0 && flags & !REQUESTED != 0
}

/// A UTF-8 domain name Postfix's valid_utf8_hostname accepts: its IDNA (UTS #46) ASCII
/// form exists and is a valid host name.
pub fn valid_utf8_domain(domain: &str) -> bool {
    let bare = domain.strip_suffix('.').unwrap_or(domain);
    // Empty labels, and (UTS #46 with CheckHyphens, as Postfix's ICU call) a label that
    // starts or ends with a hyphen.
    if bare.is_empty()
        || bare
            .split('.')
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return false;
    }
    match hickory_proto::rr::Name::from_utf8(bare) {
        Ok(name) => {
            let ascii = name.to_ascii();
            let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
            ascii.is_ascii()
                && ascii.len() <= 255
                && ascii.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
        Err(_) => false,
    }
}

/// The domain of `address` (after the last `@`), when it holds non-ASCII text.
pub fn utf8_domain(address: &str) -> Option<&str> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| is_utf8(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Recipient;
    use std::path::Path;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(Path::new("/nonexistent"), pairs)
    }

    #[test]
    fn flags_are_settled_as_postfix_cleanup_does() {
        let on = cfg(&[("smtputf8_enable", "yes")]);
        // Requested, all ASCII: only REQUESTED is kept.
        let mut e = Envelope::new("a@b.test");
        e.recipients.push(Recipient::new("c@d.test"));
        mark(&on, &mut e, true, Source::Smtpd);
        settle(&on, &mut e, b"Subject: x\n");
        assert_eq!(stored(&e.attrs), REQUESTED);
        assert!(!required(stored(&e.attrs)));
        // A UTF-8 sender and header.
        let mut e = Envelope::new("j\u{f6}rg@b.test");
        mark(&on, &mut e, true, Source::Smtpd);
        settle(&on, &mut e, "Subject: gr\u{fc}\u{df}e\n".as_bytes());
        assert_eq!(stored(&e.attrs), REQUESTED | HEADER | SENDER);
        assert!(required(stored(&e.attrs)));
        // Not requested, smtpd not autodetected (default classes): no REQUESTED flag.
        let mut e = Envelope::new("j\u{f6}rg@b.test");
        mark(&on, &mut e, false, Source::Smtpd);
        settle(&on, &mut e, b"");
        assert_eq!(stored(&e.attrs), SENDER);
        assert!(!required(stored(&e.attrs)));
        // sendmail is autodetected by default: a UTF-8 recipient requests it.
        let mut e = Envelope::new("a@b.test");
        e.recipients.push(Recipient::new("\u{e9}@d.test"));
        mark(&on, &mut e, false, Source::Sendmail);
        assert_eq!(e.attr(ATTR), Some("256"));
        settle(&on, &mut e, b"");
        assert_eq!(stored(&e.attrs), REQUESTED);
        // ... and an all-ASCII message is not flagged at all.
        let mut e = Envelope::new("a@b.test");
        mark(&on, &mut e, false, Source::Sendmail);
        settle(&on, &mut e, b"Subject: x\n");
        assert_eq!(e.attr(ATTR), None);
    }

    #[test]
    fn disabled_keeps_only_the_request() {
        let off = cfg(&[("smtputf8_enable", "no")]);
        let mut e = Envelope::new("j\u{f6}rg@b.test");
        mark(&off, &mut e, false, Source::Sendmail);
        settle(&off, &mut e, "S: \u{e9}\n".as_bytes());
        assert_eq!(e.attr(ATTR), None);
        let mut e = Envelope::new("j\u{f6}rg@b.test");
        mark(&off, &mut e, true, Source::Forward);
        settle(&off, &mut e, b"");
        assert_eq!(stored(&e.attrs), REQUESTED);
        let attrs = e.attrs.clone();
        assert_eq!(for_delivery(&off, &attrs, ["\u{e9}@x"].into_iter()), 1);
    }

    #[test]
    fn delivery_flags_add_the_recipient() {
        let on = cfg(&[("smtputf8_enable", "yes")]);
        let attrs = vec![(ATTR.to_string(), "1".to_string())];
        assert_eq!(for_delivery(&on, &attrs, ["a@b"].into_iter()), REQUESTED);
        let f = for_delivery(&on, &attrs, ["a@b", "\u{e9}@b"].into_iter());
        assert_eq!(f, REQUESTED | RECIPIENT);
        assert!(required(f));
        assert!(!required(RECIPIENT | HEADER));
        assert_eq!(stored(&[(ATTR.into(), "junk".into())]), 0);
        assert_eq!(stored(&[(ATTR.into(), "263".into())]), 7);
    }

    #[test]
    fn autodetect_classes() {
        let c = cfg(&[("smtputf8_autodetect_classes", "smtpd, Forward")]);
        assert!(autodetect(&c, Source::Smtpd));
        assert!(autodetect(&c, Source::Forward));
        assert!(!autodetect(&c, Source::Sendmail));
        let all = cfg(&[("smtputf8_autodetect_classes", "all")]);
        assert!(autodetect(&all, Source::Bounce));
        let d = cfg(&[]);
        assert!(autodetect(&d, Source::Sendmail) && autodetect(&d, Source::Verify));
        assert!(!autodetect(&d, Source::Smtpd));
        let none = cfg(&[("smtputf8_autodetect_classes", "")]);
        assert!(!autodetect(&none, Source::Sendmail));
        let odd = cfg(&[("smtputf8_autodetect_classes", "smtpd, lmtpd, ALL")]);
        assert_eq!(unknown_classes(&odd), vec!["lmtpd".to_string()]);
        assert!(unknown_classes(&d).is_empty());
        assert!(autodetect(&odd, Source::Bounce), "ALL in any case");
    }

    #[test]
    fn utf8_domains_by_idna() {
        assert!(valid_utf8_domain("b\u{fc}cher.example"));
        assert!(valid_utf8_domain(
            "\u{4f8b}\u{3048}.\u{30c6}\u{30b9}\u{30c8}."
        ));
        assert!(!valid_utf8_domain("b\u{fc}cher..example"));
        assert!(!valid_utf8_domain("b\u{fc}cher_x.example"));
        assert!(!valid_utf8_domain("a\u{a0}b.example"));
        assert!(!valid_utf8_domain("-\u{fc}.example"));
        assert!(!valid_utf8_domain(""));
        assert_eq!(utf8_domain("a@b\u{fc}.x"), Some("b\u{fc}.x"));
        assert_eq!(utf8_domain("\u{fc}@b.x"), None);
    }
}
