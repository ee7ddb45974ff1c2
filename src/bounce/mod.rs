//! bounce: non-delivery notifications (Postfix's bounce(8)). A message whose recipients
//! failed, or expired in the queue, is returned to its sender as a multipart/report
//! (RFC 3462) with a message/delivery-status part (RFC 3464) and the original message (or
//! only its headers, with RET=HDRS or beyond bounce_size_limit).
//!
//! Also the delivery status report of address verification (`sendmail -bv`,
//! `verification_report`): Action deliverable/undeliverable for every recipient.
//!
//! Security role: never sends a notification to the null sender (no bounce loops). The
//! notification enters the queue through cleanup like any message. Logs
//! `ID: sender non-delivery notification: NEWID` and
//! `ID: sender delivery status notification: NEWID`.

mod report;
mod verify;

use crate::cleanup::{self, CleanupError, Submission};
use crate::config::Config;
use crate::delivery::Outcome;
use crate::log::lines;
use crate::queue::{Envelope, Queue, QueueName, Recipient};
use crate::smtputf8;

pub use report::compose;
use report::{Item, Kind};
pub use verify::Verdict;

/// One failed recipient, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The address that failed (the final address after alias expansion).
    pub address: String,
    /// The address as originally given (Original-Recipient), if known.
    pub original: Option<String>,
    pub dsn: String,
    pub text: String,
    /// The reporting relay (`local`, a host name).
    pub relay: String,
}

impl Failure {
    pub fn new(r: &Recipient, text: &str) -> Failure {
        Failure {
            address: r.address.clone(),
            original: r.orig.clone(),
            dsn: "5.0.0".to_string(),
            text: text.to_string(),
            relay: "none".to_string(),
        }
    }

    pub fn from_outcome(r: &Recipient, o: &Outcome) -> Failure {
        Failure {
            address: o.to.clone().unwrap_or_else(|| r.address.clone()),
            original: r
                .orig
                .clone()
                .or_else(|| o.to.as_ref().map(|_| r.address.clone())),
            dsn: o.dsn.to_string(),
            text: o.text.clone(),
            relay: o.relay.clone(),
        }
    }
}

/// Queue a notice `body` (built with the new queue ID) to the sender of `env`; `None` for
/// the null sender, which never gets one.
fn send(
    cfg: &Config,
    queue: &Queue,
    env: &Envelope,
    notification: &str,
    body: impl FnOnce(&str) -> Vec<u8>,
) -> Result<Option<String>, CleanupError> {
    if env.sender.is_empty() {
        return Ok(None);
    }
    let incoming = queue
        .create(QueueName::Incoming)
        .map_err(CleanupError::Write)?;
    let content = body(incoming.id());
    let mut envelope = Envelope::new("");
    envelope.set_attr("notification", notification);
    envelope.set_attr("rewrite_context", "local");
    envelope.recipients.push(Recipient::new(&env.sender));
    // A notice about an SMTPUTF8 message is one too (Postfix's bounce daemon).
    let requested = smtputf8::stored(&env.attrs) & smtputf8::REQUESTED != 0;
    smtputf8::mark(cfg, &mut envelope, requested, smtputf8::Source::Bounce);
    let sub = Submission {
        envelope,
        content,
        received: None,
        add_missing_headers: true,
        inspect: false,
        map_addresses: true,
    };
    let rw = crate::rewrite::Rewrite::new(cfg);
    cleanup::submit_internal(cfg, &rw, incoming, sub).map(Some)
}

/// Queue a non-delivery notification for `failures` of message `id`. Returns the new
/// queue ID, or `None` when the sender is the null sender (nothing is sent).
pub fn non_delivery(
    cfg: &Config,
    queue: &Queue,
    id: &str,
    env: &Envelope,
    content: &[u8],
    failures: &[Failure],
) -> Result<Option<String>, CleanupError> {
    if failures.is_empty() {
        return Ok(None);
    }
    let new_id = send(cfg, queue, env, "non-delivery", |nid| {
        compose(cfg, id, nid, env, content, failures)
    })?;
    if let Some(n) = &new_id {
        lines::sender_notification(id, n);
    }
    Ok(new_id)
}

/// Queue a delay warning ("Delayed Mail (still being retried)", Action: delayed, the
/// message's headers) for the recipients still waiting. Logs
/// `ID: sender delay notification: NEWID`.
pub fn delay_warning(
    cfg: &Config,
    queue: &Queue,
    id: &str,
    env: &Envelope,
    content: &[u8],
    waiting: &[Failure],
) -> Result<Option<String>, CleanupError> {
    if waiting.is_empty() {
        return Ok(None);
    }
    let items: Vec<Item<'_>> = waiting
        .iter()
        .map(|f| Item {
            rcpt: f,
            action: "delayed",
        })
        .collect();
    let new_id = send(cfg, queue, env, "delay", |nid| {
        report::notice(cfg, Kind::Delay, id, nid, env, content, &items)
    })?;
    if let Some(n) = &new_id {
        lines::delay_notification(id, n);
    }
    Ok(new_id)
}

/// Queue the delivery status report of an address verification (`sendmail -bv`) for
/// message `id`. Returns the new queue ID, or `None` for the null sender.
pub fn verification_report(
    cfg: &Config,
    queue: &Queue,
    id: &str,
    env: &Envelope,
    content: &[u8],
    verdicts: &[Verdict],
) -> Result<Option<String>, CleanupError> {
    if verdicts.is_empty() {
        return Ok(None);
    }
    let new_id = send(cfg, queue, env, "delivery-status", |nid| {
        verify::compose(cfg, id, nid, env, content, verdicts)
    })?;
    if let Some(n) = &new_id {
        crate::log::info(
            "bounce",
            format!("{}: sender delivery status notification: {}", id, n),
        );
    }
    Ok(new_id)
}
