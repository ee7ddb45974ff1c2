//! The probe message of address verification (verify.c's post_mail_fopen_async with
//! DEL_REQ_FLAG_MTA_VRFY): from $address_verify_sender (`$double_bounce_sender` by default,
//! qualified by cleanup; empty or `<>` means the null sender) to the address, with no body,
//! through cleanup's internal path (canonical and virtual alias mapping apply, as in
//! Postfix, so a probe follows the address where mail to it would go). The queue-file
//! attribute `verify_probe` names the address the results are for; the scheduler then has
//! the agents check instead of deliver and hands the results to `Cache::update`.
//!
//! Security role: `verify_probe` is never taken from a local submission (`postdrop::stamp`
//! keeps only the submitter attributes), so only the server makes probes. Logs nothing
//! (cleanup and the scheduler log the probe like any message).

use crate::cleanup::{self, CleanupError, Submission};
use crate::config::Config;
use crate::queue::{Envelope, Queue, QueueName, Recipient};

/// The queue-file attribute of a probe: the address it verifies.
pub const PROBE_ATTR: &str = "verify_probe";

/// The address a queue file's envelope probes, if it is a probe.
pub fn probed(env: &Envelope) -> Option<&str> {
    env.attr(PROBE_ATTR)
}

/// The probe's envelope sender.
fn sender(cfg: &Config) -> String {
    match cfg.get("address_verify_sender").trim() {
        "" | "<>" => String::new(),
        s => s.to_string(),
    }
}

/// Queue a probe for `addr`; its queue ID (the caller wakes the scheduler).
pub fn submit(cfg: &Config, queue: &Queue, addr: &str) -> Result<String, CleanupError> {
    let incoming = queue
        .create(QueueName::Incoming)
        .map_err(CleanupError::Write)?;
    let mut envelope = Envelope::new(&sender(cfg));
    envelope.set_attr(PROBE_ATTR, addr);
    envelope.set_attr("rewrite_context", "local");
    envelope.recipients.push(Recipient::new(addr));
    crate::smtputf8::mark(cfg, &mut envelope, false, crate::smtputf8::Source::Verify);
    let sub = Submission {
        envelope,
        content: Vec::new(),
        received: None,
        add_missing_headers: true,
        inspect: false,
        map_addresses: true,
    };
    let rw = crate::rewrite::Rewrite::new(cfg);
    cleanup::submit_internal(cfg, &rw, incoming, sub)
}
