//! The `postfix` command's actions (Postfix's postfix(1) and postfix-script): start,
//! start-fg, stop, abort, reload, flush, status, check. Messages go to standard error and
//! the mail log with the tag `postfix/postfix-script`, as Postfix's do.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Ready, check, load_config, pidfile, run_daemon};
use crate::config::Config;
use crate::log::{self, lines};
use crate::queue::{DIRECTORIES, Queue};
use crate::sys;

const SCRIPT: &str = "postfix-script";

/// uid and gid of $mail_owner and the gid of $setgid_group; refuses root.
pub fn mail_owner(cfg: &Config) -> Result<(u32, u32, u32), String> {
    let main_cf = cfg.dir().join("main.cf");
    let name = cfg.get("mail_owner");
    let user = sys::user_by_name(name)
        .map_err(|e| format!("lookup of mail_owner {}: {}", name, e))?
        .ok_or_else(|| {
            format!(
                "file {}: parameter mail_owner: unknown user name value: {}",
                main_cf.display(),
                name
            )
        })?;
    if user.uid == 0 {
        return Err(format!(
            "file {}: parameter mail_owner: user {} has privileged user ID",
            main_cf.display(),
            name
        ));
    }
    let group = cfg.get("setgid_group");
    let gid = sys::group_by_name(group)
        .map_err(|e| format!("lookup of setgid_group {}: {}", group, e))?
        .ok_or_else(|| {
            format!(
                "file {}: parameter setgid_group: unknown group name: {}",
                main_cf.display(),
                group
            )
        })?;
    Ok((user.uid, user.gid, gid))
}

/// Give the spool to $mail_owner (maildrop and public to group $setgid_group), as
/// Postfix's set-permissions does. Regular queue files inside are chowned too (never
/// through a link); maildrop files keep their submitter as owner.
pub fn set_queue_ownership(queue: &Queue, uid: u32, gid: u32, setgid: u32) -> Result<(), String> {
    for (name, _) in DIRECTORIES {
        let dir = queue.root().join(name);
        let (u, g) = match *name {
            "pid" => (0, 0),
            "maildrop" | "public" => (uid, setgid),
            _ => (uid, gid),
        };
        sys::chown(&dir, u, g).map_err(|e| format!("chown {}: {}", dir.display(), e))?;
        // maildrop files keep their owner: it is the submitting user (pickup logs it).
        if *name == "pid" || *name == "maildrop" {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                // Only regular files, and never through a symbolic link: the spool is
                // writable by mail_owner, and this runs as root.
                let regular = e.file_type().map(|t| t.is_file()).unwrap_or(false);
                if regular {
                    let _ = std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid));
                }
            }
        }
    }
    Ok(())
}

pub(super) fn load(dir: &Path) -> Result<Config, i32> {
    match load_config(dir, SCRIPT) {
        Ok(c) => {
            log::init(&c, true);
            Ok(c)
        }
        Err(e) => {
            eprintln!("postfix: fatal: {}", e);
            Err(1)
        }
    }
}

pub(super) fn pid_path(cfg: &Config) -> std::path::PathBuf {
    pidfile::path(Path::new(cfg.get("queue_directory")))
}

/// `postfix start`: start the mail system in the background; returns once it serves.
pub fn start(dir: &Path) -> i32 {
    let cfg = match load(dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(pid) = pidfile::running(&pid_path(&cfg)) {
        log::fatal(
            SCRIPT,
            format!("the Postfix mail system is already running: PID: {}", pid),
        );
        return 1;
    }
    // The master would refuse too; here main.cf's warnings and the refusal reach the
    // terminal (the master logs master.cf's warnings).
    let services = match super::read_services(dir) {
        Ok(s) => s,
        Err(e) => {
            log::fatal("postfix", &e);
            return 1;
        }
    };
    if !super::unsupported::allowed(&cfg, &services, SCRIPT) {
        return 1;
    }
    lines::starting();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            log::fatal(SCRIPT, format!("cannot find my own program: {}", e));
            return 1;
        }
    };
    let mut child = match Command::new(exe)
        .arg("-c")
        .arg(dir)
        .arg("__master")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            log::fatal(SCRIPT, format!("cannot start the mail system: {}", e));
            return 1;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if pidfile::running(&pid_path(&cfg)) == Some(child.id() as i32) {
            return 0;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            eprint!("{}", err);
            log::fatal(SCRIPT, format!("mail system startup failed ({})", status));
            return 1;
        }
        if Instant::now() > deadline {
            log::fatal(SCRIPT, "mail system startup timed out");
            return 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The background daemon's body (`postfix __master`, started by `start`).
pub fn daemon(dir: &Path) -> i32 {
    let ready = Ready(Box::new(|| {
        let _ = sys::detach_stdio();
    }));
    match run_daemon(dir, false, ready) {
        Ok(()) => 0,
        Err(e) => {
            log::fatal("master", &e);
            eprintln!("postfix/master: fatal: {}", e);
            1
        }
    }
}

/// `postfix start-fg`: run in the foreground, logging to standard error too.
pub fn start_fg(dir: &Path) -> i32 {
    if let Err(code) = load(dir) {
        return code;
    }
    lines::starting();
    match run_daemon(dir, true, Ready(Box::new(|| {}))) {
        Ok(()) => 0,
        Err(e) => {
            log::fatal("master", &e);
            1
        }
    }
}

fn signal_running(dir: &Path, signal: i32, what: Option<fn()>) -> Result<(Config, i32), i32> {
    let cfg = load(dir)?;
    match pidfile::running(&pid_path(&cfg)) {
        Some(pid) if pid > 0 => {
            if let Some(f) = what {
                f();
            }
            if let Err(e) = sys::kill(pid, signal) {
                log::fatal(
                    SCRIPT,
                    format!("cannot signal the master process {}: {}", pid, e),
                );
                return Err(1);
            }
            Ok((cfg, pid))
        }
        _ => {
            log::fatal(SCRIPT, "the Postfix mail system is not running");
            Err(1)
        }
    }
}

/// `postfix stop` (SIGTERM, wait for the exit) and `postfix abort` (SIGINT).
pub fn stop(dir: &Path, abort: bool) -> i32 {
    let sig = if abort { libc::SIGINT } else { libc::SIGTERM };
    let (cfg, _) = match signal_running(dir, sig, Some(lines::stopping)) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let deadline = Instant::now() + cfg.time("smtpd_timeout") + Duration::from_secs(60);
    while pidfile::running(&pid_path(&cfg)).is_some() {
        if Instant::now() > deadline {
            log::warning(SCRIPT, "the mail system is still stopping");
            return 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    0
}

/// `postfix reload` (SIGHUP).
pub fn reload(dir: &Path) -> i32 {
    match signal_running(dir, libc::SIGHUP, Some(lines::refreshing)) {
        Ok(_) => 0,
        Err(code) => code,
    }
}

/// `postfix flush` (SIGUSR1: retry deferred mail now).
pub fn flush(dir: &Path) -> i32 {
    match signal_running(dir, libc::SIGUSR1, None) {
        Ok(_) => 0,
        Err(code) => code,
    }
}

/// `postfix status`.
pub fn status(dir: &Path) -> i32 {
    let cfg = match load(dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match pidfile::running(&pid_path(&cfg)) {
        Some(pid) => {
            log::info(
                SCRIPT,
                format!("the Postfix mail system is running: PID: {}", pid),
            );
            0
        }
        None => {
            log::info(SCRIPT, "the Postfix mail system is not running");
            1
        }
    }
}

/// `postfix check`: the configuration loads (errors are fatal, exit 1), and Postern can
/// honour it (`super::unsupported`: settings it ignores are warnings, settings it may not
/// ignore are fatal, exit 1); missing queue
/// directories are created (as root with their owners); then, as Postfix's check-warn,
/// each problem with the spool's and the set-gid commands' owners and modes is one
/// `postfix/postfix-script: warning:` line naming its fix, and the exit status stays 0.
/// An ordinary user gets the mode checks only.
pub fn check(dir: &Path) -> i32 {
    let cfg = match load(dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let services = match super::load_services(dir, &cfg) {
        Ok(s) => s,
        Err(e) => {
            log::fatal("postfix", &e);
            return 1;
        }
    };
    // Settings Postern ignores are warned about; those it may not ignore are fatal.
    if !super::unsupported::allowed(&cfg, &services, SCRIPT) {
        return 1;
    }
    let q = Path::new(cfg.get("queue_directory"));
    if !q.is_dir() {
        log::fatal(
            "postfix",
            format!("queue directory {} does not exist", q.display()),
        );
        return 1;
    }
    let root = sys::is_root();
    // mail_owner and setgid_group must exist (configuration errors: fatal).
    let owners = if root {
        match mail_owner(&cfg) {
            Ok((uid, user_gid, gid)) => Some(check::Owners {
                user: cfg.get("mail_owner").to_string(),
                uid,
                user_gid,
                group: cfg.get("setgid_group").to_string(),
                gid,
            }),
            Err(e) => {
                log::fatal("postfix", e);
                return 1;
            }
        }
    } else {
        None
    };
    // As Postfix's check: create missing queue directories, with their owners.
    let missing: Vec<(&str, u32)> = DIRECTORIES
        .iter()
        .filter(|(name, _)| std::fs::symlink_metadata(q.join(name)).is_err())
        .copied()
        .collect();
    let queue = Queue::from_config(&cfg);
    if let Err(e) = queue.create_dirs() {
        log::fatal(
            "postfix",
            format!("create queue directories in {}: {}", q.display(), e),
        );
        return 1;
    }
    let mut problems = match &owners {
        Some(o) => {
            for (name, mode) in &missing {
                let (uid, gid, _) = check::expected(name, *mode, o);
                let path = q.join(name);
                let gid = gid.unwrap_or(if uid == 0 { 0 } else { o.user_gid });
                if let Err(e) = sys::chown(&path, uid, gid) {
                    log::fatal("postfix", format!("chown {}: {}", path.display(), e));
                    return 1;
                }
            }
            let mut p = check::account_problems(o);
            p.extend(check::queue_problems(q, o, true));
            p.extend(check::hash_problems(&queue, o, true));
            p.extend(check::command_problems(
                Path::new(cfg.get("command_directory")),
                o,
            ));
            p
        }
        None => {
            log::info(
                SCRIPT,
                "not running as root: owner and group checks of the queue directory and \
                 the set-gid commands skipped",
            );
            let me = check::Owners {
                user: String::new(),
                uid: sys::euid(),
                user_gid: sys::egid(),
                group: String::new(),
                gid: sys::egid(),
            };
            let mut p = check::queue_problems(q, &me, false);
            p.extend(check::hash_problems(&queue, &me, false));
            p
        }
    };
    problems.extend(super::foreign::problems(&queue));
    problems.extend(crate::queue::postfix_import::check_line(&queue));
    problems.extend(check::table_problems(&cfg.all()));
    for p in problems {
        log::warning(SCRIPT, p);
    }
    for line in super::sasl_check::report(&cfg, &services) {
        match line {
            super::sasl_check::Line::Info(t) => log::info(SCRIPT, t),
            super::sasl_check::Line::Warning(t) => log::warning(SCRIPT, t),
        }
    }
    0
}
