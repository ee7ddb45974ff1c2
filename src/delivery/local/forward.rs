//! Forwarding for local(8): alias targets outside $mydestination (and every target of a
//! list with an `owner-` alias, and addresses in .forward files) are sent on as a new
//! message through cleanup, with the original sender (or the list owner) and a
//! `Delivered-To:` header naming the address that was expanded (so a forwarding loop is
//! caught when the copy comes back).
//!
//! Security role: the new queue file is written by $mail_owner like any other. Logs nothing
//! itself (cleanup logs the new message-id; the caller logs `forwarded as ID`). Each
//! outcome names the copy's queue ID (`Outcome::forwarded`) so the scheduler takes it at
//! once. A copy cleanup refuses for too many hops (a forwarding loop) or size is bounced,
//! not retried.

use super::{Local, Rcpt};
use crate::cleanup::{self, CleanupError, Submission};
use crate::delivery::dsn_of;
use crate::queue::{Envelope, Queue, QueueName, Recipient};
use crate::smtputf8;

/// One address to forward to.
pub(super) struct Forward {
    /// The local address whose alias named the target.
    pub delivered_to: String,
    pub target: String,
    /// The envelope sender of the copy when not the message's: the list owner
    /// (`owner-NAME`) of the alias that named the target (`owner`).
    pub sender: Option<String>,
}

impl Local {
    /// Submit the collected forwards: one new message per expanded address.
    pub(super) fn flush_forwards(&self, r: &mut Rcpt<'_>) {
        let mut pending = std::mem::take(&mut r.forwards);
        while !pending.is_empty() {
            let dt = pending[0].delivered_to.clone();
            let sender = pending[0].sender.clone();
            let (group, rest): (Vec<Forward>, Vec<Forward>) = pending
                .into_iter()
                .partition(|f| f.delivered_to == dt && f.sender == sender);
            pending = rest;
            let targets: Vec<String> = group.into_iter().map(|f| f.target).collect();
            let sender = sender.as_deref().unwrap_or(r.req.sender);
            match self.submit_copy(r, sender, &dt, &targets) {
                Ok(id) => {
                    for t in &targets {
                        r.outcome(t, dsn_of("2.0.0"), &format!("forwarded as {}", id));
                        if let Some(o) = r.out.last_mut() {
                            o.forwarded = Some(id.clone());
                        }
                    }
                }
                Err(e) => {
                    // Too many hops (a forwarding loop) or too big will not get better.
                    let dsn = dsn_of(match e {
                        CleanupError::TooManyHops => "5.4.6",
                        CleanupError::TooBig => "5.3.4",
                        CleanupError::Write(_)
                        | CleanupError::Alias(_)
                        | CleanupError::Content(_)
                        | CleanupError::Lookup(_) => "4.3.0",
                    });
                    let why = format!("cannot forward message: {}", e);
                    for t in &targets {
                        r.outcome(t, dsn, &why);
                    }
                }
            }
        }
    }

    fn submit_copy(
        &self,
        r: &Rcpt<'_>,
        sender: &str,
        delivered_to: &str,
        targets: &[String],
    ) -> Result<String, CleanupError> {
        let queue = Queue::from_config(&self.cfg);
        let incoming = queue
            .create(QueueName::Incoming)
            .map_err(CleanupError::Write)?;
        let mut envelope = Envelope::new(sender);
        envelope.recipients = targets.iter().map(|t| Recipient::new(t)).collect();
        // The SMTPUTF8 request stays with the forwarded copy (Postfix's forward.c).
        let requested = smtputf8::stored(r.req.attrs) & smtputf8::REQUESTED != 0;
        smtputf8::mark(
            &self.cfg,
            &mut envelope,
            requested,
            smtputf8::Source::Forward,
        );
        let mut content = format!("Delivered-To: {}\n", delivered_to).into_bytes();
        content.extend_from_slice(r.req.content);
        cleanup::submit_internal(
            &self.cfg,
            &self.rewrite,
            incoming,
            Submission {
                envelope,
                content,
                received: None,
                add_missing_headers: false,
                inspect: false,
                map_addresses: true,
            },
        )
    }
}
