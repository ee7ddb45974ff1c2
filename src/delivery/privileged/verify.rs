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
#[path = "verify_tests.rs"]
mod tests;
