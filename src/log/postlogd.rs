//! postlogd: the root process that writes $maillog_file for a mail system that dropped its
//! privileges (`local postlogd CONFIG_DIR`, started by the master before the drop), as
//! Postfix 3.4's postlogd(8) does for its unprivileged daemons.
//!
//! It reads log lines from standard input and appends them to the file; a NUL byte
//! (`writer::REOPEN`, sent at `postfix reload`) makes it read main.cf from CONFIG_DIR again
//! and open $maillog_file anew, so a renamed file (`postfix logrotate`) or a changed path
//! is followed without a restart. It exits at the end of its input (the master exited).
//!
//! Security role: runs as root and takes nothing but log text from the unprivileged master:
//! the path comes from main.cf, which only root can change, never from the pipe. A new file
//! gets mode 0600. Logs (into the file, as `postfix/postlogd[pid]`) a reopen that failed.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::writer::{REOPEN, open_append};
use crate::config::Config;

/// $maillog_file and the host name for log lines, from main.cf.
fn configured(config_dir: &Path) -> Option<(PathBuf, String)> {
    let cfg = Config::load(config_dir).ok()?;
    let path = cfg.get("maillog_file");
    let host = super::short_hostname(cfg.get("myhostname"));
    (!path.is_empty()).then(|| (PathBuf::from(path), host))
}

/// The child's body; the exit status.
pub fn main(config_dir: &Path) -> i32 {
    let Some((path, _)) = configured(config_dir) else {
        eprintln!(
            "postlogd: fatal: no maillog_file in {}",
            config_dir.display()
        );
        return 1;
    };
    let mut out = match open_append(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("postlogd: fatal: open {}: {}", path.display(), e);
            return 1;
        }
    };
    let mut input = std::io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 1,
        };
        let mut parts = buf[..n].split(|&b| b == REOPEN).peekable();
        while let Some(part) = parts.next() {
            let _ = out.write_all(part);
            if parts.peek().is_some() {
                out = reopen(config_dir, out);
            }
        }
    }
}

/// The file $maillog_file names now, or `old` (with a warning line in it) when it cannot be
/// opened.
fn reopen(config_dir: &Path, mut old: File) -> File {
    let Some((path, host)) = configured(config_dir) else {
        return old;
    };
    match open_append(&path) {
        Ok(f) => f,
        Err(e) => {
            let line = format!(
                "{} {} postfix/postlogd[{}]: warning: open {}: {}\n",
                super::timefmt::syslog_stamp(super::timefmt::now_secs()),
                host,
                std::process::id(),
                path.display(),
                e
            );
            let _ = old.write_all(line.as_bytes());
            old
        }
    }
}
