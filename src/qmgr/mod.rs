//! qmgr: the scheduler (Postfix's qmgr(8)) and its delivery worker pool.
//!
//! One scheduler thread owns every active message. It takes new messages from incoming/
//! (woken by `Wake::New` from smtpd and pickup; the notices `bounce` queues and the copies an
//! agent forwards, `Outcome::forwarded`, it takes itself) and due messages from deferred/
//! (in turn with incoming, deferred/ read a slice at a time: `feed`), while fewer than
//! qmgr_message_active_limit messages and qmgr_message_recipient_limit recipients are in
//! memory, moves them to active/, resolves each recipient to a transport (`rewrite::resolve`, or the
//! message's content filter: `filter`), and
//! hands jobs to worker threads: one worker pool per transport (so slow remote deliveries
//! never hold the workers local delivery needs; threads started on demand, at most the
//! transport's master.cf maxproc, `QmgrContext::process_limits`, the most recently idle one
//! woken first: `pool`), at most N jobs at a time
//! per destination (`*_destination_concurrency_limit`), at most
//! `*_destination_recipient_limit` recipients per job. Jobs that waited for a busy
//! destination go out together as one batch (up to 32 messages), so an agent can share a
//! mailbox lock and an fsync among them. Workers call the delivery agent and log its
//! outcomes; the scheduler then records progress in the queue file, bounces or defers
//! (`finish`).
//!
//! Security role: runs as mail_owner; reads and writes only the spool. Follows qmgr(8),
//! postconf(5) (queue_run_delay, minimal_backoff_time, maximal_backoff_time,
//! maximal_queue_lifetime, bounce_queue_lifetime, qmgr_message_active_limit,
//! qmgr_message_recipient_limit). Logs
//! `ID: from=<...>, size=N, nrcpt=M (queue active)`, `ID: removed`,
//! `ID: from=<...>, status=expired, returned to sender`, and warnings for corrupt files.

pub mod control;
mod feed;
mod filter;
mod finish;
mod pass;
mod pool;
mod scheduler;
pub mod verify;
mod workers;

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use crate::config::Config;
use crate::delivery::Agent;
use crate::queue::Queue;

pub use crate::rewrite::resolve::{Route, resolve};

/// Messages to the scheduler thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Wake {
    /// A new message was committed to incoming/ with this queue ID.
    New(String),
    /// Scan incoming/ and deferred/ now, ignoring retry times (postqueue -f, ETRN).
    Flush,
    /// Deliver this deferred (or requeued) message now (postqueue -i, postsuper -H/-r).
    FlushOne(String),
    /// Deliver now the deferred mail with a recipient in this domain (postqueue -s).
    FlushSite(String),
    /// postsuper on a message: applied at once unless the message is active, else when
    /// its deliveries in progress have finished.
    Admin(Admin, String),
    /// Re-read the shared context (after SIGHUP).
    Reload,
    /// Finish the deliveries in progress and stop.
    Stop,
}

/// What postsuper asks the scheduler to do with a message it may own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// Remove the message (`postsuper -d`); wins over any retry.
    Delete,
    /// Move it to hold/ instead of deferring it (`postsuper -h`).
    Hold,
    /// Move it back to incoming/ to be resolved again (`postsuper -r`).
    Requeue,
}

/// What the scheduler needs: the configuration, the spool and the agents by transport name.
pub struct QmgrContext {
    pub cfg: Arc<Config>,
    pub queue: Queue,
    pub agents: HashMap<String, Arc<dyn Agent>>,
    /// Worker threads per transport (the master.cf maxproc column); a transport not named
    /// here gets $default_process_limit. At most `MAX_POOL` either way.
    pub process_limits: HashMap<String, usize>,
    /// The address verification cache probes report to (`None`: results are dropped).
    pub verify: Option<Arc<crate::verify::Cache>>,
}

/// The most delivery threads one transport gets (maxproc 0, "no limit", means this).
pub const MAX_POOL: usize = 32;

/// Start the scheduler and its workers. Returns when `Wake::Stop` was handled and the
/// deliveries in progress have finished (join the handle).
pub fn start(ctx: crate::Shared<QmgrContext>, wake: Receiver<Wake>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("qmgr".into())
        .spawn(move || scheduler::Scheduler::new(ctx, wake).run())
        .expect("spawn qmgr thread")
}

/// At start-up: put messages left in active/ by a crash back into incoming/, and remove
/// interrupted writes and spare files (a spare that shares its inode with a queue file is
/// left, with a warning: see `Queue::unlinkable`). Returns (recovered, purged).
pub fn recover(queue: &Queue) -> std::io::Result<(usize, usize)> {
    use crate::queue::QueueName;
    let ids = queue.list(QueueName::Active)?;
    for id in &ids {
        queue.move_to(id, QueueName::Active, QueueName::Incoming)?;
    }
    let (purged, kept) = queue.purge_temporary()?;
    for p in kept {
        crate::log::warning(
            "qmgr",
            format!(
                "{}: left in place: another spool file uses the same inode (a crash on a file \
                 system without a journal?); run fsck, then remove it",
                p.display()
            ),
        );
    }
    Ok((ids.len(), purged))
}
