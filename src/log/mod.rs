//! Logging: syslog (facility from syslog_facility, tag `$syslog_name/<component>[pid]`), or,
//! when `maillog_file` is set, that file instead (as Postfix 3.4 and later: one or the
//! other). Every log line Postern writes is formatted in `lines`, so pflogsumm and fail2ban
//! see exactly Postfix's formats. The PID field is the kernel thread ID of the thread that
//! logs (`sys::thread_id`): each SMTP session, delivery and service thread is one "process"
//! to log tools; the main thread's ID is the process ID.
//!
//! The file is written by `writer` (in the daemon through a flusher thread when lines come
//! faster than one write at a time, at once in commands and helpers) and reopened at
//! reload; a daemon that dropped its privileges has it opened by the root `postlogd` child.
//! If the file cannot be opened or written, lines go to syslog, after a warning there.
//!
//! Security role: log text may contain client-supplied strings (HELO names, addresses);
//! `lines` passes them through `printable` so a client cannot forge extra log lines.

mod anvil_lines;
mod cleanup_lines;
pub mod lines;
pub mod postlogd;
pub mod timefmt;
pub mod tls;
pub mod writer;

/// Replace control characters so a client cannot inject log lines (also `lines::printable`).
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

use std::fmt::Display;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Config;

/// Where lines go: read by every line without a lock held while it is formatted and
/// written (only the syslog socket, `SYSLOG`, is written under a lock).
struct Sinks {
    syslog_name: String,
    /// $maillog_file (empty: syslog).
    file_path: String,
    stderr: bool,
    hostname: String,
}

static SINKS: RwLock<Option<Arc<Sinks>>> = RwLock::new(None);

type SyslogLogger = syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>;

static SYSLOG: Mutex<Option<SyslogLogger>> = Mutex::new(None);

fn sinks() -> Option<Arc<Sinks>> {
    SINKS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn facility(name: &str) -> syslog::Facility {
    use syslog::Facility::*;
    match name {
        "user" => LOG_USER,
        "daemon" => LOG_DAEMON,
        "local0" => LOG_LOCAL0,
        "local1" => LOG_LOCAL1,
        "local2" => LOG_LOCAL2,
        "local3" => LOG_LOCAL3,
        "local4" => LOG_LOCAL4,
        "local5" => LOG_LOCAL5,
        "local6" => LOG_LOCAL6,
        "local7" => LOG_LOCAL7,
        _ => LOG_MAIL,
    }
}

/// The system's syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The host name in file lines: $myhostname's first label, as syslogd writes it.
pub fn short_hostname(myhostname: &str) -> String {
    myhostname
        .split('.')
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost")
        .to_string()
}

/// Set up logging from the configuration. `stderr` also copies lines to standard error
/// (commands run by hand, `postfix start-fg`). Called again at `postfix reload`: the file
/// is reopened when its path changed or names another file (a rotation).
pub fn init(cfg: &Config, stderr: bool) {
    init_with_socket(cfg, stderr, Path::new(SYSLOG_SOCKET))
}

/// `init`, with syslog messages sent to `socket` (tests use their own socket).
pub fn init_with_socket(cfg: &Config, stderr: bool, socket: &Path) {
    let syslog_name = cfg.get("syslog_name").to_string();
    let formatter = syslog::Formatter3164 {
        facility: facility(cfg.get("syslog_facility")),
        hostname: None,
        process: syslog_name.clone(),
        pid: std::process::id(),
    };
    let syslog = if socket.exists() {
        syslog::unix_custom(formatter, socket).ok()
    } else {
        None
    };
    let path = cfg.get("maillog_file").to_string();
    // The logger first: a line logged meanwhile finds it once it finds the sinks.
    *SYSLOG.lock().unwrap_or_else(|e| e.into_inner()) = syslog;
    let mut guard = SINKS.write().unwrap_or_else(|e| e.into_inner());
    // A reload keeps start-fg's copy to standard error.
    let stderr = stderr || guard.as_ref().is_some_and(|s| s.stderr);
    *guard = Some(Arc::new(Sinks {
        syslog_name,
        file_path: path.clone(),
        stderr,
        hostname: short_hostname(cfg.get("myhostname")),
    }));
    drop(guard);
    // An ordinary user's command (sendmail, postqueue) may not write a root-owned file:
    // its lines go to syslog, as Postfix's non-daemon programs' do, without a warning.
    if let Err(e) = writer::reopen(&path)
        && (crate::sys::is_root() || e.kind() != std::io::ErrorKind::PermissionDenied)
    {
        warning(
            "postlog",
            format!(
                "cannot open maillog_file {}: {}; logging to syslog",
                path, e
            ),
        );
    }
}

/// Have $maillog_file (re)opened by a root postlogd child (`program postlogd config_dir`):
/// for a daemon about to drop its privileges, so that the file can be reopened later.
pub fn start_postlogd(program: &Path, config_dir: &Path) -> std::io::Result<()> {
    writer::start_postlogd(program, config_dir)
}

/// Buffer file lines from now on, written by a flusher thread (the daemon).
pub fn start_buffering() -> std::io::Result<()> {
    writer::start_flusher()
}

/// Write every pending line now.
pub fn flush() {
    let _ = writer::flush();
    if writer::take_failure() {
        file_failed();
    }
}

/// Write every pending line and stop buffering (the daemon's end; no line is lost).
pub fn stop() {
    writer::stop_flusher();
}

/// Log a panic as a `panic:` line of `component` and write it at once, then run the
/// previous hook.
pub fn install_panic_hook(component: &'static str) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A panic inside `emit` (its locks held by this thread) is not logged again.
        if !IN_EMIT.with(|f| f.get()) {
            emit(component, Level::Err, &format!("panic: {}", info));
        }
        previous(info);
    }));
}

fn file_failed() {
    warning("postlog", "cannot write maillog_file; logging to syslog");
}

/// Write one line for `component` at informational level.
pub fn info(component: &str, msg: impl Display) {
    emit(component, Level::Info, &msg.to_string());
}

/// Write a `warning: ` line.
pub fn warning(component: &str, msg: impl Display) {
    emit(component, Level::Warning, &format!("warning: {}", msg));
}

/// Write a `fatal: ` line (the caller decides whether to exit).
pub fn fatal(component: &str, msg: impl Display) {
    emit(component, Level::Err, &format!("fatal: {}", msg));
}

enum Level {
    Info,
    Warning,
    Err,
}

thread_local! {
    /// This thread is inside `emit` (see `install_panic_hook`).
    static IN_EMIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };

    /// A per-thread $syslog_name for one component's lines (a master.cf service's
    /// `-o syslog_name=`): (component, syslog_name).
    static THREAD_SYSLOG_NAME: std::cell::RefCell<Option<(String, String)>> = const { std::cell::RefCell::new(None) };
}

/// Tag this thread's smtpd lines with `name` (e.g. `postfix/submission` gives
/// `postfix/submission/smtpd[pid]`), as Postfix does for a listener with
/// `-o syslog_name=...`; `None` goes back to the global $syslog_name.
pub fn set_thread_syslog_name(name: Option<&str>) {
    set_thread_syslog_name_for("smtpd", name);
}

/// Tag this thread's lines of `component` (the master.cf command, e.g. `smtp`) with
/// `name` as $syslog_name: a delivery service's `-o syslog_name=postfix/relay` gives
/// `postfix/relay/smtp[pid]`. Lines of other components keep the global $syslog_name;
/// `None` goes back to it for all.
pub fn set_thread_syslog_name_for(component: &str, name: Option<&str>) {
    THREAD_SYSLOG_NAME
        .with(|n| *n.borrow_mut() = name.map(|v| (component.to_string(), v.to_string())));
}

fn emit(component: &str, level: Level, msg: &str) {
    let was = IN_EMIT.with(|f| f.replace(true));
    emit_inner(component, level, msg);
    IN_EMIT.with(|f| f.set(was));
}

fn emit_inner(component: &str, level: Level, msg: &str) {
    if writer::take_failure() {
        file_failed();
    }
    let Some(s) = sinks() else {
        eprintln!("postfix/{}: {}", component, msg);
        return;
    };
    let own = THREAD_SYSLOG_NAME.with(|n| match n.borrow().as_ref() {
        Some((c, name)) if c == component => Some(name.clone()),
        _ => None,
    });
    let tag = format!("{}/{}", own.as_deref().unwrap_or(&s.syslog_name), component);
    let pid = crate::sys::thread_id();
    if s.stderr {
        eprintln!("{}: {}", tag, msg);
    }
    if !s.file_path.is_empty() && writer::active() {
        let line = format!(
            "{} {} {}[{}]: {}\n",
            timefmt::syslog_stamp(timefmt::now_secs()),
            s.hostname,
            tag,
            pid,
            msg
        );
        // fatal and panic lines are written at once.
        if writer::write(line.as_bytes(), matches!(level, Level::Err)).is_ok() {
            return;
        }
        if writer::take_failure() {
            file_failed();
        }
    }
    let mut guard = SYSLOG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(logger) = guard.as_mut() {
        logger.formatter.process = tag;
        logger.formatter.pid = pid;
        let _ = match level {
            Level::Info => logger.info(msg),
            Level::Warning => logger.warning(msg),
            Level::Err => logger.err(msg),
        };
    }
}
