//! virtual(8): delivery to virtual mailboxes. Each recipient is resolved (`vmailbox`) through
//! $virtual_mailbox_maps (the full address, the address without its extension, then
//! `@domain`), $virtual_uid_maps and $virtual_gid_maps to a Maildir (value ending in `/`) or
//! an mbox under $virtual_mailbox_base, and the message is written there with
//! Return-Path:, X-Original-To: and Delivered-To: prepended, as Postfix's virtual(8) does.
//! Maildir writing is `delivery::maildir` (shared with local(8)); mbox writing and its
//! $virtual_mailbox_lock locking are `delivery::mbox`. $virtual_mailbox_limit is the file
//! size limit (0: none); exceeding it bounces with 5.2.2.
//!
//! Outcomes: not in $virtual_mailbox_maps bounces `unknown user: "ADDR"` (5.1.1); a table
//! error, a bad path (`..`, outside the base), a uid below $virtual_minimum_uid, uid or gid
//! 0, or a missing uid/gid mapping defers with 4.3.5 `mail system configuration error` and
//! logs Postfix's warning; a table that cannot be opened defers with 4.3.0.
//!
//! Writes are grouped: the messages of a scheduler batch, and those other worker threads
//! want written to the same mailbox at the same time, go out as one request with several
//! messages (`batch`, `commit`); each recipient still gets its own outcome.
//!
//! Security role: runs as $mail_owner. Every write is a `request::Op` (Maildir or mbox)
//! whose `user` is the recipient address; as root it goes to the privileged helper, which
//! re-resolves the address from its own configuration and refuses anything else, and its
//! child writes as the mapped uid/gid. Not root: performed in-process as the running user
//! (the mapped ids are checked but not switched to).
//!
//! Logs `warning:` lines for configuration problems (`recipient ADDR: bad uid N in TABLE`,
//! ...) and, as Postfix, `maildir access problem for UID/GID=U/G: ...` with `perhaps you
//! need to create the maildirs in advance` when a Maildir cannot be written (EACCES);
//! delivery results are logged by the caller from the outcomes (`relay=virtual`,
//! `delivered to maildir` / `delivered to mailbox`).

use std::sync::{Arc, Mutex};

use super::lock::{LockPolicy, PathGuard};
use super::privileged::HelperHandle;
use super::request::{self, Op, Reply};
use super::vmailbox::{CONFIG_ERROR, Maps, Resolved, Store};
use super::{Agent, Outcome, Request, Status, dsn_of, mbox};
use crate::config::Config;
use crate::queue::Recipient;
use crate::tables::TableError;

/// The virtual delivery agent.
pub struct Virtual {
    cfg: Arc<Config>,
    helper: Option<Arc<HelperHandle>>,
    /// The tables, opened on first use (file tables reload themselves when they change).
    maps: Mutex<Option<Arc<Maps>>>,
    /// Writes to each mailbox, merged across worker threads (`commit`).
    commits: commit::Commits,
}

impl Virtual {
    /// `helper`: Some when running as root with the privileged helper started; None
    /// performs deliveries in-process as the running user.
    pub fn new(cfg: Arc<Config>, helper: Option<Arc<HelperHandle>>) -> Virtual {
        Virtual {
            cfg,
            helper,
            maps: Mutex::new(None),
            commits: commit::Commits::default(),
        }
    }

    /// The tables; an error (not cached) defers every recipient.
    fn maps(&self) -> Result<Arc<Maps>, TableError> {
        let mut cache = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cache.as_ref() {
            return Ok(m.clone());
        }
        let m = Arc::new(Maps::open(&self.cfg)?);
        *cache = Some(m.clone());
        Ok(m)
    }

    fn limit(&self) -> u64 {
        self.cfg.int("virtual_mailbox_limit").max(0) as u64
    }

    /// Perform `op` through the helper (root) or in-process: `op.replies()` replies.
    fn perform(&self, op: &Op) -> Vec<Reply> {
        match &self.helper {
            Some(h) => {
                // One delivery at a time per mbox from this process (see local).
                let _guard = match op {
                    Op::Mbox { path, .. } => Some(PathGuard::acquire(path)),
                    _ => None,
                };
                h.request_all(op)
            }
            None => request::execute(op),
        }
    }

    /// The request for one recipient with the tables opened for this delivery, or the
    /// answer when there is nothing to write (unknown user, configuration problem).
    fn plan(
        &self,
        req: &Request<'_>,
        maps: &Maps,
        rcpt: &Recipient,
        now: i64,
    ) -> Result<Op, Reply> {
        let addr = rcpt.address.as_str();
        let mb = match maps.resolve(addr) {
            Resolved::Found(mb) => mb,
            Resolved::Unknown => {
                let text = format!("unknown user: \"{}\"", addr.to_lowercase());
                return Err(Reply::new(dsn_of("5.1.1"), text));
            }
            Resolved::Problem(p) => {
                crate::log::warning("virtual", &p.warning);
                return Err(Reply::new(dsn_of(p.dsn), CONFIG_ERROR));
            }
        };
        let orig_to = rcpt.orig.as_deref().unwrap_or(addr);
        let user = addr.to_lowercase();
        Ok(match mb.store {
            Store::Maildir => {
                let mut content = mbox::delivery_headers(req.sender, orig_to, addr);
                content.extend_from_slice(req.content);
                Op::Maildir {
                    dir: mb.path,
                    user,
                    uid: mb.uid,
                    gid: mb.gid,
                    limit: self.limit(),
                    host: self.cfg.get("myhostname").to_string(),
                    contents: vec![content],
                }
            }
            Store::Mbox => Op::Mbox {
                path: mb.path,
                user,
                uid: mb.uid,
                gid: mb.gid,
                limit: self.limit(),
                locks: LockPolicy::from_param(&self.cfg, "virtual_mailbox_lock"),
                create: true,
                records: vec![mbox::record(req.sender, orig_to, addr, req.content, now)],
            },
        })
    }
}

/// Postfix's warnings for a Maildir that cannot be written (EACCES).
fn warn_access(op: &Op, reply: &Reply) {
    let Op::Maildir { uid, gid, .. } = op else {
        return;
    };
    if reply.status != Status::Sent && reply.text.contains(DENIED) {
        crate::log::warning(
            "virtual",
            format!(
                "maildir access problem for UID/GID={}/{}: {}",
                uid, gid, reply.text
            ),
        );
        crate::log::warning(
            "virtual",
            "perhaps you need to create the maildirs in advance",
        );
    }
}

/// strerror(EACCES), in a failed Maildir delivery's text.
const DENIED: &str = "Permission denied";

impl Agent for Virtual {
    fn name(&self) -> &str {
        "virtual"
    }

    /// Several messages (the scheduler's batch for one destination): the messages for one
    /// Maildir or mbox (same recipient address) go to the helper as one request (one child,
    /// one lock, one fsync); see `batch`.
    fn deliver_batch(&self, reqs: &[Request<'_>]) -> Vec<Vec<Outcome>> {
        batch::deliver(self, reqs)
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        batch::deliver(self, std::slice::from_ref(req))
            .pop()
            .unwrap_or_default()
    }

    /// `sendmail -bv`: the recipient is deliverable when it resolves to a mailbox.
    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        let maps = self.maps();
        let outcome = |i: usize, rcpt: &Recipient| {
            let (dsn, text) = match maps.as_ref().map(|m| m.resolve(&rcpt.address)) {
                Ok(Resolved::Found(mb)) => {
                    let kind = match mb.store {
                        Store::Maildir => "maildir",
                        Store::Mbox => "mailbox",
                    };
                    ("2.0.0", format!("delivers to {}", kind))
                }
                Ok(Resolved::Unknown) => (
                    "5.1.1",
                    format!("unknown user: \"{}\"", rcpt.address.to_lowercase()),
                ),
                Ok(Resolved::Problem(p)) => (p.dsn, CONFIG_ERROR.to_string()),
                Err(_) => ("4.3.0", CONFIG_ERROR.to_string()),
            };
            Outcome::new(i, dsn_of(dsn), &text, "virtual")
        };
        req.recipients
            .iter()
            .enumerate()
            .map(|(i, r)| outcome(i, r))
            .collect()
    }
}

mod batch;
mod commit;

#[cfg(test)]
mod tests;
