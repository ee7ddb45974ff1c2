//! `sendmail -bs`: an SMTP session on standard input and output, as Postfix runs smtpd in
//! stand-alone mode for the invoking user. The session code is smtpd's own
//! (`smtpd::session`) with the stand-alone context: the client is `localhost[127.0.0.1]`,
//! the relay and recipient restriction lists do not apply (a local user may send anywhere,
//! as with plain sendmail), the local recipient table test does, and accepted messages go
//! to maildrop/ through postdrop (`smtpd::sink`), answered `250 2.0.0 Ok: queued as ID`
//! with the maildrop ID. Input is bounded by $smtpd_timeout as on the network.
//!
//! Security role: runs with the invoking user's privileges only; no network. Logs as smtpd
//! (`connect from localhost[127.0.0.1]`, `ID: client=...`, rejects, `disconnect from`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use super::{EX_SOFTWARE, EX_TEMPFAIL, Failure};
use crate::config::Config;
use crate::smtpd::{ClientInfo, SmtpdContext};

/// Standard input and output as one stream. Reads go straight to the descriptor (no
/// hidden buffer, so the read timeout sees every byte); writes are buffered by the session
/// and flushed where the daemon flushes.
pub struct StdStream {
    input: File,
    output: File,
    timeout: Duration,
}

impl StdStream {
    /// Duplicate descriptors 0 and 1.
    pub fn new(timeout: Duration) -> io::Result<StdStream> {
        Ok(StdStream {
            input: File::from(io::stdin().as_fd().try_clone_to_owned()?),
            output: File::from(io::stdout().as_fd().try_clone_to_owned()?),
            timeout,
        })
    }
}

impl Read for StdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !crate::sys::wait_readable(&self.input, self.timeout)? {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        self.input.read(buf)
    }
}

impl crate::smtpd::chat::Peek for StdStream {
    fn input_waiting(&self) -> bool {
        crate::sys::wait_readable(&self.input, Duration::ZERO).unwrap_or(false)
    }
}

impl Write for StdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }
}

/// Run the session until QUIT or end of input.
pub fn run(cfg: Config) -> Result<(), Failure> {
    let postdrop = super::postdrop_program(&cfg);
    let ctx = SmtpdContext::stand_alone(Arc::new(cfg), postdrop)
        .map_err(|e| Failure::new(EX_TEMPFAIL, e))?;
    let stream = StdStream::new(ctx.timeout)
        .map_err(|e| Failure::new(EX_SOFTWARE, format!("standard input/output: {}", e)))?;
    crate::smtpd::session(stream, ClientInfo::stand_alone(), &ctx);
    Ok(())
}
