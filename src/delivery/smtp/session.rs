//! One SMTP session with one server (RFC 5321): greeting, EHLO (HELO when EHLO is
//! refused), STARTTLS (RFC 3207) as smtp_tls_security_level asks, MAIL with SIZE
//! (RFC 1870), BODY=8BITMIME (RFC 6152), RET/ENVID (RFC 3461) and SMTPUTF8 (RFC 6531:
//! mail that needs it is bounced with 5.6.7 by a server without it), RCPT with
//! NOTIFY/ORCPT, all of them pipelined with DATA when the server offers PIPELINING
//! (RFC 2920), the message, and QUIT. Each recipient's result comes from its own RCPT
//! reply and the reply to the end of DATA, worded as smtp(8) words them:
//! `host HOST[IP] said: REPLY (in reply to RCPT TO command)`. Soft failures (a 4xx to
//! RCPT TO, a 4xx at the end of DATA, a session-wide 4xx or lost connection before the
//! message was sent) are handed back for the next server; 5xx replies and a connection
//! lost after the message was sent are final. A reply is classified by its code
//! (`crate::reply::Class`) and its DSN is the server's (`Dsn::parse` of the first line),
//! else `X.0.0` of its class; the outcome's status follows from that DSN.
//!
//! Security role: a recipient is reported sent only after the server's 2xx reply to the
//! end of DATA; anything else leaves it deferred or bounced; at the verify and secure
//! levels nothing is sent unless the certificate was trusted and its name matched
//! (`Server certificate not trusted` / `not verified`, 4.7.5, as Postfix 2.10). Logs, per
//! smtp_tls_loglevel, the TLS handshake result (`Verified TLS connection established to
//! HOST[IP]:PORT: TLSv1.3 with cipher NAME (256/256 bits)`, or Anonymous, Trusted,
//! Untrusted) and the certificate names; at verify and secure always the first
//! trust-chain failure (`certificate verification failed for ...`), and a failed
//! handshake (`SSL_connect error to HOST[IP]:PORT: REASON`); see `crate::log::tls`.

use std::time::{Duration, Instant};

use super::auth::{self, AuthError, SaslSettings};
use super::connect::Peer;
use super::data;
use super::envelope::{self, Injection};
pub use super::envelope::{Message, xtext};
use super::reply::Reply;
use super::stream::{Stream, StreamError};
use super::tls_peer;
use super::tls_policy::ClientTls;
use crate::delivery::{Outcome, Status, dsn_of};
use crate::reply::{Class, Dsn};

pub use super::tls_policy::TlsLevel;

/// The per-stage timeouts and other settings of a session.
#[derive(Debug, Clone)]
pub struct Settings {
    pub helo_name: String,
    pub helo_timeout: Duration,
    pub starttls_timeout: Duration,
    pub mail_timeout: Duration,
    pub rcpt_timeout: Duration,
    pub data_init_timeout: Duration,
    pub data_xfer_timeout: Duration,
    pub data_done_timeout: Duration,
    pub quit_timeout: Duration,
    pub rset_timeout: Duration,
    pub line_length_limit: usize,
    pub tls: ClientTls,
    /// The next-hop domain (for `nexthop` certificate matching).
    pub nexthop: String,
    /// The logging name of the agent.
    pub log_name: String,
    /// The next hop as the request names it (SASL password lookup).
    pub dest: String,
    pub sasl: SaslSettings,
}

/// What becomes of the recipients a session-wide failure hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Try the next MX host or address.
    NextHost,
    /// The TLS handshake failed: connect to the same address again, without TLS.
    Reconnect,
    /// The failure is their result for this delivery attempt.
    Final,
}

/// The end of a session.
pub struct SessionEnd {
    /// Final results for this delivery attempt.
    pub done: Vec<Outcome>,
    /// Soft failures (4xx, lost connections before the end of DATA): these recipients go
    /// to the next server, if any, and the outcome is their result when there is none.
    pub retry: Vec<Outcome>,
    /// The next server is the same address again, without TLS.
    pub reconnect: bool,
}

/// A session-wide failure.
struct Fail {
    /// `Status::of(dsn)`.
    status: Status,
    dsn: Dsn,
    text: String,
    after: After,
    /// The connection is unusable (timeout, lost, garbage): no QUIT.
    broken: bool,
}

fn fail(dsn: Dsn, text: String, after: After) -> Fail {
    Fail {
        status: Status::of(dsn),
        dsn,
        text,
        after,
        broken: false,
    }
}

struct Session<'a> {
    stream: Option<Stream>,
    peer: &'a Peer,
    set: &'a Settings,
    started: Instant,
    setup: Duration,
}

/// What was being done, for `lost connection with X while ...` texts.
const GREETING: &str = "receiving the initial server greeting";

impl Session<'_> {
    fn outcome(&self, rcpt: usize, dsn: Dsn, text: &str) -> Outcome {
        let mut o = Outcome::new(rcpt, dsn, text, &self.peer.relay());
        o.setup = if self.setup.is_zero() {
            self.started.elapsed()
        } else {
            self.setup
        };
        o
    }

    fn said(&self, r: &Reply, cmd: &str) -> String {
        format!(
            "host {} said: {} (in reply to {} command)",
            self.peer.namaddr(),
            r.text(),
            cmd
        )
    }

    fn io_fail(&self, e: &StreamError, stage: &str, after: After) -> Fail {
        let who = self.peer.namaddr();
        let text = match e {
            StreamError::Timeout => format!("conversation with {} timed out while {}", who, stage),
            StreamError::Lost => format!("lost connection with {} while {}", who, stage),
            StreamError::Bad(b) => format!("host {} sent a {} while {}", who, b, stage),
        };
        Fail {
            broken: true,
            ..fail(dsn_of("4.4.2"), text, after)
        }
    }

    fn stream(&mut self) -> Result<&mut Stream, StreamError> {
        self.stream.as_mut().ok_or(StreamError::Lost)
    }

    fn command(&mut self, line: &str, t: Duration, stage: &str) -> Result<Reply, Fail> {
        let r = self
            .stream()
            .and_then(|s| s.send(format!("{}\r\n", line).as_bytes(), t))
            .and_then(|_| self.stream()?.read_reply(t));
        r.map_err(|e| self.io_fail(&e, stage, After::NextHost))
    }

    /// A reply that ends the session for every pending recipient: 4xx (and 421 anywhere)
    /// move on to the next host, 5xx and out-of-protocol (1xx/3xx) replies bounce with
    /// their DSN (5.5.0 for the latter, as Postfix).
    fn reply_fail(&self, r: &Reply, cmd: &str) -> Fail {
        let text = self.said(r, cmd);
        if r.is_permanent_failure() {
            fail(r.dsn(), text, After::Final)
        } else {
            fail(r.dsn(), text, After::NextHost)
        }
    }

    fn quit(&mut self) {
        let t = self.set.quit_timeout;
        if let Some(s) = self.stream.as_mut()
            && s.send(b"QUIT\r\n", t).is_ok()
        {
            let _ = s.read_reply(t);
        }
        self.stream = None;
    }

    /// Greeting, EHLO/HELO and STARTTLS. Returns the EHLO extensions. A message that needs
    /// SMTPUTF8 is refused right after EHLO, before TLS and AUTH, as Postfix does.
    fn hello(&mut self, msg: &Message<'_>) -> Result<Vec<(String, String)>, Fail> {
        let t = self.set.helo_timeout;
        let greeting = self
            .stream()
            .and_then(|s| s.read_reply(t))
            .map_err(|e| self.io_fail(&e, GREETING, After::NextHost))?;
        if greeting.class() != Class::Success {
            // smtp_skip_5xx_greeting: a server that refuses to talk is skipped.
            let dsn = greeting.dsn().with_class(Class::Transient);
            let text = format!(
                "host {} refused to talk to me: {}",
                self.peer.namaddr(),
                greeting.text()
            );
            return Err(fail(dsn, text, After::NextHost));
        }
        let mut ext = self.ehlo()?;
        let (namaddr, log_name) = (self.peer.namaddr(), &self.set.log_name);
        if let Some(text) = envelope::smtputf8_refusal(msg, &ext, &namaddr, log_name) {
            return Err(fail(dsn_of("5.6.7"), text, After::Final));
        }
        let offered = ext.iter().any(|(k, _)| k == "STARTTLS");
        let tls_active = self.stream.as_ref().is_some_and(Stream::is_tls);
        let level = self.set.tls.level;
        if level.required() && !offered {
            let text = format!(
                "TLS is required, but was not offered by host {}",
                self.peer.namaddr()
            );
            return Err(fail(dsn_of("4.7.4"), text, After::NextHost));
        }
        if level != TlsLevel::None && offered && !tls_active {
            let r = self.command("STARTTLS", self.set.starttls_timeout, "sending STARTTLS")?;
            if r.class() == Class::Success {
                self.handshake()?;
                ext = self.ehlo()?;
            } else if level.required() {
                let text = format!(
                    "TLS is required, but host {} refused to start TLS: {}",
                    self.peer.namaddr(),
                    r.text()
                );
                return Err(fail(dsn_of("4.7.4"), text, After::NextHost));
            }
        }
        self.login(&ext)?;
        self.setup = self.started.elapsed();
        Ok(ext)
    }

    fn handshake(&mut self) -> Result<(), Fail> {
        let Some(plain) = self.stream.take() else {
            return Err(self.io_fail(&StreamError::Lost, "sending STARTTLS", After::NextHost));
        };
        let (tls, name) = (&self.set.tls, self.set.log_name.as_str());
        let level = tls.level;
        let after = if level == TlsLevel::May && !self.has_password() {
            After::Reconnect
        } else {
            After::NextHost
        };
        let attempt = match tls_peer::prepare(tls) {
            Ok(a) => a,
            Err(e) => {
                crate::log::warning(name, format!("TLS client setup: {}", e));
                let text = "TLS is required, but our TLS engine is unavailable".to_string();
                return Err(fail(dsn_of("4.7.5"), text, After::NextHost));
            }
        };
        let where_ = format!("{}:{}", self.peer.namaddr(), self.peer.port);
        let record = attempt.record();
        let stream = match plain.starttls(attempt.ssl, self.set.starttls_timeout) {
            Ok(s) => s,
            Err(why) => {
                crate::log::info(name, format!("SSL_connect error to {}: {}", where_, why));
                let text = "Cannot start TLS: handshake failure".to_string();
                return Err(fail(dsn_of("4.7.5"), text, after));
            }
        };
        let Some(ssl) = stream.ssl() else {
            return Err(self.io_fail(&StreamError::Lost, "sending STARTTLS", After::NextHost));
        };
        let st = tls_peer::assess(ssl, &record, tls, &self.peer.name, &self.set.nexthop);
        self.stream = Some(stream);
        self.log_tls(&st, &where_);
        // Postfix 2.10 (smtp_proto.c): trust first, then the name; the session stays up
        // for a polite QUIT, and nothing is sent.
        if level.verifies() && !st.trusted {
            let text = "Server certificate not trusted".to_string();
            return Err(fail(dsn_of("4.7.5"), text, After::NextHost));
        }
        if level.verifies() && !st.matched {
            let text = "Server certificate not verified".to_string();
            return Err(fail(dsn_of("4.7.5"), text, After::NextHost));
        }
        Ok(())
    }

    /// AUTH is enabled and the password table has an entry for this server (or the
    /// lookup failed): after a failed `may` handshake Postfix 2.10 does not retry in
    /// plaintext then, so that the password is never offered without TLS.
    fn has_password(&self) -> bool {
        let sasl = &self.set.sasl;
        match (&sasl.enabled, &sasl.maps) {
            (true, Some(maps)) => !matches!(
                auth::lookup(sasl, maps, &self.peer.name, &self.set.dest),
                Ok(None)
            ),
            _ => false,
        }
    }

    /// The TLS log lines of smtp_tls_loglevel (and the chain failure at verify and secure,
    /// as Postfix always logs it there).
    fn log_tls(&self, st: &tls_peer::PeerStatus, where_: &str) {
        let (tls, name) = (&self.set.tls, self.set.log_name.as_str());
        if let Some(f) = &st.failure
            && (tls.level.verifies() || tls.log.untrusted)
        {
            let (d, c, t, i) = (f.depth, f.code, &f.text, &f.issuer);
            crate::log::tls::chain_failure(name, where_, d, c, t, i, tls.depth);
        }
        if tls.log.certmatch && st.present {
            for (n, m) in &st.names {
                crate::log::tls::cert_name(name, where_, n, *m, st.altnames);
            }
            let (cn, issuer) = (&st.peer_cn, &st.issuer_cn);
            let (f, p) = (&st.fingerprint, &st.pkey_fingerprint);
            crate::log::tls::peer_cert(name, where_, cn, issuer, f, p);
        }
        if tls.log.summary {
            let c = st.cipher.describe();
            crate::log::tls::client_established(name, st.trust_word(), where_, &c);
        }
    }

    /// AUTH when enabled, offered and a password entry exists (see `auth`): a failure
    /// ends the session, mail is never sent unauthenticated then.
    fn login(&mut self, ext: &[(String, String)]) -> Result<(), Fail> {
        let (namaddr, set) = (self.peer.namaddr(), self.set);
        let Some(stream) = self.stream.as_mut() else {
            return Err(self.io_fail(&StreamError::Lost, GREETING, After::NextHost));
        };
        let dest = (self.peer.name.as_str(), set.dest.as_str());
        match auth::login(stream, &set.sasl, ext, dest, &namaddr, set.helo_timeout) {
            Ok(()) => Ok(()),
            Err(AuthError::Io(e, stage)) => Err(self.io_fail(&e, stage, After::NextHost)),
            Err(AuthError::Lookup(e)) => {
                let w = format!("smtp_sasl_password_maps lookup error: {}", e);
                crate::log::warning(&set.log_name, w);
                let text = format!("local data error while talking to {}", namaddr);
                Err(fail(dsn_of("4.3.0"), text, After::Final))
            }
            Err(AuthError::Failed { dsn, text }) if dsn.class() == Class::Permanent => {
                Err(fail(dsn, text, After::Final))
            }
            Err(AuthError::Failed { dsn, text }) => Err(fail(dsn, text, After::NextHost)),
        }
    }

    fn ehlo(&mut self) -> Result<Vec<(String, String)>, Fail> {
        let t = self.set.helo_timeout;
        let name = self.set.helo_name.clone();
        let r = self.command(
            &format!("EHLO {}", name),
            t,
            "performing the EHLO handshake",
        )?;
        match r.class() {
            Class::Success => Ok(r.extensions()),
            Class::Permanent => {
                let r = self.command(
                    &format!("HELO {}", name),
                    t,
                    "performing the HELO handshake",
                )?;
                if r.class() == Class::Success {
                    Ok(Vec::new())
                } else {
                    Err(self.reply_fail(&r, "HELO"))
                }
            }
            _ => Err(self.reply_fail(&r, "EHLO")),
        }
    }
}

/// Run one session on a connected stream for the `pending` recipients of `msg`.
pub fn run(
    stream: Stream,
    peer: &Peer,
    set: &Settings,
    msg: &Message<'_>,
    pending: &[usize],
    started: Instant,
) -> SessionEnd {
    let mut s = Session {
        stream: Some(stream),
        peer,
        set,
        started,
        setup: Duration::ZERO,
    };
    let mut done = Vec::new();
    let mut retry = Vec::new();
    let mut left: Vec<usize> = pending.to_vec();
    let r = transaction(&mut s, msg, &mut left, &mut done, &mut retry);
    let mut broken = false;
    let mut reconnect = false;
    if let Err(f) = r {
        // The failure is the result of the recipients it hit; those that already had a
        // soft failure of their own (a 4xx to RCPT) keep it.
        broken = f.broken;
        reconnect = f.after == After::Reconnect;
        for i in left {
            let o = s.outcome(i, f.dsn, &f.text);
            if f.after == After::Final || f.status != Status::Deferred {
                done.push(o);
            } else {
                retry.push(o);
            }
        }
    }
    if !broken && !reconnect {
        s.quit();
    }
    SessionEnd {
        done,
        retry,
        reconnect,
    }
}

/// The whole dialogue. Recipients given a final result move from `left` to `done`, those
/// with a soft failure (4xx to RCPT or to the end of DATA) to `retry`. A session-wide
/// failure (`Err`) is for the recipients still in `left`.
fn transaction(
    s: &mut Session<'_>,
    msg: &Message<'_>,
    left: &mut Vec<usize>,
    done: &mut Vec<Outcome>,
    retry: &mut Vec<Outcome>,
) -> Result<(), Fail> {
    let ext = s.hello(msg)?;
    let has = |k: &str| ext.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let size = data::wire_size(msg.content);
    if let Some(limit) = has("SIZE").and_then(|v| v.parse::<u64>().ok())
        && limit > 0
        && size > limit
    {
        let text = format!(
            "message size {} exceeds size limit {} of server {}",
            size,
            limit,
            s.peer.namaddr()
        );
        return Err(fail(dsn_of("5.3.4"), text, After::Final));
    }
    // Last line of defence: a line break inside a command would inject commands and shift
    // the pipelined replies. Such a message is refused here, never sent.
    let (mail, rcpts) = envelope::commands(msg, left, &ext).map_err(|Injection| {
        fail(
            dsn_of("5.1.3"),
            "bad address syntax (control character)".to_string(),
            After::Final,
        )
    })?;
    let pipelining = has("PIPELINING").is_some();
    let set = s.set;
    if pipelining {
        let group = envelope::pipelined(&mail, &rcpts, !msg.verify);
        s.stream()
            .and_then(|st| st.send(group.as_bytes(), set.mail_timeout))
            .map_err(|e| s.io_fail(&e, "sending MAIL FROM", After::NextHost))?;
    }
    // MAIL.
    let r = if pipelining {
        s.stream()
            .and_then(|st| st.read_reply(set.mail_timeout))
            .map_err(|e| s.io_fail(&e, "sending MAIL FROM", After::NextHost))?
    } else {
        s.command(&mail, set.mail_timeout, "sending MAIL FROM")?
    };
    if r.class() != Class::Success {
        return Err(s.reply_fail(&r, "MAIL FROM"));
    }
    // RCPT, one reply each. A refused recipient leaves `left`: 5xx bounces, 4xx waits
    // for the next server.
    let mut accepted = Vec::new();
    let mut answered = Vec::new();
    for (k, line) in rcpts.iter().enumerate() {
        let i = left[k];
        let r = if pipelining {
            s.stream()
                .and_then(|st| st.read_reply(set.rcpt_timeout))
                .map_err(|e| s.io_fail(&e, "sending RCPT TO", After::NextHost))
        } else {
            s.command(line, set.rcpt_timeout, "sending RCPT TO")
        };
        let r = match r {
            Ok(r) => r,
            Err(f) => {
                left.retain(|x| !answered.contains(x));
                left.extend(&accepted);
                return Err(f);
            }
        };
        match r.class() {
            // Verify mode: the reply to RCPT TO is the result, final at once.
            Class::Success if msg.verify => done.push(s.outcome(i, r.dsn(), &r.text())),
            Class::Success => accepted.push(i),
            _ if r.code == 421 => {
                left.retain(|x| !answered.contains(x));
                left.extend(&accepted);
                return Err(s.reply_fail(&r, "RCPT TO"));
            }
            _ if r.is_permanent_failure() => {
                done.push(s.outcome(i, r.dsn(), &s.said(&r, "RCPT TO")))
            }
            _ => retry.push(s.outcome(i, r.dsn(), &s.said(&r, "RCPT TO"))),
        }
        answered.push(i);
    }
    // From here on a failure concerns the accepted recipients only.
    *left = accepted.clone();
    if msg.verify {
        // Verify mode: the transaction is abandoned (Postfix's RSET), QUIT follows.
        let _ = s.command("RSET", set.rset_timeout, "sending RSET");
        return Ok(());
    }
    // DATA.
    let r = if pipelining {
        s.stream()
            .and_then(|st| st.read_reply(set.data_init_timeout))
            .map_err(|e| s.io_fail(&e, "sending DATA command", After::NextHost))
    } else if accepted.is_empty() {
        return Ok(());
    } else {
        s.command("DATA", set.data_init_timeout, "sending DATA command")
    };
    if accepted.is_empty() {
        // The pipelined DATA should have been refused ("no valid recipients"); a server
        // that accepts it anyway gets an empty message ended at once.
        if r.is_ok_and(|r| r.class() == Class::Intermediate) {
            let t = set.data_done_timeout;
            if let Ok(st) = s.stream()
                && st.send(b".\r\n", t).is_ok()
            {
                let _ = st.read_reply(t);
            }
        }
        return Ok(());
    }
    let r = r?;
    if r.class() != Class::Intermediate {
        return Err(s.reply_fail(&r, "DATA"));
    }
    let body = data::encode(msg.content, set.line_length_limit);
    s.stream()
        .and_then(|st| st.send(&body, set.data_xfer_timeout))
        .map_err(|e| s.io_fail(&e, "sending message body", After::Final))?;
    let r = s
        .stream()
        .and_then(|st| st.read_reply(set.data_done_timeout))
        .map_err(|e| {
            s.io_fail(
                &e,
                "sending end of data -- message may be sent more than once",
                After::Final,
            )
        })?;
    // A 4xx here sends the whole transaction to the next server; a 2xx is final, so
    // those recipients are never sent again.
    let text = match r.class() {
        Class::Success => r.text(),
        _ => s.said(&r, "end of DATA"),
    };
    for &i in &accepted {
        let o = s.outcome(i, r.dsn(), &text);
        if o.status == Status::Deferred {
            retry.push(o);
        } else {
            done.push(o);
        }
    }
    left.clear();
    Ok(())
}
