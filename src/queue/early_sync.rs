//! Directory fsyncs started early: a new message's file gets its queue ID name in incoming/
//! when the message starts (DATA), and the fsync that makes that name durable runs in the
//! background while the client sends the content, so the final "." waits only for the
//! file's own fsync (and for the directory's, if it has not finished yet).
//!
//! How it works: after its rename, a writer calls `request(dir)` and gets a `Ticket`
//! numbered from the directory's counter. One background thread per directory (started on
//! the first request, ended after a minute without one) fsyncs the directory whenever the
//! counter moved past what the last fsync covered; an fsync covers every ticket issued
//! before it started. At commit, `Ticket::wait` returns once an fsync covering the ticket
//! ended, with its outcome. Requests that arrive during an fsync share the next one, as in
//! `dirsync`'s group commit.
//!
//! Crash safety: the ticket is taken only after the rename returned, and an fsync covers
//! only tickets taken before it started, so a covered name is durable when `wait` returns
//! Ok. After a failed fsync the kernel may have dropped the dirty entries of renames made
//! while it ran, so a later success proves nothing for them: a writer takes a `Dir` handle
//! before its rename, and a ticket taken after the rename fails if an fsync failed in
//! between; a failed fsync also fails every ticket issued until it ended (their messages
//! are answered 4xx). Failures are never forgotten while a ticket may wait for them: old
//! ones are folded into a floor below which every ticket fails. One fsync runs at a time.
//! A process that forked keeps no background thread: its waiters fsync themselves.
//!
//! Security role: none beyond durability. Logs nothing; errors go to the caller.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// A background thread ends after this long without a request.
const IDLE: Duration = Duration::from_secs(60);

/// At most this many failed ranges are remembered (a failing disk fails them all anyway).
const FAILURES_KEPT: usize = 256;

/// The fsync itself (a parameter for the tests).
type SyncFn = fn(&Path) -> io::Result<()>;

#[derive(Default)]
struct State {
    /// The last ticket issued.
    issued: u64,
    /// Every ticket up to this one has its outcome.
    covered: u64,
    /// Ticket ranges (inclusive) whose fsync failed, with the error.
    failed: Vec<(u64, u64, io::ErrorKind, String)>,
    /// Every ticket up to this one failed (ranges folded away from `failed`).
    failed_floor: u64,
    /// Failed fsyncs so far.
    failures: u64,
    /// An fsync runs now.
    syncing: bool,
    /// The process whose background thread runs now, if any.
    worker: Option<u32>,
}

/// A directory's early-sync state, taken before the rename into it (`handle`).
pub struct Dir {
    owner: Arc<EarlySync>,
    failures: u64,
}

/// Early fsyncs of one directory.
pub struct EarlySync {
    dir: PathBuf,
    sync: SyncFn,
    state: Mutex<State>,
    changed: Condvar,
}

/// A writer's claim on an fsync of its directory that starts after its rename.
pub struct Ticket {
    owner: Arc<EarlySync>,
    number: u64,
}

impl EarlySync {
    fn new(dir: &Path, sync: SyncFn) -> EarlySync {
        EarlySync {
            dir: dir.to_path_buf(),
            sync,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take a ticket (after the rename into the directory) and see that an fsync will run.
    /// `failures` is the failure count seen before the rename: if an fsync failed since,
    /// the ticket fails.
    fn request(self: &Arc<Self>, failures: u64) -> Ticket {
        let mut st = self.lock();
        st.issued += 1;
        let number = st.issued;
        if st.failures != failures {
            let (kind, msg) = st
                .failed
                .last()
                .map(|f| (f.2, f.3.clone()))
                .unwrap_or((io::ErrorKind::Other, "directory fsync failed".into()));
            record_failure(&mut st, number, number, kind, msg);
        }
        let me = std::process::id();
        if st.worker != Some(me) {
            let owner = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name("dirsync".into())
                .spawn(move || owner.work());
            // Without a thread the waiter fsyncs (`wait`).
            st.worker = started.is_ok().then_some(me);
        }
        drop(st);
        self.changed.notify_all();
        Ticket {
            owner: Arc::clone(self),
            number,
        }
    }

    /// The background thread: fsync while tickets wait; end after `IDLE` without any.
    fn work(&self) {
        let mut st = self.lock();
        loop {
            if st.issued > st.covered && !st.syncing {
                st = self.sync_once(st);
                continue;
            }
            let (next, timeout) = self
                .changed
                .wait_timeout(st, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            st = next;
            if timeout.timed_out() && st.issued == st.covered && !st.syncing {
                st.worker = None;
                return;
            }
        }
    }

    /// Run one fsync covering every ticket issued so far; record its outcome. Called only
    /// when none runs (`syncing`).
    fn sync_once<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let from = st.covered + 1;
        let upto = st.issued;
        st.syncing = true;
        drop(st);
        let outcome = (self.sync)(&self.dir);
        let mut st = self.lock();
        st.syncing = false;
        match outcome {
            Ok(()) => st.covered = st.covered.max(upto),
            Err(e) => {
                // Everything issued until now: renames made during the failed fsync too.
                let to = st.issued;
                st.failures += 1;
                record_failure(&mut st, from, to, e.kind(), e.to_string());
                st.covered = st.covered.max(to);
            }
        }
        self.changed.notify_all();
        st
    }
}

/// Remember that tickets `from..=to` failed; merge with the last range when adjacent, and
/// fold the oldest range into the floor when too many are kept.
fn record_failure(st: &mut State, from: u64, to: u64, kind: io::ErrorKind, msg: String) {
    if let Some(last) = st.failed.last_mut()
        && last.1 + 1 >= from
    {
        last.1 = last.1.max(to);
        return;
    }
    if st.failed.len() == FAILURES_KEPT {
        let oldest = st.failed.remove(0);
        st.failed_floor = st.failed_floor.max(oldest.1);
    }
    st.failed.push((from, to, kind, msg));
}

impl Ticket {
    /// Wait until an fsync that started after this ticket was taken ended; its outcome.
    pub fn wait(self) -> io::Result<()> {
        let es = &self.owner;
        let mut st = es.lock();
        while st.covered < self.number {
            if st.worker != Some(std::process::id()) && !st.syncing {
                // No background thread (it could not start, or this is a forked child).
                st = es.sync_once(st);
                continue;
            }
            st = es.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if self.number <= st.failed_floor {
            return Err(io::Error::other("directory fsync failed"));
        }
        match st
            .failed
            .iter()
            .find(|f| f.0 <= self.number && self.number <= f.1)
        {
            Some((_, _, kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }
}

/// fsync(2) a directory.
fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The process's early-sync state per directory.
fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<EarlySync>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Arc<EarlySync>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// `dir`'s early-sync state: take it before renaming a file into `dir`, then `request`.
pub fn handle(dir: &Path) -> Dir {
    let owner = {
        let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            map.entry(dir.to_path_buf())
                .or_insert_with(|| Arc::new(EarlySync::new(dir, fsync_dir))),
        )
    };
    let failures = owner.lock().failures;
    Dir { owner, failures }
}

impl Dir {
    /// Ask for an fsync of the directory after the rename; `Ticket::wait` gives its outcome.
    pub fn request(self) -> Ticket {
        self.owner.request(self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// fsyncs by `counting_sync` (used by one test only).
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counting_sync(_: &Path) -> io::Result<()> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        Ok(())
    }

    fn quiet_sync(_: &Path) -> io::Result<()> {
        Ok(())
    }

    /// Fails while `FAILING` is set.
    static FAILING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    fn switchable_sync(_: &Path) -> io::Result<()> {
        if FAILING.load(Ordering::SeqCst) {
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space"))
        } else {
            Ok(())
        }
    }

    fn failing_sync(_: &Path) -> io::Result<()> {
        std::thread::sleep(Duration::from_millis(2));
        Err(io::Error::new(io::ErrorKind::StorageFull, "no space"))
    }

    #[test]
    fn tickets_are_covered_by_a_later_fsync_and_share_them() {
        let es = Arc::new(EarlySync::new(Path::new("/unused"), counting_sync));
        let before = CALLS.load(Ordering::SeqCst);
        let tickets: Vec<Ticket> = (0..50).map(|_| es.request(0)).collect();
        for t in tickets {
            t.wait().unwrap();
        }
        let st = es.lock();
        assert_eq!(st.covered, 50);
        let n = CALLS.load(Ordering::SeqCst) - before;
        assert!((1..50).contains(&n), "{} fsyncs for 50 tickets", n);
    }

    #[test]
    fn a_failed_fsync_fails_every_ticket_issued_until_it_ended() {
        let es = Arc::new(EarlySync::new(Path::new("/unused"), failing_sync));
        let first = es.request(0);
        let second = es.request(0);
        assert_eq!(first.wait().unwrap_err().kind(), io::ErrorKind::StorageFull);
        assert_eq!(
            second.wait().unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
    }

    #[test]
    fn without_a_background_thread_the_waiter_fsyncs() {
        let es = Arc::new(EarlySync::new(Path::new("/unused"), quiet_sync));
        let t = es.request(0);
        // As in a forked child: the recorded thread is another process's.
        es.lock().worker = Some(u32::MAX);
        t.wait().unwrap();
        assert!(es.lock().covered >= 1);
    }

    #[test]
    fn a_real_directory_syncs_and_a_removed_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("postern-early-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        handle(&dir).request().wait().unwrap();
        handle(&dir).request().wait().unwrap();
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(
            handle(&dir).request().wait().unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    /// A rename made while an fsync failed is not proven durable by a later success; and
    /// a failure is not forgotten however many follow it.
    #[test]
    fn failures_are_never_forgotten_nor_covered_by_a_later_success() {
        let es = Arc::new(EarlySync::new(Path::new("/unused"), switchable_sync));
        let slow = es.request(0);
        let before = es.lock().failures;
        // An fsync fails between this writer's handle and its request.
        es.request(before).wait().unwrap_err();
        for _ in 0..(FAILURES_KEPT * 2) {
            let f = es.lock().failures;
            // Not adjacent: a success between failures keeps the ranges apart.
            es.request(f).wait().unwrap_err();
            FAILING.store(false, Ordering::SeqCst);
            let f = es.lock().failures;
            es.request(f).wait().unwrap();
            FAILING.store(true, Ordering::SeqCst);
        }
        let late = es.request(before);
        FAILING.store(false, Ordering::SeqCst);
        assert!(
            late.wait().is_err(),
            "an fsync failed after its handle was taken"
        );
        assert!(slow.wait().is_err(), "the first failure is remembered");
        assert!(es.lock().failed.len() <= FAILURES_KEPT);
    }
}
