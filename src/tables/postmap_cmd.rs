//! The command line of postmap(1) and postalias(1):
//! `PROG [-NfinorswvV] [-c dir] [-d key] [-q key] [type:]file...`.
//!
//! - build (default): `FILE.db` from `FILE` (`key value` lines, or aliases(5) for postalias);
//!   duplicate keys warn `PROG: warning: FILE, line N: duplicate entry: "key"` and the first
//!   value is kept; `-w` keeps the first silently, `-r` keeps the last silently.
//! - `-i`: add entries read from standard input to the existing table (same duplicate rules).
//! - `-q key`: print the value of the first table that has `key` (any readable table type);
//!   `-q -` reads keys from standard input and prints `key<TAB>value` (postalias: `key: value`).
//! - `-d key` / `-d -`: delete keys from hash/btree tables, rewriting the file atomically.
//! - `-s`: print every entry of hash, btree, texthash, inline and internal tables.
//! - `-N`, `-n`: accepted; Postern's format has no terminating null byte to include or not.
//! - `-o`, `-v`: accepted and ignored; `-f` is not offered (keys always fold to lower case).
//!
//! Exit status: 0 when built, or when -q/-d found something; 1 when nothing was found; 1 with
//! `PROG: fatal: ...` on stderr for any error. Security role: run by the administrator; writes
//! only `FILE.db` through `hash::build` (temporary file, fsync, rename).

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use super::postmap_src::fatal;
use super::{TableError, hash};

#[derive(Clone, Copy, PartialEq)]
enum Dup {
    Warn,
    Ignore,
    Replace,
}

struct Cmd<'a> {
    prog: &'a str,
    aliases: bool,
    dup: Dup,
}

impl Cmd<'_> {
    /// Add `new` entries to `table`, applying the duplicate policy (keys fold to lower case).
    fn merge(
        &self,
        table: &mut Vec<(String, String)>,
        new: Vec<(String, String, usize)>,
        label: &str,
    ) {
        let mut index: std::collections::HashMap<String, usize> = table
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        for (k, v, line) in new {
            let k = k.to_lowercase();
            match index.get(&k) {
                None => {
                    index.insert(k.clone(), table.len());
                    table.push((k, v));
                }
                Some(&i) => match self.dup {
                    Dup::Replace => table[i].1 = v,
                    Dup::Ignore => {}
                    Dup::Warn => eprintln!(
                        "{}: warning: {}, line {}: duplicate entry: \"{}\"",
                        self.prog, label, line, k
                    ),
                },
            }
        }
    }

    fn parse_source(
        &self,
        text: &str,
        label: &str,
    ) -> Result<Vec<(String, String, usize)>, String> {
        if self.aliases {
            super::aliases::parse_lines(text, label).map_err(|e| e.to_string())
        } else {
            super::postmap_src::parse_lines(text, label).map_err(|e| e.to_string())
        }
    }

    fn write(&self, file: &Path, entries: &[(String, String)]) -> Result<(), String> {
        hash::build(file, entries).map(|_| ()).map_err(|e| {
            format!(
                "write {}: {}",
                hash::db_path(file).display(),
                hash::io_text(&e)
            )
        })
    }

    fn build(&self, file: &Path, incremental_from: Option<&str>) -> Result<(), String> {
        let (text, label, mut table) = match incremental_from {
            Some(stdin) => {
                let existing = if hash::db_path(file).exists() {
                    hash::read_entries(file)?
                } else {
                    Vec::new()
                };
                (stdin.to_string(), "-".to_string(), existing)
            }
            None => {
                let text = std::fs::read(file)
                    .map_err(|e| format!("open {}: {}", file.display(), hash::io_text(&e)))?;
                (
                    String::from_utf8_lossy(&text).into_owned(),
                    file.display().to_string(),
                    Vec::new(),
                )
            }
        };
        let new = self.parse_source(&text, &label)?;
        self.merge(&mut table, new, &label);
        self.write(file, &table)
    }

    fn line(&self, k: &str, v: &str) -> String {
        if self.aliases {
            format!("{}: {}", k, v)
        } else {
            format!("{}\t{}", k, v)
        }
    }
}

/// A `[type:]file` argument as a full table spec.
fn full_spec(arg: &str, default_type: &str) -> (String, String) {
    match arg.split_once(':') {
        Some((k, n)) if !k.contains('/') && !k.is_empty() => (k.to_string(), n.to_string()),
        _ => (default_type.to_string(), arg.to_string()),
    }
}

fn writable(kind: &str, name: &str) -> Result<PathBuf, String> {
    match kind {
        "hash" | "btree" => Ok(PathBuf::from(name)),
        "proxy" => Err(format!(
            "{}:{}: proxy tables cannot be updated here",
            kind, name
        )),
        k if super::TYPES.contains(&k) => Err(format!(
            "table {}:{} is read-only: postmap builds only hash and btree tables",
            kind, name
        )),
        _ => Err(format!("unsupported dictionary type: {}", kind)),
    }
}

/// Every entry of a table that can be listed.
fn dump(kind: &str, name: &str) -> Result<Vec<(String, String)>, String> {
    match kind {
        "hash" | "btree" => hash::read_entries(Path::new(name)),
        "texthash" => super::texthash::TextHashTable::open(name)
            .entries()
            .map(|e| e.list.clone())
            .map_err(|e| e.to_string()),
        "inline" => super::inline::InlineTable::new(name)
            .entries()
            .map_err(|e| e.to_string()),
        "internal" => Ok(Vec::new()),
        k if super::TYPES.contains(&k) => Err(format!(
            "table {}:{}: sequence operation is not supported",
            kind, name
        )),
        _ => Err(format!("unsupported dictionary type: {}", kind)),
    }
}

fn open(kind: &str, name: &str) -> Result<Box<dyn super::Table>, TableError> {
    super::open(&format!("{}:{}", kind, name))
}

fn read_stdin() -> Result<String, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| format!("read standard input: {}", hash::io_text(&e)))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Build an alias database from its source as postalias does (`newaliases` uses this):
/// duplicate names warn and the first one wins.
pub fn build_aliases(prog: &str, file: &Path) -> Result<(), String> {
    Cmd {
        prog,
        aliases: true,
        dup: Dup::Warn,
    }
    .build(file, None)
}

/// `postmap` and `postalias` (`aliases` selects aliases(5) syntax and `key: value` output).
/// `args` excludes the program name; returns the exit status.
pub fn table_command(prog: &str, args: &[String], aliases: bool) -> i32 {
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    opts.optopt("q", "", "query a key", "KEY");
    opts.optopt("d", "", "delete a key", "KEY");
    for f in ["N", "n", "i", "o", "r", "s", "w", "v"] {
        opts.optflagmulti(f, "", "");
    }
    let usage = format!(
        "usage: {} [-Ninorsvw] [-c config_dir] [-d key] [-q key] [map_type:]file...",
        prog
    );
    let m = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => return fatal(prog, &format!("{}; {}", e, usage)),
    };
    if m.free.is_empty() {
        return fatal(prog, &usage);
    }
    let modes = [m.opt_present("q"), m.opt_present("d"), m.opt_present("s")];
    if modes.iter().filter(|x| **x).count() > 1 {
        return fatal(prog, "specify only one of -s -q or -d");
    }
    let dup = if m.opt_present("r") {
        Dup::Replace
    } else if m.opt_present("w") {
        Dup::Ignore
    } else {
        Dup::Warn
    };
    let cmd = Cmd { prog, aliases, dup };
    let dir = crate::config::config_dir(m.opt_str("c").as_deref());
    let default_type = crate::config::Config::load(&dir)
        .ok()
        .map(|c| c.get("default_database_type").to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "hash".to_string());
    let specs: Vec<(String, String)> = m
        .free
        .iter()
        .map(|a| {
            let (k, n) = full_spec(a, &default_type);
            match k.as_str() {
                "proxy" => full_spec(&n, &default_type),
                _ => (k, n),
            }
        })
        .collect();
    let result = if let Some(key) = m.opt_str("q") {
        query(&cmd, &specs, &key)
    } else if let Some(key) = m.opt_str("d") {
        delete(&specs, &key)
    } else if m.opt_present("s") {
        specs
            .iter()
            .try_for_each(|(k, n)| {
                for (key, v) in dump(k, n)? {
                    println!("{}", cmd.line(&key, &v));
                }
                Ok(())
            })
            .map(|_| true)
    } else {
        let stdin = if m.opt_present("i") {
            match read_stdin() {
                Ok(s) => Some(s),
                Err(e) => return fatal(prog, &e),
            }
        } else {
            None
        };
        specs
            .iter()
            .try_for_each(|(k, n)| cmd.build(&writable(k, n)?, stdin.as_deref()))
            .map(|_| true)
    };
    match result {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => fatal(prog, &e),
    }
}

/// `-q key` / `-q -`: true when something was found.
fn query(cmd: &Cmd, specs: &[(String, String)], key: &str) -> Result<bool, String> {
    let mut tables = Vec::new();
    for (k, n) in specs {
        tables.push(open(k, n).map_err(|e| e.to_string())?);
    }
    let find = |key: &str| -> Result<Option<String>, String> {
        for t in &tables {
            if let Some(v) = t.lookup(key).map_err(|e| e.to_string())? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    };
    if key != "-" {
        return Ok(match find(key)? {
            Some(v) => {
                println!("{}", v);
                true
            }
            None => false,
        });
    }
    let mut found = false;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("read standard input: {}", hash::io_text(&e)))?;
        if let Some(v) = find(&line)? {
            println!("{}", cmd.line(&line, &v));
            found = true;
        }
    }
    Ok(found)
}

/// `-d key` / `-d -`: true when at least one entry was removed.
fn delete(specs: &[(String, String)], key: &str) -> Result<bool, String> {
    let keys: Vec<String> = if key == "-" {
        read_stdin()?.lines().map(|l| l.to_lowercase()).collect()
    } else {
        vec![key.to_lowercase()]
    };
    let mut found = false;
    for (k, n) in specs {
        let file = writable(k, n)?;
        let mut entries = hash::read_entries(&file)?;
        let before = entries.len();
        entries.retain(|(ek, _)| !keys.contains(ek));
        if entries.len() != before {
            found = true;
            hash::build(&file, &entries).map_err(|e| {
                format!(
                    "write {}: {}",
                    hash::db_path(&file).display(),
                    hash::io_text(&e)
                )
            })?;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_writability() {
        assert_eq!(
            full_spec("/etc/x", "hash"),
            ("hash".into(), "/etc/x".into())
        );
        assert_eq!(
            full_spec("cidr:/etc/x", "hash"),
            ("cidr".into(), "/etc/x".into())
        );
        assert!(writable("btree", "/x").is_ok());
        assert!(writable("regexp", "/x").unwrap_err().contains("read-only"));
        assert_eq!(
            writable("cdb", "/x").unwrap_err(),
            "unsupported dictionary type: cdb"
        );
        assert!(dump("regexp", "/x").unwrap_err().contains("not supported"));
    }

    #[test]
    fn merge_policies() {
        let new = || {
            vec![
                ("A".to_string(), "1".to_string(), 1),
                ("a".to_string(), "2".to_string(), 2),
            ]
        };
        for (dup, want) in [(Dup::Warn, "1"), (Dup::Ignore, "1"), (Dup::Replace, "2")] {
            let cmd = Cmd {
                prog: "postmap",
                aliases: false,
                dup,
            };
            let mut t = Vec::new();
            cmd.merge(&mut t, new(), "f");
            assert_eq!(t, vec![("a".to_string(), want.to_string())]);
        }
    }
}
