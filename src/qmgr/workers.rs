//! The delivery worker pool: threads that take a batch of jobs (a job is one message for one
//! transport and next hop, up to the recipient limit; a batch is jobs for one destination),
//! call the agent, log every outcome in Postfix's
//! `to=<...>, relay=..., delay=..., delays=a/b/c/d, dsn=..., status=...` form and report back.
//! An outcome that passes its recipient to another transport (`Outcome::pass`) is not
//! logged here: the scheduler delivers it through that transport, whose result is logged.
//! A job that was itself such a pass may not pass again (a configuration loop such as
//! `mailbox_transport = local`): that is deferred, `4.3.5 mail system configuration error`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Sender;

use super::pool::Pool;

use crate::delivery::{Agent, Outcome, Request};
use crate::log::lines::{self, Delays};
use crate::queue::Recipient;

/// One unit of work for a worker.
pub struct Job {
    pub id: String,
    pub agent: Arc<dyn Agent>,
    pub nexthop: String,
    pub dest_key: String,
    /// The message's DSN RET= and ENVID= (envelope attributes `ret`, `envid`).
    pub ret: Option<String>,
    pub envid: Option<String>,
    /// The message's named queue-file attributes (client, HELO, protocol, SASL user).
    pub attrs: Arc<Vec<(String, String)>>,
    /// Indices of `recipients` in the queue file.
    pub rcpt_idx: Vec<usize>,
    pub recipients: Vec<Recipient>,
    pub content: Arc<Vec<u8>>,
    pub sender: String,
    pub arrival: SystemTime,
    /// When the message entered the active queue (wall clock, for `delays=a/...`).
    pub active_since: SystemTime,
    /// Address verification (`sendmail -bv`): outcomes are logged as
    /// `status=deliverable` / `status=undeliverable`.
    pub verify: bool,
    /// An address verification probe whose failures the cache does not keep
    /// (address_verify_negative_cache = no): logged `undeliverable-but-not-cached`.
    pub not_cached: bool,
    /// The recipients were handed over by another agent (`Outcome::pass`).
    pub passed: bool,
}

/// A finished job.
pub struct JobResult {
    pub id: String,
    pub dest_key: String,
    pub rcpt_idx: Vec<usize>,
    pub outcomes: Vec<Outcome>,
    /// The job's `passed`.
    pub passed: bool,
}

/// A transport's worker pool of at most `limit` threads (`pool::Pool`). Each thread takes a
/// batch (one or more jobs for the same agent and destination, so the agent may share one
/// mailbox lock and one fsync among them) and sends its results to the scheduler.
pub fn pool(limit: usize, results: Sender<Vec<JobResult>>) -> Pool<Vec<Job>> {
    Pool::new("delivery", limit, move |batch: Vec<Job>| {
        // A panicking agent must not take the jobs' answers with it: the scheduler would
        // wait for them forever.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&batch)))
            .unwrap_or_else(|_| batch.iter().map(panicked).collect());
        // The scheduler is gone only when it stops; then nothing waits for the answer.
        let _ = results.send(r);
    })
}

/// The result of a job whose agent panicked: every recipient deferred.
fn panicked(job: &Job) -> JobResult {
    crate::log::warning(
        job.agent.name(),
        format!("{}: delivery agent failed unexpectedly", job.id),
    );
    let outcomes = (0..job.recipients.len())
        .map(|i| {
            Outcome::new(
                i,
                crate::delivery::dsn_of("4.3.0"),
                "delivery agent failed",
                "none",
            )
        })
        .collect();
    JobResult {
        id: job.id.clone(),
        dest_key: job.dest_key.clone(),
        rcpt_idx: job.rcpt_idx.clone(),
        outcomes,
        passed: job.passed,
    }
}

fn since(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or(Duration::ZERO)
}

/// Deliver a batch (all jobs share the agent) and log every outcome.
pub fn run(batch: &[Job]) -> Vec<JobResult> {
    let Some(first) = batch.first() else {
        return Vec::new();
    };
    let started_wall = SystemTime::now();
    let started = Instant::now();
    let reqs: Vec<Request<'_>> = batch
        .iter()
        .map(|job| Request {
            queue_id: &job.id,
            sender: &job.sender,
            arrival: job.arrival,
            content: &job.content,
            recipients: &job.recipients,
            nexthop: &job.nexthop,
            ret: job.ret.as_deref(),
            envid: job.envid.as_deref(),
            attrs: &job.attrs,
        })
        .collect();
    let mut all = first.agent.deliver_batch(&reqs);
    all.resize_with(batch.len(), Vec::new);
    let elapsed = started.elapsed();
    batch
        .iter()
        .zip(all)
        .map(|(job, mut outcomes)| {
            // Every recipient gets an answer, even from an agent that forgot one.
            for i in 0..job.recipients.len() {
                if !outcomes.iter().any(|o| o.rcpt == i) {
                    outcomes.push(Outcome::new(
                        i,
                        crate::delivery::dsn_of("4.3.0"),
                        "delivery agent gave no result",
                        "none",
                    ));
                }
            }
            for o in outcomes.iter_mut() {
                if job.passed && o.pass.is_some() {
                    o.pass = None;
                    o.set_dsn(crate::delivery::dsn_of("4.3.5"));
                    o.text = "mail system configuration error".to_string();
                }
                if o.pass.is_none() {
                    log_outcome(job, o, started_wall, elapsed);
                }
            }
            JobResult {
                id: job.id.clone(),
                dest_key: job.dest_key.clone(),
                rcpt_idx: job.rcpt_idx.clone(),
                outcomes,
                passed: job.passed,
            }
        })
        .collect()
}

fn log_outcome(job: &Job, o: &Outcome, started_wall: SystemTime, elapsed: Duration) {
    let Some(r) = job.recipients.get(o.rcpt) else {
        return;
    };
    let to = o.to.as_deref().unwrap_or(&r.address);
    let orig = match (&r.orig, &o.to) {
        (Some(orig), _) => Some(orig.as_str()),
        (None, Some(_)) => Some(r.address.as_str()),
        (None, None) => None,
    };
    let delays = Delays {
        before_active: since(job.active_since, job.arrival),
        in_active: since(started_wall, job.active_since),
        setup: o.setup,
        transmission: elapsed.saturating_sub(o.setup),
    };
    lines::delivery(&lines::Delivery {
        component: job.agent.name(),
        queue_id: &job.id,
        to,
        orig_to: orig,
        relay: &o.relay,
        delays,
        dsn: o.dsn.as_str(),
        status: match (job.verify, o.status) {
            (false, st) => st.as_str(),
            (true, crate::delivery::Status::Sent) => "deliverable",
            (true, _) if job.not_cached => "undeliverable-but-not-cached",
            (true, _) => "undeliverable",
        },
        text: &o.text,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Status;

    struct Boom;

    impl Agent for Boom {
        fn name(&self) -> &str {
            "boom"
        }
        fn deliver(&self, _req: &Request<'_>) -> Vec<Outcome> {
            panic!("agent bug")
        }
    }

    #[test]
    fn a_panicking_agent_still_answers_with_deferrals() {
        let (rtx, rrx) = crossbeam_channel::unbounded();
        let mut pool = pool(1, rtx);
        pool.submit(vec![Job {
            id: "ABCDEF1".into(),
            agent: Arc::new(Boom),
            nexthop: "x".into(),
            ret: None,
            envid: None,
            attrs: Arc::default(),
            dest_key: "boom:x".into(),
            rcpt_idx: vec![0, 2],
            recipients: vec![Recipient::new("a@x"), Recipient::new("b@x")],
            content: Arc::new(b"x\n".to_vec()),
            sender: "s@y".into(),
            arrival: SystemTime::now(),
            active_since: SystemTime::now(),
            verify: false,
            not_cached: false,
            passed: false,
        }]);
        let r = rrx.recv().unwrap().remove(0);
        assert_eq!(r.rcpt_idx, vec![0, 2]);
        assert_eq!(r.outcomes.len(), 2);
        assert!(r.outcomes.iter().all(|o| o.status == Status::Deferred));
        for h in pool.close() {
            h.join().unwrap();
        }
    }
}
