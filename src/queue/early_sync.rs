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
//! Ok. A failed fsync fails every ticket issued until it ended (not only those it covered:
//! after a failed fsync the kernel may have dropped the dirty entries of renames made
//! while it ran, so a later success would prove nothing for them); their messages are
//! answered 4xx. A process that forked keeps no background thread: the child's first
//! request starts its own.
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
    /// The process whose background thread runs now, if any.
    worker: Option<u32>,
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
    fn request(self: &Arc<Self>) -> Ticket {
        let mut st = self.lock();
        st.issued += 1;
        let number = st.issued;
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
            if st.issued > st.covered {
                st = self.sync_once(st);
                continue;
            }
            let (next, timeout) = self
                .changed
                .wait_timeout(st, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            st = next;
            if timeout.timed_out() && st.issued == st.covered {
                st.worker = None;
                return;
            }
        }
    }

    /// Run one fsync covering every ticket issued so far; record its outcome.
    fn sync_once<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let upto = st.issued;
        drop(st);
        let outcome = (self.sync)(&self.dir);
        let mut st = self.lock();
        let from = st.covered + 1;
        match outcome {
            Ok(()) => st.covered = st.covered.max(upto),
            Err(e) => {
                // Everything issued until now: renames made during the failed fsync too.
                let to = st.issued;
                if st.failed.len() == FAILURES_KEPT {
                    st.failed.remove(0);
                }
                st.failed.push((from, to, e.kind(), e.to_string()));
                st.covered = to;
            }
        }
        self.changed.notify_all();
        st
    }
}

impl Ticket {
    /// Wait until an fsync that started after this ticket was taken ended; its outcome.
    pub fn wait(self) -> io::Result<()> {
        let es = &self.owner;
        let mut st = es.lock();
        while st.covered < self.number {
            if st.worker != Some(std::process::id()) {
                // No background thread (it could not start, or this is a forked child).
                st = es.sync_once(st);
                continue;
            }
            st = es.changed.wait(st).unwrap_or_else(|e| e.into_inner());
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

/// Ask for an fsync of `dir` after a rename into it; `Ticket::wait` gives its outcome.
pub fn request(dir: &Path) -> Ticket {
    let es = {
        let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            map.entry(dir.to_path_buf())
                .or_insert_with(|| Arc::new(EarlySync::new(dir, fsync_dir))),
        )
    };
    es.request()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counting_sync(_: &Path) -> io::Result<()> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        Ok(())
    }

    fn failing_sync(_: &Path) -> io::Result<()> {
        std::thread::sleep(Duration::from_millis(2));
        Err(io::Error::new(io::ErrorKind::StorageFull, "no space"))
    }

    #[test]
    fn tickets_are_covered_by_a_later_fsync_and_share_them() {
        let es = Arc::new(EarlySync::new(Path::new("/unused"), counting_sync));
        let before = CALLS.load(Ordering::SeqCst);
        let tickets: Vec<Ticket> = (0..50).map(|_| es.request()).collect();
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
        let first = es.request();
        let second = es.request();
        assert_eq!(first.wait().unwrap_err().kind(), io::ErrorKind::StorageFull);
        assert_eq!(
            second.wait().unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
    }

    #[test]
    fn without_a_background_thread_the_waiter_fsyncs() {
        let es = Arc::new(EarlySync::new(Path::new("/unused"), counting_sync));
        let t = es.request();
        // As in a forked child: the recorded thread is another process's.
        es.lock().worker = Some(u32::MAX);
        t.wait().unwrap();
        assert!(es.lock().covered >= 1);
    }

    #[test]
    fn a_real_directory_syncs_and_a_removed_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("postern-early-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        request(&dir).wait().unwrap();
        request(&dir).wait().unwrap();
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(
            request(&dir).wait().unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
