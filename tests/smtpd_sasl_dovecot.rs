//! SMTP AUTH with `smtpd_sasl_type = dovecot` against a real Dovecot (Debian's dovecot-core,
//! started by the test with a private configuration: no protocols, only its auth service,
//! whose auth-client socket is `DIR/auth`, users from a passwd-file). Dovecot's master
//! needs root, so the tests are root-only. An in-process smtpd with
//! `smtpd_sasl_path = DIR/auth` (absolute; a relative path is under $queue_directory).

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{process_log_text, require, require_root, wait_for};
use inproc::{Client, Server};
use postern::sasl::base64;

const DOVECOT: &str = "/usr/sbin/dovecot";

/// A private Dovecot serving only authentication; stopped on drop.
struct AuthDovecot {
    dir: PathBuf,
}

impl AuthDovecot {
    fn start() -> AuthDovecot {
        let dir = inproc::scratch().join("dovecot");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("passwd"), "alice:{PLAIN}wonderland\n").unwrap();
        let d = dir.display();
        std::fs::write(
            dir.join("dovecot.conf"),
            format!(
                "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
                 protocols = none\nssl = no\ndisable_plaintext_auth = no\n\
                 auth_mechanisms = plain login\nauth_failure_delay = 0\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/passwd\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=65534 gid=65534\n}}\n\
                 service auth {{\n  unix_listener {d}/auth {{\n    mode = 0666\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let status = Command::new(DOVECOT)
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run dovecot");
        assert!(status.success(), "dovecot did not start");
        let sock = dir.join("auth");
        assert!(wait_for(20, || sock.exists()), "no Dovecot socket");
        AuthDovecot { dir }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("auth")
    }
}

impl Drop for AuthDovecot {
    fn drop(&mut self) {
        let _ = Command::new(DOVECOT)
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn prerequisites() -> bool {
    require_root() && require(Path::new(DOVECOT).exists(), "needs dovecot (dovecot-core)")
}

fn server(socket: &Path) -> Server {
    Server::builder()
        .set(&[
            ("local_recipient_maps", ""),
            ("mynetworks", "192.0.2.0/24"),
            ("smtpd_sasl_auth_enable", "yes"),
            ("smtpd_sasl_type", "dovecot"),
            ("smtpd_sasl_path", socket.to_str().unwrap()),
            (
                "smtpd_relay_restrictions",
                "permit_sasl_authenticated, reject",
            ),
        ])
        .start()
}

fn ehlo(s: &Server) -> (Client, String) {
    let mut c = Client::connect(s);
    assert!(c.reply().starts_with("220 "));
    let r = c.cmd("EHLO client.example");
    (c, r)
}

#[test]
#[ignore = "needs root: Dovecot's master (make test runs it as root)"]
fn plain_login_and_failures_through_dovecot() {
    if !prerequisites() {
        return;
    }
    let dovecot = AuthDovecot::start();
    let s = server(&dovecot.socket());
    // PLAIN with an initial response, then relaying as the authenticated client.
    let (mut c, ehlo_reply) = ehlo(&s);
    assert!(ehlo_reply.contains("250-AUTH PLAIN LOGIN"), "{ehlo_reply}");
    let plain = base64::encode(b"\0alice\0wonderland");
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {plain}")),
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(c.cmd("MAIL FROM:<alice@www.a.org>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd("RCPT TO:<bob@remote.example>"), "250 2.1.5 Ok");
    c.cmd("QUIT");
    // LOGIN: Dovecot's challenges are relayed.
    let (mut c, _) = ehlo(&s);
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd(&base64::encode(b"alice")), "334 UGFzc3dvcmQ6");
    assert_eq!(
        c.cmd(&base64::encode(b"wonderland")),
        "235 2.7.0 Authentication successful"
    );
    c.cmd("QUIT");
    // A wrong password: 535 (Dovecot gives no reason), and the fail2ban line.
    let (mut c, _) = ehlo(&s);
    let bad = base64::encode(b"\0alice\0queen");
    let r = c.cmd(&format!("AUTH PLAIN {bad}"));
    assert!(
        r.starts_with("535 5.7.8 Error: authentication failed:"),
        "{r}"
    );
    c.cmd("QUIT");
    assert!(wait_for(10, || process_log_text()
        .contains("[127.0.0.1]: SASL PLAIN authentication failed:")));
    // Dovecot gone: no AUTH offered, the reason logged.
    drop(dovecot);
    let (mut c, r) = ehlo(&s);
    assert!(!r.contains("AUTH"), "{r}");
    c.cmd("QUIT");
    assert!(wait_for(10, || process_log_text()
        .contains("warning: SASL: Connect to Dovecot auth socket '")));
}
