//! Delivery requests: what the local delivery agent asks to be done as a given uid/gid
//! (`Op`), how it is done (`execute`), and the length-prefixed wire format used between the
//! delivery agent and the privileged helper (`privileged`), and between the helper and its
//! per-request children.
//!
//! Protocol. A frame is a 4-byte big-endian length and that many bytes. A frame holds fields,
//! each a 4-byte big-endian length and its bytes; numbers are decimal text. Request fields:
//! the kind (`mbox`, `maildir`, `file`, `command`), uid, gid, then per kind:
//! - mbox: path, user, limit, lock (dotlock fcntl attempts delay_ms stale_s), create, a
//!   record count (1 to `MAX_BATCH`) and that many records
//! - maildir: dir, user, limit, host, a message count (1 to `MAX_BATCH`) and that many
//!   messages (each already carrying its delivery headers)
//! - file: source, path, limit, lock (as above), record
//! - command: source, command, shell, dir, dir_required (0/1), limit_ms, env count,
//!   (name, value)..., input, argv count, argument... (no arguments: the command, through
//!   $local_command_shell or as `exec_command(3)` does)
//!
//! A source (what justifies the ids of a file or command delivery, see `Source`) is `none`;
//! `table`, spec, key; `include`, path; `pipe`, master.cf service name; `mailbox`, user; or
//! `forward`, path, user.
//!
//! The answer is one frame: status (`sent`/`deferred`/`bounced`), dsn, text. For `mbox`
//! and `maildir` it is one frame with a count and that many (status, dsn, text), one per
//! record or message in order. The dsn is read back with `crate::reply::Dsn::parse` and the
//! status must be its class's (`Status::of`). Frames over `MAX_FRAME` bytes and any
//! malformed field (a bad DSN among them) are protocol errors; a sender splits records
//! that would not fit in one frame (`batch_chunks`).
//!
//! Security role: the decoder treats input as untrusted: lengths are checked with checked
//! arithmetic against the data actually present (no panics, no allocation larger than the
//! frame), at most 1000 environment entries. `execute` runs with whatever ids the calling
//! process has; deciding whether those ids are right is the privileged helper's job. Logs
//! nothing.

mod wire;

pub use wire::{
    ProtoError, decode_op, decode_replies, decode_reply, encode_op, encode_replies, encode_reply,
    read_frame, write_frame,
};

use std::path::{Path, PathBuf};

pub use super::Reply;
use super::command::{self, CommandJob};
use super::lock::LockPolicy;
use super::{Status, dsn_of};
use super::{maildir, mbox};

/// Largest frame accepted (a message is at most $message_size_limit, 10 MB by default, plus
/// delivery headers; this leaves ample room).
pub const MAX_FRAME: usize = 256 << 20;

/// Most records in one `Op::Mbox`.
pub const MAX_BATCH: usize = 1000;

/// Room left in a frame for everything of an `Op::Mbox` but its records.
const BATCH_OVERHEAD: usize = 1 << 20;

/// The DSN for a system error not otherwise classified (see `error::errno_dsn`) when
/// delivering to a file named in an alias: such a delivery is bounced, as Postfix does.
pub const FILE_DSN: &str = "5.2.0";

/// What justifies the uid/gid of a file or command delivery named in an alias. The root
/// helper checks it itself: the target must really be listed there, and the ids must be
/// those of the table's or include file's owner ($default_privs when that owner is root).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// No file behind the alias (e.g. a `static:` table): runs as $default_privs.
    None,
    /// The value of `key` in the alias table `spec` (as opened from $alias_maps).
    Table { spec: String, key: String },
    /// An `:include:` file.
    Include(PathBuf),
    /// The master.cf pipe(8) service of this name: the helper re-reads master.cf and runs
    /// the request only as that entry's `user=`, with that entry's program.
    Pipe(String),
    /// $mailbox_command_maps or $mailbox_command for this user's mailbox: runs as the
    /// user ($default_privs for root).
    Mailbox(String),
    /// The user's `.forward` file (a $forward_path entry): runs as the user
    /// ($default_privs for root); the file must belong to the user or root.
    Forward { path: PathBuf, user: String },
}

impl Source {
    /// The allow_mail_to_commands / allow_mail_to_files class of a target listed here.
    pub fn class(&self) -> &'static str {
        match self {
            Source::None | Source::Table { .. } => "alias",
            Source::Include(_) => "include",
            Source::Forward { .. } => "forward",
            Source::Mailbox(_) => "mailbox",
            Source::Pipe(_) => "pipe",
        }
    }
}

/// One delivery request.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Append one or more mbox records to a mailbox under one lock, with one fsync after
    /// the last (group commit); answered with one reply per record.
    Mbox {
        path: PathBuf,
        user: String,
        uid: u32,
        gid: u32,
        limit: u64,
        locks: LockPolicy,
        /// Create a missing file as the running user (false when the root helper created it).
        create: bool,
        records: Vec<Vec<u8>>,
    },
    /// Deliver one or more messages into a Maildir: each file written and fsynced in
    /// `tmp/`, renamed into `new/`, then one fsync of `new/` for all (group commit);
    /// answered with one reply per message.
    Maildir {
        dir: PathBuf,
        user: String,
        uid: u32,
        gid: u32,
        limit: u64,
        host: String,
        contents: Vec<Vec<u8>>,
    },
    /// Append an mbox record to a file named in an alias.
    File {
        path: PathBuf,
        source: Source,
        uid: u32,
        gid: u32,
        limit: u64,
        locks: LockPolicy,
        record: Vec<u8>,
    },
    /// Run a command named in an alias.
    Command {
        source: Source,
        uid: u32,
        gid: u32,
        job: CommandJob,
    },
}

impl Op {
    /// The uid and gid the request is to be performed as.
    pub fn ids(&self) -> (u32, u32) {
        match self {
            Op::Mbox { uid, gid, .. }
            | Op::Maildir { uid, gid, .. }
            | Op::File { uid, gid, .. }
            | Op::Command { uid, gid, .. } => (*uid, *gid),
        }
    }
}

impl Op {
    /// How many replies performing the request yields: one per record for a mailbox, one
    /// per message for a Maildir, else one.
    pub fn replies(&self) -> usize {
        match self {
            Op::Mbox { records, .. } => records.len(),
            Op::Maildir { contents, .. } => contents.len(),
            _ => 1,
        }
    }

    /// Whether the answer is a counted list (`encode_replies`) rather than one reply.
    pub fn batched(&self) -> bool {
        matches!(self, Op::Mbox { .. } | Op::Maildir { .. })
    }
}

/// Split record indexes into runs whose records fit in one `Op::Mbox` frame (at most
/// `MAX_BATCH` records and `MAX_FRAME` bytes with room for the other fields). A record too
/// big for any frame gets a run of its own (and fails when sent, as a single request would).
pub fn batch_chunks(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let budget = MAX_FRAME - BATCH_OVERHEAD;
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, &n) in sizes.iter().enumerate() {
        let cost = n.saturating_add(4);
        if i > start && (i - start >= MAX_BATCH || bytes.saturating_add(cost) > budget) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(cost);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The answer for a failed mailbox update: `cannot update mailbox PATH for user USER. REASON`.
/// For a virtual recipient (`user` is an address) Postfix virtual(8)'s text instead:
/// `delivery failed to mailbox PATH: REASON`.
pub fn mailbox_failure(path: &Path, user: &str, f: &mbox::Failure) -> Reply {
    if super::vmailbox::is_address(user) {
        let text = format!(
            "delivery failed to mailbox {}: {}",
            path.display(),
            f.reason
        );
        return Reply::new(dsn_of(f.dsn), text);
    }
    Reply::new(
        dsn_of(f.dsn),
        format!(
            "cannot update mailbox {} for user {}. {}",
            path.display(),
            user,
            f.reason
        ),
    )
}

/// Perform a request as the current process (the child, or in-process when not root):
/// exactly `op.replies()` replies, in record (message) order for a mailbox (Maildir).
pub fn execute(op: &Op) -> Vec<Reply> {
    let reply = match op {
        Op::Mbox {
            path,
            user,
            limit,
            locks,
            create,
            records,
            ..
        } => {
            let opts = mbox::AppendOptions {
                create: *create,
                devices: false,
                limit: *limit,
                locks: *locks,
            };
            let recs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
            return mbox::append_many(path, &recs, &opts)
                .into_iter()
                .map(|r| match r {
                    Ok(()) => Reply::new(dsn_of("2.0.0"), "delivered to mailbox"),
                    Err(f) => mailbox_failure(path, user, &f),
                })
                .collect();
        }
        Op::Maildir {
            dir,
            limit,
            host,
            contents,
            ..
        } => {
            let msgs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
            return maildir::deliver_many(dir, &msgs, *limit, host)
                .into_iter()
                .map(|r| match r {
                    Ok(_) => Reply::new(dsn_of("2.0.0"), "delivered to maildir"),
                    Err(f) => Reply::new(
                        dsn_of(f.dsn),
                        format!("maildir delivery failed: {}", f.reason),
                    ),
                })
                .collect();
        }
        Op::File {
            path,
            limit,
            locks,
            record,
            ..
        } => {
            let opts = mbox::AppendOptions {
                create: true,
                devices: true,
                limit: *limit,
                locks: LockPolicy {
                    dotlock: false,
                    ..*locks
                },
            };
            match mbox::append(path, record, &opts) {
                Ok(()) => Reply::new(
                    dsn_of("2.0.0"),
                    format!("delivered to file: {}", path.display()),
                ),
                Err(f) => {
                    // A file that cannot be opened or written bounces (Postfix's 5.2.0).
                    let f = f.with_default(FILE_DSN);
                    Reply::new(
                        dsn_of(f.dsn),
                        format!(
                            "cannot append message to file {}: {}",
                            path.display(),
                            f.reason
                        ),
                    )
                }
            }
        }
        Op::Command { job, .. } => command::run(job),
    };
    vec![reply]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_split_to_fit_a_frame() {
        assert!(batch_chunks(&[]).is_empty());
        assert_eq!(batch_chunks(&[10, 20, 30]), vec![0..3]);
        let budget = MAX_FRAME - BATCH_OVERHEAD;
        // Two records that together exceed the budget go in two frames.
        let half = budget / 2;
        assert_eq!(batch_chunks(&[half, half, 1]), vec![0..1, 1..3]);
        // A record larger than any frame is alone (and fails when sent).
        assert_eq!(batch_chunks(&[1, MAX_FRAME + 1, 1]), vec![0..1, 1..2, 2..3]);
        // At most MAX_BATCH records per frame.
        let many = vec![1; MAX_BATCH * 2 + 1];
        assert_eq!(
            batch_chunks(&many),
            vec![
                0..MAX_BATCH,
                MAX_BATCH..2 * MAX_BATCH,
                2 * MAX_BATCH..2 * MAX_BATCH + 1
            ]
        );
    }

    #[test]
    fn batch_execution_gives_one_reply_per_record() {
        let dir = std::env::temp_dir().join(format!("postern-req-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("u");
        let op = Op::Mbox {
            path: path.clone(),
            user: "u".into(),
            uid: 0,
            gid: 0,
            limit: 8,
            locks: LockPolicy::default(),
            create: true,
            records: vec![b"abc".to_vec(), b"toolong!!".to_vec(), b"de".to_vec()],
        };
        let rs = execute(&op);
        assert_eq!(rs.len(), 3);
        assert_eq!(rs[0], Reply::new(dsn_of("2.0.0"), "delivered to mailbox"));
        assert_eq!(
            rs[1],
            Reply::new(
                dsn_of("5.2.2"),
                format!(
                    "cannot update mailbox {} for user u. error writing message: File too large",
                    path.display()
                )
            )
        );
        assert_eq!(rs[2], rs[0]);
        assert_eq!(std::fs::read(&path).unwrap(), b"abcde");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
