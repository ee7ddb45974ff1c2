//! error(8), retry and discard(8): agents whose whole answer is the next-hop text of a
//! transport_maps result. `error:5.1.1 no such user` bounces, `retry:text` defers,
//! `discard:text` pretends delivery. A leading enhanced status code in the text becomes the
//! DSN; otherwise 5.0.0, 4.0.0 and 2.0.0. `relay=none`, as Postfix logs them.
//!
//! Also the one place where local delivery maps system errors to DSN codes (`errno_dsn`,
//! Postfix's mbox_dsn()): mailbox, file and Maildir failures all go through it.

use super::{Agent, Outcome, Request, Status, dsn_of};
use crate::reply::{Class, Dsn};

/// The class and enhanced status code for a system error met while locking, opening or
/// writing a mailbox or file, as Postfix's mbox_dsn(): EAGAIN and ESTALE (a lock held by
/// someone else) 4.2.0, ENOSPC 4.3.0, EDQUOT and EFBIG 5.2.2 (mailbox full); anything else
/// `default`, which is 4.2.0 for mailboxes (Postern retries them; Postfix uses 5.2.0) and
/// 5.2.0 for files named in aliases (permission denied, no such directory: bounced at
/// once, as Postfix does). The status follows the code's class.
pub fn errno_dsn(errno: i32, default: &'static str) -> (Status, &'static str) {
    let dsn = match errno {
        libc::EAGAIN | libc::ESTALE => "4.2.0",
        libc::ENOSPC => "4.3.0",
        libc::EDQUOT | libc::EFBIG => "5.2.2",
        _ => default,
    };
    (Status::of(dsn_of(dsn)), dsn)
}

/// Which of the three agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Error,
    Retry,
    Discard,
}

/// An agent that answers every recipient from its next hop.
pub struct Fixed {
    kind: Kind,
    name: String,
}

impl Fixed {
    pub fn new(kind: Kind, name: &str) -> Fixed {
        Fixed {
            kind,
            name: name.to_string(),
        }
    }
}

/// Split `4.3.0 text` into (Some(4.3.0), "text").
fn dsn_prefix(text: &str) -> (Option<Dsn>, &str) {
    let t = text.trim();
    let (first, rest) = t.split_once(' ').unwrap_or((t, ""));
    match Dsn::parse(first) {
        Some(d) => (Some(d), rest.trim()),
        None => (None, t),
    }
}

impl Agent for Fixed {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        let (dsn, text) = dsn_prefix(req.nexthop);
        let (class, default_text) = match self.kind {
            Kind::Error => (Class::Permanent, "mail delivery failed"),
            Kind::Retry => (Class::Transient, "delivery temporarily suspended"),
            Kind::Discard => (Class::Success, "discarded"),
        };
        let text = if text.is_empty() { default_text } else { text };
        // A code of another class is not believed: the agent decides the class.
        let dsn = dsn
            .filter(|d| d.class() == class)
            .unwrap_or_else(|| Dsn::of_class(class));
        (0..req.recipients.len())
            .map(|i| Outcome::new(i, dsn, text, "none"))
            .collect()
    }

    /// In verify mode the answer is the same (Postfix's error(8) reports its bounce as
    /// undeliverable, discard(8) its discard as deliverable).
    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.deliver(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Recipient;

    fn run(kind: Kind, nexthop: &str) -> Outcome {
        let r = [Recipient::new("a@b")];
        let req = Request {
            queue_id: "ABCDEF1",
            sender: "s@x",
            arrival: std::time::SystemTime::now(),
            content: b"x\n",
            recipients: &r,
            nexthop,
            ret: None,
            envid: None,
            attrs: &[],
        };
        Fixed::new(kind, "t").deliver(&req).remove(0)
    }

    #[test]
    fn system_errors_map_to_mbox_dsn_codes() {
        use Status::{Bounced, Deferred};
        for (errno, mailbox, file) in [
            (libc::EAGAIN, (Deferred, "4.2.0"), (Deferred, "4.2.0")),
            (libc::ESTALE, (Deferred, "4.2.0"), (Deferred, "4.2.0")),
            (libc::ENOSPC, (Deferred, "4.3.0"), (Deferred, "4.3.0")),
            (libc::EDQUOT, (Bounced, "5.2.2"), (Bounced, "5.2.2")),
            (libc::EFBIG, (Bounced, "5.2.2"), (Bounced, "5.2.2")),
            (libc::EACCES, (Deferred, "4.2.0"), (Bounced, "5.2.0")),
            (libc::ENOENT, (Deferred, "4.2.0"), (Bounced, "5.2.0")),
        ] {
            assert_eq!(errno_dsn(errno, "4.2.0"), mailbox, "errno {}", errno);
            assert_eq!(errno_dsn(errno, "5.2.0"), file, "errno {}", errno);
        }
    }

    #[test]
    fn text_and_codes() {
        let o = run(Kind::Error, "5.1.1 no such user here");
        assert_eq!(
            (o.status, o.dsn.as_str(), o.text.as_str()),
            (Status::Bounced, "5.1.1", "no such user here")
        );
        let o = run(Kind::Error, "mailbox moved");
        assert_eq!(
            (o.dsn.as_str(), o.text.as_str(), o.relay.as_str()),
            ("5.0.0", "mailbox moved", "none")
        );
        let o = run(Kind::Retry, "4.3.0 transport table lookup failure");
        assert_eq!((o.status, o.dsn.as_str()), (Status::Deferred, "4.3.0"));
        let o = run(Kind::Retry, "5.0.0 not a temporary code");
        assert_eq!(o.dsn, "4.0.0", "a retry never bounces");
        let o = run(Kind::Discard, "");
        assert_eq!((o.status, o.text.as_str()), (Status::Sent, "discarded"));
    }
}
