//! Canonical address mapping and masquerading of one message (Postfix's cleanup_addr.c,
//! cleanup_map11.c, canonical(5), postconf(5) canonical_maps and masquerade_domains): a
//! sender is looked up in $sender_canonical_maps, then $canonical_maps, then masqueraded; a
//! recipient in $recipient_canonical_maps, then $canonical_maps, then masqueraded. Each
//! step applies only to the address classes its `*_classes` parameter names
//! (envelope_sender, envelope_recipient, header_sender, header_recipient).
//!
//! A lookup uses mail_addr_find's key order (`user+ext@domain`, `user@domain`, `user+ext`
//! and `user` for our own domains, `@domain`); a result `@domain` keeps the local part, and
//! with `canonical` in $propagate_unmatched_extensions an extension removed to find the
//! match is put back. The result is looked up again until it maps to itself, at most 10
//! times; of a multi-valued result the first address is used.
//!
//! Security role: a table that cannot answer refuses the message with a temporary error
//! (smtpd answers `451 4.3.0 Error: queue file write error` after DATA, pickup retries),
//! never "not found".
//!
//! Logs (Postfix 2.10's texts): `warning: ID: TITLE map lookup problem for ADDR -- message
//! not accepted, try again later` (after the table's own warning), `warning: ID: multi-valued
//! TITLE entry for ADDR`, `warning: ID: unreasonable TITLE map nesting for ADDR -- message
//! not accepted, try again later`, `warning: ID: masquerade_exceptions map lookup problem --
//! message not accepted, try again later`.

use crate::config::Config;
use crate::log;
use crate::rewrite::{AddrMaps, Rewrite};

use super::masquerade::Masquerade;

const COMPONENT: &str = "cleanup";
const MAX_RECURSION: usize = 10;

/// The address classes of canonical_classes and masquerade_classes (bits).
pub const ENVELOPE_SENDER: u8 = 1;
pub const ENVELOPE_RECIPIENT: u8 = 2;
pub const HEADER_SENDER: u8 = 4;
pub const HEADER_RECIPIENT: u8 = 8;

/// A class list parameter as bits; an unknown name is warned about and ignored.
pub fn classes(cfg: &Config, name: &str) -> u8 {
    let mut bits = 0;
    for c in cfg.list(name) {
        bits |= match c.to_ascii_lowercase().as_str() {
            "envelope_sender" => ENVELOPE_SENDER,
            "envelope_recipient" => ENVELOPE_RECIPIENT,
            "header_sender" => HEADER_SENDER,
            "header_recipient" => HEADER_RECIPIENT,
            other => {
                log::warning(
                    COMPONENT,
                    format!("{}: unknown address class \"{}\"; ignored", name, other),
                );
                0
            }
        };
    }
    bits
}

/// A table could not answer: the message is not accepted (Postfix's CLEANUP_STAT_WRITE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    /// The parameter whose tables failed, e.g. `canonical_maps`.
    pub title: &'static str,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} map lookup problem", self.title)
    }
}

impl std::error::Error for LookupError {}

/// The canonical and masquerading settings for one message.
pub struct Mapper<'a> {
    rw: &'a Rewrite,
    id: &'a str,
    common: u8,
    sender: u8,
    recipient: u8,
    masq_classes: u8,
    masq: Masquerade,
    propagate: bool,
}

impl<'a> Mapper<'a> {
    pub fn new(cfg: &Config, rw: &'a Rewrite, id: &'a str) -> Mapper<'a> {
        Mapper {
            rw,
            id,
            common: classes(cfg, "canonical_classes"),
            sender: classes(cfg, "sender_canonical_classes"),
            recipient: classes(cfg, "recipient_canonical_classes"),
            masq_classes: classes(cfg, "masquerade_classes"),
            masq: Masquerade::from_config(cfg),
            propagate: cfg
                .list("propagate_unmatched_extensions")
                .iter()
                .any(|c| c.eq_ignore_ascii_case("canonical")),
        }
    }

    /// Whether any mapping is configured.
    pub fn is_active(&self) -> bool {
        let m = self.rw.maps();
        !(m.canonical.is_empty()
            && m.sender_canonical.is_empty()
            && m.recipient_canonical.is_empty()
            && self.masq.is_empty())
    }

    /// A sender address of `class` (ENVELOPE_SENDER or HEADER_SENDER), mapped.
    pub fn sender(&self, address: &str, class: u8) -> Result<String, LookupError> {
        self.map(
            address,
            class,
            &self.rw.maps().sender_canonical,
            self.sender,
        )
    }

    /// A recipient address of `class` (ENVELOPE_RECIPIENT or HEADER_RECIPIENT), mapped.
    pub fn recipient(&self, address: &str, class: u8) -> Result<String, LookupError> {
        self.map(
            address,
            class,
            &self.rw.maps().recipient_canonical,
            self.recipient,
        )
    }

    fn map(
        &self,
        address: &str,
        class: u8,
        specific: &AddrMaps,
        specific_classes: u8,
    ) -> Result<String, LookupError> {
        let mut addr = address.to_string();
        if addr.is_empty() {
            return Ok(addr);
        }
        if specific_classes & class != 0 {
            addr = self.map11(specific, addr)?;
        }
        if self.common & class != 0 {
            addr = self.map11(&self.rw.maps().canonical, addr)?;
        }
        if self.masq_classes & class != 0 {
            match self.masq.apply(&addr) {
                Ok(Some(m)) => addr = m,
                Ok(None) => {}
                Err(e) => {
                    log::warning(COMPONENT, &e);
                    log::warning(
                        COMPONENT,
                        format!(
                            "{}: masquerade_exceptions map lookup problem -- message not accepted, try again later",
                            self.id
                        ),
                    );
                    return Err(LookupError {
                        title: "masquerade_exceptions",
                    });
                }
            }
        }
        Ok(addr)
    }

    /// One-to-one mapping through `maps` until the address maps to itself.
    fn map11(&self, maps: &AddrMaps, mut addr: String) -> Result<String, LookupError> {
        if maps.is_empty() {
            return Ok(addr);
        }
        for _ in 0..MAX_RECURSION {
            let domain = addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            let found = match maps.find(self.rw, &addr, self.rw.local_part_keys(domain)) {
                Ok(Some(found)) => found,
                Ok(None) => return Ok(addr),
                Err((e, key)) => {
                    log::warning(COMPONENT, &e);
                    log::lines::lookup_error(COMPONENT, e.table(), &key);
                    log::warning(
                        COMPONENT,
                        format!(
                            "{}: {} map lookup problem for {} -- message not accepted, try again later",
                            self.id,
                            maps.title(),
                            addr
                        ),
                    );
                    return Err(LookupError {
                        title: maps.title(),
                    });
                }
            };
            let results = found.results(&addr, self.propagate);
            if results.len() > 1 {
                log::warning(
                    COMPONENT,
                    format!(
                        "{}: multi-valued {} entry for {}",
                        self.id,
                        maps.title(),
                        addr
                    ),
                );
            }
            let Some(next) = results.into_iter().next() else {
                return Ok(addr);
            };
            let to_self = next.eq_ignore_ascii_case(&addr);
            addr = next;
            if to_self {
                return Ok(addr);
            }
        }
        log::warning(
            COMPONENT,
            format!(
                "{}: unreasonable {} map nesting for {} -- message not accepted, try again later",
                self.id,
                maps.title(),
                addr
            ),
        );
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let mut all = vec![("myhostname", "www.a.org"), ("recipient_delimiter", "+")];
        all.extend_from_slice(pairs);
        Config::from_pairs(Path::new("/x"), &all)
    }

    #[test]
    fn lookup_order_and_results() {
        let c = cfg(&[(
            "canonical_maps",
            "inline:{ joe+x@www.a.org=full@e.test, joe@www.a.org=joe.user@e.test, bob=robert@e.test, @old.test=@new.test, loop1@x=loop2@x, loop2@x=loop1@x }",
        )]);
        let rw = Rewrite::new(&c);
        let m = Mapper::new(&c, &rw, "ID");
        let s = |a: &str| m.sender(a, ENVELOPE_SENDER).unwrap();
        assert_eq!(
            s("joe+x@www.a.org"),
            "full@e.test",
            "the whole address first"
        );
        assert_eq!(
            s("joe+y@www.a.org"),
            "joe.user+y@e.test",
            "user@domain, extension propagated"
        );
        assert_eq!(
            s("bob@www.a.org"),
            "robert@e.test",
            "bare user for our domain"
        );
        assert_eq!(
            s("bob@other.test"),
            "bob@other.test",
            "bare user not for others"
        );
        assert_eq!(
            s("amy+z@old.test"),
            "amy+z@new.test",
            "@domain keeps the local part"
        );
        assert_eq!(s(""), "");
        assert_eq!(s("loop1@x"), "loop1@x", "nesting stops at 10");
    }

    #[test]
    fn classes_and_order_of_maps() {
        let c = cfg(&[
            ("sender_canonical_maps", "inline:{ a@x.test=b@x.test }"),
            (
                "canonical_maps",
                "inline:{ b@x.test=c@h.x.test, a@x.test=z@z.test }",
            ),
            ("recipient_canonical_maps", "inline:{ a@x.test=r@x.test }"),
            ("recipient_canonical_classes", "envelope_recipient"),
            ("masquerade_domains", "x.test"),
            ("propagate_unmatched_extensions", ""),
        ]);
        let rw = Rewrite::new(&c);
        let m = Mapper::new(&c, &rw, "ID");
        assert_eq!(m.sender("a@x.test", ENVELOPE_SENDER).unwrap(), "c@x.test");
        assert_eq!(m.sender("a@x.test", HEADER_SENDER).unwrap(), "c@x.test");
        assert_eq!(
            m.recipient("a@x.test", ENVELOPE_RECIPIENT).unwrap(),
            "r@x.test"
        );
        // Not in recipient_canonical_classes; the default masquerade_classes leave the
        // envelope recipient alone but not header recipients.
        assert_eq!(
            m.recipient("a@x.test", HEADER_RECIPIENT).unwrap(),
            "z@z.test"
        );
        assert_eq!(
            m.recipient("q@h.x.test", HEADER_RECIPIENT).unwrap(),
            "q@x.test"
        );
        assert_eq!(
            m.recipient("q@h.x.test", ENVELOPE_RECIPIENT).unwrap(),
            "q@h.x.test"
        );
    }

    #[test]
    fn table_errors_are_errors() {
        let c = cfg(&[("sender_canonical_maps", "fail:x")]);
        let rw = Rewrite::new(&c);
        let m = Mapper::new(&c, &rw, "ID");
        assert_eq!(
            m.sender("a@x.test", ENVELOPE_SENDER).unwrap_err().title,
            "sender_canonical_maps"
        );
        assert_eq!(
            m.recipient("a@x.test", ENVELOPE_RECIPIENT).unwrap(),
            "a@x.test"
        );
    }
}
