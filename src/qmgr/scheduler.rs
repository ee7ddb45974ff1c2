//! The scheduler loop: activation of messages, job creation with per-destination limits,
//! and collection of results. Completion of a message is in `finish`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, select};

use super::feed::{Feed, SCAN_SLICE};
use super::finish::{self, ActiveMessage, Pending};
use super::pool::Pool;
use super::workers::{self, Job, JobResult};
use super::{Admin, MAX_POOL, QmgrContext, Wake};
use crate::delivery::{Agent, Outcome, Pass, Status};
use crate::log::{self, lines};
use crate::queue::{QueueFile, QueueFileError, QueueName};
use crate::rewrite::Rewrite;
use crate::rewrite::resolve::{Route, resolve_with};
use crate::tables::TableList;

const COMPONENT: &str = "qmgr";

/// Most messages handed to one delivery at once for a destination whose deliveries are
/// all busy (the agent may then share one mailbox lock and one fsync among them).
const MAX_BATCH: usize = 32;

#[derive(Default)]
struct Destination {
    in_flight: usize,
    waiting: VecDeque<Job>,
}

pub struct Scheduler {
    shared: crate::Shared<QmgrContext>,
    ctx: Arc<QmgrContext>,
    /// $transport_maps, opened from `ctx` (reopened on reload).
    transport_maps: Option<TableList>,
    /// The address classes of `ctx.cfg` (rebuilt on reload).
    rewrite: Arc<Rewrite>,
    wake: Receiver<Wake>,
    active: HashMap<String, ActiveMessage>,
    /// Recipients of the active messages (all held in memory), against
    /// qmgr_message_recipient_limit.
    recipients: usize,
    /// Messages waiting for an active slot: incoming/, requests, due deferred/ ones.
    feed: Feed,
    /// IDs active or in the feed's backlog.
    known: HashSet<String>,
    dests: HashMap<String, Destination>,
    /// One worker pool per transport, started on first use, so a slow transport (remote
    /// SMTP timeouts) never holds the workers local delivery and bounces need.
    pools: HashMap<String, Pool<Vec<Job>>>,
    results_tx: Sender<Vec<JobResult>>,
    pool_size: usize,
    results_rx: Receiver<Vec<JobResult>>,
    next_scan: Instant,
    stopping: bool,
}

/// Open $transport_maps; a configuration error is logged and every lookup then fails
/// (recipients wait) rather than mail going to the wrong place.
fn open_transport_maps(ctx: &QmgrContext) -> Option<TableList> {
    let spec = ctx.cfg.get("transport_maps");
    if spec.trim().is_empty() {
        return None;
    }
    match TableList::open_list(spec) {
        Ok(t) => Some(t),
        Err(e) => {
            log::warning(COMPONENT, format!("transport_maps: {}", e));
            TableList::open_list("fail:transport_maps").ok()
        }
    }
}

fn read_shared(shared: &crate::Shared<QmgrContext>) -> Arc<QmgrContext> {
    shared.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Scheduler {
    pub fn new(shared: crate::Shared<QmgrContext>, wake: Receiver<Wake>) -> Scheduler {
        let ctx = read_shared(&shared);
        let (results_tx, results_rx) = crossbeam_channel::unbounded();
        let pool_size = ctx
            .cfg
            .int("default_process_limit")
            .clamp(1, MAX_POOL as i64) as usize;
        Scheduler {
            shared,
            transport_maps: open_transport_maps(&ctx),
            rewrite: Arc::new(Rewrite::new(&ctx.cfg)),
            ctx,
            wake,
            active: HashMap::new(),
            recipients: 0,
            feed: Feed::default(),
            known: HashSet::new(),
            dests: HashMap::new(),
            pools: HashMap::new(),
            results_tx,
            pool_size,
            results_rx,
            next_scan: Instant::now(),
            stopping: false,
        }
    }

    pub fn run(mut self) {
        self.scan(false);
        loop {
            self.fill();
            if self.stopping && self.active.is_empty() {
                break;
            }
            // A deferred pass continues at once while there is room for its messages.
            let timeout = if self.feed.scanning() && self.has_room() {
                Duration::ZERO
            } else {
                self.next_scan.saturating_duration_since(Instant::now())
            };
            select! {
                recv(self.wake) -> msg => match msg {
                    Ok(Wake::New(id)) => {
                        if !self.stopping && self.known.insert(id.clone()) {
                            self.feed.push(id, QueueName::Incoming);
                        }
                    }
                    Ok(Wake::Flush) => self.scan(true),
                    Ok(Wake::FlushOne(id)) => self.flush_one(id),
                    Ok(Wake::FlushSite(site)) => self.flush_site(&site),
                    Ok(Wake::Admin(op, id)) => self.admin(op, &id),
                    Ok(Wake::Reload) => {
                        self.ctx = read_shared(&self.shared);
                        self.transport_maps = open_transport_maps(&self.ctx);
                        self.rewrite = Arc::new(Rewrite::new(&self.ctx.cfg));
                    }
                    Ok(Wake::Stop) | Err(_) => self.stop(),
                },
                recv(self.results_rx) -> r => if let Ok(r) = r { self.on_results(r) },
                default(timeout) => if Instant::now() >= self.next_scan { self.scan(false) },
            }
        }
        let threads: Vec<_> = self.pools.drain().flat_map(|(_, p)| p.close()).collect();
        for t in threads {
            let _ = t.join();
        }
    }

    fn stop(&mut self) {
        self.stopping = true;
        self.feed.clear();
        // Jobs not yet started stay in the queue file; put their messages back.
        let waiting: Vec<Job> = self
            .dests
            .values_mut()
            .flat_map(|d| d.waiting.drain(..))
            .collect();
        for job in waiting {
            if let Some(m) = self.active.get_mut(&job.id) {
                m.outstanding -= 1;
            }
        }
        let idle: Vec<String> = self
            .active
            .iter()
            .filter(|(_, m)| m.outstanding == 0)
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            if let Some(m) = self.forget(&id) {
                let _ = self
                    .ctx
                    .queue
                    .move_to(&id, QueueName::Active, QueueName::Incoming);
                drop(m);
            }
        }
    }

    /// Look for work on disk: every complete file in incoming/, and a pass over
    /// deferred/ for the messages that are due (all of them when `flush`), read a slice
    /// at a time as active slots free up (`Feed`).
    fn scan(&mut self, flush: bool) {
        self.next_scan = Instant::now()
            + self
                .ctx
                .cfg
                .time("queue_run_delay")
                .max(Duration::from_secs(1));
        if self.stopping {
            return;
        }
        let q = self.ctx.queue.clone();
        // Delivered messages' files kept as spares do not outlive an idle hour.
        q.expire_spares();
        if let Ok(ids) = q.list(QueueName::Incoming) {
            for id in ids {
                if self.known.insert(id.clone()) {
                    self.feed.push(id, QueueName::Incoming);
                }
            }
        }
        self.feed.scan_deferred(&q, flush);
    }

    /// `postqueue -i ID`, `postsuper -H/-r`: take this message now if it waits.
    fn flush_one(&mut self, id: String) {
        if self.stopping {
            return;
        }
        let q = &self.ctx.queue;
        for from in [QueueName::Incoming, QueueName::Deferred] {
            if q.find(from, &id).is_some() {
                if self.known.insert(id.clone()) {
                    self.feed.push(id, from);
                }
                return;
            }
        }
    }

    /// `postqueue -s site`: take now every deferred message with a recipient there.
    fn flush_site(&mut self, site: &str) {
        if self.stopping {
            return;
        }
        let q = self.ctx.queue.clone();
        let mut found = Vec::new();
        let _ = q.scan(QueueName::Deferred, &mut |id, path| {
            found.push((id.to_string(), path.to_path_buf()))
        });
        for (id, path) in found {
            if self.known.contains(&id) {
                continue;
            }
            let Ok(qf) = QueueFile::open_read_only(&path) else {
                continue;
            };
            let there = qf.pending().any(|(_, r)| {
                r.address
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| d.trim_end_matches('.').eq_ignore_ascii_case(site))
            });
            if there {
                self.known.insert(id.clone());
                self.feed.push(id, QueueName::Deferred);
            }
        }
    }

    /// A postsuper request. An active message keeps its deliveries in progress; its
    /// waiting jobs are cancelled and the request is applied when it completes. Any other
    /// message is moved at once (activation tolerates the file vanishing).
    fn admin(&mut self, op: Admin, id: &str) {
        if let Some(m) = self.active.get_mut(id) {
            // A delete wins over anything asked before or after.
            if m.admin != Some(Admin::Delete) {
                m.admin = Some(op);
            }
            let mut cancelled = 0;
            for d in self.dests.values_mut() {
                let before = d.waiting.len();
                d.waiting.retain(|j| j.id != id);
                cancelled += before - d.waiting.len();
            }
            self.dests
                .retain(|_, d| d.in_flight > 0 || !d.waiting.is_empty());
            m.outstanding = m.outstanding.saturating_sub(cancelled);
            if m.outstanding == 0 {
                self.complete(id);
            }
            return;
        }
        let q = self.ctx.queue.clone();
        let direct = match op {
            Admin::Delete => crate::queue::admin::Op::Delete,
            Admin::Hold => crate::queue::admin::Op::Hold,
            Admin::Requeue => crate::queue::admin::Op::Requeue,
        };
        for from in direct.queues() {
            if *from == QueueName::Active {
                continue;
            }
            match crate::queue::admin::apply(&q, direct, id, *from) {
                Ok(true) => {
                    log::info("postsuper", format!("{}: {}", id, direct.log_text()));
                    if direct == crate::queue::admin::Op::Requeue {
                        self.flush_one(id.to_string());
                    }
                    return;
                }
                Ok(false) => {}
                Err(e) => {
                    log::warning(COMPONENT, format!("{}: {}: {}", id, direct.log_text(), e));
                    return;
                }
            }
        }
    }

    /// Whether another message may be activated: fewer than qmgr_message_active_limit
    /// messages and fewer than qmgr_message_recipient_limit recipients in memory (a
    /// message is always admitted when none is active, however many recipients it has).
    fn has_room(&self) -> bool {
        let cfg = &self.ctx.cfg;
        let messages = cfg.int("qmgr_message_active_limit").max(1) as usize;
        let recipients = cfg.int("qmgr_message_recipient_limit").max(1) as usize;
        self.active.is_empty() || (self.active.len() < messages && self.recipients < recipients)
    }

    /// Activate waiting messages while there is room, examining at most SCAN_SLICE
    /// deferred/ entries (the loop comes back for more).
    fn fill(&mut self) {
        let q = self.ctx.queue.clone();
        let mut budget = SCAN_SLICE;
        while self.has_room() {
            let Some((id, from)) = self.feed.next(&q, &mut self.known, &mut budget) else {
                break;
            };
            self.activate(&id, from);
        }
    }

    /// Drop an active message from memory.
    fn forget(&mut self, id: &str) -> Option<ActiveMessage> {
        let m = self.active.remove(id)?;
        self.known.remove(id);
        self.recipients = self
            .recipients
            .saturating_sub(m.qf.envelope.recipients.len());
        Some(m)
    }

    fn activate(&mut self, id: &str, from: QueueName) {
        let q = self.ctx.queue.clone();
        // A message requeued by postsuper moved from deferred/ to incoming/ meanwhile.
        let moved = q.move_to(id, from, QueueName::Active).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound && from != QueueName::Incoming {
                q.move_to(id, QueueName::Incoming, QueueName::Active)
            } else {
                Err(e)
            }
        });
        if let Err(e) = moved {
            // Gone (removed by an admin) or not ours: forget it.
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warning(COMPONENT, format!("{}: move to active: {}", id, e));
            }
            self.known.remove(id);
            return;
        }
        let path = q.path(QueueName::Active, id);
        let mut qf = match QueueFile::open(&path) {
            Ok(qf) => qf,
            Err(QueueFileError::Corrupt(why)) => {
                log::warning(
                    COMPONENT,
                    format!("{}: {}; moved to the corrupt queue", id, why),
                );
                let _ = q.move_to(id, QueueName::Active, QueueName::Corrupt);
                self.known.remove(id);
                return;
            }
            Err(e) => {
                log::warning(COMPONENT, format!("{}: open queue file: {}", id, e));
                let _ = q.move_to(id, QueueName::Active, QueueName::Incoming);
                self.known.remove(id);
                return;
            }
        };
        let content = match qf.content() {
            Ok(c) => Arc::new(c),
            Err(e) => {
                log::warning(COMPONENT, format!("{}: read queue file: {}", id, e));
                let _ = q.move_to(id, QueueName::Active, QueueName::Incoming);
                self.known.remove(id);
                return;
            }
        };
        // Thousands of messages may be active: none keeps a descriptor open.
        qf.close();
        let nrcpt = qf.pending().count();
        self.recipients += qf.envelope.recipients.len();
        lines::queue_active(id, &qf.envelope.sender, qf.content_len(), nrcpt);
        let msg = ActiveMessage {
            qf,
            content,
            outstanding: 0,
            results: HashMap::new(),
            active_since: SystemTime::now(),
            admin: None,
            passes: HashMap::new(),
        };
        self.active.insert(id.to_string(), msg);
        self.make_jobs(id);
        if self.active.get(id).is_some_and(|m| m.outstanding == 0) {
            self.complete(id);
        }
    }

    fn agent_for(&self, transport: &str) -> Arc<dyn Agent> {
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

    fn limit(&self, transport: &str, what: &str) -> usize {
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

    fn make_jobs(&mut self, id: &str) {
        let Some(msg) = self.active.get(id) else {
            return;
        };
        // Group pending recipients by route; a content filter overrides the resolver.
        let verify = super::verify::is_verify(&msg.qf.envelope);
        let filter = super::filter::of(&msg.qf.envelope, verify);
        let mut groups: Vec<(super::Route, Vec<usize>)> = Vec::new();
        for (i, r) in msg.qf.pending() {
            let resolved = match &filter {
                Some(f) => Ok(super::filter::route(&self.ctx.cfg, f, &r.address)),
                None => resolve_with(
                    &self.ctx.cfg,
                    &self.rewrite,
                    self.transport_maps.as_ref(),
                    &r.address,
                ),
            };
            let route = match resolved {
                Ok(route) => route,
                Err(e) => {
                    // Never "not found": the recipient waits for the table (4.3.0).
                    lines::lookup_error(COMPONENT, e.table(), &r.address);
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
                agent = Arc::new(super::verify::Verifier { inner: agent });
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
    fn enqueue(&mut self, job: Job) {
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
    fn pass_on(&mut self, id: &str, qi: usize, pass: Pass) {
        let agent = self.agent_for(&pass.transport);
        let per_job = self.limit(&pass.transport, "recipient");
        let Some(msg) = self.active.get_mut(id) else {
            return;
        };
        let Some(job) = super::pass::job(id, msg, qi, pass, agent, per_job) else {
            return;
        };
        msg.outstanding += 1;
        *msg.passes.entry(qi).or_default() += 1;
        self.enqueue(job);
    }

    /// Hand a batch to its transport's worker pool, starting the pool on first use. The
    /// transport is the one the recipients resolved to (the master.cf service name, first in
    /// the destination key), not the agent's command: `smtp-ipv4` has its own pool.
    fn dispatch(&mut self, batch: Vec<Job>) {
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
    fn on_results(&mut self, results: Vec<JobResult>) {
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

    fn on_result(&mut self, r: JobResult) {
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
            && !super::verify::is_verify(&msg.qf.envelope);
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
    fn take_new(&mut self, nid: String) {
        if !self.stopping && self.known.insert(nid.clone()) {
            self.feed.push(nid, QueueName::Incoming);
        }
    }

    fn complete(&mut self, id: &str) {
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
