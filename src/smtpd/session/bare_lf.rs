//! smtpd_forbid_bare_newline (Postfix 3.9, 3.8.4, 3.7.9 and later; SMTP smuggling): a line
//! that ends in a bare LF instead of CR LF. The DATA reader never lets `<LF>.<LF>` end a
//! message whatever the setting (`normalize`, the default, as are `yes`, `note` and `no`:
//! see the README); with `reject` a client outside $smtpd_forbid_bare_newline_exclusions
//! (default $mynetworks) gets `550 5.5.2 <myhostname> Error: bare <LF> received`
//! ($smtpd_forbid_bare_newline_reject_code): after a command line it is disconnected,
//! after a message (or a BDAT chunk) the message is dropped and the session goes on, as
//! with Postfix.
//!
//! Security role: lets a site refuse senders whose line ends could be read differently by
//! another mail server. Logs `NOQUEUE: reject: CMD from host[addr]: bare <LF> received;
//! ...` or `ID: reject: END-OF-MESSAGE from ...` (Postfix's log_whatsup form). The
//! stand-alone server (`sendmail -bs`) is exempt.

use std::io::{Read, Write};

use super::Session;
use crate::log::{self, lines};
use crate::reply::Reply;
use crate::smtpd::network::NetList;
use crate::smtpd::{ClientInfo, SmtpdContext};

/// What is logged with a refusal (the reply itself carries the code and host name).
const WHAT: &str = "bare <LF> received";

/// The reply code for this client's bare LFs, or `None` when they are accepted.
pub(super) fn reject_code(ctx: &SmtpdContext, client: &ClientInfo) -> Option<u16> {
    if ctx.stand_alone {
        return None;
    }
    let mode = ctx.cfg.get("smtpd_forbid_bare_newline").trim();
    match mode.to_ascii_lowercase().as_str() {
        "reject" => {}
        "normalize" | "yes" | "note" | "no" => return None,
        _ => {
            log::warning(
                "smtpd",
                format!(
                    "invalid smtpd_forbid_bare_newline value \"{}\"; using normalize",
                    lines::printable(mode)
                ),
            );
            return None;
        }
    }
    let exclusions = ctx.cfg.get("smtpd_forbid_bare_newline_exclusions");
    let excluded = if exclusions == ctx.cfg.get("mynetworks") {
        ctx.mynetworks.contains_client(&client.name, client.addr)
    } else {
        NetList::parse_clients(exclusions, false).contains_client(&client.name, client.addr)
    };
    let code = ctx
        .cfg
        .reply_code("smtpd_forbid_bare_newline_reject_code", 550);
    (!excluded).then_some(code)
}

impl<S: Read + Write> Session<'_, S> {
    /// The refusal reply, when bare LFs are refused for this client.
    pub(super) fn bare_lf_reply(&self) -> Option<Reply> {
        let code = self.bare_lf_code?;
        Some(Reply::with_dsn(
            code,
            "5.5.2",
            &format!("{} Error: {}", self.ctx.myhostname, WHAT),
        ))
    }

    /// After a command line that ended in a bare LF: true when the session must end (the
    /// reply is queued and the refusal logged).
    pub(super) fn refuse_bare_lf_command(&mut self) -> bool {
        if !self.chat.last_line_bare_lf() {
            return false;
        }
        let Some(reply) = self.bare_lf_reply() else {
            return false;
        };
        let stage = self.stage.clone();
        self.log_reject(&stage, WHAT, None);
        self.reply(&reply);
        true
    }

    /// After a message with a bare LF in it: true when it is refused (logged and answered;
    /// the caller drops the message).
    pub(super) fn refuse_bare_lf_data(&mut self, queue_id: &str, bare_lf: bool) -> bool {
        let Some(reply) = self.bare_lf_reply().filter(|_| bare_lf) else {
            return false;
        };
        self.log_bare_lf(queue_id, "END-OF-MESSAGE");
        self.reply(&reply);
        true
    }

    /// Log the refusal of a message with a bare LF (`stage`: END-OF-MESSAGE, or `BDAT
    /// content` after a chunk that is not the last).
    pub(super) fn log_bare_lf(&self, queue_id: &str, stage: &str) {
        lines::reject(&lines::Reject {
            queue_id: Some(queue_id),
            stage,
            client: &self.client_log,
            reply: WHAT,
            from: self.tx.as_ref().map(|t| t.sender_given.as_str()),
            to: None,
            proto: self.proto(),
            helo: self.helo.as_deref(),
        });
    }
}
