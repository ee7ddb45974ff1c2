//! VRFY (RFC 5321 section 3.5, with RFC 6531's SMTPUTF8 word) and ETRN (RFC 1985): the
//! session's query commands.
//!
//! Security role: VRFY reveals only what the recipient table test says (252 or the
//! rejection), and can be disabled (disable_vrfy_command); ETRN is honoured only for
//! $relay_domains. Logs `NOQUEUE: reject: VRFY from ...` for a refused VRFY.

use std::io::{Read, Write};

use super::Session;
use crate::log::lines;
use crate::qmgr::Wake;
use crate::smtpd::address;
use crate::smtpd::check;
use crate::smtpd::policy_types::Rcpt;

impl<S: Read + Write> Session<'_, S> {
    pub(super) fn vrfy_cmd(&mut self, args: &str) {
        if self.ctx.disable_vrfy {
            return self.refuse(502, "5.5.1", "VRFY command is disabled");
        }
        let (args, smtputf8) = self.vrfy_smtputf8(args);
        if args.is_empty() {
            return self.refuse(501, "5.5.4", self.vrfy_syntax());
        }
        let given = args
            .strip_prefix('<')
            .and_then(|a| a.strip_suffix('>'))
            .unwrap_or(args);
        let probe = format!("TO:<{}>", given);
        match address::parse_path(&probe, "TO") {
            Ok(p) if !p.address.is_empty() => {}
            _ => return self.refuse(501, "5.1.3", "Bad recipient address syntax"),
        }
        if self.utf8_domain_refused(given, smtputf8, "VRFY")
            || self.undeclared_utf8(given, smtputf8)
        {
            return;
        }
        let qualified = address::qualify(given, &self.ctx.myorigin);
        let r = Rcpt {
            given,
            qualified: &qualified,
        };
        match check::check_vrfy(self.ctx, &r) {
            Ok(()) => self
                .chat
                .reply(&format!("252 2.0.0 {}", lines::printable(args))),
            Err(reply) => {
                self.log_reject("VRFY", &reply.to_string(), Some(given));
                self.reply(&reply);
            }
        }
    }

    /// ETRN (RFC 1985), checked in Postfix's order. Postern keeps no per-site queue, so an
    /// accepted request retries all deferred mail; only domains in $relay_domains (Postfix's
    /// default fast_flush_domains) may ask.
    pub(super) fn etrn_cmd(&mut self, args: &str) {
        if self.ctx.helo_required && self.helo.is_none() {
            return self.refuse(503, "", "Error: send HELO/EHLO first");
        }
        if self.tx.is_some() {
            return self.refuse(503, "", "Error: MAIL transaction in progress");
        }
        let mut words = args.split_whitespace();
        let (Some(site), None) = (words.next(), words.next()) else {
            return self.refuse(500, "", "Syntax: ETRN domain");
        };
        let domain = site
            .strip_prefix(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(site);
        if !valid_hostname(domain) {
            return self.refuse(501, "", "Error: invalid parameter syntax");
        }
        let domain = domain.to_ascii_lowercase();
        if !self.ctx.rewrite.relay_domains().contains(&domain) {
            return self.refuse(459, "", &format!("<{}>: service unavailable", site));
        }
        let _ = self.ctx.wake.send(Wake::Flush);
        self.chat.reply("250 Queuing started");
    }
}

/// A syntactically valid host name: dot-separated labels of letters, digits and hyphens,
/// not starting or ending with a hyphen.
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
