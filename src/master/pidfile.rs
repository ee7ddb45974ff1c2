//! The master's pid file, $queue_directory/pid/master.pid. The running master holds an
//! exclusive lock on it (fs2, flock(2)) for its whole life, so "is Postern running" is
//! answered by the lock, never by a stale pid (`running` asks with a brief shared lock, which
//! a starting master waits out rather than taking it for a running one). It also takes an fcntl(2) write lock, the
//! kind Postfix's master takes on the same file: a Postfix still running on this queue
//! directory stops `postfix start`, and Postfix's own `postfix status` sees Postern. The file is left in place at exit, as
//! Postfix leaves it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fs2::FileExt;

/// The pid file path for a spool.
pub fn path(queue_directory: &Path) -> PathBuf {
    queue_directory.join("pid").join("master.pid")
}

/// The lock, held by the running master.
pub struct PidFile {
    file: File,
}

/// Why the pid file could not be taken.
#[derive(Debug)]
pub enum PidError {
    Running(i32),
    Io(io::Error),
}

impl std::fmt::Display for PidError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PidError::Running(pid) => write!(
                f,
                "the Postfix mail system is already running: PID: {}",
                pid
            ),
            PidError::Io(e) => write!(f, "{}", e),
        }
    }
}

/// Take the lock (the file is emptied; `publish` writes the pid once the system is ready).
pub fn acquire(path: &Path) -> Result<PidFile, PidError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(PidError::Io)?;
    if !lock_exclusive(&file) {
        return Err(PidError::Running(read_pid(&mut file).unwrap_or(0)));
    }
    // Postfix's master locks the same file with fcntl (lock_style on Linux), which flock
    // does not see: a running Postfix holds this one.
    if let Err(e) = crate::sys::fcntl_setlk(&file, crate::sys::RecordLock::Write) {
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => {
                Err(PidError::Running(read_pid(&mut file).unwrap_or(0)))
            }
            _ => Err(PidError::Io(e)),
        };
    }
    file.set_len(0).map_err(PidError::Io)?;
    // Readable by all whatever root's umask, as Postfix's: postqueue (set-gid) and postsuper
    // (as mail_owner) ask it whether the system runs.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(PidError::Io)?;
    Ok(PidFile { file })
}

/// How many times `acquire` retries while only `running`'s brief shared locks are held.
const PROBE_RETRIES: u32 = 200;

/// Take the exclusive lock. A shared lock held at this moment is another process's
/// `running` probe (`postfix start` polls while its master starts, `postfix status`,
/// postqueue), never a master, which holds an exclusive one: wait for it to go instead of
/// taking it for a running system. False when a master holds the lock.
fn lock_exclusive(file: &File) -> bool {
    for _ in 0..PROBE_RETRIES {
        if file.try_lock_exclusive().is_ok() {
            return true;
        }
        // Only shared holders: a probe. An exclusive holder refuses this too.
        if file.try_lock_shared().is_err() {
            return false;
        }
        let _ = FileExt::unlock(file);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}

/// Write this process's pid into the locked file: the system is ready.
pub fn publish(pid: &PidFile) -> io::Result<()> {
    let mut f = &pid.file;
    f.seek(SeekFrom::Start(0))?;
    writeln!(f, "{:>10}", std::process::id())?;
    f.sync_all()
}

fn read_pid(file: &mut File) -> Option<i32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// The pid of the running master, or `None` when none holds the lock (`Some(0)` while it
/// is still starting).
pub fn running(path: &Path) -> Option<i32> {
    let mut file = File::open(path).ok()?;
    if file.try_lock_shared().is_ok() {
        let _ = FileExt::unlock(&file);
        return None;
    }
    Some(read_pid(&mut file).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_means_running() {
        let dir = std::env::temp_dir().join(format!("postern-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("master.pid");
        assert_eq!(running(&p), None);
        // Left by a start under umask 077: made readable again.
        std::fs::write(&p, b"").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let held = acquire(&p).unwrap();
        assert_eq!(running(&p), Some(0), "locked but not yet published");
        assert!(matches!(acquire(&p), Err(PidError::Running(0))));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o644);
        publish(&held).unwrap();
        assert_eq!(running(&p), Some(std::process::id() as i32));
        drop(held);
        assert_eq!(
            running(&p),
            None,
            "a leftover file without the lock is not running"
        );
        // A probe's shared lock held while a master starts does not make it refuse.
        let probe = File::open(&p).unwrap();
        probe.try_lock_shared().unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(probe);
        });
        let held = acquire(&p).expect("a probe is not a running master");
        release.join().unwrap();
        drop(held);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
