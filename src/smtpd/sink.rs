//! Where an accepted message goes. The daemon hands it to cleanup, which writes incoming/
//! and wakes the scheduler. The stand-alone server (`sendmail -bs`, Postfix's `smtpd -S`)
//! runs as the invoking user, who cannot write incoming/: it hands the message to postdrop
//! like `sendmail` does, into maildrop/, and the pickup thread runs cleanup later.
//!
//! In both cases the queue ID is known before the message content arrives (for the
//! `ID: client=` log line and the Received: header): `open` creates the queue file, or
//! starts `postdrop -r`, which creates the maildrop file and prints its ID first.
//!
//! Security role: the stand-alone sink never gains privileges itself. It writes maildrop/
//! directly only when the invoking user may (root, mail_owner); otherwise the set-gid
//! postdrop program does. A stand-alone message carries the attribute `received=smtpd`, so
//! pickup does not add a second Received: header (smtpd's is already in the content).
//! Nothing is logged here; the session logs.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use super::SmtpdContext;
use crate::cleanup::{self, Submission};
use crate::qmgr::Wake;
use crate::queue::{Incoming, Queue, QueueName, file};
use crate::received::RECEIVED_ATTR;
use crate::reply::Reply;

/// How a session queues messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// The daemon: cleanup into incoming/.
    Cleanup,
    /// Stand-alone: into maildrop/, directly or through postdrop (the program's path).
    Postdrop(std::path::PathBuf),
}

/// A message being queued: its ID is known, its content not yet.
pub enum Pending {
    Cleanup(Incoming),
    /// A maildrop file this process may write itself.
    Maildrop(Queue, Incoming),
    /// `postdrop -r` holds the maildrop file; the queue file goes to its standard input.
    Postdrop {
        child: PostdropChild,
        id: String,
    },
}

/// A running `postdrop -r`. Dropped before the queue file was written (a lost client), its
/// input is closed without a queue file, so it removes the maildrop file and exits; it is
/// reaped here.
pub struct PostdropChild(Child);

impl Drop for PostdropChild {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Why a message could not be queued.
#[derive(Debug)]
pub enum SinkError {
    /// Cleanup refused or failed (its reply says which).
    Cleanup(cleanup::CleanupError),
    /// The maildrop or postdrop failed.
    Drop(String),
}

impl SinkError {
    /// The SMTP reply.
    pub fn reply(&self) -> Reply {
        match self {
            SinkError::Cleanup(e) => e.reply(),
            SinkError::Drop(_) => Reply::with_dsn(451, "4.3.0", "Error: queue file write error"),
        }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Cleanup(e) => write!(f, "{}", e),
            SinkError::Drop(e) => write!(f, "{}", e),
        }
    }
}

impl std::error::Error for SinkError {}

impl Pending {
    /// Start a new message.
    pub fn open(ctx: &SmtpdContext) -> Result<Pending, SinkError> {
        match &ctx.sink {
            Sink::Cleanup => ctx
                .queue
                .create(QueueName::Incoming)
                .map(Pending::Cleanup)
                .map_err(|e| SinkError::Drop(format!("create queue file: {}", e))),
            Sink::Postdrop(prog) => match ctx.queue.create(QueueName::Maildrop) {
                Ok(w) => Ok(Pending::Maildrop(ctx.queue.clone(), w)),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    start_postdrop(prog, ctx.cfg.dir())
                }
                Err(e) => Err(SinkError::Drop(format!("create maildrop file: {}", e))),
            },
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Pending::Cleanup(w) | Pending::Maildrop(_, w) => w.id(),
            Pending::Postdrop { id, .. } => id,
        }
    }

    /// Queue the message durably; returns its queue ID. For the stand-alone sink the
    /// Received: header goes into the content (pickup will not add one); it runs no
    /// restrictions, so it has no access-table actions (`delegated`) to carry.
    pub fn commit(
        self,
        ctx: &SmtpdContext,
        sub: Submission,
        delegated: &cleanup::Delegated,
    ) -> Result<String, SinkError> {
        match self {
            Pending::Cleanup(w) => {
                let id = cleanup::submit_delegated(&ctx.cfg, &ctx.rewrite, w, sub, delegated)
                    .map_err(SinkError::Cleanup)?;
                let _ = ctx.wake.send(Wake::New(id.clone()));
                Ok(id)
            }
            Pending::Maildrop(queue, w) => {
                let (mut env, content) = for_maildrop(sub);
                crate::postdrop::stamp(&mut env);
                let id = w
                    .commit(&mut env, &content)
                    .map_err(|e| SinkError::Drop(format!("write maildrop file: {}", e)))?;
                crate::pickup::poke(&queue);
                Ok(id)
            }
            Pending::Postdrop { mut child, id } => {
                let (mut env, content) = for_maildrop(sub);
                let data = file::encode(&mut env, &content, "");
                let child = &mut child.0;
                let written = match child.stdin.take() {
                    Some(mut stdin) => stdin.write_all(&data),
                    None => Err(std::io::Error::other("no pipe")),
                };
                let status = child
                    .wait()
                    .map_err(|e| SinkError::Drop(format!("postdrop: {}", e)))?;
                written.map_err(|e| SinkError::Drop(format!("write to postdrop: {}", e)))?;
                if !status.success() {
                    return Err(SinkError::Drop(format!("postdrop failed: {}", status)));
                }
                Ok(id)
            }
        }
    }
}

/// Envelope and content for maildrop/: the Received: header prepended, the mark set.
fn for_maildrop(sub: Submission) -> (crate::queue::Envelope, Vec<u8>) {
    let Submission {
        mut envelope,
        content,
        received,
        ..
    } = sub;
    let received = received.unwrap_or_default();
    let mut out = Vec::with_capacity(received.len() + content.len());
    out.extend_from_slice(received.as_bytes());
    out.extend_from_slice(&content);
    envelope.set_attr(RECEIVED_ATTR.0, RECEIVED_ATTR.1);
    (envelope, out)
}

fn start_postdrop(prog: &std::path::Path, dir: &std::path::Path) -> Result<Pending, SinkError> {
    let mut child = Command::new(prog)
        .arg("-r")
        .arg("-c")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| SinkError::Drop(format!("cannot run {}: {}", prog.display(), e)))?;
    let mut line = String::new();
    let read = match child.stdout.take() {
        Some(out) => BufReader::new(out).read_line(&mut line),
        None => Ok(0),
    };
    let id = line.trim().to_string();
    if read.is_err() || !crate::queue::is_queue_id(&id) {
        drop(child.stdin.take());
        let _ = child.wait();
        return Err(SinkError::Drop(
            "postdrop did not create a maildrop file".into(),
        ));
    }
    Ok(Pending::Postdrop {
        child: PostdropChild(child),
        id,
    })
}
