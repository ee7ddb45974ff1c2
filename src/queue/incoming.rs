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
mod tests {
    use super::*;
    use crate::queue::{QueueFile, Recipient};

    fn commit_one(q: &Queue, body: &[u8]) -> String {
        let w = q.create(QueueName::Incoming).unwrap();
        let mut env = Envelope::new("s@x");
        env.recipients.push(Recipient::new("r@y"));
        w.commit(&mut env, body).unwrap()
    }

    fn temp_queue(tag: &str) -> Queue {
        let dir = std::env::temp_dir().join(format!("postern-qw-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        q
    }

    #[test]
    fn a_delivered_message_file_is_overwritten_by_the_next_one() {
        let q = temp_queue("spare");
        let long = vec![b'x'; 20_000];
        let old = commit_one(&q, &long);
        q.move_to(&old, QueueName::Incoming, QueueName::Active)
            .unwrap();
        let ino = fs::metadata(q.path(QueueName::Active, &old)).unwrap().ino();
        q.recycle(&old, QueueName::Active).unwrap();
        assert_eq!(q.locate(&old), None, "gone from the queues");
        assert_eq!(q.spare_count(), 1);
        let spare_dir = q.root().join(spare::DIR);
        assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 1);
        // Not used before its move out of active/ is durable.
        let other = commit_one(&q, b"other\n");
        let other_ino = fs::metadata(q.path(QueueName::Incoming, &other))
            .unwrap()
            .ino();
        assert_ne!(other_ino, ino);
        assert_eq!(q.spare_count(), 1);
        q.settle_spares();

        let new = commit_one(&q, b"short\n");
        assert_ne!(new, old, "a new queue ID");
        assert_eq!(q.spare_count(), 0);
        assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 0);
        let path = q.path(QueueName::Incoming, &new);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.ino(), ino, "the same file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        // Nothing of the longer message is left after the new one.
        let mut qf = QueueFile::open(&path).unwrap();
        assert_eq!(qf.content().unwrap(), b"short\n");
        assert_eq!(qf.envelope.recipients.len(), 1);
        let mut fresh = Envelope::new("s@x");
        fresh.recipients.push(Recipient::new("r@y"));
        assert_eq!(
            meta.len(),
            file::encode(&mut fresh, b"short\n", &new).len() as u64
        );
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn one_file_serving_message_after_message_never_repeats_an_id() {
        let q = temp_queue("spare-ids");
        let first = commit_one(&q, b"m\n");
        let ino = fs::metadata(q.path(QueueName::Incoming, &first))
            .unwrap()
            .ino();
        let mut seen = std::collections::HashSet::from([first.clone()]);
        let mut id = first;
        for _ in 0..300 {
            q.recycle(&id, QueueName::Incoming).unwrap();
            q.settle_spares();
            id = commit_one(&q, b"m\n");
            let meta = fs::metadata(q.path(QueueName::Incoming, &id)).unwrap();
            assert_eq!(meta.ino(), ino, "the same file each time");
            assert!(seen.insert(id.clone()), "{id} repeated");
        }
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn next_micros_counts_on_from_the_held_message_of_the_same_file() {
        assert_eq!(next_micros("0000A1F", 0x1f), Some(0x0000B));
        assert_eq!(next_micros("FFFFF1F", 0x1f), Some(0), "wraps at 2^20");
        assert_eq!(next_micros("0000A1F", 0x20), None, "another inode's ID");
        assert_eq!(next_micros("0000", 0x1f), None);
        assert_eq!(next_micros("", 0x1f), None);
    }

    #[test]
    fn a_spare_that_is_gone_or_not_a_plain_file_is_not_used() {
        let q = temp_queue("spare-bad");
        let spare_dir = q.root().join(spare::DIR);
        // Removed behind the pool's back (postsuper -p): a new file is made.
        let a = commit_one(&q, b"a\n");
        q.recycle(&a, QueueName::Incoming).unwrap();
        q.settle_spares();
        for e in fs::read_dir(&spare_dir).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
        let b = commit_one(&q, b"b\n");
        assert_eq!(q.locate(&b), Some(QueueName::Incoming));
        // Replaced by a link: not followed, deleted, and a new file is made.
        q.recycle(&b, QueueName::Incoming).unwrap();
        q.settle_spares();
        let target = q.root().join("elsewhere");
        fs::write(&target, b"keep").unwrap();
        let link = fs::read_dir(&spare_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let c = commit_one(&q, b"c\n");
        assert_eq!(q.locate(&c), Some(QueueName::Incoming));
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&link).is_err(), "the link is deleted");
        // A message that waited long in the queue: its file is deleted, not used.
        let old = SystemTime::now() - spare::MAX_IDLE - std::time::Duration::from_secs(60);
        File::options()
            .write(true)
            .open(q.path(QueueName::Incoming, &c))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let held = File::open(q.path(QueueName::Incoming, &c)).unwrap();
        q.recycle(&c, QueueName::Incoming).unwrap();
        q.settle_spares();
        let d = commit_one(&q, b"d\n");
        assert_eq!(q.locate(&d), Some(QueueName::Incoming));
        assert_eq!(held.metadata().unwrap().nlink(), 0, "deleted, not reused");
        assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 0);
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn without_a_spare_directory_a_delivered_message_is_removed() {
        let q = temp_queue("spare-none");
        fs::remove_dir(q.root().join(spare::DIR)).unwrap();
        let a = commit_one(&q, b"a\n");
        q.recycle(&a, QueueName::Incoming).unwrap();
        assert_eq!(q.locate(&a), None);
        assert_eq!(q.spare_count(), 0);
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn a_new_message_has_its_name_at_once_and_is_complete_only_after_commit() {
        let q = temp_queue("named");
        let w = q.create(QueueName::Incoming).unwrap();
        let id = w.id().to_string();
        let path = q.path(QueueName::Incoming, &id);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(q.list(QueueName::Incoming).unwrap().is_empty());
        assert_eq!(q.find(QueueName::Incoming, &id), None);
        assert_eq!(q.locate(&id), None);
        let mut env = Envelope::new("s@x");
        env.recipients.push(Recipient::new("r@y"));
        assert_eq!(w.commit(&mut env, b"hi\n").unwrap(), id);
        assert_eq!(q.list(QueueName::Incoming).unwrap(), vec![id.clone()]);
        assert_eq!(q.find(QueueName::Incoming, &id), Some(path.clone()));
        assert_eq!(QueueFile::open(&path).unwrap().content().unwrap(), b"hi\n");
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn a_spare_taken_for_a_new_message_hides_its_old_one_until_commit() {
        let q = temp_queue("spare-hidden");
        let old = commit_one(&q, b"the old message\n");
        q.move_to(&old, QueueName::Incoming, QueueName::Active)
            .unwrap();
        q.recycle(&old, QueueName::Active).unwrap();
        q.settle_spares();
        let w = q.create(QueueName::Incoming).unwrap();
        let id = w.id().to_string();
        let path = q.path(QueueName::Incoming, &id);
        // The old bytes are there, under the new name, but nobody reads them as a message.
        assert!(
            fs::read(&path)
                .unwrap()
                .ends_with(format!(" {}\n", old).as_bytes())
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(q.list(QueueName::Incoming).unwrap().is_empty());
        assert_eq!(q.locate(&id), None);
        // Abandoned (the client left): nothing stays behind.
        drop(w);
        assert!(!path.exists());
        assert_eq!(fs::read_dir(q.dir(QueueName::Incoming)).unwrap().count(), 0);
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn a_held_message_goes_to_hold_and_leaves_nothing_in_incoming() {
        let q = temp_queue("named-hold");
        let mut w = q.create(QueueName::Incoming).unwrap();
        w.hold();
        let mut env = Envelope::new("s@x");
        env.recipients.push(Recipient::new("r@y"));
        let id = w.commit(&mut env, b"held\n").unwrap();
        assert_eq!(q.locate(&id), Some(QueueName::Hold));
        let meta = fs::metadata(q.path(QueueName::Hold, &id)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        assert_eq!(fs::read_dir(q.dir(QueueName::Incoming)).unwrap().count(), 0);
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn a_file_removed_while_written_is_not_acknowledged() {
        let q = temp_queue("named-gone");
        let w = q.create(QueueName::Incoming).unwrap();
        fs::remove_file(q.path(QueueName::Incoming, w.id())).unwrap();
        let mut env = Envelope::new("s@x");
        env.recipients.push(Recipient::new("r@y"));
        let e = w.commit(&mut env, b"lost\n").unwrap_err();
        assert!(e.to_string().contains("removed while written"), "{}", e);
        fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn a_spare_of_an_earlier_version_is_not_reused() {
        let q = temp_queue("spare-old-format");
        let old = commit_one(&q, b"m\n");
        let path = q.path(QueueName::Incoming, &old);
        let bytes = fs::read(&path).unwrap();
        let end = bytes.windows(2).rposition(|w| w == b"\nE").unwrap() + 1;
        fs::write(&path, [&bytes[..end], b"E0:\n"].concat()).unwrap();
        q.move_to(&old, QueueName::Incoming, QueueName::Active)
            .unwrap();
        q.recycle(&old, QueueName::Active).unwrap();
        q.settle_spares();
        assert_eq!(q.spare_count(), 1);
        let w = q.create(QueueName::Incoming).unwrap();
        // A new, empty file (the spare's inode number may be given out again: not compared).
        let len = fs::metadata(q.path(QueueName::Incoming, w.id()))
            .unwrap()
            .len();
        assert_eq!(len, 0, "a new file, not the old-format spare");
        assert_eq!(q.spare_count(), 0);
        assert_eq!(fs::read_dir(q.root().join(spare::DIR)).unwrap().count(), 0);
        fs::remove_dir_all(q.root()).unwrap();
    }
}
