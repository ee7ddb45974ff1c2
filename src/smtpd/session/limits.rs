//! The session's hooks into the resource limits: anvil's client connection and rate
//! limits (at connect, MAIL and RCPT) and the queue file system space (at MAIL). None of
//! them applies to the stand-alone server (`sendmail -bs`), as in Postfix.
//!
//! Security role: a client over its limits is refused before it costs a thread, a queue
//! file or disk space. Logs (through `anvil` and `space`): the `... limit exceeded`
//! warnings, `NOQUEUE: reject: MAIL ...: 452 4.3.1 Insufficient system storage` and
//! `warning: not enough free space in mail queue: ...`.

use std::io::{Read, Write};

use super::Session;
use crate::log::lines;
use crate::reply::Reply;
use crate::smtpd::anvil::{self, Event};
use crate::smtpd::space;

impl<S: Read + Write> Session<'_, S> {
    /// Count this connection with anvil (not for `sendmail -bs`); `Err(421 reply)` when the
    /// client is over its connection count or rate.
    pub(super) fn admit(&self) -> Result<Option<anvil::Connection>, Reply> {
        if self.ctx.stand_alone {
            return Ok(None);
        }
        let c = self.ctx;
        c.limits
            .connect(self.client.addr, &self.client_log, &c.myhostname)
    }

    /// Count a MAIL or RCPT with anvil; the 450 reply when over the client's rate.
    pub(super) fn rate_limited(&self, e: Event) -> Option<Reply> {
        if self.ctx.stand_alone {
            return None;
        }
        self.ctx.limits.event(self.client.addr, &self.client_log, e)
    }

    /// The queue file system check at MAIL (not for `sendmail -bs`, as Postfix).
    pub(super) fn queue_space(&self) -> Option<Reply> {
        if self.ctx.stand_alone {
            return None;
        }
        let c = self.ctx;
        let available = space::check(c.queue.root(), c.queue_minfree, c.message_size_limit)?;
        let reply = space::reply();
        self.log_reject("MAIL", &reply.to_string(), None);
        lines::queue_space_low(available);
        Some(reply)
    }
}
