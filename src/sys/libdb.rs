//! Berkeley DB files through the system libdb (`-ldb`: Debian `libdb5.3-dev`, RHEL
//! `libdb-devel`), for `hash:` and `btree:` tables that Postfix reads and writes too.
//!
//! The interface is libdb's DB 1.85 compatibility API, `dbopen()` (exported as
//! `__db185_open`): a nine-member struct of function pointers (`close`, `del`, `get`, `put`,
//! `seq`, `sync`, `fd`) and the `HASHINFO`/`BTREEINFO` open parameters, unchanged since
//! 4.4BSD and built into libdb 4.x and 5.x by Debian and RHEL (`--enable-compat185`). The
//! native API's `DB` struct holds well over a hundred function pointers whose order changes
//! between releases, so declaring it by hand would tie the binary to one libdb version;
//! the 1.85 layer is a thin front end over the same native access methods, so the files it
//! writes are the ordinary version-9 hash / version-9 btree files that Postfix's `dict_db`
//! (native API) writes and reads. Postfix's dict_db.c notes that the 1.85 layer lacks a way
//! to make fcntl locks safe: Postern locks with flock(2) on a separate descriptor
//! (`crate::tables::hash`), as Postfix does on Linux (INTERNAL_LOCK is flock there).
//!
//! Security role: the only place libdb is called; every call is in this file, each with a
//! SAFETY comment. A handle is used by one thread at a time (callers keep it in a Mutex).
//! Logs nothing; errors are `io::Error`s from errno, as libdb's 1.85 layer reports them.

use std::ffi::CString;
use std::io;
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

/// DB 1.85's `DBT`: a pointer and a length.
#[repr(C)]
struct Dbt {
    data: *mut c_void,
    size: usize,
}

/// DB 1.85's `DB` (db_185.h): the access method's function pointers.
#[repr(C)]
struct Db185 {
    kind: c_int,
    close: unsafe extern "C" fn(*mut Db185) -> c_int,
    del: unsafe extern "C" fn(*const Db185, *const Dbt, c_uint) -> c_int,
    get: unsafe extern "C" fn(*const Db185, *const Dbt, *mut Dbt, c_uint) -> c_int,
    put: unsafe extern "C" fn(*const Db185, *mut Dbt, *const Dbt, c_uint) -> c_int,
    seq: unsafe extern "C" fn(*const Db185, *mut Dbt, *mut Dbt, c_uint) -> c_int,
    sync: unsafe extern "C" fn(*const Db185, c_uint) -> c_int,
    internal: *mut c_void,
    fd: unsafe extern "C" fn(*const Db185) -> c_int,
}

/// db_185.h `HASHINFO`.
#[repr(C)]
struct HashInfo {
    bsize: u32,
    ffactor: u32,
    nelem: u32,
    cachesize: u32,
    hash: Option<unsafe extern "C" fn(*const c_void, usize) -> u32>,
    lorder: c_int,
}

/// db_185.h `BTREEINFO`.
#[repr(C)]
struct BtreeInfo {
    flags: u32,
    cachesize: u32,
    maxkeypage: u32,
    minkeypage: u32,
    psize: u32,
    compare: Option<unsafe extern "C" fn(*const Dbt, *const Dbt) -> c_int>,
    prefix: Option<unsafe extern "C" fn(*const Dbt, *const Dbt) -> usize>,
    lorder: c_int,
}

// db_185.h: `typedef enum { DB_BTREE, DB_HASH, DB_RECNO } DBTYPE;` and the routine flags.
const DB_BTREE: c_int = 0;
const DB_HASH: c_int = 1;
const R_FIRST: c_uint = 3;
const R_NEXT: c_uint = 7;
const R_NOOVERWRITE: c_uint = 8;

/// Postfix's DICT_DB_NELM: the expected element count of a new hash table.
const HASH_NELEM: u32 = 4096;

#[link(name = "db")]
unsafe extern "C" {
    fn __db185_open(
        file: *const c_char,
        flags: c_int,
        mode: c_int,
        kind: c_int,
        openinfo: *const c_void,
    ) -> *mut Db185;
}

/// The two access methods Postfix uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Hash,
    Btree,
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbMode {
    /// O_RDONLY.
    Read,
    /// O_RDWR of an existing file.
    Write,
    /// O_RDWR|O_CREAT: an existing file, or a new one.
    Update,
    /// O_RDWR|O_CREAT|O_TRUNC: a new, empty table.
    Create,
}

/// An open Berkeley DB file. Closed when dropped (`close` reports the error).
pub struct Db {
    handle: Option<NonNull<Db185>>,
}

// SAFETY: a DB handle may be used from any thread as long as only one thread uses it at a
// time; `Db`'s methods take `&mut self` or are only called under the owner's Mutex, and
// `Db` is not `Sync`.
unsafe impl Send for Db {}

fn check(rc: c_int) -> io::Result<c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn bytes(d: &Dbt) -> Vec<u8> {
    if d.data.is_null() || d.size == 0 {
        return Vec::new();
    }
    // SAFETY: libdb returned `data` pointing at `size` readable bytes, valid until the next
    // call on this handle; they are copied before any other call.
    unsafe { std::slice::from_raw_parts(d.data as *const u8, d.size) }.to_vec()
}

impl Db {
    /// Open `path` as a `kind` file with `cache` bytes of memory pool (Postfix's
    /// berkeley_db_read_buffer_size / berkeley_db_create_buffer_size), mode 0644 if created.
    pub fn open(path: &Path, kind: DbKind, mode: DbMode, cache: u32) -> io::Result<Db> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let flags = match mode {
            DbMode::Read => libc::O_RDONLY,
            DbMode::Write => libc::O_RDWR,
            DbMode::Update => libc::O_RDWR | libc::O_CREAT,
            DbMode::Create => libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
        };
        let hash = HashInfo {
            bsize: 0,
            ffactor: 0,
            nelem: HASH_NELEM,
            cachesize: cache,
            hash: None,
            lorder: 0,
        };
        let btree = BtreeInfo {
            flags: 0,
            cachesize: cache,
            maxkeypage: 0,
            minkeypage: 0,
            psize: 0,
            compare: None,
            prefix: None,
            lorder: 0,
        };
        let (kind, info) = match kind {
            DbKind::Hash => (DB_HASH, &hash as *const HashInfo as *const c_void),
            DbKind::Btree => (DB_BTREE, &btree as *const BtreeInfo as *const c_void),
        };
        // SAFETY: `c` is a NUL-terminated path; `info` points at the HASHINFO or BTREEINFO
        // matching `kind`, alive for the call (libdb copies what it needs).
        let p = unsafe { __db185_open(c.as_ptr(), flags, 0o644, kind, info) };
        match NonNull::new(p) {
            Some(h) => Ok(Db { handle: Some(h) }),
            None => {
                let e = io::Error::last_os_error();
                // A failed open with errno 0 would read as success; say what failed.
                if e.raw_os_error() == Some(0) {
                    Err(io::Error::from_raw_os_error(libc::EINVAL))
                } else {
                    Err(e)
                }
            }
        }
    }

    fn raw(&self) -> io::Result<*mut Db185> {
        self.handle
            .map(|h| h.as_ptr())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    /// The value stored under exactly `key`.
    pub fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let db = self.raw()?;
        let k = Dbt {
            data: key.as_ptr() as *mut c_void,
            size: key.len(),
        };
        let mut v = Dbt {
            data: std::ptr::null_mut(),
            size: 0,
        };
        // SAFETY: `db` is an open handle from __db185_open; `k` points at `key`, alive for
        // the call, which libdb only reads; `v` is written by libdb.
        let rc = check(unsafe { ((*db).get)(db, &k, &mut v, 0) })?;
        Ok((rc == 0).then(|| bytes(&v)))
    }

    /// Store `value` under `key`. Without `replace`, an existing key is left alone and the
    /// result is false (Postfix's DONT_CLOBBER, which it reports as a duplicate).
    pub fn put(&mut self, key: &[u8], value: &[u8], replace: bool) -> io::Result<bool> {
        let db = self.raw()?;
        let mut k = Dbt {
            data: key.as_ptr() as *mut c_void,
            size: key.len(),
        };
        let v = Dbt {
            data: value.as_ptr() as *mut c_void,
            size: value.len(),
        };
        let flags = if replace { 0 } else { R_NOOVERWRITE };
        // SAFETY: `db` is an open handle; `k` and `v` point at the caller's slices, alive
        // for the call (libdb copies them into its pages and does not write through `k`
        // for hash and btree files).
        let rc = check(unsafe { ((*db).put)(db, &mut k, &v, flags) })?;
        Ok(rc == 0)
    }

    /// Remove `key`; false when it was not there.
    pub fn del(&mut self, key: &[u8]) -> io::Result<bool> {
        let db = self.raw()?;
        let k = Dbt {
            data: key.as_ptr() as *mut c_void,
            size: key.len(),
        };
        // SAFETY: `db` is an open handle; `k` points at `key`, alive for the call.
        let rc = check(unsafe { ((*db).del)(db, &k, 0) })?;
        Ok(rc == 0)
    }

    /// The first (`first`) or next entry in the file's order; None at the end.
    pub fn seq(&mut self, first: bool) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
        let db = self.raw()?;
        let mut k = Dbt {
            data: std::ptr::null_mut(),
            size: 0,
        };
        let mut v = Dbt {
            data: std::ptr::null_mut(),
            size: 0,
        };
        let flag = if first { R_FIRST } else { R_NEXT };
        // SAFETY: `db` is an open handle; `k` and `v` are written by libdb.
        let rc = check(unsafe { ((*db).seq)(db, &mut k, &mut v, flag) })?;
        Ok((rc == 0).then(|| (bytes(&k), bytes(&v))))
    }

    /// Write cached pages to the file.
    pub fn sync(&mut self) -> io::Result<()> {
        let db = self.raw()?;
        // SAFETY: `db` is an open handle.
        check(unsafe { ((*db).sync)(db, 0) }).map(|_| ())
    }

    /// Close the file, reporting what libdb says (pages are written first).
    pub fn close(mut self) -> io::Result<()> {
        self.close_handle()
    }

    fn close_handle(&mut self) -> io::Result<()> {
        let Some(h) = self.handle.take() else {
            return Ok(());
        };
        let db = h.as_ptr();
        // SAFETY: `db` is an open handle, taken out of `self` so it is closed exactly once
        // and never used again.
        check(unsafe { ((*db).close)(db) }).map(|_| ())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.close_handle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_seq_del_in_both_kinds() {
        let dir = std::env::temp_dir().join(format!("postern-libdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for kind in [DbKind::Hash, DbKind::Btree] {
            let p = dir.join(format!("{:?}.db", kind));
            let mut db = Db::open(&p, kind, DbMode::Create, 1 << 20).unwrap();
            assert!(db.put(b"a\0", b"1\0", false).unwrap());
            assert!(!db.put(b"a\0", b"2\0", false).unwrap(), "no clobber");
            assert!(db.put(b"b", b"2", true).unwrap());
            db.close().unwrap();
            let mut db = Db::open(&p, kind, DbMode::Read, 1 << 17).unwrap();
            assert_eq!(db.get(b"a\0").unwrap().as_deref(), Some(&b"1\0"[..]));
            assert_eq!(db.get(b"a").unwrap(), None);
            let mut all = Vec::new();
            let mut first = true;
            while let Some(e) = db.seq(first).unwrap() {
                all.push(e);
                first = false;
            }
            all.sort();
            assert_eq!(
                all,
                vec![
                    (b"a\0".to_vec(), b"1\0".to_vec()),
                    (b"b".to_vec(), b"2".to_vec())
                ]
            );
            assert!(db.put(b"c", b"3", true).is_err(), "read-only handle");
            drop(db);
            let mut db = Db::open(&p, kind, DbMode::Write, 1 << 17).unwrap();
            assert!(db.del(b"b").unwrap());
            assert!(!db.del(b"b").unwrap());
        }
        let wrong = Db::open(&dir.join("Hash.db"), DbKind::Btree, DbMode::Read, 1 << 17);
        assert!(wrong.is_err(), "a hash file is not a btree");
        let missing = Db::open(&dir.join("none.db"), DbKind::Hash, DbMode::Read, 1 << 17);
        assert_eq!(
            missing.err().and_then(|e| e.raw_os_error()),
            Some(libc::ENOENT)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
