//! `hash:` and `btree:` tables: Berkeley DB files `NAME.db`, the same files Postfix's
//! dict_db(3) reads and postmap(1)/postalias(1) write, so one file serves both systems.
//! libdb is called through `crate::sys::libdb`; writing is in `hash_write.rs`.
//!
//! A lookup folds the key to lower case (Postfix's DICT_FLAG_FOLD_FIX, ASCII only as in
//! Postfix 2.10) and tries it with a trailing NUL byte, then without (DICT_FLAG_TRY1NULL,
//! DICT_FLAG_TRY0NULL); once one form has been found, later lookups on the same open file try
//! only that form, as Postfix does. A value ends at its first NUL byte. Each lookup holds a
//! shared flock(2) on the file (Postfix's INTERNAL_LOCK on Linux), so it waits while a
//! Postfix postmap rewrites the file in place under its exclusive lock. The file is opened
//! on first use and opened again when its inode, size or modification time change (checked
//! under the lock), so a rebuilt table takes effect without a restart. Memory pool:
//! $berkeley_db_read_buffer_size (`set_read_buffer_size`).
//!
//! A missing, unreadable or corrupt file, or a read error, is `TableError` (a 4xx), never
//! "not found". Security role: reads only the file named in the configuration. Logs nothing.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use fs2::FileExt;

use super::{Table, TableError};
use crate::sys::libdb::{Db, DbKind, DbMode};

/// Postfix's default $berkeley_db_read_buffer_size.
pub const DEFAULT_READ_BUFFER: u32 = 128 * 1024;
/// Postfix's default $berkeley_db_create_buffer_size.
pub const DEFAULT_CREATE_BUFFER: u32 = 16 * 1024 * 1024;

static READ_BUFFER: AtomicU32 = AtomicU32::new(DEFAULT_READ_BUFFER);

/// Set the memory pool of tables opened from now on ($berkeley_db_read_buffer_size).
pub fn set_read_buffer_size(bytes: u32) {
    READ_BUFFER.store(bytes.max(1), Ordering::Relaxed);
}

/// The access method of a table type name (`hash`, `btree`).
pub fn kind(name: &str) -> Option<DbKind> {
    match name {
        "hash" => Some(DbKind::Hash),
        "btree" => Some(DbKind::Btree),
        _ => None,
    }
}

/// Which key forms a lookup tries: with a trailing NUL (`one`), without (`zero`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nulls {
    pub one: bool,
    pub zero: bool,
}

impl Nulls {
    /// Both, as Postfix's dict_db does unless told (postmap -N / -n).
    pub const BOTH: Nulls = Nulls {
        one: true,
        zero: true,
    };
}

type Stamp = (u64, u64, u64, i64, i64);

fn stamp(m: &fs::Metadata) -> Stamp {
    (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())
}

struct Opened {
    stamp: Stamp,
    /// The descriptor the shared lock is taken on.
    lock: fs::File,
    db: Db,
    nulls: Nulls,
}

/// An open hash or btree table.
pub struct HashTable {
    spec: String,
    kind: DbKind,
    db: PathBuf,
    nulls: Nulls,
    state: Mutex<Option<Opened>>,
}

/// The indexed file for a source file: `NAME.db`.
pub fn db_path(source: &Path) -> PathBuf {
    let mut s = source.as_os_str().to_owned();
    s.push(".db");
    PathBuf::from(s)
}

/// The text Postfix prints for an errno (`sys::error_text`).
pub fn io_text(e: &io::Error) -> String {
    crate::sys::error_text(e)
}

/// A key or value as Postfix sees it: the bytes before the first NUL.
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Open `db` for reading under a shared lock held by the returned descriptor.
fn open_locked(db: &Path, kind: DbKind) -> io::Result<(fs::File, Db, Stamp)> {
    let lock = fs::File::open(db)?;
    lock.lock_shared()?;
    let st = stamp(&lock.metadata()?);
    let handle = Db::open(db, kind, DbMode::Read, READ_BUFFER.load(Ordering::Relaxed))?;
    Ok((lock, handle, st))
}

impl HashTable {
    /// `kind_name` is `hash` or `btree` (anything else opens as hash).
    pub fn open(kind_name: &str, name: &str) -> HashTable {
        HashTable {
            spec: format!("{}:{}", kind_name, name),
            kind: kind(kind_name).unwrap_or(DbKind::Hash),
            db: db_path(Path::new(name)),
            nulls: Nulls::BOTH,
            state: Mutex::new(None),
        }
    }

    /// Try only these key forms (postmap -N: with NUL, -n: without).
    pub fn with_nulls(mut self, nulls: Nulls) -> HashTable {
        self.nulls = nulls;
        self
    }

    fn unavailable(&self, e: &io::Error) -> TableError {
        TableError::Unavailable {
            table: self.spec.clone(),
            reason: format!("open database {}: {}", self.db.display(), io_text(e)),
        }
    }

    fn failed(&self, e: &io::Error) -> TableError {
        TableError::Failed {
            table: self.spec.clone(),
            reason: format!("error reading {}: {}", self.db.display(), io_text(e)),
        }
    }

    /// Look `key` up in `o` under its shared lock (held by the caller).
    fn get(&self, o: &mut Opened, key: &str) -> Result<Option<String>, TableError> {
        if o.nulls.one {
            let mut k = key.as_bytes().to_vec();
            k.push(0);
            if let Some(v) = o.db.get(&k).map_err(|e| self.failed(&e))? {
                o.nulls.zero = false;
                return Ok(Some(c_string(&v)));
            }
        }
        if o.nulls.zero
            && let Some(v) = o.db.get(key.as_bytes()).map_err(|e| self.failed(&e))?
        {
            o.nulls.one = false;
            return Ok(Some(c_string(&v)));
        }
        Ok(None)
    }

    fn lookup_folded(&self, key: &str) -> Result<Option<String>, TableError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = state.as_mut() {
            o.lock.lock_shared().map_err(|e| self.failed(&e))?;
            let same = fs::metadata(&self.db).map(|m| stamp(&m) == o.stamp);
            if let Ok(true) = same {
                let r = self.get(o, key);
                let _ = FileExt::unlock(&o.lock);
                return r;
            }
            let _ = FileExt::unlock(&o.lock);
            *state = None;
        }
        let (lock, db, stamp) =
            open_locked(&self.db, self.kind).map_err(|e| self.unavailable(&e))?;
        let mut o = Opened {
            stamp,
            lock,
            db,
            nulls: self.nulls,
        };
        let r = self.get(&mut o, key);
        let _ = FileExt::unlock(&o.lock);
        *state = Some(o);
        r
    }
}

impl Table for HashTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        self.lookup_folded(&key.to_ascii_lowercase())
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}

/// Every entry of the `kind` file for `source`, in the file's order (postmap -s): keys and
/// values up to their first NUL, as Postfix's dict_db_sequence returns them. The error text
/// names the file, as Postfix's `open database` errors do.
pub fn read_entries(kind: DbKind, source: &Path) -> Result<Vec<(String, String)>, String> {
    let db = db_path(source);
    let (lock, mut handle, _) = open_locked(&db, kind)
        .map_err(|e| format!("open database {}: {}", db.display(), io_text(&e)))?;
    let mut out = Vec::new();
    let mut first = true;
    loop {
        match handle.seq(first) {
            Ok(Some((k, v))) => out.push((c_string(&k), c_string(&v))),
            Ok(None) => break,
            Err(e) => return Err(format!("error seeking {}: {}", db.display(), io_text(&e))),
        }
        first = false;
    }
    drop(handle);
    drop(lock);
    Ok(out)
}
