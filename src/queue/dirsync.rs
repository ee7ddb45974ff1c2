//! Group commit of directory entries: threads that have just renamed a file into the same
//! directory share one fsync of that directory, the way a database batches its log flushes.
//!
//! How it works: a writer calls `sync_dir(dir)` after its rename. It joins the directory's
//! *open batch*. If no fsync of that directory is running, the writer becomes the batch's
//! leader: it closes the batch (later writers join a new one), fsyncs the directory and
//! hands the result to every member. If an fsync is running, the writer waits; when that
//! fsync ends, one member of the open batch becomes its leader, and so on. While one fsync
//! runs, every writer that finishes a rename joins the next batch, so N writers arriving
//! together cost about two fsyncs instead of N.
//!
//! Crash safety (why no 250 is answered early): a writer joins a batch only after its own
//! rename returned, and a batch's fsync starts only after the batch was closed, so the
//! fsync starts after every member's rename: fsync(2) of the directory then makes every
//! member's entry durable, exactly as each member's own fsync would have. A member returns
//! only with its own batch's result (never an earlier batch's, which may have started
//! before its rename); a failed fsync is every member's error, and none of them retries
//! (after a failed fsync the kernel may have dropped the dirty entries, so a later success
//! would prove nothing). The file's data is fsynced by each writer before its rename, as
//! before. A crash before the batch's fsync returns loses at most entries of messages that
//! were not yet acknowledged.
//!
//! Security role: none beyond durability. Logs nothing; errors go to the caller.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// The outcome of one batch's fsync, as every member gets it.
type Outcome = Result<(), (io::ErrorKind, String)>;

/// One batch: set once, when its fsync ended.
#[derive(Default)]
struct Batch {
    done: OnceLock<Outcome>,
}

/// The state of one directory.
#[derive(Default)]
struct State {
    /// The batch new writers join; closed (replaced) when its leader starts the fsync.
    open: Arc<Batch>,
    /// Whether a leader is fsyncing now.
    syncing: bool,
    /// Writers waiting for a batch's result (for the tests).
    waiting: usize,
}

/// Group commit for one directory.
#[derive(Default)]
pub struct DirSync {
    state: Mutex<State>,
    changed: Condvar,
}

impl DirSync {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make `dir`'s entries, as they are now, durable: returns after an fsync of `dir` that
    /// started after this call did, with that fsync's result. `sync` is the fsync itself
    /// (open the directory and fsync it; a parameter for the tests).
    pub fn sync_with(&self, dir: &Path, sync: impl Fn(&Path) -> io::Result<()>) -> io::Result<()> {
        let mut st = self.lock();
        let mine = Arc::clone(&st.open);
        loop {
            if let Some(outcome) = mine.done.get() {
                return outcome
                    .clone()
                    .map_err(|(kind, msg)| io::Error::new(kind, msg));
            }
            if !st.syncing {
                // `mine` has not started (it would have a result or `syncing` would be set),
                // so it is still the open batch: lead it.
                st.syncing = true;
                st.open = Arc::new(Batch::default());
                drop(st);
                let outcome = sync(dir).map_err(|e| (e.kind(), e.to_string()));
                st = self.lock();
                st.syncing = false;
                let _ = mine.done.set(outcome);
                self.changed.notify_all();
                continue;
            }
            st.waiting += 1;
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting -= 1;
        }
    }

    /// How many writers wait for a batch now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

/// fsync(2) a directory.
fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The process's group-commit state per directory (a handful: incoming/, hold/, maildrop/).
fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<DirSync>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Arc<DirSync>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// fsync `dir` after a rename into it, sharing the fsync with the other threads of this
/// process that do the same at the same moment (see the module comment). Returns only after
/// an fsync that started after this call, with its result.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let ds = {
        let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(dir.to_path_buf()).or_default())
    };
    ds.sync_with(dir, fsync_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Wait (bounded) until `n` writers wait on `ds`.
    fn until_waiting(ds: &DirSync, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ds.waiting() < n {
            assert!(Instant::now() < deadline, "writers did not start waiting");
            std::thread::yield_now();
        }
    }

    /// Every caller's result comes from a sync that started after it called: each "sync"
    /// fails with the number of callers that had begun when it started, so every caller
    /// learns which sync answered it, and fewer syncs than callers ran.
    #[test]
    fn every_caller_is_answered_by_a_sync_that_started_after_it() {
        let ds = Arc::new(DirSync::default());
        let begun = Arc::new(AtomicUsize::new(0));
        let syncs = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let (ds, begun, syncs) = (ds.clone(), begun.clone(), syncs.clone());
                std::thread::spawn(move || {
                    let me = begun.fetch_add(1, Ordering::SeqCst) + 1;
                    let e = ds
                        .sync_with(Path::new("/unused"), |_| {
                            syncs.fetch_add(1, Ordering::SeqCst);
                            let seen = begun.load(Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(1));
                            Err(io::Error::other(seen.to_string()))
                        })
                        .unwrap_err();
                    let seen: usize = e.to_string().parse().unwrap();
                    assert!(
                        seen >= me,
                        "caller {} answered by a sync that saw {}",
                        me,
                        seen
                    );
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = syncs.load(Ordering::SeqCst);
        assert!((1..=32).contains(&n), "{} syncs", n);
    }

    /// Writers that arrive while a sync runs share the next one; a writer is never answered
    /// by a sync already running when it came, and a failed sync fails its whole batch.
    #[test]
    fn a_batch_shares_one_sync_and_a_running_sync_covers_no_newcomer() {
        let ds = Arc::new(DirSync::default());
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let calls = Arc::new(AtomicUsize::new(0));
        let leader = {
            let (ds, calls) = (ds.clone(), calls.clone());
            std::thread::spawn(move || {
                ds.sync_with(Path::new("/unused"), |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    release_rx.lock().unwrap().recv().unwrap();
                    Ok(())
                })
            })
        };
        started_rx.recv().unwrap();
        // The first sync runs: these four must get one later sync (which fails) for all.
        let members: Vec<_> = (0..4)
            .map(|_| {
                let (ds, calls) = (ds.clone(), calls.clone());
                std::thread::spawn(move || {
                    ds.sync_with(Path::new("/unused"), |_| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Err(io::Error::new(io::ErrorKind::StorageFull, "no space"))
                    })
                })
            })
            .collect();
        until_waiting(&ds, 4);
        release_tx.send(()).unwrap();
        leader.join().unwrap().unwrap();
        for m in members {
            let e = m.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one sync for the four");
    }

    #[test]
    fn a_real_directory_syncs_and_a_missing_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("postern-dirsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        sync_dir(&dir).unwrap();
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(sync_dir(&dir).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
