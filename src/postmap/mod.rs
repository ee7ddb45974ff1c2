//! The commands postmap(1), postalias(1) and newaliases(1) (newaliases.rs), kept out of the
//! table layer: `crate::tables` opens and reads tables for the servers and imports nothing
//! from here; this module builds, queries, lists and edits them for the administrator.
//! src/bin holds thin wrappers. Command line of postmap and postalias:
//! `PROG [-NfinorswvV] [-c dir] [-d key] [-q key] [type:]file...`.
//!
//! - build (default): `FILE.db` (a Berkeley DB hash or btree file that Postfix reads, see
//!   `tables::hash_write`) from `FILE` (`key value` lines, or aliases(5) for postalias);
//!   keys fold to lower case; keys and values get a trailing NUL byte, as Postfix writes
//!   them. Duplicate keys warn `PROG: warning: FILE.db: duplicate entry: "key"` (Postfix's
//!   dict_db text) and the first value is kept; `-w` keeps the first silently, `-r` keeps the
//!   last silently. A line that is not an entry warns, as Postfix 2.10 does, and is skipped:
//!   `FILE, line N: expected format: key whitespace value` (postalias: `need name:value
//!   pair`, `name must be local`), `FILE: logical line must not start with whitespace: "..."`.
//!   postalias then adds what Postfix's postalias adds: `@` = `@` (sendmail's "database is
//!   complete" mark) and, without a NUL byte and unfolded, `YP_LAST_MODIFIED` (ten-digit
//!   time) and `YP_MASTER_NAME` ($myhostname), as Postfix built with NIS (Linux) does.
//! - `-i`: add entries read from standard input to the table in place (same duplicate rules).
//! - `-q key`: print the value of the first table that has `key` (any readable table type);
//!   `-q -` reads keys from standard input and prints `key<TAB>value` (postalias:
//!   `key:<TAB>value`).
//! - `-d key` / `-d -`: delete keys from hash/btree tables in place.
//! - `-s`: print every entry of hash, btree, texthash, inline and internal tables (in the
//!   file's own order for hash and btree, as Postfix).
//! - `-N`: keys and values with a trailing NUL only (write and look up); `-n`: without.
//!   Without either, lookups and deletes try both forms, as Postfix's dict_db.
//! - `-o`, `-v`: accepted and ignored; `-f` is not offered (keys always fold to lower case).
//!
//! Memory pool while writing: $berkeley_db_create_buffer_size.
//! Exit status: 0 when built, or when -q/-d found something; 1 when nothing was found; 1 with
//! `PROG: fatal: ...` on stderr for any error (an unknown type, i.e. one not in
//! `tables::registry`: `unsupported map type: TYPE` when building, `unsupported dictionary
//! type: TYPE` otherwise, as Postfix). Security role: run by the administrator; writes only
//! `FILE.db` through `tables::hash_write`. Logs nothing to the maillog; warnings and errors
//! go to standard error.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::sys::libdb::DbKind;
use crate::tables::hash::{self, Nulls, io_text};
use crate::tables::hash_write::Writer;
use crate::tables::{self, TableError, registry};

mod newaliases;

pub use newaliases::newaliases_command;

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
    /// Key forms to write (`one`) and look up or delete (postmap -N / -n).
    nulls: Nulls,
    /// $myhostname, for postalias's YP_MASTER_NAME.
    hostname: String,
    /// $berkeley_db_create_buffer_size.
    create_buffer: u32,
}

impl Cmd<'_> {
    /// The entries of a source text, as Postfix's postmap/postalias read it: a line that is
    /// not an entry is reported with a warning and skipped (Postfix never leaves a truncated
    /// table behind for one bad line). `label` names the source in the warnings.
    fn parse_source(&self, text: &str, label: &str) -> Vec<(String, String, usize)> {
        let warn = |line: usize, what: &str| {
            eprintln!("{}: warning: {}, line {}: {}", self.prog, label, line, what)
        };
        let mut out = Vec::new();
        for (text, line) in logical_lines(self.prog, label, text) {
            if self.aliases {
                // aliases(5): `name: value`; the name is local (no @ or %) unless quoted.
                let entry = tables::aliases::parse_lines(&text, label)
                    .ok()
                    .and_then(|mut v| v.pop())
                    .filter(|(name, value, _)| !value.is_empty() && !name.contains(','));
                let Some((name, value, _)) = entry else {
                    warn(line, "need name:value pair");
                    continue;
                };
                if !text.starts_with('"') && name.contains(['@', '%']) {
                    warn(line, "name must be local");
                    continue;
                }
                out.push((name, value, line));
            } else {
                let (key, value) = text
                    .split_once([' ', '\t', '\r', '\n'])
                    .map(|(k, v)| (k, v.trim()))
                    .unwrap_or((text.as_str(), ""));
                if key.is_empty() || value.is_empty() {
                    warn(line, "expected format: key whitespace value");
                    continue;
                }
                if key.ends_with(':') {
                    warn(
                        line,
                        "record is in \"key: value\" format; is this an alias file?",
                    );
                }
                out.push((key.to_string(), value.to_string(), line));
            }
        }
        out
    }

    /// Build (`stdin` None: a new file from `file`) or add to (`-i`: entries read from
    /// standard input, in place) the `kind` table `file`.db.
    fn build(&self, kind: DbKind, file: &Path, stdin: Option<&str>) -> Result<(), String> {
        let db = hash::db_path(file).display().to_string();
        let (text, label) = match stdin {
            Some(text) => (text.to_string(), "-".to_string()),
            None => {
                let text = std::fs::read(file)
                    .map_err(|e| format!("open {}: {}", file.display(), io_text(&e)))?;
                let text = String::from_utf8_lossy(&text).into_owned();
                (text, file.display().to_string())
            }
        };
        let entries = self.parse_source(&text, &label);
        let opened = match stdin {
            Some(_) => Writer::update(kind, file, self.create_buffer, true),
            None => Writer::create(kind, file, self.create_buffer),
        };
        let mut w = opened.map_err(|e| format!("open database {}: {}", db, io_text(&e)))?;
        let werr = |e: std::io::Error| format!("error writing {}: {}", db, io_text(&e));
        w.set_nul(self.nulls.one);
        for (k, v, _line) in entries {
            let k = k.to_ascii_lowercase();
            if !w.put(&k, &v, self.dup == Dup::Replace).map_err(werr)? && self.dup == Dup::Warn {
                eprintln!("{}: warning: {}: duplicate entry: \"{}\"", self.prog, db, k);
            }
        }
        if self.aliases {
            // Postfix's postalias: the sendmail and NIS signatures, replaced when updating.
            let replace = stdin.is_some() || self.dup == Dup::Replace;
            if !w.put("@", "@", replace).map_err(werr)? && self.dup == Dup::Warn {
                eprintln!("{}: warning: {}: duplicate entry: \"@\"", self.prog, db);
            }
            w.set_nul(false);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            w.put("YP_LAST_MODIFIED", &format!("{:010}", now), true)
                .map_err(werr)?;
            w.put("YP_MASTER_NAME", &self.hostname, true)
                .map_err(werr)?;
        }
        w.finish().map(|_| ()).map_err(werr)
    }

    fn line(&self, k: &str, v: &str) -> String {
        if self.aliases {
            format!("{}:\t{}", k, v)
        } else {
            format!("{}\t{}", k, v)
        }
    }
}

/// The logical lines of a source text with the number of each one's last physical line, as
/// Postfix's readlline(3) makes them: blank lines and `#` comments are skipped, a line that
/// starts with white space continues the one before (joined with one space here). Text that
/// starts with white space before any entry is warned about and skipped, as Postfix does.
fn logical_lines(prog: &str, label: &str, text: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    // Indented text before the first entry (nothing to continue): its raw text.
    let mut orphan: Option<String> = None;
    let flush_orphan = |orphan: &mut Option<String>| {
        if let Some(raw) = orphan.take() {
            let shown: String = raw.chars().take(30).collect();
            let more = if raw.chars().count() > 30 { "..." } else { "" };
            eprintln!(
                "{}: warning: {}: logical line must not start with whitespace: \"{}{}\"",
                prog, label, shown, more
            );
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if raw.starts_with(|c: char| c.is_whitespace()) {
            if let Some(o) = orphan.as_mut() {
                o.push_str(raw);
            } else if let Some((s, n)) = out.last_mut() {
                s.push(' ');
                s.push_str(t);
                *n = i + 1;
            } else {
                orphan = Some(raw.to_string());
            }
            continue;
        }
        flush_orphan(&mut orphan);
        out.push((t.to_string(), i + 1));
    }
    flush_orphan(&mut orphan);
    out
}

/// A `[type:]file` argument as a full table spec.
fn full_spec(arg: &str, default_type: &str) -> (String, String) {
    match arg.split_once(':') {
        Some((k, n)) if !k.contains('/') && !k.is_empty() => (k.to_string(), n.to_string()),
        _ => (default_type.to_string(), arg.to_string()),
    }
}

fn writable(kind: &str, name: &str) -> Result<(DbKind, PathBuf), String> {
    match registry::find(kind) {
        Some(t) if t.builds() => match hash::kind(kind) {
            Some(k) => Ok((k, PathBuf::from(name))),
            None => Err(format!("unsupported dictionary type: {}", kind)),
        },
        Some(t) if t.is_proxy() => Err(format!(
            "{}:{}: proxy tables cannot be updated here",
            kind, name
        )),
        Some(_) => Err(format!(
            "table {}:{} is read-only: postmap builds only hash and btree tables",
            kind, name
        )),
        None => Err(format!("unsupported dictionary type: {}", kind)),
    }
}

/// Every entry of a table that can be listed.
fn dump(kind: &str, name: &str) -> Result<Vec<(String, String)>, String> {
    let Some(t) = registry::find(kind) else {
        return Err(format!("unsupported dictionary type: {}", kind));
    };
    if t.builds() {
        let (k, file) = writable(kind, name)?;
        return hash::read_entries(k, &file);
    }
    match kind {
        "texthash" => tables::texthash::TextHashTable::open(name)
            .entries()
            .map(|e| e.list.clone())
            .map_err(|e| e.to_string()),
        "inline" => tables::inline::InlineTable::new(name)
            .entries()
            .map_err(|e| e.to_string()),
        "internal" => Ok(Vec::new()),
        _ => Err(format!(
            "table {}:{}: sequence operation is not supported",
            kind, name
        )),
    }
}

fn open(kind: &str, name: &str, nulls: Nulls) -> Result<Box<dyn tables::Table>, TableError> {
    match registry::find(kind) {
        Some(t) if t.builds() => Ok(Box::new(
            hash::HashTable::open(kind, name).with_nulls(nulls),
        )),
        _ => tables::open(&format!("{}:{}", kind, name)),
    }
}

fn read_stdin() -> Result<String, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| format!("read standard input: {}", io_text(&e)))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

impl Cmd<'_> {
    /// A command with Postfix's defaults and the settings of `cfg`.
    fn new<'a>(prog: &'a str, aliases: bool, cfg: Option<&Config>) -> Cmd<'a> {
        let get = |name: &str| cfg.map(|c| c.get(name).to_string()).unwrap_or_default();
        let hostname = Some(get("myhostname"))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(crate::sys::hostname);
        let create_buffer = cfg
            .map(|c| c.int("berkeley_db_create_buffer_size"))
            .filter(|n| *n > 0)
            .map(|n| n.min(u32::MAX as i64) as u32)
            .unwrap_or(hash::DEFAULT_CREATE_BUFFER);
        Cmd {
            prog,
            aliases,
            dup: Dup::Warn,
            nulls: Nulls::BOTH,
            hostname,
            create_buffer,
        }
    }
}

/// Build a `kind` (hash or btree) alias database from its source as postalias does
/// (`newaliases` uses this): duplicate names warn and the first one wins.
pub fn build_aliases(prog: &str, cfg: &Config, kind: &str, file: &Path) -> Result<(), String> {
    let k = hash::kind(kind).ok_or_else(|| format!("unsupported dictionary type: {}", kind))?;
    Cmd::new(prog, true, Some(cfg)).build(k, file, None)
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
    let dir = crate::config::config_dir(m.opt_str("c").as_deref());
    let cfg = Config::load(&dir).ok();
    let mut cmd = Cmd::new(prog, aliases, cfg.as_ref());
    cmd.dup = dup;
    if m.opt_present("N") {
        cmd.nulls = Nulls {
            one: true,
            zero: false,
        };
    } else if m.opt_present("n") {
        cmd.nulls = Nulls {
            one: false,
            zero: true,
        };
    }
    let default_type = cfg
        .as_ref()
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
        delete(&cmd, &specs, &key)
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
            .try_for_each(|(k, n)| {
                if registry::find(k).is_none() {
                    // Postfix's mkmap_open(3) names only the type.
                    return Err(format!("unsupported map type: {}", k));
                }
                let (kind, file) = writable(k, n)?;
                cmd.build(kind, &file, stdin.as_deref())
            })
            .map(|_| true)
    };
    match result {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => fatal(prog, &e),
    }
}

/// Print `PROG: fatal: MSG` on standard error; the exit status 1.
pub(crate) fn fatal(prog: &str, msg: &str) -> i32 {
    eprintln!("{}: fatal: {}", prog, msg);
    1
}

/// `-q key` / `-q -`: true when something was found.
fn query(cmd: &Cmd, specs: &[(String, String)], key: &str) -> Result<bool, String> {
    let mut tables = Vec::new();
    for (k, n) in specs {
        tables.push(open(k, n, cmd.nulls).map_err(|e| match e {
            // Postfix's dict_open(3) names only the type.
            TableError::UnsupportedType { .. } => format!("unsupported dictionary type: {}", k),
            e => e.to_string(),
        })?);
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
        let line = line.map_err(|e| format!("read standard input: {}", io_text(&e)))?;
        if let Some(v) = find(&line)? {
            println!("{}", cmd.line(&line, &v));
            found = true;
        }
    }
    Ok(found)
}

/// `-d key` / `-d -`: true when at least one entry was removed.
fn delete(cmd: &Cmd, specs: &[(String, String)], key: &str) -> Result<bool, String> {
    let keys: Vec<String> = if key == "-" {
        read_stdin()?
            .lines()
            .map(|l| l.to_ascii_lowercase())
            .collect()
    } else {
        vec![key.to_ascii_lowercase()]
    };
    let mut found = false;
    for (k, n) in specs {
        let (kind, file) = writable(k, n)?;
        let db = hash::db_path(&file).display().to_string();
        let mut w = Writer::update(kind, &file, cmd.create_buffer, false)
            .map_err(|e| format!("open database {}: {}", db, io_text(&e)))?;
        let werr = |e: std::io::Error| format!("error writing {}: {}", db, io_text(&e));
        for key in &keys {
            found |= w.delete(key, cmd.nulls.one, cmd.nulls.zero).map_err(werr)?;
        }
        w.finish().map_err(werr)?;
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
        assert_eq!(
            logical_lines("postmap", "f", "# c\na 1\n\n  more\n#x\n  again\nb 2\n"),
            vec![("a 1 more again".to_string(), 6), ("b 2".to_string(), 7)]
        );
        assert!(dump("regexp", "/x").unwrap_err().contains("not supported"));
    }
}
