//! How the session reports what went wrong: a broken conversation (`chat_failed`: 421 and
//! `timeout after STAGE`, 421 at a stop, or `lost connection after STAGE`) and a refusal made outside the
//! restriction lists (`log_reject`, Postfix's `NOQUEUE: reject:` line).
//!
//! Security role: the log lines fail2ban-style tools read; client text in them is made
//! printable by log::lines. Logs the lines named above.

use std::io::{Read, Write};

use super::Session;
use crate::log::lines;
use crate::reply::Reply;
use crate::smtpd::chat::ChatError;

impl<S: Read + Write> Session<'_, S> {
    /// Report a read/write failure: 421 and a log line for a timeout, 421 for a session
    /// closed because the mail system stops, a log line otherwise.
    pub(super) fn chat_failed(&mut self, e: ChatError, stage: &str) {
        match e {
            ChatError::Timeout => {
                let text = format!("{} Error: timeout exceeded", self.ctx.myhostname);
                self.last_reply(&Reply::with_dsn(421, "4.4.2", &text));
                lines::timeout_after(stage, &self.client_log);
            }
            // The mail system is stopping (`stopping`): tell the client, as a courtesy.
            ChatError::Lost if crate::smtpd::stopping::closing() => {
                let text = format!("{} Service shutting down", self.ctx.myhostname);
                self.last_reply(&Reply::with_dsn(421, "4.3.2", &text));
            }
            ChatError::Lost => lines::lost_connection(stage, &self.client_log),
        }
    }

    /// Log `NOQUEUE: reject: STAGE from ...` for a refusal with reply `reply`.
    pub(super) fn log_reject(&self, stage: &str, reply: &str, to: Option<&str>) {
        lines::reject(&lines::Reject {
            queue_id: None,
            stage,
            client: &self.client_log,
            reply,
            from: self.tx.as_ref().map(|t| t.sender_given.as_str()),
            to,
            proto: self.proto(),
            helo: self.helo.as_deref(),
        });
    }
}
