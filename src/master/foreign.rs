//! Entries another mail system left where Postern keeps its FIFOs: on a queue directory
//! that Postfix used, `public/qmgr`, `public/pickup` (and `private/qmgr`) may be UNIX
//! sockets (Debian's and RHEL's master.cf declare qmgr and pickup `unix`, or leave old
//! sockets behind). `postfix start` replaces them with FIFOs (`replace`); `postfix check`
//! names them (`problems`). `public/showq` is a socket in both and is re-created by
//! showq itself.
//!
//! Security role: only non-directory entries at Postern's own FIFO paths are removed, and
//! only while this master holds the pid-file lock (so no mail system of ours runs there);
//! entries are examined with lstat, a symbolic link is removed, never followed. Logs one
//! warning per replaced entry.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::queue::Queue;

/// The FIFOs the running master creates.
fn fifo_paths(queue: &Queue) -> [PathBuf; 3] {
    [
        crate::qmgr::control::public_fifo(queue),
        crate::qmgr::control::private_fifo(queue),
        crate::pickup::fifo_path(queue),
    ]
}

/// What an entry at a FIFO path is, when it is not a FIFO; `None` for a FIFO or nothing.
fn wrong_kind(path: &Path) -> Option<&'static str> {
    let t = std::fs::symlink_metadata(path).ok()?.file_type();
    Some(if t.is_fifo() {
        return None;
    } else if t.is_socket() {
        "a UNIX socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a device or other special file"
    })
}

/// `postfix check`'s lines: each entry that is not the FIFO Postern needs there.
pub fn problems(queue: &Queue) -> Vec<String> {
    fifo_paths(queue)
        .iter()
        .filter_map(|p| {
            let kind = wrong_kind(p)?;
            let fix = if kind == "a directory" {
                format!("move it away: mv {} {}.old", p.display(), p.display())
            } else {
                "postfix start replaces it".to_string()
            };
            Some(format!(
                "{}: {} where Postern needs a FIFO (left by Postfix?) (fix: {})",
                p.display(),
                kind,
                fix
            ))
        })
        .collect()
}

/// Remove every non-directory entry at a FIFO path (the caller then creates the FIFOs);
/// returns one line per replaced entry. A directory is an error (never removed).
pub fn replace(queue: &Queue) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    for p in fifo_paths(queue) {
        let Some(kind) = wrong_kind(&p) else {
            continue;
        };
        if kind == "a directory" {
            return Err(format!(
                "{} is a directory where Postern needs a FIFO; move it away",
                p.display()
            ));
        }
        std::fs::remove_file(&p).map_err(|e| format!("remove {}: {}", p.display(), e))?;
        done.push(format!(
            "{}: replaced {} (left by Postfix?) with a FIFO",
            p.display(),
            kind
        ));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_and_files_are_named_and_replaced_directories_refused() {
        let dir = std::env::temp_dir().join(format!("postern-foreign-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let queue = Queue::new(&dir);
        queue.create_dirs().unwrap();
        let _sock =
            std::os::unix::net::UnixListener::bind(crate::qmgr::control::public_fifo(&queue))
                .unwrap();
        std::fs::write(crate::pickup::fifo_path(&queue), "x").unwrap();
        let found = problems(&queue);
        assert_eq!(found.len(), 2, "{:?}", found);
        assert!(found[0].contains("public/qmgr: a UNIX socket where Postern needs a FIFO"));
        assert!(found[1].contains("public/pickup: a regular file"));
        assert_eq!(replace(&queue).unwrap().len(), 2);
        assert!(problems(&queue).is_empty());
        assert!(replace(&queue).unwrap().is_empty());
        std::fs::create_dir(crate::qmgr::control::private_fifo(&queue)).unwrap();
        assert!(replace(&queue).unwrap_err().contains("is a directory"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
