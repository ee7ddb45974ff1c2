//! Improper pipelining (RFC 2920 section 3.1, RFC 5321 section 4.3.1): a client that talks
//! before the greeting, pipelines without having been offered PIPELINING (before EHLO or
//! after HELO), or sends more after a command that must end a group (HELO, EHLO, DATA,
//! NOOP, VRFY). Detected as Postfix 3.x's smtpd_flag_ill_pipelining does, by looking at
//! input already received (never by waiting): the first violation is logged and
//! remembered for `reject_unauth_pipelining` (sticky, as in Postfix 3.x); with
//! `smtpd_forbid_unauth_pipelining = yes` the client gets `554 5.5.0 Error: SMTP protocol
//! synchronization` and is disconnected. The stand-alone server (`sendmail -bs`) is exempt.
//!
//! Security role: stops spamware that does not wait for replies and SMTP smuggling tricks
//! that rely on pipelined input. Logs `improper command pipelining after CMD from
//! host[addr]: INPUT` (fail2ban's postfix filter reads it).

use std::io::{Read, Write};

use super::Session;
use crate::log::lines;
use crate::reply::Reply;
use crate::smtpd::chat::Peek;

/// Postfix's reply to a client that broke the pipelining rules.
fn sync_reply() -> Reply {
    Reply::with_dsn(554, "5.5.0", "Error: SMTP protocol synchronization")
}

/// Commands that must be the last of a pipelined group (Postfix's SMTPD_CMD_FLAG_LAST).
pub(super) fn ends_group(command: &str) -> bool {
    matches!(command, "HELO" | "EHLO" | "DATA" | "NOOP" | "VRFY")
}

impl<S: Read + Write + Peek> Session<'_, S> {
    /// Check for input sent ahead of our reply to `stage` (CONNECT: before the greeting).
    /// The first time there is some, log it and remember it; returns true when the session
    /// must end (smtpd_forbid_unauth_pipelining), the 554 reply being queued.
    pub(super) fn flag_ill_pipelining(&mut self, stage: &str) -> bool {
        if self.ctx.stand_alone || self.ill_pipelining {
            return false;
        }
        let pending = self.chat.pending_input();
        if pending.is_empty() {
            return false;
        }
        lines::ill_pipelining(stage, &self.client_log, pending);
        self.ill_pipelining = true;
        if self.forbid_unauth_pipelining {
            self.last_reply(&sync_reply());
            return true;
        }
        false
    }
}
