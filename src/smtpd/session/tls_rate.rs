//! smtpd_client_new_tls_session_rate_limit (Postfix 2.9+): how many new TLS sessions a
//! client may negotiate per $anvil_rate_time_unit, counted by the in-process anvil
//! (`Event::NewTls`). As Postfix's smtpd: STARTTLS from a client already over the limit is
//! refused before the handshake (`454 4.7.0 Error: too many new TLS sessions from
//! host[addr]`); a handshake that takes a client over the limit (STARTTLS or wrapper mode)
//! is answered, over TLS, `421 4.7.0 HOSTNAME Error: too many new TLS sessions from
//! host[addr]` and the session ends. Every handshake is a new session (Postern keeps no TLS
//! session cache). Clients in smtpd_client_event_limit_exceptions are never counted.
//!
//! Security role: bounds the CPU a client can spend on handshakes. Logs `warning: Refusing
//! STARTTLS request from host[addr] for service NAME` and `warning: New TLS session rate
//! limit exceeded: N from host[addr] for service NAME`.

use std::io::{Read, Write};

use super::Session;
use crate::log;
use crate::reply::Reply;
use crate::smtpd::anvil::Event;
use crate::smtpd::chat::Peek;

impl<S: Read + Write + Peek> Session<'_, S> {
    /// Before STARTTLS's 220: the 454 reply when the client is already over the limit.
    pub(super) fn tls_rate_refusal(&self) -> Option<Reply> {
        let limit = self.ctx.tls.session_rate_limit;
        if limit == 0 || self.ctx.stand_alone {
            return None;
        }
        let rate = self.ctx.limits.peek(self.client.addr, Event::NewTls)?;
        if rate <= limit {
            return None;
        }
        log::warning(
            "smtpd",
            format!(
                "Refusing STARTTLS request from {} for service {}",
                self.client_log, self.ctx.limits.service
            ),
        );
        Some(Reply::with_dsn(
            454,
            "4.7.0",
            &format!("Error: too many new TLS sessions from {}", self.client_log),
        ))
    }

    /// After a handshake: count the new session; the 421 reply when it is over the limit.
    pub(super) fn tls_rate_exceeded(&self) -> Option<Reply> {
        let limit = self.ctx.tls.session_rate_limit;
        if limit == 0 || self.ctx.stand_alone {
            return None;
        }
        let rate = self.ctx.limits.count(self.client.addr, Event::NewTls)?;
        if rate <= limit {
            return None;
        }
        log::warning(
            "smtpd",
            format!(
                "New TLS session rate limit exceeded: {} from {} for service {}",
                rate, self.client_log, self.ctx.limits.service
            ),
        );
        Some(Reply::with_dsn(
            421,
            "4.7.0",
            &format!(
                "{} Error: too many new TLS sessions from {}",
                self.ctx.myhostname, self.client_log
            ),
        ))
    }
}
