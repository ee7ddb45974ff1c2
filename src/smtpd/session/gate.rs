//! The session's doors to the restriction lists: what a check may look at (`Facts`) and
//! one call per stage that logs the `NOQUEUE: reject:` line of a refusal.
//!
//! Security role: the restriction lists of the CONNECT, HELO, MAIL, RCPT and DATA stages
//! are consulted through `gate`, so each of their refusals is logged in Postfix's format.
//! The other refusals log the same line through `log_reject` where they are made: VRFY
//! (`query`), a bare newline (`bare_lf`), too little queue space (`limits`); the
//! end-of-data list's refusal is logged by `message` with the queue ID. Logs:
//! `NOQUEUE: reject: STAGE from host[addr]: ...`.

use std::io::{Read, Write};

use super::Session;
use crate::reply::Reply;
use crate::smtpd::SmtpdContext;
use crate::smtpd::policy_types::{Facts, Rcpt};

impl<S: Read + Write> Session<'_, S> {
    /// What the restriction lists may look at, for a check at `stage`.
    pub(super) fn facts<'a>(
        &'a self,
        stage: &'a str,
        helo: Option<&'a str>,
        sender: Option<&'a str>,
        rcpt: Option<Rcpt<'a>>,
    ) -> Facts<'a> {
        let (size, sasl_sender) = match (&self.tx, stage) {
            (Some(t), _) => (t.size, t.sasl_sender.as_deref()),
            (None, "MAIL") => (self.mail_declared.0, self.mail_declared.1.as_deref()),
            _ => (None, None),
        };
        Facts {
            client: &self.client,
            client_log: &self.client_log,
            helo,
            sender,
            rcpt,
            single_rcpt: self
                .tx
                .as_ref()
                .filter(|t| t.given.len() == 1)
                .and_then(|t| t.given.first())
                .map(String::as_str),
            rcpt_count: self.tx.as_ref().map_or(0, |t| t.given.len()),
            tls: self.tls.as_ref(),
            sasl_method: self.auth.method.as_deref(),
            sasl_sender,
            size,
            sasl_authenticated: self.sasl_username.is_some(),
            sasl_username: self.sasl_username.as_deref(),
            esmtp: self.esmtp,
            ill_pipelining: self.ill_pipelining,
            stage,
            queue_id: None,
            saved: &self.saved,
        }
    }

    /// Run one stage's `check`; a refusal is logged and its reply returned.
    pub(super) fn gate(
        &self,
        stage: &str,
        helo: Option<&str>,
        sender: Option<&str>,
        rcpt: Option<Rcpt<'_>>,
        check: fn(&SmtpdContext, &Facts<'_>) -> Result<(), Reply>,
    ) -> Option<Reply> {
        let f = self.facts(stage, helo, sender, rcpt);
        let reply = check(self.ctx, &f).err()?;
        f.log("reject", &reply.to_string());
        Some(reply)
    }
}
