//! The AUTH command (RFC 4954) and the rest of SASL in the session: the EHLO `AUTH`
//! keyword (and `AUTH=` for broken_sasl_auth_clients), the 334 challenge loop, `*` to
//! abort, the `AUTH=` parameter of MAIL, and the `client=` line with `sasl_method=`,
//! `sasl_username=`, `sasl_sender=`. Replies and order of checks as Postfix's
//! smtpd_sasl_proto.c and smtpd_sasl_glue.c; the password check is crate::sasl (libsasl2).
//!
//! Security role: a failure is answered 535 (5xx: counts toward smtpd_hard_error_limit and
//! the tarpit delay), a libsasl2/saslauthd outage 454; a response longer than
//! smtpd_sasl_response_limit is refused unread; responses stay bytes (base64) until
//! libsasl2 has them; the login name is made printable before it reaches logs or headers.
//! AUTH is counted by anvil (smtpd_client_auth_rate_limit).
//!
//! TLS: whether the session is encrypted (smtpd_tls_auth_only,
//! smtpd_sasl_tls_security_options) is the session's own TLS state; STARTTLS calls
//! `AuthState::reset` (the SASL connection is made again, with the TLS security options).
//!
//! Logs: `warning: host[addr]: SASL PLAIN authentication failed: REASON,
//! sasl_username=NAME`, `warning: host[addr]: SASL LOGIN authentication aborted`,
//! `warning: AUTH command rate limit exceeded: ...`, `ID: client=host[addr],
//! sasl_method=PLAIN, sasl_username=alice`.

use std::io::{Read, Write};

use super::{End, Session};
use crate::log::{self, lines};
use crate::reply::Reply;
use crate::sasl::{self, Step, base64};
use crate::smtpd::anvil::Event;
use crate::smtpd::chat::{Line, Peek};
use crate::smtpd::sasl::SaslSettings;

/// The session's SASL state.
#[derive(Default)]
pub(super) struct AuthState {
    /// libsasl2's connection, made at the first EHLO or AUTH.
    conn: Option<sasl::Session>,
    /// An AUTH was tried with `conn`: a new one is made for the next (as Postfix).
    used: bool,
    /// The mechanism of the successful AUTH, as the client named it.
    pub(super) method: Option<String>,
}

impl AuthState {
    /// Forget the SASL connection and any login (after STARTTLS: the mechanism list may
    /// change, and nothing said in the clear carries over).
    pub(super) fn reset(&mut self) {
        self.conn = None;
        self.used = false;
    }
}

/// What the 334 loop ended with.
enum Exchange {
    Done,
    Failed { temporary: bool, reason: String },
    Aborted,
    TooLong,
    Hangup,
}

impl<S: Read + Write> Session<'_, S> {
    fn settings(&self) -> Option<&SaslSettings> {
        self.ctx.sasl.as_ref().filter(|_| !self.ctx.stand_alone)
    }

    /// The session's libsasl2 connection (made now if needed); a failure is logged.
    fn sasl_conn(&mut self) -> Option<&mut sasl::Session> {
        if self.auth.conn.is_none() {
            let st = self.settings()?;
            let args = sasl::SessionArgs {
                security_options: if self.tls.is_some() {
                    &st.tls_security_options
                } else {
                    &st.security_options
                },
                local: None,
                remote: Some(format!("{};{}", self.client.addr, self.client.port)),
                client_addr: self.client.addr.to_string(),
                secured: self.tls.is_some(),
            };
            match st.server.session(&args) {
                Ok(c) => self.auth.conn = Some(c),
                Err(e) => {
                    log::warning("smtpd", e);
                    return None;
                }
            }
        }
        self.auth.conn.as_mut()
    }

    /// The EHLO lines for AUTH: `250-AUTH mechs` (and `250-AUTH=mechs`), or nothing.
    pub(super) fn auth_keywords(&mut self) -> Vec<String> {
        let Some(st) = self.settings() else {
            return Vec::new();
        };
        let broken = st.broken_clients;
        if !st.announce_to(self.client.addr, self.tls.is_some()) {
            return Vec::new();
        }
        let Some(mechs) = self.sasl_conn().map(|c| c.mechanisms().to_string()) else {
            return Vec::new();
        };
        let mut v = vec![format!("250-AUTH {}", mechs)];
        if broken {
            v.push(format!("250-AUTH={}", mechs));
        }
        v
    }

    /// MAIL's `AUTH=` parameter: `Err(reply)` when refused; the value (xtext, printable) is
    /// kept for the `client=` line. `<>` means none.
    pub(super) fn mail_auth_param(
        &self,
        value: Option<&str>,
        seen: &mut Option<String>,
        given: &mut bool,
    ) -> Result<(), Reply> {
        let Some(v) = value.filter(|_| self.settings().is_some()) else {
            let opt = value.map_or("AUTH".to_string(), |v| format!("AUTH={}", v));
            return Err(Reply::with_dsn(
                555,
                "5.5.4",
                &format!("Unsupported option: {}", lines::printable(&opt)),
            ));
        };
        if *given {
            return Err(Reply::with_dsn(
                503,
                "5.5.4",
                "Error: multiple AUTH= options",
            ));
        }
        *given = true;
        if v != "<>" {
            *seen = Some(lines::printable(v));
        }
        Ok(())
    }

    /// The `ID: client=` line, with the SASL fields once authenticated.
    pub(super) fn log_client_line(&self, queue_id: &str, sasl_sender: Option<&str>) {
        lines::client_sasl(
            queue_id,
            &self.client_log,
            self.auth.method.as_deref(),
            self.sasl_username.as_deref(),
            sasl_sender,
        );
    }

    /// The login name for the Received: header (smtpd_sasl_authenticated_header).
    pub(super) fn received_auth_name(&self) -> Option<&str> {
        let st = self.settings()?;
        self.sasl_username
            .as_deref()
            .filter(|_| st.authenticated_header)
    }

    /// The RFC 3848 protocol name: ESMTPA once authenticated (ESMTP only).
    pub(super) fn received_protocol(&self, base: &'static str) -> &'static str {
        match (base, self.sasl_username.is_some()) {
            ("ESMTP", true) => "ESMTPA",
            ("ESMTPS", true) => "ESMTPSA",
            (b, _) => b,
        }
    }
}

impl<S: Read + Write + Peek> Session<'_, S> {
    /// AUTH mechanism [initial-response].
    pub(super) fn auth_cmd(&mut self, args: &str) -> Option<End> {
        if let Some(r) = self.auth_refusal(args) {
            self.reply(&r);
            return None;
        }
        let mut words = args.split_ascii_whitespace();
        let mech = words.next().unwrap_or_default().to_string();
        let initial = words.next();
        if std::mem::replace(&mut self.auth.used, true) {
            self.auth.conn = None;
        }
        let outcome = self.exchange(&mech, initial);
        self.auth_outcome(&mech, outcome)
    }

    /// The reply refusing AUTH before any exchange, in Postfix's order; `None` to go on.
    fn auth_refusal(&mut self, args: &str) -> Option<Reply> {
        if let Some(r) = self.auth_rate_limited() {
            return Some(r);
        }
        if self.ctx.helo_required && self.helo.is_none() {
            return Some(Reply::with_dsn(503, "5.5.1", "Error: send HELO/EHLO first"));
        }
        let st = match self.settings() {
            Some(st) => st,
            None => {
                return Some(Reply::with_dsn(
                    503,
                    "5.5.1",
                    "Error: authentication not enabled",
                ));
            }
        };
        if self.tx.is_some() {
            return Some(Reply::with_dsn(
                503,
                "5.5.1",
                "Error: MAIL transaction in progress",
            ));
        }
        if st.tls_auth_only && self.tls.is_none() {
            return Some(Reply::with_dsn(
                504,
                "5.5.4",
                "Encryption required for requested authentication mechanism",
            ));
        }
        if self.sasl_username.is_some() {
            return Some(Reply::with_dsn(
                503,
                "5.5.1",
                "Error: already authenticated",
            ));
        }
        let n = args.split_ascii_whitespace().count();
        if !(1..=2).contains(&n) {
            return Some(Reply::with_dsn(501, "5.5.4", "Syntax: AUTH mechanism"));
        }
        None
    }

    /// smtpd_client_auth_rate_limit: the 450 reply (after the warning) when over it.
    fn auth_rate_limited(&self) -> Option<Reply> {
        let limit = self.settings()?.auth_rate_limit;
        if limit == 0 {
            return None;
        }
        let rate = self.ctx.limits.count(self.client.addr, Event::Auth)?;
        if rate <= limit {
            return None;
        }
        lines::limit_exceeded(
            "AUTH command rate",
            rate,
            &self.client_log,
            &self.ctx.limits.service,
        );
        Some(Reply::with_dsn(
            450,
            "4.7.1",
            &format!("Error: too many AUTH commands from {}", self.client.addr),
        ))
    }

    /// Run the exchange: the first step with the initial response, then 334 rounds.
    fn exchange(&mut self, mech: &str, initial: Option<&str>) -> Exchange {
        let decoded = match initial {
            None => None,
            Some("=") => Some(Vec::new()),
            Some(t) => match base64::decode(t.as_bytes()) {
                Some(d) => Some(d),
                None => return bad_protocol(),
            },
        };
        let limit = self.settings().map_or(12288, |s| s.response_limit);
        let Some(conn) = self.sasl_conn() else {
            return Exchange::Failed {
                temporary: true,
                reason: "SASL setup failed".into(),
            };
        };
        let mut step = conn.start(mech, decoded.as_deref());
        loop {
            match step {
                Step::Done => return Exchange::Done,
                Step::Failed { temporary, reason } => {
                    return Exchange::Failed { temporary, reason };
                }
                Step::Challenge(c) => {
                    self.chat.reply(&format!("334 {}", base64::encode(&c)));
                    let response = match self.read_response(limit) {
                        Ok(r) => r,
                        Err(e) => return e,
                    };
                    let Some(d) = base64::decode(&response) else {
                        return bad_protocol();
                    };
                    step = match self.auth.conn.as_mut() {
                        Some(c) => c.step(&d),
                        None => return bad_protocol(),
                    };
                }
            }
        }
    }

    /// One client response line: `*` aborts, too long is refused, a read error hangs up.
    fn read_response(&mut self, limit: usize) -> Result<Vec<u8>, Exchange> {
        match self.chat.read_line(limit) {
            Ok(Line::TooLong) => Err(Exchange::TooLong),
            Ok(Line::Text(t)) if t == b"*" => Err(Exchange::Aborted),
            Ok(Line::Text(t)) => Ok(t),
            Err(e) => {
                self.chat_failed(e, "AUTH");
                Err(Exchange::Hangup)
            }
        }
    }

    /// Answer and log the end of an exchange.
    fn auth_outcome(&mut self, mech: &str, outcome: Exchange) -> Option<End> {
        let method = lines::printable(mech);
        match outcome {
            Exchange::Done => {
                let user = self.auth.conn.as_ref().and_then(|c| c.username());
                self.sasl_username = Some(lines::printable(&user.unwrap_or_default()));
                self.auth.method = Some(method);
                self.chat.reply("235 2.7.0 Authentication successful");
            }
            Exchange::Failed { temporary, reason } => {
                let user = self.auth.conn.as_ref().and_then(|c| c.username());
                lines::sasl_failed(&self.client_log, &method, &reason, user.as_deref());
                self.reply(&if temporary {
                    Reply::with_dsn(
                        454,
                        "4.7.0",
                        &format!("Temporary authentication failure: {}", reason),
                    )
                } else {
                    Reply::with_dsn(
                        535,
                        "5.7.8",
                        &format!("Error: authentication failed: {}", reason),
                    )
                });
            }
            Exchange::Aborted => {
                lines::sasl_aborted(&self.client_log, &method);
                self.refuse(501, "5.7.0", "Authentication aborted");
            }
            Exchange::TooLong => self.refuse(500, "5.5.6", "SASL response limit exceeded"),
            Exchange::Hangup => return Some(End::Hangup),
        }
        None
    }
}

/// A response that is not base64: libsasl2's "bad protocol" failure, as Postfix answers.
fn bad_protocol() -> Exchange {
    Exchange::Failed {
        temporary: false,
        reason: sasl::bad_protocol(),
    }
}
