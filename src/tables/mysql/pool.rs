//! The database servers of one mysql table (`hosts`) and the connections to them: hosts
//! tried in random order, UNIX sockets before TCP, a host that failed skipped for
//! `retry_interval` (Postfix: 60 s) unless every host has failed; at most `MAX_OPEN`
//! connections per host, shared by all threads (a lookup waits for a free one), kept open
//! for reuse and closed after `idle_interval` unused; a reused
//! connection that turns out dead (server restarted, connection killed) is replaced by a
//! new one within the same lookup.
//!
//! Security role: connects with the credentials of the .cf file and, when any `tls_*`
//! setting asks for TLS, only over TLS (verified unless `tls_verify_cert = no`). Accepts
//! only connection character sets in which escaping is safe. Follows mysql_table(5)
//! (`hosts`, `retry_interval`, `idle_interval`). Logs nothing: a failed host's error
//! becomes part of the table error when no host answers.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, SslOpts};

use super::config::{Config, ConfigError, OptionFile, read_option_file};

/// Where `localhost` (and a missing `hosts`) connects, as Debian's client library does.
pub const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";
const DEFAULT_PORT: u16 = 3306;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections open at once per host (in use or idle); more lookups at the same time wait
/// for one of them, at most `WAIT`.
pub const MAX_OPEN: usize = 8;
const WAIT: Duration = Duration::from_secs(30);
/// Connection character sets whose multi-byte characters never contain `\`, `'` or `"`
/// bytes, so that `query::escape` is safe.
const SAFE_CHARSETS: &[&str] = &["utf8mb4", "utf8", "utf8mb3", "latin1", "ascii"];

/// The rows of the first result set; a column is `None` for SQL NULL.
pub type Rows = Vec<Vec<Option<String>>>;

/// One server address from `hosts`.
#[derive(Debug, Clone, PartialEq)]
pub enum Addr {
    Unix(String),
    Inet(String, u16),
}

struct State {
    down_until: Option<Instant>,
    idle: Vec<(Conn, Instant)>,
    /// Connections open or being opened, idle ones included (at most `MAX_OPEN`).
    open: usize,
}

struct Host {
    label: String,
    addr: Addr,
    state: Mutex<State>,
    /// Signalled when a connection is returned or closed.
    freed: Condvar,
}

/// The right to one of a host's `MAX_OPEN` connections, with the connection once there is
/// one: dropped, it returns the connection to the idle list, or frees the place.
struct Slot<'a> {
    host: &'a Host,
    conn: Option<Conn>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut st = self.host.lock();
        match self.conn.take() {
            Some(conn) => st.idle.push((conn, Instant::now())),
            None => st.open -= 1,
        }
        drop(st);
        self.host.freed.notify_one();
    }
}

/// The hosts of one table and their connections.
pub struct Pool {
    cfg: Config,
    opts: OptionFile,
    hosts: Vec<Host>,
}

/// Parse one `hosts` entry: `unix:/path`, `inet:host:port`, `host:port` or `host`
/// (`localhost`: the default UNIX socket).
pub fn parse_host(entry: &str, opts: &OptionFile) -> Result<Addr, ConfigError> {
    let invalid = || ConfigError::Invalid {
        name: "hosts".into(),
        value: entry.to_string(),
    };
    if let Some(path) = entry.strip_prefix("unix:") {
        return Ok(Addr::Unix(path.to_string()));
    }
    let rest = entry.strip_prefix("inet:").unwrap_or(entry);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, Some(p)),
        _ => (rest, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = match port {
        None => opts.port.unwrap_or(DEFAULT_PORT),
        Some("mysql") => DEFAULT_PORT,
        Some(p) => p.parse().map_err(|_| invalid())?,
    };
    if host.is_empty() {
        return Err(invalid());
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(Addr::Unix(default_socket(opts)));
    }
    Ok(Addr::Inet(host.to_string(), port))
}

fn default_socket(opts: &OptionFile) -> String {
    opts.socket.clone().unwrap_or_else(|| DEFAULT_SOCKET.into())
}

/// The hosts to use: `hosts`, else the option file's host or socket, else localhost.
fn addresses(cfg: &Config, opts: &OptionFile) -> Result<Vec<(String, Addr)>, ConfigError> {
    let entries = match (&opts.host, &opts.socket) {
        _ if !cfg.hosts.is_empty() => cfg.hosts.clone(),
        (Some(h), _) => vec![h.clone()],
        (None, Some(s)) => vec![format!("unix:{}", s)],
        (None, None) => vec!["localhost".to_string()],
    };
    entries
        .into_iter()
        .map(|e| parse_host(&e, opts).map(|a| (e, a)))
        .collect()
}

/// A random number (for the order hosts are tried in).
fn random() -> u64 {
    // Each RandomState has new keys, so hashing nothing gives a new number each time.
    RandomState::new().build_hasher().finish()
}

/// An error as Postfix would show it: the server's message, or the driver's without its
/// wrapping (`DriverError { ... }`, ` (os error N)`).
fn text_of(e: &mysql::Error) -> String {
    let text = match e {
        mysql::Error::MySqlError(m) => return m.message.clone(),
        mysql::Error::IoError(io) => crate::tables::hash::io_text(io),
        e => e.to_string(),
    };
    let text = text
        .strip_prefix("DriverError { ")
        .and_then(|t| t.strip_suffix(" }"))
        .unwrap_or(&text);
    crate::sys::strip_os_error(text).to_string()
}

impl Pool {
    /// The pool for `cfg`, reading its option file. No connection is made yet.
    pub fn new(cfg: Config) -> Result<Pool, ConfigError> {
        if !SAFE_CHARSETS.contains(&cfg.charset.as_str()) {
            return Err(ConfigError::Unsupported(format!("charset {}", cfg.charset)));
        }
        let opts = match &cfg.option_file {
            Some(path) => read_option_file(path, &cfg.option_group)?,
            None => OptionFile::default(),
        };
        let hosts = addresses(&cfg, &opts)?
            .into_iter()
            .map(|(label, addr)| Host {
                label,
                addr,
                state: Mutex::new(State {
                    down_until: None,
                    idle: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
            })
            .collect();
        Ok(Pool { cfg, opts, hosts })
    }

    /// The parsed .cf file.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Run the query `sql` (given whether the connection has NO_BACKSLASH_ESCAPES) on the
    /// first host that answers. `Ok(None)`: the statement returned no result set.
    pub fn query(&self, sql: &dyn Fn(bool) -> String) -> Result<Option<Rows>, String> {
        let mut errors = Vec::new();
        for host in self.order() {
            match self.on_host(host, sql) {
                Ok(rows) => return Ok(rows),
                Err(e) => {
                    host.lock().down_until = Some(Instant::now() + self.cfg.retry_interval);
                    errors.push(e);
                }
            }
        }
        Err(errors.join("; "))
    }

    /// The hosts to try: those not recently failed (all when every one has), the ones
    /// with idle connections first, then UNIX sockets, then TCP, random within each.
    fn order(&self) -> Vec<&Host> {
        let now = Instant::now();
        let up: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| h.lock().down_until.is_none_or(|t| t <= now))
            .collect();
        let mut hosts = if up.is_empty() {
            self.hosts.iter().collect()
        } else {
            up
        };
        let mut keyed: Vec<(u8, u64, &Host)> = hosts
            .drain(..)
            .map(|h| {
                let class = match (h.lock().idle.is_empty(), &h.addr) {
                    (false, _) => 0,
                    (true, Addr::Unix(_)) => 1,
                    (true, Addr::Inet(..)) => 2,
                };
                (class, random(), h)
            })
            .collect();
        keyed.sort_by_key(|(c, r, _)| (*c, *r));
        keyed.into_iter().map(|(_, _, h)| h).collect()
    }

    /// One host: an idle connection (replaced by a new one if it fails), else a new one.
    fn on_host(&self, host: &Host, sql: &dyn Fn(bool) -> String) -> Result<Option<Rows>, String> {
        let mut slot = host.lease(self.cfg.idle_interval)?;
        if let Some(conn) = slot.conn.as_mut() {
            match run(conn, sql) {
                Ok(rows) => return Ok(rows),
                // Closed by the server (restart, KILL, wait_timeout): reconnect below.
                Err(_) => slot.conn = None,
            }
        }
        let conn = Conn::new(self.opts_for(&host.addr))
            .map_err(|e| format!("connect to mysql server {}: {}", host.label, text_of(&e)))?;
        let rows = run(slot.conn.insert(conn), sql).map_err(|e| {
            slot.conn = None;
            format!("query failed on {}: {}", host.label, e)
        })?;
        drop(slot);
        host.lock().down_until = None;
        Ok(rows)
    }

    /// Connection options for `addr`: the .cf settings, the option file for those the
    /// .cf file leaves empty.
    fn opts_for(&self, addr: &Addr) -> OptsBuilder {
        let pick = |cf: &str, of: &Option<String>| {
            Some(cf)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .or_else(|| of.clone())
        };
        let mut b = OptsBuilder::new()
            .user(pick(&self.cfg.user, &self.opts.user))
            .pass(pick(&self.cfg.password, &self.opts.password))
            .db_name(pick(&self.cfg.dbname, &self.opts.database))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .init(vec![format!("SET NAMES {}", self.cfg.charset)]);
        b = match addr {
            Addr::Unix(path) => b.socket(Some(path.clone())),
            Addr::Inet(host, port) => b.ip_or_hostname(Some(host.clone())).tcp_port(*port),
        };
        b.ssl_opts(self.tls())
    }

    /// TLS options: required when the .cf file or the option file asks for TLS.
    fn tls(&self) -> Option<SslOpts> {
        let ca = self.cfg.tls.ca_file.clone().or(self.opts.ssl_ca.clone());
        let verify = self.cfg.tls.verify.or(self.opts.ssl_verify);
        if !self.cfg.tls.enabled && ca.is_none() && verify != Some(true) {
            return None;
        }
        let off = verify == Some(false);
        Some(
            SslOpts::default()
                .with_root_cert_path(ca)
                .with_danger_accept_invalid_certs(off)
                .with_danger_skip_domain_validation(off),
        )
    }
}

impl Host {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one connection, with an idle one used less than `max_idle` ago if
    /// there is one (older ones are closed); waits while `MAX_OPEN` are in use.
    fn lease(&self, max_idle: Duration) -> Result<Slot<'_>, String> {
        let deadline = Instant::now() + WAIT;
        let mut st = self.lock();
        loop {
            let before = st.idle.len();
            st.idle.retain(|(_, since)| since.elapsed() < max_idle);
            st.open -= before - st.idle.len();
            if let Some((conn, _)) = st.idle.pop() {
                return Ok(Slot {
                    host: self,
                    conn: Some(conn),
                });
            }
            if st.open < MAX_OPEN {
                st.open += 1;
                return Ok(Slot {
                    host: self,
                    conn: None,
                });
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("all {} connections stayed busy", MAX_OPEN))?;
            st = self
                .freed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Run one query; keep the first result set, refuse a second one that returns data.
fn run(conn: &mut Conn, sql: &dyn Fn(bool) -> String) -> Result<Option<Rows>, String> {
    let text = sql(conn.no_backslash_escape());
    let mut result = conn.query_iter(text).map_err(|e| text_of(&e))?;
    let mut first: Option<Rows> = None;
    let mut multiple = false;
    while let Some(set) = result.iter() {
        if set.columns().as_ref().is_empty() {
            continue;
        }
        let mut rows = Rows::new();
        for row in set {
            let row = row.map_err(|e| text_of(&e))?;
            rows.push(row.unwrap().into_iter().map(column_text).collect());
        }
        if first.is_none() {
            first = Some(rows);
        } else {
            multiple = true;
        }
    }
    if multiple {
        return Err("multiple result sets returning data are not supported".into());
    }
    Ok(first)
}

fn column_text(v: mysql::Value) -> Option<String> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        let o = OptionFile::default();
        let p = |s: &str| parse_host(s, &o).unwrap();
        assert_eq!(p("unix:/run/x.sock"), Addr::Unix("/run/x.sock".into()));
        assert_eq!(p("inet:db:3307"), Addr::Inet("db".into(), 3307));
        assert_eq!(p("db:3307"), Addr::Inet("db".into(), 3307));
        assert_eq!(p("db"), Addr::Inet("db".into(), 3306));
        assert_eq!(p("db:mysql"), Addr::Inet("db".into(), 3306));
        assert_eq!(p("[::1]:3307"), Addr::Inet("::1".into(), 3307));
        assert_eq!(p("LocalHost"), Addr::Unix(DEFAULT_SOCKET.into()));
        assert!(parse_host("db:nosuchservice", &o).is_err());
        let o = OptionFile {
            port: Some(4000),
            socket: Some("/s".into()),
            ..OptionFile::default()
        };
        assert_eq!(parse_host("db", &o).unwrap(), Addr::Inet("db".into(), 4000));
        assert_eq!(
            parse_host("localhost", &o).unwrap(),
            Addr::Unix("/s".into())
        );
    }
}
