//! Mailbox locking for local(8) deliveries: `mailbox_delivery_lock = fcntl, dotlock`.
//!
//! Three layers, taken in this order and released in reverse:
//! 1. an in-process path lock (`PathGuard`): fcntl locks belong to a process, so two worker
//!    threads of one process would both "own" the same fcntl lock; this serialises them;
//! 2. a dot-lock file `PATH.lock` created with O_CREAT|O_EXCL, retried a bounded number of
//!    times and removed when older than the stale time (what mutt, mailx and Dovecot honour);
//! 3. an fcntl(2) F_SETLK write lock on the open mailbox (never flock(2), which Linux MUAs
//!    do not look at).
//!
//! Security role: the dot-lock is created with O_NOFOLLOW-equivalent O_EXCL semantics (an
//! existing symlink makes creation fail) and mode 0600. Logs nothing.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime};

/// Which locks to take and how long to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    pub dotlock: bool,
    pub fcntl: bool,
    /// Attempts for each lock (deliver_lock_attempts, default 20).
    pub attempts: u32,
    /// Longest pause between attempts (deliver_lock_delay, default 1s); the first retries
    /// come sooner (see `backoff`).
    pub delay: Duration,
    /// A dot-lock older than this is removed (stale_lock_time, default 500s).
    pub stale: Duration,
}

impl Default for LockPolicy {
    fn default() -> LockPolicy {
        LockPolicy {
            dotlock: true,
            fcntl: true,
            attempts: 20,
            delay: Duration::from_secs(1),
            stale: Duration::from_secs(500),
        }
    }
}

impl LockPolicy {
    /// From mailbox_delivery_lock and, when present, deliver_lock_attempts,
    /// deliver_lock_delay and stale_lock_time.
    pub fn from_config(cfg: &crate::config::Config) -> LockPolicy {
        let mut p = LockPolicy::default();
        let kinds = cfg.list("mailbox_delivery_lock");
        p.dotlock = kinds.iter().any(|k| k == "dotlock");
        p.fcntl = kinds.iter().any(|k| k == "fcntl" || k == "flock");
        if cfg.has("deliver_lock_attempts") {
            p.attempts = cfg.int("deliver_lock_attempts").clamp(1, 1000) as u32;
        }
        if cfg.has("deliver_lock_delay") {
            p.delay = cfg.time("deliver_lock_delay");
        }
        if cfg.has("stale_lock_time") {
            p.stale = cfg.time("stale_lock_time");
        }
        p
    }
}

/// The pause before retry number `attempt` (from 1): 10ms doubling, at most `policy.delay`,
/// so short contention between deliveries costs milliseconds, not seconds.
fn backoff(policy: &LockPolicy, attempt: u32) -> Duration {
    let ms = 10u64.saturating_mul(1 << (attempt - 1).min(16));
    Duration::from_millis(ms).min(policy.delay)
}

static BUSY: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
static FREED: Condvar = Condvar::new();

/// Exclusive use of a path among the threads of this process.
pub struct PathGuard {
    path: PathBuf,
}

impl PathGuard {
    /// Wait until no other thread of this process holds `path`.
    pub fn acquire(path: &Path) -> PathGuard {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let set = busy.get_or_insert_with(HashSet::new);
            if set.insert(path.to_path_buf()) {
                return PathGuard {
                    path: path.to_path_buf(),
                };
            }
            busy = FREED.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = busy.as_mut() {
            set.remove(&self.path);
        }
        FREED.notify_all();
    }
}

/// The dot-lock file name for a mailbox: `PATH.lock`.
pub fn dotlock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// A held dot-lock; removed on drop.
pub struct Dotlock {
    path: PathBuf,
}

impl Dotlock {
    /// Create `PATH.lock`, retrying while another holder has it; a lock file older than
    /// `policy.stale` is removed first.
    pub fn acquire(mailbox: &Path, policy: &LockPolicy) -> io::Result<Dotlock> {
        let lock = dotlock_path(mailbox);
        let mut last = io::Error::from(io::ErrorKind::WouldBlock);
        for attempt in 0..policy.attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(backoff(policy, attempt));
            }
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&lock)
            {
                Ok(_) => return Ok(Dotlock { path: lock }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if let Ok(meta) = std::fs::symlink_metadata(&lock)
                        && let Ok(m) = meta.modified()
                        && SystemTime::now()
                            .duration_since(m)
                            .is_ok_and(|age| age > policy.stale)
                    {
                        let _ = std::fs::remove_file(&lock);
                    }
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            last.kind(),
            format!("unable to create lock file {}: file exists", lock.display()),
        ))
    }
}

impl Drop for Dotlock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn setlk(file: &File, kind: libc::c_short) -> io::Result<()> {
    // SAFETY: flock is plain data; zeroed is a valid value. fcntl is called on a descriptor
    // we own (borrowed from `file`) with a pointer to that struct, valid for the call.
    let rc = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = kind;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = 0;
        fl.l_len = 0;
        libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl)
    };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Take an fcntl write lock on the whole file, retrying while another process holds it.
/// The lock goes when the file is closed or `fcntl_unlock` is called.
pub fn fcntl_lock(file: &File, policy: &LockPolicy) -> io::Result<()> {
    let mut last = io::Error::from(io::ErrorKind::WouldBlock);
    for attempt in 0..policy.attempts.max(1) {
        if attempt > 0 {
            std::thread::sleep(policy.delay);
        }
        match setlk(file, libc::F_WRLCK as libc::c_short) {
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                last = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Release an fcntl lock taken with `fcntl_lock`.
pub fn fcntl_unlock(file: &File) -> io::Result<()> {
    setlk(file, libc::F_UNLCK as libc::c_short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("postern-lock-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn quick() -> LockPolicy {
        LockPolicy {
            attempts: 2,
            delay: Duration::from_millis(1),
            ..LockPolicy::default()
        }
    }

    #[test]
    fn dotlock_is_exclusive_and_removed() {
        let d = tmpdir("dot");
        let mbox = d.join("user");
        let held = Dotlock::acquire(&mbox, &quick()).unwrap();
        assert!(d.join("user.lock").exists());
        let err = Dotlock::acquire(&mbox, &quick()).err().unwrap();
        assert!(err.to_string().contains("user.lock"), "{}", err);
        drop(held);
        assert!(!d.join("user.lock").exists());
        let _again = Dotlock::acquire(&mbox, &quick()).unwrap();
    }

    #[test]
    fn stale_dotlock_is_broken() {
        let d = tmpdir("stale");
        let mbox = d.join("user");
        std::fs::write(d.join("user.lock"), b"").unwrap();
        let p = LockPolicy {
            stale: Duration::ZERO,
            ..quick()
        };
        std::thread::sleep(Duration::from_millis(5));
        assert!(Dotlock::acquire(&mbox, &p).is_ok());
    }

    #[test]
    fn path_guard_serialises_threads() {
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let path = tmpdir("guard").join("mbox");
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (inside, max, path) = (inside.clone(), max.clone(), path.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _g = PathGuard::acquire(&path);
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn fcntl_lock_and_unlock() {
        let d = tmpdir("fcntl");
        let p = d.join("mbox");
        std::fs::write(&p, b"").unwrap();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        fcntl_lock(&f, &quick()).unwrap();
        fcntl_unlock(&f).unwrap();
        fcntl_lock(&f, &quick()).unwrap();
        // A write lock needs a descriptor open for writing.
        let ro = File::open(&p).unwrap();
        assert_eq!(
            fcntl_lock(&ro, &quick()).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
