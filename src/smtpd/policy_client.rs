//! The client side of Postfix's SMTPD access policy delegation (check_policy_service,
//! SMTPD_POLICY_README): one request is `name=value` lines and an empty line over a stream
//! to the policy server (`inet:host:port`, `unix:/path`, or `unix:private/NAME` under
//! $queue_directory); the reply is `action=...` (and maybe other attributes) and an empty
//! line. Connections are kept per session thread and reused, for at most
//! smtpd_policy_service_max_idle since their last use and smtpd_policy_service_max_ttl
//! since they were opened; every read and write waits at most
//! smtpd_policy_service_timeout. A request that fails on a kept connection is tried once
//! more on a new one, as Postfix's attribute client retries.
//!
//! Security role: the server's reply is untrusted: lines and the whole reply are bounded,
//! an attribute line without `=` or a reply without `action=` is an error, never "no
//! opinion"; the caller (`policy_check`) answers any error with a 4xx. Values sent are the
//! session's (client data included); a value never contains a line break (replaced by a
//! space), so a client cannot add attributes. Logs nothing itself: errors go to the caller.

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
pub enum Endpoint {
    Inet(String),
    Unix(PathBuf),
}

impl Endpoint {
    /// `inet:host:port`, `unix:/path`, `unix:private/name` or `private/name` (relative to
    /// the queue directory, as Postfix's local services are named).
    pub fn parse(arg: &str, queue_dir: &Path) -> Result<Endpoint, String> {
        let bad = || format!("bad policy service address: {arg}");
        if let Some(hostport) = arg.strip_prefix("inet:") {
            let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad());
            }
            return Ok(Endpoint::Inet(format!("{host}:{port}")));
        }
        let path = arg.strip_prefix("unix:").unwrap_or(arg);
        if path.is_empty() || path.contains(':') {
            return Err(bad());
        }
        let path = Path::new(path);
        Ok(Endpoint::Unix(if path.is_absolute() {
            path.to_path_buf()
        } else {
            queue_dir.join(path)
        }))
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Io(e) => write!(f, "{e}"),
            PolicyError::Protocol(why) => write!(f, "{why}"),
        }
    }
}

/// Longest reply line and whole reply accepted.
const LINE_MAX: usize = 4096;
const REPLY_MAX: usize = 65536;

trait Stream: io::Read + Write {}
impl Stream for TcpStream {}
impl Stream for UnixStream {}

/// A kept connection.
struct Conn {
    reader: BufReader<Box<dyn Stream>>,
    opened: Instant,
    used: Instant,
}

thread_local! {
    static CONNS: RefCell<HashMap<Endpoint, Conn>> = RefCell::new(HashMap::new());
}

fn connect(ep: &Endpoint, limits: Limits) -> io::Result<Conn> {
    let stream: Box<dyn Stream> = match ep {
        Endpoint::Inet(hostport) => {
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
        Endpoint::Unix(path) => {
            let s = UnixStream::connect(path)?;
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
            return action.ok_or_else(|| PolicyError::Protocol("missing action".into()));
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| PolicyError::Protocol("malformed reply attribute".into()))?;
        if name.trim() == "action" && action.is_none() {
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

/// Ask `ep`: the action it answers.
pub fn query(
    ep: &Endpoint,
    attrs: &[(&str, String)],
    limits: Limits,
) -> Result<String, PolicyError> {
    let request = encode(attrs);
    let kept = CONNS
        .with(|c| c.borrow_mut().remove(ep))
        .filter(|c| c.used.elapsed() < limits.max_idle && c.opened.elapsed() < limits.max_ttl);
    let mut retried = false;
    let mut conn = match kept {
        Some(c) => {
            retried = true;
            c
        }
        None => connect(ep, limits).map_err(PolicyError::Io)?,
    };
    let result = match exchange(&mut conn, &request) {
        // A kept connection the server closed meanwhile: once more on a new one.
        Err(PolicyError::Io(_)) if retried => {
            conn = connect(ep, limits).map_err(PolicyError::Io)?;
            exchange(&mut conn, &request)
        }
        r => r,
    };
    if result.is_ok() {
        CONNS.with(|c| c.borrow_mut().insert(ep.clone(), conn));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let q = Path::new("/var/spool/postfix");
        assert_eq!(
            Endpoint::parse("inet:127.0.0.1:10023", q),
            Ok(Endpoint::Inet("127.0.0.1:10023".into()))
        );
        assert_eq!(
            Endpoint::parse("inet:[::1]:10023", q),
            Ok(Endpoint::Inet("::1:10023".into()))
        );
        assert_eq!(
            Endpoint::parse("unix:private/policy", q),
            Ok(Endpoint::Unix("/var/spool/postfix/private/policy".into()))
        );
        assert_eq!(
            Endpoint::parse("unix:/run/policyd.sock", q),
            Ok(Endpoint::Unix("/run/policyd.sock".into()))
        );
        for bad in [
            "inet:host",
            "inet::25",
            "inet:h:port",
            "",
            "unix:",
            "tcp:h:1",
        ] {
            assert!(Endpoint::parse(bad, q).is_err(), "{bad}");
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
        for (bad, why) in [
            (&b"foo=bar\n\n"[..], "missing action"),
            (b"action=OK\nnonsense\n\n", "malformed reply attribute"),
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
    }
}
