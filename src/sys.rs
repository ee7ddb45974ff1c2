//! The libc edge: account lookups, interface addresses, host name and address lookups
//! (getnameinfo/getaddrinfo), local time, privilege changes.
//!
//! Security role: every `unsafe` block outside the SASL binding lives here, each with a
//! SAFETY comment. Privileges are only ever dropped for the whole process before any other
//! thread starts (`drop_privileges`); per-recipient deliveries run in child processes with
//! the recipient's ids set by `std::process::Command` (never a uid switch in a thread).

use std::ffi::{CStr, CString};
use std::io;
use std::net::IpAddr;

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

/// Look a user up by name. `Ok(None)` is "no such user"; `Err` is a lookup failure.
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: passwd is plain data; all pointers passed are valid for the call and the
        // buffer length is passed with it.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pw,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 && rc != libc::ENOENT && rc != libc::ESRCH {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok(if result.is_null() {
            None
        } else {
            Some(passwd_to_user(&pw))
        });
    }
}

/// Look a user up by uid.
pub fn user_by_uid(uid: u32) -> io::Result<Option<User>> {
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: as in user_by_name.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 && rc != libc::ENOENT && rc != libc::ESRCH {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok(if result.is_null() {
            None
        } else {
            Some(passwd_to_user(&pw))
        });
    }
}

/// Look a group up by name, giving its gid.
pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: group is plain data; pointers valid for the call; length passed.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut gr,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 && rc != libc::ENOENT && rc != libc::ESRCH {
            return Err(io::Error::from_raw_os_error(rc));
        }
        return Ok(if result.is_null() {
            None
        } else {
            Some(gr.gr_gid)
        });
    }
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

/// Send `signal` to process `pid`.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) with a caller-chosen pid and signal; errors are reported via errno.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// The real uid of this process (the invoking user of a setgid program).
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Run `f` in a child process with the given uid and gid (supplementary groups: just
/// `gid`) and return the child's pid; the child exits with `f`'s return value. This is the
/// cheap form of "a delivery runs in a child process as the recipient": no exec.
///
/// Only for single-threaded processes (the privileged local helper): after fork(2) only the
/// calling thread exists in the child, so locks held by other threads would stay locked.
pub fn fork_as(uid: u32, gid: u32, f: impl FnOnce() -> i32) -> io::Result<i32> {
    // SAFETY: the caller is single-threaded (documented contract), so the child's copy of
    // the address space has no locks held by vanished threads and may run ordinary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
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

/// Wait until `fd` is readable or `timeout` passes; `Ok(false)` on timeout.
pub fn wait_readable(
    fd: &impl std::os::unix::io::AsRawFd,
    timeout: std::time::Duration,
) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    loop {
        // SAFETY: poll(2) on one valid pollfd that lives for the call.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A listening TCP socket on an IPv6 address that does not also take IPv4 connections
/// (IPV6_V6ONLY), so `[::]:25` can be bound next to `0.0.0.0:25` as Postfix does.
pub fn listen_v6only(
    addr: std::net::SocketAddrV6,
    backlog: i32,
) -> io::Result<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor we own; every pointer passed points to a
    // live local of the size given; on any error the descriptor is closed before returning.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fail = |fd: libc::c_int| {
            let e = io::Error::last_os_error();
            libc::close(fd);
            Err(e)
        };
        let one: libc::c_int = 1;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let opt = &one as *const libc::c_int as *const libc::c_void;
        if libc::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, opt, len) != 0
            || libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, opt, len) != 0
        {
            return fail(fd);
        }
        let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = addr.port().to_be();
        sa.sin6_addr.s6_addr = addr.ip().octets();
        sa.sin6_scope_id = addr.scope_id();
        let sa_len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        if libc::bind(
            fd,
            &sa as *const libc::sockaddr_in6 as *const libc::sockaddr,
            sa_len,
        ) != 0
            || libc::listen(fd, backlog) != 0
        {
            return fail(fd);
        }
        Ok(std::net::TcpListener::from_raw_fd(fd))
    }
}

/// The addresses and prefix lengths of this host's interfaces.
pub fn interface_networks() -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we free with freeifaddrs below; we only read
    // entries whose address pointers are non-null and of the family they claim.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() && !ifa.ifa_netmask.is_null() {
                match (*ifa.ifa_addr).sa_family as i32 {
                    libc::AF_INET => {
                        let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                        let addr = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                        let bits = u32::from_be(m.sin_addr.s_addr).count_ones() as u8;
                        out.push((IpAddr::V4(addr), bits));
                    }
                    libc::AF_INET6 => {
                        let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in6);
                        let addr = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                        let bits: u32 = m.sin6_addr.s6_addr.iter().map(|b| b.count_ones()).sum();
                        out.push((IpAddr::V6(addr), bits as u8));
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// A getnameinfo(3)/getaddrinfo(3) failure: the EAI code and gai_strerror's text.
#[derive(Debug, Clone, PartialEq)]
pub struct AiError {
    pub code: i32,
    pub text: String,
}

impl AiError {
    fn new(code: i32) -> AiError {
        // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
        AiError {
            code,
            text: text.to_string_lossy().into_owned(),
        }
    }

    /// A failure worth retrying (Postfix's TEMP_AI_ERROR: EAI_AGAIN, EAI_MEMORY,
    /// EAI_SYSTEM).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.code,
            libc::EAI_AGAIN | libc::EAI_MEMORY | libc::EAI_SYSTEM
        )
    }
}

/// The host name of an address from the resolver (getnameinfo with NI_NAMEREQD: a PTR
/// record or /etc/hosts; never the address in text form).
pub fn name_of_addr(addr: IpAddr) -> Result<String, AiError> {
    let mut host = [0 as libc::c_char; 1025];
    let (storage, len) = sockaddr_of(addr);
    // SAFETY: `storage` holds a sockaddr of `len` bytes and `host` is writable for its
    // length during the call; getnameinfo writes a NUL-terminated string into `host`.
    let rc = unsafe {
        libc::getnameinfo(
            &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            len,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return Err(AiError::new(rc));
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

fn sockaddr_of(addr: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            let sa = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(a).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sa = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr.s6_addr = a.octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The addresses of a host name in one family (getaddrinfo with AF_INET or AF_INET6, as
/// Postfix's hostname_to_sockaddr_pf looks up a client name in the client's family).
pub fn addrs_of_name(name: &str, ipv6: bool) -> Result<Vec<IpAddr>, AiError> {
    let cname = CString::new(name).map_err(|_| AiError::new(libc::EAI_NONAME))?;
    // SAFETY: addrinfo is plain data; all zeroes is the documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `cname` and `hints` outlive the call; on success `res` is a list we free below.
    let rc = unsafe { libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        return Err(AiError::new(rc));
    }
    let mut out = Vec::new();
    let mut cur = res;
    // SAFETY: we walk the list getaddrinfo returned, reading each address as the family it
    // names, then free the list once.
    unsafe {
        while !cur.is_null() {
            let ai = &*cur;
            if !ai.ai_addr.is_null() {
                match ai.ai_family {
                    libc::AF_INET => {
                        let a = &*(ai.ai_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let a = &*(ai.ai_addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(a.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = ai.ai_next;
        }
        libc::freeaddrinfo(res);
    }
    Ok(out)
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
    fn root_account_exists() {
        let u = user_by_name("root").unwrap().unwrap();
        assert_eq!(u.uid, 0);
        assert!(user_by_name("no-such-user-postern-xyz").unwrap().is_none());
        assert_eq!(user_by_uid(0).unwrap().unwrap().name, "root");
    }

    #[test]
    fn v6only_listener_shares_a_port_with_ipv4() {
        let v4 = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        let addr = std::net::SocketAddrV6::new(std::net::Ipv6Addr::UNSPECIFIED, port, 0, 0);
        match listen_v6only(addr, 16) {
            Ok(v6) => {
                assert_eq!(v6.local_addr().unwrap().port(), port);
                assert!(
                    std::net::TcpStream::connect(("::1", port)).is_ok(),
                    "IPv6 clients reach it"
                );
            }
            // A machine without IPv6: the error is reported, not a panic.
            Err(e) => eprintln!("no IPv6 here: {}", e),
        }
    }

    #[test]
    fn loopback_is_an_interface() {
        let nets = interface_networks();
        assert!(nets.iter().any(|(a, _)| a.is_loopback()));
    }
}
