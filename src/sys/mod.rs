//! The libc edge: account lookups, process ids and privileges, local time; and, in the
//! submodules, processes (`process`: signals, fork, wait, resource limits), files (`fs`:
//! ownership, FIFOs, fcntl locks) and the network (`net`: interface addresses, host name
//! and address lookups with getnameinfo/getaddrinfo, listening sockets, poll), strftime
//! (`time`) and descriptor passing (`fdpass`). Their items are re-exported here, so callers
//! name them `crate::sys::...`. `libdb` (Berkeley DB files of hash/btree tables, through the
//! system libdb) is used as `crate::sys::libdb`.
//!
//! Security role: every `unsafe` block of Postern lives in this module and its submodules,
//! each with a SAFETY comment; the one exception is a call of an `unsafe fn` of this module
//! (`fork_as`), whose caller states in a SAFETY comment why it meets the function's
//! `# Safety` contract. Privileges are only ever dropped for the whole process before any
//! other thread starts (`drop_privileges`); per-recipient deliveries run in child
//! processes with the recipient's ids (`fork_as` in the single-threaded privileged helper,
//! or `std::process::Command`), never a uid switch in a thread.

mod fdpass;
mod fs;
pub mod libdb;
mod net;
mod process;
mod time;

pub use fdpass::*;
pub use fs::*;
pub use net::*;
pub use process::*;
pub use time::*;

use std::ffi::{CStr, CString};
use std::io;

/// A Unix account as getpwnam(3) returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// The host name, as the kernel has it.
/// An I/O error's text as the C library words it (strerror), without Rust's
/// ` (os error N)` suffix: the wording Postfix's messages carry.
pub fn error_text(e: &io::Error) -> String {
    strip_os_error(&e.to_string()).to_string()
}

/// `text` without Rust's ` (os error N)` suffix (for errors wrapped by other crates).
pub fn strip_os_error(text: &str) -> &str {
    match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => text,
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn passwd_to_user(pw: &libc::passwd) -> User {
    // SAFETY: getpwnam_r/getpwuid_r filled `pw` with pointers into our buffer, which outlives
    // this call; each is a NUL-terminated string (or NULL, checked).
    let s = |p: *const libc::c_char| unsafe {
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    User {
        name: s(pw.pw_name),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
        home: s(pw.pw_dir),
        shell: s(pw.pw_shell),
    }
}

/// Run one reentrant getpw*_r/getgr*_r call (`call(entry, buffer, result)`) with a buffer
/// that grows on ERANGE. `Ok(None)` is "no such entry"; `Err` is a lookup failure.
fn nss_lookup<T, R>(
    mut entry: T,
    call: impl Fn(&mut T, &mut [libc::c_char], &mut *mut T) -> libc::c_int,
    convert: impl Fn(&T) -> R,
) -> io::Result<Option<R>> {
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        let mut result: *mut T = std::ptr::null_mut();
        let rc = call(&mut entry, &mut buf, &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 && rc != libc::ENOENT && rc != libc::ESRCH {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok((!result.is_null()).then(|| convert(&entry)));
    }
}

/// Look a user up by name. `Ok(None)` is "no such user"; `Err` is a lookup failure.
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    // SAFETY: passwd is plain data (integers and pointers): all zeroes is a valid value.
    let pw: libc::passwd = unsafe { std::mem::zeroed() };
    nss_lookup(
        pw,
        |pw, buf, result| {
            // SAFETY: every pointer is valid for the call and the buffer's length is passed
            // with it; on success the strings in `pw` point into `buf`, which outlives the
            // conversion.
            unsafe { libc::getpwnam_r(cname.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), result) }
        },
        passwd_to_user,
    )
}

/// Look a user up by uid.
pub fn user_by_uid(uid: u32) -> io::Result<Option<User>> {
    // SAFETY: as in user_by_name.
    let pw: libc::passwd = unsafe { std::mem::zeroed() };
    nss_lookup(
        pw,
        |pw, buf, result| {
            // SAFETY: as in user_by_name.
            unsafe { libc::getpwuid_r(uid, pw, buf.as_mut_ptr(), buf.len(), result) }
        },
        passwd_to_user,
    )
}

/// Look a group up by name, giving its gid.
pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    // SAFETY: group is plain data: all zeroes is a valid value.
    let gr: libc::group = unsafe { std::mem::zeroed() };
    nss_lookup(
        gr,
        |gr, buf, result| {
            // SAFETY: pointers valid for the call; the buffer's length is passed with it.
            unsafe { libc::getgrnam_r(cname.as_ptr(), gr, buf.as_mut_ptr(), buf.len(), result) }
        },
        |gr| gr.gr_gid,
    )
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective gid of this process.
pub fn egid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    euid() == 0
}

/// The real uid of this process (the invoking user of a setgid program).
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The real gid of this process.
pub fn gid() -> u32 {
    // SAFETY: getgid has no preconditions and cannot fail.
    unsafe { libc::getgid() }
}

/// Whether this process runs with privileges its invoker lacks (Postfix's unsafe()): real
/// and effective uid or gid differ, as in a set-gid program; never for real and effective
/// root. Such a process must not trust its environment or command line.
pub fn is_privileged_for_caller() -> bool {
    if uid() == 0 && euid() == 0 {
        return false;
    }
    euid() != uid() || egid() != gid()
}

/// Permanently become `uid`/`gid` (supplementary groups: just `gid`). Call only while the
/// process has a single thread: glibc applies the change to every thread, but doing it
/// before threads exist keeps every thread's view simple.
pub fn drop_privileges(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain system calls with valid arguments; errors are checked.
    unsafe {
        if libc::setgroups(1, &gid) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::setgid(gid) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::setuid(uid) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if uid != 0 && euid() == 0 {
        return Err(io::Error::other("privileges were not dropped"));
    }
    Ok(())
}

/// Broken-down local time.
#[derive(Debug, Clone, Copy)]
pub struct LocalTime {
    pub year: i32,
    /// 0..=11
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Sunday
    pub weekday: u32,
    /// Seconds east of UTC.
    pub gmtoff: i64,
    pub zone: [u8; 8],
}

/// Convert seconds since the epoch to local time.
pub fn local_time(secs: i64) -> LocalTime {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: tm is plain data; localtime_r writes into it and tm_zone points to static
    // storage owned by libc, copied out immediately.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    let mut zone = [0u8; 8];
    if !tm.tm_zone.is_null() {
        // SAFETY: tm_zone is a NUL-terminated string in libc's static storage.
        let z = unsafe { CStr::from_ptr(tm.tm_zone) }.to_bytes();
        let n = z.len().min(7);
        zone[..n].copy_from_slice(&z[..n]);
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: tm.tm_mon as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        min: tm.tm_min as u32,
        sec: tm.tm_sec as u32,
        weekday: tm.tm_wday as u32,
        gmtoff: tm.tm_gmtoff,
        zone,
    }
}

impl LocalTime {
    pub fn zone_name(&self) -> &str {
        let end = self
            .zone
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.zone.len());
        std::str::from_utf8(&self.zone[..end]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_lose_the_os_error_suffix() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(error_text(&e), "No such file or directory");
        assert_eq!(
            strip_os_error("Connection refused (os error 111)"),
            "Connection refused"
        );
        assert_eq!(strip_os_error("no suffix"), "no suffix");
    }

    #[test]
    fn root_account_exists() {
        let u = user_by_name("root").unwrap().unwrap();
        assert_eq!(u.uid, 0);
        assert!(user_by_name("no-such-user-postern-xyz").unwrap().is_none());
        assert_eq!(user_by_uid(0).unwrap().unwrap().name, "root");
        assert_eq!(u.home, "/root");
        assert_eq!(group_by_name("root").unwrap(), Some(0));
        assert_eq!(group_by_name("no-such-group-postern-xyz").unwrap(), None);
        assert_eq!(user_by_name("a\0b").unwrap(), None);
    }
}
