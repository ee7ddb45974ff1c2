//! `mysql:/etc/postfix/mysql_x.cf` tables (Postfix's mysql_table(5)): a lookup runs the
//! `query` of the .cf file (or the one built from the legacy `table`, `select_field`,
//! `where_field`, `additional_conditions`) with the key expanded into it, and returns
//! every non-empty column of every row, each through `result_format`, joined by commas.
//! `domain` limits lookups to keys in the listed domains; `expansion_limit` caps the
//! number of values. config.rs parses the file, query.rs expands and escapes, pool.rs
//! holds the servers and their connections.
//!
//! One pool per .cf file per process: tables opened again and again (per configuration,
//! per message) for the same file with the same contents share the pool and its
//! connections; a changed file gets a new pool on the next lookup.
//!
//! Security role: the .cf file holds the database password and is read only through
//! `crate::secrets::read_file`; `exposed_passwords` is `postfix check`'s warning for one
//! that other users can read. Keys reach SQL only escaped. Every failure (unreadable file,
//! bad setting, no server reachable, bad credentials, bad SQL, too many results) is a
//! `TableError`, never "not found". Logs nothing itself.

pub mod config;
pub mod pool;
pub mod query;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::tables::{Table, TableError};
use config::ConfigError;
use pool::Pool;

/// One entry of a `domain` list.
enum DomainEntry {
    Name(String),
    Not(String),
    Table(Box<dyn Table>),
}

/// A .cf file's contents with its pool and `domain` list.
struct Loaded {
    text: Vec<u8>,
    pool: Pool,
    domains: Vec<DomainEntry>,
}

/// The pools of this process, by .cf path.
fn pools() -> &'static Mutex<HashMap<PathBuf, Arc<Loaded>>> {
    static POOLS: OnceLock<Mutex<HashMap<PathBuf, Arc<Loaded>>>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A mysql table.
pub struct MysqlTable {
    spec: String,
    path: PathBuf,
}

impl MysqlTable {
    /// The table for the .cf file `name` (read at each lookup, so a missing or broken
    /// file is reported by the lookups and picked up once fixed).
    pub fn open(name: &str) -> MysqlTable {
        MysqlTable {
            spec: format!("mysql:{}", name),
            path: PathBuf::from(name),
        }
    }

    fn unavailable(&self, reason: String) -> TableError {
        TableError::Unavailable {
            table: self.spec.clone(),
            reason,
        }
    }

    fn failed(&self, reason: String) -> TableError {
        TableError::Failed {
            table: self.spec.clone(),
            reason,
        }
    }

    /// The pool for the current contents of the .cf file.
    fn loaded(&self) -> Result<Arc<Loaded>, TableError> {
        let text = crate::secrets::read_file(&self.path).map_err(|e| {
            let why = crate::tables::hash::io_text(&e);
            self.unavailable(format!("open {}: {}", self.path.display(), why))
        })?;
        let mut map = pools().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = map.get(&self.path).filter(|l| l.text == text) {
            return Ok(l.clone());
        }
        let l = Arc::new(
            load(text).map_err(|e| self.unavailable(format!("{}: {}", self.path.display(), e)))?,
        );
        map.insert(self.path.clone(), l.clone());
        Ok(l)
    }
}

fn load(text: Vec<u8>) -> Result<Loaded, ConfigError> {
    let cfg = config::parse(&String::from_utf8_lossy(&text))?;
    let domains = domain_list(&cfg.domain)?;
    Ok(Loaded {
        pool: Pool::new(cfg)?,
        text,
        domains,
    })
}

/// Parse `domain`: names, `!name`, and `type:name` tables.
fn domain_list(value: &str) -> Result<Vec<DomainEntry>, ConfigError> {
    crate::tables::split_specs(value)
        .into_iter()
        .map(|e| {
            if e.starts_with('/') {
                Err(ConfigError::Unsupported(format!("domain file {}", e)))
            } else if let Some(n) = e.strip_prefix('!') {
                Ok(DomainEntry::Not(n.to_lowercase()))
            } else if e.contains(':') {
                crate::tables::open(&e)
                    .map(DomainEntry::Table)
                    .map_err(|err| ConfigError::Invalid {
                        name: "domain".into(),
                        value: err.to_string(),
                    })
            } else {
                Ok(DomainEntry::Name(e.to_lowercase()))
            }
        })
        .collect()
}

/// Whether `key`'s domain is on the `domain` list (true when there is no list).
fn domain_ok(list: &[DomainEntry], key: &str) -> Result<bool, TableError> {
    if list.is_empty() {
        return Ok(true);
    }
    let domain = match key.rsplit_once('@') {
        Some((local, d)) if !local.is_empty() && !d.is_empty() => d,
        _ => return Ok(false),
    };
    for entry in list {
        match entry {
            DomainEntry::Name(n) if n == domain => return Ok(true),
            DomainEntry::Not(n) if n == domain => return Ok(false),
            DomainEntry::Table(t) if t.lookup(domain)?.is_some() => return Ok(true),
            _ => {}
        }
    }
    Ok(false)
}

impl Table for MysqlTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        let loaded = self.loaded()?;
        let key = key.to_lowercase();
        if !domain_ok(&loaded.domains, &key)? {
            return Ok(None);
        }
        let cfg = loaded.pool.config();
        let mut probe = String::new();
        if !query::expand(
            &cfg.needs,
            &cfg.query,
            &key,
            None,
            &mut probe,
            &query::verbatim,
        ) {
            return Ok(None);
        }
        let sql = |no_backslash: bool| {
            let mut out = String::new();
            let quote = |s: &str, o: &mut String| query::escape(s, no_backslash, o);
            query::expand(&cfg.needs, &cfg.query, &key, None, &mut out, &quote);
            out
        };
        let rows = match loaded.pool.query(&sql).map_err(|e| self.failed(e))? {
            Some(rows) => rows,
            None if cfg.require_result_set => {
                return Err(self.failed("query returned no result set".into()));
            }
            None => return Ok(None),
        };
        let mut out = String::new();
        let mut count = 0;
        for value in rows.iter().flatten().flatten() {
            let fmt = &cfg.result_format;
            if query::expand(
                &cfg.needs,
                fmt,
                value,
                Some(&key),
                &mut out,
                &query::verbatim,
            ) {
                count += 1;
                if cfg.expansion_limit > 0 && count > cfg.expansion_limit {
                    let why = format!("Expansion limit exceeded for key: '{}'", key);
                    return Err(self.failed(why));
                }
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}

/// `postfix check`'s warnings: each mysql table named in `values` (main.cf parameter
/// values, `proxy:` included) whose .cf file, or the option file it names, sets a
/// password and is readable by other users.
pub fn exposed_passwords<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut paths: Vec<PathBuf> = values
        .into_iter()
        .flat_map(crate::tables::split_specs)
        .filter_map(|s| {
            let s = s.strip_prefix("proxy:").unwrap_or(&s).to_string();
            s.strip_prefix("mysql:").map(PathBuf::from)
        })
        .collect();
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for cf in &paths {
        let Ok(text) = crate::secrets::read_file(cf) else {
            continue;
        };
        let settings = config::settings(&String::from_utf8_lossy(&text));
        if settings.get("password").is_some_and(|p| !p.is_empty()) {
            out.extend(exposed(cf));
        }
        let Some(opt) = settings.get("option_file").filter(|o| !o.is_empty()) else {
            continue;
        };
        let group = settings
            .get("option_group")
            .map_or("client", String::as_str);
        let has_password = config::read_option_file(Path::new(opt), group)
            .is_ok_and(|o| o.password.is_some_and(|p| !p.is_empty()));
        if has_password {
            out.extend(exposed(Path::new(opt)));
        }
    }
    out.dedup();
    out
}

/// The warning for `path`, a file holding a password, when others can read it.
fn exposed(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    (meta.permissions().mode() & 0o004 != 0).then(|| {
        format!(
            "{} contains a database password and is readable by other users (fix: chmod o-r {})",
            path.display(),
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("postern-mysql-{}-{}", tag, std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn unreadable_and_broken_files_are_errors() {
        let t = MysqlTable::open("/nonexistent/mysql.cf");
        let e = t.lookup("a@b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "mysql:/nonexistent/mysql.cf is unavailable. open /nonexistent/mysql.cf: No such file or directory"
        );
        let d = scratch("broken");
        let cf = d.join("x.cf");
        std::fs::write(&cf, "table = t\n").unwrap();
        let e = MysqlTable::open(cf.to_str().unwrap())
            .lookup("a@b")
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("'select_field' parameter not defined"),
            "{}",
            e
        );
        std::fs::write(&cf, "query = x\ncharset = sjis\n").unwrap();
        let e = MysqlTable::open(cf.to_str().unwrap())
            .lookup("a@b")
            .unwrap_err();
        assert!(
            e.to_string().ends_with("charset sjis is not supported"),
            "{}",
            e
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn domain_list_names_negations_and_tables() {
        let list = domain_list("example.com, !bad.example.com inline:{ t.org=1 }").unwrap();
        let ok = |k: &str| domain_ok(&list, k).unwrap();
        assert!(ok("a@example.com"));
        assert!(ok("a@t.org"));
        assert!(!ok("a@bad.example.com"));
        assert!(!ok("a@other.net"));
        assert!(!ok("example.com"));
        assert!(!ok("@example.com"));
        assert!(domain_ok(&[], "anything").unwrap());
        assert_eq!(
            domain_list("example.com /etc/postfix/domains").err(),
            Some(ConfigError::Unsupported(
                "domain file /etc/postfix/domains".into()
            ))
        );
        let list = domain_list("fail:x").unwrap();
        assert!(domain_ok(&list, "a@b.c").is_err());
    }

    #[test]
    fn world_readable_password_files_are_reported() {
        let d = scratch("check");
        let with = d.join("with.cf");
        let without = d.join("without.cf");
        std::fs::write(&with, "password = s3cret\nquery = x\n").unwrap();
        let opt = d.join("my.cnf");
        std::fs::write(&opt, "[client]\npassword = s3cret\n").unwrap();
        let text = format!("query = x\noption_file = {}\n", opt.display());
        std::fs::write(&without, text).unwrap();
        for p in [&with, &without, &opt] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let values = format!("proxy:mysql:{} mysql:{}", with.display(), without.display());
        let w = exposed_passwords([values.as_str(), "hash:/etc/aliases"]);
        let warning = |p: &Path| {
            format!(
                "{} contains a database password and is readable by other users (fix: chmod o-r {})",
                p.display(),
                p.display()
            )
        };
        assert_eq!(w, [warning(&with), warning(&opt)]);
        std::fs::set_permissions(&with, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::set_permissions(&opt, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(exposed_passwords([values.as_str()]).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
