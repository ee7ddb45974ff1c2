//! virtual(8)'s group commit: the recipients of a scheduler batch (several messages for one
//! destination) are resolved one by one, and the writes for the same mailbox (same kind,
//! path, recipient address, uid and gid) are merged into one `request::Op` with several
//! messages (Maildir) or records (mbox), split only where a frame would overflow
//! (`request::batch_chunks`). The helper then forks one child, takes one lock and fsyncs
//! once for all of them, where it used to do so per message.
//!
//! Security role: none of its own. Each merged request still names one recipient address
//! with its path and ids, and the root helper resolves that address itself before writing
//! anything (`privileged::virtual_check`). Every recipient still gets its own answer, in
//! its own position, so the scheduler logs one `status=...` line per recipient as before.
//! Logs what the agent logs (configuration warnings, Maildir access problems).

use std::path::PathBuf;

use super::{Virtual, warn_access};
use crate::delivery::request::{self, Op, Reply};
use crate::delivery::vmailbox::CONFIG_ERROR;
use crate::delivery::{Outcome, Request, Status};

/// What makes two planned requests one: kind, path, recipient address and ids.
#[derive(PartialEq, Eq)]
struct Target {
    maildir: bool,
    path: PathBuf,
    user: String,
    uid: u32,
    gid: u32,
}

fn target(op: &Op) -> Option<Target> {
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
fn items(op: &mut Op) -> Option<&mut Vec<Vec<u8>>> {
    match op {
        Op::Maildir { contents, .. } => Some(contents),
        Op::Mbox { records, .. } => Some(records),
        _ => None,
    }
}

/// One merged request and, per message in it, the (request, recipient) it answers.
struct Group {
    target: Option<Target>,
    op: Op,
    slots: Vec<(usize, usize)>,
}

fn no_answer() -> Reply {
    Reply::new(Status::Deferred, "4.3.0", "no answer")
}

/// Deliver `reqs`: one outcome list per request, one outcome per recipient.
pub(super) fn deliver(v: &Virtual, reqs: &[Request<'_>]) -> Vec<Vec<Outcome>> {
    let mut replies: Vec<Vec<Option<Reply>>> = reqs
        .iter()
        .map(|r| vec![None; r.recipients.len()])
        .collect();
    match v.maps() {
        Ok(maps) => {
            let now = crate::log::timefmt::now_secs();
            let mut groups: Vec<Group> = Vec::new();
            for (i, req) in reqs.iter().enumerate() {
                for (j, rcpt) in req.recipients.iter().enumerate() {
                    let mut op = match v.plan(req, &maps, rcpt, now) {
                        Ok(op) => op,
                        Err(reply) => {
                            replies[i][j] = Some(reply);
                            continue;
                        }
                    };
                    let t = target(&op);
                    let same = groups.iter_mut().find(|g| t.is_some() && g.target == t);
                    match (same, items(&mut op)) {
                        (Some(g), Some(from)) => {
                            if let Some(into) = items(&mut g.op) {
                                into.append(from);
                            }
                            g.slots.push((i, j));
                        }
                        _ => groups.push(Group {
                            target: t,
                            op,
                            slots: vec![(i, j)],
                        }),
                    }
                }
            }
            for g in groups {
                for ((i, j), reply) in perform(v, g) {
                    replies[i][j] = Some(reply);
                }
            }
        }
        Err(e) => {
            crate::log::warning("virtual", &e);
            let r = Reply::new(Status::Deferred, "4.3.0", CONFIG_ERROR);
            for rs in replies.iter_mut() {
                rs.iter_mut().for_each(|x| *x = Some(r.clone()));
            }
        }
    }
    replies
        .into_iter()
        .map(|rs| {
            rs.into_iter()
                .enumerate()
                .map(|(j, r)| {
                    let r = r.unwrap_or_else(no_answer);
                    Outcome::new(j, r.status, &r.dsn, &r.text, "virtual")
                })
                .collect()
        })
        .collect()
}

/// Perform a merged request in as few frames as fit; each slot with its reply.
fn perform(v: &Virtual, mut g: Group) -> Vec<((usize, usize), Reply)> {
    let all = items(&mut g.op).map(std::mem::take).unwrap_or_default();
    let mut slots = g.slots.into_iter();
    if all.is_empty() {
        // Not a mailbox request (never planned, but answered all the same).
        let rs = v.perform(&g.op);
        return slots
            .zip(rs.into_iter().chain(std::iter::repeat_with(no_answer)))
            .collect();
    }
    let sizes: Vec<usize> = all.iter().map(Vec::len).collect();
    let mut all = all.into_iter();
    let mut out = Vec::new();
    for range in request::batch_chunks(&sizes) {
        let mut op = g.op.clone();
        if let Some(it) = items(&mut op) {
            *it = all.by_ref().take(range.len()).collect();
        }
        let rs = v.perform(&op);
        for r in &rs {
            warn_access(&op, r);
        }
        let mut rs = rs.into_iter();
        for slot in slots.by_ref().take(range.len()) {
            out.push((slot, rs.next().unwrap_or_else(no_answer)));
        }
    }
    out
}
