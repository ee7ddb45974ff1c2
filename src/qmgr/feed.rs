//! What the scheduler activates next: messages from incoming/ (and explicit requests:
//! `postqueue -i`, `postsuper -H/-r`, notices and forwarded copies) and due messages of
//! deferred/, taken in turn as Postfix's qmgr alternates its incoming and deferred scans, so
//! new mail is not held up behind a large deferred queue. deferred/ is read incrementally
//! (`queue::scan::DirScan`), a bounded number of entries per call: a 100,000-message queue
//! is never listed into memory, and the scheduler keeps answering between two slices.
//!
//! Security role: none beyond reading the spool. Logs nothing.

use std::collections::{HashSet, VecDeque};
use std::time::SystemTime;

use crate::queue::scan::DirScan;
use crate::queue::{Queue, QueueName};

/// Most deferred/ entries examined (one stat each) per call of `Feed::next`.
pub const SCAN_SLICE: usize = 512;

/// A pass over deferred/.
struct DeferredScan {
    scan: DirScan,
    /// Take every message, due or not (`postqueue -f`).
    flush: bool,
    /// Messages due at this time are taken.
    now: SystemTime,
}

#[derive(Default)]
pub struct Feed {
    /// Messages from incoming/ and explicit requests, in arrival order.
    backlog: VecDeque<(String, QueueName)>,
    deferred: Option<DeferredScan>,
    /// Another deferred pass asked for while one runs (`Some(flush)`).
    rescan: Option<bool>,
    /// Whose turn is next: deferred/ (true) or the backlog.
    deferred_turn: bool,
}

impl Feed {
    /// Queue a message (its ID is already in the scheduler's known set).
    pub fn push(&mut self, id: String, from: QueueName) {
        self.backlog.push_back((id, from));
    }

    /// Forget everything (the scheduler stops).
    pub fn clear(&mut self) {
        self.backlog.clear();
        self.deferred = None;
        self.rescan = None;
    }

    /// Begin a pass over deferred/, or, when one runs, another after it (a flush
    /// request is never lost in a pass that started before it).
    pub fn scan_deferred(&mut self, queue: &Queue, flush: bool) {
        if self.deferred.is_some() {
            self.rescan = Some(flush || self.rescan.unwrap_or(false));
            return;
        }
        self.deferred = Some(DeferredScan {
            scan: DirScan::new(&queue.dir(QueueName::Deferred)),
            flush,
            now: SystemTime::now(),
        });
    }

    /// Whether a deferred/ pass is under way.
    pub fn scanning(&self) -> bool {
        self.deferred.is_some()
    }

    /// The next message to activate, taking incoming and deferred in turn; `None` when
    /// neither has one now (or `budget` deferred entries were examined: call again).
    /// A deferred message taken is added to `known`; known ones are skipped.
    pub fn next(
        &mut self,
        queue: &Queue,
        known: &mut HashSet<String>,
        budget: &mut usize,
    ) -> Option<(String, QueueName)> {
        self.deferred_turn = !self.deferred_turn;
        if self.deferred_turn {
            self.next_deferred(queue, known, budget)
                .or_else(|| self.backlog.pop_front())
        } else {
            self.backlog
                .pop_front()
                .or_else(|| self.next_deferred(queue, known, budget))
        }
    }

    fn next_deferred(
        &mut self,
        queue: &Queue,
        known: &mut HashSet<String>,
        budget: &mut usize,
    ) -> Option<(String, QueueName)> {
        while *budget > 0 {
            let pass = self.deferred.as_mut()?;
            *budget -= 1;
            let Some((id, path)) = pass.scan.next() else {
                self.deferred = None;
                if let Some(flush) = self.rescan.take() {
                    self.scan_deferred(queue, flush);
                }
                continue;
            };
            if known.contains(&id) {
                continue;
            }
            let due = pass.flush
                || std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t <= pass.now);
            if due {
                known.insert(id.clone());
                return Some((id, QueueName::Deferred));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn alternates_and_takes_only_due_messages() {
        let dir = std::env::temp_dir().join(format!("postern-feed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        let later = SystemTime::now() + Duration::from_secs(3600);
        for (id, when) in [
            ("AAAAA1", SystemTime::now()),
            ("AAAAA2", SystemTime::now()),
            ("AAAAA3", later),
        ] {
            let p = q.path(QueueName::Deferred, id);
            std::fs::write(&p, "x").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        let mut f = Feed::default();
        let mut known = HashSet::new();
        f.push("BBBBB1".into(), QueueName::Incoming);
        f.push("BBBBB2".into(), QueueName::Incoming);
        f.scan_deferred(&q, false);
        f.scan_deferred(&q, true); // asked again while running: one more pass, a flush
        let mut budget = 100;
        let mut got = Vec::new();
        while let Some((id, from)) = f.next(&q, &mut known, &mut budget) {
            got.push((id, from));
        }
        let froms: Vec<QueueName> = got.iter().map(|(_, q)| *q).collect();
        use QueueName::{Deferred as D, Incoming as I};
        // In turn while both have some; the flush pass then adds the one not yet due.
        assert_eq!(froms, vec![D, I, D, I, D]);
        assert_eq!(got[4].0, "AAAAA3");
        assert!(!f.scanning());
        // A budget of 0 examines nothing.
        f.scan_deferred(&q, true);
        known.clear();
        let mut none = 0;
        assert!(f.next(&q, &mut known, &mut none).is_none());
        assert!(f.scanning());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
