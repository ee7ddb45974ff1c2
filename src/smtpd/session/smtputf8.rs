//! SMTPUTF8 in the server (RFC 6531), as Postfix 3.x smtpd does it: the `SMTPUTF8` EHLO
//! keyword with smtputf8_enable (unless smtpd_discard_ehlo_keywords names it), the
//! `SMTPUTF8` parameter of MAIL and VRFY, the address checks that depend on it, and the
//! Received: header's `with UTF8SMTP` protocol.
//!
//! Security role: a UTF-8 domain is accepted only in an SMTPUTF8 transaction and only when
//! IDNA gives it a valid ASCII form (Postfix's smtpd_check_addr and valid_utf8_hostname):
//! `501 5.1.7 Bad sender address syntax` / `501 5.1.3 Bad recipient address syntax`
//! otherwise. With strict_smtputf8 any UTF-8 address needs the SMTPUTF8 request (`553
//! 5.6.7 Must declare SMTPUTF8 to send unicode address`). UTF-8 local parts without it
//! are accepted otherwise, as Postfix always did. Logs `warning: Illegal address syntax
//! from CLIENT in STAGE command: <ADDRESS>` for a refused UTF-8 domain.

use std::io::{Read, Write};

use super::Session;
use crate::log::{self, lines};
use crate::smtputf8;

/// The Received: header's protocol for a transaction with SMTPUTF8 (Postfix: UTF8SMTP,
/// with RFC 3848's S and A suffixes).
pub(super) fn utf8_protocol(with: &'static str, smtputf8: bool) -> &'static str {
    match (smtputf8, with) {
        (false, w) => w,
        (true, "ESMTPS") => "UTF8SMTPS",
        (true, "ESMTPA") => "UTF8SMTPA",
        (true, "ESMTPSA") => "UTF8SMTPSA",
        (true, _) => "UTF8SMTP",
    }
}

impl<S: Read + Write> Session<'_, S> {
    /// smtputf8_enable, and SMTPUTF8 not discarded by smtpd_discard_ehlo_keywords.
    pub(super) fn smtputf8_offered(&self) -> bool {
        self.ctx.smtputf8_enable && !self.discards("SMTPUTF8")
    }

    /// MAIL's `SMTPUTF8` parameter, when the extension is offered (otherwise it is an
    /// unsupported option, see `mail_params`).
    pub(super) fn smtputf8_requested(&self, params: &[(String, Option<String>)]) -> bool {
        self.smtputf8_offered()
            && params
                .iter()
                .any(|(k, v)| v.is_none() && k.eq_ignore_ascii_case("SMTPUTF8"))
    }

    /// A UTF-8 domain in MAIL (`stage` "MAIL") or RCPT/VRFY without the SMTPUTF8 request,
    /// or one that IDNA refuses: logged and answered as Postfix does; true when refused.
    pub(super) fn utf8_domain_refused(
        &mut self,
        address: &str,
        smtputf8: bool,
        stage: &str,
    ) -> bool {
        let Some(domain) = smtputf8::utf8_domain(address) else {
            return false;
        };
        // Postfix checks nothing here in stand-alone mode (sendmail -bs).
        if self.ctx.stand_alone || smtputf8 && smtputf8::valid_utf8_domain(domain) {
            return false;
        }
        log::warning(
            "smtpd",
            format!(
                "Illegal address syntax from {} in {} command: <{}>",
                self.client_log,
                stage,
                lines::printable(address)
            ),
        );
        match stage {
            "MAIL" => self.refuse(501, "5.1.7", "Bad sender address syntax"),
            _ => self.refuse(501, "5.1.3", "Bad recipient address syntax"),
        }
        true
    }

    /// strict_smtputf8: a UTF-8 address without the SMTPUTF8 request is refused (553
    /// 5.6.7); true when refused.
    pub(super) fn undeclared_utf8(&mut self, address: &str, smtputf8: bool) -> bool {
        if smtputf8 || !smtputf8::is_utf8(address) || !self.ctx.cfg.bool("strict_smtputf8") {
            return false;
        }
        self.refuse(
            553,
            "5.6.7",
            "Must declare SMTPUTF8 to send unicode address",
        );
        true
    }

    /// RCPT's address checks (`utf8_domain_refused`, then `undeclared_utf8`) in the
    /// transaction's SMTPUTF8 mode; true when refused. Made after the RCPT parameters
    /// and the recipient limit, so an address that fails both gets those replies first.
    pub(super) fn rcpt_utf8_refused(&mut self, address: &str) -> bool {
        let utf8 = self.tx.as_ref().is_some_and(|t| t.smtputf8);
        self.utf8_domain_refused(address, utf8, "RCPT") || self.undeclared_utf8(address, utf8)
    }

    /// VRFY's argument without a trailing `SMTPUTF8` word (when offered), and whether it
    /// was there. Postfix: `VRFY address [SMTPUTF8]`.
    pub(super) fn vrfy_smtputf8<'a>(&self, args: &'a str) -> (&'a str, bool) {
        if !self.smtputf8_offered() {
            return (args, false);
        }
        match args.rsplit_once(|c: char| c.is_ascii_whitespace()) {
            Some((head, last)) if last.eq_ignore_ascii_case("SMTPUTF8") => (
                head.trim_end_matches(|c: char| c.is_ascii_whitespace()),
                true,
            ),
            _ if args.eq_ignore_ascii_case("SMTPUTF8") => ("", true),
            _ => (args, false),
        }
    }

    /// `501 5.5.4 Syntax: VRFY address`, with ` [SMTPUTF8]` when enabled (Postfix).
    pub(super) fn vrfy_syntax(&self) -> &'static str {
        if self.ctx.smtputf8_enable {
            "Syntax: VRFY address [SMTPUTF8]"
        } else {
            "Syntax: VRFY address"
        }
    }
}
