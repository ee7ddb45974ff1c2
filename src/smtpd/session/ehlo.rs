//! The EHLO reply's keywords in Postfix's order, and smtpd_discard_ehlo_keywords: the
//! keywords it names are left out, and so are the features behind some of them, as
//! Postfix 3.x does: DSN's parameters get `501 5.7.1 DSN support is disabled`, STARTTLS
//! gets `502 5.5.1 Error: command not implemented`, SMTPUTF8 becomes an unsupported MAIL
//! option. Names are matched in any case; unknown names are ignored, as Postfix does.
//!
//! Security role: none beyond announcing only what the session will honour. Logs `info:
//! discarding EHLO keywords: NAMES` at each EHLO that discards something (not with
//! `silent-discard`, nor when ENHANCEDSTATUSCODES is discarded, as Postfix).

use std::io::{Read, Write};

use super::Session;

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
        self.ctx
            .cfg
            .list("smtpd_discard_ehlo_keywords")
            .iter()
            .any(|k| {
                k.eq_ignore_ascii_case(keyword)
                    || keyword == "SMTPUTF8" && k.eq_ignore_ascii_case("EHLO_MASK_SMTPUTF8")
            })
    }

    /// The EHLO reply lines (`250-host`, ..., `250 LAST`).
    pub(super) fn ehlo_lines(&mut self) -> Vec<String> {
        self.log_discarded();
        let mut kw = vec![self.ctx.myhostname.clone()];
        let mut add = |s: &Self, name: &str, line: String| {
            if !s.discards(name) {
                kw.push(line);
            }
        };
        add(self, "PIPELINING", "PIPELINING".into());
        let size = match self.ctx.message_size_limit {
            0 => "SIZE".to_string(),
            n => format!("SIZE {}", n),
        };
        add(self, "SIZE", size);
        if !self.ctx.disable_vrfy {
            add(self, "VRFY", "VRFY".into());
        }
        add(self, "ETRN", "ETRN".into());
        if self.ctx.tls.offer_starttls() && self.tls.is_none() && !self.ctx.stand_alone {
            add(self, "STARTTLS", "STARTTLS".into());
        }
        if !self.discards("AUTH") {
            for l in self.auth_keywords() {
                kw.push(l.trim_start_matches("250-").to_string());
            }
        }
        let mut add = |s: &Self, name: &str| {
            if !s.discards(name) {
                kw.push(name.to_string());
            }
        };
        add(self, "ENHANCEDSTATUSCODES");
        add(self, "8BITMIME");
        add(self, "DSN");
        if self.smtputf8_offered() {
            kw.push("SMTPUTF8".into());
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
