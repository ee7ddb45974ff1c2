//! postsuper(1): queue maintenance for the superuser (and mail_owner): -d (delete), -h
//! (hold), -H (release from hold), -r (requeue), each with a queue ID, `ALL`, or `-` (IDs
//! from standard input), optionally limited to named queues; -s (structure check and
//! repair); -p (purge temporary files).
//!
//! Live-queue safety: files outside active/ are moved with one rename(2) or unlink(2)
//! (`queue::admin`), which races safely with the scheduler. A message in active/ of a
//! running system belongs to the scheduler: the request goes through the private qmgr
//! FIFO, and the scheduler applies it when the message's deliveries in progress finish
//! (then it logs the line). Released and requeued messages are announced on the public
//! FIFO so they are delivered at once.
//!
//! Logs (maillog and standard error, as Postfix): `ID: removed`, `ID: placed on hold`,
//! `ID: released from hold`, `ID: requeued`; summaries `Deleted: N message(s)`, `Placed
//! on hold: ...`, `Released from hold: ...`, `Requeued: ...`; warnings for invalid and
//! unknown queue IDs and for files -s moved or removed.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use crate::log;
use crate::qmgr::Admin;
use crate::qmgr::control::{self, Request};
use crate::queue::admin::{self, Op};
use crate::queue::{
    DIRECTORIES, LOG_DIRS, Queue, QueueFile, QueueFileError, QueueName, hash, is_queue_id,
};

const COMPONENT: &str = "postsuper";

/// Temporary files older than this are purged by -p while the system runs.
pub const MAX_TEMP_AGE: Duration = Duration::from_secs(6 * 3600);

/// Log a line to the maillog and standard error (`postsuper: ...`).
pub fn say(msg: &str) {
    log::info(COMPONENT, msg);
    eprintln!("{}: {}", COMPONENT, msg);
}

/// Log a warning to the maillog and standard error.
pub fn warn(msg: &str) {
    log::warning(COMPONENT, msg);
    eprintln!("{}: warning: {}", COMPONENT, msg);
}

/// The postsuper state for one run.
pub struct Super {
    pub queue: Queue,
    /// Whether the mail system runs (then active/ belongs to the scheduler).
    pub running: bool,
    /// Queues named on the command line (all applicable ones when empty).
    pub only: Vec<QueueName>,
    pub deleted: usize,
    pub held: usize,
    pub released: usize,
    pub requeued: usize,
    /// Named IDs that were not found (or invalid).
    pub missing: usize,
}

impl Super {
    pub fn new(queue: Queue, running: bool, only: Vec<QueueName>) -> Super {
        Super {
            queue,
            running,
            only,
            deleted: 0,
            held: 0,
            released: 0,
            requeued: 0,
            missing: 0,
        }
    }

    fn queues(&self, op: Op) -> Vec<QueueName> {
        op.queues()
            .iter()
            .copied()
            .filter(|q| self.only.is_empty() || self.only.contains(q))
            .collect()
    }

    fn count(&mut self, op: Op) {
        match op {
            Op::Delete => self.deleted += 1,
            Op::Hold => self.held += 1,
            Op::Release => self.released += 1,
            Op::Requeue => self.requeued += 1,
        }
    }

    /// Apply `op` to one message; false (with a warning) when it is not there.
    pub fn one(&mut self, op: Op, id: &str) -> bool {
        if !is_queue_id(id) {
            warn(&format!(
                "invalid mail queue id: {}",
                log::lines::printable(id)
            ));
            self.missing += 1;
            return false;
        }
        // Twice: a file the scheduler moved meanwhile is found in its new queue.
        for _ in 0..2 {
            for q in self.queues(op) {
                if self.queue.find(q, id).is_none() {
                    continue;
                }
                match self.apply(op, id, q) {
                    Ok(true) => {
                        self.count(op);
                        return true;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        warn(&format!("{}: {}: {}", id, op.log_text(), e));
                        return false;
                    }
                }
            }
        }
        warn(&format!("{}: no such message", id));
        self.missing += 1;
        false
    }

    fn apply(&self, op: Op, id: &str, q: QueueName) -> io::Result<bool> {
        if q == QueueName::Active && self.running {
            let req = match op {
                Op::Delete => Some(Admin::Delete),
                Op::Hold => Some(Admin::Hold),
                Op::Requeue => Some(Admin::Requeue),
                Op::Release => None,
            };
            if let Some(a) = req {
                match control::send(&self.queue, &Request::Admin(a, id.to_string())) {
                    // The scheduler applies it and logs the line.
                    Ok(()) => return Ok(true),
                    Err(control::SendError::NotRunning) => {}
                    Err(control::SendError::Io(e)) => return Err(e),
                }
            }
        }
        if !admin::apply(&self.queue, op, id, q)? {
            return Ok(false);
        }
        say(&format!("{}: {}", id, op.log_text()));
        if matches!(op, Op::Release | Op::Requeue) {
            let _ = control::send(&self.queue, &Request::FlushOne(id.to_string()));
        }
        Ok(true)
    }

    /// Apply `op` to every message in the applicable queues.
    pub fn all(&mut self, op: Op) {
        for q in self.queues(op) {
            let mut ids = self.queue.list(q).unwrap_or_default();
            ids.sort();
            for id in ids {
                match self.apply(op, &id, q) {
                    Ok(true) => self.count(op),
                    Ok(false) => {}
                    Err(e) => warn(&format!("{}: {}: {}", id, op.log_text(), e)),
                }
            }
        }
    }

    /// The stderr/maillog summaries, as Postfix prints them (only non-zero counts).
    pub fn summaries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (n, what) in [
            (self.requeued, "Requeued"),
            (self.deleted, "Deleted"),
            (self.held, "Placed on hold"),
            (self.released, "Released from hold"),
        ] {
            if n > 0 {
                out.push(format!(
                    "{}: {} message{}",
                    what,
                    n,
                    if n > 1 { "s" } else { "" }
                ));
            }
        }
        out
    }
}

/// Move a file into corrupt/ under a name not yet taken there.
fn to_corrupt(queue: &Queue, path: &std::path::Path, name: &str) -> io::Result<()> {
    let dir = queue.dir(QueueName::Corrupt);
    let mut dest = dir.join(name);
    let mut n = 0;
    while dest.exists() {
        n += 1;
        dest = dir.join(format!("{}.{}", name, n));
    }
    fs::rename(path, dest)
}

/// -s: check the spool's structure and repair it. Directory modes are fixed; files that
/// are not where hash_queue_names and hash_queue_depth put them are moved there (`rehash`);
/// files in message queues that are not regular are removed; files with names that are not
/// queue IDs, and queue files that do not parse, go to corrupt/; queue files get mode 0700;
/// defer/bounce/trace logs of messages that no longer exist are removed. active/ is left
/// alone while the system runs. Returns the number of repairs.
pub fn structure(queue: &Queue, running: bool) -> usize {
    let mut fixed = 0;
    for (name, mode) in DIRECTORIES {
        let p = queue.root().join(name);
        if let Ok(m) = fs::metadata(&p)
            && m.permissions().mode() & 0o7777 != *mode
            && fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).is_ok()
        {
            warn(&format!("{}: mode fixed to {:04o}", p.display(), mode));
            fixed += 1;
        }
    }
    fixed += rehash(queue, running);
    for q in [
        QueueName::Hold,
        QueueName::Incoming,
        QueueName::Active,
        QueueName::Deferred,
    ] {
        if q == QueueName::Active && running {
            continue;
        }
        let mut entries = Vec::new();
        let _ = hash::walk(&queue.dir(q), &mut |e| entries.push(e.path()));
        for path in entries {
            fixed += check_entry(queue, q, &path);
        }
    }
    for log_dir in LOG_DIRS {
        let mut entries = Vec::new();
        let _ = hash::walk(&queue.root().join(log_dir), &mut |e| {
            entries.push((e.file_name().to_string_lossy().into_owned(), e.path()))
        });
        for (name, path) in entries {
            if queue.locate(&name).is_none() && fs::remove_file(&path).is_ok() {
                warn(&format!("removed stale log: {}", path.display()));
                fixed += 1;
            }
        }
    }
    fixed
}

/// Move files to where the hash settings put them (as Postfix's postsuper does after
/// hash_queue_names or hash_queue_depth changed; `postfix start` runs this). active/ is
/// left alone while the system runs. Returns the number of files moved.
pub fn rehash(queue: &Queue, running: bool) -> usize {
    let active = queue.dir(QueueName::Active);
    let moved = queue.rehash(&mut |from, _| !(running && from.starts_with(&active)));
    if moved > 0 {
        say(&log::lines::rehashed(moved));
    }
    moved
}

/// -s for one entry of a message queue; returns 1 when something was repaired.
fn check_entry(queue: &Queue, q: QueueName, path: &std::path::Path) -> usize {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        warn(&format!("unexpected subdirectory: {}", path.display()));
        return 0;
    }
    if !meta.is_file() {
        if fs::remove_file(path).is_ok() {
            warn(&format!("removed non-file object: {}", path.display()));
            return 1;
        }
        return 0;
    }
    if q == QueueName::Incoming && (name.starts_with("t.") || !crate::queue::is_complete(&meta)) {
        return 0; // being written (or a crash interrupted it): -p removes old ones
    }
    if !is_queue_id(&name) {
        warn(&format!(
            "bogus file name: {}; moved to the corrupt queue",
            path.display()
        ));
        return usize::from(to_corrupt(queue, path, &name).is_ok());
    }
    match QueueFile::open_read_only(path) {
        Err(QueueFileError::Corrupt(why)) => {
            warn(&format!(
                "{}: {}; moved to the corrupt queue",
                path.display(),
                why
            ));
            return usize::from(to_corrupt(queue, path, &name).is_ok());
        }
        Err(_) => return 0,
        Ok(_) => {}
    }
    if meta.permissions().mode() & 0o777 != 0o700
        && fs::set_permissions(path, fs::Permissions::from_mode(0o700)).is_ok()
    {
        warn(&format!("{}: mode fixed to 0700", path.display()));
        return 1;
    }
    0
}

/// -p: remove temporary files left by interrupted writes (`t.*` in incoming/ and maildrop/,
/// and files in incoming/ named by a queue ID that were never completed), and spare queue
/// files in spare/ (`queue::spare`): all of them when the system is down, else those older
/// than MAX_TEMP_AGE. Returns how many were removed.
pub fn purge(queue: &Queue, running: bool, verbose: bool) -> usize {
    let now = SystemTime::now();
    let old = |m: &fs::Metadata| {
        m.modified()
            .map(|t| now.duration_since(t).unwrap_or(Duration::ZERO) > MAX_TEMP_AGE)
            .unwrap_or(false)
    };
    let mut doomed = queue
        .unfinished(&mut |m| !running || old(m))
        .unwrap_or_default();
    let spare = queue.root().join(crate::queue::spare::DIR);
    for dir in [queue.dir(QueueName::Maildrop), spare] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with("t.") {
                continue;
            }
            if !running || entry.metadata().is_ok_and(|m| old(&m)) {
                doomed.push(entry.path());
            }
        }
    }
    // Never the last name of a queue file's inode (a crash on a file system without a
    // journal can leave a spare's old name next to the message's new one).
    let (doomed, kept) = queue.unlinkable(doomed);
    for p in kept {
        warn(&format!(
            "{}: left in place: another spool file uses the same inode; run fsck, then remove it",
            p.display()
        ));
    }
    let mut n = 0;
    for p in doomed {
        if fs::remove_file(&p).is_ok() {
            if verbose {
                say(&format!("removed file {}", p.display()));
            }
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Envelope, Hashing, Recipient};

    fn spool(tag: &str) -> Queue {
        let dir =
            std::env::temp_dir().join(format!("postern-super-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        q
    }

    fn message(q: &Queue) -> String {
        let w = q.create(QueueName::Incoming).unwrap();
        let mut env = Envelope::new("a@b");
        env.recipients.push(Recipient::new("c@d"));
        w.commit(&mut env, b"x\n").unwrap()
    }

    #[test]
    fn operations_count_and_missing_ids_are_reported() {
        let q = spool("ops");
        let a = message(&q);
        let b = message(&q);
        let mut s = Super::new(q.clone(), false, Vec::new());
        assert!(s.one(Op::Hold, &a));
        assert_eq!(q.locate(&a), Some(QueueName::Hold));
        assert!(!s.one(Op::Hold, &a), "hold does not apply to hold/");
        assert!(s.one(Op::Release, &a));
        assert_eq!(q.locate(&a), Some(QueueName::Deferred));
        s.all(Op::Delete);
        assert_eq!((q.locate(&a), q.locate(&b)), (None, None));
        assert!(!s.one(Op::Delete, "ABCDEF99"));
        assert!(!s.one(Op::Delete, "../../etc"));
        assert_eq!(s.missing, 3);
        assert_eq!(
            s.summaries(),
            vec![
                "Deleted: 2 messages",
                "Placed on hold: 1 message",
                "Released from hold: 1 message"
            ]
        );
        // Named queues limit the search.
        let c = message(&q);
        let mut s = Super::new(q.clone(), false, vec![QueueName::Deferred]);
        assert!(!s.one(Op::Delete, &c));
        assert_eq!(q.locate(&c), Some(QueueName::Incoming));
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn structure_moves_garbage_and_purge_removes_old_temporaries() {
        let q = spool("struct");
        let good = message(&q);
        q.move_to(&good, QueueName::Incoming, QueueName::Deferred)
            .unwrap();
        fs::write(q.path(QueueName::Deferred, "junk-name"), b"x").unwrap();
        fs::write(q.path(QueueName::Deferred, "ABCDEF77"), b"not a queue file").unwrap();
        fs::write(q.defer_log_path("ABCDEF55"), b"stale").unwrap();
        fs::set_permissions(
            q.path(QueueName::Deferred, &good),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        // A message being written (mode 0600 in incoming/) is not touched by -s.
        let writing = q.create(QueueName::Incoming).unwrap();
        let unfinished = q.dir(QueueName::Incoming).join(writing.id());
        std::mem::forget(writing);
        assert_eq!(structure(&q, false), 4);
        assert!(unfinished.exists());
        let corrupt = q.dir(QueueName::Corrupt);
        assert!(corrupt.join("junk-name").exists() && corrupt.join("ABCDEF77").exists());
        assert!(!q.defer_log_path("ABCDEF55").exists());
        assert_eq!(q.locate(&good), Some(QueueName::Deferred));
        let m = fs::metadata(q.path(QueueName::Deferred, &good)).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);

        let fresh = q.dir(QueueName::Incoming).join("t.1.1");
        let old = q.dir(QueueName::Incoming).join("t.1.2");
        let spare_dir = q.root().join(crate::queue::spare::DIR);
        let (fresh_spare, old_spare) = (spare_dir.join("t.1.3"), spare_dir.join("t.1.4"));
        let then = SystemTime::now() - MAX_TEMP_AGE - Duration::from_secs(60);
        for (path, age) in [
            (&fresh, None),
            (&old, Some(then)),
            (&fresh_spare, None),
            (&old_spare, Some(then)),
        ] {
            fs::write(path, b"x").unwrap();
            if let Some(t) = age {
                let f = fs::File::options().write(true).open(path).unwrap();
                f.set_modified(t).unwrap();
            }
        }
        assert_eq!(purge(&q, true, false), 2);
        assert!(fresh.exists() && !old.exists());
        assert!(fresh_spare.exists() && !old_spare.exists());
        assert!(unfinished.exists(), "written less than 6 hours ago");
        assert_eq!(purge(&q, false, false), 3, "stopped: every temporary file");
        assert!(!fresh.exists() && !fresh_spare.exists() && !unfinished.exists());
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn rehash_does_not_follow_a_linked_hash_directory() {
        let flat = spool("link");
        let id = message(&flat);
        flat.move_to(&id, QueueName::Incoming, QueueName::Deferred)
            .unwrap();
        let hashing = Hashing::new(&["deferred".into()], 1);
        let q = Queue::with_hashing(flat.root(), hashing);
        let outside = flat.root().join("elsewhere");
        fs::create_dir(&outside).unwrap();
        let first: String = id.chars().take(1).collect();
        std::os::unix::fs::symlink(&outside, q.dir(QueueName::Deferred).join(&first)).unwrap();
        assert_eq!(rehash(&q, false), 0, "nothing moved through the link");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(q.dir(QueueName::Deferred).join(&id).is_file());
        fs::remove_file(q.dir(QueueName::Deferred).join(&first)).unwrap();
        assert_eq!(rehash(&q, false), 1);
        assert_eq!(q.locate(&id), Some(QueueName::Deferred));
        assert!(q.dir(QueueName::Deferred).join(&first).join(&id).is_file());
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn a_settled_spool_removes_logs_where_the_settings_put_them() {
        let flat = spool("settle");
        let a = message(&flat);
        let b = message(&flat);
        let q = Queue::with_hashing(flat.root(), Hashing::new(&["defer".into()], 1));
        // Flat logs (an older layout): found by the search before any rehash.
        fs::write(flat.defer_log_path(&a), b"old").unwrap();
        assert!(!q.is_settled());
        q.remove(&a, QueueName::Incoming).unwrap();
        assert!(!flat.defer_log_path(&a).exists());
        // A misplaced log whose place is taken stays: the spool is not settled.
        fs::write(flat.defer_log_path(&b), b"flat").unwrap();
        q.write_defer_log(&b, b"hashed").unwrap();
        fs::write(flat.defer_log_path(&b), b"flat").unwrap();
        assert_eq!(rehash(&q, false), 0);
        assert!(!q.is_settled());
        fs::remove_file(flat.defer_log_path(&b)).unwrap();
        rehash(&q, false);
        assert!(q.is_settled() && q.clone().is_settled());
        assert!(q.defer_log_path(&b).exists());
        q.remove(&b, QueueName::Incoming).unwrap();
        assert!(!q.defer_log_path(&b).exists());
        assert_eq!(q.locate(&b), None);
        fs::remove_dir_all(q.root()).unwrap();
    }
}
