//! Postern: a Postfix-compatible mail transfer agent.
//!
//! The crate is a library; the binaries in src/bin are thin wrappers named after Postfix's
//! commands. Modules are named after Postfix's daemons: `smtpd` receives, `cleanup` makes a
//! queue file, `queue` is the spool, `qmgr` schedules, `delivery` delivers, `bounce` writes
//! non-delivery notifications, `pickup` takes local submissions, `master` starts and stops
//! everything. `rewrite` (trivial-rewrite) is a leaf the daemons share: address classes,
//! sender-specified routing, the recipient_delimiter splitter and the transport resolver;
//! `received` (the Received: header, for smtpd and pickup) is another, and `reply` (one
//! reply type: SMTP code, RFC 3463 DSN, text, class from the code) is the one every side
//! answers with: smtpd's verdicts, the agents' outcomes, the SMTP client's reading of a
//! remote server. `sasl` wraps libsasl2 (the only FFI besides `sys`). Dependencies go one
//! way: qmgr (the scheduler) uses delivery (the agents), which never calls back (a
//! forwarded copy's queue ID comes back in the agent's outcome); smtpd uses pickup (to wake
//! it), never the reverse; postmap uses tables, never the reverse. `secrets` (the files read
//! as root before the privilege drop) is a leaf over `config` that the master and the root
//! helper fill and everything else reads from. `verify` (verify(8)) is the address
//! verification cache and its probe messages: smtpd asks it and queues probes, the
//! scheduler reports the probes' results to it; it uses cleanup and the queue only.
//! README.md and
//! spool-layout.md describe the whole.

pub mod bench;
pub mod bounce;
pub mod cleanup;
pub mod config;
pub mod delivery;
pub mod dns;
pub mod log;
pub mod master;
pub mod message;
pub mod pickup;
pub mod postconf;
pub mod postdrop;
pub mod postmap;
pub mod postsuper;
pub mod qmgr;
pub mod queue;
pub mod received;
pub mod reply;
pub mod rewrite;
pub mod sasl;
pub mod secrets;
pub mod sendmail;
pub mod showq;
pub mod smtpd;
pub mod smtputf8;
pub mod sys;
pub mod tables;
pub mod tls;
pub mod verify;
pub mod xtext;

/// A value shared between threads that SIGHUP can replace: readers clone the inner `Arc`.
pub type Shared<T> = std::sync::Arc<std::sync::RwLock<std::sync::Arc<T>>>;
