//! The Dovecot SASL client (smtpd_sasl_type = dovecot): Dovecot's authentication protocol
//! 1.x over the UNIX socket named by smtpd_sasl_path (relative to $queue_directory, as in
//! Postfix, or absolute), pure Rust. Follows Dovecot's "Authentication Protocol" document
//! and Postfix's xsasl_dovecot_server.c: the handshake (`VERSION 1 0`, `CPID`; the server
//! answers VERSION, MECH lines, SPID, CUID, COOKIE, DONE), then `AUTH id MECH
//! service=smtp nologin rip= [secured] [resp=BASE64]`, `CONT id BASE64`, answered by
//! `OK id user=NAME`, `CONT id BASE64` or `FAIL id [reason=TEXT] [temp]`.
//!
//! Security role: the password check is Dovecot's; this side only relays base64 data. The
//! server's lines are read bounded (`MAX_LINE`) and under a timeout; a TAB or newline can
//! never come from the client (responses are base64 by the time they are sent). A lost or
//! unreachable server is a temporary failure (454), never a success. Logs nothing (the
//! caller logs the errors it returns).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::base64;

/// The longest line accepted from the server.
const MAX_LINE: u64 = 64 * 1024;

/// How long a reply from Dovecot may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong talking to Dovecot (all temporary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DovecotError {
    Connect(String, String),
    Handshake(String),
}

impl std::fmt::Display for DovecotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DovecotError::Connect(p, e) => {
                write!(
                    f,
                    "SASL: Connect to Dovecot auth socket '{}' failed: {}",
                    p, e
                )
            }
            DovecotError::Handshake(e) => write!(f, "SASL: {}", e),
        }
    }
}

/// The outcome of one exchange step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    Cont(Vec<u8>),
    Fail { temporary: bool, reason: String },
}

/// One connection to Dovecot's auth-client socket, for one SMTP session.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The mechanisms allowed by the security options, as Dovecot names them.
    mechs: Vec<String>,
    request: u32,
}

/// The mechanism flags of `MECH` lines that the security options exclude.
pub fn excluded(flags: &[&str], noplaintext: bool, noanonymous: bool) -> bool {
    flags.iter().any(|f| {
        (*f == "plaintext" && noplaintext) || (*f == "anonymous" && noanonymous) || *f == "private"
    })
}

impl Client {
    /// Connect and shake hands; keep the mechanisms the options allow.
    pub fn connect(
        path: &Path,
        noplaintext: bool,
        noanonymous: bool,
    ) -> Result<Client, DovecotError> {
        let show = path.display().to_string();
        let stream = UnixStream::connect(path)
            .map_err(|e| DovecotError::Connect(show.clone(), e.to_string()))?;
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let _ = stream.set_write_timeout(Some(TIMEOUT));
        let writer = stream
            .try_clone()
            .map_err(|e| DovecotError::Connect(show.clone(), e.to_string()))?;
        let mut c = Client {
            reader: BufReader::new(stream),
            writer,
            mechs: Vec::new(),
            request: 0,
        };
        c.send(&format!("VERSION\t1\t0\nCPID\t{}\n", std::process::id()))
            .map_err(|e| DovecotError::Handshake(format!("Couldn't send handshake: {}", e)))?;
        loop {
            let line = c
                .line()
                .ok_or_else(|| DovecotError::Handshake("Protocol error".into()))?;
            let mut f = line.split('\t');
            match f.next() {
                Some("VERSION") if f.next() != Some("1") => {
                    return Err(DovecotError::Handshake("Protocol version mismatch".into()));
                }
                Some("MECH") => {
                    let Some(name) = f.next() else { continue };
                    let flags: Vec<&str> = f.collect();
                    if !excluded(&flags, noplaintext, noanonymous) {
                        c.mechs.push(name.to_ascii_uppercase());
                    }
                }
                Some("DONE") => break,
                _ => {}
            }
        }
        Ok(c)
    }

    /// The mechanisms offered, space-separated.
    pub fn mechanisms(&self) -> String {
        self.mechs.join(" ")
    }

    fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.writer.write_all(text.as_bytes())?;
        self.writer.flush()
    }

    /// One line from the server, without its newline; `None` at end, error or overflow.
    fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .ok()?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return None;
        }
        buf.pop();
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Start an exchange (`rip`: the client's address; `secured`: over TLS). The server's
    /// own address (`lip`) is not sent: the session does not know it.
    pub fn start(&mut self, mech: &str, initial: Option<&[u8]>, rip: &str, secured: bool) -> Reply {
        if !self.mechs.iter().any(|m| m.eq_ignore_ascii_case(mech)) {
            return Reply::Fail {
                temporary: false,
                reason: crate::log::lines::printable(&format!(
                    "Invalid authentication mechanism: '{}'",
                    mech
                )),
            };
        }
        self.request += 1;
        let mut line = format!(
            "AUTH\t{}\t{}\tservice=smtp\tnologin\trip={}",
            self.request, mech, rip
        );
        if secured {
            line.push_str("\tsecured");
        }
        if let Some(i) = initial {
            line.push_str("\tresp=");
            line.push_str(&base64::encode(i));
        }
        line.push('\n');
        self.exchange(&line)
    }

    /// Continue with the client's (decoded) response.
    pub fn step(&mut self, response: &[u8]) -> Reply {
        let line = format!("CONT\t{}\t{}\n", self.request, base64::encode(response));
        self.exchange(&line)
    }

    fn exchange(&mut self, line: &str) -> Reply {
        if self.send(line).is_err() {
            return lost();
        }
        let id = self.request.to_string();
        while let Some(reply) = self.line() {
            if let Some(r) = parse_reply(&reply, &id) {
                return r;
            }
        }
        lost()
    }
}

fn lost() -> Reply {
    Reply::Fail {
        temporary: true,
        reason: "Connection lost to authentication server".into(),
    }
}

/// A reply line for request `id`; `None` for other lines (ignored, as Postfix does).
pub fn parse_reply(line: &str, id: &str) -> Option<Reply> {
    let mut f = line.split('\t');
    let cmd = f.next()?;
    if f.next()? != id {
        return None;
    }
    let args: Vec<&str> = f.collect();
    let arg = |k: &str| args.iter().find_map(|a| a.strip_prefix(k));
    let backend = || Reply::Fail {
        temporary: true,
        reason: "Authentication backend error".into(),
    };
    match cmd {
        "OK" => Some(match arg("user=") {
            Some(u) => Reply::Ok(crate::log::lines::printable(u)),
            None => backend(),
        }),
        "CONT" => Some(
            match args.first().and_then(|a| base64::decode(a.as_bytes())) {
                Some(c) => Reply::Cont(c),
                None => backend(),
            },
        ),
        "FAIL" => Some(Reply::Fail {
            temporary: args.contains(&"temp"),
            reason: arg("reason=")
                .map(crate::log::lines::printable)
                .unwrap_or_default(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply("OK\t3\tuser=alice", "3"),
            Some(Reply::Ok("alice".into()))
        );
        assert_eq!(parse_reply("OK\t2\tuser=alice", "3"), None);
        assert_eq!(
            parse_reply("CONT\t3\tVXNlcm5hbWU6", "3"),
            Some(Reply::Cont(b"Username:".to_vec()))
        );
        assert_eq!(
            parse_reply("FAIL\t3\tuser=alice", "3"),
            Some(Reply::Fail {
                temporary: false,
                reason: String::new()
            })
        );
        assert_eq!(
            parse_reply("FAIL\t3\treason=Try later\ttemp", "3"),
            Some(Reply::Fail {
                temporary: true,
                reason: "Try later".into()
            })
        );
        assert!(matches!(
            parse_reply("OK\t3", "3"),
            Some(Reply::Fail {
                temporary: true,
                ..
            })
        ));
        assert_eq!(parse_reply("SPID\t3", "3"), None);
    }

    #[test]
    fn mechanism_flags() {
        assert!(excluded(&["plaintext"], true, true));
        assert!(!excluded(&["plaintext"], false, true));
        assert!(excluded(&["anonymous"], false, true));
        assert!(excluded(&["private"], false, false));
        assert!(!excluded(&[], true, true));
    }
}
