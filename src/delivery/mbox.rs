//! UNIX mbox files as local(8) writes them: the record format and a crash-safe append.
//!
//! Record: `From SENDER  DATE` (two spaces, asctime date, `MAILER-DAEMON` for the null
//! sender), `Return-Path: <SENDER>`, `X-Original-To: ORIG`, `Delivered-To: RCPT`, the message
//! with every line that starts with `From ` quoted as `>From `, and one blank line.
//! Append: in-process path lock, dot-lock, fcntl lock (see `lock`), size check against
//! mailbox_size_limit, one write, fsync; on any error the file is truncated back to its
//! original size so a failed delivery never leaves a partial message behind.
//!
//! Security role: runs as the recipient (in the privileged helper's child) except
//! `create_owned`, which the root helper uses to create a new spool mailbox (O_EXCL,
//! O_NOFOLLOW, mode 0600) and give it to the recipient. Follows local(8), mbox(5) and
//! Postfix's mailbox_delivery_lock. Logs nothing; callers turn `Failure` into an outcome.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::Status;
use super::lock::{self, Dotlock, LockPolicy, PathGuard};

/// Why a mailbox or file could not be updated.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: Status,
    pub dsn: &'static str,
    /// Postfix-style reason, e.g. `error writing message: File too large`.
    pub reason: String,
}

impl Failure {
    fn defer(reason: String) -> Failure {
        Failure {
            status: Status::Deferred,
            dsn: "4.2.0",
            reason,
        }
    }

    /// Classify an I/O error met while writing: ENOSPC is a temporary resource problem
    /// (4.3.0), EDQUOT and EFBIG a permanent mailbox-full condition (5.2.2), the rest a
    /// temporary mailbox problem (4.2.0).
    pub fn from_write(context: &str, e: &io::Error) -> Failure {
        let (status, dsn) = match e.raw_os_error() {
            Some(libc::ENOSPC) => (Status::Deferred, "4.3.0"),
            Some(libc::EDQUOT) | Some(libc::EFBIG) => (Status::Bounced, "5.2.2"),
            _ => (Status::Deferred, "4.2.0"),
        };
        Failure {
            status,
            dsn,
            reason: format!("{}: {}", context, crate::tables::hash::io_text(e)),
        }
    }
}

/// The sender as it appears in a From_ line.
fn from_sender(sender: &str) -> &str {
    if sender.is_empty() {
        "MAILER-DAEMON"
    } else {
        sender
    }
}

/// `Return-Path:`, `X-Original-To:` and `Delivered-To:` headers, each with its LF.
pub fn delivery_headers(sender: &str, orig_to: &str, delivered_to: &str) -> Vec<u8> {
    format!(
        "Return-Path: <{}>\nX-Original-To: {}\nDelivered-To: {}\n",
        sender, orig_to, delivered_to
    )
    .into_bytes()
}

/// The `From SENDER  DATE` envelope line with its LF.
pub fn from_line(sender: &str, secs: i64) -> Vec<u8> {
    format!(
        "From {}  {}\n",
        from_sender(sender),
        crate::log::timefmt::asctime(secs)
    )
    .into_bytes()
}

/// Append `content` to `out`, quoting lines that start with `From ` as `>From `, and end it
/// with a newline if it lacks one.
pub fn push_quoted(out: &mut Vec<u8>, content: &[u8]) {
    for line in content.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
}

/// A complete mbox record for one delivery.
pub fn record(
    sender: &str,
    orig_to: &str,
    delivered_to: &str,
    content: &[u8],
    secs: i64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 256);
    out.extend_from_slice(&from_line(sender, secs));
    out.extend_from_slice(&delivery_headers(sender, orig_to, delivered_to));
    push_quoted(&mut out, content);
    out.push(b'\n');
    out
}

/// Create a missing mailbox with mode 0600 owned by `uid:gid` (the root helper, in the spool
/// directory). An existing file is left alone; a symlink or non-file is refused.
pub fn create_owned(path: &Path, uid: u32, gid: u32) -> Result<(), Failure> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
            .map_err(|e| Failure::defer(format!("cannot set file owner: {}", e))),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => check_regular(path),
        Err(e) => Err(Failure::defer(format!(
            "cannot create file: {}",
            crate::tables::hash::io_text(&e)
        ))),
    }
}

fn check_regular(path: &Path) -> Result<(), Failure> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(_) => Err(Failure::defer(format!(
            "destination {} is not a regular file",
            path.display()
        ))),
        Err(e) => Err(Failure::defer(format!(
            "cannot open file: {}",
            crate::tables::hash::io_text(&e)
        ))),
    }
}

/// What `append` may do besides writing.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// Create the file (mode 0600, as the running user) when missing.
    pub create: bool,
    /// mailbox_size_limit; 0 is no limit.
    pub limit: u64,
    pub locks: LockPolicy,
}

/// Lock `path` and append `data` as one unit; see the module doc.
pub fn append(path: &Path, data: &[u8], opts: &AppendOptions) -> Result<(), Failure> {
    let _guard = PathGuard::acquire(path);
    let _dot = if opts.locks.dotlock {
        Some(Dotlock::acquire(path, &opts.locks).map_err(lock_failure)?)
    } else {
        None
    };
    let file = OpenOptions::new()
        .append(true)
        .create(opts.create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            Failure::defer(format!(
                "cannot open file: {}",
                crate::tables::hash::io_text(&e)
            ))
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Failure::defer(format!("cannot stat file: {}", e)))?;
    if !meta.file_type().is_file() {
        return Err(Failure::defer(format!(
            "destination {} is not a regular file",
            path.display()
        )));
    }
    if opts.locks.fcntl {
        lock::fcntl_lock(&file, &opts.locks).map_err(lock_failure)?;
    }
    let mut file = file;
    let result = append_or_rollback(&mut file, data, opts.limit, &mut |f, d| f.write_all(d));
    if opts.locks.fcntl {
        let _ = lock::fcntl_unlock(&file);
    }
    result
}

/// The failure for a lock that could not be had.
pub fn lock_failure(e: io::Error) -> Failure {
    Failure::defer(format!(
        "unable to lock for exclusive access: {}",
        crate::tables::hash::io_text(&e)
    ))
}

/// Write `data` at the end of the locked `file` with `write`, then fsync; on failure put the
/// file back to its size before the call.
pub fn append_or_rollback(
    file: &mut File,
    data: &[u8],
    limit: u64,
    write: &mut dyn FnMut(&mut File, &[u8]) -> io::Result<()>,
) -> Result<(), Failure> {
    let orig = file
        .metadata()
        .map(|m| m.size())
        .map_err(|e| Failure::defer(format!("cannot stat file: {}", e)))?;
    if limit > 0 && orig + data.len() as u64 > limit {
        return Err(Failure::from_write(
            "error writing message",
            &io::Error::from_raw_os_error(libc::EFBIG),
        ));
    }
    let done = write(file, data).and_then(|()| file.sync_data());
    match done {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = file.set_len(orig);
            let _ = file.sync_data();
            Err(Failure::from_write("error writing message", &e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("postern-mbox-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn opts(limit: u64) -> AppendOptions {
        AppendOptions {
            create: true,
            limit,
            locks: LockPolicy {
                attempts: 2,
                delay: Duration::from_millis(1),
                ..LockPolicy::default()
            },
        }
    }

    #[test]
    fn record_shape() {
        let r = record(
            "",
            "orig",
            "u@h",
            b"Subject: x\n\nFrom here\nFromage\nlast",
            0,
        );
        let s = String::from_utf8(r).unwrap();
        let first = s.lines().next().unwrap();
        assert!(first.starts_with("From MAILER-DAEMON  "), "{}", first);
        assert_eq!(
            first.len(),
            "From MAILER-DAEMON  Thu Jan  1 00:00:00 1970".len()
        );
        let rest = &s[first.len() + 1..];
        assert_eq!(
            rest,
            "Return-Path: <>\nX-Original-To: orig\nDelivered-To: u@h\nSubject: x\n\n>From here\nFromage\nlast\n\n"
        );
    }

    #[test]
    fn append_creates_and_appends() {
        let d = tmpdir("append");
        let p = d.join("user");
        append(&p, b"one\n", &opts(0)).unwrap();
        append(&p, b"two\n", &opts(0)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one\ntwo\n");
        assert!(!d.join("user.lock").exists());
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn size_limit_bounces_and_leaves_file() {
        let d = tmpdir("limit");
        let p = d.join("user");
        std::fs::write(&p, b"0123456789").unwrap();
        let f = append(&p, b"abcdef", &opts(12)).unwrap_err();
        assert_eq!((f.status, f.dsn), (Status::Bounced, "5.2.2"));
        assert_eq!(f.reason, "error writing message: File too large");
        assert_eq!(std::fs::read(&p).unwrap(), b"0123456789");
    }

    #[test]
    fn write_error_truncates_back() {
        let d = tmpdir("trunc");
        let p = d.join("user");
        std::fs::write(&p, b"kept\n").unwrap();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        let r = append_or_rollback(&mut f, b"partial message\n", 0, &mut |f, d| {
            f.write_all(&d[..7])?;
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        });
        let fail = r.unwrap_err();
        assert_eq!((fail.status, fail.dsn), (Status::Deferred, "4.3.0"));
        assert_eq!(std::fs::read(&p).unwrap(), b"kept\n");
        let r = append_or_rollback(&mut f, b"x", 0, &mut |_, _| {
            Err(io::Error::from_raw_os_error(libc::EDQUOT))
        });
        assert_eq!(r.unwrap_err().dsn, "5.2.2");
    }

    #[test]
    fn directory_in_place_defers() {
        let d = tmpdir("dir");
        let p = d.join("user");
        std::fs::create_dir(&p).unwrap();
        let f = append(&p, b"x\n", &opts(0)).unwrap_err();
        assert_eq!((f.status, f.dsn), (Status::Deferred, "4.2.0"));
        assert!(f.reason.contains("Is a directory"), "{}", f.reason);
    }

    #[test]
    fn held_dotlock_defers() {
        let d = tmpdir("locked");
        let p = d.join("user");
        std::fs::write(d.join("user.lock"), b"").unwrap();
        let f = append(&p, b"x\n", &opts(0)).unwrap_err();
        assert_eq!((f.status, f.dsn), (Status::Deferred, "4.2.0"));
        assert!(
            f.reason.starts_with("unable to lock for exclusive access"),
            "{}",
            f.reason
        );
        assert!(!p.exists());
    }

    #[test]
    fn create_owned_refuses_symlink() {
        let d = tmpdir("own");
        let p = d.join("user");
        std::os::unix::fs::symlink("/etc/passwd", &p).unwrap();
        assert!(create_owned(&p, crate::sys::euid(), crate::sys::egid()).is_err());
        let q = d.join("new");
        create_owned(&q, crate::sys::euid(), crate::sys::egid()).unwrap();
        assert_eq!(std::fs::metadata(&q).unwrap().mode() & 0o777, 0o600);
    }
}
