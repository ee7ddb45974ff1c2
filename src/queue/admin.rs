//! Administrative moves of one queue file (postsuper(1)'s -d, -h, -H and -r), shared by the
//! `postsuper` command and the scheduler, which applies them to messages it owns.
//!
//! Security role: these run as root (postsuper) or mail_owner (scheduler) on the spool.
//! Every move is one rename(2) or unlink(2), so it races safely with the scheduler: when two
//! parties move the same file only one succeeds, the other sees "not found" and looks again.
//! Files in active/ of a running system are never touched here by postsuper (it asks the
//! scheduler instead). Nothing here logs; callers log Postfix's `ID: removed`,
//! `ID: placed on hold`, `ID: released from hold`, `ID: requeued`.

use std::fs::{self, File};
use std::io;
use std::time::SystemTime;

use super::{Queue, QueueName};

/// A postsuper operation on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// -d: remove the message and its logs.
    Delete,
    /// -h: move it to hold/.
    Hold,
    /// -H: move it from hold/ to deferred/, due now.
    Release,
    /// -r: move it to incoming/, to be resolved and delivered again.
    Requeue,
}

impl Op {
    /// The text of the log line `ID: <text>`.
    pub fn log_text(self) -> &'static str {
        match self {
            Op::Delete => "removed",
            Op::Hold => "placed on hold",
            Op::Release => "released from hold",
            Op::Requeue => "requeued",
        }
    }

    /// The queues this operation applies to, in the order they are searched.
    pub fn queues(self) -> &'static [QueueName] {
        use QueueName::*;
        match self {
            Op::Delete => &[Maildrop, Hold, Incoming, Active, Deferred],
            Op::Hold => &[Incoming, Active, Deferred],
            Op::Release => &[Hold],
            Op::Requeue => &[Hold, Incoming, Active, Deferred],
        }
    }
}

fn gone(r: io::Result<()>) -> io::Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Apply `op` to message `id` in queue `from`. `Ok(false)` when the file was not there
/// (it moved meanwhile: look again).
pub fn apply(queue: &Queue, op: Op, id: &str, from: QueueName) -> io::Result<bool> {
    match op {
        Op::Delete => {
            let path = queue.find(from, id).unwrap_or_else(|| queue.path(from, id));
            if !gone(fs::remove_file(&path))? {
                return Ok(false);
            }
            queue.remove_logs(id);
            Ok(true)
        }
        Op::Hold => gone(queue.move_to(id, from, QueueName::Hold)),
        Op::Requeue => gone(queue.move_to(id, from, QueueName::Incoming)),
        Op::Release => {
            if !gone(queue.move_to(id, from, QueueName::Deferred))? {
                return Ok(false);
            }
            // Due at once: the next queue scan (or the wake-up the caller sends) takes it.
            let now = SystemTime::now();
            if let Ok(f) = File::options()
                .write(true)
                .open(queue.path(QueueName::Deferred, id))
            {
                let _ = f.set_times(fs::FileTimes::new().set_modified(now).set_accessed(now));
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Envelope, Recipient};
    use std::time::Duration;

    #[test]
    fn moves_and_races() {
        let dir = std::env::temp_dir().join(format!("postern-admin-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        let w = q.create(QueueName::Incoming).unwrap();
        let mut env = Envelope::new("a@b");
        env.recipients.push(Recipient::new("c@d"));
        let id = w.commit(&mut env, b"x\n").unwrap();
        q.defer_until(
            &id,
            QueueName::Incoming,
            SystemTime::now() + Duration::from_secs(3600),
        )
        .unwrap();
        fs::write(q.defer_log_path(&id), "c@d\t4.3.0\tx\n").unwrap();
        assert!(apply(&q, Op::Hold, &id, QueueName::Deferred).unwrap());
        assert!(
            !apply(&q, Op::Hold, &id, QueueName::Deferred).unwrap(),
            "gone"
        );
        assert_eq!(q.locate(&id), Some(QueueName::Hold));
        assert!(apply(&q, Op::Release, &id, QueueName::Hold).unwrap());
        let m = fs::metadata(q.path(QueueName::Deferred, &id))
            .unwrap()
            .modified()
            .unwrap();
        assert!(m <= SystemTime::now(), "released mail is due now");
        assert!(apply(&q, Op::Requeue, &id, QueueName::Deferred).unwrap());
        assert_eq!(q.locate(&id), Some(QueueName::Incoming));
        assert!(apply(&q, Op::Delete, &id, QueueName::Incoming).unwrap());
        assert_eq!(q.locate(&id), None);
        assert!(!q.defer_log_path(&id).exists());
        assert!(!apply(&q, Op::Delete, &id, QueueName::Incoming).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
