//! The spool: Postfix-like queue directories under $queue_directory, queue IDs, the atomic
//! write of a new message into incoming/, and moves between queues. spool-layout.md is the
//! specification; keep it true.
//!
//! Security role: the spool is owned by mail_owner, directories 0700 (maildrop 0730 group
//! setgid_group). A message is acknowledged only after `Incoming::commit` has fsynced the
//! file and the directory. Nothing here logs; callers do.

pub mod admin;
pub mod cat;
pub mod dirsync;
pub mod file;
pub mod postfix_file;
pub mod postfix_import;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use file::{Envelope, FILTER_ATTR, QueueFile, QueueFileError, Recipient};

/// The message queues and per-message log directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Maildrop,
    Hold,
    Incoming,
    Active,
    Deferred,
    Corrupt,
}

impl QueueName {
    pub const ALL: [QueueName; 6] = [
        QueueName::Maildrop,
        QueueName::Hold,
        QueueName::Incoming,
        QueueName::Active,
        QueueName::Deferred,
        QueueName::Corrupt,
    ];

    pub fn dir_name(self) -> &'static str {
        match self {
            QueueName::Maildrop => "maildrop",
            QueueName::Hold => "hold",
            QueueName::Incoming => "incoming",
            QueueName::Active => "active",
            QueueName::Deferred => "deferred",
            QueueName::Corrupt => "corrupt",
        }
    }

    pub fn from_name(name: &str) -> Option<QueueName> {
        QueueName::ALL
            .iter()
            .copied()
            .find(|q| q.dir_name() == name)
    }
}

/// Directories created under $queue_directory, with their modes.
pub const DIRECTORIES: &[(&str, u32)] = &[
    ("maildrop", 0o730),
    ("hold", 0o700),
    ("incoming", 0o700),
    ("active", 0o700),
    ("deferred", 0o700),
    ("corrupt", 0o700),
    ("defer", 0o700),
    ("bounce", 0o700),
    ("trace", 0o700),
    ("flush", 0o700),
    ("saved", 0o700),
    ("pid", 0o755),
    ("public", 0o710),
    ("private", 0o700),
];

/// Whether `name` has the shape of a queue ID (upper-case hex, at least 6 characters).
pub fn is_queue_id(name: &str) -> bool {
    name.len() >= 6
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// Build a short queue ID as Postfix does: five hex digits of the microseconds, then the
/// file's inode number in hex. Unique while the file exists: two live files never share an
/// inode on one file system.
pub fn make_queue_id(micros: u32, inode: u64) -> String {
    format!("{:05X}{:X}", micros % 0x100000, inode)
}

/// The spool rooted at $queue_directory.
#[derive(Debug, Clone)]
pub struct Queue {
    root: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Queue {
    pub fn new(root: &Path) -> Queue {
        Queue {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create any missing directory (owner and mode are set by `make install` and
    /// `postfix start`; this only creates).
    pub fn create_dirs(&self) -> io::Result<()> {
        for (name, mode) in DIRECTORIES {
            let p = self.root.join(name);
            if !p.exists() {
                fs::create_dir_all(&p)?;
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode))?;
            }
        }
        Ok(())
    }

    pub fn dir(&self, q: QueueName) -> PathBuf {
        self.root.join(q.dir_name())
    }

    pub fn path(&self, q: QueueName, id: &str) -> PathBuf {
        self.dir(q).join(id)
    }

    /// The per-message deferral log (reasons shown by mailq).
    pub fn defer_log_path(&self, id: &str) -> PathBuf {
        self.root.join("defer").join(id)
    }

    /// Queue IDs present in a queue (temporary and foreign names are skipped).
    pub fn list(&self, q: QueueName) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.dir(q))? {
            let name = entry?.file_name();
            if let Some(n) = name.to_str()
                && is_queue_id(n)
            {
                out.push(n.to_string());
            }
        }
        Ok(out)
    }

    /// Move a message between queues (rename within the spool's file system).
    pub fn move_to(&self, id: &str, from: QueueName, to: QueueName) -> io::Result<()> {
        fs::rename(self.path(from, id), self.path(to, id))
    }

    /// Find which queue holds `id`.
    pub fn locate(&self, id: &str) -> Option<QueueName> {
        QueueName::ALL
            .iter()
            .copied()
            .find(|q| self.path(*q, id).exists())
    }

    /// Move a message into deferred/ with its next-retry time as the file's mtime.
    pub fn defer_until(&self, id: &str, from: QueueName, when: SystemTime) -> io::Result<()> {
        let dest = self.path(QueueName::Deferred, id);
        if from != QueueName::Deferred {
            fs::rename(self.path(from, id), &dest)?;
        }
        let f = File::options().write(true).open(&dest)?;
        f.set_times(fs::FileTimes::new().set_modified(when).set_accessed(when))
    }

    /// Remove a message and its logs. Missing files are not an error.
    pub fn remove(&self, id: &str, from: QueueName) -> io::Result<()> {
        match fs::remove_file(self.path(from, id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for log in ["defer", "bounce", "trace"] {
            let _ = fs::remove_file(self.root.join(log).join(id));
        }
        Ok(())
    }

    /// Remove leftover temporary files from incoming/ (interrupted writes). Called at start,
    /// before any writer exists. Returns how many were removed.
    pub fn purge_temporary(&self) -> io::Result<usize> {
        let mut n = 0;
        for entry in fs::read_dir(self.dir(QueueName::Incoming))? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("t.") {
                fs::remove_file(entry.path())?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Start writing a new message into incoming/ (or another queue, for maildrop-style
    /// writers). The queue ID is known at once; nothing is visible to the scheduler until
    /// `commit`.
    pub fn create(&self, q: QueueName) -> io::Result<Incoming> {
        let dir = self.dir(q);
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!("t.{}.{}", std::process::id(), n));
            let file = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let ino = file.metadata()?.ino();
            let micros = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_micros())
                .unwrap_or(0);
            let id = make_queue_id(micros, ino);
            // Maildrop files are written by the submitting user and read by pickup (mail_owner).
            let mode = if q == QueueName::Maildrop {
                0o644
            } else {
                0o700
            };
            return Ok(Incoming {
                dir,
                tmp,
                file: Some(file),
                id,
                committed: false,
                mode,
            });
        }
    }
}

/// A message being written. Dropped without `commit`, it leaves nothing behind.
pub struct Incoming {
    dir: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    id: String,
    committed: bool,
    mode: u32,
}

impl Incoming {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Commit into hold/ instead (next to the queue this was created in), as Postfix's
    /// cleanup does for a HOLD action: the message waits for `postsuper -H`.
    pub fn hold(&mut self) {
        if let Some(root) = self.dir.parent() {
            self.dir = root.join(QueueName::Hold.dir_name());
        }
    }

    /// Write the envelope and content, fsync the file, mark it complete (mode 0700, as
    /// Postfix marks a finished queue file; 0644 in maildrop/), give it its queue ID name and
    /// fsync the directory. Only after this returns may the server answer 250.
    ///
    /// The directory fsync is a group commit (`dirsync`): sessions of this process that
    /// finish at the same moment share one, which starts only after each one's rename, so
    /// each message's data (its own fsync) and its directory entry are durable when this
    /// returns Ok, exactly as with an fsync of its own. If that shared fsync fails, every
    /// message of the batch gets the error (and its session a 4xx); the renamed file stays,
    /// as with a failed fsync before: a crash may then keep or lose a message that was never
    /// acknowledged, and one that stays is delivered (a duplicate at worst).
    pub fn commit(mut self, env: &mut Envelope, content: &[u8]) -> io::Result<String> {
        let buf = file::encode(env, content);
        let mut f = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("already committed"))?;
        f.set_permissions(fs::Permissions::from_mode(self.mode))?;
        file::write_all_sync(&mut f, &buf)?;
        let dest = self.dir.join(&self.id);
        fs::rename(&self.tmp, &dest)?;
        self.committed = true;
        match dirsync::sync_dir(&self.dir) {
            Ok(()) => {}
            // postdrop (group write, no read on maildrop/) cannot open the directory; as with
            // Postfix, a maildrop entry is made durable by pickup's own commit into incoming/.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && self.mode == 0o644 => {}
            Err(e) => return Err(e),
        }
        Ok(self.id.clone())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_queue(tag: &str) -> Queue {
        let dir = std::env::temp_dir().join(format!("postern-q-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        q
    }

    #[test]
    fn ids_have_postfix_shape() {
        assert_eq!(make_queue_id(0x35EC3, 0x1BB8035), "35EC31BB8035");
        assert!(is_queue_id("35EC31BB8035"));
        assert!(!is_queue_id("t.1.2"));
        assert!(!is_queue_id("abc"));
    }

    #[test]
    fn commit_makes_message_visible_and_drop_leaves_nothing() {
        let q = temp_queue("commit");
        let w = q.create(QueueName::Incoming).unwrap();
        drop(w);
        assert_eq!(fs::read_dir(q.dir(QueueName::Incoming)).unwrap().count(), 0);

        let w = q.create(QueueName::Incoming).unwrap();
        let id = w.id().to_string();
        assert!(
            q.list(QueueName::Incoming).unwrap().is_empty(),
            "invisible until commit"
        );
        let mut env = Envelope::new("s@x");
        env.recipients.push(Recipient::new("r@y"));
        w.commit(&mut env, b"hi\n").unwrap();
        assert_eq!(q.list(QueueName::Incoming).unwrap(), vec![id.clone()]);
        let meta = fs::metadata(q.path(QueueName::Incoming, &id)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        q.move_to(&id, QueueName::Incoming, QueueName::Active)
            .unwrap();
        let when = SystemTime::now() + std::time::Duration::from_secs(600);
        q.defer_until(&id, QueueName::Active, when).unwrap();
        let m = fs::metadata(q.path(QueueName::Deferred, &id))
            .unwrap()
            .modified()
            .unwrap();
        assert!(m > SystemTime::now());
        q.remove(&id, QueueName::Deferred).unwrap();
        assert_eq!(q.locate(&id), None);
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn purge_removes_only_temporary_files() {
        let q = temp_queue("purge");
        let w = q.create(QueueName::Incoming).unwrap();
        std::mem::forget(w); // simulate a crash mid-write
        fs::write(q.path(QueueName::Incoming, "ABCDEF123"), b"x").unwrap();
        assert_eq!(q.purge_temporary().unwrap(), 1);
        assert_eq!(
            q.list(QueueName::Incoming).unwrap(),
            vec!["ABCDEF123".to_string()]
        );
        fs::remove_dir_all(q.root()).unwrap();
    }
}
