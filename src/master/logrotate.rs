//! `postfix logrotate` (Postfix 3.4's postfix-script): rename $maillog_file to
//! `$maillog_file.SUFFIX` (SUFFIX = strftime($maillog_file_rotate_suffix)), have the running
//! mail system reopen the file (SIGHUP, as `postfix reload`), then compress the renamed file
//! with $maillog_file_compressor (run with the file as its argument, as Postfix does).
//!
//! Security role: run by root as the other `postfix` commands; the compressor is a program
//! named in main.cf (root-owned), run without a shell.
//!
//! Logs `fatal: empty 'NAME' parameter value - logfile rotation failed`, `fatal: not
//! rotating 'PATH'` (a /dev/ path), `fatal: logfile 'PATH' rotation failed: REASON` (tag
//! postfix/postfix-script), as Postfix's script does; nothing on success.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::control::{load, pid_path};
use super::pidfile;
use crate::log;
use crate::sys;

const SCRIPT: &str = "postfix-script";

/// How long to wait for the running system to reopen the file before compressing.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

/// `postfix logrotate`; the exit status.
pub fn logrotate(dir: &Path) -> i32 {
    let cfg = match load(dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut values = Vec::new();
    for name in [
        "maillog_file",
        "maillog_file_compressor",
        "maillog_file_rotate_suffix",
    ] {
        let v = cfg.get(name).to_string();
        if v.is_empty() {
            log::fatal(
                SCRIPT,
                format!("empty '{}' parameter value - logfile rotation failed", name),
            );
            return 1;
        }
        values.push(v);
    }
    let (file, compressor, suffix) = (&values[0], &values[1], &values[2]);
    if file.starts_with("/dev/") {
        log::fatal(SCRIPT, format!("not rotating '{}'", file));
        return 1;
    }
    match rotate(&cfg, Path::new(file), compressor, suffix) {
        Ok(()) => 0,
        Err(e) => {
            log::fatal(SCRIPT, format!("logfile '{}' rotation failed: {}", file, e));
            1
        }
    }
}

fn rotate(
    cfg: &crate::config::Config,
    file: &Path,
    compressor: &str,
    suffix: &str,
) -> Result<(), String> {
    let suffix = sys::strftime(suffix, crate::log::timefmt::now_secs())
        .ok_or_else(|| format!("bad maillog_file_rotate_suffix: {}", suffix))?;
    let mut rotated = file.as_os_str().to_owned();
    rotated.push(".");
    rotated.push(&suffix);
    let rotated = PathBuf::from(rotated);
    std::fs::rename(file, &rotated).map_err(|e| {
        format!(
            "cannot rename {} to {}: {}",
            file.display(),
            rotated.display(),
            e
        )
    })?;
    if let Some(pid) = pidfile::running(&pid_path(cfg)) {
        sys::kill(pid, libc::SIGHUP)
            .map_err(|e| format!("cannot signal the master process {}: {}", pid, e))?;
        // The system reopens the file at once (and logs its reload line into the new one);
        // Postfix's script sleeps one second here.
        let deadline = Instant::now() + REOPEN_WAIT;
        while !file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = Command::new(compressor)
        .arg(&rotated)
        .status()
        .map_err(|e| format!("{}: {}", compressor, e))?;
    if !status.success() {
        return Err(format!("{} {}: {}", compressor, rotated.display(), status));
    }
    Ok(())
}
