//! Address lookups in address-keyed tables (Postfix's mail_addr_find, as used for
//! virtual_alias_maps and virtual_mailbox_maps): `AddrMaps` is one table list opened once
//! per configuration, and `find` searches it with Postfix's key order for `user+ext@domain`:
//! 1. `user+ext@domain` (the whole address, lower case),
//! 2. `user@domain` (without the extension, when there is one),
//! 3. `user+ext`, then `user` - only when the domain is $myorigin or one of ours,
//! 4. `@domain` (a catch-all).
//!
//! Pattern tables (`regexp:`, `pcre:`) are given the whole address only, as in Postfix.
//!
//! Extensions are split by the one recipient_delimiter splitter (crate::rewrite::split).
//! A match found only after removing the extension reports the extension, for
//! propagate_unmatched_extensions.
//!
//! Security role: these tables decide which recipients smtpd accepts and where cleanup sends
//! mail. A table error is returned, never "not found"; a list that could not be opened
//! reports its error on every lookup. Logs nothing.

use std::fmt;
use std::sync::Arc;

use crate::tables::{TableError, TableList};

/// A table list (e.g. $virtual_alias_maps), opened once; cheap to clone.
#[derive(Clone, Default)]
pub struct AddrMaps {
    /// The parameter name, e.g. `virtual_alias_maps` (Postfix's maps->title).
    title: &'static str,
    /// `None`: the parameter is empty.
    maps: Option<Result<Arc<TableList>, TableError>>,
}

impl fmt::Debug for AddrMaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.maps {
            None => "empty".to_string(),
            Some(Ok(l)) => format!("{} tables", l.tables.len()),
            Some(Err(e)) => e.to_string(),
        };
        write!(f, "AddrMaps({}: {})", self.title, state)
    }
}

/// A match: the table's value, and the extension (with its delimiter, `+ext`) that was
/// removed to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub value: String,
    pub extension: Option<String>,
}

impl Found {
    /// The result addresses for a match of `address` (Postfix's mail_addr_map): commas and
    /// white space separate them; a result `@otherdomain` keeps the local part (without the
    /// extension); with `propagate`, an extension removed to find the match is added to
    /// each result (`user+ext@d` -> `other+ext@e`).
    pub fn results(&self, address: &str, propagate: bool) -> Vec<String> {
        let value = self.value.trim();
        let ext = self.extension.as_deref().filter(|_| propagate);
        let value = match value.strip_prefix('@') {
            Some(_) => {
                let local = address.rsplit_once('@').map(|(l, _)| l).unwrap_or(address);
                let local = self
                    .extension
                    .as_deref()
                    .and_then(|e| local.strip_suffix(e))
                    .unwrap_or(local);
                format!("{}{}", local, value)
            }
            None => value.to_string(),
        };
        crate::config::split_list(&value)
            .into_iter()
            .map(|a| with_extension(&a, ext))
            .collect()
    }
}

/// `user@domain` with `+ext` inserted before the `@` (at the end without one).
fn with_extension(address: &str, ext: Option<&str>) -> String {
    match (ext, address.rsplit_once('@')) {
        (None, _) => address.to_string(),
        (Some(e), Some((l, d))) => format!("{}{}@{}", l, e, d),
        (Some(e), None) => format!("{}{}", address, e),
    }
}

impl AddrMaps {
    /// Open the (already `$name`-expanded) list value of parameter `title`.
    pub fn open(title: &'static str, value: &str) -> AddrMaps {
        let maps = if value.trim().is_empty() {
            None
        } else {
            Some(TableList::open_list(value).map(Arc::new))
        };
        AddrMaps { title, maps }
    }

    /// A list already opened (the SMTP client's password tables).
    pub fn from_list(title: &'static str, list: Arc<TableList>) -> AddrMaps {
        AddrMaps {
            title,
            maps: Some(Ok(list)),
        }
    }

    /// The parameter name.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// No tables configured.
    pub fn is_empty(&self) -> bool {
        self.maps.is_none()
    }

    /// One key; the error of a list that could not be opened is returned here.
    pub fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        match &self.maps {
            None => Ok(None),
            Some(Ok(list)) => list.lookup(key),
            Some(Err(e)) => Err(e.clone()),
        }
    }

    /// Search `address` with Postfix's key order (see the module doc). `ours`: whether the
    /// domain is $myorigin or one of ours (then the bare local part is a key too).
    /// The error names the key that failed.
    pub fn find(
        &self,
        rw: &super::Rewrite,
        address: &str,
        ours: bool,
    ) -> Result<Option<Found>, (TableError, String)> {
        if self.is_empty() {
            return Ok(None);
        }
        for (i, (key, ext)) in keys(rw, address, ours).into_iter().enumerate() {
            // Pattern tables see the whole address only, as Postfix's mail_addr_find.
            let result = match &self.maps {
                Some(Ok(list)) if i > 0 => list.lookup_fixed(&key),
                _ => self.lookup(&key),
            };
            match result {
                Ok(Some(value)) => {
                    return Ok(Some(Found {
                        value,
                        extension: ext,
                    }));
                }
                Ok(None) => {}
                Err(e) => return Err((e, key)),
            }
        }
        Ok(None)
    }
}

/// The keys for `address`, each with the extension removed to make it (if any).
fn keys(rw: &super::Rewrite, address: &str, ours: bool) -> Vec<(String, Option<String>)> {
    let lower = address.to_lowercase();
    let (local, domain) = match lower.rsplit_once('@') {
        Some((l, d)) => (l.to_string(), Some(d.to_string())),
        None => (lower.clone(), None),
    };
    let (base, ext) = rw.split(&local);
    // The extension with its delimiter: what follows the base.
    let ext = ext
        .and_then(|_| local.strip_prefix(base))
        .map(str::to_string);
    let base = base.to_string();
    let mut keys = vec![(lower.clone(), None)];
    if let (Some(domain), Some(_)) = (&domain, &ext) {
        keys.push((format!("{}@{}", base, domain), ext.clone()));
    }
    if domain.is_none() || ours {
        if domain.is_some() {
            keys.push((local.clone(), None));
        }
        if ext.is_some() {
            keys.push((base, ext.clone()));
        }
    }
    if let Some(domain) = domain {
        keys.push((format!("@{}", domain), None));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::super::Rewrite;
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn rw() -> Rewrite {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[("myhostname", "h.test"), ("recipient_delimiter", "+")],
        );
        Rewrite::new(&cfg)
    }

    #[test]
    fn key_order() {
        let k: Vec<String> = keys(&rw(), "U+x@D.test", false)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(k, ["u+x@d.test", "u@d.test", "@d.test"]);
        let k: Vec<String> = keys(&rw(), "u+x@h.test", true)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(k, ["u+x@h.test", "u@h.test", "u+x", "u", "@h.test"]);
    }

    #[test]
    fn found_with_extension_and_errors() {
        let m = AddrMaps::open("virtual_alias_maps", "inline:{ u@d.test=x@e.test }");
        let f = m.find(&rw(), "u+ext@d.test", false).unwrap().unwrap();
        assert_eq!(f.value, "x@e.test");
        assert_eq!(f.extension.as_deref(), Some("+ext"));
        assert_eq!(m.find(&rw(), "v@d.test", false).unwrap(), None);
        let re = std::env::temp_dir().join(format!("postern-af-{}.re", std::process::id()));
        std::fs::write(&re, "/^(u|@h\\.test)$/ y\n").unwrap();
        let m = AddrMaps::open(
            "virtual_alias_maps",
            &format!("inline:{{ x=1 }} regexp:{}", re.display()),
        );
        assert_eq!(
            m.find(&rw(), "u@h.test", true).unwrap(),
            None,
            "regexp: full address only"
        );
        assert_eq!(m.find(&rw(), "x@h.test", true).unwrap().unwrap().value, "1");
        std::fs::remove_file(&re).unwrap();
        let m = AddrMaps::open("virtual_alias_maps", "fail:x");
        let (e, key) = m.find(&rw(), "v@d.test", false).unwrap_err();
        assert_eq!(e.table(), "fail:x");
        assert_eq!(key, "v@d.test");
        let m = AddrMaps::open("virtual_alias_maps", "nosuch:x");
        assert!(m.find(&rw(), "v@d.test", false).is_err());
        assert!(
            AddrMaps::open("t", " ")
                .find(&rw(), "a@b", false)
                .unwrap()
                .is_none()
        );
    }
}
