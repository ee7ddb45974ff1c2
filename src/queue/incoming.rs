//! Writing a new message into the spool (Postfix's cleanup side of mail_queue/mail_stream):
//! `Queue::create` opens the file and gives the queue ID at once (the inode's number, so
//! smtpd can log `ID: client=...` and put the ID in its Received: header), `Incoming::commit`
//! writes the envelope and content and makes them durable. spool-layout.md, "Writing a new
//! message", is the specification.
//!
//! A message for incoming/ gets its queue ID name at once, mode 0600 (not complete: every
//! reader of incoming/ skips it, as Postfix's do), on a spare file when one is ready
//! (`spare`), and the directory fsync for that name starts in the background
//! (`early_sync`); at commit the content is written, the file marked complete (0700) and
//! fsynced, and the directory fsync waited for. Other queues (maildrop/ for postdrop, hold/)
//! get a `t.PID.N` file renamed at commit, with a group-committed directory fsync
//! (`dirsync`).
//!
//! Security role: files are created O_EXCL, mode 0600 (maildrop 0644 when complete), spares
//! opened without following links; nothing is acknowledged before it is durable. Logs
//! nothing; callers do.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    Envelope, Queue, QueueName, dirsync, early_sync, file, fsync_dir, make_queue_id, spare,
    temp_name,
};

/// The first part of the ID for the next message in a spare file: one more than that of
/// the message it held (`old_id`, made from the same inode), so the IDs one file carries in
/// turn all differ (for 2^20 uses). From the clock instead, one inode serving hundreds of
/// messages repeated IDs in the log (9 in 30,000 messages), which pflogsumm would merge.
/// None when `old_id` was not made from `inode`.
fn next_micros(old_id: &str, inode: u64) -> Option<u32> {
    let micros = u32::from_str_radix(old_id.get(..5)?, 16).ok()?;
    (make_queue_id(micros, inode) == old_id).then(|| (micros + 1) % 0x100000)
}

impl Queue {
    /// Start writing a new message into incoming/ (or another queue, for maildrop-style
    /// writers). The queue ID is known at once; nothing is visible to the scheduler until
    /// `commit`. A message for incoming/ overwrites a spare file when there is one, and its
    /// file gets its queue ID name at once (`named`).
    pub fn create(&self, q: QueueName) -> io::Result<Incoming> {
        if q == QueueName::Incoming
            && let Some(w) = self.reuse_spare()
        {
            return Ok(w);
        }
        let dir = self.dir(q);
        loop {
            let tmp = dir.join(temp_name());
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
            let ino = match file.metadata() {
                Ok(m) => m.ino(),
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            let id = make_queue_id(now_micros(), ino);
            if q == QueueName::Incoming {
                return self.named(tmp, file, id, false);
            }
            // Maildrop files are written by the submitting user and read by pickup (mail_owner).
            let mode = if q == QueueName::Maildrop {
                0o644
            } else {
                0o700
            };
            return Ok(self.incoming(q, tmp, file, id, mode, false));
        }
    }

    /// Give a new message's file (mode 0600: not complete, which every reader of incoming/
    /// skips) its queue ID name in incoming/ now, and start the directory fsync that makes
    /// the name durable (`early_sync`), so that at commit only the file's own fsync is left.
    /// On failure `from` is removed.
    fn named(&self, from: PathBuf, file: File, id: String, reused: bool) -> io::Result<Incoming> {
        let dest = self.path(QueueName::Incoming, &id);
        let placed = self
            .make_parent(QueueName::Incoming.dir_name(), &dest)
            .map(|_| early_sync::handle(dest.parent().unwrap_or(&dest)))
            .and_then(|dir| fs::rename(&from, &dest).map(|_| dir));
        let dir = match placed {
            Ok(dir) => dir,
            Err(e) => {
                let _ = fs::remove_file(&from);
                return Err(e);
            }
        };
        let mut w = self.incoming(QueueName::Incoming, dest, file, id, 0o700, reused);
        w.ticket = Some(dir.request());
        self.sync_hash_parents(QueueName::Incoming, &w.tmp)?;
        Ok(w)
    }

    /// fsync the hash subdirectories above `path` into their parents (on every commit into a
    /// hashed queue, not only by the writer that made them, since another thread may have
    /// made one and not yet synced its parent).
    fn sync_hash_parents(&self, q: QueueName, path: &Path) -> io::Result<()> {
        if self.hashing.depth_of(q.dir_name()) == 0 {
            return Ok(());
        }
        let top = self.dir(q);
        let mut d = path.parent();
        while let Some(p) = d.and_then(|p| p.parent()) {
            fsync_dir(p)?;
            if p == top {
                break;
            }
            d = Some(p);
        }
        Ok(())
    }

    /// A writer into incoming/ on a spare file (one whose move out of the queue is durable),
    /// if one opens (a regular file, never through a link); a spare that does not is
    /// deleted. The IDs of the messages one file holds in turn differ (`next_micros`). The
    /// spare is made "not complete" (mode 0600) before it takes its new name, so no reader
    /// takes its old message for the new one.
    fn reuse_spare(&self) -> Option<Incoming> {
        while let Some(s) = self.spares.take() {
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&s.path)
                .and_then(|f| f.metadata().map(|m| (f, m)));
            match opened {
                Ok((file, meta))
                    if meta.is_file()
                        && meta.nlink() == 1
                        && spare::fresh(&meta)
                        && !older_format(&file, meta.len()) =>
                {
                    if file
                        .set_permissions(fs::Permissions::from_mode(0o600))
                        .is_err()
                    {
                        let _ = fs::remove_file(&s.path);
                        continue;
                    }
                    let micros = next_micros(&s.old_id, meta.ino()).unwrap_or_else(now_micros);
                    let id = make_queue_id(micros, meta.ino());
                    if let Ok(w) = self.named(s.path, file, id, true) {
                        return Some(w);
                    }
                }
                _ => {
                    let _ = fs::remove_file(&s.path);
                }
            }
        }
        None
    }

    fn incoming(
        &self,
        target: QueueName,
        tmp: PathBuf,
        file: File,
        id: String,
        mode: u32,
        reused: bool,
    ) -> Incoming {
        Incoming {
            queue: self.clone(),
            target,
            tmp,
            file: Some(file),
            id,
            committed: false,
            mode,
            reused,
            ticket: None,
        }
    }
}

/// The microseconds of the current second (the first part of a short queue ID).
fn now_micros() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_micros())
        .unwrap_or(0)
}

/// Whether a spare holds a message of an earlier version (an empty end record, no checksum
/// nor ID): such a file is not reused, since a crash could then leave its old message,
/// complete by mode, under the new name, and nothing would tell it from the new one.
fn older_format(file: &File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut tail = [0u8; 4];
    len < 4 || file.read_exact_at(&mut tail, len - 4).is_err() || &tail == b"E0:\n"
}

/// A message being written. Dropped without `commit`, it leaves nothing behind.
pub struct Incoming {
    queue: Queue,
    /// The queue the message is committed into.
    target: QueueName,
    /// Where the file is now: `t.PID.N` in its queue, or, for incoming/, already
    /// `incoming/ID` (mode 0600 until complete; `ticket` is then set).
    tmp: PathBuf,
    file: Option<File>,
    id: String,
    committed: bool,
    mode: u32,
    /// A spare file: longer content of the message it held is cut off before the fsync.
    reused: bool,
    /// The early fsync of incoming/ that makes this file's name durable (`named`).
    ticket: Option<early_sync::Ticket>,
}

impl Incoming {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Commit into hold/ instead (next to the queue this was created in), as Postfix's
    /// cleanup does for a HOLD action: the message waits for `postsuper -H`.
    pub fn hold(&mut self) {
        self.target = QueueName::Hold;
    }

    /// Write the envelope and content, mark the file complete (mode 0700, as Postfix marks
    /// a finished queue file; 0644 in maildrop/) and fsync it, and see that its queue ID
    /// name is durable. Only after this returns Ok may the server answer 250.
    ///
    /// A file in incoming/ already has its name (`named`): the early fsync of the
    /// directory has run, or runs, meanwhile, and is waited for here. Any other file is
    /// renamed from `t.PID.N` now, and the directory fsync is a group commit (`dirsync`):
    /// sessions of this process that finish at the same moment share one, which starts only
    /// after each one's rename. If a directory fsync fails, the message is not acknowledged
    /// (4xx); a file already complete then stays or is removed, and one that stays is
    /// delivered (a duplicate at worst). A failed fsync of a hash subdirectory's parent is
    /// handled the same way.
    pub fn commit(mut self, env: &mut Envelope, content: &[u8]) -> io::Result<String> {
        let buf = file::encode(env, content, &self.id);
        let mut f = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("already committed"))?;
        if let Some(ticket) = self.ticket.take() {
            return self.commit_named(f, &buf, ticket);
        }
        f.set_permissions(fs::Permissions::from_mode(self.mode))?;
        f.write_all(&buf)?;
        if self.reused {
            f.set_len(buf.len() as u64)?;
        }
        f.sync_all()?;
        let dest = self.queue.path(self.target, &self.id);
        let dir_name = self.target.dir_name();
        self.queue.make_parent(dir_name, &dest)?;
        fs::rename(&self.tmp, &dest)?;
        self.committed = true;
        self.queue.sync_hash_parents(self.target, &dest)?;
        let dir = dest.parent().unwrap_or(&dest).to_path_buf();
        match dirsync::sync_dir(&dir) {
            Ok(()) => {}
            // postdrop (group write, no read on maildrop/) cannot open the directory; as with
            // Postfix, a maildrop entry is made durable by pickup's own commit into incoming/.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && self.mode == 0o644 => {}
            Err(e) => return Err(e),
        }
        Ok(self.id.clone())
    }

    /// Commit a file already named `incoming/ID`: the content first, then the complete mark
    /// (so no reader sees the mark on a spare's old bytes), then the file's fsync and the
    /// wait for the directory's. For hold/ (a HOLD action) the file moves there first.
    fn commit_named(
        &mut self,
        mut f: File,
        buf: &[u8],
        ticket: early_sync::Ticket,
    ) -> io::Result<String> {
        f.write_all(buf)?;
        if self.reused {
            f.set_len(buf.len() as u64)?;
        }
        if self.target != QueueName::Incoming {
            return self.commit_moved(f, ticket);
        }
        // Checked while the file is still "not complete", so that no reader may have taken
        // it: once complete the scheduler may move it at once.
        self.still_named(&f)?;
        f.set_permissions(fs::Permissions::from_mode(self.mode))?;
        if let Err(e) = f.sync_all() {
            // Not durable: no longer complete to the scheduler (Drop removes it).
            let _ = f.set_permissions(fs::Permissions::from_mode(0o600));
            return Err(e);
        }
        ticket.wait()?;
        self.committed = true;
        Ok(self.id.clone())
    }

    /// The file still has its name (an administrator's rm or a purge did not take it while
    /// it was written): otherwise the message would be acknowledged and then lost.
    fn still_named(&self, f: &File) -> io::Result<()> {
        let ino = f.metadata()?.ino();
        match fs::symlink_metadata(&self.tmp) {
            Ok(m) if m.ino() == ino => Ok(()),
            Ok(_) => Err(io::Error::other("queue file replaced while written")),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("queue file removed while written: {}", e),
            )),
        }
    }

    /// The HOLD case of `commit_named`: the file stays "not complete" (0600) until its move
    /// is durable: fsync the file, rename into hold/, fsync incoming/ (the old name gone)
    /// and hold/ (the new one), then mark it complete. A crash before that leaves either
    /// incoming/ID at 0600 (removed at start) or hold/ID (still held; hold/ does not go by
    /// mode, and a file released from it is marked complete as it moves), never a complete
    /// incoming/ID that would be delivered although held.
    fn commit_moved(&mut self, f: File, ticket: early_sync::Ticket) -> io::Result<String> {
        f.sync_all()?;
        ticket.wait()?;
        self.still_named(&f)?;
        let dest = self.queue.path(self.target, &self.id);
        self.queue.make_parent(self.target.dir_name(), &dest)?;
        fs::rename(&self.tmp, &dest)?;
        let old = std::mem::replace(&mut self.tmp, dest.clone());
        fsync_dir(old.parent().unwrap_or(&old))?;
        self.queue.sync_hash_parents(self.target, &dest)?;
        dirsync::sync_dir(dest.parent().unwrap_or(&dest))?;
        f.set_permissions(fs::Permissions::from_mode(self.mode))?;
        self.committed = true;
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
#[path = "incoming_tests.rs"]
mod tests;
