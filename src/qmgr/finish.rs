//! What happens when every job of an active message has reported: finished recipients are
//! recorded, failures are returned to the sender in one non-delivery notification, and the
//! message is removed, or deferred with backoff, or expired after maximal_queue_lifetime.
//! A verification message (`sendmail -bv`) instead gets one delivery status report for all
//! its recipients and is removed; an address verification probe gives its verdict to the
//! verification cache and is removed (no notification of any kind). `ActiveMessage` is
//! defined here so that this module never imports the scheduler that calls it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Admin, QmgrContext};
use crate::bounce::{self, Failure};
use crate::delivery::{Outcome, Status};
use crate::log::{self, lines};
use crate::queue::{QueueFile, QueueName};
use crate::reply::{Class, Dsn};

const COMPONENT: &str = "qmgr";

/// A message in the active queue (the scheduler owns it; `finish` completes it).
pub struct ActiveMessage {
    pub qf: QueueFile,
    pub content: Arc<Vec<u8>>,
    pub outstanding: usize,
    /// Outcomes per queue-file recipient index.
    pub results: HashMap<usize, Vec<Outcome>>,
    pub active_since: SystemTime,
    /// A postsuper request to apply once the deliveries in progress have finished.
    pub admin: Option<Admin>,
    /// Recipients handed to another transport whose delivery is still under way (queue
    /// index, how many): not marked done before it ends.
    pub passes: HashMap<usize, usize>,
}

/// An active message whose jobs are all done.
pub struct Pending {
    msg: ActiveMessage,
}

impl Pending {
    pub fn new(msg: ActiveMessage) -> Pending {
        Pending { msg }
    }
}

/// Whether a recipient's DSN NOTIFY asks for `kind` (FAILURE or DELAY) notices; without
/// NOTIFY both are sent, as RFC 3461 and Postfix do.
pub fn wants(r: &crate::queue::Recipient, kind: &str) -> bool {
    match &r.notify {
        None => true,
        Some(n) => n.split(',').any(|w| w.trim().eq_ignore_ascii_case(kind)),
    }
}

/// The retry delay for a message of this age: its age, clamped to
/// [minimal_backoff_time, maximal_backoff_time], as Postfix's qmgr computes it.
pub fn backoff(age: Duration, min: Duration, max: Duration) -> Duration {
    age.clamp(min, max.max(min))
}

/// Settle a message; returns the IDs of notifications it queued.
pub fn finish(ctx: &QmgrContext, id: &str, p: &mut Pending) -> Vec<String> {
    let msg = &mut p.msg;
    let q = &ctx.queue;
    if msg.admin == Some(Admin::Delete) {
        // postsuper -d: wins over retries and notifications.
        match crate::queue::admin::apply(q, crate::queue::admin::Op::Delete, id, QueueName::Active)
        {
            Ok(_) => log::info("postsuper", format!("{}: removed", id)),
            Err(e) => log::warning(COMPONENT, format!("{}: remove: {}", id, e)),
        }
        return Vec::new();
    }
    if crate::verify::probe::probed(&msg.qf.envelope).is_some() {
        finish_probe(ctx, id, msg);
        return Vec::new();
    } else if super::verify::is_verify(&msg.qf.envelope)
        && let Some(ids) = finish_verify(ctx, id, msg)
    {
        return ids;
    }
    let mut failures: Vec<(usize, Failure)> = Vec::new();
    let mut deferred: Vec<(usize, Dsn, String)> = Vec::new();
    let mut done: Vec<usize> = Vec::new();
    let mut untried: Vec<usize> = Vec::new();
    let pending: Vec<usize> = msg.qf.pending().map(|(i, _)| i).collect();
    for qi in pending {
        let outcomes = msg.results.remove(&qi).unwrap_or_default();
        if let Some(d) = outcomes.iter().find(|o| o.status == Status::Deferred) {
            deferred.push((qi, d.dsn, d.text.clone()));
            continue;
        }
        if outcomes.is_empty() {
            // Never attempted (the system is stopping): not a failure, no backoff, no expiry.
            untried.push(qi);
            continue;
        }
        for o in outcomes.iter().filter(|o| o.status == Status::Bounced) {
            let r = &msg.qf.envelope.recipients[qi];
            failures.push((qi, Failure::from_outcome(r, o)));
        }
        done.push(qi);
    }

    let now = SystemTime::now();
    let age = now
        .duration_since(msg.qf.envelope.arrival)
        .unwrap_or(Duration::ZERO);
    let lifetime = if msg.qf.envelope.sender.is_empty() {
        ctx.cfg.time("bounce_queue_lifetime")
    } else {
        ctx.cfg.time("maximal_queue_lifetime")
    };
    let expired = !deferred.is_empty() && age >= lifetime;
    if expired {
        lines::expired(id, &msg.qf.envelope.sender);
        for (qi, dsn, text) in deferred.drain(..) {
            let r = &msg.qf.envelope.recipients[qi];
            let mut f = Failure::new(r, &text);
            f.dsn = dsn.with_class(Class::Permanent).to_string();
            failures.push((qi, f));
            done.push(qi);
        }
    }

    let mut new_ids = Vec::new();
    if !failures.is_empty() {
        // DSN NOTIFY: only recipients that asked for failure notices (the default) get one.
        let list: Vec<Failure> = failures
            .iter()
            .filter(|(qi, _)| wants(&msg.qf.envelope.recipients[*qi], "FAILURE"))
            .map(|(_, f)| f.clone())
            .collect();
        match bounce::non_delivery(
            &ctx.cfg,
            &ctx.queue,
            id,
            &msg.qf.envelope,
            &msg.content,
            &list,
        ) {
            Ok(Some(nid)) => new_ids.push(nid),
            Ok(None) => {}
            Err(e) => {
                // Keep the failed recipients until a notification can be queued.
                log::warning(
                    "bounce",
                    format!("{}: cannot queue non-delivery notification: {}", id, e),
                );
                for (qi, f) in failures {
                    done.retain(|d| *d != qi);
                    if !deferred.iter().any(|(d, _, _)| *d == qi) {
                        deferred.push((qi, crate::delivery::dsn_of("4.3.0"), f.text));
                    }
                }
            }
        }
    }

    if deferred.is_empty() && untried.is_empty() {
        match q.recycle(id, QueueName::Active) {
            Ok(()) => lines::removed(id),
            Err(e) => log::warning(COMPONENT, format!("{}: remove: {}", id, e)),
        }
        return new_ids;
    }
    for qi in &done {
        let _ = msg.qf.mark_done(*qi);
    }
    // delay_warning_time: once per message, tell the sender what is still waiting.
    let warn_after = ctx.cfg.time("delay_warning_time");
    if !warn_after.is_zero()
        && age >= warn_after
        && !msg.qf.envelope.delay_warned
        && !deferred.is_empty()
    {
        let waiting: Vec<Failure> = deferred
            .iter()
            .filter(|(qi, _, _)| wants(&msg.qf.envelope.recipients[*qi], "DELAY"))
            .map(|(qi, dsn, text)| {
                let mut f = Failure::new(&msg.qf.envelope.recipients[*qi], text);
                f.dsn = dsn.to_string();
                f
            })
            .collect();
        match bounce::delay_warning(
            &ctx.cfg,
            &ctx.queue,
            id,
            &msg.qf.envelope,
            &msg.content,
            &waiting,
        ) {
            Ok(nid) => {
                new_ids.extend(nid);
                let _ = msg.qf.mark_delay_warned();
            }
            Err(e) => log::warning(
                "bounce",
                format!("{}: cannot queue delay warning: {}", id, e),
            ),
        }
    }
    if let Err(e) = msg.qf.sync() {
        log::warning(COMPONENT, format!("{}: sync queue file: {}", id, e));
    }
    write_defer_log(ctx, id, msg, &deferred);
    if let Some(op) = msg.admin {
        // postsuper -h / -r on an active message: hold or requeue instead of deferring.
        let (to, text) = match op {
            Admin::Hold => (QueueName::Hold, "placed on hold"),
            _ => (QueueName::Incoming, "requeued"),
        };
        match q.move_to(id, QueueName::Active, to) {
            Ok(()) => log::info("postsuper", format!("{}: {}", id, text)),
            Err(e) => log::warning(
                COMPONENT,
                format!("{}: move to {}: {}", id, to.dir_name(), e),
            ),
        }
        return new_ids;
    }
    if !untried.is_empty() {
        // Back to incoming/: picked up again at once by the next scan or start.
        if let Err(e) = q.move_to(id, QueueName::Active, QueueName::Incoming) {
            log::warning(COMPONENT, format!("{}: move to incoming: {}", id, e));
        }
        return new_ids;
    }
    let delay = backoff(
        age,
        ctx.cfg.time("minimal_backoff_time"),
        ctx.cfg.time("maximal_backoff_time"),
    );
    if let Err(e) = q.defer_until(id, QueueName::Active, now + delay) {
        // Never leave it in active/, which is only read at start: retry from incoming/.
        log::warning(COMPONENT, format!("{}: move to deferred: {}", id, e));
        if let Err(e) = q.move_to(id, QueueName::Active, QueueName::Incoming) {
            log::warning(COMPONENT, format!("{}: move to incoming: {}", id, e));
        }
    }
    new_ids
}

/// Address verification: when every recipient has an answer, report all of them to the
/// sender in one delivery status report and remove the message (nothing is retried or
/// bounced). `None` when some recipient was not tried (the system is stopping) or the
/// report cannot be queued yet: the message is then kept as usual.
fn finish_verify(ctx: &QmgrContext, id: &str, msg: &mut ActiveMessage) -> Option<Vec<String>> {
    let pending: Vec<usize> = msg.qf.pending().map(|(i, _)| i).collect();
    let mut verdicts = Vec::new();
    for qi in &pending {
        let outcomes = msg.results.get(qi)?;
        if outcomes.is_empty() {
            return None;
        }
        let r = &msg.qf.envelope.recipients[*qi];
        for o in outcomes {
            verdicts.push(bounce::Verdict {
                rcpt: Failure::from_outcome(r, o),
                deliverable: o.status == Status::Sent,
            });
        }
    }
    let mut new_ids = Vec::new();
    match bounce::verification_report(
        &ctx.cfg,
        &ctx.queue,
        id,
        &msg.qf.envelope,
        &msg.content,
        &verdicts,
    ) {
        Ok(Some(nid)) => new_ids.push(nid),
        Ok(None) => {}
        Err(e) => {
            log::warning(
                "bounce",
                format!("{}: cannot queue delivery status report: {}", id, e),
            );
            return None;
        }
    }
    match ctx.queue.recycle(id, QueueName::Active) {
        Ok(()) => lines::removed(id),
        Err(e) => log::warning(COMPONENT, format!("{}: remove: {}", id, e)),
    }
    Some(new_ids)
}

/// A probe of address verification: the verdict goes into the cache and the probe is
/// removed, never retried, bounced or warned about (verify.c's probes report once).
/// Deliverable if any recipient the address led to is (a failure never hides a success, as
/// in verify(8)), else the last failure; each rewritten recipient's own result is kept
/// under its own address too (Postfix's verify_append). A recipient not tried (the system
/// is stopping) gives no answer: the address is probed again later.
fn finish_probe(ctx: &QmgrContext, id: &str, msg: &mut ActiveMessage) {
    use crate::verify::AddrStatus;
    let settings = crate::verify::Settings::from_config(&ctx.cfg);
    let now = crate::verify::now();
    let mut verdict: Option<(AddrStatus, String)> = None;
    let pending: Vec<usize> = msg.qf.pending().map(|(i, _)| i).collect();
    for qi in pending {
        let outcomes = msg.results.get(&qi).map(Vec::as_slice).unwrap_or_default();
        for o in outcomes {
            let status = match o.status {
                Status::Sent => AddrStatus::Ok,
                Status::Bounced => AddrStatus::Bounce,
                _ => AddrStatus::Defer,
            };
            let address = &msg.qf.envelope.recipients[qi].address;
            if let Some(cache) = &ctx.verify
                && crate::verify::probe::probed(&msg.qf.envelope)
                    .is_some_and(|p| !p.eq_ignore_ascii_case(address))
            {
                cache.update(&settings, address, status, &o.text, now);
            }
            if verdict.as_ref().is_none_or(|(s, _)| *s != AddrStatus::Ok) {
                verdict = Some((status, o.text.clone()));
            }
        }
    }
    if let (Some(cache), Some(addr), Some((status, text))) = (
        ctx.verify.as_ref(),
        crate::verify::probe::probed(&msg.qf.envelope),
        verdict,
    ) {
        cache.update(&settings, addr, status, &text, now);
    }
    match ctx.queue.recycle(id, QueueName::Active) {
        Ok(()) => lines::removed(id),
        Err(e) => log::warning(COMPONENT, format!("{}: remove: {}", id, e)),
    }
}

/// The per-message deferral log read by mailq: one `address<TAB>dsn<TAB>reason` line per
/// recipient still to be delivered.
fn write_defer_log(
    ctx: &QmgrContext,
    id: &str,
    msg: &ActiveMessage,
    deferred: &[(usize, Dsn, String)],
) {
    let mut text = Vec::new();
    for (qi, dsn, reason) in deferred {
        let _ = writeln!(
            text,
            "{}\t{}\t{}",
            msg.qf.envelope.recipients[*qi].address,
            dsn,
            reason.replace('\n', " ")
        );
    }
    if let Err(e) = ctx.queue.write_defer_log(id, &text) {
        let path = ctx.queue.defer_log_path(id);
        log::warning(
            COMPONENT,
            format!("{}: write {}: {}", id, path.display(), e),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_selects_notices() {
        let mut r = crate::queue::Recipient::new("a@b");
        assert!(wants(&r, "FAILURE") && wants(&r, "DELAY"));
        r.notify = Some("NEVER".into());
        assert!(!wants(&r, "FAILURE") && !wants(&r, "DELAY"));
        r.notify = Some("SUCCESS,DELAY".into());
        assert!(!wants(&r, "FAILURE") && wants(&r, "DELAY"));
    }

    #[test]
    fn backoff_is_age_clamped() {
        let min = Duration::from_secs(300);
        let max = Duration::from_secs(4000);
        assert_eq!(backoff(Duration::from_secs(5), min, max), min);
        assert_eq!(
            backoff(Duration::from_secs(1000), min, max),
            Duration::from_secs(1000)
        );
        assert_eq!(backoff(Duration::from_secs(99999), min, max), max);
    }
}
