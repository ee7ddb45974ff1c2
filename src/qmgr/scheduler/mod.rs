//! The scheduler loop: activation of messages, scans, flushes and admin requests. Job
//! creation with per-destination limits, dispatch to the worker pools and collection of
//! results are in `jobs`; completion of a message is in `finish`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, select};

use super::feed::{Feed, SCAN_SLICE};
use super::finish::ActiveMessage;
use super::pool::Pool;
use super::workers::{Job, JobResult};
use super::{Admin, MAX_POOL, QmgrContext, Wake};
use crate::log::{self, lines};
use crate::queue::{QueueFile, QueueFileError, QueueName};
use crate::rewrite::Rewrite;
use crate::tables::TableList;

mod jobs;

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
}
