//! Logging: syslog (facility from syslog_facility, tag `$syslog_name/<component>[pid]`) and,
//! for hosts without syslog, maillog_file. Every log line Postern writes is formatted in
//! `lines`, so pflogsumm and fail2ban see exactly Postfix's formats.
//!
//! Security role: log text may contain client-supplied strings (HELO names, addresses);
//! `lines` passes them through `printable` so a client cannot forge extra log lines.

pub mod lines;
pub mod timefmt;

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use crate::config::Config;

struct Sinks {
    syslog_name: String,
    syslog: Option<syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>>,
    file: Option<File>,
    file_path: String,
    stderr: bool,
    hostname: String,
}

static SINKS: Mutex<Option<Sinks>> = Mutex::new(None);

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

/// Set up logging from the configuration. `stderr` also copies lines to standard error
/// (commands run by hand, `postfix start-fg`). Safe to call again after a reload.
pub fn init(cfg: &Config, stderr: bool) {
    init_with_socket(cfg, stderr, std::path::Path::new(SYSLOG_SOCKET))
}

/// `init`, with syslog messages sent to `socket` (tests use their own socket).
pub fn init_with_socket(cfg: &Config, stderr: bool, socket: &std::path::Path) {
    let pid = std::process::id();
    let syslog_name = cfg.get("syslog_name").to_string();
    let formatter = syslog::Formatter3164 {
        facility: facility(cfg.get("syslog_facility")),
        hostname: None,
        process: syslog_name.clone(),
        pid,
    };
    let syslog = if socket.exists() {
        syslog::unix_custom(formatter, socket).ok()
    } else {
        None
    };
    let path = cfg.get("maillog_file");
    let mut guard = SINKS.lock().unwrap_or_else(|e| e.into_inner());
    // After the privilege drop the file may no longer be openable: keep the open one.
    let kept = match guard.as_mut() {
        Some(s) if s.file_path == path => s.file.take(),
        _ => None,
    };
    let file = if path.is_empty() {
        None
    } else if kept.is_some() {
        kept
    } else {
        OpenOptions::new().create(true).append(true).open(path).ok()
    };
    let hostname = cfg
        .get("myhostname")
        .split('.')
        .next()
        .unwrap_or("localhost")
        .to_string();
    *guard = Some(Sinks {
        syslog_name,
        syslog,
        file,
        file_path: path.to_string(),
        stderr,
        hostname,
    });
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
    let mut guard = SINKS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = guard.as_mut() else {
        eprintln!("postfix/{}: {}", component, msg);
        return;
    };
    let own = THREAD_SYSLOG_NAME.with(|n| match n.borrow().as_ref() {
        Some((c, name)) if c == component => Some(name.clone()),
        _ => None,
    });
    let tag = format!("{}/{}", own.as_deref().unwrap_or(&s.syslog_name), component);
    if let Some(logger) = s.syslog.as_mut() {
        logger.formatter.process = tag.clone();
        let _ = match level {
            Level::Info => logger.info(msg),
            Level::Warning => logger.warning(msg),
            Level::Err => logger.err(msg),
        };
    }
    if let Some(f) = s.file.as_mut() {
        let now = timefmt::now_secs();
        let line = format!(
            "{} {} {}[{}]: {}\n",
            timefmt::syslog_stamp(now),
            s.hostname,
            tag,
            std::process::id(),
            msg
        );
        let _ = f.write_all(line.as_bytes());
    }
    if s.stderr {
        eprintln!("{}: {}", tag, msg);
    }
}
