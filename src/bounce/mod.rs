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

pub use report::compose;
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
            dsn: o.dsn.clone(),
            text: o.text.clone(),
            relay: o.relay.clone(),
        }
    }
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
    if env.sender.is_empty() || failures.is_empty() {
        return Ok(None);
    }
    let incoming = queue
        .create(QueueName::Incoming)
        .map_err(CleanupError::Write)?;
    let body = compose(cfg, id, incoming.id(), env, content, failures);
    let mut envelope = Envelope::new("");
    envelope.set_attr("notification", "non-delivery");
    envelope.set_attr("rewrite_context", "local");
    envelope.recipients.push(Recipient::new(&env.sender));
    let sub = Submission {
        envelope,
        content: body,
        received: None,
        add_missing_headers: true,
    };
    let new_id = cleanup::submit(cfg, incoming, sub)?;
    lines::sender_notification(id, &new_id);
    Ok(Some(new_id))
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
    if env.sender.is_empty() || verdicts.is_empty() {
        return Ok(None);
    }
    let incoming = queue
        .create(QueueName::Incoming)
        .map_err(CleanupError::Write)?;
    let body = verify::compose(cfg, id, incoming.id(), env, content, verdicts);
    let mut envelope = Envelope::new("");
    envelope.set_attr("notification", "delivery-status");
    envelope.set_attr("rewrite_context", "local");
    envelope.recipients.push(Recipient::new(&env.sender));
    let sub = Submission {
        envelope,
        content: body,
        received: None,
        add_missing_headers: true,
    };
    let new_id = cleanup::submit(cfg, incoming, sub)?;
    crate::log::info(
        "bounce",
        format!("{}: sender delivery status notification: {}", id, new_id),
    );
    Ok(Some(new_id))
}
