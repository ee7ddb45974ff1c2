//! Recipients a delivery agent hands to another transport (`delivery::Pass`: local(8)'s
//! mailbox_transport, fallback_transport and their maps, Postfix's deliver_pass): the job
//! that delivers such a recipient through the named master.cf transport. The address is
//! the agent's (after alias expansion); the queue recipient becomes `orig_to=` when it
//! differs. The job's outcomes count for the queue recipient, which is marked done only
//! when they are all in (`ActiveMessage::passes`); the final agent logs them, with its
//! own `relay=`. A passed job may not pass again (see `workers`).
//!
//! Security role: routing only. Logs nothing itself.

use std::sync::Arc;

use super::finish::ActiveMessage;
use super::workers::Job;
use crate::delivery::{Agent, Pass};

/// The job delivering queue recipient `qi` of message `id` as `pass` says; None when there
/// is no such recipient. `per_job` is the transport's recipient limit (1: the destination
/// is the recipient, as for local).
pub fn job(
    id: &str,
    msg: &ActiveMessage,
    qi: usize,
    pass: Pass,
    agent: Arc<dyn Agent>,
    per_job: usize,
) -> Option<Job> {
    let queued = msg.qf.envelope.recipients.get(qi)?;
    let mut rcpt = queued.clone();
    if rcpt.address != pass.address {
        rcpt.orig = rcpt.orig.or_else(|| Some(queued.address.clone()));
        rcpt.address = pass.address.clone();
    }
    // A verification stays one: a handed-over recipient is checked, never delivered.
    let verify = crate::qmgr::verify::is_verify(&msg.qf.envelope);
    let agent: Arc<dyn Agent> = match verify {
        true => Arc::new(crate::qmgr::verify::Verifier { inner: agent }),
        false => agent,
    };
    let dest_key = if per_job == 1 {
        format!("{}:{}", pass.transport, rcpt.address.to_ascii_lowercase())
    } else {
        format!("{}:{}", pass.transport, pass.nexthop)
    };
    Some(Job {
        id: id.to_string(),
        agent,
        nexthop: pass.nexthop,
        dest_key,
        ret: msg.qf.envelope.attr("ret").map(str::to_string),
        envid: msg.qf.envelope.attr("envid").map(str::to_string),
        attrs: Arc::new(msg.qf.envelope.attrs.clone()),
        rcpt_idx: vec![qi],
        recipients: vec![rcpt],
        content: msg.content.clone(),
        sender: msg.qf.envelope.sender.clone(),
        arrival: msg.qf.envelope.arrival,
        active_since: msg.active_since,
        verify,
        // Set by the scheduler, which knows the configuration.
        not_cached: false,
        passed: true,
    })
}
