//! MAIL FROM's ESMTP parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 3461 RET and ENVID,
//! RFC 4954 AUTH, RFC 6531 SMTPUTF8) with Postfix's replies, and the `555 5.5.4 Unsupported option` reply
//! shared with RCPT.
//!
//! Security role: every parameter value is client input: checked against its syntax,
//! ENVID xtext-decoded and length-limited, unknown ones refused, and text made printable
//! before it is echoed. Logs: `NOQUEUE: reject: MAIL ... 552 5.3.4 Message size exceeds
//! fixed limit`.

use std::io::{Read, Write};

use super::Session;
use crate::log::lines;
use crate::reply::Reply;
use crate::smtpd::address;

/// The accepted parameters of one MAIL command.
pub(super) struct MailParams {
    pub envid: Option<String>,
    pub ret: Option<String>,
    /// AUTH= (xtext, printable), see `auth`.
    pub sasl_sender: Option<String>,
    /// SMTPUTF8 (RFC 6531), when offered.
    pub smtputf8: bool,
    /// SIZE= as declared.
    pub size: Option<u64>,
}

impl<S: Read + Write> Session<'_, S> {
    /// Check MAIL's parameters and, as SMTPUTF8 decides it, the sender's domain
    /// (`smtputf8`); `None` when one was refused (already answered).
    pub(super) fn mail_params(
        &mut self,
        params: &[(String, Option<String>)],
        sender: &str,
    ) -> Option<MailParams> {
        let smtputf8 = self.smtputf8_requested(params);
        if self.utf8_domain_refused(sender, smtputf8, "MAIL") {
            return None;
        }
        let mut out = MailParams {
            envid: None,
            ret: None,
            sasl_sender: None,
            smtputf8,
            size: None,
        };
        let mut size: Option<u64> = None;
        let mut auth_given = false;
        for (k, v) in params {
            let v = v.as_deref();
            let refused: Option<Reply> = match (k.to_ascii_uppercase().as_str(), v) {
                ("SIZE", Some(v)) => match v.parse::<u64>() {
                    Ok(n) => {
                        size = Some(n);
                        None
                    }
                    Err(_) => Some(Reply::with_dsn(501, "5.5.4", "Bad message size syntax")),
                },
                ("BODY", Some(v))
                    if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") =>
                {
                    None
                }
                ("SMTPUTF8", None) if smtputf8 => None,
                ("RET" | "ENVID", _) if self.discards("DSN") => Some(dsn_disabled()),
                ("BODY", _) => Some(Reply::with_dsn(
                    501,
                    "5.5.4",
                    "Unsupported BODY parameter value",
                )),
                ("RET", Some(v))
                    if v.eq_ignore_ascii_case("FULL") || v.eq_ignore_ascii_case("HDRS") =>
                {
                    out.ret = Some(v.to_ascii_uppercase());
                    None
                }
                ("RET", _) => Some(Reply::with_dsn(501, "5.5.4", "Bad RET parameter syntax")),
                ("AUTH", v) => self
                    .mail_auth_param(v, &mut out.sasl_sender, &mut auth_given)
                    .err(),
                ("ENVID", Some(v)) => match address::xtext_decode(v) {
                    Some(d) if !d.is_empty() && d.len() <= 100 => {
                        out.envid = Some(d);
                        None
                    }
                    _ => Some(Reply::with_dsn(501, "5.5.4", "Bad ENVID parameter syntax")),
                },
                _ => Some(unsupported(k, v)),
            };
            if let Some(r) = refused {
                self.reply(&r);
                return None;
            }
        }
        out.size = size;
        if self.size_refused(size) {
            return None;
        }
        Some(out)
    }

    /// SIZE over message_size_limit: logged and answered 552.
    fn size_refused(&mut self, size: Option<u64>) -> bool {
        let limit = self.ctx.message_size_limit;
        if !size.is_some_and(|n| limit > 0 && n > limit) {
            return false;
        }
        let r = Reply::with_dsn(552, "5.3.4", "Message size exceeds fixed limit");
        lines::reject(&lines::Reject {
            queue_id: None,
            stage: "MAIL",
            client: &self.client_log,
            reply: &r.to_string(),
            from: None,
            to: None,
            proto: self.proto(),
            helo: self.helo.as_deref(),
        });
        self.reply(&r);
        true
    }

    /// `555 5.5.4 Unsupported option: NAME[=VALUE]` for an unknown MAIL/RCPT parameter.
    pub(super) fn unsupported_option(&mut self, name: &str, value: Option<&str>) {
        self.reply(&unsupported(name, value))
    }
}

/// A DSN parameter when smtpd_discard_ehlo_keywords names DSN (Postfix).
pub(super) fn dsn_disabled() -> Reply {
    Reply::with_dsn(501, "5.7.1", "DSN support is disabled")
}

fn unsupported(name: &str, value: Option<&str>) -> Reply {
    let opt = match value {
        Some(v) => format!("{}={}", name, v),
        None => name.to_string(),
    };
    Reply::with_dsn(
        555,
        "5.5.4",
        &format!("Unsupported option: {}", lines::printable(&opt)),
    )
}
