//! The SMTP and LMTP clients' connection: plain TCP, a UNIX-domain socket (LMTP), or TLS
//! after STARTTLS (RFC 3207, through the `openssl` crate), read line by line with a per-stage timeout, as smtp(8) does with its
//! smtp_*_timeout parameters.
//!
//! Security role: bounds what a remote server can make the client buffer (`MAX_LINE`
//! bytes per reply line, the rest of a longer line is dropped), and throws away anything
//! the server sent ahead of the TLS handshake so that plaintext cannot be injected into
//! the encrypted session (the client-side CVE-2011-0411 case). Whether the certificate
//! is verified is up to the caller (see `tls_peer`). Logs nothing.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use openssl::ssl::{HandshakeError, Ssl, SslRef, SslStream};

use super::reply::{BadReply, Collector, Reply};

/// Longest reply line kept; the rest of a longer line is ignored.
pub const MAX_LINE: usize = 4096;

/// Why a read or write failed.
#[derive(Debug)]
pub enum StreamError {
    /// No progress within the stage's timeout.
    Timeout,
    /// The server closed the connection or the connection broke.
    Lost,
    /// The server sent something that is not an SMTP reply.
    Bad(BadReply),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Timeout => write!(f, "timed out"),
            StreamError::Lost => write!(f, "lost connection"),
            StreamError::Bad(b) => write!(f, "{}", b),
        }
    }
}

fn classify(e: &io::Error) -> StreamError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => StreamError::Timeout,
        _ => StreamError::Lost,
    }
}

enum Inner {
    Plain(TcpStream),
    Unix(UnixStream),
    Tls(Box<SslStream<TcpStream>>),
}

/// A connection to one server.
pub struct Stream {
    inner: Inner,
    buf: Vec<u8>,
}

impl Stream {
    pub fn new(tcp: TcpStream) -> Stream {
        Stream {
            inner: Inner::Plain(tcp),
            buf: Vec::new(),
        }
    }

    /// A connection over a UNIX-domain socket (LMTP's `unix:` next hops).
    pub fn unix(sock: UnixStream) -> Stream {
        Stream {
            inner: Inner::Unix(sock),
            buf: Vec::new(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// The TLS connection, once STARTTLS succeeded.
    pub fn ssl(&self) -> Option<&SslRef> {
        match &self.inner {
            Inner::Tls(t) => Some(t.ssl()),
            _ => None,
        }
    }

    fn set_timeout(&self, t: Duration) -> Result<(), StreamError> {
        // A zero timeout would mean "block forever" to the socket layer.
        let t = Some(t.max(Duration::from_millis(1)));
        let r = match &self.inner {
            Inner::Plain(tcp) => tcp
                .set_read_timeout(t)
                .and_then(|_| tcp.set_write_timeout(t)),
            Inner::Tls(tls) => {
                let tcp = tls.get_ref();
                tcp.set_read_timeout(t)
                    .and_then(|_| tcp.set_write_timeout(t))
            }
            Inner::Unix(u) => u.set_read_timeout(t).and_then(|_| u.set_write_timeout(t)),
        };
        r.map_err(|e| classify(&e))
    }

    fn fill(&mut self) -> Result<(), StreamError> {
        let mut chunk = [0u8; 4096];
        let n = match &mut self.inner {
            Inner::Plain(t) => t.read(&mut chunk),
            Inner::Unix(u) => u.read(&mut chunk),
            Inner::Tls(t) => t.read(&mut chunk),
        };
        match n {
            Ok(0) => Err(StreamError::Lost),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }

    /// One line without its CR LF (or bare LF). Overlong lines are cut at `MAX_LINE`.
    fn read_line(&mut self) -> Result<String, StreamError> {
        let mut long: Option<Vec<u8>> = None;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let line = match long.take() {
                    Some(mut head) => {
                        head.extend_from_slice(&line[..line.len().min(MAX_LINE - head.len())]);
                        head
                    }
                    None => line,
                };
                let mut line = line;
                line.truncate(MAX_LINE);
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() >= MAX_LINE {
                let head = long.get_or_insert_with(Vec::new);
                let room = MAX_LINE.saturating_sub(head.len());
                head.extend_from_slice(&self.buf[..room.min(self.buf.len())]);
                self.buf.clear();
            }
            self.fill()?;
        }
    }

    /// Read one complete reply, waiting at most `timeout` for each piece of it.
    pub fn read_reply(&mut self, timeout: Duration) -> Result<Reply, StreamError> {
        self.set_timeout(timeout)?;
        let mut c = Collector::default();
        loop {
            let line = self.read_line()?;
            if let Some(r) = c.push(&line).map_err(StreamError::Bad)? {
                return Ok(r);
            }
        }
    }

    /// Send bytes, waiting at most `timeout` for each write to make progress.
    pub fn send(&mut self, data: &[u8], timeout: Duration) -> Result<(), StreamError> {
        self.set_timeout(timeout)?;
        let r = match &mut self.inner {
            Inner::Plain(t) => t.write_all(data).and_then(|_| t.flush()),
            Inner::Unix(u) => u.write_all(data).and_then(|_| u.flush()),
            Inner::Tls(t) => t.write_all(data).and_then(|_| t.flush()),
        };
        r.map_err(|e| classify(&e))
    }

    /// Replace the plain connection by TLS. Anything the server sent before the
    /// handshake is discarded. On failure the connection is unusable.
    pub fn starttls(self, ssl: Ssl, timeout: Duration) -> Result<Stream, String> {
        self.set_timeout(timeout).map_err(|e| e.to_string())?;
        let tcp = match self.inner {
            Inner::Plain(t) => t,
            Inner::Unix(_) => return Err("TLS over a UNIX-domain socket".into()),
            Inner::Tls(_) => return Err("TLS already active".into()),
        };
        // `self.buf` (plaintext received after the STARTTLS reply) is dropped here.
        match ssl.connect(tcp) {
            Ok(tls) => Ok(Stream {
                inner: Inner::Tls(Box::new(tls)),
                buf: Vec::new(),
            }),
            Err(HandshakeError::WouldBlock(_)) => Err("handshake timed out".into()),
            Err(HandshakeError::Failure(m)) => Err(m.error().to_string()),
            Err(HandshakeError::SetupFailure(e)) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair(server_bytes: &'static [u8]) -> Stream {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(server_bytes).unwrap();
        });
        let s = Stream::new(TcpStream::connect(addr).unwrap());
        t.join().unwrap();
        s
    }

    #[test]
    fn reads_multi_line_replies_and_detects_close() {
        let mut s = pair(b"250-a\r\n250 b\n220 next\r\n");
        let r = s.read_reply(Duration::from_secs(5)).unwrap();
        assert_eq!(r.lines, vec!["250-a", "250 b"]);
        assert_eq!(s.read_reply(Duration::from_secs(5)).unwrap().code, 220);
        assert!(matches!(
            s.read_reply(Duration::from_secs(5)),
            Err(StreamError::Lost)
        ));
    }

    #[test]
    fn overlong_lines_are_cut() {
        let mut v = b"250 ".to_vec();
        v.extend(std::iter::repeat_n(b'x', 10_000));
        v.extend_from_slice(b"\r\n");
        let mut s = pair(Box::leak(v.into_boxed_slice()));
        let r = s.read_reply(Duration::from_secs(5)).unwrap();
        assert_eq!(r.lines[0].len(), MAX_LINE);
    }

    #[test]
    fn garbage_is_a_bad_reply() {
        let mut s = pair(b"HTTP/1.0 400\r\n");
        assert!(matches!(
            s.read_reply(Duration::from_secs(5)),
            Err(StreamError::Bad(_))
        ));
    }
}
