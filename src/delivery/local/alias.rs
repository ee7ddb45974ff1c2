//! Alias expansion for local(8): the value found in $alias_maps is split into targets
//! (aliases(5)): `|command`, `/file`, `:include:/file`, a local name or `user@$mydestination`
//! (delivered recursively; `\user` skips alias lookup), or any other address (forwarded).
//!
//! Security role: commands and files run with the privileges of the alias database owner
//! (the table registry says which types have one: hash, btree), or of $default_privs when
//! the owner is root; `:include:` targets with those of the include file's owner
//! (likewise). allow_mail_to_commands / allow_mail_to_files must contain the class of
//! the list that names the target (`alias`; `include` for an `:include:` file; `forward`
//! for a .forward file, `dotforward`), otherwise the target bounces with 5.7.1. An alias that lists itself
//! (`root: root`) goes to the mailbox; a loop (`a: b`, `b: a`) is followed until Postfix's
//! nesting limit and bounced (`alias database loop for b`, 5.4.6, with that warning).
//! Each mailbox, file, command, include file and forwarding address gets one delivery per
//! recipient, however often the expansion names it. Each file or command request names
//! its `request::Source` (the alias table and key, or the include file) so that the root
//! helper can check the ids itself (target syntax and owners come from `delivery::targets`,
//! which the helper uses too). Logs `warning: :include: nesting limit exceeded
//! for PATH`; the alias loop warning comes from the parent module.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::forward::Forward;
use super::run_command::RunAs;
use super::{Local, Rcpt, split_addr};
use crate::delivery::lock::LockPolicy;
use crate::delivery::request::{Op, Source};
use crate::delivery::targets::{Target, classify, entitled_account, include_targets, table_owner};
use crate::delivery::{dsn_of, mbox};
use crate::tables::{TableError, aliases};

/// The uid owning an alias table or include file, when known. Only the uid counts: the
/// gid is the owner's own (its passwd entry), never the file's group (local(8)).
pub(super) type Owner = Option<u32>;

/// Where an alias value came from: the owner of its file and what to tell the helper.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub owner: Owner,
    pub source: Source,
}

/// The account commands and files run as.
#[derive(Debug, Clone)]
pub(super) struct Privs {
    uid: u32,
    gid: u32,
    home: String,
    shell: String,
}

impl Local {
    /// Look `key` up in $alias_maps; the value and where it came from.
    pub(super) fn lookup_alias(&self, key: &str) -> Result<Option<(String, Origin)>, TableError> {
        let tables = self.alias_tables()?;
        for t in &tables.tables {
            if let Some(v) = t.lookup(key)? {
                let origin = Origin {
                    owner: table_owner(t.spec()),
                    source: Source::Table {
                        spec: t.spec().to_string(),
                        key: key.to_string(),
                    },
                };
                return Ok(Some((v, origin)));
            }
        }
        Ok(None)
    }

    /// The privileges for an owner: the owner's account, or $default_privs for root or no
    /// file.
    fn privs(&self, owner: Owner) -> Result<Privs, String> {
        let a = entitled_account(owner, self.cfg.get("default_privs"))?;
        Ok(Privs {
            uid: a.uid,
            gid: a.gid,
            home: a.home,
            shell: a.shell,
        })
    }

    /// Whether `param` (allow_mail_to_commands, allow_mail_to_files) allows targets listed
    /// in `origin`: its class is `alias`, `include` or `forward` (`Source::class`).
    fn allowed(&self, param: &str, origin: &Origin) -> bool {
        let class = origin.source.class();
        self.cfg.list(param).iter().any(|c| c == class)
    }

    /// Expand an alias value found for `addr`: `level` is the recursion level (see
    /// `NESTING_LIMIT`), `name` the alias expanded.
    pub(super) fn expand(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        value: &str,
        origin: &Origin,
        level: usize,
        name: &str,
    ) {
        let targets = aliases::targets(value);
        // The list's owner-NAME becomes the sender of what it forwards (`owner`).
        let outer = r.owner.clone();
        match self.list_owner(name) {
            Ok(Some(sender)) => {
                r.owner = Some(super::owner::ListOwner {
                    sender,
                    list: addr.to_string(),
                })
            }
            Ok(None) => {}
            Err(_) => {
                r.outcome(addr, dsn_of("4.3.0"), "alias database unavailable");
                return;
            }
        }
        self.expand_targets(r, addr, &targets, origin, level, name);
        r.owner = outer;
    }

    pub(super) fn expand_targets(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        targets: &[String],
        origin: &Origin,
        level: usize,
        name: &str,
    ) {
        for t in targets {
            match classify(t) {
                Target::Command(cmd) => self.to_command(r, addr, cmd, origin),
                Target::Include(path) => self.include(r, addr, path, level),
                Target::File(path) => self.to_file(r, addr, path, origin),
                Target::Address(t) => match &origin.source {
                    Source::Forward { user, .. } => self.forward_address(r, addr, t, level, user),
                    _ => self.to_address(r, addr, t, level, name),
                },
            }
        }
    }

    pub(super) fn to_address(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        t: &str,
        level: usize,
        name: &str,
    ) {
        let (direct, t) = match t.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let qualified = if t.contains('@') {
            t.to_string()
        } else {
            format!("{}@{}", t, self.cfg.get("myorigin"))
        };
        let (_, domain) = split_addr(&qualified);
        if self.rewrite.is_local(domain) {
            self.resolve(r, &qualified, level + 1, direct, Some(name));
        } else if r.first_time(format!("forward {}", qualified.to_lowercase())) {
            r.forwards.push(Forward {
                delivered_to: addr.to_string(),
                target: qualified,
                sender: r.owner.as_ref().map(|o| o.sender.clone()),
            });
        }
    }

    fn include(&self, r: &mut Rcpt<'_>, addr: &str, path: &Path, level: usize) {
        let level = level + 1;
        if level > super::NESTING_LIMIT {
            crate::log::lines::include_nesting_limit("local", path);
            let text = ":include: nesting limit exceeded";
            return r.outcome(addr, dsn_of("5.4.6"), text);
        }
        if !r.first_time(format!("include {}", path.display())) {
            return;
        }
        if !path.is_absolute() {
            let text = format!("include file must be an absolute path: {}", path.display());
            r.outcome(addr, dsn_of("5.3.5"), &text);
            return;
        }
        let (text, meta) =
            match std::fs::read_to_string(path).and_then(|t| Ok((t, std::fs::metadata(path)?))) {
                Ok(x) => x,
                Err(e) => {
                    let why = format!(
                        "cannot open include file {}: {}",
                        path.display(),
                        crate::tables::hash::io_text(&e)
                    );
                    r.outcome(addr, dsn_of("4.3.0"), &why);
                    return;
                }
            };
        let origin = Origin {
            owner: Some(meta.uid()),
            source: Source::Include(path.to_path_buf()),
        };
        // Names in the file that list themselves go to their mailbox, as in an alias.
        let (name, _) = split_addr(addr);
        let targets = include_targets(&text);
        self.expand_targets(r, addr, &targets, &origin, level, &name.to_lowercase());
    }

    fn to_command(&self, r: &mut Rcpt<'_>, addr: &str, cmd: &str, origin: &Origin) {
        if !self.allowed("allow_mail_to_commands", origin) {
            r.outcome(addr, dsn_of("5.7.1"), "mail to command is restricted");
            return;
        }
        let p = match self.privs(origin.owner) {
            Ok(p) => p,
            Err(why) => return r.outcome(addr, dsn_of("4.3.0"), &why),
        };
        let who = RunAs {
            uid: p.uid,
            gid: p.gid,
            home: &p.home,
            shell: &p.shell,
            cwd: &p.home,
        };
        self.run_command(r, addr, cmd, origin.source.clone(), &who);
    }

    fn to_file(&self, r: &mut Rcpt<'_>, addr: &str, path: &Path, origin: &Origin) {
        if !self.allowed("allow_mail_to_files", origin) {
            r.outcome(addr, dsn_of("5.7.1"), "mail to file is restricted");
            return;
        }
        let p = match self.privs(origin.owner) {
            Ok(p) => p,
            Err(why) => return r.outcome(addr, dsn_of("4.3.0"), &why),
        };
        if !r.first_time(format!("file {} {}", p.uid, path.display())) {
            return;
        }
        let reply = self.perform(Op::File {
            path: path.to_path_buf(),
            source: origin.source.clone(),
            uid: p.uid,
            gid: p.gid,
            limit: self.limit(),
            locks: LockPolicy::from_config(&self.cfg),
            record: mbox::record(r.req.sender, &r.orig_to, addr, r.req.content, r.now),
        });
        r.reply(addr, reply);
    }
}
