//! Files that hold secrets (root-only mysql_*.cf with passwords, TLS private keys, the SASL
//! configuration), read the way Postfix's daemons read them: before privileges are dropped.
//!
//! Every reader of such a file goes through `read_file`. This first version reads the file
//! directly, as whatever account the process runs as; the preloading by the root master
//! (at start, and on `postfix reload` through the root helper) replaces it, so that the
//! unprivileged parts keep working with files only root may read.
//!
//! Security role: the only place secret files are read. Logs nothing.

use std::io;
use std::path::Path;

/// The contents of the secret file `path`.
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}
