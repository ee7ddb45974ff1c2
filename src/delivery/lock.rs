//! Mailbox locking for local(8) and virtual(8) deliveries: `mailbox_delivery_lock = fcntl,
//! dotlock` (`virtual_mailbox_lock`), `deliver_lock_attempts`, `deliver_lock_delay`,
//! `stale_lock_time`.
//!
//! Three layers, taken in this order (Postfix's mbox_open() order) and released in reverse:
//! 1. an in-process path lock (`PathGuard`): fcntl locks belong to a process, so two worker
//!    threads of one process would both "own" the same fcntl lock; this serialises them;
//! 2. a dot-lock file `PATH.lock` created with O_CREAT|O_EXCL (what mutt, mailx and Dovecot
//!    honour). It holds `PID:HOST` of its creator. An existing lock is broken at once when
//!    it names this host (the kernel host name) and a PID that no longer exists, so a crash
//!    does not block the mailbox; otherwise (another host, no readable PID, or a live
//!    process) only when older than stale_lock_time, as Postfix's dot_lockfile() does for
//!    every lock. Postfix writes an empty lock file and never looks inside. PIDs are
//!    compared in this PID namespace: hosts that share a spool must not share a host name;
//! 3. an fcntl(2) F_SETLK write lock on the open mailbox (never flock(2), which Linux MUAs
//!    do not look at).
//!
//! Retries (`retry`): each attempt tries every lock once without waiting; when one is busy,
//! everything taken in that attempt is released before the pause, so this side never holds
//! the dot-lock while it waits for the fcntl lock. Postfix keeps the dot-lock while it
//! retries fcntl, and that deadlocks with a reader that takes the locks in the other order
//! and waits: Debian's Dovecot (`mbox_write_locks = fcntl dotlock`) holds its fcntl lock
//! for up to mbox_lock_timeout while it waits for the dot-lock, so both sides waited until
//! the delivery gave up (deferred after deliver_lock_attempts). There are
//! deliver_lock_attempts attempts; the pauses start at 10ms and double up to
//! deliver_lock_delay, each randomised by +-50% as Postfix's rand_sleep() does, so that short
//! contention costs milliseconds and two waiting sides do not retry in step.
//!
//! Security role: the dot-lock is created with O_NOFOLLOW-equivalent O_EXCL semantics (an
//! existing symlink makes creation fail) and mode 0600; an existing one is read without
//! following symlinks or blocking (at most 256 bytes), and removed only if it is still the
//! file that was judged stale. Anyone who may write the lock's directory can make a lock
//! look stale, but such a user can remove it anyway. Logs nothing (Postfix does not log
//! breaking a stale lock either).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime};

use crate::sys::{self, RecordLock};

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
        LockPolicy::from_param(cfg, "mailbox_delivery_lock")
    }

    /// As `from_config`, with the lock kinds from the parameter `name` (virtual(8) reads
    /// virtual_mailbox_lock).
    pub fn from_param(cfg: &crate::config::Config, name: &str) -> LockPolicy {
        let mut p = LockPolicy::default();
        let kinds = cfg.list(name);
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
/// then randomised to between half and one and a half times that (Postfix's
/// `rand_sleep(delay, delay / 2)`).
fn backoff(policy: &LockPolicy, attempt: u32) -> Duration {
    let ms = 10u64.saturating_mul(1 << (attempt - 1).min(16));
    let base = Duration::from_millis(ms).min(policy.delay);
    let nanos = base.as_nanos() as u64;
    if nanos < 2 {
        return base;
    }
    Duration::from_nanos(nanos / 2 + random_u64() % nanos)
}

/// A random number for the pauses (std's randomly keyed SipHash over a counter: no file
/// to open, so it works in any chroot and as any user).
fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// What one attempt at taking a set of locks gave.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// Everything was taken.
    Done(T),
    /// A lock is held by someone else; whatever the attempt took is released again. `E`
    /// is the error to report if this was the last attempt.
    Busy(E),
    /// An error that retrying will not cure.
    Failed(E),
}

/// Run `once` until it is done or fails, at most `policy.attempts` times, pausing
/// (`backoff`) after each busy attempt. The last busy attempt's error is the result.
pub fn retry<T, E>(policy: &LockPolicy, mut once: impl FnMut() -> Attempt<T, E>) -> Result<T, E> {
    let mut attempt = 1;
    loop {
        match once() {
            Attempt::Done(v) => return Ok(v),
            Attempt::Failed(e) => return Err(e),
            Attempt::Busy(e) if attempt >= policy.attempts.max(1) => return Err(e),
            Attempt::Busy(_) => {
                std::thread::sleep(backoff(policy, attempt));
                attempt += 1;
            }
        }
    }
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

/// The contents of a dot-lock this process creates: `PID:HOST` and a newline (the form
/// Dovecot writes; tools that read only a leading PID, as liblockfile does, still find it).
pub fn dotlock_contents() -> String {
    format!("{}:{}\n", std::process::id(), crate::sys::hostname())
}

/// The (pid, host) written in a dot-lock's contents, when there is a positive PID; the host
/// is empty when none is given.
pub fn parse_dotlock(text: &str) -> Option<(i32, &str)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let pid: i32 = text[..end].parse().ok().filter(|&p| p > 0)?;
    let host = text[end..].trim_start_matches([':', ' ', '\t']).trim();
    Some((pid, host))
}

/// Read the lock file at `lock` (a regular file, never through a symlink, at most 256 bytes)
/// and decide whether it is stale: written on this host by a process that no longer exists,
/// or older than stale_lock_time (the only test for foreign or unreadable locks). When it
/// is, its inode, so that only that file is removed.
fn stale(lock: &Path, policy: &LockPolicy) -> Option<u64> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(lock)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut text = String::new();
    let _ = file.take(256).read_to_string(&mut text);
    if let Some((pid, host)) = parse_dotlock(&text)
        && host == crate::sys::hostname()
        && !crate::sys::process_exists(pid)
    {
        return Some(meta.ino());
    }
    let old = meta.modified().ok().is_some_and(|m| {
        SystemTime::now()
            .duration_since(m)
            .is_ok_and(|age| age > policy.stale)
    });
    old.then_some(meta.ino())
}

/// Remove the lock file at `lock` if it is still the file with inode `ino`.
fn remove_if_same(lock: &Path, ino: u64) {
    use std::os::unix::fs::MetadataExt;
    if std::fs::symlink_metadata(lock).is_ok_and(|m| m.ino() == ino) {
        let _ = std::fs::remove_file(lock);
    }
}

impl Dotlock {
    /// Create `PATH.lock` holding `dotlock_contents()`, retrying (`retry`) while another
    /// holder has it; see `try_acquire`.
    pub fn acquire(mailbox: &Path, policy: &LockPolicy) -> io::Result<Dotlock> {
        retry(policy, || Dotlock::attempt(mailbox, policy))
    }

    /// One attempt at `acquire`: the lock, `Busy` while someone else holds it, or `Failed`.
    /// An existing lock is removed at once when it names a process of this host that is
    /// gone (a crash left it), otherwise only when older than `policy.stale` (Postfix's
    /// stale_lock_time rule). The error text is Postfix's: `unable to create lock file
    /// PATH.lock: REASON` (`File exists` when busy).
    pub fn attempt(mailbox: &Path, policy: &LockPolicy) -> Attempt<Dotlock, io::Error> {
        let lock = dotlock_path(mailbox);
        let fail = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "unable to create lock file {}: {}",
                    lock.display(),
                    crate::tables::hash::io_text(&e)
                ),
            )
        };
        // A stale lock is removed and creation tried again, a few times at most (another
        // process may be breaking and re-creating it at the same moment).
        for _ in 0..4 {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&lock)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    // The contents only help others break a lock we leave behind.
                    let _ = f.write_all(dotlock_contents().as_bytes());
                    return Attempt::Done(Dotlock { path: lock });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match stale(&lock, policy) {
                    Some(ino) => remove_if_same(&lock, ino),
                    None => break,
                },
                Err(e) => return Attempt::Failed(fail(e)),
            }
        }
        Attempt::Busy(fail(io::Error::from_raw_os_error(libc::EEXIST)))
    }
}

impl Drop for Dotlock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Take an fcntl write lock on the whole file, retrying (`retry`) while another process
/// holds it. The lock goes when the file is closed or `fcntl_unlock` is called.
pub fn fcntl_lock(file: &File, policy: &LockPolicy) -> io::Result<()> {
    retry(policy, || fcntl_attempt(file))
}

/// One attempt at `fcntl_lock`: `Busy` (with EAGAIN) while another process holds a lock.
pub fn fcntl_attempt(file: &File) -> Attempt<(), io::Error> {
    match sys::fcntl_setlk(file, RecordLock::Write) {
        Ok(()) => Attempt::Done(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
            Attempt::Busy(io::Error::from_raw_os_error(libc::EAGAIN))
        }
        Err(e) => Attempt::Failed(e),
    }
}

/// Release an fcntl lock taken with `fcntl_lock` or `fcntl_attempt`.
pub fn fcntl_unlock(file: &File) -> io::Result<()> {
    sys::fcntl_setlk(file, RecordLock::Unlock)
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
