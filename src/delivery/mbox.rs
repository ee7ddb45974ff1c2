//! UNIX mbox files as local(8) writes them: the record format and a crash-safe append.
//!
//! Record: `From SENDER  DATE` (two spaces, asctime date, `MAILER-DAEMON` for the null
//! sender), `Return-Path: <SENDER>`, `X-Original-To: ORIG`, `Delivered-To: RCPT`, the message
//! with every line that starts with `From ` quoted as `>From `, and one blank line.
//! Append: in-process path lock, dot-lock, fcntl lock (see `lock`), size check against
//! mailbox_size_limit, one write, fsync; on any error the file is truncated back to its
//! original size so a failed delivery never leaves a partial message behind. Group commit
//! (`append_many`): several records under one lock with one fsync after the last; each
//! counts as delivered only once that fsync succeeded, and a failed record leaves no bytes.
//! Files are opened with O_NOFOLLOW and O_NONBLOCK (a FIFO without a reader fails instead
//! of blocking); a character device (`/dev/null` in an alias) is accepted only when the
//! caller allows it, and written without locks, limit, fsync or rollback.
//!
//! Security role: runs as the recipient (in the privileged helper's child) except
//! `create_owned`, which the root helper uses to create a new spool mailbox (O_EXCL,
//! O_NOFOLLOW, mode 0600) and give it to the recipient. Follows local(8), mbox(5) and
//! Postfix's mailbox_delivery_lock. Logs nothing; callers turn `Failure` into an outcome.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::Status;
use super::lock::{self, Attempt, Dotlock, LockPolicy, PathGuard};

/// Why a mailbox or file could not be updated.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: Status,
    pub dsn: &'static str,
    /// Postfix-style reason, e.g. `error writing message: File too large`.
    pub reason: String,
    /// The system error behind it, when there is one (for `with_default`).
    pub errno: Option<i32>,
}

/// The DSN for a system error not otherwise classified, for mailboxes (see
/// `error::errno_dsn`).
pub const MAILBOX_DSN: &str = "4.2.0";

impl Failure {
    fn defer(reason: String) -> Failure {
        Failure {
            status: Status::Deferred,
            dsn: MAILBOX_DSN,
            reason,
            errno: None,
        }
    }

    /// A failure from a system error: `CONTEXT: ERROR`, classified by
    /// `error::errno_dsn` with the mailbox default.
    pub fn from_write(context: &str, e: &io::Error) -> Failure {
        let reason = format!("{}: {}", context, crate::tables::hash::io_text(e));
        Failure::os(reason, e.raw_os_error())
    }

    /// A failure with this text, classified by the system error `errno`.
    fn os(reason: String, errno: Option<i32>) -> Failure {
        let (status, dsn) = match errno {
            Some(n) => super::error::errno_dsn(n, MAILBOX_DSN),
            None => (Status::Deferred, MAILBOX_DSN),
        };
        Failure {
            status,
            dsn,
            reason,
            errno,
        }
    }

    /// The same failure classified with another default for unclassified system errors
    /// (`5.2.0` for files named in aliases).
    pub fn with_default(self, default: &'static str) -> Failure {
        match self.errno {
            Some(n) => {
                let (status, dsn) = super::error::errno_dsn(n, default);
                Failure {
                    status,
                    dsn,
                    ..self
                }
            }
            None => self,
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
        Err(e) => Err(Failure::from_write("cannot create file", &e)),
    }
}

fn check_regular(path: &Path) -> Result<(), Failure> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(_) => Err(Failure::defer(format!(
            "destination {} is not a regular file",
            path.display()
        ))),
        Err(e) => Err(Failure::from_write("cannot open file", &e)),
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
    /// Accept a character device (e.g. `/dev/null` in an alias) and write to it without
    /// locks, size limit, fsync or rollback, as Postfix's file delivery does.
    pub devices: bool,
}

/// Lock `path` and append `data` as one unit; see the module doc.
pub fn append(path: &Path, data: &[u8], opts: &AppendOptions) -> Result<(), Failure> {
    first(append_many(path, &[data], opts))
}

/// The one result of a one-record call.
fn first(results: Vec<Result<(), Failure>>) -> Result<(), Failure> {
    results
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(Failure::defer("no result".into())))
}

/// Lock `path` once and append each record in order with one fsync after the last (group
/// commit); one result per record, none of them a success before that fsync. A record that
/// would take the mailbox past `opts.limit` fails alone (5.2.2); see `append_records` for
/// write and fsync errors. When the mailbox cannot be opened or locked, every record fails.
pub fn append_many(
    path: &Path,
    records: &[&[u8]],
    opts: &AppendOptions,
) -> Vec<Result<(), Failure>> {
    let all = |f: Failure| vec![Err(f); records.len()];
    if records.is_empty() {
        return Vec::new();
    }
    let _guard = PathGuard::acquire(path);
    match lock::retry(&opts.locks, || open_locked(path, opts)) {
        Ok(Opened::Device(dev)) => write_device(dev, records),
        Ok(Opened::Mailbox { mut file, dotlock }) => {
            let results =
                append_records(&mut file, records, opts.limit, &mut |f, d| f.write_all(d));
            if opts.locks.fcntl {
                let _ = lock::fcntl_unlock(&file);
            }
            drop(file);
            drop(dotlock);
            results
        }
        Err(f) => all(f),
    }
}

/// A destination opened by `open_locked`.
enum Opened {
    /// A regular file with the locks of the policy held (the fcntl lock on `file`).
    Mailbox {
        file: File,
        dotlock: Option<Dotlock>,
    },
    /// A character device, when allowed: no locks.
    Device(File),
}

/// One attempt at opening `path` for appending with its locks: the dot-lock, then the
/// file (created if allowed), then the fcntl lock, each tried once. A busy lock releases
/// everything taken so far (see the `lock` module doc) and asks for another attempt.
fn open_locked(path: &Path, opts: &AppendOptions) -> Attempt<Opened, Failure> {
    let dotlock = if opts.locks.dotlock {
        match Dotlock::attempt(path, &opts.locks) {
            Attempt::Done(d) => Some(d),
            Attempt::Busy(e) => return Attempt::Busy(dotlock_failure(e)),
            Attempt::Failed(e) => return Attempt::Failed(dotlock_failure(e)),
        }
    } else {
        None
    };
    let file = match OpenOptions::new()
        .append(true)
        .create(opts.create)
        .mode(0o600)
        // Never block in open(2) on a FIFO without a reader (ENXIO instead).
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return Attempt::Failed(Failure::from_write("cannot open file", &e)),
    };
    match file.metadata() {
        Ok(m) if m.file_type().is_file() => {}
        Ok(m) if opts.devices && m.file_type().is_char_device() => {
            return Attempt::Done(Opened::Device(file));
        }
        Ok(_) => {
            return Attempt::Failed(Failure::defer(format!(
                "destination {} is not a regular file",
                path.display()
            )));
        }
        Err(e) => return Attempt::Failed(Failure::defer(format!("cannot stat file: {}", e))),
    }
    if opts.locks.fcntl {
        match lock::fcntl_attempt(&file) {
            Attempt::Done(()) => {}
            Attempt::Busy(_) => return Attempt::Busy(fcntl_busy()),
            Attempt::Failed(e) => return Attempt::Failed(lock_failure(e)),
        }
    }
    Attempt::Done(Opened::Mailbox { file, dotlock })
}

/// Write each record to a character device; a write error fails that record and the rest.
fn write_device(mut dev: File, records: &[&[u8]]) -> Vec<Result<(), Failure>> {
    let mut results = Vec::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        if let Err(e) = dev.write_all(rec) {
            let f = Failure::from_write("error writing message", &e);
            results.extend(std::iter::repeat_n(Err(f), records.len() - i));
            break;
        }
        results.push(Ok(()));
    }
    results
}

/// The failure for an fcntl lock that could not be had: `unable to lock for exclusive
/// access: REASON` (Postfix's deliver_flock text); contention is EAGAIN (4.2.0).
pub fn lock_failure(e: io::Error) -> Failure {
    let errno = match e.raw_os_error() {
        Some(libc::EACCES) => Some(libc::EAGAIN),
        other => other,
    };
    let reason = format!(
        "unable to lock for exclusive access: {}",
        crate::tables::hash::io_text(&e)
    );
    Failure::os(reason, errno)
}

/// The failure when another process holds the fcntl lock (what every busy attempt
/// reports, so that a caller can tell it from other failures).
pub fn fcntl_busy() -> Failure {
    lock_failure(io::Error::from_raw_os_error(libc::EAGAIN))
}

/// The failure for a dot-lock that could not be created (`lock::Dotlock` gives Postfix's
/// text, `unable to create lock file PATH.lock: REASON`); a lock held by someone else is
/// EAGAIN (4.2.0), as in Postfix's mbox_open().
pub fn dotlock_failure(e: io::Error) -> Failure {
    let errno = if e.kind() == io::ErrorKind::AlreadyExists {
        Some(libc::EAGAIN)
    } else {
        e.raw_os_error()
    };
    Failure::os(crate::tables::hash::io_text(&e), errno)
}

/// Write `data` at the end of the locked `file` with `write`, then fsync; on failure put the
/// file back to its size before the call.
pub fn append_or_rollback(
    file: &mut File,
    data: &[u8],
    limit: u64,
    write: &mut dyn FnMut(&mut File, &[u8]) -> io::Result<()>,
) -> Result<(), Failure> {
    first(append_records(file, &[data], limit, write))
}

/// Write each record at the end of the locked `file` with `write`, then fsync once.
/// - A record that would take the file past `limit` (0: none) fails with 5.2.2 and is
///   skipped; later records may still fit.
/// - A write error truncates the file back to its size before the failing record; that
///   record and all later ones fail with the error's class (`Failure::from_write`), the
///   earlier ones are kept and covered by the fsync.
/// - If the fsync fails, the file goes back to its size before the call and every record
///   not already failed fails with that error's class.
pub fn append_records(
    file: &mut File,
    records: &[&[u8]],
    limit: u64,
    write: &mut dyn FnMut(&mut File, &[u8]) -> io::Result<()>,
) -> Vec<Result<(), Failure>> {
    let orig = match file.metadata() {
        Ok(m) => m.size(),
        Err(e) => {
            return vec![Err(Failure::defer(format!("cannot stat file: {}", e))); records.len()];
        }
    };
    let mut size = orig;
    let mut changed = false;
    let mut results = Vec::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        let len = rec.len() as u64;
        if limit > 0 && size.saturating_add(len) > limit {
            results.push(Err(Failure::from_write(
                "error writing message",
                &io::Error::from_raw_os_error(libc::EFBIG),
            )));
            continue;
        }
        changed = true;
        if let Err(e) = write(file, rec) {
            let _ = file.set_len(size);
            let f = Failure::from_write("error writing message", &e);
            results.extend(std::iter::repeat_n(Err(f), records.len() - i));
            break;
        }
        size += len;
        results.push(Ok(()));
    }
    if changed && let Err(e) = file.sync_data() {
        let _ = file.set_len(orig);
        let _ = file.sync_data();
        let f = Failure::from_write("error writing message", &e);
        for r in results.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(f.clone());
        }
    }
    results
}

#[cfg(test)]
#[path = "mbox_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "mbox_lock_tests.rs"]
mod lock_tests;
