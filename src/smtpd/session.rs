//! One SMTP session: the RFC 5321 command state machine with Postfix's replies (HELO/EHLO,
//! MAIL, RCPT, DATA, RSET, NOOP, VRFY, ETRN, QUIT; STARTTLS in `starttls`, AUTH in
//! `auth`, the EHLO keywords in `ehlo`, SMTPUTF8 in `smtputf8`, BDAT in `bdat`, the
//! message hand-off in `message`), error counting with
//! smtpd_soft_error_limit / smtpd_hard_error_limit, the idle timeout, and the hand-off of a
//! received message to cleanup. Refusals are `crate::reply::Reply` values (from the policy
//! checks, anvil, cleanup, or built with `refuse`), sent by `reply`, which counts a reply
//! as an error by its class (`Reply::is_error`), never by the first character of a
//! string; fixed success replies (`250 2.0.0 Ok`) go to `chat` as text.
//!
//! Security role: enforces command order, recipient limits and the relay checks (`check`);
//! hangs up on non-SMTP input (HTTP proxies, header lines) as Postfix does; a command line
//! is checked as bytes before it becomes text (`line`); improper pipelining and bare LFs
//! are handled in `pipelining` and `bare_lf`; the message is answered 250 only after
//! `cleanup::submit` returned, i.e. after the queue file and its directory were fsynced.
//!
//! Logs (via log::lines): connect, disconnect (with Postfix 3's per-command counters,
//! `cmd_stats`), NOQUEUE reject, `ID: client=`, timeout /
//! lost connection / too many errors after STAGE, non-SMTP command warnings, improper
//! command pipelining after STAGE.

use std::io::{Read, Write};

use super::address::{self, PathError};
use super::anvil::Event;
use super::chat::{Chat, Data, Peek};
use super::check;
use super::policy_types::Rcpt;
use super::{ClientInfo, SmtpdContext};
use crate::log::{self, lines};
use crate::queue::Recipient;
use crate::reply::Reply;

mod auth;
mod bare_lf;
mod bdat;
mod cmd_stats;
mod ehlo;
mod gate;
mod limits;
mod line;
mod mail_params;
mod message;
mod pipelining;
mod query;
mod report;
mod smtputf8;
mod starttls;
mod tls_rate;

/// A mail transaction in progress (from MAIL to the end of DATA or RSET).
struct Transaction {
    /// The sender as given (for replies and logs).
    sender_given: String,
    /// The sender qualified with $myorigin (for the envelope).
    sender: String,
    envid: Option<String>,
    ret: Option<String>,
    recipients: Vec<Recipient>,
    /// Recipients as given, parallel to `recipients` (for the Received: `for` clause).
    given: Vec<String>,
    /// MAIL's AUTH= value (xtext, printable), for the `client=` line.
    sasl_sender: Option<String>,
    /// MAIL's SIZE= (policy servers' `size`).
    size: Option<u64>,
    /// RCPT commands seen, accepted or not.
    rcpt_attempts: usize,
    /// MAIL's SMTPUTF8 parameter (RFC 6531), see `smtputf8`.
    smtputf8: bool,
}

impl Transaction {
    /// The one accepted recipient, when there is exactly one: the DATA and end-of-data
    /// restrictions see it, as Postfix's (none with several, "logging only one of them
    /// would be misleading").
    fn single_rcpt(&self) -> Option<Rcpt<'_>> {
        match (self.given.as_slice(), self.recipients.as_slice()) {
            ([given], [r]) => Some(Rcpt {
                given,
                qualified: &r.address,
            }),
            _ => None,
        }
    }
}

/// Why the command loop ends.
enum End {
    Quit,
    Hangup,
}

struct Session<'c, S: Read + Write> {
    ctx: &'c SmtpdContext,
    chat: Chat<S>,
    client: ClientInfo,
    client_log: String,
    helo: Option<String>,
    esmtp: bool,
    /// The last command, for "timeout after X" lines.
    stage: String,
    errors: u32,
    /// NOOP, VRFY, ETRN and RSET commands so far (smtpd_junk_command_limit).
    junk: u32,
    /// The SASL login name once AUTH succeeds.
    sasl_username: Option<String>,
    /// SASL state: libsasl2's connection, the method, whether TLS is on (see `auth`).
    auth: auth::AuthState,
    tx: Option<Transaction>,
    /// Client restrictions refused the client at connect (smtpd_delay_reject = no): every
    /// command but QUIT gets 503.
    access_denied: bool,
    /// The client sent input ahead where it may not (sticky; reject_unauth_pipelining).
    ill_pipelining: bool,
    /// smtpd_forbid_unauth_pipelining: such a client is disconnected.
    forbid_unauth_pipelining: bool,
    /// smtpd_forbid_bare_newline = reject for this client: the reply code.
    bare_lf_code: Option<u16>,
    /// TLS is active (after STARTTLS or in wrapper mode): what was negotiated.
    tls: Option<crate::smtpd::tls::negotiated::Negotiated>,
    /// The SIZE= and AUTH= of the MAIL command being checked (its transaction does not
    /// exist yet), for policy servers.
    mail_declared: (Option<u64>, Option<String>),
    /// Access-table actions (FILTER, HOLD, DISCARD, REDIRECT, BCC, PREPEND: reset at
    /// MAIL, handed to cleanup at the end of DATA) and DEFER_IF_* state.
    saved: std::cell::RefCell<super::saved::Saved>,
    /// Commands received and succeeded, for the `disconnect from` line.
    stats: cmd_stats::CmdStats,
    /// 4xx/5xx replies sent so far (a command succeeded when it sent none).
    refusals: u32,
    /// BDAT in this transaction (RFC 3030, `bdat`).
    bdat: bdat::Bdat,
}

/// Run one SMTP session over `stream` until QUIT, an error limit, a timeout or the client
/// going away. Read/write timeouts are the caller's: `serve` sets $smtpd_timeout on the
/// socket, and a read that times out ends the session with 421.
pub fn session<S: Read + Write + Peek>(stream: S, client: ClientInfo, ctx: &SmtpdContext) {
    // A listener's own `-o syslog_name=` tags this session's lines.
    crate::log::set_thread_syslog_name(Some(ctx.cfg.get("syslog_name")));
    let client_log = client.log_name_port(ctx.cfg.bool("smtpd_client_port_logging"));
    lines::connect(&client_log);
    let bare_lf_code = bare_lf::reject_code(ctx, &client);
    let mut s = Session {
        ctx,
        chat: Chat::new(stream),
        client,
        client_log,
        helo: None,
        esmtp: false,
        stage: "CONNECT".to_string(),
        errors: 0,
        junk: 0,
        sasl_username: None,
        auth: auth::AuthState::default(),
        tx: None,
        access_denied: false,
        ill_pipelining: false,
        forbid_unauth_pipelining: ctx.cfg.bool("smtpd_forbid_unauth_pipelining"),
        bare_lf_code,
        tls: None,
        mail_declared: (None, None),
        saved: Default::default(),
        stats: cmd_stats::CmdStats::default(),
        refusals: 0,
        bdat: bdat::Bdat::None,
    };
    // anvil: counted until the session ends; over a limit, 421 instead of the greeting.
    let counted = match s.admit() {
        Ok(c) => c,
        Err(reply) => {
            s.last_reply(&reply);
            let _ = s.chat.flush();
            lines::disconnect(&s.client_log, &s.stats.format());
            return;
        }
    };
    // A client that talks before the greeting (Postfix looks before sending it; not on a
    // TLS wrapper-mode port, where the client speaks first).
    if ctx.tls.wrappermode {
        if !s.wrapper_handshake() {
            lines::disconnect(&s.client_log, &s.stats.format());
            return;
        }
    } else if s.flag_ill_pipelining("CONNECT") {
        let _ = s.chat.flush();
        lines::disconnect(&s.client_log, &s.stats.format());
        return;
    }
    let refused = if !ctx.stand_alone && !ctx.policy.delay_reject {
        s.gate("CONNECT", None, None, None, check::check_client)
    } else {
        None
    };
    match refused {
        // RFC 5321 section 3.1: refuse in the greeting, then answer 503 until QUIT.
        Some(reply) => {
            s.access_denied = true;
            s.reply(&reply);
        }
        None => s.chat.reply(&format!("220 {}", ctx.banner)),
    }
    s.run();
    let _ = s.chat.flush();
    // The log line and the client's anvil place go before the close: a client that sees
    // the connection end may connect again at once and must find its place free.
    lines::disconnect(&s.client_log, &s.stats.format());
    drop(counted);
    s.close_tls();
}

impl<S: Read + Write> Session<'_, S> {
    fn proto(&self) -> &'static str {
        if self.esmtp { "ESMTP" } else { "SMTP" }
    }

    /// Queue a reply; 4xx/5xx replies count as errors, and past the soft limit each one is
    /// delayed by $smtpd_error_sleep_time (tarpitting).
    fn reply(&mut self, reply: &Reply) {
        if reply.is_error() {
            self.refusals += 1;
            self.errors += 1;
            if self.errors > self.ctx.soft_error_limit && !self.ctx.error_sleep.is_zero() {
                let _ = self.chat.flush();
                std::thread::sleep(self.ctx.error_sleep);
            }
        }
        self.chat.reply(&reply.to_string());
    }

    /// Queue a refusal after which the session ends, without counting it as an error.
    fn last_reply(&mut self, reply: &Reply) {
        if reply.is_error() {
            self.refusals += 1;
        }
        self.chat.reply(&reply.to_string());
    }

    /// Queue the refusal `CODE X.Y.Z text` (`dsn` may be empty): `reply` of a `Reply`.
    fn refuse(&mut self, code: u16, dsn: &str, text: &str) {
        self.reply(&Reply::with_dsn(code, dsn, text));
    }
}

impl<S: Read + Write + Peek> Session<'_, S> {
    fn run(&mut self) {
        loop {
            if self.errors >= self.ctx.hard_error_limit {
                let text = format!("{} Error: too many errors", self.ctx.myhostname);
                self.last_reply(&Reply::with_dsn(421, "4.7.0", &text));
                lines::too_many_errors(&self.stage, &self.client_log);
                return;
            }
            let line = match self.chat.read_line(self.ctx.line_length_limit) {
                Ok(l) => l,
                Err(e) => {
                    self.chat_failed(e, &self.failure_stage());
                    return;
                }
            };
            let text = match self.check_line(&line) {
                Ok(t) => t,
                Err(line::Refused::Answered) => continue,
                Err(line::Refused::Hangup) => return,
            };
            match self.command(text) {
                Some(End::Quit) | Some(End::Hangup) => return,
                None => {}
            }
        }
    }

    fn command(&mut self, text: &str) -> Option<End> {
        let (name, args) = line::split_command(text);
        if name.is_empty() {
            self.stats.count_unknown();
            self.refuse(500, "5.5.2", "Error: bad syntax");
            return None;
        }
        let upper = name.to_ascii_uppercase();
        let slot = self.stats.count(&upper);
        if !name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            || name.ends_with(':')
            || matches!(upper.as_str(), "CONNECT" | "GET" | "POST")
        {
            log::warning(
                "smtpd",
                format!(
                    "non-SMTP command from {}: {}",
                    self.client_log,
                    lines::printable(text)
                ),
            );
            self.chat
                .reply("221 2.7.0 Error: I can break rules, too. Goodbye.");
            return Some(End::Hangup);
        }
        self.stage = match upper.as_str() {
            "HELO" | "EHLO" | "MAIL" | "RCPT" | "DATA" | "BDAT" | "RSET" | "NOOP" | "VRFY"
            | "ETRN" | "QUIT" | "AUTH" | "STARTTLS" => upper.clone(),
            _ => "UNKNOWN".to_string(),
        };
        if self.access_denied && upper != "QUIT" {
            let r = format!("Error: access denied for {}", self.client_log);
            self.refuse(503, "5.7.0", &r);
            return None;
        }
        if self.must_starttls(&upper) {
            self.refuse(530, "5.7.0", "Must issue a STARTTLS command first");
            return None;
        }
        // Pipelining is allowed only after EHLO, and never after a command that ends a
        // group (RFC 2920); unknown commands are answered first, as Postfix does.
        if self.stage != "UNKNOWN"
            && (!self.esmtp || pipelining::ends_group(&upper))
            && self.flag_ill_pipelining(&upper)
        {
            return Some(End::Hangup);
        }
        // Junk commands past smtpd_junk_command_limit count as errors, so a client that
        // only idles with NOOP or RSET reaches the error limits, as with Postfix.
        if matches!(upper.as_str(), "NOOP" | "VRFY" | "ETRN" | "RSET") {
            self.junk += 1;
            if self.junk > self.ctx.junk_command_limit {
                self.errors += 1;
            }
        }
        let refusals = self.refusals;
        let end = self.dispatch(&upper, args);
        // A command cut short by a lost connection or a timeout did not succeed.
        if self.refusals == refusals && !matches!(end, Some(End::Hangup)) {
            self.stats.succeeded(slot);
        }
        end
    }

    /// Run one recognised command (`upper`: its verb in upper case).
    fn dispatch(&mut self, upper: &str, args: &str) -> Option<End> {
        match upper {
            "HELO" => self.helo_cmd(args, false),
            "EHLO" => self.helo_cmd(args, true),
            "MAIL" => self.mail_cmd(args),
            "RCPT" => self.rcpt_cmd(args),
            "DATA" => return self.data_cmd(args),
            "BDAT" => return self.bdat_cmd(args),
            "RSET" => {
                if args.is_empty() {
                    self.tx = None;
                    self.bdat = bdat::Bdat::None;
                    self.chat.reply("250 2.0.0 Ok");
                } else {
                    self.refuse(501, "5.5.4", "Syntax: RSET");
                }
            }
            "NOOP" => self.chat.reply("250 2.0.0 Ok"),
            "VRFY" => self.vrfy_cmd(args),
            "ETRN" => self.etrn_cmd(args),
            "QUIT" => {
                self.chat.reply("221 2.0.0 Bye");
                return Some(End::Quit);
            }
            "AUTH" => return self.auth_cmd(args),
            "STARTTLS" => return self.starttls_cmd(args),
            _ => self.refuse(500, "5.5.2", "Error: command not recognized"),
        }
        None
    }

    fn helo_cmd(&mut self, args: &str, esmtp: bool) {
        if args.is_empty() {
            self.refuse(
                501,
                "",
                if esmtp {
                    "Syntax: EHLO hostname"
                } else {
                    "Syntax: HELO hostname"
                },
            );
            return;
        }
        let name = lines::printable(&args.split_whitespace().collect::<Vec<_>>().join(" "));
        if !self.ctx.stand_alone && !self.ctx.policy.delay_reject {
            let was = self.esmtp;
            self.esmtp = esmtp;
            let stage = if esmtp { "EHLO" } else { "HELO" };
            if let Some(reply) = self.gate(stage, Some(&name), None, None, check::check_helo) {
                self.esmtp = was;
                return self.reply(&reply);
            }
        }
        self.helo = Some(name);
        self.esmtp = esmtp;
        self.tx = None;
        self.bdat = bdat::Bdat::None;
        if !esmtp {
            self.chat.reply(&format!("250 {}", self.ctx.myhostname));
            return;
        }
        for l in self.ehlo_lines() {
            self.chat.reply(&l);
        }
    }

    fn mail_cmd(&mut self, args: &str) {
        if self.ctx.helo_required && self.helo.is_none() {
            self.refuse(503, "5.5.1", "Error: send HELO/EHLO first");
            return;
        }
        if self.tx.is_some() {
            self.refuse(503, "5.5.1", "Error: nested MAIL command");
            return;
        }
        if self.bdat.active() {
            return self.refuse(503, "5.5.1", "Error: MAIL after BDAT");
        }
        self.saved.borrow_mut().new_transaction();
        if let Some(r) = self.rate_limited(Event::Mail) {
            return self.reply(&r);
        }
        let strict = self.ctx.cfg.bool("strict_rfc821_envelopes");
        let p = match address::parse_path(args, "FROM") {
            Ok(p) if strict && !p.bracketed => {
                return self.refuse(501, "5.1.7", "Bad sender address syntax");
            }
            Ok(p) => p,
            Err(PathError::Syntax) => {
                return self.refuse(501, "5.5.4", "Syntax: MAIL FROM:<address>");
            }
            Err(PathError::BadAddress) => {
                return self.refuse(501, "5.1.7", "Bad sender address syntax");
            }
        };
        let Some(params) = self.mail_params(&p.params, &p.address) else {
            return;
        };
        if !self.ctx.stand_alone && !self.ctx.policy.delay_reject {
            self.mail_declared = (params.size, params.sasl_sender.clone());
            let helo = self.helo.as_deref();
            if let Some(reply) =
                self.gate("MAIL", helo, Some(&p.address), None, check::check_sender)
            {
                return self.reply(&reply);
            }
        }
        if self.undeclared_utf8(&p.address, params.smtputf8) {
            return;
        }
        if let Some(reply) = self.queue_space() {
            return self.reply(&reply);
        }
        self.tx = Some(Transaction {
            sender: address::qualify(&p.address, &self.ctx.myorigin),
            sender_given: p.address,
            envid: params.envid,
            ret: params.ret,
            recipients: Vec::new(),
            given: Vec::new(),
            sasl_sender: params.sasl_sender,
            size: params.size,
            rcpt_attempts: 0,
            smtputf8: params.smtputf8,
        });
        self.chat.reply("250 2.1.0 Ok");
    }

    fn rcpt_cmd(&mut self, args: &str) {
        if self.tx.is_some() && self.bdat.active() {
            return self.refuse(503, "5.5.1", "Error: RCPT after BDAT");
        }
        let Some(tx) = self.tx.as_mut() else {
            return self.refuse(503, "5.5.1", "Error: need MAIL command");
        };
        tx.rcpt_attempts += 1;
        if let Some(r) = self.rate_limited(Event::Rcpt) {
            return self.reply(&r);
        }
        let strict = self.ctx.cfg.bool("strict_rfc821_envelopes");
        let p = match address::parse_path(args, "TO") {
            Ok(p) if !p.address.is_empty() && (p.bracketed || !strict) => p,
            Ok(_) | Err(PathError::BadAddress) => {
                return self.refuse(501, "5.1.3", "Bad recipient address syntax");
            }
            Err(PathError::Syntax) => {
                return self.refuse(501, "5.5.4", "Syntax: RCPT TO:<address>");
            }
        };

        let mut rcpt = Recipient::new(&address::qualify(&p.address, &self.ctx.myorigin));
        for (k, v) in &p.params {
            match (k.to_ascii_uppercase().as_str(), v.as_deref()) {
                ("NOTIFY" | "ORCPT", _) if self.discards("DSN") => {
                    return self.reply(&mail_params::dsn_disabled());
                }
                ("NOTIFY", Some(v)) => match address::valid_notify(v) {
                    Some(n) => rcpt.notify = Some(n),
                    None => return self.refuse(501, "5.5.4", "Error: Bad NOTIFY parameter syntax"),
                },
                ("ORCPT", Some(v)) => match v.split_once(';').and_then(|(t, x)| {
                    address::orcpt_decode(t, x).map(|d| format!("{};{}", t.to_ascii_lowercase(), d))
                }) {
                    Some(o) => rcpt.orcpt = Some(o),
                    None => return self.refuse(501, "5.5.4", "Error: Bad ORCPT parameter syntax"),
                },
                _ => return self.unsupported_option(k, v.as_deref()),
            }
        }
        let count = self.tx.as_ref().map(|t| t.recipients.len()).unwrap_or(0);
        if count >= self.ctx.recipient_limit {
            return self.refuse(452, "4.5.3", "Error: too many recipients");
        }
        if self.rcpt_utf8_refused(&p.address) {
            return;
        }
        let r = Rcpt {
            given: &p.address,
            qualified: &rcpt.address,
        };
        let sender = self.tx.as_ref().map(|t| t.sender_given.as_str());
        let helo = self.helo.as_deref();
        if let Some(reply) = self.gate("RCPT", helo, sender, Some(r), check::check_recipient) {
            return self.reply(&reply);
        }
        if rcpt.address != p.address {
            rcpt.orig = Some(p.address.clone());
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.recipients.push(rcpt);
            tx.given.push(p.address);
        }
        self.chat.reply("250 2.1.5 Ok");
    }

    fn data_cmd(&mut self, args: &str) -> Option<End> {
        if self.bdat.active() {
            self.refuse(503, "5.5.1", "Error: DATA after BDAT");
            return None;
        }
        if !args.is_empty() {
            self.refuse(501, "5.5.4", "Syntax: DATA");
            return None;
        }
        let started = match self.start_message("DATA") {
            Ok(s) => s,
            Err(reply) => {
                self.reply(&reply);
                return None;
            }
        };
        // A stop lets this transaction end (with its reply) before closing the session.
        let _busy = super::stopping::Busy::enter();
        self.chat.reply("354 End data with <CR><LF>.<CR><LF>");
        let mut data = Data::default();
        if let Err(e) = self.chat.read_data(self.ctx.message_size_limit, &mut data) {
            // The pending message is dropped here: nothing is left in the queue.
            let stage = format!("DATA ({} bytes)", data.size);
            self.chat_failed(e, &stage);
            return Some(End::Hangup);
        }
        self.stage = "END-OF-MESSAGE".to_string();
        if self.refuse_bare_lf_data(&started.id, data.bare_lf) {
            self.tx = None;
            return None;
        }
        let tx = self.tx.take()?;
        if data.too_big {
            let reply = message::too_big(&started.id);
            drop(started);
            self.reply(&reply);
            return None;
        }
        if let Some(id) = self.queue_message(tx, started, data.content) {
            self.chat.reply(&format!("250 2.0.0 Ok: queued as {}", id));
        }
        None
    }
}
