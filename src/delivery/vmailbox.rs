//! Where virtual(8) delivers a recipient: the one resolution of an address through
//! $virtual_mailbox_maps, $virtual_uid_maps and $virtual_gid_maps into a mailbox path under
//! $virtual_mailbox_base, its kind (Maildir when the table's value ends in `/`, else mbox)
//! and the uid/gid to write it as.
//!
//! Security role: both the virtual delivery agent (unprivileged) and the root helper
//! (`privileged`, which re-derives every virtual request from its own configuration and
//! trusts nothing the agent sends) call `resolve`, so the two cannot disagree. It refuses
//! paths with a `..` component or outside the base, a uid below $virtual_minimum_uid, uid
//! 0 and gid 0. A lookup has three outcomes: found, not found (`Unknown`, bounced by the
//! agent) and error (`Problem`, always a deferral). Leaf module: imports no other delivery
//! module.
//!
//! Follows virtual(8) (Postfix 2.10: mailbox.c, mail_addr_find with the extension ignored:
//! pattern tables get the full address only).
//! Logs nothing; a `Problem` carries the warning its caller logs.

use std::path::{Component, Path, PathBuf};

use crate::config::Config;
use crate::rewrite::Splitter;
use crate::tables::{TableError, TableList};

/// The text Postfix's virtual(8) gives for any configuration problem (with dsn 4.3.5).
pub const CONFIG_ERROR: &str = "mail system configuration error";

/// Whether the `user` field of a mailbox or Maildir request names a virtual recipient (an
/// address, from virtual(8)) rather than a Unix account (from local(8)). Account names never
/// contain `@`.
pub fn is_address(user: &str) -> bool {
    user.contains('@')
}

/// How a virtual mailbox is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Maildir,
    Mbox,
}

/// A resolved virtual mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub path: PathBuf,
    pub store: Store,
    pub uid: u32,
    pub gid: u32,
}

/// Why a recipient cannot be delivered now (a deferral).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Enhanced status code (4.3.5 as Postfix, 4.3.0 when a table cannot be opened).
    pub dsn: &'static str,
    /// The warning to log (`recipient ADDR: bad uid N in TABLE`, ...).
    pub warning: String,
}

/// The result of resolving one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Found(Mailbox),
    /// Not in $virtual_mailbox_maps: `unknown user`.
    Unknown,
    Problem(Problem),
}

/// The three tables, opened from one configuration.
pub struct Maps {
    mailbox: (String, TableList),
    uid: (String, TableList),
    gid: (String, TableList),
    base: String,
    minimum_uid: i64,
    splitter: Splitter,
}

impl Maps {
    /// Open the tables named in `cfg`; an error is a deferral for every recipient.
    pub fn open(cfg: &Config) -> Result<Maps, TableError> {
        // Warnings name the parameter, as Postfix's maps titles do.
        let open = |name: &str| -> Result<(String, TableList), TableError> {
            let list = TableList::open_list(cfg.get(name))?;
            Ok((name.to_string(), list))
        };
        Ok(Maps {
            mailbox: open("virtual_mailbox_maps")?,
            uid: open("virtual_uid_maps")?,
            gid: open("virtual_gid_maps")?,
            base: cfg.get("virtual_mailbox_base").trim().to_string(),
            minimum_uid: cfg.int("virtual_minimum_uid"),
            splitter: Splitter::from_config(cfg),
        })
    }

    /// The lookup keys for `addr` (lower-cased), in Postfix's order for a domain that is not
    /// local: the address, the address without its extension, then `@domain`.
    pub fn keys(&self, addr: &str) -> Vec<String> {
        let addr = addr.to_lowercase();
        let mut keys = vec![addr.clone()];
        if let Some(at) = addr.rfind('@') {
            let (local, domain) = (&addr[..at], &addr[at..]);
            let base = self.splitter.base(local);
            if base != local {
                keys.push(format!("{}{}", base, domain));
            }
            keys.push(domain.to_string());
        }
        keys
    }

    /// The first value any key finds in `list`, key by key across the tables; pattern
    /// tables (regexp, pcre, cidr) are asked the full address only, as in Postfix.
    fn find(&self, list: &TableList, addr: &str) -> Result<Option<String>, TableError> {
        for (i, key) in self.keys(addr).iter().enumerate() {
            for t in &list.tables {
                if i > 0 && crate::tables::registry::is_pattern(t.spec()) {
                    continue;
                }
                if let Some(v) = t.lookup(key)? {
                    return Ok(Some(v));
                }
            }
        }
        Ok(None)
    }

    /// Resolve `addr` (any case) to its mailbox.
    pub fn resolve(&self, addr: &str) -> Resolved {
        let user = addr.to_lowercase();
        let problem = |warning: String| {
            Resolved::Problem(Problem {
                dsn: "4.3.5",
                warning,
            })
        };
        if !self.base.starts_with('/') {
            return problem(format!(
                "do not specify relative pathname: virtual_mailbox_base = {}",
                self.base
            ));
        }
        let value = match self.find(&self.mailbox.1, &user) {
            Ok(Some(v)) => v.trim().to_string(),
            Ok(None) => return Resolved::Unknown,
            Err(e) => return problem(format!("table {}: lookup {}: {}", self.mailbox.0, user, e)),
        };
        let Some(path) = mailbox_path(&self.base, &value) else {
            return problem(format!(
                "recipient {}: bad mailbox path {} in {}",
                user, value, self.mailbox.0
            ));
        };
        let uid = match self.id(&self.uid, &user, "uid") {
            Ok(n) if n != 0 && i64::from(n) >= self.minimum_uid => n,
            Ok(n) => {
                return problem(format!(
                    "recipient {}: bad uid {} in {}",
                    user, n, self.uid.0
                ));
            }
            Err(w) => return problem(w),
        };
        let gid = match self.id(&self.gid, &user, "gid") {
            Ok(n) if n != 0 => n,
            Ok(n) => {
                return problem(format!(
                    "recipient {}: bad gid {} in {}",
                    user, n, self.gid.0
                ));
            }
            Err(w) => return problem(w),
        };
        let store = if value.ends_with('/') {
            Store::Maildir
        } else {
            Store::Mbox
        };
        Resolved::Found(Mailbox {
            path,
            store,
            uid,
            gid,
        })
    }

    /// A uid or gid from `table`: decimal, below u32::MAX; the warning otherwise.
    fn id(&self, table: &(String, TableList), user: &str, what: &str) -> Result<u32, String> {
        match self.find(&table.1, user) {
            Ok(Some(v)) => match v.trim().parse::<u32>() {
                Ok(n) if n != u32::MAX => Ok(n),
                _ => Err(format!(
                    "recipient {}: bad {} {} in {}",
                    user,
                    what,
                    v.trim(),
                    table.0
                )),
            },
            Ok(None) => Err(format!("recipient {}: not found in {}", user, table.0)),
            Err(e) => Err(format!("table {}: lookup {}: {}", table.0, user, e)),
        }
    }
}

/// `$virtual_mailbox_base/VALUE`, or None when `value` is empty, has a `..` component or
/// the result is not strictly under the base.
pub fn mailbox_path(base: &str, value: &str) -> Option<PathBuf> {
    let rel = value.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        return None;
    }
    let path = PathBuf::from(format!("{}/{}", base.trim_end_matches('/'), rel));
    let normal = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    (normal && path.starts_with(Path::new(base)) && path != Path::new(base)).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(extra: &[(&str, &str)]) -> Maps {
        let mut pairs = vec![
            ("virtual_mailbox_base", "/var/vmail"),
            (
                "virtual_mailbox_maps",
                "inline:{ a@ex.test=ex.test/a/, b@ex.test=ex.test/b, @ca.test=ca/all/, bad@ex.test=x/../../etc/passwd }",
            ),
            ("virtual_uid_maps", "static:5000"),
            ("virtual_gid_maps", "static:5001"),
            ("recipient_delimiter", "+"),
        ];
        pairs.extend_from_slice(extra);
        Maps::open(&Config::from_pairs(Path::new("/nonexistent"), &pairs)).unwrap()
    }

    fn found(path: &str, store: Store) -> Resolved {
        Resolved::Found(Mailbox {
            path: path.into(),
            store,
            uid: 5000,
            gid: 5001,
        })
    }

    #[test]
    fn lookup_order_and_kinds() {
        let m = maps(&[]);
        assert_eq!(
            m.keys("A+x@Ex.Test"),
            ["a+x@ex.test", "a@ex.test", "@ex.test"]
        );
        assert_eq!(
            m.resolve("A@ex.test"),
            found("/var/vmail/ex.test/a/", Store::Maildir)
        );
        assert_eq!(
            m.resolve("a+ext@ex.test"),
            found("/var/vmail/ex.test/a", Store::Maildir)
        );
        assert_eq!(
            m.resolve("b@ex.test"),
            found("/var/vmail/ex.test/b", Store::Mbox)
        );
        assert_eq!(
            m.resolve("anyone@ca.test"),
            found("/var/vmail/ca/all", Store::Maildir)
        );
        assert_eq!(m.resolve("nobody@ex.test"), Resolved::Unknown);
    }

    #[test]
    fn pattern_tables_get_the_full_address_only() {
        let dir = std::env::temp_dir().join(format!("postern-vmailbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let re = dir.join("vmailbox.regexp");
        // `@re.test` would match the first line: never asked, so `u+x` keeps its extension.
        std::fs::write(&re, "/^@re\\.test$/ caught/\n/^(.*)@re\\.test$/ re/$1/\n").unwrap();
        let spec = format!("regexp:{}", re.display());
        let m = maps(&[("virtual_mailbox_maps", &spec)]);
        assert_eq!(
            m.resolve("u@re.test"),
            found("/var/vmail/re/u/", Store::Maildir)
        );
        assert_eq!(
            m.resolve("u+x@re.test"),
            found("/var/vmail/re/u+x/", Store::Maildir)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn problems_are_deferrals() {
        let m = maps(&[]);
        let Resolved::Problem(p) = m.resolve("bad@ex.test") else {
            panic!("dotdot accepted");
        };
        assert_eq!(p.dsn, "4.3.5");
        assert!(
            p.warning.contains("bad mailbox path x/../../etc/passwd"),
            "{}",
            p.warning
        );
        let low = maps(&[("virtual_uid_maps", "static:99")]);
        let Resolved::Problem(p) = low.resolve("a@ex.test") else {
            panic!("low uid accepted");
        };
        assert_eq!(
            p.warning,
            "recipient a@ex.test: bad uid 99 in virtual_uid_maps"
        );
        let none = maps(&[("virtual_gid_maps", "inline:{ x@y=5 }")]);
        let Resolved::Problem(p) = none.resolve("a@ex.test") else {
            panic!("missing gid accepted");
        };
        assert_eq!(
            p.warning,
            "recipient a@ex.test: not found in virtual_gid_maps"
        );
        let failing = maps(&[("virtual_mailbox_maps", "fail:vm")]);
        assert!(matches!(failing.resolve("a@ex.test"), Resolved::Problem(_)));
        let relative = maps(&[("virtual_mailbox_base", "vmail")]);
        assert!(matches!(
            relative.resolve("a@ex.test"),
            Resolved::Problem(_)
        ));
    }

    #[test]
    fn paths_stay_under_the_base() {
        assert_eq!(mailbox_path("/b", "d/u/"), Some("/b/d/u/".into()));
        assert_eq!(mailbox_path("/b/", "/abs"), Some("/b/abs".into()));
        assert_eq!(mailbox_path("/b", ".."), None);
        assert_eq!(mailbox_path("/b", "a/../../x"), None);
        assert_eq!(mailbox_path("/b", ""), None);
        assert_eq!(mailbox_path("/b", "/"), None);
        assert!(is_address("u@d") && !is_address("root"));
    }
}
