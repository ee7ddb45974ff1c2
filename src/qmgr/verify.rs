//! Address verification (Postfix's verify mode of the delivery agents): a message whose
//! envelope has `verify=1` (`sendmail -bv`) or `verify_probe=ADDRESS` (a probe of
//! `crate::verify`, for smtpd's reject_unverified_*) is resolved and routed like any other,
//! but each job asks its agent whether the recipients are deliverable instead of
//! delivering; the results go back to the sender in one "Mail Delivery Status Report", or
//! into the verification cache (`finish`).
//!
//! Each transport answers for itself through `Agent::verify` (local(8) walks its aliases
//! read-only, see `delivery::local`; agents without a check of their own accept).
//!
//! Security role: a verification job never delivers: `Verifier` turns every delivery into
//! the agent's `verify`. Logs nothing itself; the workers log each result with
//! `status=deliverable` or `status=undeliverable`.

use std::sync::Arc;

use crate::delivery::{Agent, Outcome, Request};

/// Whether a queue file's envelope asks for verification only.
pub fn is_verify(env: &crate::queue::Envelope) -> bool {
    env.attr("verify") == Some("1") || crate::verify::probe::probed(env).is_some()
}

/// The agent a verification job is given: checks instead of delivering.
pub struct Verifier {
    pub inner: Arc<dyn Agent>,
}

impl Agent for Verifier {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.inner.verify(req)
    }
}
