//! A real Dovecot IMAP server for the tests, started on a private port with a private
//! configuration (Debian's dovecot-imapd; the package's own service is never used), or an
//! IMAP and LMTP server (dovecot-lmtpd) with a UNIX-domain LMTP socket and a passwd-file of
//! known users (`start_lmtp`), and a
//! minimal IMAP client that logs in and fetches whole messages. Dovecot's master needs root
//! (its login processes run as dovenull), so the tests using it are root-only.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where Debian installs the Dovecot master.
pub const DOVECOT: &str = "/usr/sbin/dovecot";

/// One running Dovecot, stopped on drop.
pub struct Dovecot {
    conf: PathBuf,
    pub port: u16,
}

impl Dovecot {
    /// Whether Dovecot is installed.
    pub fn available() -> bool {
        Path::new(DOVECOT).exists()
    }

    /// Start Dovecot under `dir` serving IMAP on 127.0.0.1:`port`: every user logs in with
    /// `password`, is mapped to `uid`/`gid`, and reads the maildir `mail_location`
    /// (Dovecot's syntax, e.g. `maildir:/base/%d/%n/Maildir`).
    pub fn start(dir: &Path, port: u16, mail_location: &str, uid: u32, gid: u32) -> Dovecot {
        Dovecot::start_with(dir, port, mail_location, uid, gid, "")
    }

    /// As `start`, with `extra` lines appended to the configuration (e.g. mbox locking
    /// settings).
    pub fn start_with(
        dir: &Path,
        port: u16,
        mail_location: &str,
        uid: u32,
        gid: u32,
        extra: &str,
    ) -> Dovecot {
        let auth = format!(
            "passdb {{\n  driver = static\n  args = password=secret\n}}\n\
             userdb {{\n  driver = static\n  args = uid={} gid={}\n}}\n{}",
            uid, gid, extra
        );
        Dovecot::start_conf(dir, port, mail_location, "imap", &auth)
    }

    /// Start Dovecot under `dir` serving IMAP on 127.0.0.1:`port` and LMTP on the
    /// UNIX-domain socket `socket` (mode 0666, so that Postern's $mail_owner can connect).
    /// Only `users` (full addresses, password `secret`) exist, all mapped to `uid`/`gid`:
    /// LMTP refuses any other recipient with 550 5.1.1.
    pub fn start_lmtp(
        dir: &Path,
        port: u16,
        socket: &Path,
        mail_location: &str,
        users: &[&str],
        uid: u32,
        gid: u32,
    ) -> Dovecot {
        std::fs::create_dir_all(dir).unwrap();
        let passwd = dir.join("users");
        let rows: String = users
            .iter()
            .map(|u| {
                format!(
                    "{}:{{PLAIN}}secret:{}:{}::{}::\n",
                    u,
                    uid,
                    gid,
                    dir.display()
                )
            })
            .collect();
        std::fs::write(&passwd, rows).unwrap();
        let extra = format!(
            "passdb {{\n  driver = passwd-file\n  args = {p}\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = {p}\n}}\n\
             postmaster_address = postmaster@localhost\n\
             service lmtp {{\n  unix_listener {s} {{\n    mode = 0666\n  }}\n}}\n",
            p = passwd.display(),
            s = socket.display()
        );
        let d = Dovecot::start_conf(dir, port, mail_location, "imap lmtp", &extra);
        let up = super::wait_for(20, || socket.exists());
        assert!(up, "dovecot did not create {}", socket.display());
        d
    }

    fn start_conf(
        dir: &Path,
        port: u16,
        mail_location: &str,
        protocols: &str,
        auth: &str,
    ) -> Dovecot {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("dovecot.conf");
        let text = format!(
            "base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             protocols = {protocols}\n\
             listen = 127.0.0.1\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain\n\
             mail_location = {loc}\n\
             {auth}\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n",
            d = dir.display(),
            loc = mail_location,
        );
        std::fs::write(&conf, text).unwrap();
        // Dovecot's master daemonizes and keeps its inherited descriptors: no pipes, or
        // waiting for its output would never end. Its errors go to log_path.
        let status = Command::new(DOVECOT)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run dovecot");
        assert!(
            status.success(),
            "dovecot did not start: {}",
            std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
        );
        let up = super::wait_for(20, || TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "dovecot does not listen on port {}", port);
        Dovecot { conf, port }
    }

    /// Log in as `user` and fetch every message of INBOX (BODY[], CRLF as IMAP sends it).
    pub fn fetch_all(&self, user: &str) -> Vec<Vec<u8>> {
        let mut imap = Imap::connect(self.port);
        imap.ok(&format!("LOGIN \"{}\" \"secret\"", user));
        let exists = imap
            .ok("SELECT INBOX")
            .iter()
            .find_map(|l| {
                let l = String::from_utf8_lossy(l).trim_end().to_string();
                let rest = l.strip_prefix("* ")?;
                rest.strip_suffix(" EXISTS")?.trim().parse::<usize>().ok()
            })
            .unwrap_or(0);
        let mut out = Vec::new();
        for n in 1..=exists {
            out.push(imap.fetch_body(n));
        }
        imap.ok("LOGOUT");
        out
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new(DOVECOT)
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A minimal IMAP4rev1 client: tagged commands, literals in FETCH responses.
pub struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: usize,
}

impl Imap {
    pub fn connect(port: u16) -> Imap {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to dovecot");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut imap = Imap {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            tag: 0,
        };
        let greeting = imap.line();
        assert!(greeting.starts_with(b"* OK"), "{:?}", greeting);
        imap
    }

    fn line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.reader.read_until(b'\n', &mut l).unwrap();
        assert!(!l.is_empty(), "dovecot closed the connection");
        l
    }

    /// Send a command; return the untagged lines; the tagged reply must be OK.
    pub fn ok(&mut self, command: &str) -> Vec<Vec<u8>> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        write!(self.writer, "{} {}\r\n", tag, command).unwrap();
        let mut untagged = Vec::new();
        loop {
            let l = self.line();
            if l.starts_with(tag.as_bytes()) {
                let text = String::from_utf8_lossy(&l).into_owned();
                assert!(
                    text.starts_with(&format!("{} OK", tag)),
                    "{} -> {}",
                    command,
                    text
                );
                return untagged;
            }
            untagged.push(l);
        }
    }

    /// `FETCH n BODY.PEEK[]`: the literal's bytes.
    fn fetch_body(&mut self, n: usize) -> Vec<u8> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        write!(self.writer, "{} FETCH {} BODY.PEEK[]\r\n", tag, n).unwrap();
        let mut body = None;
        loop {
            let l = self.line();
            let text = String::from_utf8_lossy(&l).into_owned();
            if text.starts_with(&tag) {
                assert!(text.starts_with(&format!("{} OK", tag)), "{}", text);
                return body.expect("FETCH returned no literal");
            }
            if let Some(open) = text.rfind('{')
                && let Some(len) = text[open + 1..]
                    .trim_end()
                    .strip_suffix('}')
                    .and_then(|n| n.parse::<usize>().ok())
            {
                let mut buf = vec![0u8; len];
                self.reader.read_exact(&mut buf).unwrap();
                body = Some(buf);
            }
        }
    }
}
