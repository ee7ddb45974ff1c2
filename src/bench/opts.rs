//! postern-bench's command line: the options and their bounds (`Opts`, `parse_args`), where
//! delivered messages are counted (`Mailbox`), the AUTH PLAIN command of `--auth`, and the
//! server address, loopback only unless `--allow-remote`.
//!
//! Security role: none beyond bounding every count, size and wait a user can ask for.
//! Logs nothing.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::BenchError;

pub const MAX_SESSIONS: usize = 1000;
pub const MAX_MESSAGES: usize = 1_000_000;
pub const MAX_SIZE: usize = 50 * 1024 * 1024;
pub const MAX_RECIPIENTS: usize = 1000;
pub const MAX_IDLE: usize = 20_000;

/// Where delivered messages are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailbox {
    /// An mbox file (`--mbox`).
    Mbox(PathBuf),
    /// A maildir (`--maildir`): its new/ and cur/.
    Maildir(PathBuf),
    /// A spool (`--drain`): done when its incoming/, active/ and deferred/ are empty.
    Queue(PathBuf),
}

impl Mailbox {
    pub fn path(&self) -> &Path {
        match self {
            Mailbox::Mbox(p) | Mailbox::Maildir(p) | Mailbox::Queue(p) => p,
        }
    }
}

/// Command-line settings.
#[derive(Debug, Clone)]
pub struct Opts {
    pub host: String,
    pub port: u16,
    pub sessions: usize,
    pub messages: usize,
    pub size: usize,
    pub recipients: usize,
    pub from: String,
    pub to: Vec<String>,
    pub mailbox: Option<Mailbox>,
    pub pid: Option<u32>,
    pub timeout: Duration,
    pub allow_remote: bool,
    pub header: bool,
    /// STARTTLS after the first EHLO (`--starttls`).
    pub starttls: bool,
    /// AUTH PLAIN user and password (`--auth USER:PASSWORD`).
    pub auth: Option<(String, String)>,
    /// A new connection for every message (`--connect-per-message`).
    pub connect_per_message: bool,
    /// Hold this many silent sessions and measure memory and greeting time (`--idle`).
    pub idle: usize,
    /// Offer this many messages per second in all, evenly spaced (`--rate`).
    pub rate: Option<f64>,
}

/// Split `--auth USER:PASSWORD` at the first ':'; the user must not be empty.
pub fn parse_auth(v: &str) -> Result<(String, String), BenchError> {
    match v.split_once(':') {
        Some((u, p)) if !u.is_empty() && !u.contains('\0') && !p.contains('\0') => {
            Ok((u.to_string(), p.to_string()))
        }
        _ => Err(BenchError::Usage(
            "--auth: USER:PASSWORD with a non-empty user".into(),
        )),
    }
}

/// The AUTH PLAIN command with its initial response (RFC 4616: authzid empty).
pub fn auth_plain_command(user: &str, password: &str) -> String {
    let mut raw = Vec::with_capacity(user.len() + password.len() + 2);
    raw.push(0);
    raw.extend_from_slice(user.as_bytes());
    raw.push(0);
    raw.extend_from_slice(password.as_bytes());
    format!("AUTH PLAIN {}", crate::sasl::base64::encode(&raw))
}

fn usage(prog: &str, opts: &getopts::Options) -> String {
    opts.usage(&format!("Usage: {} --port PORT [options]", prog))
}

fn parse_num<T>(m: &getopts::Matches, name: &str, default: T, max: T) -> Result<T, BenchError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    match m.opt_str(name) {
        None => Ok(default),
        Some(v) => match v.parse::<T>() {
            Ok(n) if n <= max => Ok(n),
            Ok(_) => Err(BenchError::Usage(format!(
                "--{} {}: larger than {}",
                name, v, max
            ))),
            Err(_) => Err(BenchError::Usage(format!("--{} {}: not a number", name, v))),
        },
    }
}

pub fn parse_args(args: &[String]) -> Result<Opts, BenchError> {
    let mut o = getopts::Options::new();
    o.optopt("", "host", "server address (default 127.0.0.1)", "HOST");
    o.optopt("", "port", "server port (default 25)", "PORT");
    o.optopt("", "sessions", "concurrent SMTP sessions (default 1)", "N");
    o.optopt("", "messages", "messages in total (default 100)", "M");
    o.optopt("", "size", "message size in bytes (default 1024)", "BYTES");
    o.optopt("", "recipients", "recipients per message (default 1)", "K");
    o.optopt(
        "",
        "from",
        "envelope sender (default bench@localhost)",
        "ADDR",
    );
    o.optmulti(
        "",
        "to",
        "recipient (repeatable or comma list; default bench@localhost)",
        "ADDR",
    );
    o.optopt(
        "",
        "mbox",
        "wait until this mbox holds every accepted message",
        "PATH",
    );
    o.optopt(
        "",
        "maildir",
        "wait until this maildir (new/ and cur/) holds every accepted message",
        "DIR",
    );
    o.optopt(
        "",
        "drain",
        "wait until this queue_directory's incoming/, active/, deferred/ are empty",
        "DIR",
    );
    o.optopt("", "pid", "report this process's peak RSS", "PID");
    o.optopt(
        "",
        "timeout",
        "seconds for each network wait and the mailbox wait (default 60)",
        "SECS",
    );
    o.optflag("", "allow-remote", "allow a non-loopback server");
    o.optflag(
        "",
        "starttls",
        "STARTTLS after EHLO (any certificate accepted), then EHLO again",
    );
    o.optopt(
        "",
        "auth",
        "AUTH PLAIN as USER with PASSWORD",
        "USER:PASSWORD",
    );
    o.optflag(
        "",
        "connect-per-message",
        "a new connection (session) for every message",
    );
    o.optopt(
        "",
        "idle",
        "instead of sending: hold N greeted, silent sessions, report the server's RSS (with --pid) and a new client's greeting time",
        "N",
    );
    o.optopt(
        "",
        "rate",
        "offer R messages per second in all, evenly spaced over the sessions (default: as fast as the server answers)",
        "R",
    );
    o.optflag("", "no-header", "print the result row only");
    o.optflag("h", "help", "this help");
    let prog = args.first().map(String::as_str).unwrap_or("postern-bench");
    let m = o
        .parse(args.iter().skip(1))
        .map_err(|e| BenchError::Usage(format!("{}\n{}", e, usage(prog, &o))))?;
    if m.opt_present("help") {
        return Err(BenchError::Usage(usage(prog, &o)));
    }
    let mut to: Vec<String> = m
        .opt_strs("to")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if to.is_empty() {
        to.push("bench@localhost".into());
    }
    let opts = Opts {
        host: m.opt_str("host").unwrap_or_else(|| "127.0.0.1".into()),
        port: parse_num(&m, "port", 25u16, u16::MAX)?,
        sessions: parse_num(&m, "sessions", 1usize, MAX_SESSIONS)?,
        messages: parse_num(&m, "messages", 100usize, MAX_MESSAGES)?,
        size: parse_num(&m, "size", 1024usize, MAX_SIZE)?,
        recipients: parse_num(&m, "recipients", 1usize, MAX_RECIPIENTS)?,
        from: m
            .opt_str("from")
            .unwrap_or_else(|| "bench@localhost".into()),
        to,
        mailbox: match (m.opt_str("mbox"), m.opt_str("maildir"), m.opt_str("drain")) {
            (Some(p), None, None) => Some(Mailbox::Mbox(PathBuf::from(p))),
            (None, Some(p), None) => Some(Mailbox::Maildir(PathBuf::from(p))),
            (None, None, Some(p)) => Some(Mailbox::Queue(PathBuf::from(p))),
            (None, None, None) => None,
            _ => {
                return Err(BenchError::Usage(
                    "--mbox, --maildir and --drain: give one mailbox to count".into(),
                ));
            }
        },
        pid: m
            .opt_str("pid")
            .map(|p| p.parse::<u32>())
            .transpose()
            .map_err(|_| BenchError::Usage("--pid: not a number".into()))?,
        timeout: Duration::from_secs(parse_num(&m, "timeout", 60u64, 3600)?),
        allow_remote: m.opt_present("allow-remote"),
        header: !m.opt_present("no-header"),
        starttls: m.opt_present("starttls"),
        auth: m.opt_str("auth").as_deref().map(parse_auth).transpose()?,
        connect_per_message: m.opt_present("connect-per-message"),
        idle: parse_num(&m, "idle", 0usize, MAX_IDLE)?,
        rate: m
            .opt_str("rate")
            .map(|r| match r.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
                _ => Err(BenchError::Usage(format!(
                    "--rate: not a positive number: {}",
                    r
                ))),
            })
            .transpose()?,
    };
    if opts.sessions == 0 || opts.recipients == 0 || opts.timeout.is_zero() {
        return Err(BenchError::Usage(
            "--sessions, --recipients and --timeout must be at least 1".into(),
        ));
    }
    Ok(opts)
}

/// Resolve the server address; only loopback unless `allow_remote`.
pub fn resolve(host: &str, port: u16, allow_remote: bool) -> Result<SocketAddr, BenchError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| BenchError::Io(format!("resolve {}", host), e))?
        .collect();
    let addr = *addrs
        .first()
        .ok_or_else(|| BenchError::Usage(format!("{}: no address", host)))?;
    if !allow_remote && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(BenchError::Usage(format!(
            "{}: not a loopback address (use --allow-remote)",
            host
        )));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("postern-bench")
            .chain(list.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn options_parse_and_are_bounded() {
        let o = parse_args(&args(&[
            "--port",
            "2525",
            "--to",
            "a@x,b@x",
            "--to",
            "c@x",
            "--sessions",
            "10",
        ]))
        .unwrap();
        assert_eq!(o.port, 2525);
        assert_eq!(o.to, vec!["a@x", "b@x", "c@x"]);
        assert_eq!(o.sessions, 10);
        assert_eq!(o.host, "127.0.0.1");
        assert!(matches!(
            parse_args(&args(&["--sessions", "100000"])),
            Err(BenchError::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args(&["--sessions", "0"])),
            Err(BenchError::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args(&["--size", "lots"])),
            Err(BenchError::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args(&["--bogus"])),
            Err(BenchError::Usage(_))
        ));
        assert_eq!(parse_args(&args(&[])).unwrap().rate, None);
        assert_eq!(
            parse_args(&args(&["--rate", "800"])).unwrap().rate,
            Some(800.0)
        );
        for bad in ["0", "-3", "fast", "inf"] {
            assert!(matches!(
                parse_args(&args(&["--rate", bad])),
                Err(BenchError::Usage(_))
            ));
        }
    }

    #[test]
    fn submission_options_parse() {
        let o = parse_args(&args(&[
            "--starttls",
            "--auth",
            "bench:s3cr:et",
            "--connect-per-message",
        ]))
        .unwrap();
        assert!(o.starttls && o.connect_per_message);
        assert_eq!(o.auth, Some(("bench".into(), "s3cr:et".into())));
        let o = parse_args(&args(&[])).unwrap();
        assert!(!o.starttls && !o.connect_per_message);
        assert_eq!(o.auth, None);
        assert_eq!(
            parse_args(&args(&["--auth", "u:"])).unwrap().auth,
            Some(("u".into(), String::new()))
        );
        for bad in ["nopassword", ":pw", "u\0x:pw"] {
            assert!(
                matches!(
                    parse_args(&args(&["--auth", bad])),
                    Err(BenchError::Usage(_))
                ),
                "{:?}",
                bad
            );
        }
        assert!(matches!(
            parse_args(&args(&["--auth"])),
            Err(BenchError::Usage(_))
        ));
    }

    #[test]
    fn auth_plain_initial_response() {
        // RFC 4616: [authzid] NUL authcid NUL passwd; "\0tim\0tanstaaftanstaaf".
        assert_eq!(
            auth_plain_command("tim", "tanstaaftanstaaf"),
            "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
    }

    #[test]
    fn only_loopback_by_default() {
        assert!(resolve("127.0.0.1", 25, false).is_ok());
        assert!(resolve("::1", 25, false).is_ok());
        assert!(matches!(
            resolve("192.0.2.1", 25, false),
            Err(BenchError::Usage(_))
        ));
        assert!(resolve("192.0.2.1", 25, true).is_ok());
    }
}
