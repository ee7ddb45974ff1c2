//! Reading the spool for the listing: every queue in Postfix's order, each message's queue
//! file and deferral log made into an `Entry`.
//!
//! A listing of a large queue is bound by opening and reading its files (100,000 of them
//! for a queue of 100,000 messages, and as many deferral logs), so the files of a queue are
//! read by a few threads at a time, a slice of IDs at once, and the entries are handed on
//! in ID order as each slice is done: the output is the same as one reader's, and no more
//! than a slice of entries is held. One listing at a time reads in parallel (any local user
//! may ask for one, and each reader holds a whole queue file); the others read alone.
//! Security role: reads the spool, read-only; a file that vanished or does not parse is
//! left out of the listing. Logs nothing.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

use crate::queue::{Queue, QueueFile, QueueName};

/// The order Postfix lists the queues in.
pub const LIST_ORDER: [QueueName; 5] = QueueName::MESSAGES;

/// One message of the listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub queue: QueueName,
    pub id: String,
    /// Arrival time, seconds since the epoch.
    pub arrival: i64,
    /// Message content size in bytes.
    pub size: u64,
    /// Envelope sender; `MAILER-DAEMON` for the null sender.
    pub sender: String,
    /// Recipients still to be delivered, with their deferral reason (empty when none).
    pub recipients: Vec<(String, String)>,
}

/// Read `defer/ID`: address -> reason.
fn reasons(queue: &Queue, id: &str) -> HashMap<String, String> {
    let Some(path) = queue.find_defer_log(id) else {
        return HashMap::new();
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            let addr = f.next()?;
            let _dsn = f.next()?;
            let reason = f.next()?;
            Some((addr.to_string(), reason.to_string()))
        })
        .collect()
}

/// Read the queue file at `path` into an entry (`None` when it vanished or cannot be
/// parsed).
fn entry_at(queue: &Queue, q: QueueName, id: &str, path: &Path) -> Option<Entry> {
    let qf = QueueFile::open_read_only(path).ok()?;
    let why = reasons(queue, id);
    let env = &qf.envelope;
    let sender = if env.sender.is_empty() {
        "MAILER-DAEMON".to_string()
    } else {
        env.sender.clone()
    };
    let recipients = qf
        .pending()
        .map(|(_, r)| {
            let reason = why.get(&r.address).cloned().unwrap_or_default();
            (r.address.clone(), reason)
        })
        .collect();
    Some(Entry {
        queue: q,
        id: id.to_string(),
        arrival: env
            .arrival
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        size: qf.content_len(),
        sender,
        recipients,
    })
}

/// IDs read at once; their entries are held until the slice is listed.
const SLICE: usize = 512;

/// Threads reading one slice (the listing is bound by file opens and reads, not by a core).
const READERS: usize = 4;

/// Visit every message in the spool, queue by queue in Postfix's order, by ID within a
/// queue, one entry at a time (only the IDs of one queue and the entries of one slice are
/// held, so a listing of 100,000 messages does not hold them all). Stops at `f`'s first
/// error.
pub fn each_entry(queue: &Queue, f: &mut dyn FnMut(Entry) -> io::Result<()>) -> io::Result<()> {
    let parallel = Parallel::take();
    for q in LIST_ORDER {
        let mut found = Vec::new();
        let _ = queue.scan(q, &mut |id, path| {
            found.push((id.to_string(), path.to_path_buf()))
        });
        found.sort();
        for slice in found.chunks(SLICE) {
            let entries = match &parallel {
                Some(_) => read_slice(queue, q, slice),
                None => read_part(queue, q, slice),
            };
            for e in entries.into_iter().flatten() {
                f(e)?;
            }
        }
    }
    for e in postfix_entries(queue) {
        f(e)?;
    }
    Ok(())
}

/// Whether a listing reads in parallel now: held by one listing at a time.
static PARALLEL: AtomicBool = AtomicBool::new(false);

struct Parallel;

impl Parallel {
    fn take() -> Option<Parallel> {
        PARALLEL
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Parallel)
    }
}

impl Drop for Parallel {
    fn drop(&mut self) {
        PARALLEL.store(false, Ordering::Release);
    }
}

/// The entries of `slice`, in its order, read by up to `READERS` threads (each a
/// contiguous part; a part whose thread the system refuses is read here).
fn read_slice(queue: &Queue, q: QueueName, slice: &[(String, PathBuf)]) -> Vec<Option<Entry>> {
    // A short queue is read by the caller alone.
    if slice.len() < 64 {
        return read_part(queue, q, slice);
    }
    let part = slice.len().div_ceil(READERS);
    std::thread::scope(|s| {
        let readers: Vec<_> = slice
            .chunks(part)
            .map(|p| {
                let reader =
                    std::thread::Builder::new().spawn_scoped(s, move || read_part(queue, q, p));
                (p, reader)
            })
            .collect();
        readers
            .into_iter()
            .flat_map(|(p, reader)| match reader {
                // A reader's panic ends the listing, as the caller's own would.
                Ok(r) => r.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(_) => read_part(queue, q, p),
            })
            .collect()
    })
}

fn read_part(queue: &Queue, q: QueueName, part: &[(String, PathBuf)]) -> Vec<Option<Entry>> {
    part.iter()
        .map(|(id, path)| entry_at(queue, q, id, path))
        .collect()
}

/// Every message in the spool (`each_entry`'s order), in memory.
#[cfg(test)]
pub fn collect(queue: &Queue) -> Vec<Entry> {
    let mut out = Vec::new();
    let _ = each_entry(queue, &mut |e| {
        out.push(e);
        Ok(())
    });
    out
}

/// Queue files Postfix left (the master imports them at start; until then mailq lists
/// them after Postern's own, without deferral reasons).
fn postfix_entries(queue: &Queue) -> Vec<Entry> {
    use crate::queue::{postfix_file, postfix_import};
    postfix_import::find(queue)
        .into_iter()
        .filter_map(|f| {
            let m = postfix_file::parse(&std::fs::read(&f.path).ok()?).ok()?;
            let env = m.envelope;
            Some(Entry {
                queue: f.queue,
                id: f.id,
                arrival: env
                    .arrival
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
                size: m.content.len() as u64,
                sender: match env.sender.as_str() {
                    "" => "MAILER-DAEMON".to_string(),
                    s => s.to_string(),
                },
                recipients: env
                    .recipients
                    .into_iter()
                    .map(|r| (r.address, String::new()))
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Envelope, Recipient};

    #[test]
    fn a_queue_read_by_several_threads_is_listed_in_id_order_with_every_message() {
        let dir = std::env::temp_dir().join(format!("postern-showq-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        // More than a slice, so several slices and several readers per slice.
        let n = SLICE + 100;
        for i in 0..n {
            let w = q.create(QueueName::Incoming).unwrap();
            let mut env = Envelope::new(&format!("s{}@x.test", i));
            env.recipients
                .push(Recipient::new(&format!("r{}@x.test", i)));
            w.commit(&mut env, b"hi\n").unwrap();
        }
        // A file that does not parse is left out, not the slice around it.
        let bad = dir.join("incoming").join("FFFFF1234567");
        std::fs::write(&bad, b"garbage").unwrap();
        std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let mut scanned = 0;
        q.scan(QueueName::Incoming, &mut |_, _| scanned += 1)
            .unwrap();
        assert_eq!(scanned, n + 1);
        let mut listed = Vec::new();
        each_entry(&q, &mut |e| {
            listed.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(listed.len(), n);
        assert!(listed.windows(2).all(|w| w[0].id < w[1].id));
        for e in &listed {
            // Each entry is its own file's: sender and recipient carry the same number.
            let s = e.sender.trim_start_matches('s').trim_end_matches("@x.test");
            assert_eq!(e.recipients[0].0, format!("r{}@x.test", s));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
