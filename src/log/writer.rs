//! Where maillog_file lines go and when. The file is always written by the process that
//! logs; a daemon that dropped its privileges gets it (re)opened by the root `postlogd`
//! child, which passes the open file back.
//!
//! Direct mode (commands, the privileged helpers): each line is written at once, after
//! checking that the path still names the open file (a long-lived helper follows a rotation
//! by itself).
//!
//! Buffered mode (the daemon, `start_flusher`): a thread that logs while nobody else is
//! writing and nothing is pending writes its line itself (one write(2), as before: what it
//! logged is in the file before it goes on); otherwise it appends the line to a memory
//! buffer under a short lock and wakes the flusher thread, which writes everything pending
//! with one write(2). So under load sessions never wait for the file or for each other, and
//! lines logged together are written together. `flush` writes what is pending now (the
//! `fatal`/`panic` lines, the end of the daemon). A buffer over `BACKLOG_LIMIT` is written
//! by the logging thread itself (the disk cannot keep up).
//!
//! Reopening: `reopen` (at `postfix reload`) opens the path again when it names another
//! file than the open one (renamed by `postfix logrotate` or by hand, or a new path).
//!
//! Security role: a new file is created with mode 0600, as Postfix's postlogd does.
//! Logs nothing itself: a failure to open or write is returned to `super`, which falls
//! back to syslog.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::postlogd;
use crate::sys;

/// A buffer this large is written by the thread that logs (back-pressure).
const BACKLOG_LIMIT: usize = 4 << 20;

/// The open file: its path, and its (device, inode) when opened.
struct Target {
    path: PathBuf,
    file: File,
    id: (u64, u64),
}

static TARGET: Mutex<Option<Target>> = Mutex::new(None);
/// Whether TARGET holds a file (read on every line, without the lock).
static HAS_TARGET: AtomicBool = AtomicBool::new(false);
/// A write failed since the last `take_failure` (the file was given up).
static FAILED: AtomicBool = AtomicBool::new(false);
/// The root postlogd child and the master's end of its socket.
static POSTLOGD: Mutex<Option<(Child, UnixStream)>> = Mutex::new(None);

struct Pending {
    buf: Vec<u8>,
    /// A flusher thread runs: lines may go to `buf`.
    buffered: bool,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    buf: Vec::new(),
    buffered: false,
});
static WAKE: Condvar = Condvar::new();

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open `path` for appending, creating it with mode 0600.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn target(path: &Path, file: File) -> io::Result<Target> {
    let m = file.metadata()?;
    Ok(Target {
        path: path.to_path_buf(),
        file,
        id: (m.dev(), m.ino()),
    })
}

/// Open `path`: through postlogd when there is one, else here.
fn open_target(path: &Path) -> io::Result<Target> {
    let file = match lock(&POSTLOGD).as_ref() {
        Some((_, sock)) => from_postlogd(sock)?,
        None => open_append(path)?,
    };
    target(path, file)
}

fn from_postlogd(sock: &UnixStream) -> io::Result<File> {
    (&mut &*sock).write_all(b"R")?;
    match sys::recv_fd(sock)? {
        (postlogd::OPENED, Some(fd)) => Ok(File::from(fd)),
        _ => Err(io::Error::other("postlogd could not open it (see main.cf)")),
    }
}

fn set(guard: &mut Option<Target>, t: Option<Target>) {
    HAS_TARGET.store(t.is_some(), Ordering::SeqCst);
    *guard = t;
}

/// Whether lines go to maillog_file (else to syslog).
pub fn active() -> bool {
    HAS_TARGET.load(Ordering::SeqCst)
}

/// Whether a write failed (and the file was given up) since the last call.
pub fn take_failure() -> bool {
    FAILED.swap(false, Ordering::SeqCst)
}

/// Write to `path` from now on: reopen it when it names another file than the one open
/// (or another path); keep the open file when it is the same (it may no longer be
/// openable after the privilege drop). An empty path stops file logging.
pub fn reopen(path: &str) -> io::Result<()> {
    let _ = flush();
    let mut guard = lock(&TARGET);
    if path.is_empty() {
        set(&mut guard, None);
        return Ok(());
    }
    if let Some(t) = guard.as_ref()
        && t.path.as_path() == Path::new(path)
        && file_id(&t.path) == Some(t.id)
    {
        return Ok(());
    }
    match open_target(Path::new(path)) {
        Ok(t) => {
            set(&mut guard, Some(t));
            Ok(())
        }
        Err(e) => {
            set(&mut guard, None);
            Err(e)
        }
    }
}

/// Have the file opened by a root postlogd child from now on (`program postlogd
/// config_dir`, the root helper program): for a daemon about to drop its privileges.
pub fn start_postlogd(program: &Path, config_dir: &Path) -> io::Result<()> {
    let (ours, theirs) = UnixStream::pair()?;
    let child = Command::new(program)
        .arg("postlogd")
        .arg(config_dir)
        .env_clear()
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    ours.set_read_timeout(Some(Duration::from_secs(10)))?;
    *lock(&POSTLOGD) = Some((child, ours));
    Ok(())
}

/// Write one line (or a few): see the module documentation. `urgent` (fatal, panic)
/// writes everything pending at once. An error means the file is given up: the caller
/// logs elsewhere.
pub fn write(line: &[u8], urgent: bool) -> io::Result<()> {
    let mut p = lock(&PENDING);
    if p.buffered {
        // Nothing pending and nobody writing: write it here (the lock order is TARGET,
        // then PENDING, so only a try here).
        if p.buf.is_empty()
            && let Ok(mut guard) = TARGET.try_lock()
        {
            drop(p);
            return write_to(&mut guard, line);
        }
        let was_empty = p.buf.is_empty();
        p.buf.extend_from_slice(line);
        let full = p.buf.len() > BACKLOG_LIMIT;
        drop(p);
        if was_empty {
            WAKE.notify_one();
        }
        return if urgent || full { flush() } else { Ok(()) };
    }
    drop(p);
    let mut guard = lock(&TARGET);
    follow_rename(&mut guard);
    write_to(&mut guard, line)
}

/// Direct mode: the path names another file now (rotated): open that one.
fn follow_rename(guard: &mut Option<Target>) {
    if let Some(t) = guard.as_ref()
        && file_id(&t.path) != Some(t.id)
        && let Ok(new) = open_target(&t.path.clone())
    {
        set(guard, Some(new));
    }
}

fn write_to(guard: &mut Option<Target>, bytes: &[u8]) -> io::Result<()> {
    let r = match guard.as_mut() {
        Some(t) => t.file.write_all(bytes),
        None => Err(io::Error::other("maillog_file is not open")),
    };
    if r.is_err() {
        set(guard, None);
        FAILED.store(true, Ordering::SeqCst);
    }
    r
}

/// Write what is pending now.
pub fn flush() -> io::Result<()> {
    let mut guard = lock(&TARGET);
    let pending = std::mem::take(&mut lock(&PENDING).buf);
    if pending.is_empty() {
        return Ok(());
    }
    write_to(&mut guard, &pending)
}

/// Start the flusher thread (once): lines may be buffered from now on.
pub fn start_flusher() -> io::Result<()> {
    {
        let mut p = lock(&PENDING);
        if p.buffered {
            return Ok(());
        }
        p.buffered = true;
    }
    let spawned = std::thread::Builder::new()
        .name("log-flusher".into())
        .spawn(|| {
            loop {
                {
                    let mut p = lock(&PENDING);
                    while p.buf.is_empty() && p.buffered {
                        p = WAKE.wait(p).unwrap_or_else(|e| e.into_inner());
                    }
                    if !p.buffered {
                        return;
                    }
                }
                // A failed write leaves no file; `super` then logs to syslog.
                let _ = flush();
            }
        });
    if let Err(e) = spawned {
        lock(&PENDING).buffered = false;
        return Err(e);
    }
    Ok(())
}

/// Write what is pending and go back to direct writes (the daemon's end); the postlogd
/// child is told to exit.
pub fn stop_flusher() {
    let _ = flush();
    let mut p = lock(&PENDING);
    p.buffered = false;
    drop(p);
    WAKE.notify_all();
    let _ = flush();
    if let Some((mut child, sock)) = lock(&POSTLOGD).take() {
        drop(sock);
        let _ = child.wait();
    }
}
