//! Lookup tables behind one trait (Postfix's dict(3) layer): `type:name` specs such as
//! `hash:/etc/aliases`, `regexp:/etc/postfix/header_checks`, `cidr:/etc/postfix/clients`,
//! `inline:{ a=b }`, `proxy:unix:passwd.byname`, `static:value`,
//! `mysql:/etc/postfix/mysql_users.cf`. One file (or folder) per table type;
//! registry.rs is the one list of types (`open` dispatches through it, `postconf -m`
//! prints it). Holds no command code: postmap(1), postalias(1) and newaliases(1) are in
//! `crate::postmap`, which uses this layer and is never used by it.
//! Tables read from a file notice when it changes and reload it on the next lookup.
//!
//! A lookup has three outcomes: found, not found, or an error. An error is never "not
//! found": callers turn it into a 4xx reply or a deferral. Follows Postfix's DATABASE_README
//! and postmap(1). Logs nothing itself; `TableError`'s Display is Postfix's warning text.

pub mod aliases;
pub mod cidr;
pub mod environ;
pub mod fail;
pub mod filecache;
pub mod hash;
#[cfg(test)]
mod hash_tests;
pub mod hash_write;
pub mod inline;
pub mod internal;
pub mod mysql;
pub mod pcre;
pub mod postmap_src;
pub mod regexp;
pub mod registry;
pub mod static_table;
pub mod texthash;
pub mod unix;

use std::fmt;

/// Why a table could not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum TableError {
    /// The table cannot be used at all: `hash:/etc/aliases is unavailable. open database
    /// /etc/aliases.db: No such file or directory`.
    Unavailable { table: String, reason: String },
    /// An unsupported `type:` in a spec.
    UnsupportedType { spec: String },
    /// Any other failure while looking up.
    Failed { table: String, reason: String },
}

impl TableError {
    /// The `type:name` of the table concerned.
    pub fn table(&self) -> &str {
        match self {
            TableError::Unavailable { table, .. } | TableError::Failed { table, .. } => table,
            TableError::UnsupportedType { spec } => spec,
        }
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Unavailable { table, reason } => {
                write!(f, "{} is unavailable. {}", table, reason)
            }
            TableError::UnsupportedType { spec } => {
                write!(f, "unsupported dictionary type: {}", spec)
            }
            TableError::Failed { table, reason } => write!(f, "{}: {}", table, reason),
        }
    }
}

impl std::error::Error for TableError {}

/// One lookup table.
pub trait Table: Send + Sync {
    /// Look `key` up. `Ok(None)` is "not found".
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError>;
    /// The `type:name` this table was opened as (for log lines).
    fn spec(&self) -> &str;
}

/// Open a table from its `type:name` spec through the `registry` (one list of types).
/// `proxy:` is accepted and stripped (Postern has no separate proxymap process). A missing
/// file is not an error here: every lookup reports it, so the table starts working as soon
/// as `newaliases`/`postmap` builds it (or the administrator writes it).
pub fn open(spec: &str) -> Result<Box<dyn Table>, TableError> {
    let spec = spec.trim();
    let unsupported = || TableError::UnsupportedType {
        spec: spec.to_string(),
    };
    let (kind, name) = spec.split_once(':').ok_or_else(unsupported)?;
    let kind = registry::find(kind).ok_or_else(unsupported)?;
    (kind.open)(name).map_err(|e| match e {
        TableError::UnsupportedType { .. } => unsupported(),
        e => e,
    })
}

/// Split a list parameter value into table specs: commas and white space separate, except
/// inside `{ }` (so `inline:{ a=b, c=d }` and `static:{ some text }` stay whole).
pub fn split_specs(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            c if depth == 0 && (c == ',' || c.is_whitespace()) => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Several tables searched in order (a list parameter such as local_recipient_maps).
pub struct TableList {
    pub tables: Vec<Box<dyn Table>>,
}

impl TableList {
    /// Open every spec in a list parameter value (commas and white space separate).
    pub fn open_list(value: &str) -> Result<TableList, TableError> {
        let tables = split_specs(value)
            .iter()
            .map(|s| open(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TableList { tables })
    }

    /// No tables at all (an empty parameter value).
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// First table that finds `key` wins; an error in a table searched before any match is
    /// returned as the result.
    pub fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        for t in &self.tables {
            if let Some(v) = t.lookup(key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// `lookup` in the tables that are not pattern tables (Postfix's DICT_FLAG_FIXED: a
    /// partial key such as `user` or `@domain` is never matched against regular
    /// expressions).
    pub fn lookup_fixed(&self, key: &str) -> Result<Option<String>, TableError> {
        for t in &self.tables {
            if registry::is_pattern(t.spec()) {
                continue;
            }
            if let Some(v) = t.lookup(key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_stops_at_first_error_or_match() {
        let dir = std::env::temp_dir().join(format!("postern-tl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("aliases");
        let _ = std::fs::remove_file(dir.join("aliases.db"));
        let spec = format!("proxy:unix:passwd.byname hash:{}", missing.display());
        let list = TableList::open_list(&spec).unwrap();
        // root is found by the passwd table before the broken hash table is consulted.
        assert!(list.lookup("root").unwrap().is_some());
        let err = list.lookup("root@example.test").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "hash:{} is unavailable. open database {}.db: No such file or directory",
                missing.display(),
                missing.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_files_and_unknown_names() {
        let e = open("regexp:/nonexistent/x")
            .unwrap()
            .lookup("k")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "regexp:/nonexistent/x is unavailable. open /nonexistent/x: No such file or directory"
        );
        for spec in [
            "unix:nosuch.byname",
            "proxy:unix:nosuch.byname",
            "proxy:proxy:fail:x",
        ] {
            assert_eq!(
                open(spec).err(),
                Some(TableError::UnsupportedType { spec: spec.into() })
            );
        }
        assert!(matches!(
            open("fail:x").unwrap().lookup("k"),
            Err(TableError::Failed { .. })
        ));
    }

    #[test]
    fn list_keeps_braced_specs_whole() {
        assert_eq!(
            split_specs("inline:{ a=b, c=d }, static:{ x y },hash:/etc/a  fail:z"),
            vec![
                "inline:{ a=b, c=d }",
                "static:{ x y }",
                "hash:/etc/a",
                "fail:z"
            ]
        );
        let l = TableList::open_list("inline:{ a=1, b=2 } static:{ other value }").unwrap();
        assert_eq!(l.lookup("B").unwrap().as_deref(), Some("2"));
        assert_eq!(l.lookup("zz").unwrap().as_deref(), Some("other value"));
    }

    #[test]
    fn unknown_type_is_an_error() {
        assert!(matches!(
            open("nosuch:x"),
            Err(TableError::UnsupportedType { .. })
        ));
        assert!(
            open("static:yes")
                .unwrap()
                .lookup("anything")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn imports_nothing_from_the_commands() {
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/tables"
        ))];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
            // Split so that this test does not find itself.
            let needles = [concat!("crate::", "postmap"), concat!("postmap", "_cmd")];
            for line in code {
                assert!(
                    !needles.iter().any(|n| line.contains(n)),
                    "{}: {}",
                    path.display(),
                    line
                );
            }
        }
    }
}
