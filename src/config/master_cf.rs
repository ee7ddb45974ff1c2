//! master.cf: the service table (master(5)). Each entry is
//! `service type private unpriv chroot wakeup maxproc command [args]`, continuation lines
//! start with white space, `-o name=value` overrides main.cf for that service.
//!
//! Postern runs every service as threads of one process: `inet` services whose command is
//! `smtpd` become listeners; `unix` services whose command is a delivery agent Postern
//! implements (`AGENTS`: smtp, local, virtual, error, discard, lmtp, pipe) become transports named
//! after the service, with that entry's `-o` overrides; Postfix's internal services
//! (pickup, cleanup, qmgr, bounce, ...) map onto Postern's built-in threads. Anything else
//! is named in a warning; a `unix` entry among them is a transport that is not available,
//! so mail routed to it is deferred ("mail transport unavailable"), as Postfix's qmgr does
//! when it cannot reach a transport.

use std::fmt;

/// One master.cf entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub kind: String,
    pub private: bool,
    pub unprivileged: bool,
    pub chroot: bool,
    pub wakeup: String,
    /// `None` for `-` (use default_process_limit); `Some(0)` means no limit.
    pub maxproc: Option<u32>,
    pub command: String,
    pub args: Vec<String>,
    pub overrides: Vec<(String, String)>,
    pub line: usize,
}

/// A master.cf syntax error.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterCfError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for MasterCfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: line {}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for MasterCfError {}

/// The delivery agents Postern implements, by master.cf command: a `unix` entry with one
/// of these commands is a transport named after the service (`smtp-ipv4 unix ... smtp`).
pub const AGENTS: &[&str] = &[
    "smtp", "local", "virtual", "error", "discard", "lmtp", "pipe",
];

/// Services Postern provides as built-in threads; they need no warning.
pub const BUILTIN: &[&str] = &[
    "pickup",
    "cleanup",
    "qmgr",
    "oqmgr",
    "tlsmgr",
    "rewrite",
    "trivial-rewrite",
    "bounce",
    "defer",
    "trace",
    "verify",
    "flush",
    "proxymap",
    "proxywrite",
    "showq",
    "anvil",
    "scache",
];

impl Service {
    /// Whether this entry is an SMTP listener Postern serves.
    pub fn is_smtpd_listener(&self) -> bool {
        self.kind == "inet" && self.command == "smtpd"
    }

    /// Whether this entry is a delivery transport Postern provides: a `unix` service whose
    /// command is in `AGENTS`. error(8) runs only as the `error` or `retry` service, as in
    /// Postfix (which stops with "bad error service name" otherwise).
    pub fn is_delivery_agent(&self) -> bool {
        self.kind == "unix"
            && AGENTS.contains(&self.command.as_str())
            && (self.command != "error" || ["error", "retry"].contains(&self.name.as_str()))
    }

    /// Whether Postern implements this entry (listener, transport or built-in thread).
    pub fn is_supported(&self) -> bool {
        self.is_smtpd_listener()
            || self.is_delivery_agent()
            || BUILTIN.contains(&self.command.as_str())
    }

    /// Why Postern does not provide this entry, for the start-up warning; `None` when it
    /// does.
    pub fn unsupported_reason(&self) -> Option<String> {
        if self.is_supported() {
            return None;
        }
        let why = match self.command.as_str() {
            "postlogd" => "Postern writes $maillog_file itself",
            "smtpd" => "smtpd runs only as an inet service",
            "error" if self.kind == "unix" => "error(8) runs only as the error or retry service",
            c if AGENTS.contains(&c) => "a delivery agent runs only as a unix service",
            _ => "unknown to Postern",
        };
        // Any unix entry is a transport qmgr may be asked to use: say what its mail gets.
        let then = if self.kind == "unix" {
            format!(
                "mail for transport {} is deferred (mail transport unavailable)",
                self.name
            )
        } else {
            "ignored".to_string()
        };
        Some(format!(
            "service {} ({} {}) is not provided by Postern ({}); {}",
            self.name, self.kind, self.command, why, then
        ))
    }

    /// For inet services: (host, port) with host `None` for all interfaces.
    pub fn inet_address(&self) -> (Option<String>, String) {
        let name = self.name.as_str();
        if let Some(rest) = name.strip_prefix('[')
            && let Some(end) = rest.find("]:")
        {
            return (Some(rest[..end].to_string()), rest[end + 2..].to_string());
        }
        match name.rfind(':') {
            Some(i) => (Some(name[..i].to_string()), name[i + 1..].to_string()),
            None => (None, name.to_string()),
        }
    }
}

/// Parse master.cf text.
pub fn parse(text: &str, file: &str) -> Result<Vec<Service>, MasterCfError> {
    logical_lines(text, file)?
        .iter()
        .map(|(t, line)| parse_entry(t, *line, file))
        .collect()
}

/// The logical lines of master.cf: comments and blank lines dropped, continuation lines
/// joined to their entry with one space; each with the line number it starts on.
pub fn logical_lines(text: &str, file: &str) -> Result<Vec<(String, usize)>, MasterCfError> {
    let mut logical: Vec<(String, usize)> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with(|c: char| c.is_whitespace()) {
            match logical.last_mut() {
                Some((t, _)) => {
                    t.push(' ');
                    t.push_str(trimmed.trim_end());
                }
                None => {
                    return Err(MasterCfError {
                        file: file.into(),
                        line: idx + 1,
                        message: "logical line must not start with whitespace".into(),
                    });
                }
            }
        } else {
            logical.push((raw.trim_end().to_string(), idx + 1));
        }
    }
    Ok(logical)
}

fn parse_entry(text: &str, line: usize, file: &str) -> Result<Service, MasterCfError> {
    let err = |message: String| MasterCfError {
        file: file.into(),
        line,
        message,
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() < 8 {
        return Err(err(format!(
            "field count: expected at least 8 fields, found {}",
            fields.len()
        )));
    }
    let flag = |v: &str, default: bool, what: &str| -> Result<bool, MasterCfError> {
        match v {
            "-" => Ok(default),
            "y" => Ok(true),
            "n" => Ok(false),
            _ => Err(err(format!("bad {} field: \"{}\"", what, v))),
        }
    };
    let kind = fields[1];
    if !["inet", "unix", "fifo", "pass", "unix-dgram"].contains(&kind) {
        return Err(err(format!("bad transport type: {}", kind)));
    }
    let maxproc = match fields[6] {
        "-" => None,
        v => Some(
            v.parse()
                .map_err(|_| err(format!("bad maximal process count: {}", v)))?,
        ),
    };
    let mut args = Vec::new();
    let mut overrides = Vec::new();
    // Options come before the command's own arguments (as getopt sees them): after the
    // first non-option word, `-o...` is an argument (pipe's `argv=/usr/sbin/sendmail -oi`).
    let mut options = true;
    let mut rest = fields[8..].iter();
    while let Some(a) = rest.next() {
        if !a.starts_with('-') {
            options = false;
        }
        let Some(inline) = a.strip_prefix("-o").filter(|_| options) else {
            args.push(a.to_string());
            continue;
        };
        let mut kv = match inline {
            "" => match rest.next() {
                Some(v) => v.to_string(),
                None => return Err(err("-o option without a value".into())),
            },
            v => v.to_string(),
        };
        // Postfix 3.0's `-o { name = value with spaces }`.
        if kv.starts_with('{') {
            while !kv.ends_with('}') {
                match rest.next() {
                    Some(more) => {
                        kv.push(' ');
                        kv.push_str(more);
                    }
                    None => return Err(err(format!("missing '}}' in -o option: \"{}\"", kv))),
                }
            }
            kv = kv[1..kv.len() - 1].trim().to_string();
        }
        match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                overrides.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => return Err(err(format!("bad -o option: \"{}\"", kv))),
        }
    }
    Ok(Service {
        name: fields[0].to_string(),
        kind: kind.to_string(),
        private: flag(fields[2], kind != "inet", "private")?,
        unprivileged: flag(fields[3], true, "unprivileged")?,
        chroot: flag(fields[4], false, "chroot")?,
        wakeup: fields[5].to_string(),
        maxproc,
        command: fields[7].to_string(),
        args,
        overrides,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: &str = "\
# comment
smtp      inet  n       -       n       -       -       smtpd
127.0.0.1:2525 inet n   -       n       -       5       smtpd
  -o smtpd_banner=hello
  -o myhostname=x.test
pickup    fifo  n       -       n       60      1       pickup
qmgr      fifo  n       -       n       300     1       qmgr
maildrop  unix  -       n       n       -       -       pipe
  flags=DRhu user=vmail argv=/usr/local/bin/maildrop -d ${recipient}
";

    #[test]
    fn parses_stock_entries() {
        let s = parse(STOCK, "master.cf").unwrap();
        assert_eq!(s.len(), 5);
        assert!(s[0].is_smtpd_listener());
        assert_eq!(s[0].inet_address(), (None, "smtp".to_string()));
        assert_eq!(
            s[1].inet_address(),
            (Some("127.0.0.1".into()), "2525".into())
        );
        assert_eq!(s[1].maxproc, Some(5));
        assert_eq!(s[1].overrides[1], ("myhostname".into(), "x.test".into()));
        assert!(!s[0].private);
        assert!(s[2].is_supported());
        assert!(s[4].is_supported() && s[4].is_delivery_agent());
        assert_eq!(s[4].args[0], "flags=DRhu");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("smtp inet n - n -\n", "master.cf").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("smtp inet n - n - x smtpd\n", "master.cf").unwrap_err();
        assert!(e.to_string().contains("bad maximal process count"));
        let e = parse("smtp tcp n - n - - smtpd\n", "master.cf").unwrap_err();
        assert!(e.to_string().contains("bad transport type"));
    }

    #[test]
    fn brace_overrides_and_bad_ones() {
        let s = parse(
            "submission inet n - n - - smtpd -o { smtpd_banner = a b c } -o x=\n",
            "m",
        )
        .unwrap();
        assert_eq!(
            s[0].overrides,
            vec![
                ("smtpd_banner".to_string(), "a b c".to_string()),
                ("x".to_string(), String::new())
            ]
        );
        let s = parse(
            "f unix - n n - - pipe -v flags=Rq user=f argv=/usr/sbin/sendmail -oi -o x -f $sender\n",
            "m",
        )
        .unwrap();
        assert!(s[0].overrides.is_empty());
        assert_eq!(s[0].args[0], "-v");
        assert_eq!(s[0].args[4], "-oi");
        for bad in [
            "s inet n - n - - smtpd -o\n",
            "s inet n - n - - smtpd -o novalue\n",
            "s inet n - n - - smtpd -o { a = b\n",
            "s inet n - n - - smtpd -o =v\n",
        ] {
            let e = parse(bad, "m").unwrap_err();
            assert!(e.to_string().contains("-o option"), "{}: {}", bad, e);
        }
    }

    #[test]
    fn reasons_for_unsupported_services() {
        let s = parse(
            "policy unix - n n - - spawn\npostlog unix-dgram n - n - 1 postlogd\nbounce unix - - n - 0 bounce\nrelay unix - - n - - smtp\n",
            "m",
        )
        .unwrap();
        assert!(
            s[0].unsupported_reason()
                .unwrap()
                .contains("(unknown to Postern); mail for transport policy is deferred")
        );
        assert!(s[1].unsupported_reason().unwrap().contains("maillog_file"));
        assert_eq!(s[2].unsupported_reason(), None);
        assert_eq!(
            s[3].unsupported_reason(),
            None,
            "the SMTP client is provided"
        );
    }

    #[test]
    fn delivery_agents_by_command() {
        let s = parse(
            "smtp-ipv4 unix - - n - - smtp -o inet_protocols=ipv4\nretry unix - - n - - error\nerror2 unix - - n - - error\nsmtp inet n - n - - smtp\nmaildrop unix - n n - - pipe\nlmtp unix - - n - - lmtp\n",
            "m",
        )
        .unwrap();
        assert!(s[0].is_delivery_agent() && s[1].is_delivery_agent());
        assert!(!s[2].is_delivery_agent() && !s[3].is_delivery_agent());
        assert!(
            s[2].unsupported_reason()
                .unwrap()
                .contains("error(8) runs only as the error or retry service")
        );
        assert!(s[3].unsupported_reason().unwrap().ends_with("; ignored"));
        assert!(s[4].is_delivery_agent() && s[5].is_delivery_agent());
        assert_eq!(s[4].unsupported_reason(), None);
    }

    #[test]
    fn bracketed_ipv6() {
        let s = parse("[::1]:25 inet n - n - - smtpd\n", "m").unwrap();
        assert_eq!(s[0].inet_address(), (Some("::1".into()), "25".into()));
    }
}
