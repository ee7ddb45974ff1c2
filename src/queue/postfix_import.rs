//! Taking over the mail a Postfix installation left in the queue directory: `find` lists
//! Postfix queue files in maildrop/, hold/, incoming/, active/ and deferred/ (flat, or in
//! the one-character subdirectories of $hash_queue_names, with short or long queue IDs);
//! `import` rewrites each one in Postern's format, in incoming/ (to be delivered at
//! once), hold/ (still held) or maildrop/ (to go through pickup, as it would have with
//! Postfix), then removes the Postfix file and its defer/bounce/trace logs.
//!
//! The master imports at start, before the scheduler looks at the queue (Postern would
//! otherwise move a Postfix file with a queue-ID-shaped name to corrupt/); `postfix check`
//! names what start will import, and `postcat -q` finds these files too.
//!
//! Security role: nothing acknowledged is lost: the Postern copy is written, fsynced and
//! renamed into place (`Incoming::commit`) before the Postfix file is removed, so a crash
//! in between delivers the message twice at worst. A file that does not parse stays where
//! it is and is reported. The caller (the root master) gives the new files their owner:
//! mail_owner, or in maildrop/ the submitting user, as pickup takes the sender's uid from
//! the file's owner. Files are opened without following symbolic links (and must be
//! regular), so a link mail_owner plants cannot make root read another file. Logs nothing itself; `Imported` and the errors are the master's to log.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::postfix_file::{self, PostfixMessage};
use super::{Queue, QueueName};

/// A Postfix queue file found in the spool.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub queue: QueueName,
    pub path: PathBuf,
    pub id: String,
}

/// Open a regular file of the spool for reading without following a symbolic link (the
/// root master reads directories mail_owner can write), with its owner's uid.
fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, u32)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((f, m.uid()))
}

/// Whether the file at `path` is one of Postfix's (by its first bytes).
fn is_postfix_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 3];
    let Ok((mut f, _)) = open_regular(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    postfix_file::looks_like_postfix(&head[..n])
}

/// Files in `dir`, and in its one-character subdirectories down to `depth` levels.
fn files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let name = e.file_name();
        if t.is_file() {
            out.push(e.path());
        } else if t.is_dir() && depth > 0 && name.len() == 1 {
            files(&e.path(), depth - 1, out);
        }
    }
}

/// Every Postfix queue file in the spool (Postfix's hash_queue_depth is at most a few
/// levels; four are searched).
pub fn find(queue: &Queue) -> Vec<Found> {
    let mut out = Vec::new();
    for q in QueueName::MESSAGES {
        let mut paths = Vec::new();
        files(&queue.dir(q), 4, &mut paths);
        paths.sort();
        for path in paths {
            let id = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !id.starts_with("t.") && is_postfix_file(&path) {
                out.push(Found { queue: q, path, id });
            }
        }
    }
    out
}

/// The Postfix queue file with queue ID `id`, for `postcat -q`.
pub fn locate(queue: &Queue, id: &str) -> Option<Found> {
    find(queue).into_iter().find(|f| f.id == id)
}

/// One message taken over.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub old_id: String,
    pub from: QueueName,
    pub new_id: String,
    pub to: QueueName,
    pub recipients: usize,
}

/// Owners for the new files when the master runs as root.
#[derive(Debug, Clone, Copy)]
pub struct Owners {
    pub uid: u32,
    pub gid: u32,
    /// setgid_group: the group of maildrop files.
    pub setgid: u32,
}

/// Import every Postfix queue file: the messages taken over, and one line per file that
/// could not be (left in place).
pub fn import(queue: &Queue, owners: Option<Owners>) -> (Vec<Imported>, Vec<String>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for f in find(queue) {
        match import_one(queue, &f, owners) {
            Ok(i) => done.push(i),
            Err(e) => failed.push(format!(
                "{}: Postfix queue file not imported: {}; it stays in place",
                f.path.display(),
                e
            )),
        }
    }
    (done, failed)
}

fn import_one(queue: &Queue, f: &Found, owners: Option<Owners>) -> Result<Imported, String> {
    let (mut file, file_uid) = open_regular(&f.path).map_err(|e| e.to_string())?;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut data).map_err(|e| e.to_string())?;
    let PostfixMessage {
        mut envelope,
        content,
        ..
    } = postfix_file::parse(&data)?;
    let to = match f.queue {
        QueueName::Hold => QueueName::Hold,
        QueueName::Maildrop => QueueName::Maildrop,
        _ => QueueName::Incoming,
    };
    let w = queue
        .create(to)
        .map_err(|e| format!("create queue file: {}", e))?;
    let new_id = w
        .commit(&mut envelope, &content)
        .map_err(|e| format!("write queue file: {}", e))?;
    if let Some(o) = owners {
        let path = queue.path(to, &new_id);
        let (uid, gid) = match to {
            QueueName::Maildrop => (file_uid, o.setgid),
            _ => (o.uid, o.gid),
        };
        crate::sys::chown(&path, uid, gid)
            .map_err(|e| format!("chown {}: {}", path.display(), e))?;
    }
    std::fs::remove_file(&f.path).map_err(|e| format!("remove: {}", e))?;
    remove_logs(queue, &f.id);
    Ok(Imported {
        old_id: f.id.clone(),
        from: f.queue,
        new_id,
        to,
        recipients: envelope.recipients.len(),
    })
}

/// Postfix's per-message logs for `id` (defer/, bounce/, trace/, flat or hashed).
fn remove_logs(queue: &Queue, id: &str) {
    for dir in ["defer", "bounce", "trace"] {
        let mut paths = Vec::new();
        files(&queue.root().join(dir), 4, &mut paths);
        for p in paths {
            if p.file_name().is_some_and(|n| n == id) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// `postfix check`'s line for what start will import, if anything.
pub fn check_line(queue: &Queue) -> Option<String> {
    let found = find(queue);
    if found.is_empty() {
        return None;
    }
    let mut per: Vec<(QueueName, usize)> = Vec::new();
    for f in &found {
        match per.iter_mut().find(|(q, _)| *q == f.queue) {
            Some((_, n)) => *n += 1,
            None => per.push((f.queue, 1)),
        }
    }
    let list: Vec<String> = per
        .iter()
        .map(|(q, n)| format!("{} in {}", n, q.dir_name()))
        .collect();
    Some(format!(
        "{}: {} queue file(s) left by Postfix ({}) (fix: postfix start imports them; \
         postcat -q ID shows one)",
        queue.root().display(),
        found.len(),
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened_and_links_are_not_followed() {
        let dir = std::env::temp_dir().join(format!("postern-import-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("secret");
        std::fs::write(&target, b"C\x0b\x00x").unwrap();
        let link = dir.join("ABCDEF123");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_regular(&target).is_ok());
        assert!(open_regular(&link).is_err(), "a link is not followed");
        assert!(!is_postfix_file(&link));
        assert!(open_regular(&dir).is_err(), "a directory is not read");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
