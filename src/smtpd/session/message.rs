//! The message part shared by DATA and BDAT (RFC 3030): the checks before content is
//! accepted (a transaction with recipients, smtpd_data_restrictions; after the message,
//! smtpd_end_of_data_restrictions), opening the queue
//! file, and at the end the Received: header, the envelope attributes, $content_filter,
//! the access-table actions of the transaction (`super::super::saved`) and the hand-off to
//! cleanup (header/body checks, address mappings) with its reply.
//!
//! Security role: one path for both commands, so BDAT content gets every check DATA
//! content gets; the message is acknowledged only after `cleanup::submit` committed it.
//! Logs `ID: client=host[addr]` when the queue file is opened, and a warning when cleanup
//! fails (cleanup logs its own content-inspection verdicts).

use std::io::{Read, Write};
use std::time::SystemTime;

use super::{Session, Transaction};
use crate::cleanup::Submission;
use crate::log;
use crate::log::lines;
use crate::queue::Envelope;
use crate::reply::Reply;
use crate::smtpd::chat::Peek;
use crate::smtpd::check;
use crate::smtpd::sink::{Pending, SinkError};

/// A message whose content is being received: its open queue file and arrival time.
pub(super) struct Started {
    pub(super) pending: Pending,
    pub(super) id: String,
    pub(super) arrival: SystemTime,
}

/// The refusal of a message over $message_size_limit, after DATA or BDAT, logged as
/// Postfix's smtpd logs it (`warning: ID: queue file size limit exceeded`, which log
/// watchers count).
pub(super) fn too_big(queue_id: &str) -> Reply {
    lines::queue_file_size_exceeded(queue_id);
    Reply::with_dsn(552, "5.3.4", "Error: message file too big")
}

impl<S: Read + Write + Peek> Session<'_, S> {
    /// The checks DATA and the first BDAT of a transaction make (`stage` names the command
    /// for the restriction logs); on success the queue file is open and `client=` logged.
    pub(super) fn start_message(&mut self, stage: &str) -> Result<Started, Reply> {
        match self.tx.as_ref() {
            None => return Err(Reply::with_dsn(503, "5.5.1", "Error: need RCPT command")),
            // In a transaction without accepted recipients Postfix answers 554, whether
            // or not RCPT was tried (a pipelining client may send DATA early).
            Some(t) if t.recipients.is_empty() => {
                return Err(Reply::with_dsn(554, "5.5.1", "Error: no valid recipients"));
            }
            Some(_) => {}
        }
        let sender = self.tx.as_ref().map(|t| t.sender_given.as_str());
        let rcpt = self.tx.as_ref().and_then(|t| t.single_rcpt());
        let helo = self.helo.as_deref();
        if let Some(reply) = self.gate(stage, helo, sender, rcpt, check::check_data) {
            return Err(reply);
        }
        let pending = Pending::open(self.ctx).map_err(|e| {
            log::warning("smtpd", e.to_string());
            Reply::with_dsn(451, "4.3.0", "Error: queue file write error")
        })?;
        let id = pending.id().to_string();
        let sasl_sender = self.tx.as_ref().and_then(|t| t.sasl_sender.clone());
        self.log_client_line(&id, sasl_sender.as_deref());
        Ok(Started {
            pending,
            id,
            arrival: SystemTime::now(),
        })
    }

    /// Hand a received message to cleanup. Returns the queue ID once it is committed (the
    /// caller sends its 250); otherwise the refusal has been sent.
    pub(super) fn queue_message(
        &mut self,
        tx: Transaction,
        started: Started,
        content: Vec<u8>,
    ) -> Option<String> {
        let Started {
            pending,
            id,
            arrival,
        } = started;
        if let Some(reply) = self.end_of_data(&tx, &id, &content) {
            // The open queue file goes with `pending`: nothing is queued.
            drop(pending);
            self.reply(&reply);
            return None;
        }
        let mut received = self.received_header(&tx, &id);
        let local = self.ctx.stand_alone
            || self.ctx.rewrite_headers_for(
                (&self.client.name, self.client.addr),
                self.sasl_username.is_some(),
                self.tls.as_ref().and_then(|t| t.peer.as_ref()),
            );
        let mut env = self.envelope(&tx, local);
        env.arrival = arrival;
        env.recipients = tx.recipients;
        // Access-table HOLD, DISCARD, REDIRECT, BCC and PREPEND (smtpd/saved.rs).
        let delegated = self.saved.borrow_mut().hand_over(&mut env, &mut received);
        let sub = Submission {
            envelope: env,
            content,
            received: Some(received),
            add_missing_headers: local,
            inspect: !self.ctx.receive.no_header_body_checks,
            map_addresses: !self.ctx.receive.no_address_mappings,
        };
        match pending.commit(self.ctx, sub, &delegated) {
            Ok(id) => Some(id),
            Err(e) => {
                // cleanup has logged its content-inspection verdict itself.
                if !matches!(
                    e,
                    SinkError::Cleanup(crate::cleanup::CleanupError::Content(_))
                ) {
                    log::warning("smtpd", format!("{}: {}", id, e));
                }
                self.reply(&e.reply());
                None
            }
        }
    }

    /// smtpd_end_of_data_restrictions: the refusal, logged with the queue ID (`ID: reject:
    /// END-OF-MESSAGE from ...`), or `None` to queue the message.
    fn end_of_data(&self, tx: &Transaction, id: &str, content: &[u8]) -> Option<Reply> {
        if self.ctx.policy.eod.is_empty() {
            return None;
        }
        // Postfix's act_size: the lines as received, each with its CR LF.
        let size = content.len() + content.iter().filter(|&&b| b == b'\n').count();
        let helo = self.helo.as_deref();
        let sender = Some(tx.sender_given.as_str());
        let mut f = self.facts("END-OF-MESSAGE", helo, sender, tx.single_rcpt());
        f.queue_id = Some(id);
        f.size = Some(size as u64);
        f.rcpt_count = tx.given.len();
        f.single_rcpt = match tx.given.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        f.sasl_sender = tx.sasl_sender.as_deref();
        let reply = check::check_eod(self.ctx, &f).err()?;
        f.log("reject", &reply.to_string());
        Some(reply)
    }

    fn received_header(&self, tx: &Transaction, id: &str) -> String {
        let (tls, with) = (self.received_tls(), self.received_with());
        crate::received::build(&crate::received::Trace {
            client: Some(crate::received::Client {
                helo: self.helo.as_deref(),
                name: &self.client.name,
                addr: &self.client.addr.to_string(),
                protocol: super::smtputf8::utf8_protocol(self.received_protocol(with), tx.smtputf8),
                tls: tls.as_ref().map(|(u, c)| (u.as_str(), c.as_str())),
                authenticated_sender: self.received_auth_name(),
            }),
            myhostname: &self.ctx.myhostname,
            mail_name: &self.ctx.mail_name,
            userid: self.ctx.stand_alone.then(crate::sys::uid),
            queue_id: id,
            single_rcpt: if tx.given.len() == 1 {
                tx.given.first().map(String::as_str)
            } else {
                None
            },
            date: &log::timefmt::rfc2822(log::timefmt::now_secs()),
        })
    }

    /// The envelope's attributes (recipients are the caller's).
    fn envelope(&self, tx: &Transaction, local: bool) -> Envelope {
        let mut env = Envelope::new(&tx.sender);
        env.set_attr("client_name", &self.client.name);
        env.set_attr("client_address", &self.client.addr.to_string());
        if let Some(h) = &self.helo {
            env.set_attr("helo_name", h);
        }
        env.set_attr("protocol_name", self.proto());
        env.set_attr("rewrite_context", if local { "local" } else { "remote" });
        if let Some(e) = &tx.envid {
            env.set_attr("envid", e);
        }
        if let Some(r) = &tx.ret {
            env.set_attr("ret", r);
        }
        if !self.ctx.stand_alone {
            env.set_attr("client_port", &self.client.port.to_string());
        }
        if let Some(u) = &self.sasl_username {
            env.set_attr("sasl_username", u);
            if let Some(m) = &self.auth.method {
                env.set_attr("sasl_method", m);
            }
        }
        if let Some(s) = &tx.sasl_sender {
            env.set_attr("sasl_sender", s);
        }
        // SMTPUTF8: the client's request, or autodetection (smtputf8_autodetect_classes).
        let source = crate::smtputf8::Source::Smtpd;
        crate::smtputf8::mark(&self.ctx.cfg, &mut env, tx.smtputf8, source);
        // $content_filter of this service (Postfix's REC_TYPE_FILT from smtpd); an access
        // table FILTER action wins, and a header/body FILTER in cleanup over both.
        let filter = (self.saved.borrow_mut().filter.take())
            .unwrap_or_else(|| self.ctx.cfg.get("content_filter").trim().to_string());
        if !filter.is_empty() {
            env.set_attr(crate::queue::FILTER_ATTR, &filter);
        }
        env
    }
}
