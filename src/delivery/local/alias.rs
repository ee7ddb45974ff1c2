//! Alias expansion for local(8): the value found in $alias_maps is split into targets
//! (aliases(5)): `|command`, `/file`, `:include:/file`, a local name or `user@$mydestination`
//! (delivered recursively; `\user` skips alias lookup), or any other address (forwarded).
//!
//! Security role: commands and files run with the privileges of the alias database owner,
//! or of $default_privs when the owner is root; `:include:` targets with those of the
//! include file's owner (likewise). allow_mail_to_commands / allow_mail_to_files must
//! contain `alias`, otherwise the target bounces with 5.7.1. Each alias name is expanded at
//! most once per recipient, so `root: root` and `a: b`, `b: a` end in a mailbox instead of
//! looping. Each file or command request names its `request::Source` (the alias table and
//! key, or the include file) so that the root helper can check the ids itself
//! (`target_listed`, `include_targets` and `table_owner` are shared with it). Logs nothing
//! itself.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::forward::Forward;
use super::{Local, Rcpt, split_addr};
use crate::delivery::command::{CommandJob, DEFAULT_PATH};
use crate::delivery::lock::LockPolicy;
use crate::delivery::request::{Op, Source};
use crate::delivery::{Status, mbox};
use crate::tables::{TableError, aliases};

/// The (uid, gid) owning an alias table or include file, when known.
pub(super) type Owner = Option<(u32, u32)>;

/// Where an alias value came from: the owner of its file and what to tell the helper.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub owner: Owner,
    pub source: Source,
}

/// One alias target, classified as `expand_targets` treats it.
#[derive(Debug, PartialEq)]
pub(crate) enum Target<'a> {
    Command(&'a str),
    Include(&'a Path),
    File(&'a Path),
    Address(&'a str),
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

/// The account commands and files run as.
#[derive(Debug, Clone)]
pub(super) struct Privs {
    uid: u32,
    gid: u32,
    name: String,
    home: String,
    shell: String,
}

/// The owner (uid, gid) of the file behind a table spec, when it has one.
pub(crate) fn table_owner(spec: &str) -> Option<(u32, u32)> {
    let spec = spec.strip_prefix("proxy:").unwrap_or(spec);
    let (kind, name) = spec.split_once(':')?;
    if kind != "hash" && kind != "btree" {
        return None;
    }
    let meta = std::fs::metadata(crate::tables::hash::db_path(Path::new(name))).ok()?;
    Some((meta.uid(), meta.gid()))
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

    /// The privileges for an owner: the owner itself, or $default_privs for root/unknown.
    fn privs(&self, owner: Option<(u32, u32)>) -> Result<Privs, String> {
        if let Some((uid, gid)) = owner.filter(|o| o.0 != 0) {
            let acct = crate::sys::user_by_uid(uid).ok().flatten();
            return Ok(Privs {
                uid,
                gid,
                name: acct
                    .as_ref()
                    .map(|a| a.name.clone())
                    .unwrap_or(uid.to_string()),
                home: acct.as_ref().map(|a| a.home.clone()).unwrap_or("/".into()),
                shell: acct.map(|a| a.shell).unwrap_or("/bin/sh".into()),
            });
        }
        let name = self.cfg.get("default_privs");
        match crate::sys::user_by_name(name) {
            Ok(Some(a)) => Ok(Privs {
                uid: a.uid,
                gid: a.gid,
                name: a.name,
                home: a.home,
                shell: a.shell,
            }),
            _ => Err(format!("unknown default_privs user: {}", name)),
        }
    }

    /// command_time_limit (default 1000s; not yet in the parameter table).
    fn command_time_limit(&self) -> std::time::Duration {
        let d = if self.cfg.has("command_time_limit") {
            self.cfg.time("command_time_limit")
        } else {
            std::time::Duration::ZERO
        };
        if d.is_zero() {
            std::time::Duration::from_secs(1000)
        } else {
            d
        }
    }

    fn allowed(&self, param: &str) -> bool {
        self.cfg.list(param).iter().any(|c| c == "alias")
    }

    fn is_local_domain(&self, domain: &str) -> bool {
        self.cfg
            .list("mydestination")
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Expand an alias value found for `addr`.
    pub(super) fn expand(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        value: &str,
        origin: &Origin,
        depth: usize,
    ) {
        let targets = aliases::targets(value);
        self.expand_targets(r, addr, &targets, origin, depth);
    }

    fn expand_targets(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        targets: &[String],
        origin: &Origin,
        depth: usize,
    ) {
        for t in targets {
            match classify(t) {
                Target::Command(cmd) => self.to_command(r, addr, cmd, origin),
                Target::Include(path) => self.include(r, addr, path, depth),
                Target::File(path) => self.to_file(r, addr, path, origin),
                Target::Address(t) => self.to_address(r, addr, t, depth),
            }
        }
    }

    fn to_address(&self, r: &mut Rcpt<'_>, addr: &str, t: &str, depth: usize) {
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
        if self.is_local_domain(domain) {
            self.resolve(r, &qualified, depth + 1, direct);
        } else {
            r.forwards.push(Forward {
                delivered_to: addr.to_string(),
                target: qualified,
            });
        }
    }

    fn include(&self, r: &mut Rcpt<'_>, addr: &str, path: &Path, depth: usize) {
        if !path.is_absolute() {
            let text = format!("include file must be an absolute path: {}", path.display());
            r.outcome(addr, Status::Bounced, "5.3.5", &text);
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
                    r.outcome(addr, Status::Deferred, "4.3.0", &why);
                    return;
                }
            };
        let origin = Origin {
            owner: Some((meta.uid(), meta.gid())),
            source: Source::Include(path.to_path_buf()),
        };
        self.expand_targets(r, addr, &include_targets(&text), &origin, depth + 1);
    }

    fn to_command(&self, r: &mut Rcpt<'_>, addr: &str, cmd: &str, origin: &Origin) {
        if !self.allowed("allow_mail_to_commands") {
            r.outcome(
                addr,
                Status::Bounced,
                "5.7.1",
                "mail to command is restricted",
            );
            return;
        }
        let p = match self.privs(origin.owner) {
            Ok(p) => p,
            Err(why) => return r.outcome(addr, Status::Deferred, "4.3.0", &why),
        };
        let (local, domain) = split_addr(addr);
        let delim = self.cfg.get("recipient_delimiter");
        let extension = match delim.chars().next() {
            // split_once: a multi-byte delimiter must not be sliced through.
            Some(_) => local
                .split_once(|c| delim.contains(c))
                .map(|(_, ext)| ext.to_string())
                .unwrap_or_default(),
            None => String::new(),
        };
        let env = vec![
            ("HOME".to_string(), p.home.clone()),
            ("LOGNAME".to_string(), p.name.clone()),
            ("USER".to_string(), p.name.clone()),
            ("SHELL".to_string(), p.shell.clone()),
            ("PATH".to_string(), DEFAULT_PATH.to_string()),
            ("RECIPIENT".to_string(), addr.to_string()),
            ("SENDER".to_string(), r.req.sender.to_string()),
            ("EXTENSION".to_string(), extension),
            ("DOMAIN".to_string(), domain.to_string()),
            ("LOCAL".to_string(), local.to_string()),
        ];
        let mut input = mbox::from_line(r.req.sender, r.now);
        input.extend_from_slice(&mbox::delivery_headers(r.req.sender, &r.orig_to, addr));
        input.extend_from_slice(r.req.content);
        let job = CommandJob {
            command: cmd.to_string(),
            env,
            dir: PathBuf::from(&p.home),
            limit: self.command_time_limit(),
            input,
        };
        let reply = self.perform(Op::Command {
            source: origin.source.clone(),
            uid: p.uid,
            gid: p.gid,
            job,
        });
        r.reply(addr, reply);
    }

    fn to_file(&self, r: &mut Rcpt<'_>, addr: &str, path: &Path, origin: &Origin) {
        if !self.allowed("allow_mail_to_files") {
            r.outcome(addr, Status::Bounced, "5.7.1", "mail to file is restricted");
            return;
        }
        let p = match self.privs(origin.owner) {
            Ok(p) => p,
            Err(why) => return r.outcome(addr, Status::Deferred, "4.3.0", &why),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
