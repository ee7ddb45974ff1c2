//! The client connection under `chat`: plaintext, or TLS after STARTTLS (RFC 3207) or on a
//! wrapper-mode port (SMTPS). `Conn` reads and writes either way; `Peek` tells, without
//! blocking, whether client input waits; `Tap` keeps a copy of the first bytes the server
//! writes during the TLS handshake, so that the negotiated protocol and cipher can be read
//! from our own ServerHello (native-tls does not expose them).
//!
//! Security role: the switch to TLS happens here as one value replacing another, so no
//! plaintext reader survives it; the session discards buffered plaintext before the
//! handshake (CVE-2011-0411). `Tap` records only what this server sends, bounded by
//! `TAP_LIMIT`. Logs nothing.

use std::io::{self, Read, Write};

/// The most handshake output `Tap` keeps (a ServerHello is well under 1 KB).
const TAP_LIMIT: usize = 16 * 1024;

/// The connection.
pub enum Conn<S: Read + Write> {
    Plain(S),
    Tls(Box<native_tls::TlsStream<Tap<S>>>),
}

impl<S: Read + Write> Read for Conn<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl<S: Read + Write> Write for Conn<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A connection that can tell, without blocking and without consuming it, whether the
/// client sent input that was not read yet (pre-greet and pipelining detection).
pub trait Peek {
    fn input_waiting(&self) -> bool;
}

impl Peek for std::net::TcpStream {
    fn input_waiting(&self) -> bool {
        crate::sys::wait_readable(self, std::time::Duration::ZERO).unwrap_or(false)
    }
}

impl<T: Peek + ?Sized> Peek for &mut T {
    fn input_waiting(&self) -> bool {
        (**self).input_waiting()
    }
}

impl<S: Read + Write + Peek> Peek for Conn<S> {
    fn input_waiting(&self) -> bool {
        match self {
            Conn::Plain(s) => s.input_waiting(),
            // Decrypted bytes already inside the TLS layer, or records on the socket (a
            // record that carries no application data, which TLS 1.2 clients do not send
            // after the handshake, would make the next read wait for $smtpd_timeout).
            Conn::Tls(s) => {
                s.buffered_read_size().unwrap_or(0) > 0 || s.get_ref().inner.input_waiting()
            }
        }
    }
}

/// A stream that keeps a copy of what is written to it until `take_record`.
pub struct Tap<S> {
    inner: S,
    record: Option<Vec<u8>>,
}

impl<S> Tap<S> {
    pub fn new(inner: S) -> Tap<S> {
        Tap {
            inner,
            record: Some(Vec::new()),
        }
    }

    /// What was written so far (at most `TAP_LIMIT` bytes); recording stops here.
    pub fn take_record(&mut self) -> Vec<u8> {
        self.record.take().unwrap_or_default()
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Read> Read for Tap<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Tap<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(r) = self.record.as_mut() {
            let room = TAP_LIMIT.saturating_sub(r.len()).min(n);
            r.extend_from_slice(buf.get(..room).unwrap_or_default());
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: Peek> Peek for Tap<S> {
    fn input_waiting(&self) -> bool {
        self.inner.input_waiting()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_records_writes_up_to_the_limit_and_stops_when_taken() {
        let mut t = Tap::new(Vec::new());
        t.write_all(b"hello").unwrap();
        t.write_all(&vec![b'x'; TAP_LIMIT]).unwrap();
        let r = t.take_record();
        assert_eq!(r.len(), TAP_LIMIT);
        assert!(r.starts_with(b"hello"));
        t.write_all(b"more").unwrap();
        assert!(t.take_record().is_empty());
        assert_eq!(t.get_ref().len(), 5 + TAP_LIMIT + 4);
    }
}
