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

use super::refusal::Refusal;
use super::{Ctx, Op, Source};
use crate::config::Config;
use crate::delivery::command::LOCAL_ENV;
use crate::delivery::targets::{
    Target, entitled_account, include_targets, mailbox_command, mailbox_command_account,
    table_owner, target_listed,
};
use crate::sys;

/// Lowest uid a file or command delivery may run as, unless it is $default_privs' uid
/// (below it are system accounts such as bin and daemon).
pub const MIN_UID: u32 = 100;

/// Largest include file the helper reads to verify a request.
pub const MAX_INCLUDE: u64 = 1 << 20;

/// Whether `path` is `user`'s mailbox in the spool directory (which the helper creates and
/// dot-locks as root). Never for a virtual recipient (an address), whose files are created
/// only by the child as the mapped ids, even when $virtual_mailbox_base is the spool.
pub(super) fn in_spool(path: &Path, user: &str, spool: &Path) -> bool {
    !crate::delivery::vmailbox::is_address(user)
        && path.parent() == Some(spool)
        && path.file_name().and_then(|n| n.to_str()) == Some(user)
}

fn check_path(p: &Path) -> Result<(), Refusal> {
    if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
        return Err(Refusal::BadPath(p.to_path_buf()));
    }
    Ok(())
}

pub(super) fn validate(op: &Op, ctx: &Ctx) -> Result<(), Refusal> {
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
            if crate::delivery::vmailbox::is_address(user) {
                return super::virtual_check::check(op, user, path, ctx);
            }
            let acct = sys::user_by_name(user)
                .ok()
                .flatten()
                .ok_or_else(|| Refusal::UnknownUser(user.clone()))?;
            if acct.uid != uid || acct.gid != gid || (uid == 0 && user != "root") {
                return Err(Refusal::IdsNotOfUser {
                    uid,
                    gid,
                    user: user.clone(),
                });
            }
            let home = Path::new(&acct.home);
            let under_home = home != Path::new("/") && home.is_absolute() && path.starts_with(home);
            // A Maildir in the spool only when $mail_spool_directory ends in `/`.
            let spool_maildir = ctx.spool.as_os_str().as_encoded_bytes().ends_with(b"/");
            let spool_ok = (matches!(op, Op::Mbox { .. }) || spool_maildir)
                && in_spool(path, user, &ctx.spool);
            if under_home || spool_ok {
                Ok(())
            } else {
                Err(Refusal::NotAMailbox {
                    path: path.clone(),
                    user: user.clone(),
                })
            }
        }
        Op::File { path, source, .. } => {
            check_path(path)?;
            if !ctx.root {
                return Ok(());
            }
            if uid == 0 || gid == 0 {
                return Err(Refusal::RootFile);
            }
            check_identity(source, &Target::File(path), (uid, gid), &ctx.config())
        }
        Op::Command { source, job, .. } => {
            if !ctx.root {
                return Ok(());
            }
            if uid == 0 || gid == 0 {
                return Err(Refusal::RootCommand);
            }
            if let Source::Pipe(service) = source {
                return crate::delivery::pipe::attrs::check_request(
                    service,
                    job,
                    (uid, gid),
                    &ctx.config(),
                )
                .map_err(|e| Refusal::Pipe(e.to_string()));
            }
            if !job.argv.is_empty() {
                return Err(Refusal::Pipe(
                    "an argument vector without a pipe service".into(),
                ));
            }
            // The shell runs the command: only the configured one.
            let cfg = ctx.config();
            if job.shell != cfg.get("local_command_shell").trim() {
                return Err(Refusal::NotTheCommandShell);
            }
            // Only the environment local(8) builds.
            let exported = cfg.list("export_environment");
            crate::delivery::command::check_env(&job.env, LOCAL_ENV, &exported)
                .map_err(Refusal::Environment)?;
            if let Source::Mailbox(user) = source {
                return check_mailbox_command(user, &job.command, (uid, gid), &ctx.config());
            }
            let target = Target::Command(&job.command);
            check_identity(source, &target, (uid, gid), &ctx.config())
        }
    }
}

impl Ctx {
    /// The current configuration ($alias_maps or $default_privs may have changed since the
    /// helper started).
    pub(super) fn config(&self) -> Config {
        Config::load(&self.config_dir).unwrap_or_else(|_| Config::from_pairs(&self.config_dir, &[]))
    }
}

/// A mailbox command: it must be the one the configuration gives for `user`, run as the
/// user ($default_privs for root).
fn check_mailbox_command(
    user: &str,
    command: &str,
    ids: (u32, u32),
    cfg: &Config,
) -> Result<(), Refusal> {
    let acct = sys::user_by_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| Refusal::UnknownUser(user.to_string()))?;
    match mailbox_command(cfg, user) {
        Ok(Some(c)) if c == command => {}
        _ => return Err(Refusal::NotTheMailboxCommand(user.to_string())),
    }
    let runs_as =
        mailbox_command_account(&acct, cfg.get("default_privs")).map_err(Refusal::UnknownOwner)?;
    let expected = (runs_as.uid, runs_as.gid);
    if ids != expected {
        return Err(Refusal::WrongIds {
            asked: ids,
            entitled: expected,
        });
    }
    Ok(())
}

/// Check that `source` lists `target` and that `ids` are the ones it entitles.
fn check_identity(
    source: &Source,
    target: &Target<'_>,
    ids: (u32, u32),
    cfg: &Config,
) -> Result<(), Refusal> {
    let owner = match source {
        Source::None => None,
        // Only a command can come from a mailbox (`check_mailbox_command`).
        Source::Mailbox(user) => return Err(Refusal::NotTheMailboxCommand(user.clone())),
        Source::Table { spec, key } => {
            let tables = crate::tables::TableList::open_list(cfg.get("alias_maps"))
                .map_err(|e| Refusal::Table(e.to_string()))?;
            let table = tables
                .tables
                .iter()
                .find(|t| t.spec() == spec)
                .ok_or_else(|| Refusal::NotInAliasMaps(spec.clone()))?;
            let value = table
                .lookup(key)
                .map_err(|e| Refusal::Table(e.to_string()))?
                .ok_or_else(|| Refusal::NoAlias {
                    spec: spec.clone(),
                    key: key.clone(),
                })?;
            let targets = crate::tables::aliases::targets(&value);
            if !target_listed(&targets, target) {
                return Err(Refusal::AliasDoesNotList {
                    spec: spec.clone(),
                    key: key.clone(),
                });
            }
            table_owner(spec)
        }
        Source::Pipe(service) => {
            return Err(Refusal::Pipe(format!("{} names no alias target", service)));
        }
        Source::Include(path) => {
            let (text, owner) = read_include(path)?;
            if !target_listed(&include_targets(&text), target) {
                return Err(Refusal::IncludeDoesNotList(path.clone()));
            }
            Some(owner)
        }
        Source::Forward { path, user } => {
            let (text, owner) = read_include(path)?;
            if !target_listed(&include_targets(&text), target) {
                return Err(Refusal::IncludeDoesNotList(path.clone()));
            }
            let acct = sys::user_by_name(user)
                .ok()
                .flatten()
                .ok_or_else(|| Refusal::UnknownUser(user.clone()))?;
            // local(8): a .forward file belongs to its user or to root.
            if owner != 0 && owner != acct.uid {
                return Err(Refusal::NotTheUsersForward {
                    path: path.clone(),
                    user: user.clone(),
                });
            }
            Some(acct.uid)
        }
    };
    let name = cfg.get("default_privs");
    let default = sys::user_by_name(name)
        .ok()
        .flatten()
        .ok_or_else(|| Refusal::UnknownDefaultPrivs(name.to_string()))?;
    let entitled = entitled_account(owner, name).map_err(Refusal::UnknownOwner)?;
    let expected = (entitled.uid, entitled.gid);
    if ids != expected {
        return Err(Refusal::WrongIds {
            asked: ids,
            entitled: expected,
        });
    }
    if ids.0 < MIN_UID && ids.0 != default.uid {
        return Err(Refusal::UidBelowMinimum {
            uid: ids.0,
            minimum: MIN_UID,
        });
    }
    Ok(())
}

/// Read an include file as root for verification: a regular file (never blocking on a FIFO
/// or device), at most `MAX_INCLUDE` bytes; its text and owner.
fn read_include(path: &Path) -> Result<(String, u32), Refusal> {
    check_path(path)?;
    let fail = |e: io::Error| Refusal::UnreadableInclude {
        path: path.to_path_buf(),
        error: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() || meta.len() > MAX_INCLUDE {
        return Err(Refusal::NotAnIncludeFile(path.to_path_buf()));
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
            kept: super::super::keep::KeptProcs::new(None),
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
        let bad = |p: &str| Err(Refusal::BadPath(p.into()));
        let not_of = |uid, user: &str| {
            Err(Refusal::IdsNotOfUser {
                uid,
                gid: 0,
                user: user.into(),
            })
        };
        let shadow = Err(Refusal::NotAMailbox {
            path: "/etc/shadow".into(),
            user: "root".into(),
        });
        assert_eq!(validate(&mbox("/var/mail/root", "root", 0), &c), Ok(()));
        assert_eq!(validate(&mbox("/root/Mailbox", "root", 0), &c), Ok(()));
        assert_eq!(validate(&mbox("/etc/shadow", "root", 0), &c), shadow);
        let dotdot = "/var/mail/../../etc/shadow";
        assert_eq!(validate(&mbox(dotdot, "root", 0), &c), bad(dotdot));
        assert_eq!(
            validate(&mbox("/var/mail/root", "root", 5), &c),
            not_of(5, "root")
        );
        assert_eq!(
            validate(&mbox("var/mail/root", "root", 0), &c),
            bad("var/mail/root")
        );
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
        assert_eq!(validate(&batch("/var/mail/root", 0), &c), Ok(()));
        assert_eq!(validate(&batch("/root/Mailbox", 0), &c), Ok(()));
        assert_eq!(validate(&batch("/etc/shadow", 0), &c), shadow);
        assert_eq!(validate(&batch(dotdot, 0), &c), bad(dotdot));
        assert_eq!(validate(&batch("/var/mail/root", 5), &c), not_of(5, "root"));
        assert_eq!(
            validate(&mbox("/var/mail/x", "no-such-user-pst", 1234), &c),
            Err(Refusal::UnknownUser("no-such-user-pst".into()))
        );
        let file = |uid| Op::File {
            path: "/tmp/f".into(),
            source: Source::None,
            uid,
            gid: 65534,
            limit: 0,
            locks: LockPolicy::default(),
            record: Vec::new(),
        };
        let root_file = validate(&file(0), &c).unwrap_err();
        assert_eq!(root_file, Refusal::RootFile);
        assert_eq!(root_file.to_string(), "file delivery with root privileges");
        let nobody = sys::user_by_name("nobody").unwrap().unwrap();
        assert_eq!(nobody.gid, 65534, "test assumes nobody's gid is 65534");
        assert_eq!(validate(&file(nobody.uid), &c), Ok(()));
        // Without a source only $default_privs is acceptable.
        let wrong = validate(&file(4242), &c).unwrap_err();
        assert_eq!(
            wrong,
            Refusal::WrongIds {
                asked: (4242, 65534),
                entitled: (nobody.uid, nobody.gid),
            }
        );
        assert_eq!(
            wrong.to_string(),
            format!(
                "ids 4242:65534 are not {}:{} as the source entitles",
                nobody.uid, nobody.gid
            )
        );
        let cmd = Op::Command {
            source: Source::None,
            uid: 0,
            gid: 5,
            job: crate::delivery::command::CommandJob {
                command: "id".into(),
                argv: Vec::new(),
                shell: String::new(),
                dir_required: false,
                env: Vec::new(),
                dir: "/".into(),
                limit: std::time::Duration::from_secs(1),
                input: Vec::new(),
            },
        };
        if let Op::Command { uid, gid, job, .. } = &mut cmd.clone() {
            *uid = nobody.uid;
            *gid = nobody.gid;
            job.shell = "/bin/sh -c".into();
            let shell = Op::Command {
                source: Source::None,
                uid: *uid,
                gid: *gid,
                job: job.clone(),
            };
            let e = validate(&shell, &c).unwrap_err();
            assert_eq!(e, Refusal::NotTheCommandShell);
            assert_eq!(e.to_string(), "shell is not local_command_shell");
            // A forged environment is refused before the alias is even looked at.
            job.shell = String::new();
            job.env = vec![("LD_PRELOAD".into(), "/tmp/evil.so".into())];
            let preload = Op::Command {
                source: Source::None,
                uid: *uid,
                gid: *gid,
                job: job.clone(),
            };
            let e = validate(&preload, &c).unwrap_err();
            assert_eq!(e, Refusal::Environment("LD_PRELOAD".into()));
            assert_eq!(e.to_string(), "environment variable LD_PRELOAD refused");
        }
        let root_cmd = validate(&cmd, &c).unwrap_err();
        assert_eq!(root_cmd, Refusal::RootCommand);
        assert_eq!(
            root_cmd.to_string(),
            "command delivery with root privileges"
        );
        // Not root: in-process semantics, the ids are the caller's own anyway.
        let user = Ctx {
            root: false,
            ..ctx()
        };
        assert_eq!(validate(&file(4242), &user), Ok(()));
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
        assert!(!in_spool(
            Path::new("/var/mail/u@d"),
            "u@d",
            Path::new("/var/mail")
        ));
    }

    #[test]
    fn mailbox_commands_are_the_configured_one_as_the_user() {
        let cfg = Config::from_pairs(
            Path::new("/nonexistent-postern-config"),
            &[("mailbox_command", "/usr/bin/procmail -a \"$EXTENSION\"")],
        );
        let nobody = sys::user_by_name("nobody").unwrap().unwrap();
        let cmd = "/usr/bin/procmail -a \"$EXTENSION\"";
        // Root's mail runs as $default_privs; the command is taken as written.
        let ok = check_mailbox_command("root", cmd, (nobody.uid, nobody.gid), &cfg);
        assert_eq!(ok, Ok(()));
        assert_eq!(
            check_mailbox_command("root", cmd, (0, 0), &cfg),
            Err(Refusal::WrongIds {
                asked: (0, 0),
                entitled: (nobody.uid, nobody.gid)
            })
        );
        let e = check_mailbox_command("root", "/bin/sh -c evil", (nobody.uid, nobody.gid), &cfg);
        assert_eq!(e, Err(Refusal::NotTheMailboxCommand("root".into())));
        assert_eq!(
            e.unwrap_err().to_string(),
            "not the mailbox command of root"
        );
        let none = Config::from_pairs(Path::new("/nonexistent-postern-config"), &[]);
        assert!(check_mailbox_command("root", cmd, (nobody.uid, nobody.gid), &none).is_err());
        assert_eq!(
            check_mailbox_command("no-such-user-pst", cmd, (1, 1), &cfg),
            Err(Refusal::UnknownUser("no-such-user-pst".into()))
        );
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
        assert_eq!(
            check_identity(&table("prog"), &cmd, other, &cfg),
            Err(Refusal::WrongIds {
                asked: other,
                entitled: db_ids,
            })
        );
        let evil = Target::Command("/bin/sh -c evil");
        let e = check_identity(&table("prog"), &evil, db_ids, &cfg).unwrap_err();
        assert_eq!(
            e,
            Refusal::AliasDoesNotList {
                spec: spec.clone(),
                key: "prog".into()
            }
        );
        assert_eq!(
            e.to_string(),
            format!("alias prog in {} does not list the target", spec)
        );
        let e = check_identity(&table("nokey"), &cmd, db_ids, &cfg).unwrap_err();
        assert_eq!(
            e,
            Refusal::NoAlias {
                spec: spec.clone(),
                key: "nokey".into()
            }
        );
        assert_eq!(e.to_string(), format!("{} has no alias nokey", spec));
        let foreign = Source::Table {
            spec: "hash:/etc/postern-not-an-alias-map".into(),
            key: "prog".into(),
        };
        let e = check_identity(&foreign, &cmd, db_ids, &cfg).unwrap_err();
        assert_eq!(
            e,
            Refusal::NotInAliasMaps("hash:/etc/postern-not-an-alias-map".into())
        );
        assert_eq!(
            e.to_string(),
            "hash:/etc/postern-not-an-alias-map is not in alias_maps"
        );
        // Include files: the target must be listed (comments are not targets).
        let inc = Source::Include(include.clone());
        let echo = Target::Command("/bin/echo hi");
        assert_eq!(check_identity(&inc, &echo, inc_ids, &cfg), Ok(()));
        let f = Target::File(Path::new("/var/tmp/inc"));
        assert_eq!(check_identity(&inc, &f, inc_ids, &cfg), Ok(()));
        let not_listed = Err(Refusal::IncludeDoesNotList(include.clone()));
        let members = Target::Command("members");
        assert_eq!(check_identity(&inc, &members, inc_ids, &cfg), not_listed);
        let passwd = Target::File(Path::new("/etc/passwd"));
        let e = check_identity(&inc, &passwd, inc_ids, &cfg);
        assert_eq!(e, not_listed);
        assert_eq!(
            e.unwrap_err().to_string(),
            format!("{} does not list the target", include.display())
        );
        let missing = dir.join("no-such-list");
        let e = check_identity(&Source::Include(missing.clone()), &f, inc_ids, &cfg);
        assert_eq!(
            e,
            Err(Refusal::UnreadableInclude {
                path: missing,
                error: "No such file or directory (os error 2)".into()
            })
        );
        // Devices, FIFOs and relative paths are not read as include files.
        let e = check_identity(&Source::Include("/dev/zero".into()), &f, inc_ids, &cfg);
        let e = e.unwrap_err();
        assert_eq!(e, Refusal::NotAnIncludeFile("/dev/zero".into()));
        assert_eq!(e.to_string(), "/dev/zero is not a plausible include file");
        let e = check_identity(&Source::Include("rel/list".into()), &f, inc_ids, &cfg);
        let e = e.unwrap_err();
        assert_eq!(e, Refusal::BadPath("rel/list".into()));
        assert_eq!(e.to_string(), "bad path rel/list");
        // A source owned by a system account (as root we can arrange one) is refused.
        if sys::is_root() {
            let bin = sys::user_by_name("bin").unwrap().unwrap();
            assert!(bin.uid < MIN_UID && bin.uid != 0);
            std::os::unix::fs::chown(&include, Some(bin.uid), Some(bin.gid)).unwrap();
            let e = check_identity(&inc, &echo, (bin.uid, bin.gid), &cfg).unwrap_err();
            assert_eq!(
                e,
                Refusal::UidBelowMinimum {
                    uid: bin.uid,
                    minimum: MIN_UID
                }
            );
            assert_eq!(
                e.to_string(),
                format!("uid {} is below {}", bin.uid, MIN_UID)
            );
            // An owner without an account entitles nothing.
            let ghost = 54_321;
            assert!(sys::user_by_uid(ghost).unwrap().is_none());
            std::os::unix::fs::chown(&include, Some(ghost), Some(0)).unwrap();
            let e = check_identity(&inc, &echo, (ghost, 0), &cfg).unwrap_err();
            assert_eq!(
                e,
                Refusal::UnknownOwner("cannot find alias database owner".into())
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
