//! The client side of Postfix's SMTPD access policy delegation (check_policy_service,
//! SMTPD_POLICY_README): one request is `name=value` lines and an empty line over a stream
//! to the policy server (`inet:host:port`, `unix:/path`, or `unix:private/NAME` under
//! $queue_directory); the reply is `action=...` (and maybe other attributes) and an empty
//! line. Connections are kept per session thread (they outlive the session, as a Postfix
//! smtpd process keeps its own) and reused for at most smtpd_policy_service_max_idle since
//! their last use and smtpd_policy_service_max_ttl since they were opened (expired ones are
//! closed at the thread's next request); connecting, each read and each write wait at most
//! smtpd_policy_service_timeout. A request that fails is tried once more on a new
//! connection after a second, as Postfix's attribute client does.
//!
//! Security role: the server's reply is untrusted: lines and the whole reply are bounded,
//! a reply without `action=` is an error, never "no opinion" (lines without `=` are
//! skipped, as Postfix skips them); the caller (`policy_check`) answers any error with a
//! 4xx. A connection is kept only when nothing follows the reply, and is not reused when
//! the server sent something unasked meanwhile: a stale answer is never taken for the
//! next request. Values sent are the session's (client data included); a value never
//! contains a line break (replaced by a space), so a client cannot add attributes. Logs
//! nothing itself: errors go to the caller.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the policy server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    /// `host:port` (IPv6 hosts in brackets).
    Inet(String),
    Unix(PathBuf),
}

/// A policy server: where it listens, its name in log lines (Postfix's, without the
/// transport: `127.0.0.1:10023`, `private/policy`) and the argument as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub addr: Addr,
    pub name: String,
    pub spec: String,
}

impl Endpoint {
    /// `inet:host:port` (`inet:port` and `inet::port` are localhost), `unix:/path` or
    /// `local:/path`; a relative path (`unix:private/policy`) is kept as written and taken
    /// under the queue directory when connecting.
    pub fn parse(arg: &str) -> Result<Endpoint, String> {
        let bad = || format!("bad policy service address: {arg}");
        let (transport, rest) = arg.split_once(':').ok_or_else(bad)?;
        match transport {
            "inet" => {
                let (host, port) = rest.rsplit_once(':').unwrap_or(("", rest));
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let host = if host.is_empty() { "localhost" } else { host };
                if port.parse::<u16>().is_err() || host.contains(['/', ' ']) {
                    return Err(bad());
                }
                let hostport = match host.contains(':') {
                    true => format!("[{host}]:{port}"),
                    false => format!("{host}:{port}"),
                };
                Ok(Endpoint {
                    addr: Addr::Inet(hostport),
                    name: rest.to_string(),
                    spec: arg.to_string(),
                })
            }
            "unix" | "local" if !rest.is_empty() => Ok(Endpoint {
                addr: Addr::Unix(PathBuf::from(rest)),
                name: rest.to_string(),
                spec: arg.to_string(),
            }),
            _ => Err(bad()),
        }
    }
}

/// Time limits of the conversation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_idle: Duration,
    pub max_ttl: Duration,
}

/// Why no action came back.
#[derive(Debug)]
pub enum PolicyError {
    Io(io::Error),
    /// The reply broke the protocol: what was wrong.
    Protocol(String),
}

impl fmt::Display for PolicyError {
    /// As Postfix words it: the system's error text, "Connection timed out" for a timeout.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                write!(f, "Connection timed out")
            }
            PolicyError::Io(e) => write!(f, "{}", crate::tables::hash::io_text(e)),
            PolicyError::Protocol(why) => write!(f, "{why}"),
        }
    }
}

/// Longest reply line and whole reply accepted.
const LINE_MAX: usize = 4096;
const REPLY_MAX: usize = 65536;

trait Stream: io::Read + Write {
    /// The descriptor, to look for unasked input.
    fn raw_fd(&self) -> Option<std::os::fd::RawFd>;
}
impl Stream for TcpStream {
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
}
impl Stream for UnixStream {
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
}

/// A kept connection.
struct Conn {
    reader: BufReader<Box<dyn Stream>>,
    opened: Instant,
    used: Instant,
}

thread_local! {
    static CONNS: RefCell<HashMap<Endpoint, Conn>> = RefCell::new(HashMap::new());
}

fn connect(ep: &Endpoint, queue_dir: &Path, limits: Limits) -> io::Result<Conn> {
    let stream: Box<dyn Stream> = match &ep.addr {
        Addr::Inet(hostport) => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            let mut found = None;
            for addr in std::net::ToSocketAddrs::to_socket_addrs(hostport.as_str())? {
                match TcpStream::connect_timeout(&addr, limits.timeout) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let s = found.ok_or(last)?;
            s.set_read_timeout(Some(limits.timeout))?;
            s.set_write_timeout(Some(limits.timeout))?;
            s.set_nodelay(true)?;
            Box::new(s)
        }
        Addr::Unix(path) => {
            let s = crate::sys::unix_connect_timeout(&queue_dir.join(path), limits.timeout)?;
            s.set_read_timeout(Some(limits.timeout))?;
            s.set_write_timeout(Some(limits.timeout))?;
            Box::new(s)
        }
    };
    let now = Instant::now();
    Ok(Conn {
        reader: BufReader::new(stream),
        opened: now,
        used: now,
    })
}

/// The request's bytes: `name=value` lines (line breaks in values become spaces), then
/// an empty line.
pub fn encode(attrs: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in attrs {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend(
            value
                .bytes()
                .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// Read one reply (attribute lines up to an empty line); its `action` value.
fn read_reply(r: &mut impl BufRead) -> Result<String, PolicyError> {
    let mut action = None;
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = r
            .by_ref()
            .take(LINE_MAX as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(PolicyError::Io)?;
        if n == 0 {
            return Err(PolicyError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        if line.last() != Some(&b'\n') {
            return Err(PolicyError::Protocol("reply line too long".into()));
        }
        total += n;
        if total > REPLY_MAX {
            return Err(PolicyError::Protocol("reply too long".into()));
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            return action.ok_or_else(|| PolicyError::Protocol("missing attribute action".into()));
        }
        // Lines without `=` and other attributes are skipped, as Postfix's reader does.
        if let Some(("action", value)) = line.split_once('=')
            && action.is_none()
        {
            action = Some(value.trim().to_string());
        }
    }
}

fn exchange(conn: &mut Conn, request: &[u8]) -> Result<String, PolicyError> {
    conn.reader
        .get_mut()
        .write_all(request)
        .and_then(|_| conn.reader.get_mut().flush())
        .map_err(PolicyError::Io)?;
    let action = read_reply(&mut conn.reader)?;
    conn.used = Instant::now();
    Ok(action)
}

/// Whether a kept connection may be used: not expired, and the server sent nothing
/// (data or end of file) since its last reply.
fn usable(c: &Conn, limits: Limits) -> bool {
    c.used.elapsed() < limits.max_idle
        && c.opened.elapsed() < limits.max_ttl
        && c.reader.buffer().is_empty()
        && c.reader
            .get_ref()
            .raw_fd()
            .is_some_and(|fd| !crate::sys::wait_readable(&fd, Duration::ZERO).unwrap_or(true))
}

/// Ask `ep` (a relative UNIX path is under `queue_dir`): the action it answers.
pub fn query(
    ep: &Endpoint,
    queue_dir: &Path,
    attrs: &[(&str, String)],
    limits: Limits,
) -> Result<String, PolicyError> {
    let request = encode(attrs);
    // This thread's kept connection to `ep`; expired ones to other servers are closed.
    let kept = CONNS.with(|c| {
        let mut c = c.borrow_mut();
        let mine = c.remove(ep);
        c.retain(|_, k| k.used.elapsed() < limits.max_idle && k.opened.elapsed() < limits.max_ttl);
        mine
    });
    let attempt = |kept: Option<Conn>| -> Result<(String, Conn), PolicyError> {
        let mut conn = match kept.filter(|c| usable(c, limits)) {
            Some(c) => c,
            None => connect(ep, queue_dir, limits).map_err(PolicyError::Io)?,
        };
        exchange(&mut conn, &request).map(|a| (a, conn))
    };
    let result = attempt(kept).or_else(|_| {
        // Once more on a new connection, after a second (a server restarting).
        std::thread::sleep(Duration::from_secs(1));
        attempt(None)
    });
    let (action, conn) = result?;
    // Kept only when nothing follows the reply (else the next answer could be stale).
    if conn.reader.buffer().is_empty() {
        CONNS.with(|c| c.borrow_mut().insert(ep.clone(), conn));
    }
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let ep = |a: &str| Endpoint::parse(a).map(|e| (e.addr, e.name));
        let inet = |a: &str, n: &str| Ok((Addr::Inet(a.into()), n.to_string()));
        assert_eq!(
            ep("inet:127.0.0.1:10023"),
            inet("127.0.0.1:10023", "127.0.0.1:10023")
        );
        assert_eq!(ep("inet:[::1]:10023"), inet("[::1]:10023", "[::1]:10023"));
        assert_eq!(ep("inet:10023"), inet("localhost:10023", "10023"));
        assert_eq!(ep("inet::10023"), inet("localhost:10023", ":10023"));
        assert_eq!(
            ep("unix:private/policy"),
            Ok((Addr::Unix("private/policy".into()), "private/policy".into()))
        );
        assert_eq!(
            ep("local:/run/policyd.sock"),
            Ok((
                Addr::Unix("/run/policyd.sock".into()),
                "/run/policyd.sock".into()
            ))
        );
        for bad in [
            "inet:host",
            "inet:h:port",
            "",
            "unix:",
            "tcp:h:1",
            "private/policy",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_cannot_be_extended_by_values() {
        let r = encode(&[
            ("sender", "a@b".into()),
            ("helo_name", "x\r\naction=OK".into()),
        ]);
        assert_eq!(r, b"sender=a@b\nhelo_name=x  action=OK\n\n");
    }

    #[test]
    fn replies() {
        let mut ok = &b"foo=bar\naction=DEFER_IF_PERMIT Try later\n\n"[..];
        assert_eq!(read_reply(&mut ok).unwrap(), "DEFER_IF_PERMIT Try later");
        let mut skipped = &b"nonsense\naction=OK\n\n"[..];
        assert_eq!(read_reply(&mut skipped).unwrap(), "OK");
        for (bad, why) in [
            (&b"foo=bar\n\n"[..], "missing attribute action"),
            (b" action=OK\n\n", "missing attribute action"),
            (b"action=OK\n", "unexpected end of file"),
        ] {
            let mut r = bad;
            assert_eq!(read_reply(&mut r).unwrap_err().to_string(), why);
        }
        let long = format!("action={}\n\n", "x".repeat(5000));
        let mut r = long.as_bytes();
        assert_eq!(
            read_reply(&mut r).unwrap_err().to_string(),
            "reply line too long"
        );
        let e = PolicyError::Io(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(e.to_string(), "Connection refused");
        let e = PolicyError::Io(io::ErrorKind::WouldBlock.into());
        assert_eq!(e.to_string(), "Connection timed out");
    }
}
