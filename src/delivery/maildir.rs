//! Maildir delivery (home_mailbox ending in `/`): write the message into `tmp/`, fsync it,
//! rename it into `new/` as `SECS.V<dev>I<inode>M<usec>.HOST` and fsync `new/`, so a message
//! is either complete in `new/` or absent. Several messages for one Maildir (`deliver_many`)
//! share the fsync of `new/` (group commit), their files are fsynced concurrently (a few
//! threads, so the filesystem journals them together), and each is reported delivered only
//! after its file and `new/` were fsynced.
//!
//! Security role: runs as the recipient (in the privileged helper's child when Postern runs
//! as root). Follows the Maildir specification as local(8) and virtual(8) use it. Logs
//! nothing.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::mbox::Failure;
use crate::tables::hash::io_text;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The host part of a Maildir file name: `/` and `:` written as octal escapes.
fn safe_host(host: &str) -> String {
    host.replace('/', "\\057").replace(':', "\\072")
}

/// Deliver `content` (already carrying its delivery headers) into the Maildir `dir`;
/// returns the final file name. `limit` is mailbox_size_limit (0: none).
pub fn deliver(dir: &Path, content: &[u8], limit: u64, host: &str) -> Result<PathBuf, Failure> {
    deliver_many(dir, &[content], limit, host)
        .pop()
        .unwrap_or_else(|| Err(Failure::from_write("error writing message", &no_answer())))
}

fn no_answer() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EIO)
}

/// Files written before their fsyncs at a time (bounds the open descriptors).
const GROUP: usize = 64;

/// Threads fsyncing the files of a group at once: the filesystem commits concurrent fsyncs
/// together (one journal commit for several files, where one after another each waits for
/// its own).
const SYNCERS: usize = 8;

/// Deliver several messages into the Maildir `dir` with one fsync of `new/` for all (group
/// commit): each file is written in `tmp/`, the files are fsynced (concurrently, `SYNCERS`),
/// each is renamed into `new/`, then `new/` is fsynced once. One result per message, in
/// order; nothing is reported delivered before its file and its directory entry are on disk
/// (when the final fsync fails, the renamed files are removed again and every one of them
/// fails).
pub fn deliver_many(
    dir: &Path,
    contents: &[&[u8]],
    limit: u64,
    host: &str,
) -> Vec<Result<PathBuf, Failure>> {
    let too_big = |c: &[u8]| limit > 0 && c.len() as u64 > limit;
    let efbig = || {
        Failure::from_write(
            "error writing message",
            &std::io::Error::from_raw_os_error(libc::EFBIG),
        )
    };
    let mut out: Vec<Result<PathBuf, Failure>> = contents.iter().map(|_| Err(efbig())).collect();
    let todo: Vec<usize> = (0..contents.len())
        .filter(|&i| !too_big(contents[i]))
        .collect();
    if todo.is_empty() {
        return out;
    }
    if let Err(f) = make_dirs(dir) {
        for &i in &todo {
            out[i] = Err(f.clone());
        }
        return out;
    }
    let host = safe_host(host);
    for group in todo.chunks(GROUP) {
        let mut written = Vec::new();
        for &i in group {
            match write_tmp(dir, contents[i], &host) {
                Ok(w) => written.push((i, w)),
                Err(f) => out[i] = Err(f),
            }
        }
        let files: Vec<&File> = written.iter().map(|(_, w)| &w.file).collect();
        let synced = sync_all(&files);
        for ((i, w), r) in written.into_iter().zip(synced) {
            out[i] = match r {
                Ok(()) => rename_new(dir, w, &host),
                Err(e) => {
                    let _ = std::fs::remove_file(&w.tmp);
                    Err(Failure::from_write("error writing message", &e))
                }
            };
        }
    }
    let synced = || File::open(dir.join("new")).and_then(|d| d.sync_all());
    if out.iter().any(Result::is_ok)
        && let Err(e) = synced()
    {
        let f = Failure::from_write("error writing message", &e);
        for r in out.iter_mut() {
            if let Ok(p) = r {
                let _ = std::fs::remove_file(&*p);
                *r = Err(f.clone());
            }
        }
    }
    out
}

/// Create `dir` and its `tmp/`, `new/` and `cur/` as needed (mode 0700).
fn make_dirs(dir: &Path) -> Result<(), Failure> {
    for sub in ["", "tmp", "new", "cur"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(|e| {
                    Failure::from_write(&format!("create maildir directory {}", d.display()), &e)
                })?;
        }
    }
    Ok(())
}

/// fsync `files`, up to `SYNCERS` at a time; one result per file, in order.
fn sync_all(files: &[&File]) -> Vec<std::io::Result<()>> {
    if files.len() < 2 {
        return files.iter().map(|f| f.sync_all()).collect();
    }
    let per = files.len().div_ceil(SYNCERS);
    std::thread::scope(|s| {
        let running: Vec<_> = files
            .chunks(per)
            .map(|chunk| {
                let work = move || chunk.iter().map(|f| f.sync_all()).collect::<Vec<_>>();
                (chunk, std::thread::Builder::new().spawn_scoped(s, work))
            })
            .collect();
        running
            .into_iter()
            .flat_map(|(chunk, t)| match t {
                Ok(t) => t
                    .join()
                    .unwrap_or_else(|_| chunk.iter().map(|_| Err(no_answer())).collect()),
                // No thread: this one does it.
                Err(_) => chunk.iter().map(|f| f.sync_all()).collect(),
            })
            .collect()
    })
}

/// A message written (not yet fsynced) in `tmp/`.
struct Written {
    tmp: PathBuf,
    file: File,
    now: std::time::Duration,
}

/// Create `tmp/SECS.P<pid>Q<n>.HOST` and write `content` into it.
fn write_tmp(dir: &Path, content: &[u8], host: &str) -> Result<Written, Failure> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let tmp = dir.join("tmp").join(format!(
        "{}.P{}Q{}.{}",
        now.as_secs(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        host
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Failure::from_write(&format!("create maildir file {}", tmp.display()), &e))?;
    if let Err(e) = file.write_all(content) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::from_write("error writing message", &e));
    }
    Ok(Written { tmp, file, now })
}

/// Rename a written and fsynced file into `new/` as `SECS.V<dev>I<inode>M<usec>.HOST` (not
/// yet durable: the caller fsyncs `new/`).
fn rename_new(dir: &Path, w: Written, host: &str) -> Result<PathBuf, Failure> {
    let result = (|| {
        let meta = w
            .file
            .metadata()
            .map_err(|e| Failure::from_write("error writing message", &e))?;
        let name = format!(
            "{}.V{:x}I{:x}M{}.{}",
            w.now.as_secs(),
            meta.dev(),
            meta.ino(),
            w.now.subsec_micros(),
            host
        );
        let dest = dir.join("new").join(name);
        std::fs::rename(&w.tmp, &dest).map_err(|e| {
            Failure::from_write(
                &format!("link to maildir file {}: {}", dest.display(), io_text(&e)),
                &e,
            )
        })?;
        Ok(dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&w.tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Status;

    #[test]
    fn delivers_into_new() {
        let d = std::env::temp_dir().join(format!("postern-maildir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let md = d.join("Maildir");
        let p = deliver(&md, b"Subject: x\n\nhi\n", 0, "mx/a:b").unwrap();
        assert_eq!(p.parent().unwrap(), md.join("new"));
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let ino = std::fs::metadata(&p).unwrap().ino();
        assert!(name.contains(&format!("I{:x}M", ino)), "{}", name);
        assert!(name.ends_with(".mx\\057a\\072b"), "{}", name);
        assert_eq!(std::fs::read(&p).unwrap(), b"Subject: x\n\nhi\n");
        assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
        assert!(md.join("cur").is_dir());
        let f = deliver(&md, b"0123456789", 5, "h").unwrap_err();
        assert_eq!((f.status, f.dsn), (Status::Bounced, "5.2.2"));
        assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn batch_answers_each_message_in_order() {
        let d = std::env::temp_dir().join(format!("postern-maildir-b-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let md = d.join("Maildir");
        let msgs: [&[u8]; 3] = [b"first\n", b"far too long\n", b"third\n"];
        let rs = deliver_many(&md, &msgs, 8, "h");
        assert_eq!(rs.len(), 3);
        let a = rs[0].as_ref().unwrap();
        let f = rs[1].as_ref().unwrap_err();
        assert_eq!((f.status, f.dsn), (Status::Bounced, "5.2.2"));
        let c = rs[2].as_ref().unwrap();
        assert_ne!(a, c);
        assert_eq!(std::fs::read(a).unwrap(), b"first\n");
        assert_eq!(std::fs::read(c).unwrap(), b"third\n");
        assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 2);
        assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
        // Only oversized messages: the Maildir is not created.
        let none = d.join("None");
        let rs = deliver_many(&none, &msgs[1..2], 8, "h");
        assert!(rs[0].is_err() && !none.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
