//! What the root helper checks before it performs a request (see the parent module's
//! "Validation"): paths, the account behind a mailbox or Maildir request, and for file and
//! command requests the alias table or include file that entitles their ids.
//!
//! Security role: this is the helper's whole trust decision; everything here reads its
//! input as untrusted. Include files are opened without blocking (never a FIFO or device)
//! and read up to `MAX_INCLUDE` bytes. Logs nothing (the caller logs refusals).

use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path};

use super::{Ctx, Op, Source};
use crate::config::Config;
use crate::delivery::local::{
    Target, entitled_account, include_targets, table_owner, target_listed,
};
use crate::sys;

/// Lowest uid a file or command delivery may run as, unless it is $default_privs' uid
/// (below it are system accounts such as bin and daemon).
pub const MIN_UID: u32 = 100;

/// Largest include file the helper reads to verify a request.
pub const MAX_INCLUDE: u64 = 1 << 20;

pub(super) fn in_spool(path: &Path, user: &str, spool: &Path) -> bool {
    path.parent() == Some(spool) && path.file_name().and_then(|n| n.to_str()) == Some(user)
}

fn check_path(p: &Path) -> Result<(), String> {
    if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("bad path {}", p.display()));
    }
    Ok(())
}

pub(super) fn validate(op: &Op, ctx: &Ctx) -> Result<(), String> {
    let (uid, gid) = op.ids();
    match op {
        Op::Mbox { path, user, .. }
        | Op::Maildir {
            dir: path, user, ..
        } => {
            check_path(path)?;
            if !ctx.root {
                return Ok(());
            }
            let acct = sys::user_by_name(user)
                .ok()
                .flatten()
                .ok_or_else(|| format!("unknown user {}", user))?;
            if acct.uid != uid || acct.gid != gid || (uid == 0 && user != "root") {
                return Err(format!("ids {}:{} do not belong to {}", uid, gid, user));
            }
            let home = Path::new(&acct.home);
            let under_home = home != Path::new("/") && home.is_absolute() && path.starts_with(home);
            let spool_ok = matches!(op, Op::Mbox { .. }) && in_spool(path, user, &ctx.spool);
            if under_home || spool_ok {
                Ok(())
            } else {
                Err(format!("{} is not a mailbox of {}", path.display(), user))
            }
        }
        Op::File { path, source, .. } => {
            check_path(path)?;
            if !ctx.root {
                return Ok(());
            }
            if uid == 0 || gid == 0 {
                return Err("file delivery with root privileges".into());
            }
            check_identity(source, &Target::File(path), (uid, gid), &ctx.config())
        }
        Op::Command { source, job, .. } => {
            if !ctx.root {
                return Ok(());
            }
            if uid == 0 || gid == 0 {
                return Err("command delivery with root privileges".into());
            }
            let target = Target::Command(&job.command);
            check_identity(source, &target, (uid, gid), &ctx.config())
        }
    }
}

impl Ctx {
    /// The current configuration ($alias_maps or $default_privs may have changed since the
    /// helper started).
    fn config(&self) -> Config {
        Config::load(&self.config_dir).unwrap_or_else(|_| Config::from_pairs(&self.config_dir, &[]))
    }
}

/// Check that `source` lists `target` and that `ids` are the ones it entitles.
fn check_identity(
    source: &Source,
    target: &Target<'_>,
    ids: (u32, u32),
    cfg: &Config,
) -> Result<(), String> {
    let owner = match source {
        Source::None => None,
        Source::Table { spec, key } => {
            let tables = crate::tables::TableList::open_list(cfg.get("alias_maps"))
                .map_err(|e| e.to_string())?;
            let table = tables
                .tables
                .iter()
                .find(|t| t.spec() == spec)
                .ok_or_else(|| format!("{} is not in alias_maps", spec))?;
            let value = table
                .lookup(key)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} has no alias {}", spec, key))?;
            let targets = crate::tables::aliases::targets(&value);
            if !target_listed(&targets, target) {
                return Err(format!(
                    "alias {} in {} does not list the target",
                    key, spec
                ));
            }
            table_owner(spec)
        }
        Source::Include(path) => {
            let (text, owner) = read_include(path)?;
            if !target_listed(&include_targets(&text), target) {
                return Err(format!("{} does not list the target", path.display()));
            }
            Some(owner)
        }
    };
    let name = cfg.get("default_privs");
    let default = sys::user_by_name(name)
        .ok()
        .flatten()
        .ok_or_else(|| format!("unknown default_privs user: {}", name))?;
    let entitled = entitled_account(owner, name)?;
    let expected = (entitled.uid, entitled.gid);
    if ids != expected {
        return Err(format!(
            "ids {}:{} are not {}:{} as the source entitles",
            ids.0, ids.1, expected.0, expected.1
        ));
    }
    if ids.0 < MIN_UID && ids.0 != default.uid {
        return Err(format!("uid {} is below {}", ids.0, MIN_UID));
    }
    Ok(())
}

/// Read an include file as root for verification: a regular file (never blocking on a FIFO
/// or device), at most `MAX_INCLUDE` bytes; its text and owner.
fn read_include(path: &Path) -> Result<(String, u32), String> {
    check_path(path)?;
    let fail = |e: io::Error| format!("cannot read include file {}: {}", path.display(), e);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() || meta.len() > MAX_INCLUDE {
        return Err(format!(
            "{} is not a plausible include file",
            path.display()
        ));
    }
    let mut text = String::new();
    file.take(MAX_INCLUDE)
        .read_to_string(&mut text)
        .map_err(fail)?;
    Ok((text, meta.uid()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::lock::LockPolicy;

    fn ctx() -> Ctx {
        Ctx {
            root: true,
            spool: "/var/mail".into(),
            config_dir: "/nonexistent-postern-config".into(),
        }
    }

    fn mbox(path: &str, user: &str, uid: u32) -> Op {
        Op::Mbox {
            path: path.into(),
            user: user.into(),
            uid,
            gid: 0,
            limit: 0,
            locks: LockPolicy::default(),
            create: true,
            records: vec![Vec::new()],
        }
    }

    #[test]
    fn validation_as_root() {
        let c = ctx();
        assert!(validate(&mbox("/var/mail/root", "root", 0), &c).is_ok());
        assert!(validate(&mbox("/root/Mailbox", "root", 0), &c).is_ok());
        assert!(validate(&mbox("/etc/shadow", "root", 0), &c).is_err());
        assert!(validate(&mbox("/var/mail/../../etc/shadow", "root", 0), &c).is_err());
        assert!(validate(&mbox("/var/mail/root", "root", 5), &c).is_err());
        assert!(validate(&mbox("var/mail/root", "root", 0), &c).is_err());
        // A batch is checked exactly as a single mailbox request.
        let batch = |path: &str, uid| Op::Mbox {
            path: path.into(),
            user: "root".into(),
            uid,
            gid: 0,
            limit: 0,
            locks: LockPolicy::default(),
            create: true,
            records: vec![Vec::new(); 2],
        };
        assert!(validate(&batch("/var/mail/root", 0), &c).is_ok());
        assert!(validate(&batch("/root/Mailbox", 0), &c).is_ok());
        assert!(validate(&batch("/etc/shadow", 0), &c).is_err());
        assert!(validate(&batch("/var/mail/../../etc/shadow", 0), &c).is_err());
        assert!(validate(&batch("/var/mail/root", 5), &c).is_err());
        assert!(validate(&mbox("/var/mail/x", "no-such-user-pst", 1234), &c).is_err());
        let file = |uid| Op::File {
            path: "/tmp/f".into(),
            source: Source::None,
            uid,
            gid: 65534,
            limit: 0,
            locks: LockPolicy::default(),
            record: Vec::new(),
        };
        assert_eq!(
            validate(&file(0), &c).unwrap_err(),
            "file delivery with root privileges"
        );
        let nobody = sys::user_by_name("nobody").unwrap().unwrap();
        assert_eq!(nobody.gid, 65534, "test assumes nobody's gid is 65534");
        assert!(validate(&file(nobody.uid), &c).is_ok());
        // Without a source only $default_privs is acceptable.
        assert!(
            validate(&file(4242), &c)
                .unwrap_err()
                .starts_with("ids 4242:65534 are not")
        );
        let cmd = Op::Command {
            source: Source::None,
            uid: 0,
            gid: 5,
            job: crate::delivery::command::CommandJob {
                command: "id".into(),
                env: Vec::new(),
                dir: "/".into(),
                limit: std::time::Duration::from_secs(1),
                input: Vec::new(),
            },
        };
        assert_eq!(
            validate(&cmd, &c).unwrap_err(),
            "command delivery with root privileges"
        );
        // Not root: in-process semantics, the ids are the caller's own anyway.
        let user = Ctx {
            root: false,
            ..ctx()
        };
        assert!(validate(&file(4242), &user).is_ok());
        assert!(in_spool(
            Path::new("/var/mail/u"),
            "u",
            Path::new("/var/mail")
        ));
        assert!(!in_spool(
            Path::new("/var/mail/v"),
            "u",
            Path::new("/var/mail")
        ));
    }

    /// The ids a file owned by the running user entitles.
    fn entitled(path: &Path) -> (u32, u32) {
        let m = std::fs::metadata(path).unwrap();
        if m.uid() == 0 {
            let n = sys::user_by_name("nobody").unwrap().unwrap();
            (n.uid, n.gid)
        } else {
            let owner = sys::user_by_uid(m.uid()).unwrap().unwrap();
            (owner.uid, owner.gid)
        }
    }

    #[test]
    fn identities_come_from_the_source_not_the_request() {
        let dir = std::env::temp_dir().join(format!("postern-ident-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let aliases = dir.join("aliases");
        std::fs::write(&aliases, "prog: \"|/bin/true x\", /var/tmp/copy\n").unwrap();
        crate::tables::aliases::build_file(&aliases).unwrap();
        let include = dir.join("list");
        std::fs::write(&include, "# members\n|/bin/echo hi\n/var/tmp/inc\n").unwrap();
        let spec = format!("hash:{}", aliases.display());
        let cfg = Config::from_pairs(&dir, &[("alias_maps", &spec)]);
        let table = |key: &str| Source::Table {
            spec: spec.clone(),
            key: key.into(),
        };
        let db_ids = entitled(&crate::tables::hash::db_path(&aliases));
        let inc_ids = entitled(&include);
        let cmd = Target::Command("/bin/true x");
        assert_eq!(check_identity(&table("prog"), &cmd, db_ids, &cfg), Ok(()));
        let copy = Target::File(Path::new("/var/tmp/copy"));
        assert_eq!(check_identity(&table("prog"), &copy, db_ids, &cfg), Ok(()));
        let other = (db_ids.0 + 1, db_ids.1);
        let e = check_identity(&table("prog"), &cmd, other, &cfg).unwrap_err();
        assert!(e.contains("as the source entitles"), "{}", e);
        let evil = Target::Command("/bin/sh -c evil");
        let e = check_identity(&table("prog"), &evil, db_ids, &cfg).unwrap_err();
        assert_eq!(
            e,
            format!("alias prog in {} does not list the target", spec)
        );
        let e = check_identity(&table("nokey"), &cmd, db_ids, &cfg).unwrap_err();
        assert_eq!(e, format!("{} has no alias nokey", spec));
        let foreign = Source::Table {
            spec: "hash:/etc/postern-not-an-alias-map".into(),
            key: "prog".into(),
        };
        let e = check_identity(&foreign, &cmd, db_ids, &cfg).unwrap_err();
        assert_eq!(e, "hash:/etc/postern-not-an-alias-map is not in alias_maps");
        // Include files: the target must be listed (comments are not targets).
        let inc = Source::Include(include.clone());
        let echo = Target::Command("/bin/echo hi");
        assert_eq!(check_identity(&inc, &echo, inc_ids, &cfg), Ok(()));
        let f = Target::File(Path::new("/var/tmp/inc"));
        assert_eq!(check_identity(&inc, &f, inc_ids, &cfg), Ok(()));
        let members = Target::Command("members");
        assert!(check_identity(&inc, &members, inc_ids, &cfg).is_err());
        let passwd = Target::File(Path::new("/etc/passwd"));
        let e = check_identity(&inc, &passwd, inc_ids, &cfg).unwrap_err();
        assert_eq!(e, format!("{} does not list the target", include.display()));
        // Devices, FIFOs and relative paths are not read as include files.
        let e = check_identity(&Source::Include("/dev/zero".into()), &f, inc_ids, &cfg);
        assert_eq!(e.unwrap_err(), "/dev/zero is not a plausible include file");
        let e = check_identity(&Source::Include("rel/list".into()), &f, inc_ids, &cfg);
        assert_eq!(e.unwrap_err(), "bad path rel/list");
        // A source owned by a system account (as root we can arrange one) is refused.
        if sys::is_root() {
            let bin = sys::user_by_name("bin").unwrap().unwrap();
            assert!(bin.uid < MIN_UID && bin.uid != 0);
            std::os::unix::fs::chown(&include, Some(bin.uid), Some(bin.gid)).unwrap();
            let e = check_identity(&inc, &echo, (bin.uid, bin.gid), &cfg).unwrap_err();
            assert_eq!(e, format!("uid {} is below {}", bin.uid, MIN_UID));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
