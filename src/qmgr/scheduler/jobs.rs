//! The scheduler's jobs: recipients grouped by route into jobs for their transport and
//! destination, at most `*_destination_concurrency_limit` jobs in flight per destination
//! (the rest wait and go out together as one batch), dispatch to each transport's worker
//! pool, and the results: progress recorded, passes to other transports, the message
//! completed when nothing is outstanding. Transports listed in $defer_transports, and
//! those without an agent, get `Holding`, which defers as Postfix reports it.
//!
//! Security role: none beyond the scheduler's. Logs through the workers and `finish`.

use std::sync::Arc;

use super::{COMPONENT, MAX_BATCH, Scheduler};
use crate::delivery::{Agent, Outcome, Pass, Status};
use crate::log::lines;
use crate::qmgr::finish::{self, Pending};
use crate::qmgr::workers::{self, Job, JobResult};
use crate::qmgr::{Admin, MAX_POOL};
use crate::queue::QueueName;
use crate::rewrite::resolve::{Route, resolve_with};

impl Scheduler {
    pub(super) fn agent_for(&self, transport: &str) -> Arc<dyn Agent> {
        let deferred = crate::config::split_list(self.ctx.cfg.get("defer_transports"));
        if deferred.iter().any(|t| t == transport) {
            // Postfix's qmgr sends these to the retry service: error(8) logs them, 4.3.2.
            return Arc::new(Holding {
                component: "error",
                dsn: "4.3.2",
                text: "deferred transport",
            });
        }
        match self.ctx.agents.get(transport) {
            Some(a) => a.clone(),
            // Postfix's qmgr defers these itself (qmgr_defer_transport), 4.3.0.
            None => Arc::new(Holding {
                component: "qmgr",
                dsn: "4.3.0",
                text: "mail transport unavailable",
            }),
        }
    }

    pub(super) fn limit(&self, transport: &str, what: &str) -> usize {
        let name = format!("{}_destination_{}_limit", transport, what);
        let v = if self.ctx.cfg.has(&name) {
            self.ctx.cfg.int(&name)
        } else {
            self.ctx
                .cfg
                .int(&format!("default_destination_{}_limit", what))
        };
        v.max(1) as usize
    }

    pub(super) fn make_jobs(&mut self, id: &str) {
        let Some(msg) = self.active.get(id) else {
            return;
        };
        // Group pending recipients by route; a content filter overrides the resolver.
        let verify = crate::qmgr::verify::is_verify(&msg.qf.envelope);
        let not_cached = crate::verify::probe::probed(&msg.qf.envelope).is_some()
            && !self.ctx.cfg.bool("address_verify_negative_cache");
        let filter = crate::qmgr::filter::of(&msg.qf.envelope, verify);
        let mut groups: Vec<(Route, Vec<usize>)> = Vec::new();
        for (i, r) in msg.qf.pending() {
            let resolved = match &filter {
                Some(f) => Ok(crate::qmgr::filter::route(&self.ctx.cfg, f, &r.address)),
                None => resolve_with(
                    &self.ctx.cfg,
                    &self.rewrite,
                    self.transport_maps.as_ref(),
                    &r.address,
                    &msg.qf.envelope.sender,
                ),
            };
            let route = match resolved {
                Ok(route) => route,
                Err(e) => {
                    // Never "not found": the recipient waits for the table (4.3.0). A
                    // sender-dependent map was asked for the sender.
                    let key = match e {
                        crate::rewrite::resolve::ResolveError::SenderDependent(_) => {
                            msg.qf.envelope.sender.as_str()
                        }
                        _ => r.address.as_str(),
                    };
                    lines::lookup_error(COMPONENT, e.table(), key);
                    Route {
                        transport: "retry".to_string(),
                        nexthop: e.reason(),
                    }
                }
            };
            match groups.iter_mut().find(|(g, _)| *g == route) {
                Some((_, v)) => v.push(i),
                None => groups.push((route, vec![i])),
            }
        }
        let mut jobs = Vec::new();
        let attrs = Arc::new(msg.qf.envelope.attrs.clone());
        for (route, idx) in groups {
            let per_job = self.limit(&route.transport, "recipient");
            let mut agent = self.agent_for(&route.transport);
            if verify {
                // sendmail -bv: check, do not deliver.
                agent = Arc::new(crate::qmgr::verify::Verifier { inner: agent });
            }
            for chunk in idx.chunks(per_job) {
                let recipients: Vec<_> = chunk
                    .iter()
                    .map(|&i| msg.qf.envelope.recipients[i].clone())
                    .collect();
                // With one recipient per delivery (local), the destination is the recipient.
                let dest_key = if per_job == 1 {
                    format!(
                        "{}:{}",
                        route.transport,
                        recipients[0].address.to_ascii_lowercase()
                    )
                } else {
                    format!("{}:{}", route.transport, route.nexthop)
                };
                jobs.push(Job {
                    id: id.to_string(),
                    agent: agent.clone(),
                    nexthop: route.nexthop.clone(),
                    dest_key,
                    ret: msg.qf.envelope.attr("ret").map(str::to_string),
                    envid: msg.qf.envelope.attr("envid").map(str::to_string),
                    attrs: attrs.clone(),
                    rcpt_idx: chunk.to_vec(),
                    recipients,
                    content: msg.content.clone(),
                    sender: msg.qf.envelope.sender.clone(),
                    arrival: msg.qf.envelope.arrival,
                    active_since: msg.active_since,
                    verify,
                    not_cached,
                    passed: false,
                });
            }
        }
        if let Some(m) = self.active.get_mut(id) {
            m.outstanding += jobs.len();
        }
        for job in jobs {
            self.enqueue(job);
        }
    }

    /// Start a job now, or queue it behind its destination's concurrency limit.
    pub(super) fn enqueue(&mut self, job: Job) {
        let limit = self.limit(transport_of(&job.dest_key), "concurrency");
        let d = self.dests.entry(job.dest_key.clone()).or_default();
        if d.in_flight < limit {
            d.in_flight += 1;
            self.dispatch(vec![job]);
        } else {
            d.waiting.push_back(job);
        }
    }

    /// An agent handed queue recipient `qi` of message `id` to another transport: deliver
    /// it there as a job of its own (`pass::job`), whose outcomes count for `qi`.
    pub(super) fn pass_on(&mut self, id: &str, qi: usize, pass: Pass) {
        let agent = self.agent_for(&pass.transport);
        let per_job = self.limit(&pass.transport, "recipient");
        let Some(msg) = self.active.get_mut(id) else {
            return;
        };
        let probe = crate::verify::probe::probed(&msg.qf.envelope).is_some();
        let Some(mut job) = crate::qmgr::pass::job(id, msg, qi, pass, agent, per_job) else {
            return;
        };
        job.not_cached = probe && !self.ctx.cfg.bool("address_verify_negative_cache");
        msg.outstanding += 1;
        *msg.passes.entry(qi).or_default() += 1;
        self.enqueue(job);
    }

    /// Hand a batch to its transport's worker pool, starting the pool on first use. The
    /// transport is the one the recipients resolved to (the master.cf service name, first in
    /// the destination key), not the agent's command: `smtp-ipv4` has its own pool.
    pub(super) fn dispatch(&mut self, batch: Vec<Job>) {
        let Some(first) = batch.first() else { return };
        let transport = transport_of(&first.dest_key).to_string();
        let size = match self.ctx.process_limits.get(&transport) {
            Some(&n) => n.clamp(1, MAX_POOL),
            None => self.pool_size,
        };
        let results = &self.results_tx;
        self.pools
            .entry(transport)
            .or_insert_with(|| workers::pool(size, results.clone()))
            .submit(batch);
    }

    /// A batch came back: free its destination slot, start the next batch there (everything
    /// that waited, up to MAX_BATCH messages), then settle each job.
    pub(super) fn on_results(&mut self, results: Vec<JobResult>) {
        let Some(key) = results.first().map(|r| r.dest_key.clone()) else {
            return;
        };
        if let Some(d) = self.dests.get_mut(&key) {
            d.in_flight = d.in_flight.saturating_sub(1);
            if !self.stopping && !d.waiting.is_empty() {
                let n = d.waiting.len().min(MAX_BATCH);
                let next: Vec<Job> = d.waiting.drain(..n).collect();
                d.in_flight += 1;
                self.dispatch(next);
            } else if d.in_flight == 0 && d.waiting.is_empty() {
                self.dests.remove(&key);
            }
        }
        for r in results {
            self.on_result(r);
        }
    }

    pub(super) fn on_result(&mut self, r: JobResult) {
        for nid in r.outcomes.iter().filter_map(|o| o.forwarded.as_ref()) {
            self.take_new(nid.clone());
        }
        let mut passes = Vec::new();
        let stopping = self.stopping;
        let Some(msg) = self.active.get_mut(&r.id) else {
            return;
        };
        if r.passed {
            for &qi in &r.rcpt_idx {
                if let Some(n) = msg.passes.get_mut(&qi) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        msg.outstanding = msg.outstanding.saturating_sub(1);
        // A verification keeps every recipient pending until its report lists them all.
        let several = msg.qf.pending().count() > r.rcpt_idx.len()
            && !crate::qmgr::verify::is_verify(&msg.qf.envelope);
        let mut marked = false;
        for o in r.outcomes {
            let Some(&qi) = r.rcpt_idx.get(o.rcpt) else {
                continue;
            };
            match o.pass.clone() {
                // Stopping: the hand-over stays a deferral (`Outcome::pass`), so the
                // recipient is tried again, never taken as done.
                Some(p) if !stopping => passes.push((qi, p)),
                _ => msg.results.entry(qi).or_default().push(o),
            }
        }

        // Record sent recipients at once when others remain, so a crash repeats less.
        if several {
            for &qi in &r.rcpt_idx {
                // Handed to another transport: done only once that delivery is.
                if msg.passes.get(&qi).is_some_and(|&n| n > 0)
                    || passes.iter().any(|(p, _)| *p == qi)
                {
                    continue;
                }
                let all_sent = msg
                    .results
                    .get(&qi)
                    .is_some_and(|v| v.iter().all(|o| o.status == Status::Sent));
                if all_sent && msg.qf.mark_done(qi).is_ok() {
                    marked = true;
                }
            }
            if marked {
                let _ = msg.qf.sync();
                msg.qf.close();
            }
        }
        let id = r.id.clone();
        for (qi, p) in passes {
            self.pass_on(&id, qi, p);
        }
        if self.active.get(&id).is_some_and(|m| m.outstanding == 0) {
            self.complete(&id);
        }
    }

    /// A message this scheduler's work committed to incoming/ (a notice, a forwarded copy,
    /// a requeued message): into the backlog now, unless stopping or already known.
    pub(super) fn take_new(&mut self, nid: String) {
        if !self.stopping && self.known.insert(nid.clone()) {
            self.feed.push(nid, QueueName::Incoming);
        }
    }

    pub(super) fn complete(&mut self, id: &str) {
        let Some(msg) = self.forget(id) else {
            return;
        };
        let requeued = msg.admin == Some(Admin::Requeue);
        let mut pending = Pending::new(msg);
        let mut new_ids = finish::finish(&self.ctx, id, &mut pending);
        if requeued && self.ctx.queue.path(QueueName::Incoming, id).exists() {
            new_ids.push(id.to_string());
        }
        new_ids.into_iter().for_each(|nid| self.take_new(nid));
    }
}

/// The transport of a destination key (`transport:nexthop`).
fn transport_of(dest_key: &str) -> &str {
    dest_key.split(':').next().unwrap_or("")
}

/// An agent that defers everything: for transports listed in $defer_transports
/// ("deferred transport") and for transports this build does not provide yet ("mail
/// transport unavailable"), as Postfix reports them.
struct Holding {
    /// Who logs the deferral, as in Postfix.
    component: &'static str,
    dsn: &'static str,
    text: &'static str,
}

impl Agent for Holding {
    fn name(&self) -> &str {
        self.component
    }

    fn deliver(&self, req: &crate::delivery::Request<'_>) -> Vec<Outcome> {
        (0..req.recipients.len())
            .map(|i| Outcome::new(i, crate::delivery::dsn_of(self.dsn), self.text, "none"))
            .collect()
    }

    /// A transport that cannot deliver now cannot vouch for an address either.
    fn verify(&self, req: &crate::delivery::Request<'_>) -> Vec<Outcome> {
        self.deliver(req)
    }
}
