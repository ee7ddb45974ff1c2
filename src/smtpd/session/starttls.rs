//! STARTTLS (RFC 3207) and TLS wrapper mode (SMTPS, port 465) in the session: the
//! command's replies with Postfix's texts, the handshake over the connection `chat` holds,
//! the state reset after it, the `530 5.7.0 Must issue a STARTTLS command first` gate of
//! smtpd_tls_security_level = encrypt, and the Received: header's TLS comment
//! (smtpd_tls_received_header). Follows Postfix smtpd(8) starttls_cmd and tls_server.c.
//!
//! Security role: plaintext the client sent after STARTTLS is thrown away before the
//! handshake, and HELO, the transaction and any AUTH state are forgotten, so nothing said
//! in the clear carries over into the encrypted session (CVE-2011-0411). The handshake runs
//! under the socket's $smtpd_timeout.
//!
//! With smtpd_tls_req_ccert at level encrypt, a client without a trusted certificate gets
//! `421 4.7.1 HOST Error: No client certificate presented` (or `Client certificate not
//! trusted`) to its next command (at once in wrapper mode), as Postfix's smtpd does.
//!
//! Logs: with smtpd_tls_loglevel >= 1 `Anonymous TLS connection established from
//! host[addr]: TLSv1.3 with cipher NAME (USED/ALG bits)` (`Trusted` / `Untrusted` instead
//! of `Anonymous` when the client sent a certificate), at level 2 also
//! `host[addr]: subject_CN=..., issuer=..., fingerprint=..., pkey_fingerprint=...`; always `SSL_accept error from host[addr]: ...`
//! for a failed handshake (and `warning: TLS library problem: ...` with the library's
//! reason), then `lost connection after STARTTLS from host[addr]`; for a refused client
//! certificate `NOQUEUE: abort: TLS from host[addr]: REASON`.

use std::io::{Read, Write};
use std::sync::Arc;

use openssl::ssl::{HandshakeError, SslAcceptor};

use super::{End, Session};
use crate::log::{self, lines};
use crate::smtpd::chat::Peek;
use crate::smtpd::conn::Conn;
use crate::smtpd::tls::Level;
use crate::smtpd::tls::negotiated::Negotiated;

/// Commands allowed before STARTTLS at level encrypt: Postfix's SMTPD_CMD_FLAG_PRE_TLS
/// commands (XCLIENT and HELP are not implemented here). RSET is not one of them, as in
/// RFC 3207 section 4 (NOOP, EHLO, STARTTLS, QUIT) and Postfix.
const PRE_TLS: &[&str] = &["EHLO", "HELO", "STARTTLS", "NOOP", "QUIT"];

impl<S: Read + Write + Peek> Session<'_, S> {
    /// STARTTLS [args]: the handshake, or the reason there is none. `Some` ends the
    /// session (the handshake failed).
    pub(super) fn starttls_cmd(&mut self, args: &str) -> Option<End> {
        if !args.is_empty() {
            self.refuse(501, "5.5.4", "Syntax: STARTTLS");
            return None;
        }
        if self.tls.is_some() {
            self.refuse(554, "5.5.1", "Error: TLS already active");
            return None;
        }
        if self.ctx.tls.level == Level::None || self.ctx.stand_alone || self.discards("STARTTLS") {
            self.refuse(502, "5.5.1", "Error: command not implemented");
            return None;
        }
        let Some(acceptor) = self.ctx.tls.acceptor.clone() else {
            self.refuse(454, "4.7.0", "TLS not available due to local problem");
            return None;
        };
        if let Some(r) = self.tls_rate_refusal() {
            self.reply(&r);
            return None;
        }
        self.chat.reply("220 2.0.0 Ready to start TLS");
        if let Err(e) = self.chat.flush() {
            self.chat_failed(e, "STARTTLS");
            return Some(End::Hangup);
        }
        // CVE-2011-0411: what came with or after STARTTLS in the clear is not a command.
        self.chat.discard_input();
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
        self.bdat = super::bdat::Bdat::None;
        self.sasl_username = None;
        self.auth.reset();
        self.auth.method = None;
        if self.handshake(&acceptor) {
            (self.over_tls_rate() || self.refuse_ccert(false)).then_some(End::Hangup)
        } else {
            lines::lost_connection("STARTTLS", &self.client_log);
            Some(End::Hangup)
        }
    }

    /// Wrapper mode: the handshake before the greeting. False when the session must end
    /// (logged).
    pub(super) fn wrapper_handshake(&mut self) -> bool {
        let Some(acceptor) = self.ctx.tls.acceptor.clone() else {
            log::warning(
                "smtpd",
                format!(
                    "TLS wrapper mode without a usable server certificate: dropping {}",
                    self.client_log
                ),
            );
            return false;
        };
        if self.handshake(&acceptor) {
            return !self.over_tls_rate() && !self.refuse_ccert(true);
        }
        lines::lost_connection("CONNECT", &self.client_log);
        false
    }

    /// After a handshake: whether the client went over smtpd_client_new_tls_session_rate_limit
    /// (then answered 421 over TLS: the session ends).
    fn over_tls_rate(&mut self) -> bool {
        let Some(r) = self.tls_rate_exceeded() else {
            return false;
        };
        self.last_reply(&r);
        let _ = self.chat.flush();
        true
    }

    /// smtpd_tls_req_ccert: without a trusted client certificate the session ends with 421
    /// (to the next command; at once in wrapper mode). True when it ended.
    fn refuse_ccert(&mut self, wrapper: bool) -> bool {
        let Some(t) = self.tls.as_ref() else {
            return false;
        };
        if !self.ctx.tls.require_ccert || t.peer.as_ref().is_some_and(|p| p.trusted) {
            return false;
        }
        let why = if t.peer.is_some() {
            "Client certificate not trusted"
        } else {
            "No client certificate presented"
        };
        log::info(
            "smtpd",
            format!("NOQUEUE: abort: TLS from {}: {}", self.client_log, why),
        );
        if !wrapper {
            let _ = self.chat.read_line(self.ctx.line_length_limit);
        }
        let text = format!("{} Error: {}", self.ctx.myhostname, why);
        self.last_reply(&crate::reply::Reply::with_dsn(421, "4.7.1", &text));
        let _ = self.chat.flush();
        true
    }

    /// Replace the plaintext connection by a TLS one; false (logged) when that fails.
    fn handshake(&mut self, acceptor: &Arc<SslAcceptor>) -> bool {
        let plain = match self.chat.take_conn() {
            Some(Conn::Plain(s)) => s,
            Some(other) => {
                self.chat.set_conn(other);
                return false;
            }
            None => return false,
        };
        match acceptor.accept(plain) {
            Ok(stream) => {
                let tls = &self.ctx.tls;
                let negotiated = Negotiated::of(stream.ssl(), tls.ask_ccert, tls.digest);
                self.log_established(&negotiated);
                self.chat.set_conn(Conn::Tls(Box::new(stream)));
                self.tls = Some(negotiated);
                true
            }
            Err(e) => {
                self.log_accept_error(e);
                false
            }
        }
    }

    /// Postfix's summary line (smtpd_tls_loglevel >= 1) and, at level 2, the certificate.
    fn log_established(&self, n: &Negotiated) {
        if self.ctx.tls.loglevel >= 2
            && let Some(p) = &n.peer
        {
            log::tls::client_cert(
                &self.client_log,
                &p.cn,
                &p.issuer,
                &p.fingerprint,
                &p.pkey_fingerprint,
            );
        }
        if self.ctx.tls.loglevel >= 1 {
            log::info(
                "smtpd",
                format!(
                    "{} TLS connection established from {}: {}",
                    n.trust_word(),
                    self.client_log,
                    n.describe()
                ),
            );
        }
    }

    fn log_accept_error<T>(&self, e: HandshakeError<T>) {
        let client = &self.client_log;
        let why = match e {
            HandshakeError::WouldBlock(_) => "Connection timed out".to_string(),
            HandshakeError::SetupFailure(e) => {
                log::warning("smtpd", format!("TLS library problem: {}", e));
                "-1".to_string()
            }
            HandshakeError::Failure(mid) => {
                let e = mid.error();
                let text = e.to_string();
                if e.io_error().is_some() || text.to_ascii_lowercase().contains("eof") {
                    "lost connection".to_string()
                } else {
                    log::warning("smtpd", format!("TLS library problem: {}", text));
                    "-1".to_string()
                }
            }
        };
        log::info(
            "smtpd",
            format!("SSL_accept error from {}: {}", client, why),
        );
    }

    /// At the end of the session: send the TLS close_notify (Postfix's tls_server_stop) and
    /// close; a plain connection stays in place and closes when the session is dropped.
    pub(super) fn close_tls(&mut self) {
        match self.chat.take_conn() {
            Some(Conn::Tls(mut t)) => {
                let _ = t.shutdown();
            }
            Some(plain) => self.chat.set_conn(plain),
            None => {}
        }
    }

    /// Level encrypt without TLS yet: the 530 reply for `command`, if it is refused.
    pub(super) fn must_starttls(&self, command: &str) -> bool {
        self.ctx.tls.level == Level::Encrypt
            && self.tls.is_none()
            && !self.ctx.stand_alone
            && self.stage != "UNKNOWN"
            && !PRE_TLS.contains(&command)
    }

    /// The Received: header's `with` protocol: ESMTPS over TLS (RFC 3848, for ESMTP only,
    /// as in Postfix; the logs and the queue file keep ESMTP).
    pub(super) fn received_with(&self) -> &'static str {
        if self.esmtp && self.tls.is_some() {
            "ESMTPS"
        } else {
            self.proto()
        }
    }

    /// The Received: header's TLS comments (`TLSv1.3 with cipher ...` and the client
    /// certificate's), when TLS is active and smtpd_tls_received_header = yes.
    pub(super) fn received_tls(&self) -> Option<(String, String)> {
        let t = self.tls.as_ref()?;
        self.ctx
            .tls
            .received_header
            .then(|| (t.describe(), t.client_comment()))
    }
}
