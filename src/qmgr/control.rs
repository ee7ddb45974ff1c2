//! The scheduler's control FIFOs (Postfix's qmgr trigger, public/qmgr).
//!
//! `public/qmgr` (mode 0622, in the 0710 mail_owner:setgid_group directory, so reached by
//! root, mail_owner and the set-gid postqueue) takes wake-up requests any local user may
//! make through postqueue: flush everything (`postqueue -f`, `sendmail -q`), one message
//! (`postqueue -i ID`), one site (`postqueue -s site`). `private/qmgr` (mode 0600, in the
//! 0700 private/ directory: root and mail_owner only) also takes postsuper's requests on
//! messages the scheduler owns (delete, hold, requeue an active message).
//!
//! A request is one line (`F`, `I ID`, `S site`, `D ID`, `H ID`, `R ID`) written with one
//! write(2) of less than PIPE_BUF bytes, so concurrent writers never interleave. A reader
//! thread per FIFO turns lines into scheduler wake-ups; malformed lines and privileged
//! requests on the public FIFO are logged as warnings and ignored.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use crossbeam_channel::Sender;

use super::{Admin, Wake};
use crate::log;
use crate::queue::{Queue, is_queue_id};

const COMPONENT: &str = "qmgr";

/// Longest site name accepted (a domain name).
const MAX_SITE: usize = 255;

/// A control request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Flush,
    FlushOne(String),
    FlushSite(String),
    Admin(Admin, String),
}

/// Why a request could not be sent.
#[derive(Debug)]
pub enum SendError {
    /// No scheduler reads the FIFO: the mail system is down.
    NotRunning,
    Io(io::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::NotRunning => write!(f, "mail system is down"),
            SendError::Io(e) => write!(f, "{}", e),
        }
    }
}

/// Whether `site` is acceptable as a domain for `postqueue -s`.
pub fn valid_site(site: &str) -> bool {
    !site.is_empty()
        && site.len() <= MAX_SITE
        && site
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'\\')
}

impl Request {
    /// The line written to the FIFO.
    pub fn encode(&self) -> String {
        match self {
            Request::Flush => "F\n".to_string(),
            Request::FlushOne(id) => format!("I {}\n", id),
            Request::FlushSite(s) => format!("S {}\n", s),
            Request::Admin(Admin::Delete, id) => format!("D {}\n", id),
            Request::Admin(Admin::Hold, id) => format!("H {}\n", id),
            Request::Admin(Admin::Requeue, id) => format!("R {}\n", id),
        }
    }

    /// Parse one line (without its newline).
    pub fn parse(line: &str) -> Option<Request> {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let id = || is_queue_id(arg).then(|| arg.to_string());
        Some(match verb {
            "F" if arg.is_empty() => Request::Flush,
            "I" => Request::FlushOne(id()?),
            "S" if valid_site(arg) => Request::FlushSite(arg.to_ascii_lowercase()),
            "D" => Request::Admin(Admin::Delete, id()?),
            "H" => Request::Admin(Admin::Hold, id()?),
            "R" => Request::Admin(Admin::Requeue, id()?),
            _ => return None,
        })
    }

    /// Requests only root and mail_owner may make.
    pub fn privileged(&self) -> bool {
        matches!(self, Request::Admin(..))
    }

    fn into_wake(self) -> Wake {
        match self {
            Request::Flush => Wake::Flush,
            Request::FlushOne(id) => Wake::FlushOne(id),
            Request::FlushSite(s) => Wake::FlushSite(s),
            Request::Admin(op, id) => Wake::Admin(op, id),
        }
    }
}

/// The public FIFO (wake-ups).
pub fn public_fifo(queue: &Queue) -> PathBuf {
    queue.root().join("public").join("qmgr")
}

/// The private FIFO (postsuper's requests).
pub fn private_fifo(queue: &Queue) -> PathBuf {
    queue.root().join("private").join("qmgr")
}

/// Send a request to the running scheduler (never blocks).
pub fn send(queue: &Queue, req: &Request) -> Result<(), SendError> {
    let path = if req.privileged() {
        private_fifo(queue)
    } else {
        public_fifo(queue)
    };
    let mut f = match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(f) => f,
        // No FIFO, or no reader on it: nothing is running.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(SendError::NotRunning),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Err(SendError::NotRunning),
        Err(e) => return Err(SendError::Io(e)),
    };
    if !f.metadata().map(|m| m.file_type()).is_ok_and(|t| {
        use std::os::unix::fs::FileTypeExt;
        t.is_fifo()
    }) {
        return Err(SendError::Io(io::Error::other(format!(
            "{} is not a FIFO",
            path.display()
        ))));
    }
    f.write_all(req.encode().as_bytes()).map_err(SendError::Io)
}

/// Create both FIFOs and start their reader threads (the master does this as mail_owner).
pub fn start(queue: &Queue, wake: Sender<Wake>) -> io::Result<()> {
    for (path, mode, privileged) in [
        (public_fifo(queue), 0o622, false),
        (private_fifo(queue), 0o600, true),
    ] {
        crate::sys::mkfifo(&path, mode)?;
        // mkfifo's mode is filtered by the umask.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        // Read and write, so the FIFO never reports end-of-file while we wait.
        let fifo = OpenOptions::new().read(true).write(true).open(&path)?;
        let wake = wake.clone();
        std::thread::Builder::new()
            .name(
                if privileged {
                    "qmgr-private"
                } else {
                    "qmgr-public"
                }
                .into(),
            )
            .spawn(move || read_loop(fifo, privileged, wake))?;
    }
    Ok(())
}

fn read_loop(mut fifo: std::fs::File, privileged: bool, wake: Sender<Wake>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match fifo.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warning(COMPONENT, format!("read control FIFO: {}", e));
                return;
            }
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            match Request::parse(&line) {
                Some(req) if req.privileged() && !privileged => log::warning(
                    COMPONENT,
                    "request reserved for postsuper on the public FIFO; ignored",
                ),
                Some(req) => {
                    if wake.send(req.into_wake()).is_err() {
                        return;
                    }
                }
                None => log::warning(
                    COMPONENT,
                    format!(
                        "malformed control request: {}",
                        crate::log::lines::printable(&line)
                    ),
                ),
            }
        }
        // A writer that never ends its line must not grow the buffer without bound.
        if pending.len() > 4096 {
            pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_lines_are_refused() {
        for r in [
            Request::Flush,
            Request::FlushOne("35EC31BB8035".into()),
            Request::FlushSite("example.com".into()),
            Request::Admin(Admin::Delete, "ABCDEF1".into()),
            Request::Admin(Admin::Hold, "ABCDEF1".into()),
            Request::Admin(Admin::Requeue, "ABCDEF1".into()),
        ] {
            let line = r.encode();
            assert_eq!(Request::parse(line.trim_end()), Some(r));
        }
        for bad in ["", "X", "F x", "I ../etc", "D t.1.2", "S ", "S a/b", "I"] {
            assert_eq!(Request::parse(bad), None, "{:?}", bad);
        }
        assert!(Request::Admin(Admin::Delete, "ABCDEF1".into()).privileged());
        assert!(!Request::Flush.privileged());
    }

    #[test]
    fn fifo_delivers_requests_and_refuses_privileged_ones_publicly() {
        let dir = std::env::temp_dir().join(format!("postern-ctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        assert!(matches!(
            send(&q, &Request::Flush),
            Err(SendError::NotRunning)
        ));
        let (tx, rx) = crossbeam_channel::unbounded();
        start(&q, tx).unwrap();
        send(&q, &Request::FlushOne("ABCDEF1".into())).unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(got, Wake::FlushOne("ABCDEF1".into()));
        // A forged privileged line on the public FIFO is ignored; the next one still works.
        let mut f = OpenOptions::new()
            .write(true)
            .open(public_fifo(&q))
            .unwrap();
        f.write_all(b"D ABCDEF1\nF\n").unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(got, Wake::Flush);
        send(&q, &Request::Admin(Admin::Hold, "ABCDEF1".into())).unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(got, Wake::Admin(Admin::Hold, "ABCDEF1".into()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
