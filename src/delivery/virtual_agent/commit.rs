//! virtual(8)'s group commit across worker threads. The scheduler runs up to
//! $virtual_destination_concurrency_limit (20 by default) deliveries to one domain at a
//! time, each usually one message (it batches only what waited for a busy destination),
//! while the privileged helper has `privileged::POOL` (4) processes: most of those workers would wait for a helper, each to fork a child and fsync
//! a Maildir's `new/` for a single message. Instead, at most `LEADERS` workers at a time
//! write to one mailbox (same kind, path, recipient address, uid and gid); a worker that
//! finds them all busy leaves its messages in the mailbox's queue and waits. A leader takes
//! everything queued, sends it as one request (several messages, one child, one fsync of
//! `new/` or one mbox lock and fsync; split only where a frame would overflow), answers each
//! waiting worker with its own replies, in order, and then hands the lead to the next
//! waiting worker, if any.
//!
//! Security role: none of its own; merged requests carry one recipient address, path and
//! ids, which the root helper checks against its own lookup. A leader that fails
//! (panics) drops the answer channels of the workers it took (they answer 4.3.0 `no
//! answer`) and still hands the lead on. Logs Postfix's Maildir access warnings for the
//! replies it distributes (`warn_access`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};

use super::{Virtual, warn_access};
use crate::delivery::dsn_of;
use crate::delivery::request::{self, Op, Reply};

/// Requests in flight at a time per mailbox (local(8)'s default destination concurrency).
pub(super) const LEADERS: usize = 2;

/// What makes two requests one: kind, path, recipient address and ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Target {
    maildir: bool,
    path: PathBuf,
    user: String,
    uid: u32,
    gid: u32,
}

/// The mailbox an `Op::Maildir` or `Op::Mbox` writes to; None for other requests.
pub(super) fn target(op: &Op) -> Option<Target> {
    let (maildir, path, user) = match op {
        Op::Maildir { dir, user, .. } => (true, dir, user),
        Op::Mbox { path, user, .. } => (false, path, user),
        _ => return None,
    };
    let (uid, gid) = op.ids();
    Some(Target {
        maildir,
        path: path.clone(),
        user: user.clone(),
        uid,
        gid,
    })
}

/// The messages (Maildir) or records (mbox) of a request.
pub(super) fn items(op: &mut Op) -> Option<&mut Vec<Vec<u8>>> {
    match op {
        Op::Maildir { contents, .. } => Some(contents),
        Op::Mbox { records, .. } => Some(records),
        _ => None,
    }
}

pub(super) fn no_answer() -> Reply {
    Reply::new(dsn_of("4.3.0"), "no answer")
}

/// A worker waiting for a leader: its messages and where to send their replies.
struct Waiter {
    items: Vec<Vec<u8>>,
    tx: Sender<Turn>,
}

/// What a waiting worker is told: its replies, or to lead (with its own messages back).
enum Turn {
    Done(Vec<Reply>),
    Lead(Vec<Vec<u8>>),
}

#[derive(Default)]
struct Queue {
    leaders: usize,
    waiting: Vec<Waiter>,
}

/// The per-mailbox queues of one agent.
#[derive(Default)]
pub(super) struct Commits {
    queues: Mutex<HashMap<Target, Queue>>,
}

impl Commits {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Target, Queue>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// No mailbox has a leader or a waiting worker.
    #[cfg(test)]
    pub(super) fn is_idle(&self) -> bool {
        self.lock().is_empty()
    }

    /// Perform `op` together with what other workers want written to the same mailbox:
    /// `op.replies()` replies, in order.
    pub(super) fn perform(&self, v: &Virtual, mut op: Op) -> Vec<Reply> {
        let (Some(key), Some(own)) = (target(&op), items(&mut op).map(std::mem::take)) else {
            return v.perform(&op);
        };
        let n = own.len();
        let turn = {
            let mut queues = self.lock();
            let q = queues.entry(key.clone()).or_default();
            if q.leaders < LEADERS {
                q.leaders += 1;
                Ok(own)
            } else {
                // The only sender is the waiter's: a leader that fails drops it, and this
                // worker answers `no answer` instead of waiting forever.
                let (tx, rx) = channel();
                q.waiting.push(Waiter { items: own, tx });
                Err(rx)
            }
        };
        let own = match turn {
            Ok(own) => own,
            Err(rx) => match rx.recv() {
                Ok(Turn::Done(rs)) => return rs,
                Ok(Turn::Lead(own)) => own,
                Err(_) => return vec![no_answer(); n],
            },
        };
        let (tx, rx) = channel();
        let lead = Lead {
            commits: self,
            key: &key,
        };
        lead.run(v, &op, Waiter { items: own, tx });
        drop(lead);
        // The leader's own replies, sent to itself by `Lead::run`.
        match rx.try_recv() {
            Ok(Turn::Done(rs)) => rs,
            _ => vec![no_answer(); n],
        }
    }
}

/// The lead for one mailbox, handed on when dropped (also when its holder panics).
struct Lead<'a> {
    commits: &'a Commits,
    key: &'a Target,
}

impl Lead<'_> {
    /// Write the leader's messages and everything waiting, and answer each worker.
    fn run(&self, v: &Virtual, template: &Op, own: Waiter) {
        let mut batch = vec![own];
        if let Some(q) = self.commits.lock().get_mut(self.key) {
            batch.append(&mut q.waiting);
        }
        let mut all = Vec::new();
        let mut answer = Vec::new();
        for w in batch {
            answer.push((w.items.len(), w.tx));
            all.extend(w.items);
        }
        let mut replies = perform_items(v, template, all).into_iter();
        for (count, tx) in answer {
            let rs: Vec<Reply> = replies.by_ref().take(count).collect();
            let _ = tx.send(Turn::Done(rs));
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut queues = self.commits.lock();
        let Some(q) = queues.get_mut(self.key) else {
            return;
        };
        while !q.waiting.is_empty() {
            let next = q.waiting.remove(0);
            // A worker that is gone cannot lead; try the next one.
            if next.tx.send(Turn::Lead(next.items)).is_ok() {
                return;
            }
        }
        q.leaders = q.leaders.saturating_sub(1);
        if q.leaders == 0 {
            queues.remove(self.key);
        }
    }
}

/// Perform the request `template` with `all` as its messages (records), in as few frames as
/// fit: one reply per message, in order.
pub(super) fn perform_items(v: &Virtual, template: &Op, all: Vec<Vec<u8>>) -> Vec<Reply> {
    let sizes: Vec<usize> = all.iter().map(Vec::len).collect();
    let mut all = all.into_iter();
    let mut out = Vec::with_capacity(sizes.len());
    for range in request::batch_chunks(&sizes) {
        let mut op = template.clone();
        if let Some(it) = items(&mut op) {
            *it = all.by_ref().take(range.len()).collect();
        }
        let rs = v.perform(&op);
        for r in &rs {
            warn_access(&op, r);
        }
        let mut rs = rs.into_iter();
        out.extend((0..range.len()).map(|_| rs.next().unwrap_or_else(no_answer)));
    }
    out
}
