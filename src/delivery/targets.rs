//! Alias targets (aliases(5)), shared by the local delivery agent and the root helper: how
//! a target is told apart (`|command`, `/file`, `:include:/file`, or an address), the
//! targets an include file lists, whether a source lists a given target, and whose ids a
//! source entitles file and command deliveries to (local(8): the alias database owner or
//! the include file's owner, $default_privs when that owner is root or unknown).
//!
//! A leaf: it uses only crate::tables (the aliases(5) value syntax and the table registry
//! that says which table types have an owner) and crate::sys (the password database).
//! `delivery::local` expands aliases with it; `delivery::privileged` checks a request
//! against it, so the helper never imports the unprivileged agent.
//!
//! Security role: this is the part of the helper's trust decision that interprets alias
//! values; it reads them as untrusted text and never panics on them. Logs nothing.

use std::path::Path;

use crate::tables::aliases;

/// One alias target, classified as local(8) treats it.
#[derive(Debug, PartialEq)]
pub(crate) enum Target<'a> {
    Command(&'a str),
    Include(&'a Path),
    File(&'a Path),
    Address(&'a str),
}

/// The mailbox command for the Unix account `user`: the value $mailbox_command_maps gives
/// (looked up by user name), else $mailbox_command as written (local(8) reads it raw: the
/// shell, not Postern, expands `$EXTENSION` and the like from the environment). `Ok(None)`
/// when neither is set; a table error is an error, never "none". Used by the local agent
/// to deliver and by the root helper to check what it is asked to run.
pub(crate) fn mailbox_command(
    cfg: &crate::config::Config,
    user: &str,
) -> Result<Option<String>, crate::tables::TableError> {
    let maps = cfg.get("mailbox_command_maps");
    if !maps.trim().is_empty() {
        let tables = crate::tables::TableList::open_list(maps)?;
        for t in &tables.tables {
            if let Some(v) = t.lookup(user)? {
                return Ok(Some(v));
            }
        }
    }
    let cmd = cfg.raw("mailbox_command");
    Ok((!cmd.trim().is_empty()).then(|| cmd.trim().to_string()))
}

/// The account a mailbox command for `user` runs as: the user's own ids, or
/// $default_privs' when the user is root (local(8) never runs a command as root).
pub(crate) fn mailbox_command_account(
    user: &crate::sys::User,
    default_privs: &str,
) -> Result<crate::sys::User, String> {
    if user.uid != 0 {
        return Ok(user.clone());
    }
    entitled_account(None, default_privs)
}

/// Classify one target of `aliases::targets`.
pub(crate) fn classify(t: &str) -> Target<'_> {
    if let Some(cmd) = t.strip_prefix('|') {
        Target::Command(cmd.trim())
    } else if t.len() > 9 && t.is_char_boundary(9) && t[..9].eq_ignore_ascii_case(":include:") {
        Target::Include(Path::new(t[9..].trim()))
    } else if t.starts_with('/') {
        Target::File(Path::new(t))
    } else {
        Target::Address(t)
    }
}

/// The targets listed in an include file's text (`#` lines are comments).
pub(crate) fn include_targets(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(aliases::targets)
        .collect()
}

/// Whether `wanted` is one of `targets`.
pub(crate) fn target_listed(targets: &[String], wanted: &Target<'_>) -> bool {
    targets.iter().any(|t| classify(t) == *wanted)
}

/// The owner uid of the file behind a table spec, when its type has one (the table
/// registry says which file that is).
pub(crate) fn table_owner(spec: &str) -> Option<u32> {
    crate::tables::registry::owner_uid(spec)
}

/// The account file and command deliveries listed in a source owned by `owner` run as:
/// the owner's account (uid and its own primary gid), or $default_privs (`default_privs`)
/// when the owner is root or there is no file. Errors are Postfix's deferral texts.
pub(crate) fn entitled_account(
    owner: Option<u32>,
    default_privs: &str,
) -> Result<crate::sys::User, String> {
    match owner.filter(|&uid| uid != 0) {
        Some(uid) => match crate::sys::user_by_uid(uid) {
            Ok(Some(a)) => Ok(a),
            _ => Err("cannot find alias database owner".into()),
        },
        None => match crate::sys::user_by_name(default_privs) {
            Ok(Some(a)) => Ok(a),
            _ => Err(format!("unknown default_privs user: {}", default_privs)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn targets_are_classified_without_panicking() {
        assert_eq!(classify("| /bin/prog -a "), Target::Command("/bin/prog -a"));
        assert_eq!(
            classify(":INCLUDE: /etc/list"),
            Target::Include(Path::new("/etc/list"))
        );
        assert_eq!(
            classify("/var/log/x"),
            Target::File(Path::new("/var/log/x"))
        );
        // A multi-byte character across byte 9 is an address, not a slicing panic.
        assert_eq!(classify("12345678é"), Target::Address("12345678é"));
        let listed = include_targets("# |/bin/no\n|/bin/yes, /tmp/f\n");
        assert!(target_listed(&listed, &Target::Command("/bin/yes")));
        assert!(target_listed(&listed, &Target::File(Path::new("/tmp/f"))));
        assert!(!target_listed(&listed, &Target::Command("/bin/no")));
    }

    #[test]
    fn table_owner_follows_the_registry() {
        let dir = std::env::temp_dir().join(format!("postern-owner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("aliases");
        crate::tables::hash_write::build(&src, &[("a".into(), "b".into())]).unwrap();
        let me = std::fs::metadata(crate::tables::hash::db_path(&src))
            .unwrap()
            .uid();
        for t in crate::tables::registry::TYPES {
            let spec = format!("{}:{}", t.name, src.display());
            let want = (t.owner == crate::tables::registry::Owner::DbFile).then_some(me);
            assert_eq!(table_owner(&spec), want, "{}", spec);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
