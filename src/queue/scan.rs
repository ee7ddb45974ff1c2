//! An incremental scan of one queue directory and its one-character hash subdirectories,
//! as Postfix's scan_dir: the queue manager reads a large deferred queue a few entries at a
//! time, between other work, instead of listing it all at once.
//!
//! Security role: none beyond reading the spool. Logs nothing.

use std::fs;
use std::path::{Path, PathBuf};

use super::hash::MAX_DEPTH;
use super::is_queue_id;

/// Where a scan is: one open directory per level.
pub struct DirScan {
    stack: Vec<fs::ReadDir>,
}

impl DirScan {
    /// Start scanning `dir` (an unreadable directory yields nothing).
    pub fn new(dir: &Path) -> DirScan {
        DirScan {
            stack: fs::read_dir(dir).into_iter().collect(),
        }
    }

    /// Whether the scan has ended.
    pub fn done(&self) -> bool {
        self.stack.is_empty()
    }
}

impl Iterator for DirScan {
    /// A queue ID and its file's path.
    type Item = (String, PathBuf);

    fn next(&mut self) -> Option<(String, PathBuf)> {
        loop {
            let rd = self.stack.last_mut()?;
            let Some(entry) = rd.next() else {
                self.stack.pop();
                continue;
            };
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let is_sub = name.len() == 1 && entry.file_type().is_ok_and(|t| t.is_dir());
            if is_sub {
                if self.stack.len() <= MAX_DEPTH
                    && let Ok(sub) = fs::read_dir(entry.path())
                {
                    self.stack.push(sub);
                }
                continue;
            }
            if let Some(n) = name.to_str()
                && is_queue_id(n)
            {
                return Some((n.to_string(), entry.path()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_ids_flat_and_hashed_and_ends() {
        let dir = std::env::temp_dir().join(format!("postern-scan-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("A/B")).unwrap();
        fs::write(dir.join("A/B/AB1234"), "x").unwrap();
        fs::write(dir.join("C12345"), "x").unwrap();
        fs::write(dir.join("t.1.2"), "x").unwrap();
        let mut s = DirScan::new(&dir);
        let mut ids: Vec<String> = s.by_ref().map(|(id, _)| id).collect();
        ids.sort();
        assert_eq!(ids, vec!["AB1234", "C12345"]);
        assert!(s.done());
        assert!(DirScan::new(&dir.join("missing")).done());
        fs::remove_dir_all(&dir).unwrap();
    }
}
