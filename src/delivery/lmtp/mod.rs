//! lmtp(8): the LMTP client delivery agent (RFC 2033), for every master.cf `unix` service
//! whose command is `lmtp` (built in master::agents); used as `mailbox_transport =
//! lmtp:unix:private/dovecot-lmtp` or `virtual_transport = lmtp:inet:host:24` to hand
//! mail to a mailbox server such as Dovecot.
//!
//! Next hops, as Postfix 2.10's lmtp(8) takes them: `unix:PATHNAME` (a UNIX-domain socket;
//! a relative path is relative to $queue_directory, as Postfix's daemons run there),
//! `inet:HOST:PORT`, `inet:HOST`, `HOST:PORT`, `HOST`, `[HOST]` and `[HOST]:PORT` (TCP;
//! the port defaults to $lmtp_tcp_port, 24; a host name is looked up by its address
//! records, never MX). The server is named `$myhostname[PATHNAME]` for a socket and
//! `HOST[IP]` for TCP; the `relay=` value adds `:PORT` for TCP only. Each address of a
//! host is tried in turn until one connects; the session itself (`session`) is final.
//!
//! Parameters: lmtp_tcp_port, lmtp_connect_timeout, lmtp_lhlo_name, lmtp_lhlo_timeout,
//! lmtp_mail_timeout, lmtp_rcpt_timeout, lmtp_data_init_timeout, lmtp_data_xfer_timeout,
//! lmtp_data_done_timeout, lmtp_quit_timeout, lmtp_line_length_limit. Not implemented:
//! TLS and SASL (`lmtp_tls_security_level` above `none` or `lmtp_sasl_auth_enable = yes`
//! defer the mail with 4.7.5 rather than deliver without them; `postfix check` says so).
//!
//! Security role: talks to the mailbox server on behalf of the queue; a recipient is
//! reported sent only after its own 2xx reply after the end of DATA. Logs each failed
//! connect (`connect to HOST[PATH]: REASON`); the scheduler logs the outcomes
//! (`postfix/lmtp[pid]: ID: to=<..>, relay=HOST[PATH], ..., status=sent (250 2.0.0 ...)`).

pub mod session;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::delivery::smtp::connect::{self, Peer};
use crate::delivery::smtp::envelope::Message;
use crate::delivery::smtp::myself::Myself;
use crate::delivery::smtp::stream::Stream;
use crate::delivery::{Agent, Outcome, Request, dsn_of};
use crate::dns::Resolve;
use crate::reply::Dsn;

use self::session::{Server, Settings};

/// The LMTP port when the next hop names none ($lmtp_tcp_port's default).
pub const DEFAULT_PORT: u16 = 24;

/// Where an LMTP next hop points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A UNIX-domain socket, as written in the next hop.
    Unix(String),
    /// A host (or `[host]`) and port, in smtp(8)'s next-hop syntax.
    Inet(String),
}

/// Parse an LMTP next hop (`unix:PATH`, `inet:HOST:PORT`, `HOST:PORT`, `HOST`).
pub fn parse_target(nexthop: &str) -> Result<Target, String> {
    let n = nexthop.trim();
    let bad = || format!("malformed next-hop destination: {}", n);
    if let Some(path) = n.strip_prefix("unix:") {
        if path.is_empty() || path.contains('\0') {
            return Err(bad());
        }
        return Ok(Target::Unix(path.to_string()));
    }
    let rest = n.strip_prefix("inet:").unwrap_or(n);
    if rest.is_empty() {
        return Err(bad());
    }
    Ok(Target::Inet(rest.to_string()))
}

/// The LMTP client agent.
pub struct Lmtp {
    name: String,
    cfg: Arc<Config>,
    resolver: Arc<dyn Resolve>,
    port: u16,
}

impl Lmtp {
    pub fn new(name: &str, cfg: Arc<Config>, resolver: Arc<dyn Resolve>) -> Lmtp {
        Lmtp {
            name: name.to_string(),
            cfg,
            resolver,
            port: DEFAULT_PORT,
        }
    }

    /// Use `port` for TCP next hops that name none ($lmtp_tcp_port, resolved by the caller).
    pub fn with_port(mut self, port: u16) -> Lmtp {
        self.port = port;
        self
    }

    fn settings(&self) -> Settings {
        let c = &self.cfg;
        let name = c.get("lmtp_lhlo_name").trim();
        let name = if name.is_empty() {
            c.get("myhostname").trim()
        } else {
            name
        };
        Settings {
            lhlo_name: if name.is_empty() { "localhost" } else { name }.to_string(),
            lhlo_timeout: c.time("lmtp_lhlo_timeout"),
            mail_timeout: c.time("lmtp_mail_timeout"),
            rcpt_timeout: c.time("lmtp_rcpt_timeout"),
            data_init_timeout: c.time("lmtp_data_init_timeout"),
            data_xfer_timeout: c.time("lmtp_data_xfer_timeout"),
            data_done_timeout: c.time("lmtp_data_done_timeout"),
            quit_timeout: c.time("lmtp_quit_timeout"),
            line_length_limit: c.int("lmtp_line_length_limit").max(0) as usize,
        }
    }

    /// Why mail must wait rather than go without the TLS or SASL the settings ask for.
    fn refused_feature(&self) -> Option<String> {
        let level = self.cfg.get("lmtp_tls_security_level").trim();
        if !level.is_empty() && !level.eq_ignore_ascii_case("none") {
            return Some(format!(
                "TLS security level \"{}\" is not supported by this LMTP client",
                level
            ));
        }
        if self.cfg.bool("lmtp_sasl_auth_enable") {
            return Some("SASL authentication is not supported by this LMTP client".into());
        }
        None
    }

    fn socket_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(self.cfg.get("queue_directory")).join(p)
        }
    }

    /// Connect to the target: the stream and how to name the server, or the failure.
    fn open(&self, target: &Target) -> Result<(Stream, Server), (Dsn, String)> {
        // 0s (the default) is no limit of Postern's own: the system's connect timeout.
        let timeout = match self.cfg.time("lmtp_connect_timeout") {
            t if t.is_zero() => std::time::Duration::from_secs(3600),
            t => t,
        };
        match target {
            Target::Unix(path) => {
                let host = self.cfg.get("myhostname").trim().to_string();
                let namaddr = format!("{}[{}]", host, path);
                match UnixStream::connect(self.socket_path(path)) {
                    Ok(s) => Ok((
                        Stream::unix(s),
                        Server {
                            relay: namaddr.clone(),
                            namaddr,
                        },
                    )),
                    Err(e) => {
                        let text = format!("connect to {}: {}", namaddr, connect::reason(&e));
                        crate::log::info(&self.name, &text);
                        Err((dsn_of("4.4.1"), text))
                    }
                }
            }
            Target::Inet(hop) => {
                let mut nh = connect::parse_nexthop(hop, self.lmtp_port())
                    .map_err(|why| (dsn_of("4.3.5"), why))?;
                nh.mx = false;
                let me = Myself::from_config(&self.cfg);
                let peers = connect::peers(self.resolver.as_ref(), &nh, 0, &me)
                    .map_err(|e| (e.dsn, e.text))?;
                let mut last = String::new();
                for peer in &peers {
                    match connect::connect(peer, timeout) {
                        Ok(tcp) => return Ok((Stream::new(tcp), server_of(peer))),
                        Err(why) => {
                            crate::log::lines::smtp_connect_failed(
                                &self.name,
                                &peer.name,
                                &peer.ip.to_string(),
                                peer.port,
                                &why,
                            );
                            last = format!("connect to {}:{}: {}", peer.namaddr(), peer.port, why);
                        }
                    }
                }
                Err((dsn_of("4.4.1"), last))
            }
        }
    }

    fn lmtp_port(&self) -> u16 {
        self.port
    }
}

fn server_of(peer: &Peer) -> Server {
    Server {
        namaddr: peer.namaddr(),
        relay: peer.relay(),
    }
}

impl Agent for Lmtp {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.attempt(req, false)
    }

    /// Address verification as Postfix's lmtp(8) in verify mode: MAIL FROM and RCPT TO
    /// only, each recipient's result the reply to its RCPT TO.
    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.attempt(req, true)
    }
}

impl Lmtp {
    /// Deliver, or with `verify` only ask the server about the recipients.
    fn attempt(&self, req: &Request<'_>, verify: bool) -> Vec<Outcome> {
        let started = Instant::now();
        let all = |dsn: Dsn, text: &str| -> Vec<Outcome> {
            (0..req.recipients.len())
                .map(|i| {
                    let mut o = Outcome::new(i, dsn, text, "none");
                    o.setup = started.elapsed();
                    o
                })
                .collect()
        };
        if let Some(why) = self.refused_feature() {
            crate::log::warning(&self.name, format!("{}; refusing delivery", why));
            return all(dsn_of("4.7.5"), &why);
        }
        let target = match parse_target(req.nexthop) {
            Ok(t) => t,
            Err(why) => return all(dsn_of("4.3.5"), &why),
        };
        let (stream, server) = match self.open(&target) {
            Ok(x) => x,
            Err((dsn, text)) => return all(dsn, &text),
        };
        let msg = Message {
            sender: req.sender,
            content: req.content,
            recipients: req.recipients,
            ret: req.ret,
            envid: req.envid,
            smtputf8: crate::smtputf8::for_delivery(
                &self.cfg,
                req.attrs,
                req.recipients.iter().map(|r| r.address.as_str()),
            ),
            verify,
        };
        session::run(stream, &server, &self.settings(), &msg, started)
    }
}

#[cfg(test)]
mod tests;
