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
            devices: false,
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
    fn append_many_writes_what_sequential_appends_write() {
        let d = tmpdir("many");
        let (one, many) = (d.join("one"), d.join("many"));
        let recs: [&[u8]; 3] = [b"From a  x\n\nfirst\n\n", b"From b  x\n\n2\n\n", b"third\n"];
        for r in recs {
            append(&one, r, &opts(0)).unwrap();
        }
        let results = append_many(&many, &recs, &opts(0));
        assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
        assert_eq!(std::fs::read(&many).unwrap(), std::fs::read(&one).unwrap());
        assert_eq!(std::fs::metadata(&many).unwrap().mode() & 0o777, 0o600);
        assert!(!d.join("many.lock").exists());
        assert!(append_many(&many, &[], &opts(0)).is_empty());
    }

    #[test]
    fn append_many_rejects_only_the_record_over_the_limit() {
        let d = tmpdir("manylimit");
        let p = d.join("user");
        std::fs::write(&p, b"0123").unwrap();
        // 4 + 3 = 7 fits, 7 + 6 > 10 does not, 7 + 2 = 9 fits, 9 + 2 > 10 does not.
        let recs: [&[u8]; 4] = [b"abc", b"defghi", b"jk", b"lm"];
        let results = append_many(&p, &recs, &opts(10));
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[2], Ok(()));
        for k in [1, 3] {
            let f = results[k].clone().unwrap_err();
            assert_eq!((f.status, f.dsn), (Status::Bounced, "5.2.2"));
            assert_eq!(f.reason, "error writing message: File too large");
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"0123abcjk");
    }

    #[test]
    fn append_many_write_error_truncates_and_fails_the_rest() {
        let d = tmpdir("manyerr");
        let p = d.join("user");
        std::fs::write(&p, b"kept\n").unwrap();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        for (errno, status, dsn) in [
            (libc::ENOSPC, Status::Deferred, "4.3.0"),
            (libc::EDQUOT, Status::Bounced, "5.2.2"),
            (libc::EIO, Status::Deferred, "4.2.0"),
        ] {
            let mut calls = 0;
            let recs: [&[u8]; 4] = [b"one\n", b"two\n", b"three\n", b"four\n"];
            let results = append_records(&mut f, &recs, 0, &mut |f, d| {
                calls += 1;
                if calls == 3 {
                    // Half the record reaches the file before the error.
                    f.write_all(&d[..2])?;
                    return Err(io::Error::from_raw_os_error(errno));
                }
                f.write_all(d)
            });
            assert_eq!(calls, 3, "nothing is written after the error");
            assert_eq!(&results[..2], &[Ok(()), Ok(())]);
            for r in &results[2..] {
                let fail = r.clone().unwrap_err();
                assert_eq!((fail.status, fail.dsn), (status, dsn));
                assert!(fail.reason.starts_with("error writing message: "));
            }
            assert_eq!(std::fs::read(&p).unwrap(), b"kept\none\ntwo\n");
            f.set_len(5).unwrap();
        }
    }

    #[test]
    fn append_many_write_error_from_the_kernel() {
        // A real short write: a child process with RLIMIT_FSIZE just above the first record
        // gets EFBIG on the second; the first stays, the second and third fail (5.2.2).
        let d = tmpdir("fsize");
        let p = d.join("user");
        let recs: [&[u8]; 3] = [&[b'a'; 100], &[b'b'; 100], b"c"];
        let child = || {
            if crate::sys::set_file_size_limit(150).is_err() {
                return 2;
            }
            // No append_many here: its in-process path lock could have been held by another
            // test thread at the fork.
            let r = match OpenOptions::new().append(true).create(true).open(&p) {
                Ok(mut f) => append_records(&mut f, &recs, 0, &mut |f, d| f.write_all(d)),
                Err(_) => return 2,
            };
            let ok = r[0].is_ok()
                && r[1..].iter().all(|x| {
                    x.as_ref()
                        .is_err_and(|f| f.dsn == "5.2.2" && f.status == Status::Bounced)
                });
            if ok { 0 } else { 1 }
        };
        let (uid, gid) = (crate::sys::euid(), crate::sys::egid());
        // SAFETY: the test harness is multi-threaded, but the child takes no lock another
        // thread might hold (glibc's malloc is fork-safe; the path lock is avoided above),
        // touches only its own copies and ends with _exit().
        let pid = unsafe { crate::sys::fork_as(uid, gid, child) }.unwrap();
        assert_eq!(crate::sys::wait_pid(pid).unwrap(), 0);
        assert_eq!(std::fs::read(&p).unwrap(), vec![b'a'; 100]);
    }

    #[test]
    fn append_many_lock_failure_fails_every_record() {
        let d = tmpdir("manylocked");
        let p = d.join("user");
        std::fs::write(d.join("user.lock"), b"").unwrap();
        let results = append_many(&p, &[b"x\n", b"y\n"], &opts(0));
        assert_eq!(results.len(), 2);
        for r in results {
            let f = r.unwrap_err();
            assert!(
                f.reason.starts_with("unable to create lock file"),
                "{}",
                f.reason
            );
        }
        assert!(!p.exists());
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
        assert_eq!(
            f.reason,
            format!(
                "unable to create lock file {}: File exists",
                d.join("user.lock").display()
            )
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

#[cfg(test)]
#[path = "mbox_lock_tests.rs"]
mod lock_tests;
