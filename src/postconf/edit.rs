//! Editing main.cf: `postconf -e name=value...`, `postconf -# name...`, `postconf -X name...`.
//!
//! The edit works on the file's bytes line by line: a `name = ...` logical line (with its
//! continuation lines) is replaced in place, commented out or removed; new settings are
//! appended at the end; every other line, comments and blank lines included, is copied
//! byte for byte. All arguments are checked before the file is touched, so a malformed one
//! leaves main.cf unchanged. The new file is written next to the old one, flushed to disk
//! and renamed over it with the old mode and owner, under an exclusive lock on main.cf so
//! that two editors cannot lose each other's changes.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fs2::FileExt;

use super::{Mode, Options, PostconfError, valid_name};

/// One edit of main.cf.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set each name to its value (replace in place, else append).
    Set(Vec<(String, String)>),
    /// Comment each name's logical line out.
    Comment(Vec<String>),
    /// Remove each name's logical line.
    Remove(Vec<String>),
}

impl Edit {
    fn names(&self) -> Vec<&str> {
        match self {
            Edit::Set(p) => p.iter().map(|(n, _)| n.as_str()).collect(),
            Edit::Comment(n) | Edit::Remove(n) => n.iter().map(String::as_str).collect(),
        }
    }
}

/// Parse a `-e` argument: `name=value` or `name = value`.
pub fn parse_assignment(arg: &str) -> Result<(String, String), PostconfError> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(PostconfError::BadArgument(format!(
            "missing '=' after attribute name: \"{}\"",
            arg.trim()
        )));
    };
    let name = name.trim();
    if !valid_name(name) {
        return Err(PostconfError::BadArgument(format!(
            "syntax error in parameter name: \"{}\"",
            name
        )));
    }
    if value.contains(['\n', '\r']) {
        return Err(PostconfError::BadArgument(format!(
            "bad value for parameter \"{}\": value contains a line break",
            name
        )));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// The edit the options ask for, with every argument checked.
pub fn edit_from(opts: &Options) -> Result<Edit, PostconfError> {
    if opts.args.is_empty() {
        return Err(PostconfError::Usage(
            "no parameters specified for editing main.cf".into(),
        ));
    }
    match opts.mode {
        Mode::Edit => opts
            .args
            .iter()
            .map(|a| parse_assignment(a))
            .collect::<Result<Vec<_>, _>>()
            .map(Edit::Set),
        _ => {
            for a in &opts.args {
                if a.contains('=') {
                    return Err(PostconfError::BadArgument(format!(
                        "-{} requires parameter names without \"=value\": \"{}\"",
                        if opts.mode == Mode::Comment { '#' } else { 'X' },
                        a
                    )));
                }
                if !valid_name(a) {
                    return Err(PostconfError::BadArgument(format!(
                        "syntax error in parameter name: \"{}\"",
                        a
                    )));
                }
            }
            let names = opts.args.clone();
            Ok(if opts.mode == Mode::Comment {
                Edit::Comment(names)
            } else {
                Edit::Remove(names)
            })
        }
    }
}

/// `postconf -e` / `-#` / `-X`.
pub fn run(opts: &Options) -> Result<(), PostconfError> {
    let edit = edit_from(opts)?;
    edit_file(&opts.config_dir.join("main.cf"), &edit)
}

/// The parameter name a main.cf line starts with (up to white space or `=`).
fn line_name(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'=')
        .unwrap_or(line.len());
    &line[..end]
}

/// Apply `edit` to main.cf text, keeping every other byte.
pub fn edit_text(text: &[u8], edit: &Edit) -> Vec<u8> {
    // A name given twice on the command line: the last value wins.
    let deduped;
    let edit = match edit {
        Edit::Set(pairs) => {
            let mut d: Vec<(String, String)> = Vec::new();
            for (n, v) in pairs {
                match d.iter_mut().find(|(m, _)| m == n) {
                    Some(slot) => slot.1 = v.clone(),
                    None => d.push((n.clone(), v.clone())),
                }
            }
            deduped = Edit::Set(d);
            &deduped
        }
        other => other,
    };
    let names = edit.names();
    let mut set_done = vec![false; names.len()];
    let mut out = Vec::with_capacity(text.len() + 64);
    // Whether the current logical line is one being edited.
    let mut editing = false;
    for line in text.split_inclusive(|b| *b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let first = content.iter().position(|b| !b.is_ascii_whitespace());
        let blank_or_comment = match first {
            None => true,
            Some(i) => content[i] == b'#',
        };
        if blank_or_comment {
            out.extend_from_slice(line);
            continue;
        }
        if content[0].is_ascii_whitespace() {
            // A continuation line belongs to the logical line above it.
            if editing {
                if let Edit::Comment(_) = edit {
                    out.push(b'#');
                    out.extend_from_slice(line);
                }
            } else {
                out.extend_from_slice(line);
            }
            continue;
        }
        let name = line_name(content);
        match names.iter().position(|n| n.as_bytes() == name) {
            Some(idx) => {
                editing = true;
                match edit {
                    Edit::Set(pairs) => {
                        let (n, v) = &pairs[idx];
                        out.extend_from_slice(format!("{} = {}\n", n, v).as_bytes());
                        set_done[idx] = true;
                    }
                    Edit::Comment(_) => {
                        out.push(b'#');
                        out.extend_from_slice(line);
                    }
                    Edit::Remove(_) => {}
                }
            }
            None => {
                editing = false;
                out.extend_from_slice(line);
            }
        }
    }
    if let Edit::Set(pairs) = edit {
        for (idx, (n, v)) in pairs.iter().enumerate() {
            if set_done[idx] {
                continue;
            }
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(format!("{} = {}\n", n, v).as_bytes());
        }
    }
    out
}

/// Edit main.cf at `path` atomically. A missing file is created for `-e` (mode 0644) and
/// left alone for `-#` and `-X`.
pub fn edit_file(path: &Path, edit: &Edit) -> Result<(), PostconfError> {
    let werr = |err: std::io::Error| PostconfError::Write {
        path: path.to_path_buf(),
        err,
    };
    for _ in 0..100 {
        let mut file = match OpenOptions::new().read(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if !matches!(edit, Edit::Set(_)) {
                    return Ok(());
                }
                let created = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(path);
                match created {
                    Ok(f) => f,
                    Err(e) => return Err(werr(e)),
                }
            }
            Err(e) => return Err(werr(e)),
        };
        file.lock_exclusive().map_err(werr)?;
        // Another editor may have renamed a new main.cf into place while we waited.
        let held = file.metadata().map_err(werr)?;
        match std::fs::metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {}
            _ => continue,
        }
        let mut old = Vec::new();
        file.read_to_end(&mut old).map_err(werr)?;
        let new = edit_text(&old, edit);
        if new == old {
            return Ok(());
        }
        return replace(path, &new, &held).map_err(werr);
    }
    Err(werr(std::io::Error::other(
        "main.cf keeps changing while waiting for the lock",
    )))
}

/// Write `data` to a temporary file beside `path` with `like`'s mode and owner, flush it
/// to disk, rename it over `path` and flush the directory.
fn replace(path: &Path, data: &[u8], like: &std::fs::Metadata) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "main.cf".into());
    let tmp = dir.join(format!(".{}.postconf.{}", file_name, std::process::id()));
    let result = (|| {
        let mut f: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        let mine = f.metadata()?;
        if mine.uid() != like.uid() || mine.gid() != like.gid() {
            std::os::unix::fs::fchown(&f, Some(like.uid()), Some(like.gid()))?;
        }
        f.set_permissions(std::fs::Permissions::from_mode(like.mode() & 0o7777))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> Edit {
        Edit::Set(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    const TEXT: &str = "# head comment\n\nmyhostname = a.example\nalias_maps = hash:/etc/aliases,\n    # inside\n    hash:/etc/more\n\n# tail\nrelayhost = [gw]\n";

    #[test]
    fn replace_in_place_keeps_everything_else() {
        let out = edit_text(
            TEXT.as_bytes(),
            &set(&[("alias_maps", "hash:/x"), ("mynetworks", "127.0.0.0/8")]),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# head comment\n\nmyhostname = a.example\nalias_maps = hash:/x\n    # inside\n\n# tail\nrelayhost = [gw]\nmynetworks = 127.0.0.0/8\n"
        );
    }

    #[test]
    fn comment_and_remove_whole_logical_line() {
        let out = edit_text(TEXT.as_bytes(), &Edit::Comment(vec!["alias_maps".into()]));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# head comment\n\nmyhostname = a.example\n#alias_maps = hash:/etc/aliases,\n    # inside\n#    hash:/etc/more\n\n# tail\nrelayhost = [gw]\n"
        );
        let out = edit_text(
            TEXT.as_bytes(),
            &Edit::Remove(vec!["alias_maps".into(), "relayhost".into()]),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# head comment\n\nmyhostname = a.example\n    # inside\n\n# tail\n"
        );
        // Nothing to do: identical bytes.
        let out = edit_text(TEXT.as_bytes(), &Edit::Remove(vec!["nosuch".into()]));
        assert_eq!(out, TEXT.as_bytes());
    }

    #[test]
    fn append_without_final_newline_and_prefix_names() {
        let out = edit_text(
            b"myhostname_x = 1\nmyhostname=2",
            &set(&[("myhostname", "h")]),
        );
        assert_eq!(out, b"myhostname_x = 1\nmyhostname = h\n");
        let out = edit_text(b"a = 1", &set(&[("b", "2"), ("b", "3")]));
        assert_eq!(out, b"a = 1\nb = 3\n");
        let out = edit_text(b"", &set(&[("b", "")]));
        assert_eq!(out, b"b = \n");
    }

    #[test]
    fn non_utf8_bytes_survive() {
        let text = b"# caf\xe9\nx = 1\n";
        let out = edit_text(text, &set(&[("x", "2")]));
        assert_eq!(out, b"# caf\xe9\nx = 2\n");
    }

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("a = b c ").unwrap(),
            ("a".into(), "b c".into())
        );
        assert_eq!(parse_assignment("a=").unwrap(), ("a".into(), "".into()));
        assert_eq!(parse_assignment("a=x=y").unwrap().1, "x=y");
        let e = parse_assignment("novalue").unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing '=' after attribute name: \"novalue\""
        );
        assert!(parse_assignment("bad name=1").is_err());
        assert!(parse_assignment("=1").is_err());
        assert!(parse_assignment("a=1\nb=2").is_err());
    }

    #[test]
    fn file_edit_keeps_mode_and_is_atomic() {
        let d = std::env::temp_dir().join(format!("postern-postconf-edit-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("main.cf");
        std::fs::write(&p, TEXT).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        edit_file(&p, &set(&[("relayhost", "")])).unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .ends_with("relayhost = \n")
        );
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(names.len(), 1);
        // -X on a missing file does nothing; -e creates it.
        let q = d.join("sub");
        std::fs::create_dir_all(&q).unwrap();
        edit_file(&q.join("main.cf"), &Edit::Remove(vec!["a".into()])).unwrap();
        assert!(!q.join("main.cf").exists());
        edit_file(&q.join("main.cf"), &set(&[("a", "1")])).unwrap();
        assert_eq!(
            std::fs::read_to_string(q.join("main.cf")).unwrap(),
            "a = 1\n"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
