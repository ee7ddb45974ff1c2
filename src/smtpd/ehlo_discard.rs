//! smtpd_discard_ehlo_keywords (postconf(5)): EHLO keywords the server does not announce,
//! case-insensitive, Postfix's names (8BITMIME AUTH ETRN PIPELINING SIZE VERP VRFY XCLIENT
//! XFORWARD STARTTLS ENHANCEDSTATUSCODES DSN SMTPUTF8 CHUNKING, and the `silent-discard`
//! pseudo keyword); unknown words are ignored, as Postfix ignores them. Discarding CHUNKING
//! also makes BDAT end the session (Postfix 3.4+).
//!
//! Discarding DSN, STARTTLS or ENHANCEDSTATUSCODES changes more than the EHLO reply in
//! Postfix (DSN parameters ignored, STARTTLS refused, status codes stripped from every
//! reply); Postern does not do that, so those three stay announced and a warning says so
//! (once per process).
//!
//! Security role: none beyond what the announced features do. Logs `discarding EHLO
//! keywords: NAMES` at EHLO unless silent-discard is given (Postfix's rule: not when
//! ENHANCEDSTATUSCODES is discarded either), and the warning above.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::log::{self, lines};

/// Postfix's ehlo_mask table order (the order of the log line's names).
const NAMES: [&str; 14] = [
    "8BITMIME",
    "AUTH",
    "ETRN",
    "PIPELINING",
    "SIZE",
    "VERP",
    "VRFY",
    "XCLIENT",
    "XFORWARD",
    "STARTTLS",
    "ENHANCEDSTATUSCODES",
    "DSN",
    "SMTPUTF8",
    "CHUNKING",
];

/// Keywords whose discarding Postern does not implement (see the module doc).
const NOT_DISCARDED: [&str; 3] = ["STARTTLS", "ENHANCEDSTATUSCODES", "DSN"];

static WARNED: AtomicBool = AtomicBool::new(false);

/// The keywords one setting discards.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Discard {
    /// Bit i: NAMES[i].
    mask: u32,
    silent: bool,
}

impl Discard {
    /// Parse a setting (words separated by space or comma).
    pub fn parse(value: &str) -> Discard {
        let mut d = Discard::default();
        for word in value
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            if word.eq_ignore_ascii_case("silent-discard") {
                d.silent = true;
            } else if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(word)) {
                d.mask |= 1 << i;
            }
        }
        d
    }

    fn has(&self, name: &str) -> bool {
        NAMES
            .iter()
            .position(|n| *n == name)
            .is_some_and(|i| self.mask & (1 << i) != 0)
    }

    /// Whether the EHLO keyword `keyword` (as announced, e.g. `SIZE 10240000`) is left out.
    pub fn drops(&self, keyword: &str) -> bool {
        let name = keyword
            .split([' ', '='])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        self.has(&name) && !NOT_DISCARDED.contains(&name.as_str())
    }

    /// BDAT is refused (CHUNKING discarded).
    pub fn chunking_off(&self) -> bool {
        self.has("CHUNKING")
    }

    /// At EHLO: log what is discarded, as Postfix does, and warn once about the keywords
    /// Postern keeps announcing.
    pub fn log(&self) {
        if self.mask == 0 {
            return;
        }
        let kept: Vec<&str> = NOT_DISCARDED
            .iter()
            .copied()
            .filter(|n| self.has(n))
            .collect();
        if !kept.is_empty() && !WARNED.swap(true, Ordering::Relaxed) {
            log::warning(
                "smtpd",
                format!(
                    "smtpd_discard_ehlo_keywords: discarding {} is not supported by Postern; \
                     still announced",
                    kept.join(" ")
                ),
            );
        }
        if !self.silent && !self.has("ENHANCEDSTATUSCODES") {
            lines::discarding_ehlo_keywords(&self.names().join(" "));
        }
    }

    fn names(&self) -> Vec<&'static str> {
        NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mask & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive_and_unknown_ones_ignored() {
        let d = Discard::parse("chunking, Size silent-discard bogus");
        assert!(d.chunking_off());
        assert!(d.drops("SIZE 10240000"));
        assert!(d.drops("CHUNKING"));
        assert!(!d.drops("PIPELINING"));
        assert!(d.silent);
        assert_eq!(d.names(), ["SIZE", "CHUNKING"]);
        assert_eq!(Discard::parse(""), Discard::default());
        assert!(!Discard::parse("").chunking_off());
    }

    #[test]
    fn keywords_with_more_effects_are_kept() {
        let d = Discard::parse("dsn starttls enhancedstatuscodes auth");
        assert!(!d.drops("DSN"));
        assert!(!d.drops("STARTTLS"));
        assert!(!d.drops("ENHANCEDSTATUSCODES"));
        assert!(d.drops("AUTH PLAIN LOGIN"));
        assert!(d.drops("AUTH=PLAIN LOGIN"));
    }
}
