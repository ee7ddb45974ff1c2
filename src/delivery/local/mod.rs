//! local(8): delivery for $mydestination. For each recipient: the Delivered-To loop check,
//! alias expansion (`alias`: users, `/file`, `|command`, `:include:`, forwarding through
//! cleanup), then the user's mailbox: `$home_mailbox` (Maildir when it ends in `/`) or
//! `$mail_spool_directory/USER` as an mbox (format and locking in `delivery::mbox`).
//! `.forward` files are not supported.
//!
//! Security role: runs as $mail_owner. Every write to a mailbox, file or command is a
//! `request::Op` with the uid/gid it must run as; as root these go to the privileged helper
//! (`delivery::privileged`), otherwise they are performed in-process as the running user.
//! Commands and files named in aliases run as the alias database owner, or $default_privs
//! when that owner is root; the request names the table and key (or include file) that
//! listed them, so the helper can verify those ids instead of trusting this process.
//!
//! Follows local(8), aliases(5). Logs `warning: TYPE:NAME is unavailable. REASON` when the
//! alias database cannot be read; delivery results are logged by the caller from the
//! returned outcomes (one per final destination, `to=` the final address).

mod alias;
mod forward;

pub(crate) use alias::{Target, include_targets, table_owner, target_listed};

use std::sync::{Arc, Mutex};

use super::privileged::HelperHandle;
use super::request::{self, Op, Reply};
use super::{Agent, Outcome, Request, Status, lock::LockPolicy, mbox};
use crate::config::Config;
use crate::queue::Recipient;
use crate::tables::{TableError, TableList};

/// Deepest alias nesting followed before the recipient is bounced as a loop.
pub const MAX_DEPTH: usize = 100;

/// The local delivery agent.
pub struct Local {
    cfg: Arc<Config>,
    helper: Option<Arc<HelperHandle>>,
    aliases: Mutex<Option<Arc<TableList>>>,
}

/// Per-recipient state while expanding.
struct Rcpt<'a> {
    req: &'a Request<'a>,
    idx: usize,
    queue_addr: &'a str,
    /// X-Original-To: the recipient as first given.
    orig_to: String,
    /// Delivered-To: values already in the message, lower-cased.
    delivered: Vec<String>,
    /// Alias names expanded so far (each is expanded once).
    expanded: Vec<String>,
    out: Vec<Outcome>,
    forwards: Vec<forward::Forward>,
    now: i64,
}

impl Rcpt<'_> {
    fn outcome(&mut self, addr: &str, status: Status, dsn: &str, text: &str) {
        let mut o = Outcome::new(self.idx, status, dsn, text, "local");
        if addr != self.queue_addr {
            o.to = Some(addr.to_string());
        }
        self.out.push(o);
    }

    fn reply(&mut self, addr: &str, r: Reply) {
        self.outcome(addr, r.status, &r.dsn, &r.text);
    }
}

/// Split `user@domain` at the last `@`.
pub(crate) fn split_addr(addr: &str) -> (&str, &str) {
    match addr.rfind('@') {
        Some(i) => (&addr[..i], &addr[i + 1..]),
        None => (addr, ""),
    }
}

/// The values of Delivered-To: headers in the message's header section, lower-cased.
pub fn delivered_to_headers(content: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for line in content.split(|&b| b == b'\n') {
        if line.is_empty() || line == b"\r" {
            break;
        }
        if line.len() > 13 && line[..13].eq_ignore_ascii_case(b"delivered-to:") {
            out.push(
                String::from_utf8_lossy(&line[13..])
                    .trim()
                    .to_ascii_lowercase(),
            );
        }
    }
    out
}

impl Local {
    /// `helper`: Some when running as root with the privileged helper started; None
    /// performs deliveries in-process as the running user.
    pub fn new(cfg: Arc<Config>, helper: Option<Arc<HelperHandle>>) -> Local {
        Local {
            cfg,
            helper,
            aliases: Mutex::new(None),
        }
    }

    fn perform(&self, op: Op) -> Reply {
        match &self.helper {
            Some(h) => {
                // Serialise this process's deliveries to one mailbox or file before they reach
                // the helper: otherwise two children race for the mailbox locks, and the loser
                // waits out a retry backoff.
                let _guard = match &op {
                    Op::Mbox { path, .. } | Op::File { path, .. } => {
                        Some(crate::delivery::lock::PathGuard::acquire(path))
                    }
                    _ => None,
                };
                h.request(&op)
            }
            None => request::execute(&op),
        }
    }

    fn alias_tables(&self) -> Result<Arc<TableList>, TableError> {
        let mut cache = self.aliases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = cache.as_ref() {
            return Ok(t.clone());
        }
        let t = Arc::new(TableList::open_list(self.cfg.get("alias_maps"))?);
        *cache = Some(t.clone());
        Ok(t)
    }

    fn limit(&self) -> u64 {
        self.cfg.int("mailbox_size_limit").max(0) as u64
    }

    /// Deliver to the mailbox of the Unix account `user` (the final step for `addr`).
    fn mailbox(&self, r: &mut Rcpt<'_>, addr: &str, user: &str) {
        let acct = match crate::sys::user_by_name(user) {
            Ok(Some(a)) => a,
            Ok(None) => {
                r.outcome(
                    addr,
                    Status::Bounced,
                    "5.1.1",
                    &format!("unknown user: \"{}\"", user),
                );
                return;
            }
            Err(e) => {
                r.outcome(
                    addr,
                    Status::Deferred,
                    "4.3.0",
                    &format!("cannot look up user {}: {}", user, e),
                );
                return;
            }
        };
        let sender = r.req.sender;
        let home_mailbox = self.cfg.get("home_mailbox").trim();
        let op = if home_mailbox.is_empty() {
            let path = std::path::Path::new(self.cfg.get("mail_spool_directory")).join(&acct.name);
            Op::Mbox {
                path,
                user: acct.name.clone(),
                uid: acct.uid,
                gid: acct.gid,
                limit: self.limit(),
                locks: LockPolicy::from_config(&self.cfg),
                create: true,
                record: mbox::record(sender, &r.orig_to, addr, r.req.content, r.now),
            }
        } else {
            let path = std::path::Path::new(&acct.home).join(home_mailbox);
            if home_mailbox.ends_with('/') {
                let mut content = mbox::delivery_headers(sender, &r.orig_to, addr);
                content.extend_from_slice(r.req.content);
                Op::Maildir {
                    dir: path,
                    user: acct.name.clone(),
                    uid: acct.uid,
                    gid: acct.gid,
                    limit: self.limit(),
                    host: self.cfg.get("myhostname").to_string(),
                    content,
                }
            } else {
                Op::Mbox {
                    path,
                    user: acct.name.clone(),
                    uid: acct.uid,
                    gid: acct.gid,
                    limit: self.limit(),
                    locks: LockPolicy::from_config(&self.cfg),
                    create: true,
                    record: mbox::record(sender, &r.orig_to, addr, r.req.content, r.now),
                }
            }
        };
        let reply = self.perform(op);
        r.reply(addr, reply);
    }

    /// Deliver to one (fully qualified) local address: loop check, aliases, mailbox.
    fn resolve(&self, r: &mut Rcpt<'_>, addr: &str, depth: usize, direct: bool) {
        let lower = addr.to_ascii_lowercase();
        if depth > MAX_DEPTH || r.delivered.contains(&lower) {
            r.outcome(
                addr,
                Status::Bounced,
                "5.4.6",
                &format!("mail forwarding loop for {}", addr),
            );
            return;
        }
        let (local, _domain) = split_addr(addr);
        let local = local.to_lowercase();
        let delim = self.cfg.get("recipient_delimiter");
        let base = match delim.chars().next() {
            Some(_) => local
                .find(|c| delim.contains(c))
                .map(|i| local[..i].to_string())
                .unwrap_or_else(|| local.clone()),
            None => local.clone(),
        };
        if !direct {
            let mut keys = vec![local.clone()];
            if base != local {
                keys.push(base.clone());
            }
            for key in keys {
                if r.expanded.contains(&key) {
                    continue;
                }
                match self.lookup_alias(&key) {
                    Err(e) => {
                        crate::log::lines::table_unavailable("local", e.table(), &table_reason(&e));
                        r.outcome(
                            addr,
                            Status::Deferred,
                            "4.3.0",
                            "alias database unavailable",
                        );
                        return;
                    }
                    Ok(Some((value, origin))) => {
                        r.expanded.push(key);
                        self.expand(r, addr, &value, &origin, depth);
                        return;
                    }
                    Ok(None) => {}
                }
            }
        }
        self.mailbox(r, addr, &base);
    }
}

fn table_reason(e: &TableError) -> String {
    match e {
        TableError::Unavailable { reason, .. } | TableError::Failed { reason, .. } => {
            reason.clone()
        }
        TableError::UnsupportedType { .. } => e.to_string(),
    }
}

impl Agent for Local {
    fn name(&self) -> &str {
        "local"
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        let delivered = delivered_to_headers(req.content);
        let now = crate::log::timefmt::now_secs();
        let mut out = Vec::new();
        for (idx, rcpt) in req.recipients.iter().enumerate() {
            out.extend(self.deliver_one(req, idx, rcpt, &delivered, now));
        }
        out
    }
}

impl Local {
    fn deliver_one(
        &self,
        req: &Request<'_>,
        idx: usize,
        rcpt: &Recipient,
        delivered: &[String],
        now: i64,
    ) -> Vec<Outcome> {
        let mut addr = rcpt.address.clone();
        if !addr.contains('@') {
            addr = format!("{}@{}", addr, self.cfg.get("myhostname"));
        }
        let mut r = Rcpt {
            req,
            idx,
            queue_addr: &rcpt.address,
            orig_to: rcpt.orig.clone().unwrap_or_else(|| rcpt.address.clone()),
            delivered: delivered.to_vec(),
            expanded: Vec::new(),
            out: Vec::new(),
            forwards: Vec::new(),
            now,
        };
        self.resolve(&mut r, &addr, 0, false);
        self.flush_forwards(&mut r);
        if r.out.is_empty() {
            // An alias that expands to nothing (e.g. only blank targets).
            r.outcome(
                &addr,
                Status::Bounced,
                "5.1.1",
                "alias expands to no recipients",
            );
        }
        r.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_delivered_to_in_headers_only() {
        let msg =
            b"Subject: x\nDelivered-To: A@B.test\ndelivered-to:  c@d\n\nDelivered-To: body@x\n";
        assert_eq!(delivered_to_headers(msg), vec!["a@b.test", "c@d"]);
        assert_eq!(split_addr("a@b@c"), ("a@b", "c"));
        assert_eq!(split_addr("root"), ("root", ""));
    }
}
