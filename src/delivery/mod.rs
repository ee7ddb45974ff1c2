//! Delivery agents behind one trait: local (Postfix's local(8), with command and file
//! delivery), virtual (virtual(8), `virtual_agent`), smtp (smtp(8)), lmtp (lmtp(8)), pipe
//! (pipe(8)) and the fixed-answer agents in `error` (error(8)).
//!
//! The scheduler hands an agent one message and the recipients it is to deliver; the agent
//! answers with one or more `Outcome`s per recipient. The scheduler logs each outcome
//! (`log::lines::delivery`), records progress in the queue file, and bounces or defers; an
//! outcome that queued a new message (a forwarded copy) names its queue ID, so the
//! scheduler takes it at once. An outcome may also hand its recipient to another transport
//! (`Pass`: local(8)'s mailbox_transport and fallback_transport, Postfix's deliver_pass):
//! the scheduler then delivers that address through the named master.cf transport, whose
//! agent logs the result. Agents never call the scheduler: qmgr depends on delivery,
//! never the reverse. `Reply` answers one mailbox, file or command request (`request`);
//! it lives here so that `command` need not import `request`, which runs commands.
//!
//! An outcome's and a reply's enhanced status code is a `crate::reply::Dsn`; their
//! `Status` follows from its class, in one place (`Status::of`: 2 sent, 4 deferred, 5
//! bounced), and is logged as `dsn=5.1.1, status=bounced (text)`.

pub mod command;
pub mod error;
pub mod lmtp;
pub mod local;
pub mod lock;
pub mod maildir;
pub mod mbox;
pub mod pipe;
pub mod privileged;
pub mod request;
pub mod smtp;
pub mod targets;
pub mod virtual_agent;
pub mod vmailbox;

use std::time::{Duration, SystemTime};

use crate::queue::Recipient;
use crate::reply::{Class, Dsn};

/// A DSN written as a constant of the code (`dsn_of("5.1.1")`). A string that is not one
/// is a programming error; release builds defer with 4.0.0 rather than lose mail.
pub fn dsn_of(s: &str) -> Dsn {
    debug_assert!(Dsn::parse(s).is_some(), "not a DSN: {:?}", s);
    Dsn::parse(s).unwrap_or_else(|| Dsn::of_class(Class::Transient))
}

/// What an agent is asked to do.
pub struct Request<'a> {
    pub queue_id: &'a str,
    pub sender: &'a str,
    pub arrival: SystemTime,
    /// Message content, LF line ends (headers, blank line, body).
    pub content: &'a [u8],
    /// The recipients for this agent and next hop (the nexthop is the domain for local).
    pub recipients: &'a [Recipient],
    pub nexthop: &'a str,
    /// DSN RET= (`FULL`/`HDRS`) and ENVID= of the message, for agents that pass them on.
    pub ret: Option<&'a str>,
    pub envid: Option<&'a str>,
    /// The message's named queue-file attributes (`client_address`, `client_name`,
    /// `helo_name`, `protocol_name`, `sasl_username`, ...), for pipe(8)'s macros.
    pub attrs: &'a [(String, String)],
}

/// The class of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sent,
    Deferred,
    Bounced,
}

impl Status {
    /// The status a DSN's class means: 2 sent, 4 deferred, 5 bounced.
    pub fn of(dsn: Dsn) -> Status {
        match dsn.class() {
            Class::Success | Class::Intermediate => Status::Sent,
            Class::Transient => Status::Deferred,
            Class::Permanent => Status::Bounced,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Deferred => "deferred",
            Status::Bounced => "bounced",
        }
    }
}

/// One result, logged as one `to=<...>, relay=..., dsn=..., status=... (text)` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Index into `Request::recipients`.
    pub rcpt: usize,
    /// The final address when alias expansion changed it (logged as `to=`, with the queue
    /// recipient as `orig_to=`); `None` logs the recipient itself.
    pub to: Option<String>,
    /// `Status::of(dsn)`; set with the DSN (`new`, `set_dsn`).
    pub status: Status,
    /// Enhanced status code, e.g. `2.0.0`, `4.2.0`, `5.1.1`.
    pub dsn: Dsn,
    /// The text in parentheses, e.g. `delivered to mailbox`.
    pub text: String,
    /// `relay=` value, e.g. `local`.
    pub relay: String,
    /// Time spent on connection setup (delays `c`); transmission time is measured by the caller.
    pub setup: Duration,
    /// The queue ID of a new message this outcome committed to incoming/ (local's forwarded
    /// copy, `forwarded as ID`): the scheduler takes it at once, as it takes the notices
    /// `bounce` queues, instead of waiting for its next queue scan.
    pub forwarded: Option<String>,
    /// Deliver this recipient through another transport instead (`Outcome::pass`). Until
    /// the scheduler has done so the outcome is a deferral, so nothing is lost if a caller
    /// does not act on it; it is not logged.
    pub pass: Option<Pass>,
}

/// A recipient handed to another transport (Postfix's deliver_pass).
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// The master.cf service name.
    pub transport: String,
    pub nexthop: String,
    /// The address to deliver (after alias expansion), logged as `to=`.
    pub address: String,
}

impl Pass {
    /// Parse a `transport` or `transport:nexthop` value (mailbox_transport,
    /// fallback_transport and their maps); the nexthop defaults to `nexthop` (the request's).
    /// `lmtp:unix:/path` is transport `lmtp`, nexthop `unix:/path`. None for an empty
    /// transport name.
    pub fn parse(value: &str, nexthop: &str, address: &str) -> Option<Pass> {
        let value = value.trim();
        let (transport, hop) = value.split_once(':').unwrap_or((value, ""));
        if transport.is_empty() {
            return None;
        }
        Some(Pass {
            transport: transport.to_string(),
            nexthop: if hop.is_empty() { nexthop } else { hop }.to_string(),
            address: address.to_string(),
        })
    }
}

impl Outcome {
    pub fn new(rcpt: usize, dsn: Dsn, text: &str, relay: &str) -> Outcome {
        Outcome {
            rcpt,
            to: None,
            status: Status::of(dsn),
            dsn,
            text: text.to_string(),
            relay: relay.to_string(),
            setup: Duration::ZERO,
            forwarded: None,
            pass: None,
        }
    }

    /// Hand recipient `rcpt` to another transport: a 4.3.0 deferral until the scheduler
    /// acts on `pass`.
    pub fn pass(rcpt: usize, pass: Pass) -> Outcome {
        let text = format!("delivery via {} not attempted", pass.transport);
        let mut o = Outcome::new(rcpt, dsn_of("4.3.0"), &text, "none");
        o.pass = Some(pass);
        o
    }

    /// Change the DSN, and with it the status.
    pub fn set_dsn(&mut self, dsn: Dsn) {
        self.dsn = dsn;
        self.status = Status::of(dsn);
    }
}

/// The result of one mailbox, file or command request (`request::Op`), as the helper or
/// the in-process performer answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `Status::of(dsn)`.
    pub status: Status,
    pub dsn: Dsn,
    pub text: String,
}

impl Reply {
    pub fn new(dsn: Dsn, text: impl Into<String>) -> Reply {
        Reply {
            status: Status::of(dsn),
            dsn,
            text: text.into(),
        }
    }
}

/// A delivery agent.
pub trait Agent: Send + Sync {
    /// The agent's command (`local`, `smtp`, ...), its log component; the transport it serves
    /// is the master.cf service name, which may differ (`smtp-copy` runs `smtp`).
    fn name(&self) -> &str;
    /// Deliver; every recipient in the request gets at least one outcome.
    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome>;

    /// Deliver several messages for the same destination, one outcome list per request.
    /// An agent may share work among them (one mailbox lock and fsync for several
    /// messages); by default they are delivered one after another.
    fn deliver_batch(&self, reqs: &[Request<'_>]) -> Vec<Vec<Outcome>> {
        reqs.iter().map(|r| self.deliver(r)).collect()
    }

    /// Address verification (`sendmail -bv`): say whether each recipient could be
    /// delivered, without delivering. `Sent` means deliverable. By default an agent accepts
    /// every recipient handed to it: `deliverable via <transport>`.
    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        let text = format!("deliverable via {}", self.name());
        (0..req.recipients.len())
            .map(|i| Outcome::new(i, dsn_of("2.0.0"), &text, self.name()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_values_parse_as_transport_and_nexthop() {
        let p = Pass::parse("lmtp:unix:/var/run/dovecot/lmtp", "www.a.org", "u@x").unwrap();
        assert_eq!(
            (p.transport.as_str(), p.nexthop.as_str()),
            ("lmtp", "unix:/var/run/dovecot/lmtp")
        );
        let p = Pass::parse(" error ", "www.a.org", "u@x").unwrap();
        assert_eq!(
            (p.transport.as_str(), p.nexthop.as_str()),
            ("error", "www.a.org")
        );
        let p = Pass::parse("smtp:[127.0.0.1]:2525", "d", "u@x").unwrap();
        assert_eq!(p.nexthop, "[127.0.0.1]:2525");
        let p = Pass::parse("discard:", "d", "u@x").unwrap();
        assert_eq!(p.nexthop, "d");
        assert_eq!(Pass::parse(":x", "d", "u@x"), None);
        let o = Outcome::pass(0, Pass::parse("lmtp", "d", "u@x").unwrap());
        assert_eq!((o.status, o.dsn.as_str()), (Status::Deferred, "4.3.0"));
    }
}
