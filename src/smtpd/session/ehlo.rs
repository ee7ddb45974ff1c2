//! The EHLO reply's keywords in Postfix's order (CHUNKING last, as Postfix 3.4+), and
//! smtpd_discard_ehlo_keywords: the keywords it names are left out of the reply, and
//! discarding CHUNKING also makes BDAT end the session (`bdat`). Names are matched in any
//! case; unknown names are ignored, as Postfix ignores them.
//!
//! Discarding DSN, STARTTLS or ENHANCEDSTATUSCODES changes more than the reply in Postfix
//! (DSN parameters refused, STARTTLS refused, status codes stripped); Postern does not do
//! that yet, so those three stay announced and a warning says so, once per process.
//!
//! Security role: none beyond announcing only what the session honours. Logs `discarding
//! EHLO keywords: NAMES` at each EHLO that discards something (not with `silent-discard`,
//! nor when ENHANCEDSTATUSCODES is discarded, as Postfix), and the warning above.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use super::Session;
use crate::smtpd::chat::Peek;

/// The names Postfix's ehlo_mask knows, in its order (the order of the log line).
const NAMES: &[&str] = &[
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
    "SILENT-DISCARD",
];

/// Keywords whose discarding Postern does not implement (see the module doc).
const KEPT: &[&str] = &["STARTTLS", "ENHANCEDSTATUSCODES", "DSN"];

static WARNED: AtomicBool = AtomicBool::new(false);

impl<S: Read + Write> Session<'_, S> {
    /// Whether smtpd_discard_ehlo_keywords names `keyword` (upper case).
    pub(super) fn discards(&self, keyword: &str) -> bool {
        self.ctx
            .cfg
            .list("smtpd_discard_ehlo_keywords")
            .iter()
            .any(|k| k.eq_ignore_ascii_case(keyword))
    }
}

impl<S: Read + Write + Peek> Session<'_, S> {
    /// The EHLO reply lines (`250-host`, ..., `250 LAST`).
    pub(super) fn ehlo_lines(&mut self) -> Vec<String> {
        self.log_discarded();
        let mut kw = vec![self.ctx.myhostname.clone()];
        let dropped = |s: &Self, name: &str| s.discards(name) && !KEPT.contains(&name);
        let size = match self.ctx.message_size_limit {
            0 => "SIZE".to_string(),
            n => format!("SIZE {}", n),
        };
        let mut plain = vec![("PIPELINING", "PIPELINING".to_string()), ("SIZE", size)];
        if !self.ctx.disable_vrfy {
            plain.push(("VRFY", "VRFY".into()));
        }
        plain.push(("ETRN", "ETRN".into()));
        if self.ctx.tls.offer_starttls() && self.tls.is_none() && !self.ctx.stand_alone {
            plain.push(("STARTTLS", "STARTTLS".into()));
        }
        for (name, line) in plain {
            if !dropped(self, name) {
                kw.push(line);
            }
        }
        if !dropped(self, "AUTH") {
            for l in self.auth_keywords() {
                kw.push(l.trim_start_matches("250-").to_string());
            }
        }
        for name in ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "CHUNKING"] {
            if !dropped(self, name) {
                kw.push(name.to_string());
            }
        }
        let last = kw.len() - 1;
        kw.into_iter()
            .enumerate()
            .map(|(i, k)| format!("250{}{}", if i == last { ' ' } else { '-' }, k))
            .collect()
    }

    /// `discarding EHLO keywords: ...` as Postfix logs it, and the warning about the
    /// keywords Postern keeps.
    fn log_discarded(&self) {
        let names: Vec<&str> = NAMES.iter().copied().filter(|n| self.discards(n)).collect();
        let kept: Vec<&str> = names.iter().copied().filter(|n| KEPT.contains(n)).collect();
        if !kept.is_empty() && !WARNED.swap(true, Ordering::Relaxed) {
            crate::log::warning(
                "smtpd",
                format!(
                    "smtpd_discard_ehlo_keywords: discarding {} is not supported by Postern; \
                     still announced",
                    kept.join(" ")
                ),
            );
        }
        if names.is_empty()
            || names.contains(&"SILENT-DISCARD")
            || names.contains(&"ENHANCEDSTATUSCODES")
        {
            return;
        }
        crate::log::info(
            "smtpd",
            format!("discarding EHLO keywords: {}", names.join(" ")),
        );
    }
}
