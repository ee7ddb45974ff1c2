//! `.forward` files for local(8) (Postfix's deliver_dotforward): after alias expansion
//! found nothing for a local user with an account, each $forward_path entry is expanded
//! (`$user`, `$home`, `$shell`, `$domain`, `$local`, `$mailbox`, `$recipient`,
//! `$extension`, `$recipient_delimiter`, `${name?text}`, `${name:text}`; an entry naming a
//! value that is not defined, such as `${extension}` without an extension, is skipped;
//! expanded values have characters outside $forward_expansion_filter replaced by `_`), and
//! the first file that exists is used. Its targets are those of an include file: addresses,
//! `/file`, `|command`, `:include:`; allow_mail_to_commands / allow_mail_to_files must
//! contain `forward`. Files and commands run as the user ($default_privs for root). The
//! user's own name (`user` or `\user`) goes to the mailbox; any other address, local or not,
//! is forwarded as a new message through cleanup with `Delivered-To:` (so a `.forward`
//! loop between users ends as `mail forwarding loop`, as in Postfix). A file that is empty
//! or lists nothing is ignored: mail goes to the mailbox.
//!
//! Security role: the file must be a regular file owned by the user or root and not world
//! writable, else it is ignored with a warning (mail goes to the mailbox, as Postfix does);
//! at most `MAX_INCLUDE` bytes are read, without blocking. Requests name the file and the
//! user (`Source::Forward`) so the root helper re-reads it and checks owner and ids itself.
//! Logs `warning: file PATH is not a regular file`, `... has bad owner uid N`, `... is
//! world writable`, `warning: cannot open file PATH: REASON`, and `warning: cannot access
//! file PATH: Permission denied; not used as a .forward file ...` when $mail_owner (which
//! Postern's agent runs as; Postfix looks as the user) cannot search the directory.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::alias::Origin;
use super::forward::Forward;
use super::{Local, Rcpt, split_addr};
use crate::delivery::dsn_of;
use crate::delivery::privileged::MAX_INCLUDE;
use crate::delivery::request::Source;
use crate::delivery::targets::include_targets;
use crate::sys::User;

impl Local {
    /// Deliver through the user's .forward file: true when one was found and listed
    /// something (or the lookup failed and the recipient was deferred).
    pub(super) fn dotforward(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        user: &str,
        level: usize,
    ) -> bool {
        if self.cfg.raw("forward_path").trim().is_empty() {
            return false;
        }
        let acct = match crate::sys::user_by_name(user) {
            Ok(Some(a)) => a,
            Ok(None) => return false,
            Err(e) => {
                crate::log::warning(
                    "local",
                    format!("error looking up passwd info for {}: {}", user, e),
                );
                r.outcome(addr, dsn_of("4.0.0"), "user lookup error");
                return true;
            }
        };
        let Some(path) = self.forward_file(addr, &acct) else {
            return false;
        };
        let key = path.display().to_string();
        if !r.first_time(format!("forward {}", key)) {
            // Named again while being expanded: the user's own name goes to the mailbox.
            return r.seen.contains(&format!("forward-done {}", key));
        }
        let Some(text) = read_forward(&path, acct.uid) else {
            return false;
        };
        let targets = include_targets(&text);
        if targets.is_empty() {
            return false;
        }
        let origin = Origin {
            owner: Some(acct.uid),
            source: Source::Forward {
                path: path.clone(),
                user: acct.name.clone(),
            },
        };
        self.expand_targets(r, addr, &targets, &origin, level + 1, &user.to_lowercase());
        r.first_time(format!("forward-done {}", key));
        true
    }

    /// The first $forward_path entry that expands and exists.
    fn forward_file(&self, addr: &str, acct: &User) -> Option<PathBuf> {
        let (local, domain) = split_addr(addr);
        let local = local.to_lowercase();
        let (user, extension) = self.rewrite.split(&local);
        let delim = extension.and_then(|_| local[user.len()..].chars().next());
        let filter = self.cfg.get("forward_expansion_filter");
        let value = |name: &str| -> Option<String> {
            let v = match name {
                "user" => user.to_string(),
                "home" => acct.home.clone(),
                "shell" => acct.shell.clone(),
                "domain" => domain.to_string(),
                "local" | "mailbox" => local.clone(),
                "recipient" => addr.to_string(),
                "extension" => extension?.to_string(),
                "recipient_delimiter" => delim?.to_string(),
                _ => return None,
            };
            Some(super::environ::censor(&v, filter))
        };
        self.cfg
            .raw("forward_path")
            .split([',', ' ', '\t', '\n'])
            .filter(|e| !e.is_empty())
            .filter_map(|entry| expand(entry, &value))
            .map(PathBuf::from)
            .find(|p| match std::fs::symlink_metadata(p) {
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    // Postfix looks as the user; Postern's agent runs as $mail_owner. Say
                    // so rather than silently skip a .forward that may exist.
                    crate::log::warning(
                        "local",
                        format!(
                            "cannot access file {}: {}; not used as a .forward file (it must be reachable by $mail_owner)",
                            p.display(),
                            crate::tables::hash::io_text(&e)
                        ),
                    );
                    false
                }
                Err(_) => false,
            })
    }

    /// An address listed in `owner`'s .forward: the owner's own name to the mailbox (or
    /// on through aliases), anything else forwarded as a new message.
    pub(super) fn forward_address(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        t: &str,
        level: usize,
        owner: &str,
    ) {
        let (direct, bare) = match t.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let qualified = if bare.contains('@') {
            bare.to_string()
        } else {
            format!("{}@{}", bare, self.cfg.get("myorigin"))
        };
        let (local, domain) = split_addr(&qualified);
        let local = local.to_lowercase();
        let own = self.rewrite.is_local(domain)
            && self.rewrite.split(&local).0.eq_ignore_ascii_case(owner);
        if own {
            self.resolve(
                r,
                &qualified,
                level + 1,
                direct,
                Some(&owner.to_lowercase()),
            );
        } else if r.first_time(format!("forward {}", qualified.to_lowercase())) {
            r.forwards.push(Forward {
                delivered_to: addr.to_string(),
                target: qualified,
                sender: r.owner.as_ref().map(|o| o.sender.clone()),
            });
        }
    }
}

/// Read a .forward file after local(8)'s checks; None (with a warning) when it fails one.
fn read_forward(path: &Path, uid: u32) -> Option<String> {
    let warn = |what: String| {
        crate::log::warning("local", format!("file {} {}", path.display(), what));
        None
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return warn("is not a regular file".into());
        }
        Err(e) => {
            let why = crate::tables::hash::io_text(&e);
            crate::log::warning(
                "local",
                format!("cannot open file {}: {}", path.display(), why),
            );
            return None;
        }
    };
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return warn("is not a regular file".into());
    }
    if meta.uid() != 0 && meta.uid() != uid {
        return warn(format!("has bad owner uid {}", meta.uid()));
    }
    if meta.mode() & 0o002 != 0 {
        return warn("is world writable".into());
    }
    let mut text = String::new();
    file.take(MAX_INCLUDE).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Expand one $forward_path entry; None when it names an undefined value.
pub(super) fn expand(entry: &str, value: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = entry;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}')?;
            let body = &inner[..end];
            rest = &inner[end + 1..];
            match body.find(['?', ':']) {
                Some(p) => {
                    let defined = value(&body[..p]).is_some_and(|v| !v.is_empty());
                    if defined == (body.as_bytes()[p] == b'?') {
                        out.push_str(&expand(&body[p + 1..], value)?);
                    }
                }
                None => out.push_str(&value(body)?),
            }
        } else if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(&value(&after[..n])?);
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_path_entries_expand_or_are_skipped() {
        let v = |n: &str| -> Option<String> {
            match n {
                "home" => Some("/home/u".into()),
                "user" => Some("u".into()),
                _ => None,
            }
        };
        assert_eq!(
            expand("$home/.forward", &v).as_deref(),
            Some("/home/u/.forward")
        );
        assert_eq!(
            expand("$home/.forward${recipient_delimiter}${extension}", &v),
            None
        );
        assert_eq!(
            expand("/var/fwd/${user}${extension?-x}${home:none}", &v).as_deref(),
            Some("/var/fwd/u")
        );
        assert_eq!(expand("a$$b", &v).as_deref(), Some("a$b"));
        assert_eq!(expand("${unclosed", &v), None);
    }
}
