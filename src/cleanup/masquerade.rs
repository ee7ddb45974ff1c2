//! Address masquerading (Postfix's cleanup_masquerade.c, postconf(5) masquerade_domains,
//! ADDRESS_REWRITING_README): `user@host.sub.example.com` becomes `user@example.com` when
//! `example.com` is in $masquerade_domains. The list is tried in order and the first domain
//! that equals the address's domain (left alone) or is a parent of it (replaced) decides; a
//! `!name` entry matches the same way but never replaces, so `!sub.example.com, example.com`
//! keeps `sub.example.com` and its subdomains. Local parts in $masquerade_exceptions (names,
//! or `type:table` entries looked up by the local part) are never masqueraded.
//!
//! Security role: a $masquerade_exceptions table that cannot answer is an error (the
//! message is refused with a temporary error), never "not excluded". Logs nothing itself.

use crate::config::Config;
use crate::tables::{TableError, TableList};

/// $masquerade_domains and $masquerade_exceptions of one configuration.
#[derive(Default)]
pub struct Masquerade {
    domains: Vec<String>,
    names: Vec<String>,
    tables: Vec<Result<TableList, TableError>>,
}

impl Masquerade {
    pub fn from_config(cfg: &Config) -> Masquerade {
        let mut m = Masquerade {
            domains: cfg
                .list("masquerade_domains")
                .into_iter()
                .map(|d| d.to_lowercase())
                .collect(),
            ..Default::default()
        };
        for e in crate::tables::split_specs(cfg.get("masquerade_exceptions")) {
            if e.contains(':') {
                m.tables.push(TableList::open_list(&e));
            } else {
                m.names.push(e.to_lowercase());
            }
        }
        m
    }

    /// Whether there is anything to do.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// The masqueraded address, or `None` when it stays as it is.
    pub fn apply(&self, address: &str) -> Result<Option<String>, TableError> {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Ok(None);
        };
        if self.domains.is_empty() || self.excluded(local)? {
            return Ok(None);
        }
        let domain = domain.to_lowercase();
        for entry in &self.domains {
            let bangs = entry.chars().take_while(|&c| c == '!').count();
            let masq = entry.get(bangs..).unwrap_or_default();
            let truncate = bangs % 2 == 0;
            if masq.is_empty() {
                continue;
            }
            if masq == domain {
                return Ok(None);
            }
            if let Some(head) = domain.strip_suffix(masq)
                && head.ends_with('.')
            {
                return Ok(truncate.then(|| format!("{}@{}", local, masq)));
            }
        }
        Ok(None)
    }

    fn excluded(&self, local: &str) -> Result<bool, TableError> {
        let lower = local.to_lowercase();
        if self.names.contains(&lower) {
            return Ok(true);
        }
        for t in &self.tables {
            match t {
                Ok(list) => {
                    if list.lookup(&lower)?.is_some() {
                        return Ok(true);
                    }
                }
                Err(e) => return Err(e.clone()),
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn m(domains: &str, exceptions: &str) -> Masquerade {
        Masquerade::from_config(&Config::from_pairs(
            Path::new("/x"),
            &[
                ("masquerade_domains", domains),
                ("masquerade_exceptions", exceptions),
            ],
        ))
    }

    #[test]
    fn parent_domains_replace_and_exceptions_keep() {
        let m = m("!sub.example.com, example.com", "root, inline:{ admin=x }");
        let a = |s: &str| m.apply(s).unwrap();
        assert_eq!(a("u@host.Example.COM").as_deref(), Some("u@example.com"));
        assert_eq!(a("u@example.com"), None, "the domain itself is left alone");
        assert_eq!(a("u@sub.example.com"), None);
        assert_eq!(a("u@x.sub.example.com"), None, "! covers subdomains");
        assert_eq!(a("u@notexample.com"), None);
        assert_eq!(a("root@host.example.com"), None);
        assert_eq!(a("Admin@host.example.com"), None);
        assert_eq!(a("user"), None);
    }

    #[test]
    fn exception_table_errors_are_errors() {
        let m = m("example.com", "fail:x");
        assert!(m.apply("u@host.example.com").is_err());
    }
}
