//! smtpd(8): the SMTP server. `serve` runs the accept loop (one thread per client, at most
//! the master.cf process limit at once); `session` runs one RFC 5321 conversation over any
//! stream. Split as Postfix splits smtpd: `chat` (I/O and pipelining), `session` (the
//! command state machine), `address` (MAIL/RCPT argument syntax), `check` (which policy
//! runs at which stage), `restrict` (the restriction list evaluator), `access`
//! (check_*_access), `destination` (relay and recipient table tests), `policy_types`
//! (Class, Facts, Decision, the refusal `Reply`s of crate::reply), `hostname` (HELO/FQDN/DNS tests), `network`
//! ($mynetworks), `peer` (the client's verified host name), `anvil` (client connection
//! and rate limits), `space` (queue_minfree), `tls` (STARTTLS settings and the server
//! identity, built once per configuration) and `conn` (the plaintext or TLS connection
//! under `chat`). The policy modules import one way only:
//! session → check → restrict → {access, destination, hostname}, check → destination,
//! and each of them → policy_types, a leaf. access gets the evaluator for a restriction
//! list found in a table as a callback from restrict, not by importing it. Address classes
//! and the recipient_delimiter splitter are crate::rewrite's, held in `SmtpdContext`; the
//! Received: header is built by crate::received (shared with pickup).
//!
//! Security role: the first code to see network input. Relay control lives in `check` and
//! `destination`; every input is length-limited in `chat`; client-supplied text is made
//! printable before it reaches logs or headers. A message is acknowledged with 250 only
//! after cleanup has made the queue file durable (`queue::Incoming::commit` fsyncs file
//! and directory).
//!
//! Logs: `connect from`, `disconnect from`, `lost connection after`, `timeout after`,
//! `too many errors after`, `NOQUEUE: reject:`, `ID: client=` (formats in log::lines).

pub mod access;
pub mod access_actions;
pub mod address;
pub mod anvil;
pub mod ccert;
pub mod chat;
pub mod check;
pub mod chunk;
pub mod conn;
pub mod destination;
pub mod hostname;
pub mod mx_backup;
pub mod network;
pub mod obsolete;
pub mod peer;
pub mod policy_check;
pub mod policy_client;
pub mod policy_types;
pub mod pool;
pub mod rbl;
pub mod rbl_check;
pub mod restrict;
pub mod restriction;
pub mod sasl;
pub mod saved;
pub mod server_access;
pub mod session;
pub mod sink;
pub mod space;
pub mod stopping;
pub mod tls;
pub mod unknown_names;
pub mod unverified;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::config::Config;
use crate::qmgr::Wake;
use crate::queue::Queue;
use crate::rewrite::Rewrite;
use crate::tables::TableList;

pub use session::session;
pub use sink::Sink;

/// The client at the other end.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    /// The verified host name (the PTR name, checked forward), or "unknown".
    pub name: String,
    pub addr: IpAddr,
    pub port: u16,
    /// The PTR name, verified or not, or "unknown" (Postfix's reverse_client_name).
    pub reverse_name: String,
    /// How the name and the PTR lookups went (reject_unknown_client_hostname,
    /// reject_unknown_reverse_client_hostname).
    pub name_status: peer::NameStatus,
    pub reverse_name_status: peer::NameStatus,
}

impl ClientInfo {
    /// The stand-alone server's client (`sendmail -bs`): Postfix names a client that is not
    /// on a socket `localhost[127.0.0.1]`.
    pub fn stand_alone() -> ClientInfo {
        ClientInfo {
            name: "localhost".to_string(),
            addr: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port: 0,
            reverse_name: "localhost".to_string(),
            name_status: peer::NameStatus::Ok,
            reverse_name_status: peer::NameStatus::Ok,
        }
    }

    /// The peer with its verified host name (see `peer`): the PTR name when it resolves
    /// back to the address, else "unknown".
    pub fn lookup(peer: SocketAddr) -> ClientInfo {
        ClientInfo::lookup_with(peer, &peer::SystemLookup)
    }

    /// As `lookup`, with the given resolver.
    pub fn lookup_with(peer: SocketAddr, dns: &dyn peer::PeerLookup) -> ClientInfo {
        let addr = network::canonical(peer.ip());
        let names = peer::resolve(addr, dns);
        ClientInfo {
            name: names.name,
            addr,
            port: peer.port(),
            reverse_name: names.reverse_name,
            name_status: names.name_status,
            reverse_name_status: names.reverse_name_status,
        }
    }

    /// `name[addr]`, as in every smtpd log line.
    pub fn log_name(&self) -> String {
        format!("{}[{}]", self.name, self.addr)
    }

    /// `log_name`, with `:port` under smtpd_client_port_logging (Postfix's
    /// SMTPD_BUILD_NAMADDRPORT): every line and reply that names the client uses it.
    pub fn log_name_port(&self, with_port: bool) -> String {
        match with_port {
            true => format!("{}[{}]:{}", self.name, self.addr, self.port),
            false => self.log_name(),
        }
    }
}

/// Everything a session needs, computed once per configuration (SIGHUP builds a new one).
pub struct SmtpdContext {
    pub cfg: Arc<Config>,
    pub queue: Queue,
    pub wake: Sender<Wake>,
    pub myhostname: String,
    pub myorigin: String,
    pub mail_name: String,
    pub banner: String,
    /// Address classes ($mydestination, $relay_domains), routing and the
    /// recipient_delimiter splitter.
    pub rewrite: Rewrite,
    pub mynetworks: network::NetList,
    /// The addresses of $inet_interfaces (permit_inet_interfaces).
    pub interface_addrs: Vec<IpAddr>,
    /// `None` when local_recipient_maps is empty (every local recipient is accepted).
    pub local_recipient_maps: Option<TableList>,
    /// receive_override_options of this service.
    pub receive: crate::cleanup::receive::ReceiveOverrides,
    /// The restriction lists and reply codes.
    pub policy: restriction::Policy,
    /// DNS for reject_unknown_*_domain; `None` (until the master provides one) makes every
    /// such lookup a temporary failure.
    pub resolver: Option<Arc<dyn crate::dns::Resolve>>,
    /// The address verification cache (reject_unverified_*); `None` (the stand-alone
    /// server) answers `address verification problem`.
    pub verify: Option<Arc<crate::verify::Cache>>,
    /// local_header_rewrite_clients, lower-cased.
    pub header_rewrite_clients: Vec<String>,
    pub message_size_limit: u64,
    /// queue_minfree: bytes the queue file system must keep free (see `space`).
    pub queue_minfree: u64,
    pub recipient_limit: usize,
    pub line_length_limit: usize,
    pub timeout: Duration,
    pub soft_error_limit: u32,
    /// smtpd_junk_command_limit: NOOP, VRFY, ETRN and RSET beyond this count as errors.
    pub junk_command_limit: u32,
    pub hard_error_limit: u32,
    pub error_sleep: Duration,
    pub helo_required: bool,
    pub disable_vrfy: bool,
    /// smtpd_discard_ehlo_keywords, as written (matched in any case by the session).
    pub discard_ehlo: Vec<String>,
    /// smtputf8_enable.
    pub smtputf8_enable: bool,
    pub unknown_local_code: u16,
    /// Reverse and forward lookups of the client's host name (the system resolver).
    pub peer_lookup: Arc<dyn peer::PeerLookup>,
    /// Client connection and rate limits (anvil).
    pub limits: anvil::Limits,
    /// Where accepted messages go.
    pub sink: Sink,
    /// TLS: level, identity (built once per configuration), logging (see `tls`).
    pub tls: tls::ServerTls,
    /// `sendmail -bs`: a local user's session; the relay and recipient restriction lists
    /// do not apply (as for plain sendmail), the recipient table test does.
    pub stand_alone: bool,
    /// SASL authentication (smtpd_sasl_auth_enable = yes), see `sasl`.
    pub sasl: Option<sasl::SaslSettings>,
    /// smtpd_sender_login_maps (reject_*sender_login_mismatch).
    pub sender_login_maps: Option<sasl::LoginMaps>,
}

/// The address classes of `cfg`, with a warning for each table in a domain list.
fn rewrite(cfg: &Config) -> Rewrite {
    let rw = Rewrite::new(cfg);
    for d in rw.ignored() {
        crate::log::warning(
            "smtpd",
            format!("domain list: table \"{}\" not supported here; ignored", d),
        );
    }
    rw
}

impl SmtpdContext {
    pub fn new(cfg: Arc<Config>, queue: Queue, wake: Sender<Wake>) -> Result<SmtpdContext, String> {
        let maps_value = cfg.get("local_recipient_maps");
        let local_recipient_maps = if maps_value.trim().is_empty() {
            None
        } else {
            Some(
                TableList::open_list(maps_value)
                    .map_err(|e| format!("local_recipient_maps: {}", e))?,
            )
        };
        let code = |name: &str, dflt: u16| cfg.reply_code(name, dflt);
        let myhostname = cfg.get("myhostname").to_string();
        let myorigin = match cfg.get("myorigin").trim() {
            "" => myhostname.clone(),
            o => o.to_string(),
        };
        let mynetworks = network::NetList::mynetworks(
            cfg.get("mynetworks"),
            cfg.get("mynetworks_style"),
            cfg.parent_domain_matches("mynetworks"),
        );
        let tls = tls::ServerTls::from_config(&cfg).map_err(|e| e.to_string())?;
        Ok(SmtpdContext {
            myorigin,
            mail_name: cfg.get("mail_name").to_string(),
            banner: cfg.get("smtpd_banner").to_string(),
            rewrite: rewrite(&cfg),
            peer_lookup: Arc::new(peer::SystemLookup),
            limits: anvil::Limits::from_config(&cfg, &mynetworks),
            mynetworks,
            interface_addrs: crate::rewrite::inet_interface_addrs(&cfg),
            local_recipient_maps,
            receive: crate::cleanup::receive::ReceiveOverrides::of_logged(&cfg, "smtpd"),
            policy: restriction::Policy::from_config(&cfg),
            resolver: None,
            verify: None,
            header_rewrite_clients: cfg
                .list("local_header_rewrite_clients")
                .into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            message_size_limit: cfg.int("message_size_limit").max(0) as u64,
            queue_minfree: cfg.int("queue_minfree").max(0) as u64,
            recipient_limit: cfg.int("smtpd_recipient_limit").max(1) as usize,
            line_length_limit: cfg.int("line_length_limit").max(512) as usize,
            timeout: cfg.time("smtpd_timeout").max(Duration::from_millis(100)),
            soft_error_limit: cfg.int("smtpd_soft_error_limit").max(0) as u32,
            junk_command_limit: cfg.int("smtpd_junk_command_limit").max(0) as u32,
            hard_error_limit: cfg.int("smtpd_hard_error_limit").max(1) as u32,
            error_sleep: cfg.time("smtpd_error_sleep_time"),
            helo_required: cfg.bool("smtpd_helo_required"),
            disable_vrfy: cfg.bool("disable_vrfy_command"),
            discard_ehlo: cfg.list("smtpd_discard_ehlo_keywords"),
            smtputf8_enable: crate::smtputf8::enabled(&cfg),
            unknown_local_code: code("unknown_local_recipient_reject_code", 550),
            myhostname,
            queue,
            wake,
            sink: Sink::Cleanup,
            tls,
            stand_alone: false,
            sasl: sasl::SaslSettings::from_config_or_warn(&cfg),
            sender_login_maps: sasl::LoginMaps::from_config(&cfg),
            cfg,
        })
    }

    /// The context of the stand-alone server (`sendmail -bs`): messages go to maildrop/
    /// through `postdrop` (the program at `postdrop`), restrictions are those of a local
    /// user, and the scheduler is not told (pickup is, through its FIFO).
    pub fn stand_alone(
        cfg: Arc<Config>,
        postdrop: std::path::PathBuf,
    ) -> Result<SmtpdContext, String> {
        let queue = Queue::from_config(&cfg);
        // No TLS on stdin/stdout: never load the (root-only) key as a user.
        let no_tls = [
            ("smtpd_tls_security_level".to_string(), "none".to_string()),
            ("smtpd_tls_wrappermode".to_string(), "no".to_string()),
        ];
        let cfg = Arc::new(cfg.with_overrides(&no_tls));
        let (wake, _) = crossbeam_channel::unbounded();
        // No AUTH in the stand-alone server (Postfix's smtpd refuses it there too).
        let off = [("smtpd_sasl_auth_enable".to_string(), "no".to_string())];
        let cfg = Arc::new(cfg.with_overrides(&off));
        let mut ctx = SmtpdContext::new(cfg, queue, wake)?;
        ctx.sink = Sink::Postdrop(postdrop);
        ctx.stand_alone = true;
        Ok(ctx)
    }

    /// Whether cleanup should add missing Message-Id:/Date:/From: for this client
    /// (local_header_rewrite_clients); `cert`: the client certificate of a TLS session.
    pub fn rewrite_headers_for(
        &self,
        client: (&str, IpAddr),
        sasl_authenticated: bool,
        cert: Option<&tls::negotiated::PeerCert>,
    ) -> bool {
        let (name, addr) = client;
        let listed = |c: &tls::negotiated::PeerCert| matches!(ccert::listed(self, c), Ok(true));
        self.header_rewrite_clients
            .iter()
            .any(|c| match c.as_str() {
                "permit_inet_interfaces" => self.interface_addrs.contains(&addr),
                "permit_mynetworks" => self.mynetworks.contains_client(name, addr),
                "permit_sasl_authenticated" => sasl_authenticated,
                "permit_tls_clientcerts" => cert.is_some_and(listed),
                "permit_tls_all_clientcerts" => cert.is_some_and(|c| c.trusted || listed(c)),
                "static:all" => true,
                _ => false,
            })
    }
}

/// Counts sessions in flight so the accept loop can respect the process limit.
struct Slots {
    active: Mutex<usize>,
    changed: Condvar,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Releases a slot when a session thread ends, even by panic.
struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut n = self.0.lock();
        *n = n.saturating_sub(1);
        self.0.changed.notify_all();
    }
}

/// Accept loop in its own thread: one thread per client, at most `maxproc` at once (extra
/// clients wait in the listen backlog); a thread whose session ended waits for the next
/// client (`pool`). Reads `ctx` per accepted connection so SIGHUP can
/// swap it. Each session is entered in `sessions` (so a stop can end idle ones, see
/// `stopping`). Once `sessions.stop_accepting()` was called it stops accepting (the master
/// then connects once to wake a blocking accept), closes the listening socket at once, and
/// returns after in-flight sessions end.
pub fn serve(
    listener: TcpListener,
    ctx: crate::Shared<SmtpdContext>,
    maxproc: usize,
    sessions: Arc<stopping::Sessions>,
) -> JoinHandle<()> {
    let maxproc = maxproc.max(1);
    std::thread::spawn(move || {
        let slots = Arc::new(Slots {
            active: Mutex::new(0),
            changed: Condvar::new(),
        });
        let pool = pool::Pool::new("smtpd", maxproc.min(pool::KEEP_IDLE), pool::IDLE_TIME);
        loop {
            {
                let mut n = slots.lock();
                while *n >= maxproc && !sessions.accepting_stopped() {
                    n = slots.changed.wait(n).unwrap_or_else(|e| e.into_inner());
                }
            }
            if sessions.accepting_stopped() {
                break;
            }
            let (stream, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) => {
                    if sessions.accepting_stopped() {
                        break;
                    }
                    crate::log::warning("smtpd", format!("accept: {}", e));
                    // EMFILE and friends: back off briefly instead of spinning.
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if sessions.accepting_stopped() {
                break;
            }
            let current = ctx.read().unwrap_or_else(|e| e.into_inner()).clone();
            *slots.lock() += 1;
            let guard = SlotGuard(slots.clone());
            let sessions = sessions.clone();
            let spawned = pool.execute(move || {
                let _guard = guard;
                let _registered = sessions.register(&stream);
                let _ = stream.set_read_timeout(Some(current.timeout));
                let _ = stream.set_write_timeout(Some(current.timeout));
                let _ = stream.set_nodelay(true);
                let client = ClientInfo::lookup_with(peer, &*current.peer_lookup);
                session(stream, client, &current);
            });
            if let Err(e) = spawned {
                crate::log::warning("smtpd", format!("cannot start a session thread: {}", e));
            }
        }
        // Clients that connect from now on are refused by the kernel, not left waiting.
        drop(listener);
        pool.close();
        let mut n = slots.lock();
        while *n > 0 {
            n = slots.changed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    })
}

#[cfg(test)]
mod tests;
