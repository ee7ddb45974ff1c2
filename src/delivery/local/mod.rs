//! local(8): delivery for $mydestination. For each recipient, in Postfix's order: the
//! Delivered-To loop check, alias expansion (`alias`: users, `/file`, `|command`,
//! `:include:`, forwarding through cleanup), the user's `.forward` file (`dotforward`),
//! then the mailbox: $mailbox_transport_maps / $mailbox_transport hand the recipient to
//! another transport (`pass`, acted on by the scheduler); an unknown user goes to
//! $fallback_transport_maps / $fallback_transport / $luser_relay or bounces (`pass`);
//! $mailbox_command_maps / $mailbox_command run a command as the user
//! (`mailbox_command`, with `run_command` and `environ`); else `$home_mailbox` (Maildir
//! when it ends in `/`) or `$mail_spool_directory/USER` as an mbox (format and locking in
//! `delivery::mbox`). Which domains are ours and where a local part's
//! `+extension` starts come from crate::rewrite (one `Rewrite` per `Local`). Address
//! verification (`sendmail -bv`) is `Local`'s `Agent::verify` (`verify`): the same alias
//! walk, read-only.
//!
//! Security role: runs as $mail_owner. Every write to a mailbox, file or command is a
//! `request::Op` with the uid/gid it must run as; as root these go to the privileged helper
//! (`delivery::privileged`), otherwise they are performed in-process as the running user.
//! Commands and files named in aliases run as the alias database owner (its uid and its
//! own gid), or $default_privs when that owner is root; the request names the table and key (or include file) that
//! listed them, so the helper can verify those ids instead of trusting this process.
//!
//! Follows local(8), aliases(5). Logs `warning: TYPE:NAME is unavailable. REASON` when the
//! alias database cannot be read, `warning: alias database loop for NAME` and `warning:
//! recipient nesting limit exceeded for ADDRESS` when expansion passes `NESTING_LIMIT`;
//! delivery results are logged by the caller from the returned outcomes (one per final
//! destination, `to=` the final address).

mod alias;
mod dotforward;
mod environ;
mod forward;
mod mailbox_command;
mod owner;
mod pass;
mod run_command;
mod verify;

use std::sync::{Arc, Mutex};

use super::privileged::HelperHandle;
use super::request::{self, Op, Reply};
use super::{Agent, Outcome, Request, dsn_of, lock::LockPolicy, mbox};
use crate::config::Config;
use crate::queue::Recipient;
use crate::reply::Dsn;
use crate::rewrite::Rewrite;
use crate::tables::{TableError, TableList};

/// Postfix's recursion limit: each address costs 2 levels (deliver_recipient, then
/// deliver_switch), each alias target 1 more (resolve), each include file 1. Past it, an
/// alias is bounced as `alias database loop for NAME` (so `a: b`, `b: a` sent to `a` ends
/// with `b`, as in Postfix) and an address as `recipient nesting limit exceeded`.
pub const NESTING_LIMIT: usize = 100;

/// The local delivery agent.
pub struct Local {
    cfg: Arc<Config>,
    /// The address classes and recipient_delimiter splitter of `cfg`.
    rewrite: Rewrite,
    helper: Option<Arc<HelperHandle>>,
    aliases: Mutex<Option<Arc<TableList>>>,
    /// A configuration local(8) refuses to run with (`size_limit_error`): every delivery
    /// is deferred, as Postfix's local exits at start and its mail waits.
    config_error: Option<String>,
}

/// local(8)'s start-up check: a limited mailbox_size_limit must not be smaller than
/// message_size_limit (nor may that be unlimited), or a message could be accepted that no
/// mailbox can take.
pub fn size_limit_error(cfg: &Config) -> Option<String> {
    let mailbox = cfg.int("mailbox_size_limit");
    let message = cfg.int("message_size_limit");
    if mailbox <= 0 {
        return None;
    }
    if message <= 0 {
        return Some(
            "configuration error: mailbox_size_limit is limited but message_size_limit is unlimited"
                .into(),
        );
    }
    (mailbox < message).then(|| {
        "configuration error: mailbox_size_limit is smaller than message_size_limit".into()
    })
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
    /// Deliveries made so far for this recipient (`mailbox LOCAL`, `file UID PATH`, ...):
    /// each is made once, as Postfix's duplicate filter does.
    seen: std::collections::HashSet<String>,
    out: Vec<Outcome>,
    forwards: Vec<forward::Forward>,
    /// The owner of the list being expanded, if it has one (`owner`).
    owner: Option<owner::ListOwner>,
    now: i64,
    /// Group commit (`deliver_batch`): mbox appends held back as (index into `out` of a
    /// placeholder outcome, request); None performs them at once.
    held: Option<Vec<(usize, Op)>>,
}

impl Rcpt<'_> {
    fn outcome(&mut self, addr: &str, dsn: Dsn, text: &str) {
        let mut o = Outcome::new(self.idx, dsn, text, "local");
        if addr != self.queue_addr {
            o.to = Some(addr.to_string());
        }
        self.out.push(o);
    }

    fn reply(&mut self, addr: &str, r: Reply) {
        self.outcome(addr, r.dsn, &r.text);
    }

    /// Record a delivery; false when it was already made for this recipient.
    fn first_time(&mut self, key: String) -> bool {
        self.seen.insert(key)
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
    let (headers, _) = crate::message::headers(content);
    headers
        .iter()
        .filter(|h| h.is(content, "delivered-to"))
        .map(|h| h.value_text(content).to_ascii_lowercase())
        .collect()
}

impl Local {
    /// `helper`: Some when running as root with the privileged helper started; None
    /// performs deliveries in-process as the running user.
    pub fn new(cfg: Arc<Config>, helper: Option<Arc<HelperHandle>>) -> Local {
        let config_error = size_limit_error(&cfg);
        if let Some(e) = &config_error {
            crate::log::fatal("local", e);
        }
        Local {
            rewrite: Rewrite::new(&cfg),
            cfg,
            helper,
            aliases: Mutex::new(None),
            config_error,
        }
    }

    fn perform(&self, op: Op) -> Reply {
        self.perform_all(&op)
            .into_iter()
            .next()
            .unwrap_or_else(|| Reply::new(dsn_of("4.3.0"), "no answer"))
    }

    /// Perform `op` through the helper (root) or in-process: `op.replies()` replies.
    fn perform_all(&self, op: &Op) -> Vec<Reply> {
        match &self.helper {
            Some(h) => {
                // Serialise this process's deliveries to one mailbox or file before they reach
                // the helper: otherwise two children race for the mailbox locks, and the loser
                // waits out a retry backoff.
                let _guard = match op {
                    Op::Mbox { path, .. } | Op::File { path, .. } => {
                        Some(crate::delivery::lock::PathGuard::acquire(path))
                    }
                    _ => None,
                };
                h.request_all(op)
            }
            None => request::execute(op),
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
    fn mailbox(&self, r: &mut Rcpt<'_>, addr: &str, user: &str, level: usize) {
        if !r.first_time(format!("mailbox {}", split_addr(addr).0.to_lowercase())) {
            return;
        }
        if self.pass_mailbox(r, addr, user) {
            return;
        }
        let acct = match crate::sys::user_by_name(user) {
            Ok(Some(a)) => a,
            Ok(None) => return self.unknown_user(r, addr, user, level),
            Err(e) => {
                r.outcome(
                    addr,
                    dsn_of("4.3.0"),
                    &format!("cannot look up user {}: {}", user, e),
                );
                return;
            }
        };
        if self.deliver_mailbox_command(r, addr, &acct) {
            return;
        }
        let sender = r.req.sender;
        let home_mailbox = self.cfg.get("home_mailbox").trim();
        let spool_dir = self.cfg.get("mail_spool_directory");
        let spool = home_mailbox.is_empty();
        let path = if spool {
            std::path::Path::new(spool_dir).join(&acct.name)
        } else {
            std::path::Path::new(&acct.home).join(home_mailbox)
        };
        // Maildir: home_mailbox ending in `/`, or (without home_mailbox) a spool directory
        // ending in `/`: $mail_spool_directory/USER/ (local(8)).
        let maildir = if spool {
            spool_dir.ends_with('/')
        } else {
            home_mailbox.ends_with('/')
        };
        let op = if maildir {
            let mut content = mbox::delivery_headers(sender, &r.orig_to, addr);
            content.extend_from_slice(r.req.content);
            Op::Maildir {
                dir: path,
                user: acct.name.clone(),
                uid: acct.uid,
                gid: acct.gid,
                limit: self.limit(),
                host: self.cfg.get("myhostname").to_string(),
                contents: vec![content],
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
                records: vec![mbox::record(sender, &r.orig_to, addr, r.req.content, r.now)],
            }
        };
        if let (Op::Mbox { .. }, Some(_)) = (&op, &r.held) {
            // Filled in by `deliver_batch` once the batched append has been fsynced.
            r.outcome(addr, dsn_of("4.3.0"), "mailbox delivery not attempted");
            let slot = r.out.len() - 1;
            if let Some(held) = r.held.as_mut() {
                held.push((slot, op));
            }
            return;
        }
        let reply = self.perform(op);
        r.reply(addr, reply);
    }

    /// Deliver to one (fully qualified) local address: nesting and loop checks, aliases,
    /// mailbox. `level` is Postfix's recursion level so far; `exp_from` the alias whose
    /// expansion named `addr` (an alias that lists itself goes to the mailbox).
    fn resolve(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        level: usize,
        direct: bool,
        exp_from: Option<&str>,
    ) {
        let level = level + 1;
        if level > NESTING_LIMIT {
            crate::log::lines::recipient_nesting_limit("local", addr);
            let text = "recipient nesting limit exceeded";
            return r.outcome(addr, dsn_of("5.4.6"), text);
        }
        // Each address once per level (Postfix's duplicate filter): a loop through several
        // lists grows linearly, not exponentially, up to the limit.
        let lower = addr.to_ascii_lowercase();
        if !r.first_time(format!("recipient {} {}", level, lower)) {
            return;
        }
        if r.delivered.contains(&lower) {
            let text = format!("mail forwarding loop for {}", addr);
            return r.outcome(addr, dsn_of("5.4.6"), &text);
        }
        let level = level + 1;
        let (local, _domain) = split_addr(addr);
        let local = local.to_lowercase();
        // Not split when the base would be empty (`+foo` is the user `+foo`).
        let base = self.rewrite.split(&local).0.to_string();
        if !direct {
            let mut keys = vec![local.clone()];
            if base != local {
                keys.push(base.clone());
            }
            for key in keys {
                if exp_from.is_some_and(|f| f.eq_ignore_ascii_case(&key)) {
                    continue;
                }
                if level > NESTING_LIMIT {
                    crate::log::lines::alias_loop("local", &key);
                    let text = format!("alias database loop for {}", key);
                    return r.outcome(addr, dsn_of("5.4.6"), &text);
                }
                match self.lookup_alias(&key) {
                    Err(e) => {
                        crate::log::lines::table_unavailable("local", e.table(), &table_reason(&e));
                        let text = "alias database unavailable";
                        return r.outcome(addr, dsn_of("4.3.0"), text);
                    }
                    Ok(Some((value, origin))) => {
                        return self.expand(r, addr, &value, &origin, level, &key);
                    }
                    Ok(None) => {}
                }
            }
        }
        if !direct && self.owner_indirect(r, addr) {
            return;
        }
        if !direct && self.dotforward(r, addr, &base, level) {
            return;
        }
        self.mailbox(r, addr, &base, level);
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
        self.deliver_request(req, false).0
    }

    /// `sendmail -bv`: aliases and accounts checked read-only (`verify`).
    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        verify::verify(&self.cfg, &self.rewrite, req)
    }

    /// Group commit: every recipient goes through the loop check, aliases and user lookup
    /// as in `deliver`, but the mbox appends of all requests are held back, grouped by
    /// mailbox (same path, account, limit and locking) and performed as one append per
    /// mailbox: one helper request or in-process call, one lock, one fsync. Files, commands,
    /// Maildir and forwarding are performed per request as in `deliver`. The outcome lists
    /// are those `deliver` would give, request by request.
    fn deliver_batch(&self, reqs: &[Request<'_>]) -> Vec<Vec<Outcome>> {
        if reqs.len() <= 1 {
            return reqs.iter().map(|r| self.deliver(r)).collect();
        }
        let mut outs = Vec::with_capacity(reqs.len());
        let mut groups: Vec<MboxGroup> = Vec::new();
        for (k, req) in reqs.iter().enumerate() {
            let (out, held) = self.deliver_request(req, true);
            for (slot, op) in held {
                let Op::Mbox {
                    path,
                    user,
                    uid,
                    gid,
                    limit,
                    locks,
                    create,
                    records,
                } = op
                else {
                    continue;
                };
                let target = MboxTarget {
                    path,
                    user,
                    uid,
                    gid,
                    limit,
                    locks,
                    create,
                };
                let records = records.into_iter().map(|record| ((k, slot), record));
                match groups.iter_mut().find(|g| g.target == target) {
                    Some(g) => g.records.extend(records),
                    None => groups.push(MboxGroup {
                        target,
                        records: records.collect(),
                    }),
                }
            }
            outs.push(out);
        }
        for g in groups {
            let (slots, records): (Vec<_>, Vec<_>) = g.records.into_iter().unzip();
            let replies = self.perform_mbox_batch(&g.target, records);
            for ((k, slot), reply) in slots.into_iter().zip(replies) {
                if let Some(o) = outs.get_mut(k).and_then(|o| o.get_mut(slot)) {
                    o.set_dsn(reply.dsn);
                    o.text = reply.text;
                }
            }
        }
        outs
    }
}

/// The mailbox an mbox append goes to, with everything that must match for two appends to
/// share one lock and fsync.
#[derive(PartialEq)]
struct MboxTarget {
    path: std::path::PathBuf,
    user: String,
    uid: u32,
    gid: u32,
    limit: u64,
    locks: LockPolicy,
    create: bool,
}

/// Held-back appends to one mailbox: ((request, outcome index), record), in delivery order.
struct MboxGroup {
    target: MboxTarget,
    records: Vec<((usize, usize), Vec<u8>)>,
}

impl Local {
    /// All recipients of one request; with `hold`, mbox appends are not performed but
    /// returned as (index into the outcomes of a placeholder, request).
    fn deliver_request(&self, req: &Request<'_>, hold: bool) -> (Vec<Outcome>, Vec<(usize, Op)>) {
        if self.config_error.is_some() {
            let out = (0..req.recipients.len())
                .map(|i| {
                    Outcome::new(
                        i,
                        dsn_of("4.3.5"),
                        "mail system configuration error",
                        "local",
                    )
                })
                .collect();
            return (out, Vec::new());
        }
        let delivered = delivered_to_headers(req.content);
        let now = crate::log::timefmt::now_secs();
        let mut out = Vec::new();
        let mut held = Vec::new();
        for (idx, rcpt) in req.recipients.iter().enumerate() {
            let (o, h) = self.deliver_one(req, idx, rcpt, &delivered, now, hold);
            let base = out.len();
            held.extend(h.into_iter().map(|(slot, op)| (base + slot, op)));
            out.extend(o);
        }
        (out, held)
    }

    /// Append the records to one mailbox as one unit per frame-sized chunk; one reply per
    /// record, in order.
    fn perform_mbox_batch(&self, t: &MboxTarget, records: Vec<Vec<u8>>) -> Vec<Reply> {
        let n = records.len();
        let sizes: Vec<usize> = records.iter().map(Vec::len).collect();
        let mut records = records.into_iter();
        let mut replies = Vec::with_capacity(n);
        for chunk in request::batch_chunks(&sizes) {
            let recs: Vec<Vec<u8>> = records.by_ref().take(chunk.len()).collect();
            let op = Op::Mbox {
                path: t.path.clone(),
                user: t.user.clone(),
                uid: t.uid,
                gid: t.gid,
                limit: t.limit,
                locks: t.locks,
                create: t.create,
                records: recs,
            };
            let want = op.replies();
            let mut got = self.perform_all(&op);
            got.resize_with(want, || {
                Reply::new(dsn_of("4.3.0"), "mailbox delivery got no answer")
            });
            replies.extend(got);
        }
        replies
    }

    fn deliver_one(
        &self,
        req: &Request<'_>,
        idx: usize,
        rcpt: &Recipient,
        delivered: &[String],
        now: i64,
        hold: bool,
    ) -> (Vec<Outcome>, Vec<(usize, Op)>) {
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
            seen: Default::default(),
            out: Vec::new(),
            forwards: Vec::new(),
            owner: None,
            now,
            held: hold.then(Vec::new),
        };
        self.resolve(&mut r, &addr, 0, false, None);
        self.flush_forwards(&mut r);
        if r.out.is_empty() {
            // An alias that expands to nothing (e.g. only blank targets).
            r.outcome(&addr, dsn_of("5.1.1"), "alias expands to no recipients");
        }
        (r.out, r.held.unwrap_or_default())
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

    #[test]
    fn mailbox_limit_below_message_limit_is_refused_and_defers() {
        let dir = std::path::Path::new("/nonexistent");
        let ok = Config::from_pairs(dir, &[]);
        assert_eq!(size_limit_error(&ok), None);
        let unlimited = Config::from_pairs(dir, &[("mailbox_size_limit", "0")]);
        assert_eq!(size_limit_error(&unlimited), None);
        let small = Config::from_pairs(dir, &[("mailbox_size_limit", "1000")]);
        assert_eq!(
            size_limit_error(&small).as_deref(),
            Some("configuration error: mailbox_size_limit is smaller than message_size_limit")
        );
        let cfg = Config::from_pairs(
            dir,
            &[("mailbox_size_limit", "1000"), ("message_size_limit", "0")],
        );
        assert!(size_limit_error(&cfg).unwrap().contains("is unlimited"));
        let local = Local::new(Arc::new(small), None);
        let rcpts = [Recipient::new("root@x")];
        let out = local.deliver(&Request {
            queue_id: "A",
            sender: "",
            arrival: std::time::SystemTime::now(),
            content: b"\n",
            recipients: &rcpts,
            nexthop: "x",
            ret: None,
            envid: None,
            attrs: &[],
        });
        assert_eq!(
            (out[0].dsn.as_str(), out[0].text.as_str()),
            ("4.3.5", "mail system configuration error")
        );
    }
}
