//! postlogd: the root process that opens $maillog_file for a mail system that dropped its
//! privileges (`local postlogd CONFIG_DIR`, started by the master before the drop), the
//! part of Postfix 3.4's postlogd(8) that needs root.
//!
//! Its standard input is a Unix socket to the master. For each byte the master sends (at
//! `postfix reload`), it reads main.cf from CONFIG_DIR, opens $maillog_file (created with
//! mode 0600) and sends the open file back (SCM_RIGHTS, tag `F`), or the byte `E` when it
//! cannot; the master then writes the file itself, so a line is in the file as soon as the
//! master wrote it. A renamed file (`postfix logrotate`) or a changed path is thus followed
//! without a restart. It exits at the end of its input (the master exited).
//!
//! Security role: runs as root and takes nothing from the unprivileged master but the
//! request byte: the path comes from main.cf, which only root can change. Logs (into the
//! old file, through the master) nothing itself; the master logs a failed reopen.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::writer::open_append;
use crate::config::Config;
use crate::sys;

/// The answer tags.
pub const OPENED: u8 = b'F';
pub const FAILED: u8 = b'E';

fn configured(config_dir: &Path) -> Option<PathBuf> {
    let cfg = Config::load(config_dir).ok()?;
    let path = cfg.get("maillog_file");
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The child's body; the exit status.
pub fn main(config_dir: &Path) -> i32 {
    let sock = sys::stdin_socket();
    let mut byte = [0u8];
    loop {
        match (&sock).read(&mut byte) {
            Ok(0) => return 0,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return 1,
        }
        let opened = configured(config_dir).map(|p| open_append(&p));
        let sent = match opened {
            Some(Ok(f)) => sys::send_fd(&sock, OPENED, f.as_raw_fd()),
            _ => std::io::Write::write_all(&mut &sock, &[FAILED]),
        };
        if sent.is_err() {
            return 1;
        }
    }
}
