//! Spare queue files: the file of a delivered message, kept under a temporary name in
//! spare/ for the next new message of this process to overwrite, instead of unlinking one
//! file and creating another for every message.
//!
//! Why: creating and deleting a file costs an inode allocation and release (and, on a file
//! system mounted with `discard`, a discard of its blocks). On ext4 without a journal a new
//! inode is searched past every inode freed in the last minutes, which made file creation
//! the largest single cost of accepting a message (README, "Benchmark"). A spare keeps its
//! inode and blocks; the writer overwrites it from the start and cuts it to the new length
//! before its fsync (`Incoming::commit`).
//!
//! The pool is in memory only and bounded (`LIMIT`); a spare idle longer than `MAX_IDLE`,
//! or whose file was last written longer ago than that (a message that waited in the queue),
//! is deleted rather than used. On disk a spare is `spare/t.<pid>.<n>`, named like an
//! interrupted write (spare/ is not a message queue: mailq, the scheduler and scripts that
//! count incoming/, active/ and deferred/ never see spares): the start-up purge removes
//! any left by a crash or stop, and `postsuper -p` removes those last written more than
//! six hours ago, so never one this pool would hand out.
//!
//! Security role: spares are mail_owner's files in mail_owner's spare/ (mode 0700),
//! opened without following links. A spare holds a delivered message's bytes until it is
//! overwritten or deleted, as the queue held them before delivery. Logs nothing.

use std::fs;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The spool directory of spare files.
pub const DIR: &str = "spare";

/// At most this many spares are kept; a delivered message beyond them is unlinked.
pub const LIMIT: usize = 128;

/// A spare idle longer than this is deleted, not used (well under postsuper -p's age).
pub const MAX_IDLE: Duration = Duration::from_secs(3600);

/// Whether a spare's file was written recently enough to be used (`MAX_IDLE`).
pub fn fresh(meta: &fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < MAX_IDLE)
}

/// One spare file.
#[derive(Debug)]
pub struct Spare {
    pub path: PathBuf,
    /// The queue ID of the message it held (a new message must not get the same one).
    pub old_id: String,
    since: Instant,
}

/// The pool of one process, shared by the clones of its `Queue`.
#[derive(Debug)]
pub struct Spares {
    list: Mutex<Vec<Spare>>,
    max_idle: Duration,
}

impl Default for Spares {
    fn default() -> Spares {
        Spares::new(MAX_IDLE)
    }
}

impl Spares {
    pub fn new(max_idle: Duration) -> Spares {
        Spares {
            list: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn stale(&self, s: &Spare) -> bool {
        s.since.elapsed() >= self.max_idle
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Spare>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `put` would keep one more.
    pub fn has_room(&self) -> bool {
        self.lock().len() < LIMIT
    }

    /// Keep `path` (already renamed to its temporary name) as a spare; when the pool is
    /// full, or its oldest entry is stale, a file is deleted instead.
    pub fn put(&self, path: PathBuf, old_id: &str) {
        let spare = Spare {
            path,
            old_id: old_id.to_string(),
            since: Instant::now(),
        };
        let mut unlink = Vec::new();
        {
            let mut list = self.lock();
            if list.first().is_some_and(|s| self.stale(s)) {
                unlink.push(list.remove(0));
            }
            if list.len() < LIMIT {
                list.push(spare);
            } else {
                unlink.push(spare);
            }
        }
        for s in unlink {
            let _ = fs::remove_file(&s.path);
        }
    }

    /// The most recently kept spare that is not stale; stale ones met on the way are
    /// deleted.
    pub fn take(&self) -> Option<Spare> {
        loop {
            let s = self.lock().pop()?;
            if !self.stale(&s) {
                return Some(s);
            }
            let _ = fs::remove_file(&s.path);
        }
    }

    /// How many are kept (for the tests and the start-up log).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        for s in self.lock().drain(..) {
            let _ = fs::remove_file(&s.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("postern-spare-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn newest_first_bounded_and_deleted_when_dropped() {
        let d = dir("bound");
        let pool = Spares::default();
        for i in 0..LIMIT + 3 {
            let p = d.join(format!("t.1.{}", i));
            fs::write(&p, b"x").unwrap();
            pool.put(p, "ABCDEF1");
        }
        assert_eq!(pool.len(), LIMIT);
        assert!(!pool.has_room());
        // The three beyond the limit were deleted at once.
        assert_eq!(fs::read_dir(&d).unwrap().count(), LIMIT);
        let s = pool.take().unwrap();
        assert_eq!(s.path, d.join(format!("t.1.{}", LIMIT - 1)));
        assert_eq!(s.old_id, "ABCDEF1");
        assert!(pool.has_room());
        drop(pool);
        // Only the one taken is left: the pool deletes what it still holds.
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stale_spares_are_deleted_not_used() {
        let d = dir("stale");
        let pool = Spares::new(Duration::ZERO);
        let p = d.join("t.1.1");
        fs::write(&p, b"x").unwrap();
        pool.put(p.clone(), "ABCDEF1");
        assert_eq!(pool.len(), 1);
        assert!(pool.take().is_none());
        assert!(!p.exists(), "the stale spare is deleted");
        assert!(pool.is_empty());
        // A stale oldest entry is deleted when another is put.
        let (a, b) = (d.join("t.1.2"), d.join("t.1.3"));
        fs::write(&a, b"x").unwrap();
        fs::write(&b, b"x").unwrap();
        pool.put(a.clone(), "ABCDEF2");
        pool.put(b.clone(), "ABCDEF3");
        assert!(!a.exists() && b.exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
