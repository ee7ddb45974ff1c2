//! The one list of table types (Postfix's dict_open.c `dict_open_info`): for each `type:`
//! its name, its open function, whether it is a pattern table, and which account owns it.
//! `tables::open` dispatches through this list, `postconf -m` prints it, smtpd's access
//! checks ask it whether a table matches patterns, and local(8) asks it whose privileges an
//! alias table's commands and files get; postmap/postalias/newaliases ask it which types they
//! build into `NAME.db` (`builds`, Postfix's mkmap). A type missing here does not exist.
//!
//! Security role: `Owner` decides the account alias deliveries run as (local(8), "alias
//! database owner"), so only tables the administrator builds into a file of their own
//! (hash, btree: the owner of `FILE.db`) name an owner; every other type runs as
//! $default_privs. See postconf(5) `postconf -m`, DATABASE_README, local(8). Logs nothing.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Table, TableError};
use super::{
    cidr, environ, fail, hash, inline, internal, mysql, regexp, static_table, texthash, unix,
};

/// The open function of a table type: the name after `type:` to an open table. A name the
/// type does not know (`unix:nosuch`) is `TableError::UnsupportedType`.
pub type OpenFn = fn(&str) -> Result<Box<dyn Table>, TableError>;

/// Which account owns a table of some type (local(8)'s "alias database owner").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// No owner: deliveries run as $default_privs.
    Nobody,
    /// The owner of the indexed file `NAME.db` that postmap/postalias build.
    DbFile,
    /// Whoever owns the table inside the `proxy:` (Postern has no proxymap process).
    Inner,
}

/// One table type.
pub struct TableType {
    /// The `type` of `type:name`, as `postconf -m` prints it.
    pub name: &'static str,
    /// Opens `type:name` given `name`.
    pub open: OpenFn,
    /// Whether the table matches patterns against whole strings (regexp, pcre, cidr), so
    /// access(5) lookups give it no partial keys (parent domains, `user@`, net prefixes).
    pub pattern: bool,
    /// Which account owns a table of this type.
    pub owner: Owner,
}

impl TableType {
    /// Whether postmap/postalias build tables of this type into `NAME.db` (Postfix's
    /// mkmap): the types owned by that file's owner (hash, btree).
    pub fn builds(&self) -> bool {
        self.owner == Owner::DbFile
    }

    /// Whether this is `proxy:`, which opens the table named after it.
    pub fn is_proxy(&self) -> bool {
        self.owner == Owner::Inner
    }
}

fn open_hash(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(hash::HashTable::open("hash", name)))
}

fn open_btree(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(hash::HashTable::open("btree", name)))
}

fn open_texthash(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(texthash::TextHashTable::open(name)))
}

fn open_regexp(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(regexp::RegexpTable::open(
        regexp::Dialect::Regexp,
        name,
    )))
}

fn open_pcre(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(regexp::RegexpTable::open(
        regexp::Dialect::Pcre,
        name,
    )))
}

fn open_cidr(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(cidr::CidrTable::open(name)))
}

fn open_inline(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(inline::InlineTable::new(name)))
}

fn open_mysql(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(mysql::MysqlTable::open(name)))
}

fn open_environ(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(environ::EnvironTable::new(name)))
}

fn open_fail(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(fail::FailTable::new(name)))
}

fn open_internal(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(internal::InternalTable::new(name)))
}

fn open_static(name: &str) -> Result<Box<dyn Table>, TableError> {
    Ok(Box::new(static_table::StaticTable::new(name)))
}

fn open_unix(name: &str) -> Result<Box<dyn Table>, TableError> {
    match name {
        "passwd.byname" => Ok(Box::new(unix::PasswdTable)),
        "group.byname" => Ok(Box::new(unix::GroupTable)),
        _ => Err(unsupported(&format!("unix:{}", name))),
    }
}

/// `proxy:type:name` opens `type:name` in this process; `proxy:proxy:` is refused.
fn open_proxy(name: &str) -> Result<Box<dyn Table>, TableError> {
    match name.split_once(':') {
        Some(("proxy", _)) | None => Err(unsupported(name)),
        Some(_) => super::open(name),
    }
}

fn unsupported(spec: &str) -> TableError {
    TableError::UnsupportedType {
        spec: spec.to_string(),
    }
}

/// Every table type, sorted by name (the order `postconf -m` prints).
pub static TYPES: &[TableType] = &[
    entry("btree", open_btree, false, Owner::DbFile),
    entry("cidr", open_cidr, true, Owner::Nobody),
    entry("environ", open_environ, false, Owner::Nobody),
    entry("fail", open_fail, false, Owner::Nobody),
    entry("hash", open_hash, false, Owner::DbFile),
    entry("inline", open_inline, false, Owner::Nobody),
    entry("internal", open_internal, false, Owner::Nobody),
    entry("mysql", open_mysql, false, Owner::Nobody),
    entry("pcre", open_pcre, true, Owner::Nobody),
    entry("proxy", open_proxy, false, Owner::Inner),
    entry("regexp", open_regexp, true, Owner::Nobody),
    entry("static", open_static, false, Owner::Nobody),
    entry("texthash", open_texthash, false, Owner::Nobody),
    entry("unix", open_unix, false, Owner::Nobody),
];

const fn entry(name: &'static str, open: OpenFn, pattern: bool, owner: Owner) -> TableType {
    TableType {
        name,
        open,
        pattern,
        owner,
    }
}

/// The registered type called `name`.
pub fn find(name: &str) -> Option<&'static TableType> {
    TYPES.iter().find(|t| t.name == name)
}

/// The names of all registered types, sorted (`postconf -m`).
pub fn names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

/// The type of the table a spec opens, looking through `proxy:` (a proxied table behaves
/// as the table inside it). `None` for a spec of no registered type.
pub fn type_of(spec: &str) -> Option<&'static TableType> {
    let (kind, name) = spec.trim().split_once(':')?;
    let t = find(kind)?;
    if !t.is_proxy() {
        return Some(t);
    }
    let inner = find(name.split_once(':')?.0)?;
    (!inner.is_proxy()).then_some(inner)
}

/// Whether the table a spec opens matches patterns against whole strings.
pub fn is_pattern(spec: &str) -> bool {
    type_of(spec).is_some_and(|t| t.pattern)
}

/// The uid owning the table a spec opens, when its type has an owner and the owning file
/// exists (local(8): its commands and files run with that account's privileges).
pub fn owner_uid(spec: &str) -> Option<u32> {
    let spec = spec.trim();
    match type_of(spec)?.owner {
        Owner::DbFile => {
            let name = spec
                .strip_prefix("proxy:")
                .unwrap_or(spec)
                .split_once(':')?
                .1;
            let meta = std::fs::metadata(hash::db_path(Path::new(name))).ok()?;
            Some(meta.uid())
        }
        Owner::Nobody | Owner::Inner => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec of type `t` naming a missing file, or a name the type knows.
    fn sample(t: &str) -> String {
        match t {
            "proxy" => "proxy:hash:/nonexistent/postern-table".to_string(),
            "unix" => "unix:passwd.byname".to_string(),
            "inline" => "inline:{ a=b }".to_string(),
            other => format!("{}:/nonexistent/postern-table", other),
        }
    }

    #[test]
    fn sorted_and_unique() {
        let names: Vec<&str> = names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn every_registered_type_opens_or_reports_its_missing_file() {
        for t in TYPES {
            let spec = sample(t.name);
            let table = super::super::open(&spec).unwrap_or_else(|e| panic!("{}: {}", spec, e));
            assert_eq!(table.spec(), spec.strip_prefix("proxy:").unwrap_or(&spec));
            match table.lookup("root") {
                Ok(_) => {}
                Err(TableError::Unavailable { reason, .. }) => {
                    assert!(reason.contains("No such file or directory"), "{}", reason)
                }
                Err(e) => assert!(
                    t.name == "fail" && matches!(e, TableError::Failed { .. }),
                    "{}: {}",
                    spec,
                    e
                ),
            }
        }
    }

    #[test]
    fn pattern_and_owner_come_from_the_registry() {
        let patterns: Vec<&str> = TYPES.iter().filter(|t| t.pattern).map(|t| t.name).collect();
        assert_eq!(patterns, ["cidr", "pcre", "regexp"]);
        assert!(is_pattern("proxy:regexp:/x"));
        assert!(!is_pattern("hash:/x"));
        assert!(!is_pattern("nosuch:/x"));
        assert!(!is_pattern("proxy:proxy:regexp:/x"));
        assert_eq!(type_of("proxy:btree:/x").map(|t| t.name), Some("btree"));
        assert_eq!(owner_uid("regexp:/etc/passwd"), None);
        assert_eq!(owner_uid("hash:/nonexistent/aliases"), None);
        let built: Vec<&str> = TYPES
            .iter()
            .filter(|t| t.builds())
            .map(|t| t.name)
            .collect();
        assert_eq!(built, ["btree", "hash"]);
        let proxies: Vec<&str> = TYPES
            .iter()
            .filter(|t| t.is_proxy())
            .map(|t| t.name)
            .collect();
        assert_eq!(proxies, ["proxy"]);
    }

    #[test]
    fn owner_is_the_db_file_owner() {
        let dir = std::env::temp_dir().join(format!("postern-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("aliases");
        crate::tables::hash_write::build(&src, &[("a".into(), "b".into())]).unwrap();
        let me = std::fs::metadata(hash::db_path(&src)).unwrap().uid();
        for kind in ["hash", "btree", "proxy:hash"] {
            let spec = format!("{}:{}", kind, src.display());
            assert_eq!(owner_uid(&spec), Some(me), "{}", spec);
        }
        assert_eq!(owner_uid(&format!("texthash:{}", src.display())), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
