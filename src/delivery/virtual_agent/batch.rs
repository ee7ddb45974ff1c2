//! virtual(8)'s group commit: the recipients of a scheduler batch (several messages for one
//! destination) are resolved one by one, and the writes for the same mailbox (same kind,
//! path, recipient address, uid and gid) are merged into one `request::Op` with several
//! messages (Maildir) or records (mbox), split only where a frame would overflow
//! (`request::batch_chunks`), and handed to the mailbox's group commit (`commit`), which
//! may add what other workers want written there. The helper then forks one child, takes
//! one lock and fsyncs once for all of them, where it used to do so per message.
//!
//! Security role: none of its own. Each merged request still names one recipient address
//! with its path and ids, and the root helper resolves that address itself before writing
//! anything (`privileged::virtual_check`). Every recipient still gets its own answer, in
//! its own position, so the scheduler logs one `status=...` line per recipient as before.
//! Logs what the agent logs (configuration warnings, Maildir access problems).

use super::Virtual;
use super::commit::{Target, items, no_answer, target};
use crate::delivery::request::{Op, Reply};
use crate::delivery::vmailbox::CONFIG_ERROR;
use crate::delivery::{Outcome, Request, dsn_of};

/// One merged request and, per message in it, the (request, recipient) it answers.
struct Group {
    target: Option<Target>,
    op: Op,
    slots: Vec<(usize, usize)>,
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
            let r = Reply::new(dsn_of("4.3.0"), CONFIG_ERROR);
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
                    Outcome::new(j, r.dsn, &r.text, "virtual")
                })
                .collect()
        })
        .collect()
}

/// Perform a merged request (through the mailbox's group commit); each slot with its reply.
fn perform(v: &Virtual, g: Group) -> Vec<((usize, usize), Reply)> {
    let rs = v.commits.perform(v, g.op);
    let rs = rs.into_iter().chain(std::iter::repeat_with(no_answer));
    g.slots.into_iter().zip(rs).collect()
}
