//! master: start, reload and stop (Postfix's master(8) and postfix-script).
//!
//! `run_daemon` is the body of the running mail system: it loads main.cf and master.cf,
//! takes the pid-file lock, binds every smtpd `inet` service, and — when started as root —
//! starts the privileged local-delivery helper, then drops the whole process to $mail_owner
//! before any other thread exists. It then starts the scheduler (qmgr), the pickup of
//! locally submitted mail, the qmgr control FIFOs (public/qmgr, private/qmgr), the showq
//! listing socket (public/showq), and one accept loop per listener, and waits for signals:
//! SIGHUP re-reads the configuration (and rebuilds the delivery transports from main.cf and
//! master.cf, `agents`) without closing the listeners, SIGUSR1 flushes the
//! queue, SIGTERM closes the listeners, ends idle SMTP sessions at once and the others when their
//! transaction past DATA ends (at most `STOP_GRACE`), and exits once deliveries in progress end,
//! SIGINT exits at once (everything acknowledged is already on disk).
//!
//! Secrets: the files that hold secrets (mysql_*.cf passwords, TLS keys, the SASL
//! configuration; `crate::secrets::secret_files`) are read by the root master before the
//! drop and kept in the process-wide `crate::secrets` store; SIGHUP, running as $mail_owner,
//! has the root helper read them again (`preload`), before the smtpd contexts are rebuilt.
//!
//! Logging: as root with $maillog_file set, the file is handed to a root postlogd child
//! before the drop (`log::start_postlogd`); after the drop log lines are written by a
//! flusher thread (`log::start_buffering`), all written before exit (`log::stop`); SIGHUP
//! reopens the file (`log::init`), which `logrotate` relies on.
//!
//! Logs `daemon started -- version V, configuration DIR`, `reload -- ...`,
//! `terminating on signal N`, main.cf "unused parameter" warnings, the warnings and fatal
//! errors of the rule for parameters it does not implement (`unsupported`), and at stop
//! the anvil statistics of the SMTP listeners' client limits (smtpd::anvil).

mod agents;
pub mod check;
pub mod control;
pub mod foreign;
pub mod listen;
pub mod logrotate;
pub mod pidfile;
mod preload;
pub mod sasl_check;
pub mod unsupported;

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use crate::config::master_cf::{self, Service};
use crate::config::{Config, ConfigError};
use crate::log::{self, lines};
use crate::qmgr::{self, QmgrContext, Wake};
use crate::queue::Queue;
use crate::smtpd::anvil::Anvil;
use crate::smtpd::{self, SmtpdContext};
use crate::sys;

const COMPONENT: &str = "master";

/// Why the mail system could not start.
#[derive(Debug)]
pub enum MasterError {
    Config(ConfigError),
    MasterCf(String),
    AlreadyRunning(i32),
    Setup(String),
}

impl fmt::Display for MasterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterError::Config(e) => write!(f, "{}", e),
            MasterError::MasterCf(e) => write!(f, "{}", e),
            MasterError::AlreadyRunning(pid) => {
                write!(
                    f,
                    "the Postfix mail system is already running: PID: {}",
                    pid
                )
            }
            MasterError::Setup(e) => write!(f, "{}", e),
        }
    }
}

impl std::error::Error for MasterError {}

/// Load main.cf, log its unused-parameter warnings and apply $berkeley_db_read_buffer_size.
pub fn load_config(dir: &Path, component: &str) -> Result<Config, ConfigError> {
    let cfg = Config::load(dir)?;
    let read_buffer = cfg.int("berkeley_db_read_buffer_size");
    if read_buffer > 0 {
        crate::tables::hash::set_read_buffer_size(read_buffer.min(u32::MAX as i64) as u32);
    }
    let file = dir.join("main.cf").display().to_string();
    // Names that master.cf or other settings refer to (`$mua_client_restrictions`) are used.
    let master_cf = std::fs::read_to_string(dir.join("master.cf")).ok();
    for name in &crate::config::unused_names(&cfg, &cfg.explicit(), master_cf.as_deref()) {
        lines::unused_parameter(component, &file, name, cfg.get(name));
    }
    Ok(cfg)
}

/// Read and parse master.cf.
pub fn read_services(dir: &Path) -> Result<Vec<Service>, MasterError> {
    let path = dir.join("master.cf");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| MasterError::MasterCf(format!("open {}: {}", path.display(), e)))?;
    master_cf::parse(&text, &path.display().to_string())
        .map_err(|e| MasterError::MasterCf(e.to_string()))
}

/// pickup's configuration: main.cf with the `-o` overrides of master.cf's pickup entry
/// (e.g. `-o content_filter=` or `-o receive_override_options=...`).
fn pickup_config(cfg: &Config, services: &[Service]) -> Config {
    match services.iter().find(|s| s.command == "pickup") {
        Some(svc) => agents::service_config(cfg, svc),
        None => cfg.clone(),
    }
}

/// Load master.cf and warn about services Postern does not provide, pipe(8) entries that
/// cannot deliver (`agents::pipe_problem`) and `-o` overrides it ignores (on top of main.cf
/// `cfg`).
pub fn load_services(dir: &Path, cfg: &Config) -> Result<Vec<Service>, MasterError> {
    let path = dir.join("master.cf");
    let services = read_services(dir)?;
    for s in &services {
        if let Some(why) = agents::pipe_problem(cfg, s, !crate::sys::is_root()) {
            log::warning(
                COMPONENT,
                format!("{}: line {}: {}", path.display(), s.line, why),
            );
        }
        if let Some(why) = s.unsupported_reason() {
            log::warning(
                COMPONENT,
                format!("{}: line {}: {}", path.display(), s.line, why),
            );
        } else if s.is_smtpd_listener() || s.is_delivery_agent() {
            let idle = if s.is_smtpd_listener() {
                listen::ineffective_overrides(cfg, s)
            } else {
                agents::ineffective_overrides(cfg, s)
            };
            if !idle.is_empty() {
                log::warning(
                    COMPONENT,
                    format!(
                        "{}: line {}: service {}: {} not supported by Postern; ignored",
                        path.display(),
                        s.line,
                        s.name,
                        idle.join(", ")
                    ),
                );
            }
        }
    }
    Ok(services)
}

struct Listener {
    addr: SocketAddr,
    service: Service,
    ctx: crate::Shared<SmtpdContext>,
    handle: Option<JoinHandle<()>>,
}

/// What `run_daemon` should do once it is ready to serve.
pub struct Ready(pub Box<dyn FnOnce() + Send>);

/// Run the mail system until a stop signal. `ready` runs once the listeners are bound and
/// the pid file names this process.
pub fn run_daemon(config_dir: &Path, log_to_stderr: bool, ready: Ready) -> Result<(), MasterError> {
    let cfg = Config::load(config_dir).map_err(MasterError::Config)?;
    log::init(&cfg, log_to_stderr);
    let cfg = Arc::new(load_config(config_dir, COMPONENT).map_err(MasterError::Config)?);
    let services = load_services(config_dir, &cfg)?;
    if !unsupported::allowed(&cfg, &services, COMPONENT) {
        return Err(MasterError::Setup(
            "refusing to start: settings that Postern cannot honour (see above)".into(),
        ));
    }

    let queue = Queue::from_config(&cfg);
    queue
        .create_dirs()
        .map_err(|e| MasterError::Setup(format!("create queue directories: {}", e)))?;
    let owner = if sys::is_root() {
        Some(control::mail_owner(&cfg).map_err(MasterError::Setup)?)
    } else {
        None
    };
    if let Some((uid, gid, setgid)) = owner {
        control::set_queue_ownership(&queue, uid, gid, setgid).map_err(MasterError::Setup)?;
    }
    let pid_path = pidfile::path(queue.root());
    let pid = pidfile::acquire(&pid_path).map_err(|e| match e {
        pidfile::PidError::Running(p) => MasterError::AlreadyRunning(p),
        pidfile::PidError::Io(e) => {
            MasterError::Setup(format!("open {}: {}", pid_path.display(), e))
        }
    })?;

    let mut bound = Vec::new();
    for svc in services.iter().filter(|s| s.is_smtpd_listener()) {
        let svc_cfg = agents::service_config(&cfg, svc);
        let implicit = svc.inet_address().0.is_none();
        for addr in listen::addresses(&svc_cfg, svc).map_err(MasterError::Setup)? {
            let l = match listen::bind(addr) {
                Ok(l) => l,
                // A host without IPv6 still serves IPv4 when no address was asked for.
                Err(e) if addr.is_ipv6() && implicit => {
                    log::warning(COMPONENT, format!("{}; continuing with IPv4 only", e));
                    continue;
                }
                Err(e) => return Err(MasterError::Setup(e)),
            };
            let local = l
                .local_addr()
                .map_err(|e| MasterError::Setup(e.to_string()))?;
            bound.push((svc.clone(), local, l));
        }
    }

    // Sockets Postfix left where our FIFOs go (the listeners are bound: no other mail
    // system serves this host's SMTP ports, and the pid-file lock is ours).
    for line in foreign::replace(&queue).map_err(MasterError::Setup)? {
        log::warning(COMPONENT, line);
    }

    import_postfix_queue(&queue, owner);
    // Secret files are read now, as root, and kept (`preload`; reloads ask the helper).
    preload::at_start(&cfg, &services);
    let helper = agents::start_helper(&cfg).map_err(MasterError::Setup)?;
    // As Postfix's postlogd: a root process writes $maillog_file, so that it can be
    // reopened (reload, logrotate) after the drop.
    if owner.is_some() && !cfg.get("maillog_file").is_empty() {
        let program = crate::delivery::privileged::helper_program(&cfg);
        if let Err(e) = log::start_postlogd(&program, cfg.dir()) {
            log::warning(
                COMPONENT,
                format!(
                    "cannot start {} postlogd: {}; maillog_file is not reopened at reload",
                    program.display(),
                    e
                ),
            );
        }
    }
    if let Some((uid, gid, _)) = owner {
        sys::drop_privileges(uid, gid).map_err(|e| {
            MasterError::Setup(format!(
                "drop privileges to {}: {}",
                cfg.get("mail_owner"),
                e
            ))
        })?;
    }

    // As Postfix's postsuper run by `postfix start` (as mail_owner, so that a link
    // planted in the spool cannot lead root elsewhere): files go where hash_queue_names and
    // hash_queue_depth put them (a flat spool of an older Postern, or changed settings).
    let moved = queue.rehash(&mut |_, _| true);
    if moved > 0 {
        log::info(COMPONENT, log::lines::rehashed(moved));
    }

    // Log lines are written by a flusher thread from now on (`log::stop` at the end).
    log::install_panic_hook(COMPONENT);
    if let Err(e) = log::start_buffering() {
        log::warning(COMPONENT, format!("log flusher: {}; writing at once", e));
    }

    match qmgr::recover(&queue) {
        Ok((n, _)) if n > 0 => log::info(
            "qmgr",
            format!("recovered {} message(s) from the active queue", n),
        ),
        Ok(_) => {}
        Err(e) => log::warning("qmgr", format!("recover active queue: {}", e)),
    }

    let (wake_tx, wake_rx) = crossbeam_channel::unbounded();
    // One address verification cache for every listener and the scheduler; it survives
    // reloads (as Postfix's verify(8) keeps its map).
    let verify = Arc::new(crate::verify::Cache::new());
    let qctx = Arc::new(RwLock::new(Arc::new(QmgrContext {
        cfg: cfg.clone(),
        queue: queue.clone(),
        agents: agents::build(&cfg, &services, helper.clone()),
        process_limits: agents::process_limits(&cfg, &services),
        verify: Some(verify.clone()),
    })));
    let qmgr_handle = qmgr::start(qctx.clone(), wake_rx);
    // postqueue -f/-i/-s and postsuper's requests; the mailq listing for everyone.
    qmgr::control::start(&queue, wake_tx.clone())
        .map_err(|e| MasterError::Setup(format!("start qmgr control FIFOs: {}", e)))?;
    crate::showq::serve(queue.clone())
        .map_err(|e| MasterError::Setup(format!("start showq service: {}", e)))?;
    let pickup_stop = Arc::new(AtomicBool::new(false));
    let pickup_cfg: crate::Shared<Config> =
        Arc::new(RwLock::new(Arc::new(pickup_config(&cfg, &services))));
    let pickup_handle = crate::pickup::start(
        pickup_cfg.clone(),
        queue.clone(),
        wake_tx.clone(),
        pickup_stop.clone(),
    )
    .map_err(|e| MasterError::Setup(format!("start pickup: {}", e)))?;

    let sessions = smtpd::stopping::Sessions::new();
    // One anvil for every listener, as Postfix's one anvil(8) server.
    let anvil = Arc::new(Anvil::from_config(&cfg));
    let mut listeners = Vec::new();
    for (svc, addr, l) in bound {
        let svc_cfg = Arc::new(agents::service_config(&cfg, &svc));
        let shared = Shared {
            anvil: &anvil,
            verify: &verify,
        };
        let ctx = smtpd_context(svc_cfg.clone(), &svc, &shared, &queue, &wake_tx)
            .map_err(MasterError::Setup)?;
        let ctx = Arc::new(RwLock::new(Arc::new(ctx)));
        let maxproc = match svc.maxproc {
            Some(0) => usize::MAX,
            Some(n) => n as usize,
            None => svc_cfg.int("default_process_limit").max(1) as usize,
        };
        let handle = smtpd::serve(l, ctx.clone(), maxproc, sessions.clone());
        listeners.push(Listener {
            addr,
            service: svc,
            ctx,
            handle: Some(handle),
        });
    }

    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        .map_err(|e| MasterError::Setup(format!("signals: {}", e)))?;
    pidfile::publish(&pid)
        .map_err(|e| MasterError::Setup(format!("write {}: {}", pid_path.display(), e)))?;
    lines::daemon_started(cfg.get("mail_version"), &config_dir.display().to_string());
    (ready.0)();

    for sig in signals.forever() {
        match sig {
            SIGHUP => reload(
                config_dir,
                &listeners,
                &qctx,
                &pickup_cfg,
                &queue,
                &wake_tx,
                helper.clone(),
            ),
            SIGUSR1 => {
                let _ = wake_tx.send(Wake::Flush);
            }
            SIGINT => {
                lines::terminating(sig);
                log::stop();
                std::process::exit(0);
            }
            _ => {
                lines::terminating(sig);
                break;
            }
        }
    }

    stop_sessions(&sessions, &mut listeners);
    pickup_stop.store(true, Ordering::SeqCst);
    crate::pickup::poke(&queue);
    let _ = pickup_handle.join();
    anvil.log_statistics();
    let _ = wake_tx.send(Wake::Stop);
    let _ = qmgr_handle.join();
    crate::showq::withdraw(&queue);
    log::stop();
    drop(pid);
    Ok(())
}

/// Take over the messages a Postfix installation left in the queue (before the scheduler
/// sees the queue), loudly: each one is logged, and each file that cannot be read.
fn import_postfix_queue(queue: &Queue, owner: Option<(u32, u32, u32)>) {
    use crate::queue::postfix_import::{self, Owners};
    let owners = owner.map(|(uid, gid, setgid)| Owners { uid, gid, setgid });
    let (done, failed) = postfix_import::import(queue, owners);
    for i in &done {
        log::info(
            COMPONENT,
            format!(
                "{}: imported Postfix queue file from {} as {} in {} ({} recipient(s) to do)",
                i.old_id,
                i.from.dir_name(),
                i.new_id,
                i.to.dir_name(),
                i.recipients
            ),
        );
    }
    if !done.is_empty() {
        log::warning(
            COMPONENT,
            format!(
                "imported {} message(s) that Postfix left in {}",
                done.len(),
                queue.root().display()
            ),
        );
    }
    for line in failed {
        log::warning(COMPONENT, line);
    }
}

/// What every listener of one master shares: the anvil counters and the address
/// verification cache.
struct Shared<'a> {
    anvil: &'a Arc<Anvil>,
    verify: &'a Arc<crate::verify::Cache>,
}

/// An smtpd context for one listener, with the system resolver for the DNS checks, the
/// process-wide anvil counters (keyed by the master.cf service name) and the verification
/// cache.
fn smtpd_context(
    cfg: Arc<Config>,
    svc: &Service,
    shared: &Shared<'_>,
    queue: &Queue,
    wake: &crossbeam_channel::Sender<Wake>,
) -> Result<SmtpdContext, String> {
    let mut ctx = SmtpdContext::new(cfg, queue.clone(), wake.clone())?;
    ctx.resolver = agents::system_resolver();
    ctx.verify = Some(shared.verify.clone());
    ctx.limits.anvil = shared.anvil.clone();
    ctx.limits.service = svc.name.clone();
    Ok(ctx)
}

/// How long a stop waits for transactions past DATA before closing their connections (the
/// client was not answered yet, so it sends the message again later).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stop: close the listeners at once, end idle sessions, give transactions past DATA
/// `STOP_GRACE` to end, then close what is left and wait for the accept loops.
fn stop_sessions(sessions: &smtpd::stopping::Sessions, listeners: &mut [Listener]) {
    sessions.stop_accepting();
    for l in listeners.iter() {
        wake_accept(l.addr);
    }
    sessions.close_idle();
    if !sessions.wait_empty(STOP_GRACE) {
        log::warning(
            COMPONENT,
            format!(
                "closing {} SMTP session(s) still receiving a message",
                sessions.count()
            ),
        );
        sessions.shutdown_all();
    }
    for l in listeners.iter_mut() {
        if let Some(h) = l.handle.take() {
            let _ = h.join();
        }
    }
}

/// Unblock an accept loop waiting on `addr` by connecting to it once.
fn wake_accept(addr: SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let _ = TcpStream::connect_timeout(&target, std::time::Duration::from_secs(2));
}

fn reload(
    config_dir: &Path,
    listeners: &[Listener],
    qctx: &crate::Shared<QmgrContext>,
    pickup_cfg: &crate::Shared<Config>,
    queue: &Queue,
    wake: &crossbeam_channel::Sender<Wake>,
    helper: agents::Helper,
) {
    let loaded = load_config(config_dir, COMPONENT)
        .map_err(MasterError::Config)
        .and_then(|c| Ok((Arc::new(c), read_services(config_dir)?)))
        .and_then(|(c, s)| {
            let fatal = unsupported::check(&c, &s, COMPONENT);
            match fatal.is_empty() {
                true => Ok((c, s)),
                false => Err(MasterError::Setup(fatal.join("; "))),
            }
        });
    let (cfg, services) = match loaded {
        Ok(both) => both,
        Err(e) => {
            log::warning(
                COMPONENT,
                format!("reload failed, keeping the old configuration: {}", e),
            );
            return;
        }
    };
    log::init(&cfg, false);
    // The verification cache survives a reload: the scheduler's is every listener's too.
    let verify = qctx
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .verify
        .clone()
        .unwrap_or_default();
    preload::on_reload(&helper, &cfg, &services);
    for l in listeners {
        let svc_cfg = Arc::new(agents::service_config(&cfg, &l.service));
        // The counters survive a reload; every listener holds the same anvil.
        let anvil = l
            .ctx
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .limits
            .anvil
            .clone();
        anvil.set_time_unit(cfg.time("anvil_rate_time_unit"));
        let shared = Shared {
            anvil: &anvil,
            verify: &verify,
        };
        match smtpd_context(svc_cfg, &l.service, &shared, queue, wake) {
            Ok(ctx) => *l.ctx.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ctx),
            Err(e) => log::warning(
                COMPONENT,
                format!("reload of service {}: {}", l.service.name, e),
            ),
        }
    }
    let new = QmgrContext {
        cfg: cfg.clone(),
        queue: queue.clone(),
        agents: agents::build(&cfg, &services, helper),
        process_limits: agents::process_limits(&cfg, &services),
        verify: Some(verify),
    };
    *qctx.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
    let _ = wake.send(Wake::Reload);
    *pickup_cfg.write().unwrap_or_else(|e| e.into_inner()) =
        Arc::new(pickup_config(&cfg, &services));
    lines::reload(cfg.get("mail_version"), &config_dir.display().to_string());
}

/// The configuration directory's main.cf path (for messages).
pub fn main_cf(dir: &Path) -> PathBuf {
    dir.join("main.cf")
}
