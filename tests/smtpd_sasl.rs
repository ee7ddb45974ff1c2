//! SMTP AUTH (RFC 4954) through Cyrus libsasl2 and a real saslauthd: an in-process smtpd
//! with `smtpd_sasl_auth_enable = yes` and a private `smtpd.conf` (found through
//! cyrus_sasl_config_path: `pwcheck_method: saslauthd`, `saslauthd_path: DIR/mux`,
//! `mech_list: PLAIN LOGIN`), and a saslauthd started by the test (common/saslauthd.rs:
//! `saslauthd -a shadow -m DIR`) checking a test account whose password the test sets with
//! chpasswd. Both need root (reading /etc/shadow, creating the account), so every test is
//! root-only. Clients: swaks (`--auth PLAIN`, `--auth LOGIN`), Python's smtplib and a raw
//! line client; fail2ban-regex checks the failure lines. The whole mail system (privilege
//! drop, preload, reload) is tests/smtpd_sasl_system.rs.

mod common;
#[path = "common/inproc.rs"]
mod inproc;
#[path = "common/saslauthd.rs"]
mod saslauthd;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{process_log_text, require, wait_for};
use inproc::{Client, Server};
use postern::sasl::base64;
use postern::smtpd::ClientInfo;
use saslauthd::{PASSWORD, USER, prerequisites, saslauthd};

/// A configuration directory with smtpd.conf for the saslauthd socket `mux`.
fn sasl_conf(mux: &Path) -> PathBuf {
    let dir = inproc::scratch();
    std::fs::write(
        dir.join("smtpd.conf"),
        format!(
            "pwcheck_method: saslauthd\nsaslauthd_path: {}\nmech_list: PLAIN LOGIN\n",
            mux.display()
        ),
    )
    .unwrap();
    dir
}

/// An smtpd with AUTH against the test saslauthd (or `mux`), relaying only for
/// authenticated clients (127.0.0.1 is not in mynetworks).
fn server(mux: Option<&Path>, extra: &[(&str, &str)]) -> (Server, PathBuf) {
    let mux = mux.map_or_else(|| saslauthd().dir.join("mux"), Path::to_path_buf);
    let conf = sasl_conf(&mux);
    let s = Server::builder()
        .set(&[
            ("local_recipient_maps", ""),
            ("mynetworks", "192.0.2.0/24"),
            ("smtpd_sasl_auth_enable", "yes"),
            ("cyrus_sasl_config_path", conf.to_str().unwrap()),
            (
                "smtpd_relay_restrictions",
                "permit_sasl_authenticated, reject",
            ),
        ])
        .set(extra)
        .start();
    (s, conf)
}

fn client_log() -> String {
    ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).log_name()
}

fn plain(user: &str, password: &str) -> String {
    base64::encode(format!("\0{}\0{}", user, password).as_bytes())
}

fn ehlo(s: &Server) -> Client {
    let mut c = Client::connect(s);
    assert!(c.reply().starts_with("220 "));
    let r = c.cmd("EHLO client.example");
    assert!(r.starts_with("250-www.a.org"), "{r}");
    c
}

fn swaks(s: &Server, mech: &str, password: &str) -> String {
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{}", s.port())])
        .args([
            "--auth",
            mech,
            "--auth-user",
            USER,
            "--auth-password",
            password,
        ])
        .args(["--from", "alice@www.a.org", "--to", "bob@remote.example"])
        .args(["--helo", "client.example", "--timeout", "20"])
        .output()
        .expect("run swaks");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// All queue file contents under the server's spool.
fn spooled(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn plain_and_login_authenticate_and_relay() {
    if !prerequisites() {
        return;
    }
    let (s, _conf) = server(None, &[("smtpd_sasl_authenticated_header", "yes")]);
    let mut c = ehlo(&s);
    c.cmd("MAIL FROM:<alice@www.a.org>");
    let r = c.cmd("RCPT TO:<bob@remote.example>");
    assert!(r.starts_with("554 5.7.1"), "relay refused before AUTH: {r}");
    c.cmd("QUIT");
    for mech in ["PLAIN", "LOGIN"] {
        let out = swaks(&s, mech, PASSWORD);
        assert!(
            out.contains("<-  235 2.7.0 Authentication successful"),
            "{out}"
        );
        assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
        let want = format!(
            "client={}, sasl_method={}, sasl_username={}",
            client_log(),
            mech,
            USER
        );
        assert!(
            wait_for(10, || process_log_text().contains(&want)),
            "{want}"
        );
    }
    let spool = spooled(&s.dir.join("spool"));
    assert!(
        spool.contains(&format!("(Authenticated sender: {})", USER)),
        "{spool}"
    );
    assert!(spool.contains("with ESMTPA id"), "{spool}");
    // The queue file keeps what pipe(8)'s ${sasl_method} ${sasl_username} ${client_port} use.
    for mech in ["PLAIN", "LOGIN"] {
        assert!(
            spool.contains(&format!(":sasl_method={}\n", mech)),
            "{spool}"
        );
    }
    assert!(
        spool.contains(&format!(":sasl_username={}\n", USER)),
        "{spool}"
    );
    assert!(spool.contains(":client_port="), "{spool}");
    // MAIL's AUTH= is kept as sasl_sender.
    let mut c = ehlo(&s);
    assert!(
        c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)))
            .starts_with("235 ")
    );
    assert_eq!(
        c.cmd("MAIL FROM:<alice@www.a.org> AUTH=alice@www.a.org"),
        "250 2.1.0 Ok"
    );
    assert_eq!(c.cmd("RCPT TO:<bob@remote.example>"), "250 2.1.5 Ok");
    assert_eq!(c.cmd("DATA").split(' ').next(), Some("354"));
    assert!(
        c.cmd("Subject: x\r\n\r\nx\r\n.")
            .starts_with("250 2.0.0 Ok")
    );
    c.cmd("QUIT");
    let spool = spooled(&s.dir.join("spool"));
    assert!(spool.contains(":sasl_sender=alice@www.a.org\n"), "{spool}");
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn failures_answer_535_and_log_for_fail2ban() {
    if !prerequisites() {
        return;
    }
    let (s, _conf) = server(None, &[]);
    let out = swaks(&s, "LOGIN", "wrong password");
    assert!(
        out.contains("535 5.7.8 Error: authentication failed: authentication failure"),
        "{out}"
    );
    let mut c = ehlo(&s);
    let r = c.cmd(&format!("AUTH PLAIN {}", plain("no-such-user-x", "x")));
    assert_eq!(
        r,
        "535 5.7.8 Error: authentication failed: authentication failure"
    );
    // fail2ban's postfix[mode=auth] failregex, less its prefix and look-ahead.
    let re = regex::Regex::new(
        r"(?m)warning: [^\[]*\[127\.0\.0\.1\]: SASL ((?i)LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5) authentication failed(: [^\n]*)?$",
    )
    .unwrap();
    let matched = |mech: &str| {
        re.captures_iter(&process_log_text())
            .any(|c| &c[1] == mech && c[0].contains("authentication failure"))
    };
    assert!(wait_for(10, || matched("LOGIN") && matched("PLAIN")));
    assert!(process_log_text().contains(&format!(
        "warning: {}: SASL LOGIN authentication failed: authentication failure, sasl_username={}",
        client_log(),
        USER
    )));
    fail2ban_matches_every_failure_line();
}

/// fail2ban's own filter (`fail2ban-regex FILE 'postfix[mode=auth]'`) matches every
/// `SASL ... authentication failed` line of the log.
fn fail2ban_matches_every_failure_line() {
    let tool = Path::new("/usr/bin/fail2ban-regex");
    if !require(tool.exists(), "needs fail2ban (fail2ban-regex)") {
        return;
    }
    let failures: Vec<String> = process_log_text()
        .lines()
        .filter(|l| l.contains(": SASL ") && l.contains(" authentication failed: "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(failures.len() >= 2);
    let file = inproc::scratch().join("maillog");
    std::fs::write(&file, failures.concat()).unwrap();
    let out = Command::new(tool)
        .arg(&file)
        .arg("postfix[mode=auth]")
        .output()
        .expect("run fail2ban-regex");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let want = format!(
        "Lines: {n} lines, 0 ignored, {n} matched, 0 missed",
        n = failures.len()
    );
    assert!(text.contains(&want), "{want}\n{text}");
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn protocol_errors_as_postfix() {
    if !prerequisites() {
        return;
    }
    let (s, _conf) = server(
        None,
        &[
            ("smtpd_hard_error_limit", "100"),
            ("smtpd_sasl_response_limit", "512"),
        ],
    );
    let mut c = ehlo(&s);
    // A response over smtpd_sasl_response_limit.
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(
        c.cmd(&"QUFB".repeat(200)),
        "500 5.5.6 SASL response limit exceeded"
    );
    // The 334 loop and "*".
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd("*"), "501 5.7.0 Authentication aborted");
    assert!(wait_for(10, || process_log_text().contains(&format!(
        "warning: {}: SASL LOGIN authentication aborted",
        client_log()
    ))));
    assert_eq!(c.cmd("AUTH"), "501 5.5.4 Syntax: AUTH mechanism");
    assert_eq!(
        c.cmd("AUTH PLAIN !!!!"),
        "535 5.7.8 Error: authentication failed: bad protocol / cancel"
    );
    // In a transaction, then twice.
    assert_eq!(c.cmd("MAIL FROM:<alice@www.a.org>"), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASSWORD))),
        "503 5.5.1 Error: MAIL transaction in progress"
    );
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
    assert_eq!(c.cmd("AUTH PLAIN"), "334 ");
    assert_eq!(
        c.cmd(&plain(USER, PASSWORD)),
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(
        c.cmd("AUTH LOGIN"),
        "503 5.5.1 Error: already authenticated"
    );
    // MAIL's AUTH= parameter is accepted; the second one is not.
    assert_eq!(c.cmd("MAIL FROM:<alice@www.a.org> AUTH=<>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
    assert_eq!(
        c.cmd("MAIL FROM:<alice@www.a.org> AUTH=alice@www.a.org AUTH=x"),
        "503 5.5.4 Error: multiple AUTH= options"
    );
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn failures_count_toward_the_hard_error_limit() {
    if !prerequisites() {
        return;
    }
    let (s, _conf) = server(None, &[("smtpd_hard_error_limit", "2")]);
    let mut c = ehlo(&s);
    let bad = format!("AUTH PLAIN {}", plain(USER, "nope"));
    assert!(c.cmd(&bad).starts_with("535 5.7.8"));
    assert!(c.cmd(&bad).starts_with("535 5.7.8"));
    assert_eq!(c.cmd("NOOP"), "421 4.7.0 www.a.org Error: too many errors");
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn saslauthd_down_is_a_temporary_failure() {
    if !prerequisites() {
        return;
    }
    let gone = inproc::scratch().join("no-such-mux");
    let (s, _conf) = server(Some(&gone), &[]);
    let mut c = ehlo(&s);
    let r = c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)));
    assert!(
        r.starts_with("454 4.7.0 Temporary authentication failure: "),
        "{r}"
    );
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn ehlo_lists_libsasl2_mechanisms() {
    if !prerequisites() {
        return;
    }
    let (s, _conf) = server(None, &[]);
    let r = ehlo(&s).cmd("EHLO again.example");
    assert!(r.contains("\n250-AUTH PLAIN LOGIN\n"), "{r}");
    assert!(!r.contains("AUTH="), "{r}");
    let (s, _conf) = server(None, &[("broken_sasl_auth_clients", "yes")]);
    let r = ehlo(&s).cmd("EHLO again.example");
    assert!(
        r.contains("\n250-AUTH PLAIN LOGIN\n250-AUTH=PLAIN LOGIN\n"),
        "{r}"
    );
    // Not offered to smtpd_sasl_exceptions_networks, nor before TLS with
    // smtpd_tls_auth_only (AUTH then answers 504).
    let (s, _conf) = server(None, &[("smtpd_sasl_exceptions_networks", "127.0.0.0/8")]);
    assert!(!ehlo(&s).cmd("EHLO x").contains("AUTH"));
    let (s, _conf) = server(None, &[("smtpd_tls_auth_only", "yes")]);
    let mut c = ehlo(&s);
    assert!(!c.cmd("EHLO x").contains("AUTH"));
    assert_eq!(
        c.cmd("AUTH PLAIN"),
        "504 5.5.4 Encryption required for requested authentication mechanism"
    );
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn sender_login_maps_decide_who_may_send_as_whom() {
    if !prerequisites() {
        return;
    }
    let maps = "inline:{ alice@www.a.org=postern-sasl, bob@www.a.org=someone-else }";
    let (s, _conf) = server(
        None,
        &[
            ("smtpd_sender_login_maps", maps),
            ("smtpd_sender_restrictions", "reject_sender_login_mismatch"),
            (
                "smtpd_relay_restrictions",
                "permit_sasl_authenticated, reject_unauth_destination",
            ),
        ],
    );
    let try_sender = |c: &mut Client, sender: &str| {
        assert_eq!(c.cmd(&format!("MAIL FROM:<{sender}>")), "250 2.1.0 Ok");
        let r = c.cmd("RCPT TO:<postmaster@www.a.org>");
        assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
        r
    };
    let mut c = ehlo(&s);
    assert_eq!(
        try_sender(&mut c, "alice@www.a.org"),
        "553 5.7.1 <alice@www.a.org>: Sender address rejected: not logged in"
    );
    assert_eq!(try_sender(&mut c, "carol@www.a.org"), "250 2.1.5 Ok");
    let r = c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)));
    assert_eq!(r, "235 2.7.0 Authentication successful");
    assert_eq!(try_sender(&mut c, "alice@www.a.org"), "250 2.1.5 Ok");
    assert_eq!(
        try_sender(&mut c, "bob@www.a.org"),
        "553 5.7.1 <bob@www.a.org>: Sender address rejected: not owned by user postern-sasl"
    );
    assert_eq!(
        try_sender(&mut c, "carol@www.a.org"),
        "553 5.7.1 <carol@www.a.org>: Sender address rejected: not owned by user postern-sasl"
    );
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn authenticated_sender_login_mismatch_spares_anonymous_clients() {
    if !prerequisites() {
        return;
    }
    let maps = "inline:{ alice@www.a.org=postern-sasl, bob@www.a.org=someone-else }";
    let (s, _conf) = server(
        None,
        &[
            ("smtpd_sender_login_maps", maps),
            (
                "smtpd_sender_restrictions",
                "reject_authenticated_sender_login_mismatch",
            ),
            (
                "smtpd_relay_restrictions",
                "permit_sasl_authenticated, reject_unauth_destination",
            ),
        ],
    );
    let try_sender = |c: &mut Client, sender: &str| {
        assert_eq!(c.cmd(&format!("MAIL FROM:<{sender}>")), "250 2.1.0 Ok");
        let r = c.cmd("RCPT TO:<postmaster@www.a.org>");
        assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
        r
    };
    let mut c = ehlo(&s);
    // Not logged in: not checked (reject_sender_login_mismatch would refuse alice).
    assert_eq!(try_sender(&mut c, "alice@www.a.org"), "250 2.1.5 Ok");
    let r = c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)));
    assert_eq!(r, "235 2.7.0 Authentication successful");
    assert_eq!(try_sender(&mut c, "alice@www.a.org"), "250 2.1.5 Ok");
    assert_eq!(
        try_sender(&mut c, "bob@www.a.org"),
        "553 5.7.1 <bob@www.a.org>: Sender address rejected: not owned by user postern-sasl"
    );
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn security_options_filter_the_mechanisms() {
    if !prerequisites() {
        return;
    }
    // noplaintext leaves libsasl2 nothing of PLAIN LOGIN without TLS: AUTH is not
    // offered (Postfix 2.10 stops the smtpd process with "no SASL authentication
    // mechanisms"; Postern logs that warning and serves the client without AUTH).
    let opts = ("smtpd_sasl_security_options", "noanonymous, noplaintext");
    let (s, _conf) = server(None, &[opts]);
    let r = ehlo(&s).cmd("EHLO again.example");
    assert!(!r.contains("AUTH"), "{r}");
    // The default (noanonymous) keeps them.
    let opts = ("smtpd_sasl_security_options", "noanonymous");
    let (s, _conf) = server(None, &[opts]);
    let r = ehlo(&s).cmd("EHLO again.example");
    assert!(r.contains("\n250-AUTH PLAIN LOGIN\n"), "{r}");
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn auth_rate_limit_as_postfix() {
    if !prerequisites() {
        return;
    }
    let (s, _conf) = server(
        None,
        &[
            ("smtpd_client_auth_rate_limit", "1"),
            ("smtpd_client_event_limit_exceptions", ""),
        ],
    );
    let mut c = ehlo(&s);
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd("*"), "501 5.7.0 Authentication aborted");
    assert_eq!(
        c.cmd("AUTH LOGIN"),
        "450 4.7.1 Error: too many AUTH commands from 127.0.0.1"
    );
    assert!(wait_for(10, || process_log_text().contains(&format!(
        "warning: AUTH command rate limit exceeded: 2 from {} for service smtp",
        client_log()
    ))));
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn python_smtplib_logs_in_and_relays() {
    if !prerequisites() || !require(Path::new("/usr/bin/python3").exists(), "needs python3") {
        return;
    }
    let (s, _conf) = server(None, &[]);
    let script = r#"
import smtplib, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.example")
try:
    s.login(user, "not " + password)
    print("wrong password accepted")
except smtplib.SMTPAuthenticationError as e:
    print("refused", e.smtp_code)
code, text = s.login(user, password)
print("login", code)
s.sendmail("alice@www.a.org", ["bob@remote.example"], "Subject: t\r\n\r\nhi\r\n")
print("sent")
s.quit()
"#;
    let out = Command::new("python3")
        .args(["-c", script, &s.port().to_string(), USER, PASSWORD])
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        text,
        "refused 535\nlogin 235\nsent\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
