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
pub mod early_sync;
pub mod file;
pub mod hash;
mod incoming;
pub mod postfix_file;
pub mod postfix_import;
pub mod scan;
pub mod spare;

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

pub use file::{Envelope, FILTER_ATTR, QueueFile, QueueFileError, Recipient};
pub use hash::Hashing;
pub use incoming::Incoming;

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
    /// The queues that hold messages, in the order Postfix lists them (mailq) and scans them.
    pub const MESSAGES: [QueueName; 5] = [
        QueueName::Maildrop,
        QueueName::Hold,
        QueueName::Incoming,
        QueueName::Active,
        QueueName::Deferred,
    ];

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
    ("spare", 0o700),
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
    hashing: std::sync::Arc<Hashing>,
    /// A complete `rehash` left every file where `hashing` puts it (shared by clones): the
    /// per-message logs are then removed from there without searching older layouts.
    settled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Files of delivered messages kept for new ones (`recycle`, `create`).
    spares: std::sync::Arc<spare::Spares>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The per-message log directories (Postfix's defer/, bounce/, trace/).
pub const LOG_DIRS: [&str; 3] = ["defer", "bounce", "trace"];

impl Queue {
    /// A flat spool (no hashed directories).
    pub fn new(root: &Path) -> Queue {
        Queue::with_hashing(root, Hashing::flat())
    }

    pub fn with_hashing(root: &Path, hashing: Hashing) -> Queue {
        Queue {
            root: root.to_path_buf(),
            hashing: std::sync::Arc::new(hashing),
            settled: Default::default(),
            spares: Default::default(),
        }
    }

    /// The spool as main.cf describes it: queue_directory, hash_queue_names,
    /// hash_queue_depth.
    pub fn from_config(cfg: &crate::config::Config) -> Queue {
        Queue::with_hashing(
            Path::new(cfg.get("queue_directory")),
            Hashing::new(&cfg.list("hash_queue_names"), cfg.int("hash_queue_depth")),
        )
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn hashing(&self) -> &Hashing {
        &self.hashing
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

    /// The queue's top directory (hashed queues keep their files in subdirectories).
    pub fn dir(&self, q: QueueName) -> PathBuf {
        self.root.join(q.dir_name())
    }

    /// Where message `id` belongs in queue `q` under the current hash settings.
    pub fn path(&self, q: QueueName, id: &str) -> PathBuf {
        self.hashing.path(&self.dir(q), q.dir_name(), id)
    }

    /// Where `id` is in queue `q`: where it belongs, else where an older layout (flat, or
    /// other hash settings) put it. A file in incoming/ that is not complete is not found.
    pub fn find(&self, q: QueueName, id: &str) -> Option<PathBuf> {
        let p = self.find_in(q.dir_name(), id)?;
        if q == QueueName::Incoming && !fs::symlink_metadata(&p).is_ok_and(|m| is_complete(&m)) {
            return None;
        }
        Some(p)
    }

    fn find_in(&self, dir: &str, id: &str) -> Option<PathBuf> {
        self.hashing
            .candidates(&self.root.join(dir), dir, id)
            .into_iter()
            .find(|p| p.symlink_metadata().is_ok())
    }

    /// Where the per-message log `log` (defer, bounce, trace) of `id` belongs.
    pub fn log_path(&self, log: &str, id: &str) -> PathBuf {
        self.hashing.path(&self.root.join(log), log, id)
    }

    /// The per-message deferral log (reasons shown by mailq).
    pub fn defer_log_path(&self, id: &str) -> PathBuf {
        self.log_path("defer", id)
    }

    /// The deferral log of `id` wherever it is (see `find`).
    pub fn find_defer_log(&self, id: &str) -> Option<PathBuf> {
        self.find_in("defer", id)
    }

    /// Write the deferral log of `id` (creating its hash subdirectory if needed).
    pub fn write_defer_log(&self, id: &str, text: &[u8]) -> io::Result<()> {
        let path = self.defer_log_path(id);
        if let Some(old) = self.find_defer_log(id)
            && old != path
        {
            let _ = fs::remove_file(old);
        }
        self.make_parent("defer", &path)?;
        fs::write(&path, text)
    }

    /// Create the hash subdirectories above `path` in directory `dir`, if missing.
    fn make_parent(&self, dir: &str, path: &Path) -> io::Result<bool> {
        match path.parent() {
            Some(parent) if self.hashing.depth_of(dir) > 0 => {
                hash::make_dirs(&self.root.join(dir), parent)
            }
            _ => Ok(false),
        }
    }

    /// Queue IDs present in a queue, in its subdirectories too (temporary and foreign
    /// names are skipped).
    pub fn list(&self, q: QueueName) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        self.scan(q, &mut |id, _| out.push(id.to_string()))?;
        Ok(out)
    }

    /// Call `f` with the ID and path of each message in queue `q`, reading the directory
    /// as it goes (nothing is collected here).
    /// In incoming/ a file not yet complete (`is_complete`) is skipped.
    pub fn scan(&self, q: QueueName, f: &mut dyn FnMut(&str, &Path)) -> io::Result<()> {
        hash::walk(&self.dir(q), &mut |entry| {
            let name = entry.file_name();
            if let Some(n) = name.to_str()
                && is_queue_id(n)
                && (q != QueueName::Incoming || entry.metadata().is_ok_and(|m| is_complete(&m)))
            {
                f(n, &entry.path());
            }
        })
    }

    /// Rename `src` to where `id` belongs in queue `to`, creating its hash subdirectory.
    fn rename_into(&self, src: &Path, to: QueueName, id: &str) -> io::Result<PathBuf> {
        let dest = self.path(to, id);
        match fs::rename(src, &dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && src.exists() => {
                self.make_parent(to.dir_name(), &dest)?;
                fs::rename(src, &dest)?;
            }
            r => r?,
        }
        Ok(dest)
    }

    /// Move a message between queues (rename within the spool's file system), from
    /// wherever it is in `from` to where it belongs in `to`.
    pub fn move_to(&self, id: &str, from: QueueName, to: QueueName) -> io::Result<()> {
        self.move_path(id, from, to).map(|_| ())
    }

    fn move_path(&self, id: &str, from: QueueName, to: QueueName) -> io::Result<PathBuf> {
        let src = self.path(from, id);
        let dest = match self.rename_into(&src, to, id) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.find(from, id) {
                Some(other) if other != src => self.rename_into(&other, to, id),
                _ => Err(e),
            },
            r => r,
        }?;
        // Outside incoming/ the mode says nothing (a held message may be 0600 after a
        // crash in its commit): one that moves into incoming/ is a complete message.
        if to == QueueName::Incoming
            && let Ok(m) = fs::symlink_metadata(&dest)
            && m.is_file()
            && !is_complete(&m)
        {
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o700))?;
        }
        Ok(dest)
    }

    /// Find which queue holds `id`.
    pub fn locate(&self, id: &str) -> Option<QueueName> {
        QueueName::ALL
            .iter()
            .copied()
            .find(|q| self.find(*q, id).is_some())
    }

    /// Move a message into deferred/ with its next-retry time as the file's mtime.
    pub fn defer_until(&self, id: &str, from: QueueName, when: SystemTime) -> io::Result<()> {
        let dest = if from != QueueName::Deferred {
            self.move_path(id, from, QueueName::Deferred)?
        } else {
            self.find(QueueName::Deferred, id)
                .unwrap_or_else(|| self.path(QueueName::Deferred, id))
        };
        let f = File::options().write(true).open(&dest)?;
        f.set_times(fs::FileTimes::new().set_modified(when).set_accessed(when))
    }

    /// Remove a message and its logs. Missing files are not an error.
    pub fn remove(&self, id: &str, from: QueueName) -> io::Result<()> {
        let path = self.find(from, id).unwrap_or_else(|| self.path(from, id));
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.remove_logs(id);
        Ok(())
    }

    /// Remove a delivered message like `remove`, but keep its file as a spare for a new
    /// message of this process to overwrite (`spare`): renamed to a temporary name in
    /// spare/, which is all a crash can leave of it. Unlinked when the pool is full.
    pub fn recycle(&self, id: &str, from: QueueName) -> io::Result<()> {
        if !self.spares.has_room() {
            return self.remove(id, from);
        }
        let path = self.find(from, id).unwrap_or_else(|| self.path(from, id));
        let spare = self.temp_path();
        // Any failure (the message gone, no spare/ in an older spool) is left to `remove`.
        if fs::rename(&path, &spare).is_err() {
            return self.remove(id, from);
        }
        let left = path.parent().unwrap_or(&path).to_path_buf();
        if self.spares.put(spare, &left, id) {
            self.settle_spares();
        }
        self.remove_logs(id);
        Ok(())
    }

    /// Make the pending spares' moves durable (fsync the queue directories they left, and
    /// spare/), then let new messages use them; if an fsync fails they are deleted instead.
    fn settle_spares(&self) {
        let pending = self.spares.take_pending();
        let mut dirs: Vec<&Path> = pending.iter().map(|s| s.left.as_path()).collect();
        dirs.sort();
        dirs.dedup();
        let spare_dir = self.root.join(spare::DIR);
        let synced = dirs
            .into_iter()
            .chain(std::iter::once(spare_dir.as_path()))
            .try_for_each(fsync_dir);
        match synced {
            Ok(()) => self.spares.promote(pending),
            Err(_) => {
                for s in pending {
                    let _ = fs::remove_file(&s.path);
                }
            }
        }
    }

    /// Delete spare files idle for longer than `spare::MAX_IDLE` (called periodically, so
    /// that delivered messages' bytes do not stay when no new mail comes).
    pub fn expire_spares(&self) -> usize {
        self.spares.expire()
    }

    /// How many spare files this process keeps now.
    pub fn spare_count(&self) -> usize {
        self.spares.len()
    }

    /// A new name for a spare file: `spare/t.<pid>.<n>`.
    fn temp_path(&self) -> PathBuf {
        self.root.join(spare::DIR).join(temp_name())
    }

    /// Remove the defer/, bounce/ and trace/ logs of `id`, wherever they are: where the
    /// settings put them once `rehash` settled the spool (every writer of this process
    /// uses the same settings), else wherever a search finds them.
    pub fn remove_logs(&self, id: &str) {
        let settled = self.settled.load(Ordering::Relaxed);
        for log in LOG_DIRS {
            let found = if settled {
                Some(self.log_path(log, id))
            } else {
                self.find_in(log, id)
            };
            if let Some(p) = found {
                let _ = fs::remove_file(p);
            }
        }
    }

    /// Whether a complete `rehash` left every file where the settings put them.
    pub fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Relaxed)
    }

    /// Move every file of `q` (and every per-message log) that is not where the current
    /// hash settings put it, as Postfix's postsuper does after hash_queue_names or
    /// hash_queue_depth changed. `allow(from, to)` says whether to make a move. Returns
    /// the number of files moved. When every misplaced file was moved, the spool is
    /// settled (`is_settled`) for this value and its clones.
    pub fn rehash(&self, allow: &mut dyn FnMut(&Path, &Path) -> bool) -> usize {
        let mut moved = 0;
        let mut complete = true;
        let dirs = QueueName::ALL
            .iter()
            .filter(|q| **q != QueueName::Maildrop)
            .map(|q| q.dir_name())
            .chain(LOG_DIRS);
        for dir in dirs {
            let mut wrong = Vec::new();
            let walked = hash::walk(&self.root.join(dir), &mut |e| {
                let name = e.file_name();
                if let Some(n) = name.to_str()
                    && is_queue_id(n)
                    && e.file_type().is_ok_and(|t| t.is_file())
                    && (dir != "incoming" || e.metadata().is_ok_and(|m| is_complete(&m)))
                    && e.path() != self.hashing.path(&self.root.join(dir), dir, n)
                {
                    wrong.push((n.to_string(), e.path()));
                }
            });
            complete &= walked.is_ok() || !self.root.join(dir).exists();
            for (id, src) in wrong {
                let dest = self.hashing.path(&self.root.join(dir), dir, &id);
                if dest.exists() || !allow(&src, &dest) {
                    complete = false;
                    continue; // never overwrite
                }
                if self.make_parent(dir, &dest).is_ok() && fs::rename(&src, &dest).is_ok() {
                    moved += 1;
                } else {
                    complete = false;
                }
            }
        }
        if complete {
            self.settled.store(true, Ordering::Relaxed);
        }
        moved
    }

    /// Remove leftover temporary files from incoming/ (interrupted writes: `t.*`, and
    /// files named by a queue ID that were never completed) and spare/ (spare files of a
    /// stopped process). Called at start, before any writer exists. Returns how many were
    /// removed, and the files left in place because their inode has another name (see
    /// `unlinkable`).
    pub fn purge_temporary(&self) -> io::Result<(usize, Vec<PathBuf>)> {
        let mut found = self.unfinished(&mut |_| true)?;
        match fs::read_dir(self.root.join(spare::DIR)) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    if entry.file_name().to_string_lossy().starts_with("t.") {
                        found.push(entry.path());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (ok, kept) = self.unlinkable(found);
        for p in &ok {
            fs::remove_file(p)?;
        }
        Ok((ok.len(), kept))
    }

    /// The files in incoming/ that are not messages yet: `t.*` names and queue files not
    /// complete (`is_complete`), those whose metadata `pick` accepts.
    pub fn unfinished(
        &self,
        pick: &mut dyn FnMut(&fs::Metadata) -> bool,
    ) -> io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        let walked = hash::walk(&self.dir(QueueName::Incoming), &mut |e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(m) = e.metadata() else {
                return;
            };
            let unfinished = name.starts_with("t.") || (is_queue_id(&name) && !is_complete(&m));
            if unfinished && m.is_file() && pick(&m) {
                found.push(e.path());
            }
        });
        match walked {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(found),
        }
    }

    /// Split leftover files into those that may be unlinked and those that must stay: a
    /// file with one link whose inode has another name in the spool. That happens only
    /// after a crash on a file system without a journal (and without fsck), when a spare's
    /// old name in spare/ survived next to the incoming/ name it was renamed to: the link
    /// count on disk is 1, so unlinking either name would free the inode the other still
    /// names (a message's, or an unfinished file's).
    pub fn unlinkable(&self, files: Vec<PathBuf>) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let single: Vec<(PathBuf, u64)> = files
            .iter()
            .filter_map(|p| {
                let m = fs::symlink_metadata(p).ok()?;
                (m.is_file() && m.nlink() == 1).then(|| (p.clone(), m.ino()))
            })
            .collect();
        if single.is_empty() {
            return (files, Vec::new());
        }
        let mut names: std::collections::HashMap<u64, std::collections::HashSet<PathBuf>> =
            Default::default();
        for q in [
            QueueName::Incoming,
            QueueName::Active,
            QueueName::Deferred,
            QueueName::Hold,
            QueueName::Corrupt,
        ] {
            let _ = hash::walk(&self.dir(q), &mut |e| {
                let name = e.file_name();
                if name.to_str().is_some_and(is_queue_id)
                    && let Ok(m) = e.metadata()
                {
                    names.entry(m.ino()).or_default().insert(e.path());
                }
            });
        }
        for (p, ino) in &single {
            names.entry(*ino).or_default().insert(p.clone());
        }
        let shared = |p: &PathBuf| {
            single
                .iter()
                .any(|(s, ino)| s == p && names.get(ino).is_some_and(|n| n.len() > 1))
        };
        files.into_iter().partition(|p| !shared(p))
    }
}

/// fsync(2) a directory.
fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether a file in incoming/ is a complete message: mode 0700 (Postfix's mark; its
/// queue manager skips files without the owner's execute bit). A file named by its queue ID
/// but still 0600 is a message being written, or one a crash interrupted.
pub fn is_complete(meta: &fs::Metadata) -> bool {
    meta.mode() & 0o100 != 0
}

/// A new temporary file name, `t.<pid>.<n>` (interrupted writes and spares).
fn temp_name() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t.{}.{}", std::process::id(), n)
}

#[cfg(test)]
mod tests;
