//! smtp(8): the SMTP client delivery agent, for the `smtp` and `relay` transports and every
//! other master.cf service whose command is `smtp` (built in master::agents).
//!
//! For each request it finds the servers of the next hop (`connect`: MX lookup unless
//! the next hop is `[bracketed]`; MX hosts as preferred as this host or less are dropped,
//! see `myself`; a null MX bounces), tries them in order until one takes the message or
//! refuses it for good, and holds one SMTP transaction there for all the request's
//! recipients still without a result (`session`). A recipient with a soft failure (4xx
//! to RCPT TO, 4xx at the end of DATA, a failed connect or session) moves on to the next
//! server within the same attempt; one that got a 2xx at the end of DATA is never sent
//! again. Results are per recipient, with Postfix's texts:
//! `250 2.0.0 Ok: queued as X` (sent), `host X[ip] said: 550 ... (in reply to RCPT TO
//! command)` (bounced), `connect to X[ip]:25: Connection timed out` (deferred,
//! relay=none), `mail for DOMAIN loops back to myself` (5.4.6),
//! `Domain DOMAIN does not accept mail (nullMX)` (5.1.10, RFC 7505).
//!
//! In verify mode (address verification probes and `sendmail -bv`) a session stops after
//! RCPT TO with RSET and QUIT: a recipient the server accepted is deliverable (`250 2.1.5
//! Ok`) at once, one it refused undeliverable or deferred by the reply's class; no DATA is
//! sent.
//!
//! Not done: Postfix's loop check on the server's greeting and EHLO name (`host X
//! greeted me with my own hostname`); two test instances that share a $myhostname relay
//! to each other.
//!
//! Parameters: myhostname, inet_interfaces, proxy_interfaces (loop detection),
//! smtp_helo_name, smtp_connect_timeout, smtp_helo_timeout,
//! smtp_starttls_timeout, smtp_mail_timeout, smtp_rcpt_timeout, smtp_data_init_timeout,
//! smtp_data_xfer_timeout, smtp_data_done_timeout, smtp_quit_timeout, smtp_rset_timeout,
//! smtp_line_length_limit, smtp_mx_address_limit, smtp_mx_session_limit,
//! smtp_tls_security_level (empty/none, may, encrypt, verify, secure; dane, dane-only,
//! fingerprint and smtp_tls_policy_maps are refused: mail defers, 4.7.5), smtp_tls_CAfile,
//! smtp_tls_CApath, tls_append_default_CA, smtp_tls_scert_verifydepth,
//! smtp_tls_verify_cert_match, smtp_tls_secure_cert_match, smtp_tls_loglevel,
//! smtp_tls_protocols, smtp_tls_mandatory_protocols (see `tls_policy`, `tls_peer`),
//! smtp_sasl_auth_enable,
//! smtp_sasl_password_maps, smtp_sasl_security_options, smtp_sasl_tls_security_options,
//! smtp_sasl_mechanism_filter, smtp_sasl_auth_soft_bounce (PLAIN and LOGIN only, see `auth`).
//!
//! Security role: talks to remote servers on behalf of the queue; never reports a
//! recipient sent before the server's 2xx reply to the end of DATA. Logs each failed
//! connect (`connect to HOST[IP]:PORT: REASON`), the TLS lines of `session` and a warning
//! for an unsupported TLS policy; the scheduler logs the outcomes.

pub mod auth;
pub mod connect;
pub mod data;
pub mod envelope;
pub mod myself;
pub mod reply;
pub mod session;
pub mod stream;
pub mod tls_peer;
pub mod tls_policy;

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::delivery::{Agent, Outcome, Request, dsn_of};
use crate::dns::Resolve;
use crate::reply::Dsn;

use self::auth::SaslSettings;
use self::connect::{NextHop, Peer};
use self::myself::Myself;
use self::session::{Message, Settings};
use self::stream::Stream;
use self::tls_policy::{ClientTls, TlsLevel};

/// The SMTP port when the next hop names none.
pub const DEFAULT_PORT: u16 = 25;

/// DSN envelope parameters of a message (queue-file attributes `ret` and `envid`), which
/// `Request` does not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeDsn {
    pub ret: Option<String>,
    pub envid: Option<String>,
}

/// The SMTP client agent.
pub struct Smtp {
    name: String,
    cfg: Arc<Config>,
    resolver: Arc<dyn Resolve>,
    port: u16,
    me: Myself,
    /// The TLS settings and context, built at the first delivery (CA files read once per
    /// agent; a reload builds new agents), or why they could not be.
    tls: std::sync::OnceLock<Result<ClientTls, String>>,
    /// The address rules, for smtp_sender_dependent_authentication (built when first
    /// needed).
    rewrite: std::sync::OnceLock<crate::rewrite::Rewrite>,
}

impl Smtp {
    /// An agent logging as `name` (the master.cf command, `smtp`), with the settings of
    /// `cfg` (the service's configuration, its `-o` overrides applied).
    pub fn new(name: &str, cfg: Arc<Config>, resolver: Arc<dyn Resolve>) -> Smtp {
        Smtp {
            name: name.to_string(),
            me: Myself::from_config(&cfg),
            cfg,
            resolver,
            port: DEFAULT_PORT,
            tls: std::sync::OnceLock::new(),
            rewrite: std::sync::OnceLock::new(),
        }
    }

    /// Use `port` for next hops that name none (Postfix takes it from the service; tests
    /// point MX lookups at a test server).
    pub fn with_port(mut self, port: u16) -> Smtp {
        self.port = port;
        self
    }

    fn settings(&self, tls: ClientTls, sasl: SaslSettings, nh: &NextHop, dest: &str) -> Settings {
        let c = &self.cfg;
        let helo = c.get("smtp_helo_name").trim();
        let helo = if helo.is_empty() {
            c.get("myhostname").trim()
        } else {
            helo
        };
        Settings {
            helo_name: if helo.is_empty() {
                "localhost".into()
            } else {
                helo.into()
            },
            helo_timeout: c.time("smtp_helo_timeout"),
            starttls_timeout: c.time("smtp_starttls_timeout"),
            mail_timeout: c.time("smtp_mail_timeout"),
            rcpt_timeout: c.time("smtp_rcpt_timeout"),
            data_init_timeout: c.time("smtp_data_init_timeout"),
            data_xfer_timeout: c.time("smtp_data_xfer_timeout"),
            data_done_timeout: c.time("smtp_data_done_timeout"),
            quit_timeout: c.time("smtp_quit_timeout"),
            rset_timeout: c.time("smtp_rset_timeout"),
            line_length_limit: c.int("smtp_line_length_limit").max(0) as usize,
            tls,
            nexthop: nh.host.clone(),
            dest: dest.to_string(),
            sasl,
            log_name: self.name.clone(),
        }
    }

    /// Deliver with the message's DSN RET/ENVID (passed to servers that offer DSN).
    pub fn deliver_dsn(&self, req: &Request<'_>, dsn: &EnvelopeDsn) -> Vec<Outcome> {
        self.attempt(req, dsn, false)
    }

    /// Deliver, or with `verify` only ask the servers about the recipients (MAIL FROM and
    /// RCPT TO, then QUIT).
    fn attempt(&self, req: &Request<'_>, dsn: &EnvelopeDsn, verify: bool) -> Vec<Outcome> {
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
        let nh: NextHop = match connect::parse_nexthop(req.nexthop, self.port) {
            Ok(nh) => nh,
            Err(why) => return all(dsn_of("4.3.5"), &why),
        };
        let tls = match self.tls_policy() {
            Ok(t) => t,
            Err((dsn, text)) => return all(dsn_of(dsn), &text),
        };
        let limit = self.cfg.int("smtp_mx_address_limit").max(0) as usize;
        let peers = match connect::peers(self.resolver.as_ref(), &nh, limit, &self.me) {
            Ok(p) => p,
            Err(e) => return all(e.dsn, &e.text),
        };
        let msg = Message {
            sender: req.sender,
            content: req.content,
            recipients: req.recipients,
            ret: dsn.ret.as_deref(),
            envid: dsn.envid.as_deref(),
            smtputf8: crate::smtputf8::for_delivery(
                &self.cfg,
                req.attrs,
                req.recipients.iter().map(|r| r.address.as_str()),
            ),
            verify,
        };
        let rewrite = || {
            self.rewrite
                .get_or_init(|| crate::rewrite::Rewrite::new(&self.cfg))
        };
        let sasl = SaslSettings::from_config(&self.cfg)
            .map(|s| s.for_sender(&self.cfg, rewrite, req.sender));
        let sasl = match sasl {
            Ok(s) => s,
            Err(e) => {
                crate::log::warning(&self.name, format!("smtp_sasl_password_maps: {}", e));
                return all(dsn_of("4.3.0"), "SASL password table is unavailable");
            }
        };
        let set = self.settings(tls, sasl, &nh, req.nexthop);
        self.walk(&set, &peers, &msg, started)
    }

    /// The TLS settings, or the DSN and text that defer everything when the configured
    /// policy cannot be enforced (never weakened: see `tls_policy`).
    fn tls_policy(&self) -> Result<ClientTls, (&'static str, String)> {
        let level = TlsLevel::parse(self.cfg.get("smtp_tls_security_level"));
        let maps = self.cfg.get("smtp_tls_policy_maps").trim();
        if !maps.is_empty() {
            crate::log::warning(
                &self.name,
                format!(
                    "smtp_tls_policy_maps is not supported; refusing delivery rather than ignoring {}",
                    maps
                ),
            );
            return Err((
                "4.7.5",
                "TLS policy lookup is not supported by this client (smtp_tls_policy_maps)".into(),
            ));
        }
        if !level.supported() {
            let raw = self.cfg.get("smtp_tls_security_level").trim().to_string();
            crate::log::warning(
                &self.name,
                format!(
                    "unsupported TLS security level \"{}\"; refusing delivery rather than weakening it",
                    raw
                ),
            );
            return Err((
                "4.7.5",
                format!(
                    "TLS security level \"{}\" is not supported by this client",
                    raw
                ),
            ));
        }
        let built = self
            .tls
            .get_or_init(|| ClientTls::from_config(&self.cfg).map_err(|e| e.to_string()));
        built.clone().map_err(|e| {
            crate::log::warning(&self.name, format!("TLS client initialization: {}", e));
            if level == TlsLevel::None || level == TlsLevel::May {
                // A malformed smtp_tls_protocols or smtp_tls_loglevel (Postfix: fatal).
                ("4.7.5", "TLS engine is unavailable".to_string())
            } else {
                (
                    "4.7.5",
                    "TLS is required, but our TLS engine is unavailable".to_string(),
                )
            }
        })
    }

    /// Try the servers in order until every recipient has a result. A recipient that
    /// got a soft failure (4xx to RCPT, 4xx at the end of DATA, a session-wide 4xx) moves
    /// on to the next server; its latest failure is its result when none is left.
    fn walk(
        &self,
        set: &Settings,
        peers: &[Peer],
        msg: &Message<'_>,
        started: Instant,
    ) -> Vec<Outcome> {
        let connect_timeout = self.cfg.time("smtp_connect_timeout");
        let session_limit = self.cfg.int("smtp_mx_session_limit").max(0) as usize;
        let mut out = Vec::new();
        let mut pending: Vec<usize> = (0..msg.recipients.len()).collect();
        let mut latest: Vec<Option<Outcome>> = vec![None; msg.recipients.len()];
        let mut sessions = 0;
        let mut no_tls = false;
        let mut i = 0;
        while i < peers.len() && !pending.is_empty() {
            if session_limit > 0 && sessions >= session_limit {
                break;
            }
            let peer = &peers[i];
            let tcp = match connect::connect(peer, connect_timeout) {
                Ok(t) => t,
                Err(why) => {
                    crate::log::lines::smtp_connect_failed(
                        &self.name,
                        &peer.name,
                        &peer.ip.to_string(),
                        peer.port,
                        &why,
                    );
                    let text = format!("connect to {}:{}: {}", peer.namaddr(), peer.port, why);
                    for &p in &pending {
                        let mut o = Outcome::new(p, dsn_of("4.4.1"), &text, "none");
                        o.setup = started.elapsed();
                        latest[p] = Some(o);
                    }
                    i += 1;
                    continue;
                }
            };
            sessions += 1;
            let mut s = set.clone();
            if no_tls {
                s.tls = ClientTls::with_level(TlsLevel::None);
            }
            let end = session::run(Stream::new(tcp), peer, &s, msg, &pending, started);
            out.extend(end.done);
            pending = end.retry.iter().map(|o| o.rcpt).collect();
            for o in end.retry {
                let p = o.rcpt;
                latest[p] = Some(o);
            }
            if end.reconnect && !no_tls {
                // The plaintext retry at the same address is part of the same session.
                no_tls = true;
                sessions -= 1;
            } else {
                no_tls = false;
                i += 1;
            }
        }
        for p in pending {
            let o = latest[p].take().unwrap_or_else(|| {
                Outcome::new(p, dsn_of("4.4.1"), "no server could be reached", "none")
            });
            out.push(o);
        }
        out.sort_by_key(|o| o.rcpt);
        out
    }
}

impl Agent for Smtp {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        let dsn = EnvelopeDsn {
            ret: req.ret.map(str::to_string),
            envid: req.envid.map(str::to_string),
        };
        self.deliver_dsn(req, &dsn)
    }

    /// Address verification as Postfix's smtp(8) in verify mode: the next hop's servers
    /// are asked (MAIL FROM, RCPT TO), and each recipient's result is the reply to its
    /// RCPT TO; nothing is delivered.
    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        let dsn = EnvelopeDsn {
            ret: req.ret.map(str::to_string),
            envid: req.envid.map(str::to_string),
        };
        self.attempt(req, &dsn, true)
    }
}
