//! The EHLO reply's keywords in Postfix's order (SMTPUTF8, then CHUNKING last, as Postfix
//! 3.4+), and smtpd_discard_ehlo_keywords: the keywords it names are left out, and so are
//! the features behind some of them, as Postfix 3.x does: DSN's parameters get `501 5.7.1
//! DSN support is disabled`, STARTTLS gets `502 5.5.1 Error: command not implemented`,
//! SMTPUTF8 becomes an unsupported MAIL option, and BDAT ends the session (`bdat`).
//! Discarding ENHANCEDSTATUSCODES, like the other keywords, changes only the reply, as in
//! Postfix. Names are matched in any case; unknown names are ignored, as Postfix does.
//!
//! Security role: none beyond announcing only what the session honours. Logs `discarding
//! EHLO keywords: NAMES` at each EHLO that discards something (not with `silent-discard`,
//! nor when ENHANCEDSTATUSCODES is discarded, as Postfix).

use std::io::{Read, Write};

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

impl<S: Read + Write> Session<'_, S> {
    /// Whether smtpd_discard_ehlo_keywords names `keyword` (upper case). Postfix's table
    /// also knows SMTPUTF8 as `EHLO_MASK_SMTPUTF8`.
    pub(super) fn discards(&self, keyword: &str) -> bool {
        self.ctx.discard_ehlo.iter().any(|k| {
            k.eq_ignore_ascii_case(keyword)
                || keyword == "SMTPUTF8" && k.eq_ignore_ascii_case("EHLO_MASK_SMTPUTF8")
        })
    }
}

impl<S: Read + Write + Peek> Session<'_, S> {
    /// The EHLO reply lines (`250-host`, ..., `250 LAST`).
    pub(super) fn ehlo_lines(&mut self) -> Vec<String> {
        self.log_discarded();
        let mut kw = vec![self.ctx.myhostname.clone()];
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
            if !self.discards(name) {
                kw.push(line);
            }
        }
        if !self.discards("AUTH") {
            for l in self.auth_keywords() {
                kw.push(l.trim_start_matches("250-").to_string());
            }
        }
        for name in ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN"] {
            if !self.discards(name) {
                kw.push(name.to_string());
            }
        }
        if self.smtputf8_offered() {
            kw.push("SMTPUTF8".into());
        }
        if !self.discards("CHUNKING") {
            kw.push("CHUNKING".into());
        }
        let last = kw.len() - 1;
        kw.into_iter()
            .enumerate()
            .map(|(i, k)| format!("250{}{}", if i == last { ' ' } else { '-' }, k))
            .collect()
    }

    /// `discarding EHLO keywords: ...` as Postfix 3.7 logs it (its name table prints the
    /// SMTPUTF8 bit as `EHLO_MASK_SMTPUTF8`, the first name it has for it).
    fn log_discarded(&self) {
        let names: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| self.discards(n))
            .map(|n| match n {
                "SMTPUTF8" => "EHLO_MASK_SMTPUTF8",
                n => n,
            })
            .collect();
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
