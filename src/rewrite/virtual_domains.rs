//! The virtual domain lists ($virtual_alias_domains, $virtual_mailbox_domains) as Postfix's
//! string lists: domain names, `/file` entries (the file's names, read once when the
//! configuration is loaded) and `type:table` entries looked up with the domain as key
//! (any table type, through crate::tables; tables reload their own files). Matching is
//! exact and case-insensitive: unlike $relay_domains these lists never match subdomains
//! (trivial-rewrite matches them with string_list_match, not domain_list_match).
//!
//! Security role: these lists make domains ours, so smtpd accepts mail for them. A table
//! that cannot answer (or a `/file` that could not be read) is an error, never "not
//! listed": callers answer 4xx or defer. Follows postconf(5) virtual_alias_domains and
//! virtual_mailbox_domains. Logs nothing.

use std::fmt;
use std::sync::Arc;

use crate::config::split_list;
use crate::tables::{self, Table, TableError};

/// One parsed virtual domain list, opened once per configuration.
#[derive(Clone, Default)]
pub struct VirtualDomains {
    /// The list's parameter name (for error texts).
    name: &'static str,
    names: Vec<String>,
    tables: Vec<Arc<dyn Table>>,
    /// Entries that could not be opened or read; reported by every lookup.
    broken: Vec<TableError>,
}

impl fmt::Debug for VirtualDomains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables: Vec<&str> = self.tables.iter().map(|t| t.spec()).collect();
        f.debug_struct("VirtualDomains")
            .field("name", &self.name)
            .field("names", &self.names)
            .field("tables", &tables)
            .field("broken", &self.broken)
            .finish()
    }
}

impl VirtualDomains {
    /// Parse the (already `$name`-expanded) value of the list parameter `name`.
    pub fn parse(name: &'static str, value: &str) -> VirtualDomains {
        let mut list = VirtualDomains {
            name,
            ..VirtualDomains::default()
        };
        for entry in tables::split_specs(value) {
            if entry.starts_with('/') {
                list.add_file(&entry);
            } else if entry.contains(':') {
                match tables::open(&entry) {
                    Ok(t) => list.tables.push(Arc::from(t)),
                    Err(e) => list.broken.push(e),
                }
            } else {
                list.names.push(normalize(&entry));
            }
        }
        list
    }

    /// A `/file` entry: its names join the list.
    fn add_file(&mut self, path: &str) {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines() {
                    let line = line.split('#').next().unwrap_or("");
                    self.names
                        .extend(split_list(line).iter().map(|d| normalize(d)));
                }
            }
            Err(e) => self.broken.push(TableError::Unavailable {
                table: path.to_string(),
                reason: format!("open {}: {}", path, e),
            }),
        }
    }

    /// No entries at all (the parameter is empty).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.tables.is_empty() && self.broken.is_empty()
    }

    /// Whether `domain` is listed: a name first, then each table in order. An entry that
    /// could not be opened, or a table that fails, is an error.
    pub fn matches(&self, domain: &str) -> Result<bool, TableError> {
        let domain = normalize(domain);
        if domain.is_empty() {
            return Ok(false);
        }
        if self.names.contains(&domain) {
            return Ok(true);
        }
        if let Some(e) = self.broken.first() {
            return Err(e.clone());
        }
        for t in &self.tables {
            if t.lookup(&domain)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The parameter name of this list.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Lower case without one trailing dot.
fn normalize(d: &str) -> String {
    d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exact_and_case_insensitive() {
        let l = VirtualDomains::parse("virtual_alias_domains", "V.test, w.test.");
        assert_eq!(l.matches("v.test"), Ok(true));
        assert_eq!(l.matches("W.TEST."), Ok(true));
        assert_eq!(l.matches("a.v.test"), Ok(false), "no subdomains");
        assert_eq!(l.matches(""), Ok(false));
        assert!(VirtualDomains::parse("x", "").is_empty());
    }

    #[test]
    fn tables_are_looked_up_by_domain() {
        let l = VirtualDomains::parse("x", "inline:{ t.test=whatever }");
        assert_eq!(l.matches("T.test"), Ok(true));
        assert_eq!(l.matches("u.test"), Ok(false));
    }

    #[test]
    fn files_are_read_once() {
        let path = std::env::temp_dir().join(format!("postern-vd-{}", std::process::id()));
        std::fs::write(&path, "# comment\nf1.test f2.test\nf3.test, # x\n").unwrap();
        let l = VirtualDomains::parse("x", &path.display().to_string());
        std::fs::remove_file(&path).unwrap();
        for d in ["f1.test", "f2.test", "f3.test"] {
            assert_eq!(l.matches(d), Ok(true), "{}", d);
        }
        assert_eq!(l.matches("comment"), Ok(false));
    }

    #[test]
    fn errors_are_never_not_found() {
        let l = VirtualDomains::parse("x", "a.test fail:broken");
        assert_eq!(
            l.matches("a.test"),
            Ok(true),
            "a name matches before the table"
        );
        assert!(l.matches("b.test").is_err());
        let l = VirtualDomains::parse("x", "/nonexistent/postern/domains");
        assert!(l.matches("b.test").is_err());
        let l = VirtualDomains::parse("x", "nosuchtype:x");
        assert!(l.matches("b.test").is_err());
    }
}
