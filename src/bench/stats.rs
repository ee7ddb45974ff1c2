//! Measurements for postern-bench: nearest-rank percentiles, an incremental mbox message
//! counter (a "From " line at the start of the file or after an empty line starts a
//! message, as local delivery writes them), a maildir message counter (the files in `new/`
//! and `cur/`, as virtual(8) and local(8) write them), the files left in a spool's incoming/,
//! active/ and deferred/ (`--drain`), and peak RSS from /proc/PID/status.
//!
//! Security role: none (client-side tooling). Reads a mailbox file, a maildir's directory
//! listings and /proc, writes nothing.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// Nearest-rank percentile of sorted samples (`p` in 0..=100).
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Counts messages in a growing mbox: a line starting with "From " at the start of the file
/// or after an empty line. Reads only what was appended since the last call.
#[derive(Debug, Default)]
pub struct MboxCounter {
    offset: u64,
    partial: Vec<u8>,
    prev_blank: bool,
    started: bool,
    pub count: usize,
}

impl MboxCounter {
    pub fn feed(&mut self, data: &[u8]) {
        self.partial.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let line = &self.partial[start..start + i];
            if line.starts_with(b"From ") && (!self.started || self.prev_blank) {
                self.count += 1;
            }
            self.started = true;
            self.prev_blank = line.is_empty() || line == b"\r";
            start += i + 1;
        }
        self.partial.drain(..start);
    }

    pub fn update(&mut self, path: &Path) -> io::Result<usize> {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(self.count),
            Err(e) => return Err(e),
        };
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.take(64 * 1024 * 1024).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.feed(&buf);
        Ok(self.count)
    }
}

/// Counts the messages in a maildir: the regular files in `DIR/new` and `DIR/cur` whose
/// names do not start with a dot. A delivery writes its file in `tmp/` and renames it into
/// `new/` once complete, so every file counted is a whole message; `tmp/` is not counted.
/// A missing directory holds nothing (the delivery agent creates the maildir with its first
/// message). A reader moving files from `new/` to `cur/` while this runs may make one call
/// count a file twice or not at all; the benchmark's maildir has no reader.
pub fn count_maildir(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for sub in ["new", "cur"] {
        let rd = match std::fs::read_dir(dir.join(sub)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            if entry.file_type()?.is_file()
                && !entry.file_name().as_encoded_bytes().starts_with(b".")
            {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Counts the files in a spool's incoming/, active/ and deferred/ (and any subdirectory of
/// them, as with hashed queue directories): the messages not yet delivered or discarded.
/// A missing directory holds nothing.
pub fn count_queued(queue_directory: &Path) -> io::Result<usize> {
    fn walk(dir: &Path, depth: usize) -> io::Result<usize> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut n = 0;
        for entry in rd {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_file() {
                n += 1;
            } else if kind.is_dir() && depth < 4 {
                n += walk(&entry.path(), depth + 1)?;
            }
        }
        Ok(n)
    }
    let mut n = 0;
    for q in ["incoming", "active", "deferred"] {
        n += walk(&queue_directory.join(q), 0)?;
    }
    Ok(n)
}

/// Peak resident set in KiB from /proc/PID/status text (the VmHWM line).
pub fn parse_vmhwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn queued_files_are_counted_in_three_queues_and_their_subdirectories() {
        let dir = std::env::temp_dir().join(format!("postern-bench-q-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(count_queued(&dir).unwrap(), 0, "no spool: nothing queued");
        for sub in ["incoming", "active", "deferred/A", "hold", "defer"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for f in [
            "incoming/1",
            "active/2",
            "active/3",
            "deferred/A/4",
            "hold/5",
            "defer/6",
        ] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        assert_eq!(
            count_queued(&dir).unwrap(),
            4,
            "hold/ and defer/ are not counted"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&v, 0.0), Some(Duration::from_millis(1)));
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn mbox_counter_counts_messages_across_partial_reads() {
        let mut c = MboxCounter::default();
        c.feed(b"From a@b  Thu Apr 30 14:57:55 2020\nSubject: x\n\nbody\nFrom inside a paragraph\n>From quoted\n\n");
        assert_eq!(
            c.count, 1,
            "a \"From \" line inside a paragraph is not a message start"
        );
        c.feed(b"Fro");
        assert_eq!(c.count, 1);
        c.feed(b"m c@d  Thu Apr 30 14:58:00 2020\nbody\n\n");
        assert_eq!(c.count, 2);
    }

    #[test]
    fn mbox_counter_reads_only_new_data() {
        let dir = std::env::temp_dir().join(format!("postern-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("mbox");
        let mut c = MboxCounter::default();
        assert_eq!(c.update(&p).unwrap(), 0, "a missing mbox holds nothing");
        std::fs::write(&p, "From a  x\nb\n\n").unwrap();
        assert_eq!(c.update(&p).unwrap(), 1);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"From c  y\nd\n\n").unwrap();
        assert_eq!(c.update(&p).unwrap(), 2);
        assert_eq!(c.update(&p).unwrap(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn maildir_counter_counts_files_in_new_and_cur_only() {
        let dir =
            std::env::temp_dir().join(format!("postern-bench-maildir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            count_maildir(&dir).unwrap(),
            0,
            "a maildir not created yet holds nothing"
        );
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        assert_eq!(count_maildir(&dir).unwrap(), 0);
        // Being written: not a message yet.
        std::fs::write(dir.join("tmp/1.P1Q1.host"), "partial").unwrap();
        assert_eq!(count_maildir(&dir).unwrap(), 0);
        // Renamed into new/: delivered.
        std::fs::rename(dir.join("tmp/1.P1Q1.host"), dir.join("new/1.V1I1M1.host")).unwrap();
        std::fs::write(dir.join("new/2.V1I2M2.host"), "m2").unwrap();
        assert_eq!(count_maildir(&dir).unwrap(), 2);
        // Seen by a reader (moved to cur/ with flags): still counted, once.
        std::fs::rename(
            dir.join("new/1.V1I1M1.host"),
            dir.join("cur/1.V1I1M1.host:2,S"),
        )
        .unwrap();
        assert_eq!(count_maildir(&dir).unwrap(), 2);
        // Dot files and subdirectories are not messages.
        std::fs::write(dir.join("new/.hidden"), "x").unwrap();
        std::fs::create_dir(dir.join("cur/.sub")).unwrap();
        std::fs::create_dir(dir.join("new/sub")).unwrap();
        assert_eq!(count_maildir(&dir).unwrap(), 2);
        // Emptied between runs, as bench.sh does.
        std::fs::remove_file(dir.join("new/2.V1I2M2.host")).unwrap();
        std::fs::remove_file(dir.join("cur/1.V1I1M1.host:2,S")).unwrap();
        assert_eq!(count_maildir(&dir).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn vmhwm_is_read_from_proc_status() {
        assert_eq!(
            parse_vmhwm("Name:\tx\nVmPeak:\t 100 kB\nVmHWM:\t   12345 kB\n"),
            Some(12345)
        );
        assert_eq!(parse_vmhwm("Name:\tx\n"), None);
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_vmhwm(&own).unwrap() > 0);
    }
}
