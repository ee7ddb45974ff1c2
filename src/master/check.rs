//! `postfix check`'s file checks (as Postfix's postfix-script `check-warn`): the owner,
//! group and mode of $queue_directory and each queue subdirectory, the set-gid bit and
//! group of `postdrop` and `postqueue` in $command_directory, and that $setgid_group is a
//! group of its own. Each problem becomes one `warning:` line that names the command that
//! fixes it; nothing here changes a file that already exists. Also warns about mysql
//! table files (mysql_table(5)) that hold a password and are readable by other users, and
//! about hash/btree tables whose `NAME.db` is older than `NAME` (Postfix's dict_db warning
//! text, `database NAME.db is older than source file NAME`).
//!
//! Security role: the spool's protection rests on these owners and modes (maildrop/ is
//! writable only through the set-gid postdrop, public/ reachable only by that group, the
//! rest private to $mail_owner). Entries are examined with lstat: a symbolic link where a
//! queue directory belongs is reported, never followed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::queue::{DIRECTORIES, Queue};

/// The accounts the spool belongs to, by name and number.
#[derive(Debug, Clone)]
pub struct Owners {
    pub user: String,
    pub uid: u32,
    /// The primary group of `user`.
    pub user_gid: u32,
    pub group: String,
    pub gid: u32,
}

/// The owner, group (`None`: not checked) and mode a queue subdirectory must have.
pub fn expected(name: &str, mode: u32, o: &Owners) -> (u32, Option<u32>, u32) {
    match name {
        "pid" => (0, None, mode),
        "maildrop" | "public" => (o.uid, Some(o.gid), mode),
        _ => (o.uid, None, mode),
    }
}

fn fix(what: String, path: &Path, command: String) -> String {
    format!("{}: {} (fix: {})", what, path.display(), command)
}

/// Problems with the queue directory and its subdirectories. `ownership` false checks
/// only the modes (an ordinary user cannot own the spool for others).
pub fn queue_problems(root: &Path, o: &Owners, ownership: bool) -> Vec<String> {
    let mut out = Vec::new();
    match std::fs::symlink_metadata(root) {
        Ok(m) if m.is_dir() => {
            if ownership && m.uid() != 0 {
                out.push(fix(
                    "not owned by root".into(),
                    root,
                    format!("chown root {}", root.display()),
                ));
            }
            if m.mode() & 0o022 != 0 {
                out.push(fix(
                    "group or other writable".into(),
                    root,
                    format!("chmod go-w {}", root.display()),
                ));
            }
        }
        _ => out.push(format!("not a directory: {}", root.display())),
    }
    for (name, mode) in DIRECTORIES {
        let path = root.join(name);
        let (uid, gid, mode) = expected(name, *mode, o);
        let m = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => {
                out.push(fix(
                    "not a directory".into(),
                    &path,
                    "move it away, then postfix check".into(),
                ));
                continue;
            }
            Err(_) => {
                out.push(fix(
                    "missing".into(),
                    &path,
                    "postfix check (as root)".into(),
                ));
                continue;
            }
        };
        if ownership && m.uid() != uid {
            let who = if uid == 0 { "root" } else { o.user.as_str() };
            out.push(fix(
                format!("not owned by {}", who),
                &path,
                format!("chown {} {}", who, path.display()),
            ));
        }
        if ownership
            && let Some(g) = gid
            && m.gid() != g
        {
            out.push(fix(
                format!("not owned by group {}", o.group),
                &path,
                format!("chgrp {} {}", o.group, path.display()),
            ));
        }
        let have = m.permissions().mode() & 0o7777;
        if have != mode {
            out.push(fix(
                format!("mode {:04o} (want {:04o})", have, mode),
                &path,
                format!("chmod {:04o} {}", mode, path.display()),
            ));
        }
    }
    out
}

/// Problems with hashed queue directories (hash_queue_names): subdirectories not owned by
/// mail_owner or not mode 0700, and queue files that are not where the hash settings put
/// them (`postfix start` moves them, as Postfix's postsuper does).
pub fn hash_problems(queue: &Queue, o: &Owners, ownership: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (name, _) in DIRECTORIES {
        subdir_problems(&queue.root().join(name), o, ownership, 0, &mut out);
    }
    let misplaced = count_blocked(queue);
    if misplaced > 0 {
        out.push(format!(
            "{}: {} queue file(s) not where hash_queue_names and hash_queue_depth put them \
             (fix: postfix start moves them)",
            queue.root().display(),
            misplaced
        ));
    }
    out
}

/// Files a rehash would move (`Queue::rehash` asks before each move).
fn count_blocked(queue: &Queue) -> usize {
    let mut n = 0;
    queue.rehash(&mut |_, _| {
        n += 1;
        false
    });
    n
}

fn subdir_problems(dir: &Path, o: &Owners, ownership: bool, level: usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().len() != 1 || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = e.path();
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if ownership && m.uid() != o.uid {
            out.push(fix(
                format!("not owned by {}", o.user),
                &path,
                format!("chown -R {} {}", o.user, path.display()),
            ));
        }
        if m.permissions().mode() & 0o7777 != 0o700 {
            out.push(fix(
                format!("mode {:04o} (want 0700)", m.permissions().mode() & 0o7777),
                &path,
                format!("chmod 0700 {}", path.display()),
            ));
        }
        if level < crate::queue::hash::MAX_DEPTH {
            subdir_problems(&path, o, ownership, level + 1, out);
        }
    }
}
/// Problems with the set-gid commands in `command_dir`.
pub fn command_problems(command_dir: &Path, o: &Owners) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["postdrop", "postqueue"] {
        let path = command_dir.join(name);
        let m = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => {
                out.push(fix("missing".into(), &path, "make install".into()));
                continue;
            }
        };
        if m.gid() != o.gid {
            out.push(fix(
                format!("not owned by group {}", o.group),
                &path,
                format!(
                    "chgrp {} {} && chmod 2755 {}",
                    o.group,
                    path.display(),
                    path.display()
                ),
            ));
        }
        if m.mode() & 0o2000 == 0 {
            out.push(fix(
                "not set-gid".into(),
                &path,
                format!("chmod 2755 {}", path.display()),
            ));
        }
    }
    out
}

/// Problems with the accounts themselves.
pub fn account_problems(o: &Owners) -> Vec<String> {
    if o.gid == o.user_gid {
        vec![format!(
            "setgid_group {} has the same group ID as mail_owner {}: postdrop no longer keeps \
             other users out of the spool (fix: groupadd postdrop && postconf -e setgid_group=postdrop, \
             then postfix check)",
            o.group, o.user
        )]
    } else {
        Vec::new()
    }
}

/// mysql tables named in the configuration (`(name, value)` pairs) whose .cf file holds
/// a database password that other users can read, and hash/btree tables whose indexed file
/// is older than its source.
pub fn table_problems(settings: &[(String, String)]) -> Vec<String> {
    let mut out = crate::tables::mysql::exposed_passwords(settings.iter().map(|(_, v)| v.as_str()));
    out.extend(stale_indexed_tables(settings));
    out
}

/// `database NAME.db is older than source file NAME` for each hash/btree table named in
/// the settings (once each) whose source was modified after its indexed file was written.
pub fn stale_indexed_tables(settings: &[(String, String)]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (_, value) in settings {
        for spec in crate::tables::split_specs(value) {
            let inner = spec.strip_prefix("proxy:").unwrap_or(&spec);
            let Some((kind, name)) = inner.split_once(':') else {
                continue;
            };
            let builds = crate::tables::registry::find(kind).is_some_and(|t| t.builds());
            if !builds || !seen.insert(name.to_string()) {
                continue;
            }
            let source = Path::new(name);
            let db = crate::tables::hash::db_path(source);
            let (Ok(s), Ok(d)) = (std::fs::metadata(source), std::fs::metadata(&db)) else {
                continue;
            };
            if (s.mtime(), s.mtime_nsec()) > (d.mtime(), d.mtime_nsec()) {
                out.push(format!(
                    "database {} is older than source file {}",
                    db.display(),
                    source.display()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn owners() -> Owners {
        let uid = crate::sys::euid();
        let gid = crate::sys::egid();
        Owners {
            user: "mailowner".into(),
            uid,
            user_gid: gid + 1,
            group: "dropgroup".into(),
            gid,
        }
    }

    fn spool(tag: &str) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("postern-check-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        crate::queue::Queue::new(&root).create_dirs().unwrap();
        root
    }

    #[test]
    fn a_good_spool_has_no_problems_and_a_bad_mode_names_its_fix() {
        let root = spool("mode");
        let o = owners();
        assert_eq!(queue_problems(&root, &o, false), Vec::<String>::new());
        let active = root.join("active");
        fs::set_permissions(&active, fs::Permissions::from_mode(0o755)).unwrap();
        let p = queue_problems(&root, &o, false);
        assert_eq!(
            p,
            vec![format!(
                "mode 0755 (want 0700): {a} (fix: chmod 0700 {a})",
                a = active.display()
            )]
        );
        fs::remove_dir(root.join("hold")).unwrap();
        std::os::unix::fs::symlink("/tmp", root.join("hold")).unwrap();
        let p = queue_problems(&root, &o, false);
        assert!(
            p.iter()
                .any(|l| l.starts_with("not a directory: ") && l.contains("/hold")),
            "{:?}",
            p
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn wrong_owner_and_group_name_chown_and_chgrp() {
        let root = spool("owner");
        let mut o = owners();
        o.uid += 1;
        o.gid += 1;
        let p = queue_problems(&root, &o, true);
        let active = root.join("active");
        let maildrop = root.join("maildrop");
        assert!(
            p.contains(&format!(
                "not owned by mailowner: {a} (fix: chown mailowner {a})",
                a = active.display()
            )),
            "{:?}",
            p
        );
        assert!(
            p.contains(&format!(
                "not owned by group dropgroup: {m} (fix: chgrp dropgroup {m})",
                m = maildrop.display()
            )),
            "{:?}",
            p
        );
        // Without the ownership part only modes count.
        assert!(queue_problems(&root, &o, false).is_empty());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_indexed_table_older_than_its_source_is_named() {
        let dir = spool("stale");
        let src = dir.join("access");
        fs::write(&src, "a OK\n").unwrap();
        crate::tables::hash_write::build(&src, &[("a".into(), "OK".into())]).unwrap();
        let db = crate::tables::hash::db_path(&src);
        let settings = |v: &str| vec![("smtpd_client_restrictions".to_string(), v.to_string())];
        let spec = format!("check_client_access proxy:hash:{}", src.display());
        assert!(stale_indexed_tables(&settings(&spec)).is_empty());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&db)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let want = vec![format!(
            "database {} is older than source file {}",
            db.display(),
            src.display()
        )];
        assert_eq!(stale_indexed_tables(&settings(&spec)), want);
        let twice = format!("{} btree:{}", spec, src.display());
        assert_eq!(stale_indexed_tables(&settings(&twice)), want, "named once");
        let text = format!("texthash:{}", src.display());
        assert!(stale_indexed_tables(&settings(&text)).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn commands_must_be_setgid_and_accounts_distinct() {
        let dir = spool("cmd");
        let o = owners();
        fs::write(dir.join("postdrop"), "").unwrap();
        fs::set_permissions(dir.join("postdrop"), fs::Permissions::from_mode(0o755)).unwrap();
        let p = command_problems(&dir, &o);
        assert_eq!(p.len(), 2, "{:?}", p);
        assert!(
            p[0].starts_with("not set-gid: ") && p[0].ends_with("/postdrop)"),
            "{:?}",
            p
        );
        assert!(
            p[1].starts_with("missing: ") && p[1].contains("postqueue"),
            "{:?}",
            p
        );
        assert!(account_problems(&o).is_empty());
        let same = Owners {
            user_gid: o.gid,
            ..o
        };
        assert!(account_problems(&same)[0].contains("same group ID"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
