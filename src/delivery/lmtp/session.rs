//! One LMTP session (RFC 2033): greeting, LHLO (SMTPUTF8 as the SMTP client decides it:
//! `smtp::envelope::smtputf8_refusal`), MAIL, one RCPT per recipient (pipelined
//! with DATA when the server offers PIPELINING, RFC 2920), the message, then one reply per
//! accepted recipient after the final dot, and QUIT. The envelope commands, the reply
//! reader and the DATA encoding are the SMTP client's (`smtp::envelope`, `smtp::stream`,
//! `smtp::data`).
//!
//! An LMTP server is the final one: there is no next server to try, so every failure is
//! a result (4xx defers, 5xx bounces), worded as Postfix's lmtp(8) words it:
//! `host HOST[PATH] said: REPLY (in reply to RCPT TO command)`, `lost connection with
//! HOST[PATH] while sending end of data -- message may be sent more than once`.
//!
//! Security role: a recipient is reported sent only after its own 2xx reply following the
//! end of DATA. Logs nothing; the scheduler logs the outcomes.

use std::time::{Duration, Instant};

use crate::delivery::smtp::data;
use crate::delivery::smtp::envelope::{self, Injection, Message};
use crate::delivery::smtp::reply::Reply;
use crate::delivery::smtp::stream::{Stream, StreamError};
use crate::delivery::{Outcome, dsn_of};
use crate::reply::{Class, Dsn};

/// The per-stage timeouts and the LHLO name (the `lmtp_*` parameters).
#[derive(Debug, Clone)]
pub struct Settings {
    pub lhlo_name: String,
    pub lhlo_timeout: Duration,
    pub mail_timeout: Duration,
    pub rcpt_timeout: Duration,
    pub data_init_timeout: Duration,
    pub data_xfer_timeout: Duration,
    pub data_done_timeout: Duration,
    pub quit_timeout: Duration,
    pub line_length_limit: usize,
}

/// The server as the texts name it: `host[path]` or `host[ip]`, and the `relay=` value.
pub struct Server {
    pub namaddr: String,
    pub relay: String,
}

/// A failure for every recipient still without a result.
struct Fail {
    dsn: Dsn,
    text: String,
    /// The connection is unusable: no QUIT.
    broken: bool,
}

struct Session<'a> {
    stream: Stream,
    server: &'a Server,
    set: &'a Settings,
    started: Instant,
    setup: Duration,
}

impl Session<'_> {
    fn outcome(&self, rcpt: usize, dsn: Dsn, text: &str) -> Outcome {
        let mut o = Outcome::new(rcpt, dsn, text, &self.server.relay);
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
            self.server.namaddr,
            r.text(),
            cmd
        )
    }

    fn io_fail(&self, e: &StreamError, stage: &str) -> Fail {
        let who = &self.server.namaddr;
        let text = match e {
            StreamError::Timeout => format!("conversation with {} timed out while {}", who, stage),
            StreamError::Lost => format!("lost connection with {} while {}", who, stage),
            StreamError::Bad(b) => format!("host {} sent a {} while {}", who, b, stage),
        };
        Fail {
            dsn: dsn_of("4.4.2"),
            text,
            broken: true,
        }
    }

    /// A refusal of the whole transaction: 4xx defers, 5xx (and replies outside the
    /// protocol) bounce, with the server's DSN.
    fn reply_fail(&self, r: &Reply, cmd: &str) -> Fail {
        Fail {
            dsn: r.dsn(),
            text: self.said(r, cmd),
            broken: false,
        }
    }

    fn read(&mut self, t: Duration, stage: &str) -> Result<Reply, Fail> {
        self.stream
            .read_reply(t)
            .map_err(|e| self.io_fail(&e, stage))
    }

    fn send(&mut self, bytes: &[u8], t: Duration, stage: &str) -> Result<(), Fail> {
        self.stream
            .send(bytes, t)
            .map_err(|e| self.io_fail(&e, stage))
    }

    fn command(&mut self, line: &str, t: Duration, stage: &str) -> Result<Reply, Fail> {
        self.send(format!("{}\r\n", line).as_bytes(), t, stage)?;
        self.read(t, stage)
    }

    /// Greeting and LHLO; the LHLO extensions.
    fn hello(&mut self) -> Result<Vec<(String, String)>, Fail> {
        let t = self.set.lhlo_timeout;
        let greeting = self.read(t, "receiving the initial server greeting")?;
        if greeting.class() != Class::Success {
            let text = format!(
                "host {} refused to talk to me: {}",
                self.server.namaddr,
                greeting.text()
            );
            return Err(Fail {
                dsn: greeting.dsn().with_class(Class::Transient),
                text,
                broken: false,
            });
        }
        let lhlo = format!("LHLO {}", self.set.lhlo_name);
        let r = self.command(&lhlo, t, "performing the LHLO handshake")?;
        if r.class() != Class::Success {
            return Err(self.reply_fail(&r, "LHLO"));
        }
        self.setup = self.started.elapsed();
        Ok(r.extensions())
    }

    fn quit(&mut self) {
        let t = self.set.quit_timeout;
        if self.stream.send(b"QUIT\r\n", t).is_ok() {
            let _ = self.stream.read_reply(t);
        }
    }
}

/// Run one session for every recipient of `msg`; one outcome per recipient.
pub fn run(
    stream: Stream,
    server: &Server,
    set: &Settings,
    msg: &Message<'_>,
    started: Instant,
) -> Vec<Outcome> {
    let mut s = Session {
        stream,
        server,
        set,
        started,
        setup: Duration::ZERO,
    };
    let mut done = Vec::new();
    let mut left: Vec<usize> = (0..msg.recipients.len()).collect();
    let r = transaction(&mut s, msg, &mut left, &mut done);
    let mut broken = false;
    if let Err(f) = r {
        broken = f.broken;
        for i in left {
            done.push(s.outcome(i, f.dsn, &f.text));
        }
    }
    if !broken {
        s.quit();
    }
    done.sort_by_key(|o| o.rcpt);
    done
}

/// The dialogue. Recipients with a result move from `left` to `done`; a failure (`Err`)
/// is the result of those still in `left`.
fn transaction(
    s: &mut Session<'_>,
    msg: &Message<'_>,
    left: &mut Vec<usize>,
    done: &mut Vec<Outcome>,
) -> Result<(), Fail> {
    let ext = s.hello()?;
    if let Some(text) = envelope::smtputf8_refusal(msg, &ext, &s.server.namaddr, "lmtp") {
        return Err(Fail {
            dsn: dsn_of("5.6.7"),
            text,
            broken: false,
        });
    }
    let (mail, rcpts) = envelope::commands(msg, left, &ext).map_err(|Injection| Fail {
        dsn: dsn_of("5.1.3"),
        text: "bad address syntax (control character)".to_string(),
        broken: false,
    })?;
    let set = s.set;
    let pipelining = envelope::offered(&ext, "PIPELINING").is_some();
    let r = if pipelining {
        let group = envelope::pipelined(&mail, &rcpts, !msg.verify);
        s.send(group.as_bytes(), set.mail_timeout, "sending MAIL FROM")?;
        s.read(set.mail_timeout, "sending MAIL FROM")?
    } else {
        s.command(&mail, set.mail_timeout, "sending MAIL FROM")?
    };
    if r.class() != Class::Success {
        return Err(s.reply_fail(&r, "MAIL FROM"));
    }
    let mut accepted = Vec::new();
    for (k, line) in rcpts.iter().enumerate() {
        let i = left[k];
        let r = if pipelining {
            s.read(set.rcpt_timeout, "sending RCPT TO")
        } else {
            s.command(line, set.rcpt_timeout, "sending RCPT TO")
        };
        let r = r.inspect_err(|_| {
            let answered: Vec<usize> = done.iter().map(|o| o.rcpt).collect();
            left.retain(|x| !answered.contains(x));
        })?;
        if r.class() == Class::Success && msg.verify {
            // Verify mode: the reply to RCPT TO is the result; no DATA follows.
            done.push(s.outcome(i, r.dsn(), &r.text()));
        } else if r.class() == Class::Success {
            accepted.push(i);
        } else {
            done.push(s.outcome(i, r.dsn(), &s.said(&r, "RCPT TO")));
        }
    }
    *left = accepted.clone();
    if msg.verify {
        return Ok(());
    }
    let r = if pipelining {
        s.read(set.data_init_timeout, "sending DATA command")?
    } else if accepted.is_empty() {
        return Ok(());
    } else {
        s.command("DATA", set.data_init_timeout, "sending DATA command")?
    };
    if accepted.is_empty() {
        if r.class() == Class::Intermediate {
            // A server that takes DATA without recipients gets an empty message.
            let t = set.data_done_timeout;
            if s.stream.send(b".\r\n", t).is_ok() {
                let _ = s.stream.read_reply(t);
            }
        }
        return Ok(());
    }
    if r.class() != Class::Intermediate {
        return Err(s.reply_fail(&r, "DATA"));
    }
    let body = data::encode(msg.content, set.line_length_limit);
    s.send(&body, set.data_xfer_timeout, "sending message body")?;
    // RFC 2033 section 4.2: one reply per accepted recipient, in RCPT order.
    for &i in &accepted {
        let r = s.read(
            set.data_done_timeout,
            "sending end of data -- message may be sent more than once",
        )?;
        let text = match r.class() {
            Class::Success => r.text(),
            _ => s.said(&r, "end of DATA"),
        };
        done.push(s.outcome(i, r.dsn(), &text));
        left.retain(|&x| x != i);
    }
    Ok(())
}
