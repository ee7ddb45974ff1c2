//! STARTTLS with a self-signed certificate made by the openssl command line.

use super::*;

/// The test certificate and key (PEM), made once per test binary: the tests run in
/// parallel, and each would otherwise rewrite the same files while another reads them.
pub fn identity() -> native_tls::Identity {
    static PEM: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    let (cert, key) = PEM.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("postern-smtpc-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        let cert = dir.join("cert.pem");
        let out = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=mx.remote.test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl (the TLS tests need the openssl command; .ci/run installs it)");
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        pem
    });
    native_tls::Identity::from_pkcs8(cert, key).unwrap()
}

#[test]
fn may_uses_starttls_when_offered() {
    let srv = start(Script {
        tls: Some(identity()),
        ..Script::default()
    });
    let a = agent(&[("smtp_tls_security_level", "may")], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let seen = srv.seen();
    assert_eq!(
        seen.cmds()[..3],
        ["0:EHLO client.test", "0:STARTTLS", "0:EHLO client.test"]
    );
    assert_eq!(seen.data_tls, vec![true]);
}

#[test]
fn without_a_level_starttls_is_not_used() {
    let srv = start(Script {
        tls: Some(identity()),
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent);
    assert_eq!(srv.seen().data_tls, vec![false]);
    assert!(!srv.seen().cmds().contains(&"0:STARTTLS".to_string()));
}

#[test]
fn may_falls_back_to_plaintext_when_the_handshake_fails() {
    let srv = start(Script {
        tls: Some(identity()),
        break_tls: true,
        ..Script::default()
    });
    let a = agent(&[("smtp_tls_security_level", "may")], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let seen = srv.seen();
    assert_eq!(seen.connections, 2);
    assert_eq!(seen.data_tls, vec![false]);
    assert!(seen.cmds().contains(&"1:EHLO client.test".to_string()));
    assert!(!seen.cmds().contains(&"1:STARTTLS".to_string()));
}

#[test]
fn encrypt_requires_starttls() {
    let srv = start(Script::default());
    let a = agent(
        &[("smtp_tls_security_level", "encrypt")],
        FakeDns::default(),
    );
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(out[0].dsn, "4.7.4");
    assert_eq!(
        out[0].text,
        "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]"
    );
    assert!(srv.seen().data.is_empty());

    let srv = start(Script {
        tls: Some(identity()),
        ..Script::default()
    });
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(srv.seen().data_tls, vec![true]);
}

#[test]
fn encrypt_does_not_fall_back_after_a_failed_handshake() {
    let srv = start(Script {
        tls: Some(identity()),
        break_tls: true,
        ..Script::default()
    });
    let a = agent(
        &[("smtp_tls_security_level", "encrypt")],
        FakeDns::default(),
    );
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(out[0].dsn, "4.7.5");
    assert!(
        out[0]
            .text
            .starts_with("Cannot start TLS: handshake failure"),
        "{}",
        out[0].text
    );
    assert!(srv.seen().data.is_empty());
}

#[test]
fn plaintext_sent_ahead_of_the_handshake_is_discarded() {
    // The server (or a man in the middle) sends a reply ahead of the handshake; were it
    // kept, it would be read as the reply to the EHLO inside TLS and end the session.
    let srv = start(Script {
        tls: Some(identity()),
        inject_after_starttls: Some("554 5.7.0 injected".into()),
        ..Script::default()
    });
    let a = agent(
        &[("smtp_tls_security_level", "encrypt")],
        FakeDns::default(),
    );
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(srv.seen().data_tls, vec![true]);
}

#[test]
fn protocol_lists_bound_the_handshake() {
    // The scripted server speaks TLS 1.2 at most (native-tls's server).
    let srv = start(Script {
        tls: Some(identity()),
        ..Script::default()
    });
    let set = [
        ("smtp_tls_security_level", "encrypt"),
        (
            "smtp_tls_mandatory_protocols",
            "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.2",
        ),
    ];
    let a = agent(&set, FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].text, "Cannot start TLS: handshake failure");
    assert!(srv.seen().data.is_empty());
    // At `may` smtp_tls_protocols applies (and the mandatory list does not).
    let srv = start(Script {
        tls: Some(identity()),
        ..Script::default()
    });
    let set = [
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_mandatory_protocols", ">=TLSv1.3"),
        ("smtp_tls_protocols", "TLSv1.2"),
    ];
    let a = agent(&set, FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(srv.seen().data_tls, vec![true]);
    // A malformed list is not a weaker default: the mail waits.
    let set = [
        ("smtp_tls_security_level", "encrypt"),
        ("smtp_tls_mandatory_protocols", "TLSv9"),
    ];
    let a = agent(&set, FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].dsn, "4.7.5");
}
