//! The delivery transports, built from master.cf (master(5)), and the privileged
//! local-delivery helper that must be started while the master still runs as root.
//!
//! Every `unix` entry whose command is a delivery agent Postern implements becomes a
//! transport named after the service, as Postfix's master runs that command for it: one
//! registry (`REGISTRY`) maps the command (`smtp`, `local`, `virtual`, `error`, `discard`,
//! `lmtp`, `pipe`) to a constructor that gets the service name, the entry's arguments
//! (pipe(8)'s `flags=... user=... argv=...`) and the service's effective configuration
//! (main.cf with the entry's `-o name=value` overrides and `$service_name`). So a copied
//! entry such as `smtp-ipv4 unix - - n - - smtp -o smtp_helo_name=foo` is a transport
//! `smtp-ipv4` with its own HELO name. The stock transports (smtp, relay, local, virtual,
//! error, retry, discard, lmtp) exist even when master.cf has no entry for them (Postern's one
//! difference here: Postfix would defer their mail). A `unix` entry with a command Postern
//! lacks (spawn, a third-party agent) is no transport: its mail defers with "mail
//! transport unavailable" (the start-up warning says so, see
//! `Service::unsupported_reason`). A pipe(8) entry whose attributes are unusable (no
//! `user=`, `user=root`, an unknown flag) is a transport that defers all its mail with
//! 4.3.5 "mail system configuration error"; the start-up warning names the problem.
//!
//! Logs: each agent logs under its command name with the service's $syslog_name, as
//! Postfix's daemons do (process name = command): `postfix/smtp[pid]` for `smtp-ipv4`,
//! `postfix/relay/smtp[pid]` for 3.x's `relay ... smtp -o syslog_name=postfix/$service_name`.
//!
//! Security role: none beyond the agents'; runs as $mail_owner after the helper is started.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::config::master_cf::Service;
use crate::delivery::Agent;
use crate::delivery::error::{Fixed, Kind};
use crate::delivery::lmtp::Lmtp;
use crate::delivery::local::Local;
use crate::delivery::pipe::Pipe;
use crate::delivery::privileged::{HelperHandle, helper_program};
use crate::delivery::smtp::Smtp;
use crate::delivery::virtual_agent::Virtual;
use crate::delivery::{Outcome, Request};
use crate::dns::Resolve;

/// The privileged helper, when running as root.
pub type Helper = Option<Arc<HelperHandle>>;

/// Start the privileged helper (root only; an ordinary user delivers in-process).
pub fn start_helper(cfg: &Config) -> Result<Helper, String> {
    if !crate::sys::is_root() {
        return Ok(None);
    }
    let program = helper_program(cfg);
    HelperHandle::spawn(&program, cfg.dir())
        .map(|h| Some(Arc::new(h)))
        .map_err(|e| format!("start local delivery helper {}: {}", program.display(), e))
}

/// The resolver from /etc/resolv.conf (re-read at start and on reload); `None`, logged,
/// when it cannot be read, and DNS-based checks then answer "try again later".
pub fn system_resolver() -> Option<Arc<dyn crate::dns::Resolve>> {
    // Test hook (only with the `test-hooks` feature, never in a release build):
    // POSTERN_DNS_SERVER=ip:port points every lookup at one server (a fake DNS server on a
    // loopback port, which resolv.conf cannot express).
    #[cfg(feature = "test-hooks")]
    if let Ok(server) = std::env::var("POSTERN_DNS_SERVER")
        && let Ok(addr) = server.parse()
    {
        return Some(Arc::new(crate::dns::SystemResolver::with_servers(
            vec![addr],
            Duration::from_secs(2),
            2,
        )));
    }
    match crate::dns::SystemResolver::system() {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            crate::log::warning("master", format!("/etc/resolv.conf: {}", e));
            None
        }
    }
}

/// What every agent may share: the local-delivery helper and the DNS resolver.
pub struct Shared {
    pub helper: Helper,
    pub resolver: Arc<dyn Resolve>,
}

/// Builds the agent for one service: (shared parts, service name, the entry's arguments
/// after the command, service configuration).
type Constructor = fn(&Shared, &str, &[String], Arc<Config>) -> Arc<dyn Agent>;

/// The delivery agents Postern implements, by master.cf command
/// (`config::master_cf::AGENTS` names the same commands).
const REGISTRY: &[(&str, Constructor)] = &[
    ("smtp", smtp),
    ("local", local),
    ("virtual", virtual_agent),
    ("error", error),
    ("discard", discard),
    ("lmtp", lmtp),
    ("pipe", pipe),
];

/// The stock transports, present without a master.cf entry: (service, command).
const IMPLICIT: &[(&str, &str)] = &[
    ("local", "local"),
    ("virtual", "virtual"),
    ("smtp", "smtp"),
    ("relay", "smtp"),
    ("error", "error"),
    ("retry", "error"),
    ("discard", "discard"),
    ("lmtp", "lmtp"),
];

fn smtp(shared: &Shared, _service: &str, _args: &[String], cfg: Arc<Config>) -> Arc<dyn Agent> {
    let port = super::listen::port_of(cfg.get("smtp_tcp_port"))
        .unwrap_or(crate::delivery::smtp::DEFAULT_PORT);
    Arc::new(Smtp::new("smtp", cfg, shared.resolver.clone()).with_port(port))
}

fn lmtp(shared: &Shared, _service: &str, _args: &[String], cfg: Arc<Config>) -> Arc<dyn Agent> {
    let port = super::listen::port_of(cfg.get("lmtp_tcp_port"))
        .unwrap_or(crate::delivery::lmtp::DEFAULT_PORT);
    Arc::new(Lmtp::new("lmtp", cfg, shared.resolver.clone()).with_port(port))
}

fn pipe(shared: &Shared, service: &str, args: &[String], cfg: Arc<Config>) -> Arc<dyn Agent> {
    Arc::new(Pipe::new(service, args, cfg, shared.helper.clone()))
}

/// Why a pipe(8) entry cannot deliver (no `user=`, `user=root`, an unknown flag ...), for
/// the warning of `postfix start` and `postfix check`; `None` for other entries.
/// `single_user`: Postern runs without root.
pub fn pipe_problem(cfg: &Config, svc: &Service, single_user: bool) -> Option<String> {
    if svc.command != "pipe" || !svc.is_delivery_agent() {
        return None;
    }
    let cfg = service_config(cfg, svc);
    crate::delivery::pipe::attrs::parse(&svc.args, &cfg, single_user)
        .err()
        .map(|e| {
            format!(
                "service {} (unix pipe): {}; mail for transport {} is deferred \
                 (mail system configuration error)",
                svc.name, e, svc.name
            )
        })
}

fn local(shared: &Shared, _service: &str, _args: &[String], cfg: Arc<Config>) -> Arc<dyn Agent> {
    Arc::new(Local::new(cfg, shared.helper.clone()))
}

fn virtual_agent(
    shared: &Shared,
    _service: &str,
    _args: &[String],
    cfg: Arc<Config>,
) -> Arc<dyn Agent> {
    Arc::new(Virtual::new(cfg, shared.helper.clone()))
}

/// error(8) bounces as the `error` service and defers as `retry` (Postfix decides by the
/// service name; `Service::is_delivery_agent` admits no other name).
fn error(_shared: &Shared, service: &str, _args: &[String], _cfg: Arc<Config>) -> Arc<dyn Agent> {
    let kind = if service == "retry" {
        Kind::Retry
    } else {
        Kind::Error
    };
    Arc::new(Fixed::new(kind, "error"))
}

fn discard(
    _shared: &Shared,
    _service: &str,
    _args: &[String],
    _cfg: Arc<Config>,
) -> Arc<dyn Agent> {
    Arc::new(Fixed::new(Kind::Discard, "discard"))
}

/// A service's effective configuration: main.cf, `$service_name`, then its `-o` overrides.
pub fn service_config(cfg: &Config, svc: &Service) -> Config {
    let mut overrides = vec![("service_name".to_string(), svc.name.clone())];
    overrides.extend(svc.overrides.iter().cloned());
    cfg.with_overrides(&overrides)
}

/// The `-o` overrides of a transport that have no effect in Postern, for the start-up
/// warning: as for listeners (unknown, not implemented, process-wide), except that an empty
/// value of an unknown parameter asks for nothing Postern does (2.10's stock `relay` entry
/// has `-o smtp_fallback_relay=`); and the SMTP client does not follow $inet_protocols.
pub fn ineffective_overrides(cfg: &Config, svc: &Service) -> Vec<String> {
    let mut idle: Vec<String> = super::listen::ineffective_overrides(cfg, svc)
        .into_iter()
        .filter(|o| !o.ends_with('='))
        .collect();
    if svc.command == "smtp" {
        for (name, value) in &svc.overrides {
            if name == "inet_protocols" {
                idle.push(format!("-o {}={}", name, value));
            }
        }
    }
    idle
}

/// One transport: the agent its command names, run with the service's $syslog_name.
struct Transport {
    agent: Arc<dyn Agent>,
    syslog_name: String,
}

impl Transport {
    /// Tag this worker thread's lines of the agent (its command) with the service's
    /// $syslog_name; the workers log the outcomes on the same thread.
    fn tag(&self) {
        crate::log::set_thread_syslog_name_for(self.agent.name(), Some(&self.syslog_name));
    }
}

impl Agent for Transport {
    /// The command (`smtp`, `local`, ...): the log component, as Postfix's process name.
    fn name(&self) -> &str {
        self.agent.name()
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.tag();
        self.agent.deliver(req)
    }

    fn deliver_batch(&self, reqs: &[Request<'_>]) -> Vec<Vec<Outcome>> {
        self.tag();
        self.agent.deliver_batch(reqs)
    }

    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        self.tag();
        self.agent.verify(req)
    }
}

/// The agent for `service` running `command`, or `None` when Postern has no such agent.
fn construct(
    shared: &Shared,
    service: &str,
    command: &str,
    args: &[String],
    cfg: Arc<Config>,
) -> Option<Arc<dyn Agent>> {
    let (_, make) = REGISTRY.iter().find(|(c, _)| *c == command)?;
    let syslog_name = cfg.get("syslog_name").to_string();
    Some(Arc::new(Transport {
        agent: make(shared, service, args, cfg),
        syslog_name,
    }))
}

/// The transports by name: the stock ones, then every master.cf `unix` service (a known
/// agent replaces or adds its transport; an unknown command removes it, so its mail defers
/// as "mail transport unavailable" rather than going to an agent the entry did not name).
pub fn transports(
    cfg: &Arc<Config>,
    services: &[Service],
    shared: &Shared,
) -> HashMap<String, Arc<dyn Agent>> {
    let mut agents: HashMap<String, Arc<dyn Agent>> = HashMap::new();
    for (name, command) in IMPLICIT {
        if let Some(a) = construct(shared, name, command, &[], cfg.clone()) {
            agents.insert(name.to_string(), a);
        }
    }
    for svc in services.iter().filter(|s| s.kind == "unix") {
        let built = if svc.is_delivery_agent() {
            construct(
                shared,
                &svc.name,
                &svc.command,
                &svc.args,
                Arc::new(service_config(cfg, svc)),
            )
        } else {
            None
        };
        match built {
            Some(a) => agents.insert(svc.name.clone(), a),
            None => agents.remove(&svc.name),
        };
    }
    agents
}

/// The most worker threads of each master.cf transport: its maxproc column (`-` is the
/// service's $default_process_limit, 0 "no limit"), at most `qmgr::MAX_POOL`. A worker pool
/// is made on a transport's first delivery, starts threads on demand up to that limit and
/// keeps the limit until a restart.
pub fn process_limits(cfg: &Config, services: &[Service]) -> HashMap<String, usize> {
    let max = crate::qmgr::MAX_POOL;
    services
        .iter()
        .filter(|s| s.is_delivery_agent())
        .map(|s| {
            let n = match s.maxproc {
                Some(0) => max,
                Some(n) => n as usize,
                None => service_config(cfg, s)
                    .int("default_process_limit")
                    .clamp(1, max as i64) as usize,
            };
            (s.name.clone(), n.clamp(1, max))
        })
        .collect()
}

/// The resolver the SMTP client uses: the system's, or one whose every lookup is a
/// temporary failure (so mail waits) when /etc/resolv.conf cannot be read.
fn client_resolver() -> Arc<dyn Resolve> {
    match system_resolver() {
        Some(r) => r,
        None => Arc::new(crate::dns::SystemResolver::with_servers(
            Vec::new(),
            Duration::from_secs(1),
            1,
        )),
    }
}

/// Build the transports for main.cf `cfg` and master.cf `services`.
pub fn build(
    cfg: &Arc<Config>,
    services: &[Service],
    helper: Helper,
) -> HashMap<String, Arc<dyn Agent>> {
    let shared = Shared {
        helper,
        resolver: client_resolver(),
    };
    transports(cfg, services, &shared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::master_cf;
    use crate::delivery::Status;
    use crate::queue::Recipient;
    use std::path::Path;
    use std::time::SystemTime;

    fn build_from(master: &str) -> (Arc<Config>, HashMap<String, Arc<dyn Agent>>) {
        let cfg = Arc::new(Config::from_pairs(
            Path::new("/nonexistent"),
            &[("myhostname", "www.a.org")],
        ));
        let services = master_cf::parse(master, "master.cf").unwrap();
        let shared = Shared {
            helper: None,
            resolver: Arc::new(crate::dns::SystemResolver::with_servers(
                Vec::new(),
                Duration::from_secs(1),
                1,
            )),
        };
        let agents = transports(&cfg, &services, &shared);
        (cfg, agents)
    }

    fn status(agent: &dyn Agent, nexthop: &str) -> Status {
        let rcpts = [Recipient::new("u@x.test")];
        let req = Request {
            queue_id: "ABCDEF1",
            sender: "s@y.test",
            arrival: SystemTime::now(),
            content: b"x\n",
            recipients: &rcpts,
            nexthop,
            ret: None,
            envid: None,
            attrs: &[],
        };
        agent.deliver(&req)[0].status
    }

    #[test]
    fn stock_transports_exist_without_entries() {
        let (_, agents) = build_from("pickup fifo n - n 60 1 pickup\n");
        for (name, command) in IMPLICIT {
            assert_eq!(agents[*name].name(), *command, "{}", name);
        }
        assert_eq!(status(agents["retry"].as_ref(), "text"), Status::Deferred);
        assert_eq!(status(agents["error"].as_ref(), "text"), Status::Bounced);
        assert_eq!(status(agents["discard"].as_ref(), "text"), Status::Sent);
    }

    #[test]
    fn copied_services_are_transports_by_their_command() {
        let (_, agents) = build_from(
            "smtp-copy unix - - n - - smtp -o smtp_helo_name=copy.example\n\
             local2 unix - n n - - local\n\
             retry unix - - n - - error\n\
             error2 unix - - n - - error\n\
             bin unix - - n - - discard\n",
        );
        assert_eq!(agents["smtp-copy"].name(), "smtp");
        assert_eq!(agents["local2"].name(), "local");
        assert_eq!(status(agents["retry"].as_ref(), "x"), Status::Deferred);
        assert_eq!(status(agents["bin"].as_ref(), "x"), Status::Sent);
        assert!(
            !agents.contains_key("error2"),
            "error(8) only as error/retry"
        );
    }

    #[test]
    fn unknown_commands_are_no_transport() {
        let (_, agents) = build_from(
            "policy unix - n n - - spawn\n\
             smtp unix - - n - - spawn\n\
             relay inet n - n - - smtp\n",
        );
        for name in ["policy", "smtp"] {
            assert!(!agents.contains_key(name), "{}", name);
        }
        // Not a unix entry: the stock relay transport is untouched.
        assert!(agents.contains_key("relay"));
    }

    #[test]
    fn lmtp_and_pipe_entries_are_transports() {
        let (_, agents) = build_from(
            "lmtp unix - - n - - lmtp\n\
             dovecot unix - - n - - lmtp -o lmtp_lhlo_name=me.test\n\
             maildrop unix - n n - - pipe flags=DRhu user=vmail argv=maildrop -d ${recipient}\n",
        );
        assert_eq!(agents["lmtp"].name(), "lmtp");
        assert_eq!(agents["dovecot"].name(), "lmtp");
        assert_eq!(agents["maildrop"].name(), "pipe");
    }

    #[test]
    fn process_limits_from_maxproc() {
        let cfg = Config::from_pairs(Path::new("/nonexistent"), &[("default_process_limit", "7")]);
        let services = master_cf::parse(
            "one unix - - n - 1 smtp\nall unix - - n - 0 smtp\nmany unix - - n - 500 smtp\ndflt unix - - n - - local\nown unix - - n - - smtp -o default_process_limit=3\nlmtp unix - - n - 4 lmtp\n",
            "m",
        )
        .unwrap();
        let l = process_limits(&cfg, &services);
        let max = crate::qmgr::MAX_POOL;
        assert_eq!(
            (l["one"], l["all"], l["many"], l["dflt"], l["own"]),
            (1, max, max, 7, 3)
        );
        assert_eq!(l["lmtp"], 4);
    }

    #[test]
    fn ineffective_transport_overrides() {
        let s = master_cf::parse(
            "relay unix - - n - - smtp -o smtp_fallback_relay= -o smtp_helo_name=h\n\
             v4 unix - - n - - smtp -o inet_protocols=ipv4 -o no_such_thing=1 -o maillog_file=/x\n",
            "m",
        )
        .unwrap();
        let cfg = Config::from_pairs(Path::new("/nonexistent"), &[]);
        assert!(ineffective_overrides(&cfg, &s[0]).is_empty());
        assert_eq!(
            ineffective_overrides(&cfg, &s[1]),
            [
                "-o no_such_thing=1",
                "-o maillog_file=/x",
                "-o inet_protocols=ipv4"
            ]
        );
    }

    #[test]
    fn service_config_has_overrides_and_service_name() {
        let cfg = Config::from_pairs(Path::new("/nonexistent"), &[("syslog_name", "mail")]);
        let svc = &master_cf::parse(
            "relay unix - - n - - smtp -o syslog_name=postfix/$service_name -o smtp_helo_name=h.test\n",
            "m",
        )
        .unwrap()[0];
        let c = service_config(&cfg, svc);
        assert_eq!(c.get("syslog_name"), "postfix/relay");
        assert_eq!(c.get("smtp_helo_name"), "h.test");
        assert_eq!(cfg.get("syslog_name"), "mail");
    }
}
