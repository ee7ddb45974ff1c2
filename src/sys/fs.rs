//! Files: ownership, FIFOs, fcntl(2) record locks.
//!
//! Security role: the mailbox locks of local delivery (`delivery::lock`) are taken here.

use std::ffi::CString;
use std::io;

/// Change the owner of a path (chown(2), following links).
pub fn chown(path: &std::path::Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// Create a FIFO (named pipe) with `mode`; an existing one is kept.
pub fn mkfifo(path: &std::path::Path, mode: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("NUL in path"))?;
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) } != 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    Ok(())
}

/// An fcntl(2) record lock request on a whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordLock {
    Write,
    Unlock,
}

/// Take or release an fcntl lock on the whole of `file` without waiting (F_SETLK); a lock
/// held elsewhere is an error (EAGAIN or EACCES).
pub fn fcntl_setlk(file: &std::fs::File, lock: RecordLock) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let kind = match lock {
        RecordLock::Write => libc::F_WRLCK,
        RecordLock::Unlock => libc::F_UNLCK,
    } as libc::c_short;
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
