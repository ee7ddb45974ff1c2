//! The one recipient_delimiter splitter (Postfix's split_addr): `user+ext` is `user` with
//! the extension `ext`. Each character of $recipient_delimiter is a delimiter (Postfix 3.x;
//! 2.10 takes one character, which this includes) and the first one in the local part
//! splits it.
//!
//! Not split, as in Postfix: a local part that starts with a delimiter (the base would be
//! empty), one without a delimiter, `postmaster`, `MAILER-DAEMON` and $double_bounce_sender,
//! and with `-` among the delimiters and owner_request_special = yes, `owner-foo` and
//! `foo-request`. Splitting works on characters, never byte offsets, so a multi-byte
//! delimiter is safe.

use crate::config::Config;

/// Split `local` at the first character found in `delims`: `(base, Some(extension))`, or
/// `(local, None)` when there is no delimiter or the base would be empty.
pub fn split_delimiter<'a>(local: &'a str, delims: &str) -> (&'a str, Option<&'a str>) {
    if delims.is_empty() {
        return (local, None);
    }
    match local.split_once(|c| delims.contains(c)) {
        Some((base, ext)) if !base.is_empty() => (base, Some(ext)),
        _ => (local, None),
    }
}

/// $recipient_delimiter with the local parts Postfix never splits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splitter {
    delims: String,
    double_bounce: String,
    owner_request: bool,
}

impl Splitter {
    /// `delims` with Postfix's defaults for the rest (double_bounce_sender =
    /// double-bounce, owner_request_special = yes).
    pub fn new(delims: &str) -> Splitter {
        Splitter {
            delims: delims.trim().to_string(),
            double_bounce: "double-bounce".to_string(),
            owner_request: true,
        }
    }

    /// From recipient_delimiter, double_bounce_sender and owner_request_special.
    pub fn from_config(cfg: &Config) -> Splitter {
        Splitter {
            delims: cfg.get("recipient_delimiter").trim().to_string(),
            double_bounce: cfg.get("double_bounce_sender").trim().to_string(),
            owner_request: cfg.bool("owner_request_special"),
        }
    }

    /// The delimiter characters (empty: extensions are off).
    pub fn delimiters(&self) -> &str {
        &self.delims
    }

    /// `(base, Some(extension))`, or `(local, None)` when `local` is not split.
    pub fn split<'a>(&self, local: &'a str) -> (&'a str, Option<&'a str>) {
        if self.delims.is_empty() || self.never_split(local) {
            return (local, None);
        }
        split_delimiter(local, &self.delims)
    }

    /// The base of `local` (all of it when not split).
    pub fn base<'a>(&self, local: &'a str) -> &'a str {
        self.split(local).0
    }

    /// Whether `local` is one of the mail system's own names: `postmaster`, `MAILER-DAEMON`
    /// or $double_bounce_sender (any case). They are never split, and smtpd's recipient
    /// table test accepts them in local domains (bounces come from and go to them).
    pub fn is_mail_system_name(&self, local: &str) -> bool {
        let is = |name: &str| local.eq_ignore_ascii_case(name);
        is("postmaster") || is("MAILER-DAEMON") || is(&self.double_bounce)
    }

    fn never_split(&self, local: &str) -> bool {
        if self.is_mail_system_name(local) {
            return true;
        }
        if self.owner_request && self.delims.contains('-') {
            let lower = local.to_ascii_lowercase();
            return lower.starts_with("owner-") || (lower.len() > 8 && lower.ends_with("-request"));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn splitter(pairs: &[(&str, &str)]) -> Splitter {
        Splitter::from_config(&Config::from_pairs(Path::new("/x"), pairs))
    }

    #[test]
    fn splits_at_the_first_delimiter() {
        assert_eq!(split_delimiter("user+foo", "+"), ("user", Some("foo")));
        assert_eq!(split_delimiter("user+a+b", "+"), ("user", Some("a+b")));
        assert_eq!(split_delimiter("user-a+b", "+-"), ("user", Some("a+b")));
        assert_eq!(split_delimiter("user", "+"), ("user", None));
        assert_eq!(split_delimiter("user+foo", ""), ("user+foo", None));
        assert_eq!(split_delimiter("user+", "+"), ("user", Some("")));
    }

    #[test]
    fn empty_base_is_not_split() {
        assert_eq!(split_delimiter("+x", "+"), ("+x", None));
        assert_eq!(split_delimiter("+", "+"), ("+", None));
        assert_eq!(split_delimiter("", "+"), ("", None));
    }

    #[test]
    fn multi_byte_delimiters_are_split_on_characters() {
        assert_eq!(
            split_delimiter("user\u{e9}foo", "\u{e9}"),
            ("user", Some("foo")),
            "a multi-byte delimiter used to panic (smtpd, local)"
        );
        assert_eq!(split_delimiter("\u{e9}foo", "\u{e9}"), ("\u{e9}foo", None));
        assert_eq!(
            split_delimiter("\u{fc}ser+x", "+\u{e9}"),
            ("\u{fc}ser", Some("x"))
        );
    }

    #[test]
    fn reserved_local_parts_are_not_split() {
        let s = splitter(&[("recipient_delimiter", "-")]);
        assert_eq!(s.split("owner-list"), ("owner-list", None));
        assert_eq!(s.split("list-request"), ("list-request", None));
        assert_eq!(s.split("MAILER-DAEMON"), ("MAILER-DAEMON", None));
        assert_eq!(s.split("double-bounce"), ("double-bounce", None));
        assert_eq!(s.split("user-ext"), ("user", Some("ext")));
        assert_eq!(s.split("-request"), ("-request", None), "empty base");
        let plain = splitter(&[
            ("recipient_delimiter", "-"),
            ("owner_request_special", "no"),
        ]);
        assert_eq!(plain.split("owner-list"), ("owner", Some("list")));
        assert_eq!(plain.split("list-request"), ("list", Some("request")));
        let t = splitter(&[("recipient_delimiter", "t")]);
        assert_eq!(t.split("postmaster"), ("postmaster", None));
        assert_eq!(t.split("petra"), ("pe", Some("ra")));
    }

    #[test]
    fn no_delimiter_configured() {
        let s = splitter(&[]);
        assert_eq!(s.delimiters(), "");
        assert_eq!(Splitter::new("+").split("u+x"), ("u", Some("x")));
        assert_eq!(s.split("user+foo"), ("user+foo", None));
        assert_eq!(s.base("user+foo"), "user+foo");
        let spaced = splitter(&[("recipient_delimiter", " + ")]);
        assert_eq!(spaced.delimiters(), "+");
    }
}
