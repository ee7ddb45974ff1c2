//! Processes: signals, fork and wait, standard descriptors, resource limits.
//!
//! Security role: `fork_as` is how the privileged local helper runs a delivery as the
//! recipient (a child process with the recipient's ids); it is an `unsafe fn` because a
//! fork is only sound in a process whose other threads hold no locks the child needs.

use std::io;

use super::{drop_privileges, euid};

/// Send `signal` to process `pid`.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) with a caller-chosen pid and signal; errors are reported via errno.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

thread_local! {
    /// This thread's ID once asked (0: not yet); `fork_as` clears it in the child.
    static THREAD_ID: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The calling thread's kernel thread ID (gettid(2)); the main thread's equals the
/// process ID. Log lines carry it in the PID field. Asked of the kernel once per thread
/// (it was one system call per log line).
pub fn thread_id() -> u32 {
    THREAD_ID.with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid(2) takes no arguments, cannot fail and touches no memory.
            t.set(unsafe { libc::gettid() } as u32);
        }
        t.get()
    })
}

/// Whether process `pid` exists (signal 0 probe; EPERM means it exists).
pub fn process_exists(pid: i32) -> bool {
    match kill(pid, 0) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

/// Point standard input, output and error at /dev/null (a daemon after start-up).
pub fn detach_stdio() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    use std::os::unix::io::AsRawFd;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors with a valid open descriptor.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Run `f` in a child process with the given uid and gid (supplementary groups: just
/// `gid`) and return the child's pid; the child exits with `f`'s return value. This is the
/// cheap form of "a delivery runs in a child process as the recipient": no exec.
///
/// # Safety
///
/// After fork(2) only the calling thread exists in the child, so a lock another thread
/// held at the fork (a mutex, an allocator or stdio lock) stays locked there for ever. The
/// caller must be single-threaded (the privileged local helper), or `f` must touch nothing
/// another thread of the parent may have locked.
pub unsafe fn fork_as(uid: u32, gid: u32, f: impl FnOnce() -> i32) -> io::Result<i32> {
    // SAFETY: the caller guarantees (this function's contract) that the child may run `f`:
    // no lock it needs is held by a thread that does not exist in the child.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
    // The child's one thread has an ID of its own.
    THREAD_ID.with(|t| t.set(0));
    let code = if euid() != 0 && euid() == uid {
        f() // not root: nothing to change (tests, `make run`)
    } else {
        match drop_privileges(uid, gid) {
            Ok(()) if euid() == uid => f(),
            _ => 75,
        }
    };
    // SAFETY: _exit ends the child without running the parent's atexit handlers or
    // flushing buffers the parent owns.
    unsafe { libc::_exit(code) }
}

/// Wait for child `pid`; returns its exit code (128 + signal when killed).
pub fn wait_pid(pid: i32) -> io::Result<i32> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waitpid with a valid pointer to status.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Ok(128 + libc::WTERMSIG(status))
    }
}

/// Limit the size of files this process writes to `bytes` (RLIMIT_FSIZE, soft and hard),
/// with SIGXFSZ ignored so that a write past the limit fails with EFBIG instead of killing
/// the process.
pub fn set_file_size_limit(bytes: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: signal(2) with a valid signal number and SIG_IGN; setrlimit(2) with a pointer
    // to a local that lives for the call.
    unsafe {
        if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR
            || libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_and_a_forked_child_log_their_own_id() {
        let here = thread_id();
        assert_eq!(here, thread_id());
        let other = std::thread::spawn(thread_id).join().unwrap();
        assert_ne!(other, here);
        // The child learns its own ID, not the parent thread's remembered one. It only
        // compares two numbers and exits (no lock of another thread is touched).
        // SAFETY: the closure allocates nothing and takes no lock.
        let pid = unsafe {
            fork_as(euid(), crate::sys::egid(), || {
                i32::from(thread_id() != std::process::id())
            })
        }
        .unwrap();
        assert_eq!(wait_pid(pid).unwrap(), 0);
    }
}
