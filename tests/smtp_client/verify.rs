//! TLS verification levels (verify, secure) with a test CA made by the openssl command
//! line, and the levels Postern refuses (dane, dane-only, fingerprint, policy maps).

use super::*;

/// A CA certificate (PEM, written to a file for smtp_tls_CAfile) and a server identity
/// it signed for `mx.test` and `remote.test`; made once per test binary.
struct Pki {
    ca_file: std::path::PathBuf,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (the TLS tests need the openssl command)");
    assert!(
        out.status.success(),
        "openssl {:?}: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("postern-smtpc-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=Postern Test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            &dir,
        );
        openssl(
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=mx.test",
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
            ],
            &dir,
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:mx.test,DNS:remote.test\n",
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-out",
                "srv.pem",
            ],
            &dir,
        );
        Pki {
            ca_file: dir.join("ca.pem"),
            cert: std::fs::read(dir.join("srv.pem")).unwrap(),
            key: std::fs::read(dir.join("srv.key")).unwrap(),
        }
    })
}

fn ca_signed() -> native_tls::Identity {
    let p = pki();
    native_tls::Identity::from_pkcs8(&p.cert, &p.key).unwrap()
}

fn tls_server(id: native_tls::Identity) -> server::Server {
    start(Script {
        tls: Some(id),
        ..Script::default()
    })
}

/// An agent whose MX lookup of remote.test gives mx.test at 127.0.0.1 on the server's port.
fn mx_agent(port: u16, extra: &[(&str, &str)]) -> Smtp {
    let dns = FakeDns::default().mx("remote.test", &[("mx.test", 10, "127.0.0.1")]);
    agent(extra, dns).with_port(port)
}

fn ca() -> &'static str {
    pki().ca_file.to_str().unwrap()
}

#[test]
fn verify_with_a_trusted_ca_delivers_and_logs_verified() {
    let log = maillog();
    let srv = tls_server(ca_signed());
    let a = mx_agent(
        srv.port,
        &[
            ("smtp_tls_security_level", "verify"),
            ("smtp_tls_CAfile", ca()),
        ],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(srv.seen().data_tls, vec![true]);
    let want = format!(
        "Verified TLS connection established to mx.test[127.0.0.1]:{}",
        srv.port
    );
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(text.contains(&want), "{}", text);
}

#[test]
fn verify_checks_the_mx_host_name() {
    // The certificate names mx.test and remote.test, not other.test.
    let srv = tls_server(ca_signed());
    let dns = FakeDns::default().mx("remote.test", &[("other.test", 10, "127.0.0.1")]);
    let a = agent(
        &[
            ("smtp_tls_security_level", "verify"),
            ("smtp_tls_CAfile", ca()),
        ],
        dns,
    )
    .with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].dsn, "4.7.5");
    assert_eq!(out[0].text, "Server certificate not verified");
    assert!(srv.seen().data.is_empty());
}

#[test]
fn secure_checks_the_nexthop_domain() {
    let srv = tls_server(ca_signed());
    let dns = FakeDns::default().mx("remote.test", &[("other.test", 10, "127.0.0.1")]);
    let a = agent(
        &[
            ("smtp_tls_security_level", "secure"),
            ("smtp_tls_CAfile", ca()),
        ],
        dns,
    )
    .with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(srv.seen().data_tls, vec![true]);
}

#[test]
fn verify_with_an_untrusted_certificate_defers_and_sends_nothing() {
    let srv = tls_server(super::tls::identity());
    let a = mx_agent(
        srv.port,
        &[
            ("smtp_tls_security_level", "verify"),
            ("smtp_tls_CAfile", ca()),
        ],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].dsn, "4.7.5");
    assert_eq!(out[0].text, "Server certificate not verified");
    let seen = srv.seen();
    assert!(seen.data.is_empty());
    assert!(
        !seen.cmds().iter().any(|c| c.contains("MAIL FROM")),
        "{:?}",
        seen.cmds()
    );
}

#[test]
fn verify_without_the_ca_defers() {
    // Signed by the test CA, but the CA is not trusted.
    let srv = tls_server(ca_signed());
    let a = mx_agent(srv.port, &[("smtp_tls_security_level", "verify")]);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].dsn, "4.7.5");
    assert!(srv.seen().data.is_empty());
}

#[test]
fn encrypt_with_an_untrusted_certificate_delivers() {
    let srv = tls_server(super::tls::identity());
    let a = mx_agent(srv.port, &[("smtp_tls_security_level", "encrypt")]);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(srv.seen().data_tls, vec![true]);
}

#[test]
fn an_unreadable_ca_file_defers() {
    let srv = tls_server(ca_signed());
    let a = mx_agent(
        srv.port,
        &[
            ("smtp_tls_security_level", "verify"),
            ("smtp_tls_CAfile", "/nonexistent/ca.pem"),
        ],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].dsn, "4.7.5");
    assert_eq!(
        out[0].text,
        "TLS is required, but our TLS engine is unavailable"
    );
    assert_eq!(srv.seen().connections, 0);
}

#[test]
fn dane_fingerprint_and_policy_maps_are_refused_not_weakened() {
    for (k, v) in [
        ("smtp_tls_security_level", "dane"),
        ("smtp_tls_security_level", "dane-only"),
        ("smtp_tls_security_level", "fingerprint"),
        ("smtp_tls_security_level", "bogus"),
        ("smtp_tls_policy_maps", "hash:/etc/postfix/tls_policy"),
    ] {
        let srv = tls_server(super::tls::identity());
        let a = mx_agent(srv.port, &[(k, v)]);
        let out = send(&a, "remote.test", &["a@remote.test"], MSG);
        assert_eq!(out[0].status, Status::Deferred, "{}: {:?}", v, out);
        assert_eq!(out[0].dsn, "4.7.5");
        assert!(out[0].text.contains("not supported"), "{}", out[0].text);
        assert_eq!(srv.seen().connections, 0, "{}", v);
    }
}
