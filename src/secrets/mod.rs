//! Files that hold secrets (root-only mysql_*.cf with passwords, TLS private keys, the SASL
//! configuration), read the way Postfix's daemons read them: before privileges are dropped.
//!
//! Every reader of such a file goes through `read_file`. The process-wide `Store` (path ->
//! contents, or the error reading it) is filled by the root master: `postfix start` reads the
//! files as root before the whole process drops to $mail_owner (`master::preload`), and
//! `postfix reload`, running unprivileged by then, asks the root local-delivery helper to
//! read them again (`delivery::privileged` secrets request) and installs the new store; if
//! that fails the old store stays. `read_file` answers from the installed store for a path
//! it holds (exactly as written in the configuration), else reads the file directly as
//! whatever account the process runs as (so `postmap -q` run as root, and everything when
//! Postern does not run as root, still works).
//!
//! Which files are secrets is decided by one function, `secret_files` (`list`), from main.cf
//! and master.cf, so that the root helper derives the same list itself from its own
//! configuration directory and trusts nothing the unprivileged master sends (plus the
//! `option_file` of a mysql .cf, `nested_files`). A file that could not be read stays an
//! error in the store (so its user reports it, e.g. a table's temporary error) until the
//! next reload reads it again; a file changed on disk is likewise seen after a reload. Files are read
//! by `read_secret` (`read`): regular files only, the last component not followed unless it
//! is a symbolic link owned by root, at most `MAX_SECRET` bytes.
//!
//! Security role: the only place secret files are read; the store lives in the memory of the
//! unprivileged process, as Postfix's daemons keep what they read before dropping
//! privileges. Logs nothing (the master logs what was loaded).

mod list;
mod read;

pub use list::{SecretFile, load_list, nested_files, sasl_config_candidates, secret_files};
pub use read::{MAX_SECRET, read_secret};

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Preloaded secret files: each path with its contents or why it could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Store {
    files: BTreeMap<PathBuf, Result<Vec<u8>, String>>,
}

impl Store {
    /// Read every file of `list` (as the running account). An optional file that does not
    /// exist is left out; any other failure is kept, to be reported at use.
    /// The files that a file of the list names (`list::nested_files`) are read too.
    pub fn read(list: &[SecretFile]) -> Store {
        let mut store = Store::default();
        let mut nested = Vec::new();
        for f in list {
            if let Some(Ok(bytes)) = store.read_one(f) {
                nested.extend(nested_files(f, bytes));
            }
        }
        for f in &nested {
            if store.get(&f.path).is_none() {
                store.read_one(f);
            }
        }
        store
    }

    /// Read `f` into the store; its outcome, unless it is optional and missing.
    fn read_one(&mut self, f: &SecretFile) -> Option<&Result<Vec<u8>, String>> {
        let outcome = match read_secret(&f.path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if f.optional && e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => Err(error_text(&e)),
        };
        self.files.insert(f.path.clone(), outcome);
        self.files.get(&f.path)
    }

    /// Record the outcome of reading `path`.
    pub fn insert(&mut self, path: PathBuf, outcome: Result<Vec<u8>, String>) {
        self.files.insert(path, outcome);
    }

    /// The outcome of reading `path`, if the store holds it.
    pub fn get(&self, path: &Path) -> Option<&Result<Vec<u8>, String>> {
        self.files.get(path)
    }

    /// Every file held, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&PathBuf, &Result<Vec<u8>, String>)> {
        self.files.iter()
    }

    /// How many files the store holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the store holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// `read_file` against this store: the held contents or error, else a direct read.
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.get(path) {
            Some(Ok(bytes)) => Ok(bytes.clone()),
            Some(Err(why)) => Err(io::Error::other(why.clone())),
            None => std::fs::read(path),
        }
    }
}

/// An I/O error's text without Rust's ` (os error N)` suffix, as Postfix words it.
fn error_text(e: &io::Error) -> String {
    crate::sys::error_text(e)
}

static INSTALLED: RwLock<Option<Arc<Store>>> = RwLock::new(None);

/// Make `store` the process-wide store (replacing the previous one).
pub fn install(store: Store) {
    *INSTALLED.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(store));
}

/// The process-wide store, if the master installed one.
pub fn installed() -> Option<Arc<Store>> {
    INSTALLED.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The contents of the secret file `path`: preloaded by the root master when it is one of
/// the configured secret files, else read directly.
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    match installed() {
        Some(store) => store.read_file(path),
        None => std::fs::read(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("postern-secrets-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn store_answers_for_its_files_and_reads_others_directly() {
        let d = tmp("store");
        let (held, other, missing) = (d.join("held.cf"), d.join("other"), d.join("gone.cf"));
        std::fs::write(&held, "password = old\n").unwrap();
        std::fs::write(&other, "plain").unwrap();
        let sasl = d.join("smtpd.conf");
        let list = [
            SecretFile::required(held.clone()),
            SecretFile::required(missing.clone()),
            SecretFile {
                path: sasl.clone(),
                optional: true,
                mysql: false,
            },
        ];
        let store = Store::read(&list);
        assert_eq!(store.len(), 2, "a missing optional file is left out");
        assert!(store.get(&sasl).is_none());
        // Later changes to the file are not seen until the store is read again.
        std::fs::write(&held, "password = new\n").unwrap();
        assert_eq!(store.read_file(&held).unwrap(), b"password = old\n");
        let e = store.read_file(&missing).unwrap_err();
        assert!(e.to_string().contains("No such file"), "{}", e);
        assert_eq!(store.read_file(&other).unwrap(), b"plain");
        assert_eq!(
            Store::read(&list).read_file(&held).unwrap(),
            b"password = new\n"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_mysql_option_file_is_read_with_its_cf_file() {
        let d = tmp("nested");
        let (cf, cnf) = (d.join("my.cf"), d.join("postfix.cnf"));
        std::fs::write(&cf, format!("option_file = {}\n", cnf.display())).unwrap();
        std::fs::write(&cnf, "[client]\npassword = p\n").unwrap();
        let list = [SecretFile {
            mysql: true,
            ..SecretFile::required(cf.clone())
        }];
        let store = Store::read(&list);
        assert_eq!(store.len(), 2);
        assert_eq!(store.read_file(&cnf).unwrap(), b"[client]\npassword = p\n");
        std::fs::remove_file(&cnf).unwrap();
        let e = Store::read(&list).read_file(&cnf).unwrap_err();
        assert_eq!(e.to_string(), "No such file or directory");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn installed_store_serves_read_file() {
        let d = tmp("install");
        let f = d.join("key.pem");
        std::fs::write(&f, "on disk").unwrap();
        let mut store = Store::default();
        store.insert(f.clone(), Ok(b"preloaded".to_vec()));
        install(store);
        assert_eq!(read_file(&f).unwrap(), b"preloaded");
        // Files the store does not hold are read directly.
        let g = d.join("other");
        std::fs::write(&g, "direct").unwrap();
        assert_eq!(read_file(&g).unwrap(), b"direct");
        install(Store::default());
        assert_eq!(read_file(&f).unwrap(), b"on disk");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
