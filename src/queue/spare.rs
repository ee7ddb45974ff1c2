//! Spare queue files: the file of a delivered message, kept under a temporary name in
//! spare/ for a later new message of this process to overwrite, instead of unlinking one
//! file and creating another for every message.
//!
//! Why: creating and deleting a file costs an inode allocation and release (and, on a file
//! system mounted with `discard`, a discard of its blocks). On ext4 without a journal a new
//! inode is searched past every inode freed in the last minutes, which made file creation
//! the largest single cost of accepting a message (README, "Benchmark"). A spare keeps its
//! inode and blocks; the writer overwrites it from the start and cuts it to the new length
//! before its fsync (`Incoming::commit`).
//!
//! Crash safety: a spare is handed out only once its move out of the queue is durable.
//! `Queue::recycle` renames `active/ID` to `spare/t.PID.N` and puts it here as *pending*;
//! when `BATCH` are pending (or the oldest waited `SETTLE`), the queue directories they
//! left and spare/ are fsynced and they become *ready* (`promote`). Without that, a crash
//! after a new message's 250 could leave the old name in active/ pointing at the new
//! message's inode (ext4 without a journal refuses to reuse a freed inode for minutes for
//! this very reason). The reverse case, the spare/ name surviving a crash next to the
//! incoming/ name it was renamed to, is handled at start (`Queue::purge_temporary` leaves
//! a spare whose inode a queue file still uses).
//!
//! The pool is in memory only and bounded (`LIMIT`), used first in, first out (so that
//! one inode, and with it the inode part of the queue ID, is not reused message after
//! message); a spare idle longer than `MAX_IDLE`, or whose file was last written longer ago
//! than that, is deleted rather than used, and `expire` (called at each deferred-queue
//! scan) deletes idle ones when no mail comes. On disk a spare is `spare/t.PID.N`, named
//! like an interrupted write (spare/ is not a message queue: mailq, the scheduler and
//! scripts that count incoming/, active/ and deferred/ never see spares): the start-up
//! purge removes any left by a crash or stop, and `postsuper -p` those last written more
//! than six hours ago.
//!
//! Security role: spares are mail_owner's files in mail_owner's spare/ (mode 0700),
//! opened without following links. A spare holds a delivered message's bytes until it is
//! overwritten or deleted, as the queue held them before delivery. Logs nothing.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The spool directory of spare files.
pub const DIR: &str = "spare";

/// At most this many spares (pending and ready) are kept; beyond, a delivered message's
/// file is unlinked.
pub const LIMIT: usize = 128;

/// A spare idle longer than this is deleted, not used (well under postsuper -p's age).
pub const MAX_IDLE: Duration = Duration::from_secs(3600);

/// Pending spares are made durable together once this many wait...
pub const BATCH: usize = 16;

/// ...or once the oldest has waited this long (checked when another is put).
pub const SETTLE: Duration = Duration::from_secs(1);

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
    /// The queue directory it was renamed out of (fsynced before it is used).
    pub left: PathBuf,
    /// The queue ID of the message it held (a new message must not get the same one).
    pub old_id: String,
    since: Instant,
}

#[derive(Debug, Default)]
struct Lists {
    /// Renamed into spare/, the move not yet known durable.
    pending: Vec<Spare>,
    /// Durable: may be overwritten.
    ready: VecDeque<Spare>,
}

/// The pool of one process, shared by the clones of its `Queue`.
#[derive(Debug)]
pub struct Spares {
    lists: Mutex<Lists>,
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
            lists: Mutex::new(Lists::default()),
            max_idle,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lists> {
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stale(&self, s: &Spare) -> bool {
        s.since.elapsed() >= self.max_idle
    }

    /// Whether `put` would keep one more.
    pub fn has_room(&self) -> bool {
        let l = self.lock();
        l.pending.len() + l.ready.len() < LIMIT
    }

    /// Keep `path` (already renamed out of the queue directory `left`) as a pending spare,
    /// or delete it when the pool is full. Returns whether the pending ones should now be
    /// made durable and promoted (`BATCH` of them, or the oldest waited `SETTLE`).
    pub fn put(&self, path: PathBuf, left: &Path, old_id: &str) -> bool {
        let spare = Spare {
            path,
            left: left.to_path_buf(),
            old_id: old_id.to_string(),
            since: Instant::now(),
        };
        let mut l = self.lock();
        if l.pending.len() + l.ready.len() >= LIMIT {
            drop(l);
            let _ = fs::remove_file(&spare.path);
            return false;
        }
        l.pending.push(spare);
        l.pending.len() >= BATCH
            || l.pending
                .first()
                .is_some_and(|s| s.since.elapsed() >= SETTLE)
    }

    /// The pending spares, taken out for their directories to be fsynced; give them back
    /// with `promote` once that succeeded (else delete them).
    pub fn take_pending(&self) -> Vec<Spare> {
        std::mem::take(&mut self.lock().pending)
    }

    /// Make spares (from `take_pending`, their moves now durable) ready for use.
    pub fn promote(&self, spares: Vec<Spare>) {
        self.lock().ready.extend(spares);
    }

    /// The longest-ready spare that is not stale; stale ones met on the way are deleted.
    pub fn take(&self) -> Option<Spare> {
        loop {
            let s = self.lock().ready.pop_front()?;
            if !self.stale(&s) {
                return Some(s);
            }
            let _ = fs::remove_file(&s.path);
        }
    }

    /// Delete the spares idle longer than the limit (pending ones too). Returns how many.
    pub fn expire(&self) -> usize {
        let gone: Vec<Spare> = {
            let mut l = self.lock();
            let mut gone = Vec::new();
            while l.ready.front().is_some_and(|s| self.stale(s)) {
                gone.extend(l.ready.pop_front());
            }
            let (old, keep): (Vec<Spare>, Vec<Spare>) = std::mem::take(&mut l.pending)
                .into_iter()
                .partition(|s| self.stale(s));
            l.pending = keep;
            gone.extend(old);
            gone
        };
        for s in &gone {
            let _ = fs::remove_file(&s.path);
        }
        gone.len()
    }

    /// How many are kept, pending and ready (for the tests).
    pub fn len(&self) -> usize {
        let l = self.lock();
        l.pending.len() + l.ready.len()
    }

    /// How many are ready for use (for the tests).
    pub fn ready(&self) -> usize {
        self.lock().ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        let mut l = self.lock();
        let pending = std::mem::take(&mut l.pending);
        for s in pending.iter().chain(l.ready.iter()) {
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

    fn spare(d: &Path, n: usize) -> PathBuf {
        let p = d.join(format!("t.1.{}", n));
        fs::write(&p, b"x").unwrap();
        p
    }

    #[test]
    fn pending_until_promoted_first_in_first_out_bounded() {
        let d = dir("bound");
        let pool = Spares::default();
        let mut due = Vec::new();
        for i in 0..LIMIT + 3 {
            due.push(pool.put(spare(&d, i), &d, "ABCDEF1"));
        }
        assert_eq!(pool.len(), LIMIT);
        assert!(!pool.has_room());
        // The three beyond the limit were deleted at once.
        assert_eq!(fs::read_dir(&d).unwrap().count(), LIMIT);
        assert!(
            !due[BATCH - 2] && due[BATCH - 1],
            "a batch is due at BATCH pending"
        );
        assert!(
            pool.take().is_none(),
            "nothing is used before it is durable"
        );
        let pending = pool.take_pending();
        assert_eq!(pending.len(), LIMIT);
        pool.promote(pending);
        assert_eq!(pool.ready(), LIMIT);
        let s = pool.take().unwrap();
        assert_eq!(s.path, d.join("t.1.0"), "the longest-ready first");
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
        let a = spare(&d, 1);
        pool.put(a.clone(), &d, "ABCDEF1");
        let pending = pool.take_pending();
        pool.promote(pending);
        assert!(pool.take().is_none());
        assert!(!a.exists(), "the stale spare is deleted");
        assert!(pool.is_empty());
        // expire deletes idle ones, pending or ready, without a new message coming.
        let (b, c) = (spare(&d, 2), spare(&d, 3));
        pool.put(b.clone(), &d, "ABCDEF2");
        let pending = pool.take_pending();
        pool.promote(pending);
        pool.put(c.clone(), &d, "ABCDEF3");
        assert_eq!(pool.expire(), 2);
        assert!(!b.exists() && !c.exists());
        assert!(pool.is_empty());
        fs::remove_dir_all(&d).unwrap();
    }
}
