//! The client connection under `chat`: plaintext, or TLS after STARTTLS (RFC 3207) or on a
//! wrapper-mode port (SMTPS). `Conn` reads and writes either way; `Peek` tells, without
//! blocking, whether client input waits.
//!
//! Security role: the switch to TLS happens here as one value replacing another, so no
//! plaintext reader survives it; the session discards buffered plaintext before the
//! handshake (CVE-2011-0411). Logs nothing.

use std::io::{self, Read, Write};

use openssl::ssl::SslStream;

/// The connection.
pub enum Conn<S: Read + Write> {
    Plain(S),
    Tls(Box<SslStream<S>>),
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
            // record that carries no application data, which clients do not normally send
            // after the handshake, would make the next read wait for $smtpd_timeout).
            Conn::Tls(s) => s.ssl().pending() > 0 || s.get_ref().input_waiting(),
        }
    }
}
