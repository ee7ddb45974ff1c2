//! Writing `hash:`/`btree:` Berkeley DB files (`NAME.db`) for postmap(1), postalias(1) and
//! newaliases(1), in the format Postfix's dict_db(3) reads: keys and values with one
//! trailing NUL byte unless told otherwise (postmap/postalias `-n`), keys folded by the
//! caller. libdb is called through `crate::sys::libdb`.
//!
//! Two ways, as Postfix's mkmap_db(3) and dict_db(3) lock them: every writer first takes an
//! exclusive flock(2) on the existing `NAME.db`, which makes Postfix's and Postern's readers
//! (shared lock per lookup) wait.
//! - `Writer::create` (a full rebuild) writes a new file `NAME.db.PID.tmp` and renames it
//!   over `NAME.db` when finished, keeping the old file's mode and (as root) owner. Postfix
//!   2.10 truncates `NAME.db` in place instead; the rename means that a rebuild that fails
//!   half way leaves the old table intact, and readers never see a half-written one.
//!   Postfix's daemons notice the replaced file (its link count drops to 0) as they notice
//!   an in-place rewrite.
//! - `Writer::update` (postmap -i, -d) changes `NAME.db` in place, as Postfix does; a
//!   zero-length `NAME.db` is removed first (libdb refuses to open one), as mkmap_db does.
//!
//! Security role: run by the administrator; writes only `NAME.db` and its temporary file.
//! Logs nothing; errors are `io::Error`s, callers name the file.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fs2::FileExt;

use super::hash::{DEFAULT_CREATE_BUFFER, db_path};
use crate::sys::libdb::{Db, DbKind, DbMode};

/// An open table being written; `finish` completes it.
pub struct Writer {
    path: PathBuf,
    /// The temporary file of a rebuild, renamed to `path` by `finish`.
    tmp: Option<PathBuf>,
    /// Holds the exclusive lock (on the old file, for a rebuild).
    lock: Option<fs::File>,
    old: Option<fs::Metadata>,
    db: Option<Db>,
    nul: bool,
}

/// An exclusive lock on the file now at `path` (None when there is none). A file replaced
/// while waiting for the lock (another rebuild renamed its own over it) is locked again.
fn lock_existing(path: &Path) -> io::Result<Option<fs::File>> {
    loop {
        let f = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        f.lock_exclusive()?;
        let held = f.metadata()?;
        match fs::metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => return Ok(Some(f)),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

impl Writer {
    /// A new, empty `kind` table that replaces `source`.db when finished; `cache` bytes
    /// of memory pool ($berkeley_db_create_buffer_size).
    pub fn create(kind: DbKind, source: &Path, cache: u32) -> io::Result<Writer> {
        let path = db_path(source);
        let lock = lock_existing(&path)?;
        let old = lock.as_ref().map(|f| f.metadata()).transpose()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let db = Db::open(&tmp, kind, DbMode::Create, cache)?;
        Ok(Writer {
            path,
            tmp: Some(tmp),
            lock,
            old,
            db: Some(db),
            nul: true,
        })
    }

    /// `source`.db changed in place under an exclusive lock; created when `create` and
    /// missing, an error when missing otherwise.
    pub fn update(kind: DbKind, source: &Path, cache: u32, create: bool) -> io::Result<Writer> {
        let path = db_path(source);
        let mut lock = lock_existing(&path)?;
        if create
            && lock
                .as_ref()
                .map(|f| f.metadata())
                .transpose()?
                .map(|m| m.len())
                == Some(0)
        {
            fs::remove_file(&path)?;
            lock = None;
        }
        let mode = if create {
            DbMode::Update
        } else {
            DbMode::Write
        };
        let db = Db::open(&path, kind, mode, cache)?;
        if lock.is_none() {
            lock = lock_existing(&path)?;
        }
        Ok(Writer {
            path,
            tmp: None,
            lock,
            old: None,
            db: Some(db),
            nul: true,
        })
    }

    /// Whether keys and values get a trailing NUL byte (Postfix's default; postmap -n: no).
    pub fn set_nul(&mut self, nul: bool) {
        self.nul = nul;
    }

    fn handle(&mut self) -> io::Result<&mut Db> {
        self.db
            .as_mut()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    /// Store exactly these bytes; false when `key` exists and `replace` is not set.
    pub fn put_raw(&mut self, key: &[u8], value: &[u8], replace: bool) -> io::Result<bool> {
        self.handle()?.put(key, value, replace)
    }

    /// Store `value` under `key` (already folded), with the NUL choice of `set_nul`; false
    /// when `key` exists and `replace` is not set (Postfix's duplicate entry).
    pub fn put(&mut self, key: &str, value: &str, replace: bool) -> io::Result<bool> {
        let (mut k, mut v) = (key.as_bytes().to_vec(), value.as_bytes().to_vec());
        if self.nul {
            k.push(0);
            v.push(0);
        }
        self.put_raw(&k, &v, replace)
    }

    /// Remove `key` (already folded) stored with a trailing NUL (`one`) or without
    /// (`zero`), in that order, as Postfix's dict_db_delete; false when neither was there.
    pub fn delete(&mut self, key: &str, one: bool, zero: bool) -> io::Result<bool> {
        let db = self.handle()?;
        if one {
            let mut k = key.as_bytes().to_vec();
            k.push(0);
            if db.del(&k)? {
                return Ok(true);
            }
        }
        Ok(zero && db.del(key.as_bytes())?)
    }

    /// Write everything out and, for a rebuild, put the new file in place.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        if let Some(mut db) = self.db.take() {
            db.sync()?;
            db.close()?;
        }
        if let Some(tmp) = self.tmp.take() {
            let f = fs::File::open(&tmp)?;
            if let Some(old) = &self.old {
                f.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))?;
                if crate::sys::is_root() {
                    std::os::unix::fs::fchown(&f, Some(old.uid()), Some(old.gid()))?;
                }
            }
            f.sync_all()?;
            if let Err(e) = fs::rename(&tmp, &self.path) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
        drop(self.lock.take());
        Ok(self.path.clone())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.db.take());
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Write `entries` as the hash table for `source` (later duplicates win), with Postfix's
/// defaults: keys folded to lower case, a trailing NUL byte. For tests and tools that build
/// a table from pairs; postmap/postalias use `Writer` with their duplicate rules.
pub fn build(source: &Path, entries: &[(String, String)]) -> io::Result<PathBuf> {
    let mut w = Writer::create(DbKind::Hash, source, DEFAULT_CREATE_BUFFER)?;
    for (k, v) in entries {
        w.put(&k.to_ascii_lowercase(), v, true)?;
    }
    w.finish()
}
