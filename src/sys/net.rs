//! The network edge: poll, an IPv6-only listening socket, interface addresses, and host
//! name and address lookups (getnameinfo/getaddrinfo, as Postfix's smtpd resolves clients).
//!
//! Security role: the names and addresses returned come from the resolver or /etc/hosts
//! and are untrusted; callers verify them (smtpd's forward-confirmed client name).

use std::ffi::{CStr, CString};
use std::io;
use std::net::IpAddr;

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

/// Connect to a UNIX-domain stream socket, giving up after `timeout` (a server whose listen
/// queue is full would otherwise block the caller for ever). The socket is left blocking.
pub fn unix_connect_timeout(
    path: &std::path::Path,
    timeout: std::time::Duration,
) -> io::Result<std::os::unix::net::UnixStream> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, b) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *b as libc::c_char;
    }
    let flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_UNIX, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns; the stream closes it on
    // every path from here (also on error).
    let stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // SAFETY: `addr` is a live, initialised sockaddr_un of `len` bytes.
        let rc = unsafe { libc::connect(fd, &addr as *const _ as *const libc::sockaddr, len) };
        if rc == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        // A full listen queue: a non-blocking UNIX socket says EAGAIN and has no
        // connection in progress, so try again until the deadline.
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
        if std::time::Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "Connection timed out",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
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

#[cfg(test)]
mod tests {
    use super::*;
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
