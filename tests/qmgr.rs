//! The scheduler with a stand-in agent: messages for a busy destination are batched, every
//! message is delivered once and removed, a deferral leaves the message in deferred/
//! with a future retry time, a transport's process limit caps its parallel deliveries, and
//! a copy an agent forwards is taken at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use postern::config::Config;
use postern::delivery::{Agent, Outcome, Request, Status, dsn_of};
use postern::qmgr::{self, QmgrContext, Wake};
use postern::queue::{Envelope, Queue, QueueName, Recipient};

/// Records batch sizes; the first call blocks until released so a backlog builds up.
struct Recorder {
    batches: Mutex<Vec<usize>>,
    delivered: Mutex<Vec<String>>,
    gate: Mutex<Option<crossbeam_channel::Receiver<()>>>,
    status: Status,
}

impl Agent for Recorder {
    fn name(&self) -> &str {
        "local"
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.deliver_batch(std::slice::from_ref(req)).remove(0)
    }

    fn deliver_batch(&self, reqs: &[Request<'_>]) -> Vec<Vec<Outcome>> {
        let gate = self.gate.lock().unwrap().take();
        if let Some(g) = gate {
            let _ = g.recv_timeout(Duration::from_secs(10));
        }
        self.batches.lock().unwrap().push(reqs.len());
        reqs.iter()
            .map(|r| {
                self.delivered.lock().unwrap().push(r.queue_id.to_string());
                let dsn = if self.status == Status::Sent {
                    "2.0.0"
                } else {
                    "4.2.0"
                };
                vec![Outcome::new(0, dsn_of(dsn), "test", "local")]
            })
            .collect()
    }
}

type Running = (
    Queue,
    crossbeam_channel::Sender<Wake>,
    std::thread::JoinHandle<()>,
);

fn setup(tag: &str, settings: &[(&str, &str)], agent: Arc<dyn Agent>) -> Running {
    setup_with(tag, settings, agent, HashMap::new())
}

/// The scheduler with `agent` as the local transport and these worker pool sizes.
fn setup_with(
    tag: &str,
    settings: &[(&str, &str)],
    agent: Arc<dyn Agent>,
    process_limits: HashMap<String, usize>,
) -> Running {
    let dir = std::env::temp_dir().join(format!("postern-qmgr-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let queue = Queue::new(&dir);
    queue.create_dirs().unwrap();
    let mut all = vec![
        ("myhostname", "www.a.org"),
        ("queue_directory", dir.to_str().unwrap()),
    ];
    all.extend_from_slice(settings);
    let cfg = Arc::new(Config::from_pairs(Path::new("/nonexistent"), &all));
    let mut agents: HashMap<String, Arc<dyn Agent>> = HashMap::new();
    agents.insert("local".into(), agent);
    let ctx = Arc::new(RwLock::new(Arc::new(QmgrContext {
        cfg,
        queue: queue.clone(),
        agents,
        process_limits,
        verify: None,
    })));
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = qmgr::start(ctx, rx);
    (queue, tx, handle)
}

fn submit(queue: &Queue, rcpt: &str) -> String {
    let w = queue.create(QueueName::Incoming).unwrap();
    let mut env = Envelope::new("s@b.test");
    env.recipients.push(Recipient::new(rcpt));
    w.commit(&mut env, b"Subject: t\n\nbody\n").unwrap()
}

fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn backlog_for_one_mailbox_is_batched_and_each_message_delivered_once() {
    let (open, gate) = crossbeam_channel::bounded(1);
    let agent = Arc::new(Recorder {
        batches: Mutex::new(Vec::new()),
        delivered: Mutex::new(Vec::new()),
        gate: Mutex::new(Some(gate)),
        status: Status::Sent,
    });
    let (queue, tx, handle) = setup(
        "batch",
        &[("local_destination_concurrency_limit", "1")],
        agent.clone(),
    );
    let ids: Vec<String> = (0..20).map(|_| submit(&queue, "u@www.a.org")).collect();
    for id in &ids {
        tx.send(Wake::New(id.clone())).unwrap();
    }
    // All twenty are active (the first is held in the agent) before the gate opens.
    assert!(wait_until(10, || queue
        .list(QueueName::Active)
        .unwrap()
        .len()
        == 20));
    open.send(()).unwrap();
    assert!(wait_until(10, || queue
        .list(QueueName::Active)
        .unwrap()
        .is_empty()));
    tx.send(Wake::Stop).unwrap();
    handle.join().unwrap();
    let batches = agent.batches.lock().unwrap().clone();
    assert_eq!(batches[0], 1, "the first message goes alone");
    assert_eq!(
        batches[1], 19,
        "the backlog goes as one batch: {:?}",
        batches
    );
    let mut delivered = agent.delivered.lock().unwrap().clone();
    delivered.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(delivered, want, "each message exactly once");
    std::fs::remove_dir_all(queue.root()).unwrap();
}

#[test]
fn deferral_sets_a_future_retry_time() {
    let agent = Arc::new(Recorder {
        batches: Mutex::new(Vec::new()),
        delivered: Mutex::new(Vec::new()),
        gate: Mutex::new(None),
        status: Status::Deferred,
    });
    let (queue, tx, handle) = setup("defer", &[("minimal_backoff_time", "600s")], agent);
    let id = submit(&queue, "u@www.a.org");
    tx.send(Wake::New(id.clone())).unwrap();
    assert!(wait_until(10, || queue.list(QueueName::Deferred).unwrap()
        == vec![id.clone()]));
    let mtime = std::fs::metadata(queue.path(QueueName::Deferred, &id))
        .unwrap()
        .modified()
        .unwrap();
    assert!(
        mtime > SystemTime::now() + Duration::from_secs(500),
        "retry in about 600 s"
    );
    let log = std::fs::read_to_string(queue.defer_log_path(&id)).unwrap();
    assert_eq!(log, "u@www.a.org\t4.2.0\ttest\n");
    tx.send(Wake::Stop).unwrap();
    handle.join().unwrap();
    std::fs::remove_dir_all(queue.root()).unwrap();
}

/// Counts deliveries in progress at once; each takes a moment.
#[derive(Default)]
struct Parallel {
    now: Mutex<usize>,
    most: Mutex<usize>,
    done: Mutex<usize>,
}

impl Agent for Parallel {
    fn name(&self) -> &str {
        "local"
    }

    fn deliver(&self, _req: &Request<'_>) -> Vec<Outcome> {
        {
            let mut now = self.now.lock().unwrap();
            *now += 1;
            let mut most = self.most.lock().unwrap();
            *most = (*most).max(*now);
        }
        std::thread::sleep(Duration::from_millis(300));
        *self.now.lock().unwrap() -= 1;
        *self.done.lock().unwrap() += 1;
        vec![Outcome::new(0, dsn_of("2.0.0"), "test", "local")]
    }
}

#[test]
fn the_process_limit_caps_parallel_deliveries() {
    // With no limit the six overlap (all, or most of them on a loaded machine).
    for (limit, least, most) in [(Some(2), 1, 2), (None, 4, 6)] {
        let agent = Arc::new(Parallel::default());
        let limits = limit
            .map(|n| HashMap::from([("local".to_string(), n)]))
            .unwrap_or_default();
        let tag = format!("pool{}", most);
        let (queue, tx, handle) = setup_with(&tag, &[], agent.clone(), limits);
        // Six mailboxes: six destinations, each allowed a delivery of its own.
        for i in 0..6 {
            let id = submit(&queue, &format!("u{}@www.a.org", i));
            tx.send(Wake::New(id)).unwrap();
        }
        assert!(wait_until(10, || *agent.done.lock().unwrap() == 6));
        let seen = *agent.most.lock().unwrap();
        assert!(
            (least..=most).contains(&seen),
            "limit {:?}: {} at once",
            limit,
            seen
        );
        tx.send(Wake::Stop).unwrap();
        handle.join().unwrap();
        std::fs::remove_dir_all(queue.root()).unwrap();
    }
}

/// Forwards the first message once (a new queue file, named in `Outcome::forwarded`) and
/// records every queue ID it is given.
struct Forwarder {
    queue: Mutex<Option<Queue>>,
    seen: Mutex<Vec<String>>,
}

impl Agent for Forwarder {
    fn name(&self) -> &str {
        "local"
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.seen.lock().unwrap().push(req.queue_id.to_string());
        let mut o = Outcome::new(0, dsn_of("2.0.0"), "test", "local");
        if let Some(q) = self.queue.lock().unwrap().take() {
            let nid = submit(&q, "copy@www.a.org");
            o.text = format!("forwarded as {}", nid);
            o.forwarded = Some(nid);
        }
        vec![o]
    }
}

#[test]
fn a_forwarded_copy_is_taken_without_a_queue_scan() {
    let agent = Arc::new(Forwarder {
        queue: Mutex::new(None),
        seen: Mutex::new(Vec::new()),
    });
    // No queue scan during the test: only the outcome can tell the scheduler.
    let (queue, tx, handle) = setup("fwd", &[("queue_run_delay", "1000s")], agent.clone());
    *agent.queue.lock().unwrap() = Some(queue.clone());
    let id = submit(&queue, "u@www.a.org");
    tx.send(Wake::New(id.clone())).unwrap();
    assert!(
        wait_until(10, || agent.seen.lock().unwrap().len() == 2),
        "{:?}",
        agent.seen.lock().unwrap()
    );
    assert!(wait_until(10, || queue
        .list(QueueName::Incoming)
        .unwrap()
        .is_empty()
        && queue.list(QueueName::Active).unwrap().is_empty()));
    tx.send(Wake::Stop).unwrap();
    handle.join().unwrap();
    assert_eq!(agent.seen.lock().unwrap()[0], id);
    std::fs::remove_dir_all(queue.root()).unwrap();
}

/// A transport that cannot deliver now cannot vouch for an address: `sendmail -bv` through
/// a transport in $defer_transports is reported undeliverable, also for the local transport
/// (whose alias walk used to answer for it by name).
#[test]
fn verification_through_a_deferred_transport_is_undeliverable() {
    let agent = Arc::new(Recorder {
        batches: Mutex::new(Vec::new()),
        delivered: Mutex::new(Vec::new()),
        gate: Mutex::new(None),
        status: Status::Sent,
    });
    let settings = [("defer_transports", "local"), ("alias_maps", "")];
    let (queue, tx, handle) = setup("vrfy", &settings, agent.clone());
    let w = queue.create(QueueName::Incoming).unwrap();
    let mut env = Envelope::new("s@b.test");
    env.set_attr("verify", "1");
    env.recipients.push(Recipient::new("root@www.a.org"));
    let id = w.commit(&mut env, b"Subject: v\n\n").unwrap();
    tx.send(Wake::New(id.clone())).unwrap();
    // The report to s@b.test waits in deferred/ (this test has no smtp transport).
    assert!(wait_until(10, || !queue
        .list(QueueName::Deferred)
        .unwrap()
        .is_empty()));
    tx.send(Wake::Stop).unwrap();
    handle.join().unwrap();
    let report_id = queue.list(QueueName::Deferred).unwrap().remove(0);
    assert_ne!(report_id, id);
    let report = std::fs::read(queue.path(QueueName::Deferred, &report_id)).unwrap();
    let report = String::from_utf8_lossy(&report);
    assert!(report.contains("Action: undeliverable"), "{}", report);
    assert!(report.contains("deferred transport"), "{}", report);
    assert!(agent.delivered.lock().unwrap().is_empty());
    std::fs::remove_dir_all(queue.root()).unwrap();
}
