//! Where maillog_file lines go and when: the file itself (opened by this process), or the
//! root `postlogd` child of a daemon that dropped its privileges; written at once (commands,
//! the privileged helpers), or by a flusher thread (the daemon, `start_flusher`).
//!
//! Buffered mode: a line is appended to a memory buffer under a short lock and the flusher
//! thread is woken; it writes everything pending with one write(2), so sessions never wait
//! for the disk and lines written together are written at once. `flush` writes what is
//! pending now (the `fatal`/`panic` lines, the end of the daemon). A buffer over
//! `BACKLOG_LIMIT` is written by the logging thread itself (the disk cannot keep up).
//!
//! Reopening: `reopen` (at `postfix reload`) opens the path again when it names another
//! file than the open one (renamed by `postfix logrotate` or by hand, or a new path), or
//! asks the postlogd child to do so. In direct mode every write first checks that the path
//! still names the open file (a long-lived helper follows a rotation by itself).
//!
//! Security role: a new file is created with mode 0600, as Postfix's postlogd does.
//! Logs nothing itself: a failure to open or write is returned to `super`, which falls
//! back to syslog.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// A buffer this large is written by the thread that logs (back-pressure).
const BACKLOG_LIMIT: usize = 4 << 20;

/// The byte that asks the postlogd child to reopen its file (log text never holds one).
pub const REOPEN: u8 = 0;

enum Target {
    /// The file, opened by this process: the path, and its (device, inode) when opened.
    File {
        path: PathBuf,
        file: File,
        id: (u64, u64),
    },
    /// The root postlogd child, fed through its standard input.
    Postlogd { child: Child, stdin: ChildStdin },
}

static TARGET: Mutex<Option<Target>> = Mutex::new(None);
/// Whether TARGET holds a target (read on every line, without the lock).
static HAS_TARGET: AtomicBool = AtomicBool::new(false);
/// A write failed since the last `take_failure` (the target was dropped).
static FAILED: AtomicBool = AtomicBool::new(false);

struct Pending {
    buf: Vec<u8>,
    /// A flusher thread runs: lines go to `buf`.
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

fn open_target(path: &Path) -> io::Result<Target> {
    let file = open_append(path)?;
    let m = file.metadata()?;
    Ok(Target::File {
        path: path.to_path_buf(),
        file,
        id: (m.dev(), m.ino()),
    })
}

fn set(guard: &mut Option<Target>, t: Option<Target>) {
    if let Some(Target::Postlogd { child, stdin }) = guard.take() {
        drop(stdin);
        let mut child = child;
        let _ = child.wait();
    }
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

/// The path of the open file, if this process writes it itself.
pub fn file_path() -> Option<PathBuf> {
    match lock(&TARGET).as_ref() {
        Some(Target::File { path, .. }) => Some(path.clone()),
        _ => None,
    }
}

/// Whether a postlogd child writes the file.
pub fn via_postlogd() -> bool {
    matches!(lock(&TARGET).as_ref(), Some(Target::Postlogd { .. }))
}

/// Write to `path` from now on: reopen it when it names another file than the one open
/// (or another path); keep the open file when it is the same. An empty path stops file
/// logging. With a postlogd child, the child is asked to reopen (it re-reads main.cf).
pub fn reopen(path: &str) -> io::Result<()> {
    flush().ok();
    let mut guard = lock(&TARGET);
    if path.is_empty() {
        set(&mut guard, None);
        return Ok(());
    }
    match guard.as_mut() {
        Some(Target::Postlogd { stdin, .. }) => {
            if let Err(e) = stdin.write_all(&[REOPEN]) {
                set(&mut guard, None);
                return Err(e);
            }
            Ok(())
        }
        Some(Target::File { path: p, id, .. })
            if p.as_path() == Path::new(path) && file_id(p) == Some(*id) =>
        {
            Ok(())
        }
        _ => match open_target(Path::new(path)) {
            Ok(t) => {
                set(&mut guard, Some(t));
                Ok(())
            }
            Err(e) => {
                set(&mut guard, None);
                Err(e)
            }
        },
    }
}

/// Hand the file to a postlogd child: `program postlogd config_dir` (the root helper
/// program), which opens $maillog_file itself and reopens it when asked.
pub fn start_postlogd(program: &Path, config_dir: &Path) -> io::Result<()> {
    flush().ok();
    let mut child = Command::new(program)
        .arg("postlogd")
        .arg(config_dir)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("postlogd: no stdin"))?;
    set(&mut lock(&TARGET), Some(Target::Postlogd { child, stdin }));
    Ok(())
}

/// Write one line (or a few): into the buffer when a flusher runs (`urgent` also flushes
/// it), else at once. An error means the target is gone: the caller logs elsewhere.
pub fn write(line: &[u8], urgent: bool) -> io::Result<()> {
    {
        let mut p = lock(&PENDING);
        if p.buffered {
            let was_empty = p.buf.is_empty();
            p.buf.extend_from_slice(line);
            let full = p.buf.len() > BACKLOG_LIMIT;
            drop(p);
            if was_empty {
                WAKE.notify_one();
            }
            return if urgent || full { flush() } else { Ok(()) };
        }
    }
    let mut guard = lock(&TARGET);
    follow_rename(&mut guard);
    write_to(&mut guard, line)
}

/// Direct mode: the path names another file now (rotated): open it.
fn follow_rename(guard: &mut Option<Target>) {
    if let Some(Target::File { path, id, .. }) = guard.as_ref()
        && file_id(path) != Some(*id)
        && let Ok(t) = open_target(&path.clone())
    {
        set(guard, Some(t));
    }
}

fn write_to(guard: &mut Option<Target>, bytes: &[u8]) -> io::Result<()> {
    let r = match guard.as_mut() {
        Some(Target::File { file, .. }) => file.write_all(bytes),
        Some(Target::Postlogd { stdin, .. }) => stdin.write_all(bytes),
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

/// Start the flusher thread (once): lines are buffered from now on.
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
                // A failed write leaves no target; `super` then logs to syslog.
                let _ = flush();
            }
        });
    if let Err(e) = spawned {
        lock(&PENDING).buffered = false;
        return Err(e);
    }
    Ok(())
}

/// Write what is pending and go back to direct writes (the daemon's end); a postlogd
/// child is waited for, so every line is in the file when this returns.
pub fn stop_flusher() {
    let _ = flush();
    let mut p = lock(&PENDING);
    p.buffered = false;
    drop(p);
    WAKE.notify_all();
    let _ = flush();
    let mut guard = lock(&TARGET);
    if matches!(guard.as_ref(), Some(Target::Postlogd { .. })) {
        set(&mut guard, None);
    }
}
