//! `smtpd_sasl_local_domain` and `smtpd_sasl_tls_security_options` end to end, through
//! Cyrus libsasl2 with its own sasldb password check (`pwcheck_method: auxprop`,
//! `auxprop_plugin: sasldb`): the password database is made by `saslpasswd2` (Debian
//! sasl2-bin) in the test's scratch directory, so neither saslauthd nor root is needed.
//! The users are stored with a realm, as `saslpasswd2 -u REALM` stores them: the realm
//! smtpd gives libsasl2 decides which entry a login name finds.

mod common;
#[path = "common/inproc.rs"]
mod inproc;
#[path = "common/tls.rs"]
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use inproc::{Client, Server};
use postern::sasl::base64;

const PASSWORD: &str = "realm-test-secret";

/// Whether saslpasswd2 is there (sasl2-bin); says so when it is not.
fn prerequisites() -> bool {
    common::require(
        Path::new("/usr/sbin/saslpasswd2").exists(),
        "saslpasswd2 is not installed (Debian package sasl2-bin)",
    )
}

/// A scratch directory with `sasldb2` holding alice in `realm` and an smtpd.conf that
/// checks passwords against it.
fn sasl_dir(realm: &str) -> PathBuf {
    let dir = inproc::scratch();
    let db = dir.join("sasldb2");
    let mut child = Command::new("/usr/sbin/saslpasswd2")
        .arg("-f")
        .arg(&db)
        .args(["-u", realm, "-c", "-p", "alice"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run saslpasswd2");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "saslpasswd2 failed");
    std::fs::write(
        dir.join("smtpd.conf"),
        format!(
            "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {}\nmech_list: PLAIN LOGIN\n",
            db.display()
        ),
    )
    .unwrap();
    dir
}

fn server(dir: &Path, extra: &[(&str, &str)]) -> Server {
    Server::builder()
        .set(&[
            ("local_recipient_maps", ""),
            ("smtpd_sasl_auth_enable", "yes"),
            ("cyrus_sasl_config_path", dir.to_str().unwrap()),
        ])
        .set(extra)
        .start()
}

fn auth_plain(user: &str) -> String {
    let token = base64::encode(format!("\0{}\0{}", user, PASSWORD).as_bytes());
    format!("AUTH PLAIN {}", token)
}

/// The login name `alice` finds the entry of the realm smtpd_sasl_local_domain names;
/// without it libsasl2's default realm (the host name) is used and the login fails.
#[test]
fn local_domain_is_the_realm_of_unqualified_login_names() {
    if !prerequisites() {
        return;
    }
    let dir = sasl_dir("example.test");
    let s = server(&dir, &[("smtpd_sasl_local_domain", "example.test")]);
    let mut c = Client::connect(&s);
    c.reply();
    assert!(c.cmd("EHLO client.test").contains("250-AUTH PLAIN LOGIN"));
    let r = c.cmd(&auth_plain("alice"));
    assert_eq!(r, "235 2.7.0 Authentication successful");

    let s = server(&dir, &[]);
    let mut c = Client::connect(&s);
    c.reply();
    c.cmd("EHLO client.test");
    let r = c.cmd(&auth_plain("alice"));
    assert!(
        r.starts_with("535 5.7.8 Error: authentication failed:"),
        "{r}"
    );
}

/// smtpd_sasl_security_options (noplaintext) keeps PLAIN and LOGIN back on a plain
/// connection; after STARTTLS smtpd_sasl_tls_security_options (noanonymous) applies and
/// both are offered and work.
#[test]
fn tls_security_options_apply_after_starttls() {
    if !prerequisites() {
        return;
    }
    let dir = sasl_dir("example.test");
    let (cert, key) = tls::make_cert(&dir, "server");
    let s = server(
        &dir,
        &[
            ("smtpd_sasl_local_domain", "example.test"),
            ("smtpd_sasl_security_options", "noanonymous, noplaintext"),
            ("smtpd_sasl_tls_security_options", "noanonymous"),
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_cert_file", cert.to_str().unwrap()),
            ("smtpd_tls_key_file", key.to_str().unwrap()),
        ],
    );
    let mut c = tls::plain(s.port());
    c.reply();
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");

    let mut t = tls::starttls(s.port());
    let ehlo = t.cmd("EHLO client.test");
    assert!(ehlo.contains("250-AUTH PLAIN LOGIN"), "{ehlo}");
    assert_eq!(
        t.cmd(&auth_plain("alice")),
        "235 2.7.0 Authentication successful"
    );
}

/// A policy server is told the session's login: sasl_method, sasl_username and MAIL's
/// AUTH= as sasl_sender.
#[test]
fn a_policy_server_sees_the_login() {
    use std::io::BufRead;
    if !prerequisites() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let policy = format!("inet:{}", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        let Some(Ok(stream)) = l.incoming().next() else {
            return;
        };
        let mut r = std::io::BufReader::new(stream);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim_end().is_empty() {
                let _ = r.get_mut().write_all(b"action=DUNNO\n\n");
            } else {
                s2.lock().unwrap().push_str(&line);
            }
        }
    });
    let dir = sasl_dir("example.test");
    let list = format!("check_policy_service {policy}, permit_sasl_authenticated, reject");
    let s = server(
        &dir,
        &[
            ("smtpd_sasl_local_domain", "example.test"),
            ("mynetworks", "192.0.2.0/24"),
            ("smtpd_recipient_restrictions", list.as_str()),
        ],
    );
    let mut c = Client::connect(&s);
    c.reply();
    c.cmd("EHLO client.test");
    assert_eq!(
        c.cmd(&auth_plain("alice")),
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<alice@b.test> AUTH=alice@b.test"),
        "250 2.1.0 Ok"
    );
    assert_eq!(c.cmd("RCPT TO:<someone@remote.test>"), "250 2.1.5 Ok");
    let req = seen.lock().unwrap().clone();
    assert!(req.contains("\nsasl_method=PLAIN\n"), "{req}");
    // The name libsasl2 reports: with the realm of smtpd_sasl_local_domain.
    assert!(
        req.contains("\nsasl_username=alice@example.test\n"),
        "{req}"
    );
    assert!(req.contains("\nsasl_sender=alice@b.test\n"), "{req}");
}
