//! TLS verification levels (verify, secure) with a test CA made by the openssl command
//! line, and the levels Postern refuses (dane, dane-only, fingerprint, policy maps).

use super::*;

/// The test CA (PEM file for smtp_tls_CAfile, made once per test binary) and its key.
pub struct Pki {
    pub dir: std::path::PathBuf,
    pub ca_file: std::path::PathBuf,
}

pub fn openssl(args: &[&str], dir: &Path) {
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

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

pub fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("postern-smtpc-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = vec!["req", "-x509"];
        args.extend(EC);
        args.extend([
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Postern Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&args, &dir);
        Pki {
            ca_file: dir.join("ca.pem"),
            dir,
        }
    })
}

/// A server identity signed by the test CA with subject CN `cn` and, unless `None`, the
/// subjectAltName `san` (`DNS:a.test,DNS:b.test`).
pub fn issue(cn: &str, san: Option<&str>) -> native_tls::Identity {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let p = pki();
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = p.dir.join(format!("leaf{}", n));
    std::fs::create_dir_all(&dir).unwrap();
    let subj = format!("/CN={}", cn);
    let mut args = vec!["req"];
    args.extend(EC);
    args.extend([
        "-nodes", "-subj", &subj, "-keyout", "srv.key", "-out", "srv.csr",
    ]);
    openssl(&args, &dir);
    let ext = match san {
        Some(s) => format!("subjectAltName={}\n", s),
        None => "basicConstraints=CA:FALSE\n".to_string(),
    };
    std::fs::write(dir.join("ext.cnf"), ext).unwrap();
    let ca = p.ca_file.to_str().unwrap();
    let ca_key = p.dir.join("ca.key");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            ca,
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-set_serial",
            &(1000 + n).to_string(),
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "srv.pem",
        ],
        &dir,
    );
    let cert = std::fs::read(dir.join("srv.pem")).unwrap();
    let key = std::fs::read(dir.join("srv.key")).unwrap();
    native_tls::Identity::from_pkcs8(&cert, &key).unwrap()
}

fn ca_signed() -> native_tls::Identity {
    issue("mx.test", Some("DNS:mx.test,DNS:remote.test"))
}

pub fn tls_server(id: native_tls::Identity) -> server::Server {
    // The log lines of the session go to this binary's maillog.
    maillog();
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

pub fn ca() -> &'static str {
    pki().ca_file.to_str().unwrap()
}

#[test]
fn verify_with_a_trusted_ca_delivers() {
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
    // smtp_tls_loglevel = 0 (the default): no summary line.
    let port = format!("[127.0.0.1]:{}", srv.port);
    assert!(!log_has(&format!(
        "TLS connection established to mx.test{}",
        port
    )));
}

/// The maillog holds `line` (this binary's log; each test's server has its own port).
pub fn log_has(line: &str) -> bool {
    std::fs::read_to_string(maillog())
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(line))
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
fn secure_does_not_trust_the_mx_host_name_by_default() {
    // The certificate names only the MX host: 2.10's secure default (nexthop,
    // dot-nexthop) does not accept a name that came from an MX lookup ...
    let dns = || FakeDns::default().mx("remote.test", &[("mx.other.test", 10, "127.0.0.1")]);
    let srv = tls_server(issue("mx.other.test", Some("DNS:mx.other.test")));
    let set = [
        ("smtp_tls_security_level", "secure"),
        ("smtp_tls_CAfile", ca()),
    ];
    let a = agent(&set, dns()).with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].text, "Server certificate not verified");
    assert!(srv.seen().data.is_empty());
    // ... unless smtp_tls_secure_cert_match lists `hostname` (2.10 has no DNSSEC: the MX
    // name is used as DNS gave it, as postconf(5) warns).
    let srv = tls_server(issue("mx.other.test", Some("DNS:mx.other.test")));
    let mut set = set.to_vec();
    set.push(("smtp_tls_secure_cert_match", "hostname"));
    let a = agent(&set, dns()).with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
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
    assert_eq!(out[0].text, "Server certificate not trusted");
    let want = format!(
        "certificate verification failed for mx.test[127.0.0.1]:{}: self-signed certificate",
        srv.port
    );
    assert!(log_has(&want), "{}", want);
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
    assert_eq!(out[0].text, "Server certificate not trusted");
    let want = format!(
        "certificate verification failed for mx.test[127.0.0.1]:{}: untrusted issuer /CN=Postern Test CA",
        srv.port
    );
    assert!(log_has(&want), "{}", want);
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
