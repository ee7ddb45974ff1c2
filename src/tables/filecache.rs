//! Reload-on-change for tables read from a source file (texthash, regexp, pcre, cidr).
//!
//! The file is parsed when first needed and again whenever its inode, size or modification
//! time change, so an edited table takes effect on the next lookup without a restart (a file
//! changed in the last two seconds is re-read and its bytes compared, because a same-size
//! rewrite within one timestamp tick leaves the stamp unchanged). A file
//! that cannot be read or parsed makes every lookup fail with `TableError::Unavailable`
//! carrying the parse error (file and line), never "not found"; fixing the file brings the
//! table back. Security role: reads only the file the administrator named. Logs nothing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::TableError;
use super::hash::io_text;

type Stamp = (u64, u64, i64, i64);

/// The file's stamp and bytes when last read, and what parsing them gave.
type Loaded<T> = Option<(Stamp, Vec<u8>, Result<Arc<T>, String>)>;

/// A file modified this recently may change again within the same timestamp tick without
/// its stamp changing, so its bytes are compared instead.
const SETTLE_SECS: i64 = 2;

/// A parsed source file, re-parsed when the file changes.
pub struct FileCache<T> {
    spec: String,
    path: PathBuf,
    parse: fn(&str, &str) -> Result<T, String>,
    state: Mutex<Loaded<T>>,
}

impl<T> FileCache<T> {
    /// `parse(text, file_name)` turns the file's text into `T` or an error naming the line.
    pub fn new(spec: String, path: &str, parse: fn(&str, &str) -> Result<T, String>) -> Self {
        FileCache {
            spec,
            path: PathBuf::from(path),
            parse,
            state: Mutex::new(None),
        }
    }

    pub fn spec(&self) -> &str {
        &self.spec
    }

    fn unavailable(&self, reason: String) -> TableError {
        TableError::Unavailable {
            table: self.spec.clone(),
            reason,
        }
    }

    /// The current parsed contents, reloading first if the file changed.
    pub fn get(&self) -> Result<Arc<T>, TableError> {
        let meta = fs::metadata(&self.path).map_err(|e| {
            self.unavailable(format!("open {}: {}", self.path.display(), io_text(&e)))
        })?;
        let stamp = (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let settled = now - meta.mtime() > SETTLE_SECS;
        if let Some((s, _, r)) = state.as_ref()
            && *s == stamp
            && settled
        {
            return r.clone().map_err(|e| self.unavailable(e));
        }
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) => {
                let why = format!("open {}: {}", self.path.display(), io_text(&e));
                *state = None;
                return Err(self.unavailable(why));
            }
        };
        if let Some((s, raw, r)) = state.as_mut()
            && *raw == bytes
        {
            *s = stamp;
            return r.clone().map_err(|e| self.unavailable(e));
        }
        let text = String::from_utf8_lossy(&bytes);
        let loaded = (self.parse)(&text, &self.path.display().to_string()).map(Arc::new);
        *state = Some((stamp, bytes, loaded.clone()));
        loaded.map_err(|e| self.unavailable(e))
    }
}

/// Logical lines of a table source file: blank lines and `#` comments skipped, a line that
/// starts with white space continues the previous one. Yields (first line number, text).
pub fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if raw.starts_with(|c: char| c.is_whitespace())
            && let Some((_, s)) = out.last_mut()
        {
            s.push(' ');
            s.push_str(t);
            continue;
        }
        out.push((i + 1, t.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str, _file: &str) -> Result<usize, String> {
        if text.contains("bad") {
            Err("bad content".into())
        } else {
            Ok(text.lines().count())
        }
    }

    #[test]
    fn reloads_and_recovers() {
        let dir = std::env::temp_dir().join(format!("postern-fc-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t");
        let c = FileCache::new("x:t".into(), p.to_str().unwrap(), count);
        assert!(c.get().unwrap_err().to_string().contains("No such file"));
        fs::write(&p, "a\n").unwrap();
        assert_eq!(*c.get().unwrap(), 1);
        fs::write(&p, "a\nbad\n").unwrap();
        assert_eq!(
            c.get().unwrap_err().to_string(),
            "x:t is unavailable. bad content"
        );
        fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(*c.get().unwrap(), 3);
        fs::write(&p, "x\nbad\n").unwrap();
        assert!(c.get().is_err(), "a same-size rewrite at once is noticed");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn logical_lines_join_continuations() {
        let l = logical_lines("# c\n/a/ x\n  y\n\n/b/ z\n");
        assert_eq!(
            l,
            vec![(2, "/a/ x y".to_string()), (5, "/b/ z".to_string())]
        );
    }
}
