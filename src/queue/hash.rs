//! Hashed queue directories, as Postfix's `hash_queue_names` and `hash_queue_depth`
//! (mail_queue.c, dir_forest.c): a file of a hashed queue lives in subdirectories named by the
//! first characters of its queue ID, one character per level (`deferred/3/5/35EC31BB8035`
//! at depth 2); an ID shorter than the depth is padded with `_`. Queues not named stay flat.
//!
//! Readers do not rely on the settings alone: listings descend into every one-character
//! subdirectory (as Postfix's scan_dir does), and a file that is not where the current
//! settings put it (the settings changed, or an older flat spool) is still found
//! (`Hashing::candidates`) until `postsuper` (run by `postfix start`) moves it (`rehash`).
//!
//! Security role: subdirectories are created mode 0700 and, when made by root, given the
//! owner of the queue directory they are in, so mail_owner keeps full control of the spool.
//! Logs nothing; callers do.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The deepest hash level looked at when searching or listing (Postfix's depth is
/// normally 1 or 2).
pub const MAX_DEPTH: usize = 16;

/// Which queue directories are hashed, and how deep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hashing {
    names: Vec<String>,
    depth: usize,
}

/// Directories Postern can hash: the message queues and the per-message logs. maildrop/
/// is written by postdrop, which cannot create subdirectories there; flush/ and saved/ are
/// not used.
pub const HASHABLE: &[&str] = &[
    "incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce", "trace",
];

impl Hashing {
    /// No directory hashed (flat spool).
    pub fn flat() -> Hashing {
        Hashing::default()
    }

    /// From `hash_queue_names` (names, compared case-insensitively as Postfix does) and
    /// `hash_queue_depth` (at least 1). Names Postern cannot hash are left out (see
    /// `unsupported_names`).
    pub fn new(names: &[String], depth: i64) -> Hashing {
        let names = names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .filter(|n| HASHABLE.contains(&n.as_str()))
            .collect();
        Hashing {
            names,
            depth: depth.clamp(1, MAX_DEPTH as i64) as usize,
        }
    }

    /// Names in `hash_queue_names` that Postern leaves flat.
    pub fn unsupported_names(names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter(|n| !HASHABLE.contains(&n.to_ascii_lowercase().as_str()))
            .cloned()
            .collect()
    }

    /// The hash depth of directory `dir` (0: flat).
    pub fn depth_of(&self, dir: &str) -> usize {
        if self.names.iter().any(|n| n == dir) {
            self.depth
        } else {
            0
        }
    }

    /// The subdirectory path (relative to the queue directory) for `id` at `depth`.
    pub fn forest(id: &str, depth: usize) -> PathBuf {
        let mut p = PathBuf::new();
        let mut chars = id.chars().filter(|c| *c != '.' && *c != '/');
        for _ in 0..depth {
            p.push(chars.next().unwrap_or('_').to_string());
        }
        p
    }

    /// Where `id` belongs in directory `base` (named `dir`).
    pub fn path(&self, base: &Path, dir: &str, id: &str) -> PathBuf {
        base.join(Hashing::forest(id, self.depth_of(dir))).join(id)
    }

    /// Every place `id` may be in `base`, the right one first: flat, then each depth.
    pub fn candidates(&self, base: &Path, dir: &str, id: &str) -> Vec<PathBuf> {
        let right = self.path(base, dir, id);
        let mut out = vec![right.clone()];
        for depth in 0..=4 {
            let p = base.join(Hashing::forest(id, depth)).join(id);
            if p != right {
                out.push(p);
            }
        }
        out
    }
}

/// Visit every entry of `dir` that is not a one-character subdirectory, descending into
/// those (as Postfix's queue scans do), up to MAX_DEPTH levels.
pub fn walk(dir: &Path, f: &mut dyn FnMut(&fs::DirEntry)) -> io::Result<()> {
    walk_depth(dir, MAX_DEPTH, f)
}

fn walk_depth(dir: &Path, depth: usize, f: &mut dyn FnMut(&fs::DirEntry)) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_sub = entry.file_name().len() == 1 && entry.file_type().is_ok_and(|t| t.is_dir());
        if is_sub && depth > 0 {
            // A subdirectory removed meanwhile is not an error.
            match walk_depth(&entry.path(), depth - 1, f) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        } else {
            f(&entry);
        }
    }
    Ok(())
}

/// Create the directories between `top` (which exists) and `dir`, mode 0700, owned like
/// `top` when made by root. Returns whether any was created.
///
/// Symbolic links are never followed: every level below `top`, from the top down, must be
/// a real directory (by lstat) or is created, else the call fails with `NotADirectory`, so
/// a link planted in the spool cannot make a process (root at import) create or move files
/// elsewhere.
pub fn make_dirs(top: &Path, dir: &Path) -> io::Result<bool> {
    let rel = dir
        .strip_prefix(top)
        .map_err(|_| io::Error::other(format!("{}: not below {}", dir.display(), top.display())))?;
    let mut path = top.to_path_buf();
    let mut made = false;
    for part in rel.components() {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_dir() => continue,
            Ok(_) => return Err(not_a_directory(&path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Made by another process meanwhile: still only a real directory will do.
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.file_type().is_dir() => continue,
                    _ => return Err(not_a_directory(&path)),
                }
            }
            Err(e) => return Err(e),
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700))?;
        if crate::sys::is_root() {
            let m = fs::metadata(top)?;
            crate::sys::chown(&path, m.uid(), m.gid())?;
        }
        made = true;
    }
    Ok(made)
}

fn not_a_directory(p: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotADirectory,
        format!(
            "{}: not a directory (a symbolic link is not followed)",
            p.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forest_follows_postfix() {
        assert_eq!(Hashing::forest("35EC31BB8035", 1), PathBuf::from("3"));
        assert_eq!(Hashing::forest("35EC31BB8035", 2), PathBuf::from("3/5"));
        assert_eq!(Hashing::forest("AB", 3), PathBuf::from("A/B/_"));
        assert_eq!(Hashing::forest("AB", 0), PathBuf::new());
        let h = Hashing::new(&["Deferred".into(), "defer".into(), "maildrop".into()], 2);
        assert_eq!(h.depth_of("deferred"), 2);
        assert_eq!(h.depth_of("maildrop"), 0);
        assert_eq!(h.depth_of("incoming"), 0);
        assert_eq!(
            h.path(Path::new("/q/deferred"), "deferred", "35EC31BB8035"),
            PathBuf::from("/q/deferred/3/5/35EC31BB8035")
        );
        let c = h.candidates(Path::new("/q/deferred"), "deferred", "35EC3");
        assert_eq!(c[0], PathBuf::from("/q/deferred/3/5/35EC3"));
        assert_eq!(c[1], PathBuf::from("/q/deferred/35EC3"));
        assert_eq!(c.len(), 5);
        assert_eq!(
            Hashing::unsupported_names(&["maildrop".into(), "defer".into()]),
            vec!["maildrop".to_string()]
        );
    }

    #[test]
    fn walk_descends_into_one_character_directories() {
        let dir = std::env::temp_dir().join(format!("postern-hash-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("A/B")).unwrap();
        fs::create_dir_all(dir.join("long")).unwrap();
        fs::write(dir.join("A/B/AB123"), "x").unwrap();
        fs::write(dir.join("C1234"), "x").unwrap();
        let mut seen = Vec::new();
        walk(&dir, &mut |e| {
            seen.push(e.file_name().to_string_lossy().into_owned())
        })
        .unwrap();
        seen.sort();
        assert_eq!(seen, vec!["AB123", "C1234", "long"]);
        assert!(make_dirs(&dir, &dir.join("D/E")).unwrap());
        assert!(!make_dirs(&dir, &dir.join("D/E")).unwrap());
        let m = fs::metadata(dir.join("D/E")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        // A link planted as a hash level is not followed, at either level.
        let outside = dir.join("long");
        std::os::unix::fs::symlink(&outside, dir.join("F")).unwrap();
        let e = make_dirs(&dir, &dir.join("F/G")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
        std::os::unix::fs::symlink(&outside, dir.join("D/H")).unwrap();
        assert!(make_dirs(&dir, &dir.join("D/H")).is_err());
        // A link at an upper level whose target holds the lower level is refused too.
        fs::create_dir(outside.join("K")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("L")).unwrap();
        assert!(make_dirs(&dir, &dir.join("L/K")).is_err());
        fs::remove_dir(outside.join("K")).unwrap();
        fs::write(dir.join("I"), "x").unwrap();
        assert!(make_dirs(&dir, &dir.join("I/J")).is_err());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
