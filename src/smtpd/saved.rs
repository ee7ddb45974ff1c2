//! What access-table actions leave behind for later (Postfix's SMTPD_STATE saved_filter,
//! saved_redirect, saved_bcc, saved_flags, prepend, and the defer_if_permit /
//! defer_if_reject state of smtpd_check.c).
//!
//! The transaction part (FILTER, HOLD, DISCARD, REDIRECT, BCC, PREPEND) is reset at MAIL
//! and handed to cleanup at the end of DATA (`crate::cleanup::Delegated` for the flags and
//! the redirect; BCC addresses become recipients with NOTIFY=NEVER, PREPEND lines go above
//! smtpd's Received: header). The deferred decisions follow Postfix: DEFER_IF_REJECT holds
//! for the rest of one stage's restrictions (a 5xx rejection in it becomes the deferral);
//! DEFER_IF_PERMIT is kept per stage, so one raised by the client, HELO or sender
//! restrictions still turns an accepted RCPT into the deferral; the first reason of each
//! kind is kept.
//!
//! Security role: none of its own (plain state); it imports only crate::reply, crate::queue
//! and crate::cleanup (no policy module). Logs nothing.

use crate::cleanup::Delegated;
use crate::queue::{Envelope, Recipient};
use crate::reply::Reply;

/// The stage slots of DEFER_IF_PERMIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    #[default]
    Client = 0,
    Helo = 1,
    Sender = 2,
    Recipient = 3,
    Data = 4,
}

/// Access-table side effects of a session.
#[derive(Debug, Default)]
pub struct Saved {
    /// FILTER transport:destination (the last one wins).
    pub filter: Option<String>,
    pub hold: bool,
    pub discard: bool,
    /// REDIRECT user@domain (the last one wins).
    pub redirect: Option<String>,
    pub bcc: Vec<String>,
    /// PREPEND header lines, in the order the actions fired.
    pub prepend: Vec<String>,
    /// DEFER_IF_REJECT of the stage being evaluated.
    pub defer_if_reject: Option<Reply>,
    /// DEFER_IF_PERMIT per stage (`Stage` index).
    defer_if_permit: [Option<Reply>; 5],
    /// The stage whose restrictions are being evaluated.
    current: Stage,
    /// The restriction being evaluated follows warn_if_reject: a DEFER_IF_PERMIT then
    /// refuses at once (logged as reject_warning) instead of raising the deferral.
    pub warn_if_reject: bool,
    /// The policy-service `instance` of this transaction, once a service was asked.
    pub instance: Option<String>,
}

impl Saved {
    /// MAIL FROM: a new transaction forgets the delegated actions of the last one.
    pub fn new_transaction(&mut self) {
        self.filter = None;
        self.hold = false;
        self.discard = false;
        self.redirect = None;
        self.bcc.clear();
        self.prepend.clear();
        self.instance = None;
    }

    /// A stage's restrictions start: no DEFER_IF_REJECT, and this stage's DEFER_IF_PERMIT
    /// forgotten (the earlier stages' stay).
    pub fn start_stage(&mut self, stage: Stage) {
        self.current = stage;
        self.defer_if_reject = None;
        self.defer_if_permit[stage as usize] = None;
    }

    /// DEFER_IF_REJECT: the first reason in a stage is kept.
    pub fn defer_if_reject(&mut self, reply: Reply) {
        self.defer_if_reject.get_or_insert(reply);
    }

    /// DEFER_IF_PERMIT in the current stage: the first reason is kept.
    pub fn defer_if_permit(&mut self, reply: Reply) {
        self.defer_if_permit[self.current as usize].get_or_insert(reply);
    }

    /// The deferral that overrides a permit at the end of `stage`: the first raised in
    /// the stages up to it (DATA sees only its own).
    pub fn permit_deferral(&self, stage: Stage) -> Option<Reply> {
        let slots = match stage {
            Stage::Data => &self.defer_if_permit[4..],
            s => &self.defer_if_permit[..=s as usize],
        };
        slots.iter().flatten().next().cloned()
    }

    /// End of DATA: hand the transaction's actions over. BCC addresses become recipients
    /// with NOTIFY=NEVER, PREPEND lines go above the Received: header `received`; the
    /// message-wide flags and the redirect are returned for cleanup. (FILTER is taken by
    /// the session, which knows $content_filter.)
    pub fn hand_over(&mut self, env: &mut Envelope, received: &mut String) -> Delegated {
        for b in self.bcc.drain(..) {
            let mut r = Recipient::new(&b);
            r.notify = Some("NEVER".to_string());
            env.recipients.push(r);
        }
        if !self.prepend.is_empty() {
            let mut lines: String = self.prepend.drain(..).map(|l| l + "\n").collect();
            lines.push_str(received);
            *received = lines;
        }
        Delegated {
            hold: std::mem::take(&mut self.hold),
            discard: std::mem::take(&mut self.discard),
            redirect: self.redirect.take(),
        }
    }

    /// Both deferrals are raised (DEFER_IF_PERMIT up to the current stage): nothing the
    /// rest of a list does can change the outcome, so Postfix stops evaluating it.
    pub fn both_deferrals(&self) -> bool {
        self.defer_if_reject.is_some() && self.permit_deferral(self.current).is_some()
    }

    /// A rejection turned into the stage's DEFER_IF_REJECT reply when it is a 5xx one
    /// (then the deferral is used up, as Postfix's).
    pub fn settle_reject(&mut self, reply: Reply) -> Reply {
        match self.defer_if_reject.take() {
            Some(d) if reply.code() >= 500 => d,
            kept => {
                self.defer_if_reject = kept;
                reply
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: u16, text: &str) -> Reply {
        Reply::with_dsn(code, &format!("{}.7.1", code / 100), text)
    }

    #[test]
    fn first_reason_wins_and_stages_accumulate() {
        let mut s = Saved::default();
        s.start_stage(Stage::Client);
        s.defer_if_permit(r(450, "a"));
        s.defer_if_permit(r(450, "b"));
        s.start_stage(Stage::Recipient);
        assert_eq!(s.permit_deferral(Stage::Recipient), Some(r(450, "a")));
        assert_eq!(s.permit_deferral(Stage::Data), None);
        s.start_stage(Stage::Client);
        assert_eq!(s.permit_deferral(Stage::Recipient), None);
    }

    #[test]
    fn only_a_5xx_reject_is_deferred_once() {
        let mut s = Saved::default();
        s.defer_if_reject(r(450, "later"));
        assert_eq!(s.settle_reject(r(451, "x")), r(451, "x"));
        assert_eq!(s.settle_reject(r(554, "no")), r(450, "later"));
        assert_eq!(s.settle_reject(r(554, "no")), r(554, "no"));
        s.defer_if_reject(r(450, "again"));
        s.start_stage(Stage::Sender);
        assert_eq!(s.settle_reject(r(554, "no")), r(554, "no"));
    }

    #[test]
    fn a_new_transaction_keeps_deferrals() {
        let mut s = Saved {
            hold: true,
            bcc: vec!["a@b".into()],
            ..Saved::default()
        };
        s.start_stage(Stage::Helo);
        s.defer_if_permit(r(450, "h"));
        s.new_transaction();
        assert!(!s.hold && s.bcc.is_empty());
        assert!(s.permit_deferral(Stage::Sender).is_some());
    }

    #[test]
    fn hand_over_adds_bcc_and_prepends() {
        let mut s = Saved {
            discard: true,
            redirect: Some("r@x.test".into()),
            bcc: vec!["b@x.test".into()],
            prepend: vec!["X-A: 1".into(), "X-B: 2".into()],
            ..Saved::default()
        };
        let mut env = Envelope::new("s@x.test");
        let mut received = "Received: from x\n".to_string();
        let d = s.hand_over(&mut env, &mut received);
        assert_eq!(received, "X-A: 1\nX-B: 2\nReceived: from x\n");
        assert_eq!(env.recipients.len(), 1);
        assert_eq!(env.recipients[0].notify.as_deref(), Some("NEVER"));
        assert!(d.discard && !d.hold);
        assert_eq!(d.redirect.as_deref(), Some("r@x.test"));
        assert!(!s.discard && s.redirect.is_none() && s.prepend.is_empty());
    }
}
