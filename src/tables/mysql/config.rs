//! The mysql_*.cf file of a mysql table (Postfix's cfg_parser: `name = value` lines,
//! `#` comments, continuation lines starting with white space) and the my.cnf-style
//! `option_file` it may name (`[client]` and `option_group` sections).
//!
//! Security role: these files hold the database password; they are read only through
//! `crate::secrets::read_file` (by the caller for the .cf file, here for the option file).
//! TLS settings that Postern cannot honour (`tls_CApath`, `tls_ciphers`, client
//! certificates, the same `ssl-*` options in an option file) make the table fail instead
//! of connecting without them. Follows mysql_table(5). Logs nothing.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::query::{BadTemplate, Needs};

/// Why a mysql_*.cf file (or its option file) cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// `table`, `select_field` or `where_field` missing when there is no `query`.
    Missing(&'static str),
    /// A number or boolean that is none.
    Invalid { name: String, value: String },
    /// A `query` or `result_format` with an unknown `%` sequence.
    Template(BadTemplate),
    /// The option file cannot be read.
    OptionFile { path: PathBuf, reason: String },
    /// A TLS setting that this client cannot honour.
    Unsupported(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(name) => write!(f, "'{}' parameter not defined", name),
            ConfigError::Invalid { name, value } => {
                write!(f, "bad value for '{}': {}", name, value)
            }
            ConfigError::Template(e) => e.fmt(f),
            ConfigError::OptionFile { path, reason } => {
                write!(f, "open option file {}: {}", path.display(), reason)
            }
            ConfigError::Unsupported(what) => write!(f, "{} is not supported", what),
        }
    }
}

/// TLS to the server. `enabled` when any `tls_*` setting asks for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tls {
    pub enabled: bool,
    /// `tls_CAfile`: trust anchors added to the system's.
    pub ca_file: Option<PathBuf>,
    /// `tls_verify_cert`: `Some(false)` accepts any certificate and name.
    pub verify: Option<bool>,
}

/// One parsed mysql_*.cf.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub hosts: Vec<String>,
    pub user: String,
    pub password: String,
    pub dbname: String,
    /// `charset`: the connection character set (Postfix: utf8mb4).
    pub charset: String,
    pub query: String,
    pub result_format: String,
    pub domain: String,
    pub expansion_limit: usize,
    pub retry_interval: Duration,
    pub idle_interval: Duration,
    pub option_file: Option<PathBuf>,
    pub option_group: String,
    pub require_result_set: bool,
    pub tls: Tls,
    pub needs: Needs,
}

/// `name = value` settings of a cfg_parser file; later lines win.
pub fn settings(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut cur: Option<String> = None;
    let flush = |line: Option<String>, out: &mut HashMap<String, String>| {
        if let Some((n, v)) = line.as_deref().and_then(|l| l.split_once('=')) {
            out.insert(n.trim().to_string(), v.trim().to_string());
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some(c) = cur.as_mut() {
                c.push(' ');
                c.push_str(trimmed);
            }
            continue;
        }
        flush(cur.take(), &mut out);
        cur = Some(trimmed.to_string());
    }
    flush(cur, &mut out);
    out
}

fn int(
    s: &HashMap<String, String>,
    name: &str,
    default: u64,
    min: u64,
) -> Result<u64, ConfigError> {
    match s.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| *n >= min)
            .ok_or(ConfigError::Invalid {
                name: name.to_string(),
                value: v.clone(),
            }),
    }
}

fn boolean(s: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ConfigError> {
    match s.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "yes" || v == "true" || v == "1" => Ok(Some(true)),
        Some(v) if v == "no" || v == "false" || v == "0" => Ok(Some(false)),
        Some(v) => Err(ConfigError::Invalid {
            name: name.to_string(),
            value: v,
        }),
    }
}

fn text(s: &HashMap<String, String>, name: &str, default: &str) -> String {
    s.get(name).cloned().unwrap_or_else(|| default.to_string())
}

/// The query built from the legacy fields (Postfix 2.10 and before).
fn legacy_query(s: &HashMap<String, String>) -> Result<String, ConfigError> {
    let get = |n: &'static str| {
        s.get(n)
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing(n))
    };
    Ok(format!(
        "SELECT {} FROM {} WHERE {}='%s' {}",
        get("select_field")?,
        get("table")?,
        get("where_field")?,
        text(s, "additional_conditions", "")
    ))
}

/// The TLS settings, refusing those this client cannot honour.
fn tls(s: &HashMap<String, String>) -> Result<Tls, ConfigError> {
    for name in ["tls_CApath", "tls_ciphers", "tls_cert_file", "tls_key_file"] {
        if s.get(name).is_some_and(|v| !v.is_empty()) {
            return Err(ConfigError::Unsupported(name.to_string()));
        }
    }
    let ca_file = s
        .get("tls_CAfile")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let verify = boolean(s, "tls_verify_cert")?;
    Ok(Tls {
        enabled: ca_file.is_some() || verify.is_some(),
        ca_file,
        verify,
    })
}

/// Parse the text of a mysql_*.cf file.
pub fn parse(cf: &str) -> Result<Config, ConfigError> {
    let s = settings(cf);
    let query = match s.get("query") {
        Some(q) => q.clone(),
        None => legacy_query(&s)?,
    };
    let result_format = text(&s, "result_format", "%s");
    let mut needs = Needs::default();
    needs.parse(&query, true).map_err(ConfigError::Template)?;
    needs
        .parse(&result_format, false)
        .map_err(ConfigError::Template)?;
    let secs = |n, d| int(&s, n, d, 1).map(Duration::from_secs);
    Ok(Config {
        hosts: crate::config::split_list(&text(&s, "hosts", "")),
        user: text(&s, "user", ""),
        password: text(&s, "password", ""),
        dbname: text(&s, "dbname", ""),
        charset: text(&s, "charset", "utf8mb4"),
        query,
        result_format,
        domain: text(&s, "domain", ""),
        expansion_limit: int(&s, "expansion_limit", 0, 0)? as usize,
        retry_interval: secs("retry_interval", 60)?,
        idle_interval: secs("idle_interval", 60)?,
        option_file: s
            .get("option_file")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        option_group: text(&s, "option_group", "client"),
        require_result_set: boolean(&s, "require_result_set")?.unwrap_or(true),
        tls: tls(&s)?,
        needs,
    })
}

/// What an option file says for the connection (`[client]`, then the option group).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionFile {
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub socket: Option<String>,
    pub database: Option<String>,
    pub ssl_ca: Option<PathBuf>,
    pub ssl_verify: Option<bool>,
}

/// Read the option file `path` through `crate::secrets`.
pub fn read_option_file(path: &Path, group: &str) -> Result<OptionFile, ConfigError> {
    let err = |reason: String| ConfigError::OptionFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes =
        crate::secrets::read_file(path).map_err(|e| err(crate::tables::hash::io_text(&e)))?;
    parse_option_file(&String::from_utf8_lossy(&bytes), group)
}

/// Parse my.cnf-style text: `[section]`, `name = value` or a bare `name`, `#`/`;`
/// comments, values optionally in quotes; `-` and `_` in names are the same.
pub fn parse_option_file(text: &str, group: &str) -> Result<OptionFile, ConfigError> {
    let mut out = OptionFile::default();
    let mut active = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            active = section == "client" || section == group;
            continue;
        }
        if !active {
            continue;
        }
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        let name = name.trim().replace('_', "-");
        let value = unquote(value.trim());
        set_option(&mut out, &name, value)?;
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

fn set_option(out: &mut OptionFile, name: &str, value: String) -> Result<(), ConfigError> {
    let invalid = |value: &str| ConfigError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
    };
    match name {
        "user" => out.user = Some(value),
        "password" => out.password = Some(value),
        "host" => out.host = Some(value),
        "port" => out.port = Some(value.parse().map_err(|_| invalid(&value))?),
        "socket" => out.socket = Some(value),
        "database" => out.database = Some(value),
        "ssl-ca" => out.ssl_ca = Some(PathBuf::from(value)),
        "ssl-verify-server-cert" => {
            out.ssl_verify = Some(matches!(value.as_str(), "" | "1" | "on" | "true"))
        }
        n if n.starts_with("ssl") || n.starts_with("tls") => {
            return Err(ConfigError::Unsupported(format!(
                "option file setting {}",
                n
            )));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_fields_build_the_postfix_query() {
        let c = parse(
            "# comment\nhosts = db1, unix:/run/x.sock\n  inet:db2:3307\nuser = u\n\
             password = p w\ndbname = mail\ntable = mailbox\nselect_field = maildir\n\
             where_field = username\nadditional_conditions = and active = '1'\n",
        )
        .unwrap();
        assert_eq!(
            c.query,
            "SELECT maildir FROM mailbox WHERE username='%s' and active = '1'"
        );
        assert_eq!(c.hosts, ["db1", "unix:/run/x.sock", "inet:db2:3307"]);
        assert_eq!(c.password, "p w");
        assert_eq!(c.result_format, "%s");
        assert_eq!(c.retry_interval, Duration::from_secs(60));
        assert!(c.require_result_set);
        assert!(!c.tls.enabled);
        assert_eq!(
            parse("table = t\nselect_field = a\n").unwrap_err(),
            ConfigError::Missing("where_field")
        );
    }

    #[test]
    fn query_wins_and_templates_are_checked() {
        let c =
            parse("query = SELECT a FROM t WHERE k='%s'\ntable = ignored\nexpansion_limit = 3\n")
                .unwrap();
        assert_eq!(c.query, "SELECT a FROM t WHERE k='%s'");
        assert_eq!(c.expansion_limit, 3);
        let e = parse("query = SELECT '%q'\n").unwrap_err();
        assert_eq!(e.to_string(), "invalid query template: SELECT '%q'");
        let e = parse("query = x\nretry_interval = soon\n").unwrap_err();
        assert_eq!(e.to_string(), "bad value for 'retry_interval': soon");
    }

    #[test]
    fn tls_settings_that_cannot_be_honoured_are_refused() {
        for name in ["tls_CApath", "tls_ciphers", "tls_cert_file", "tls_key_file"] {
            let e = parse(&format!("query = x\n{} = /etc/x\n", name)).unwrap_err();
            assert_eq!(e, ConfigError::Unsupported(name.to_string()));
        }
        let c = parse("query = x\ntls_CAfile = /etc/ca.pem\n").unwrap();
        assert!(c.tls.enabled);
        let c = parse("query = x\ntls_verify_cert = yes\n").unwrap();
        assert!(c.tls.enabled && c.tls.verify == Some(true));
    }

    #[test]
    fn option_file_client_then_group() {
        let o = parse_option_file(
            "[mysqld]\nuser = server\n[client]\nuser = c\npassword = \"se cret\"\n\
             port = 3307\n[postfix]\nuser=pf\nsocket=/run/m.sock\ndatabase = mail\n\
             no-auto-rehash\n[other]\nhost = no\n",
            "postfix",
        )
        .unwrap();
        assert_eq!(o.user.as_deref(), Some("pf"));
        assert_eq!(o.password.as_deref(), Some("se cret"));
        assert_eq!(o.port, Some(3307));
        assert_eq!(o.socket.as_deref(), Some("/run/m.sock"));
        assert_eq!(o.database.as_deref(), Some("mail"));
        assert_eq!(o.host, None);
        assert!(matches!(
            parse_option_file("[client]\nssl-cipher = AES\n", "client"),
            Err(ConfigError::Unsupported(_))
        ));
    }
}
