//! STARTTLS replies and gates over an in-memory stream (no TLS client here: a handshake
//! attempt reads the rest of the scripted input and fails). The handshakes themselves are
//! tested against the started server in tests/smtpd_tls.rs.

use super::*;

/// A self-signed certificate and key made once per test binary by `openssl req`.
fn cert_files() -> &'static (String, String) {
    static FILES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("postern-sd-tlscert-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let out = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=www.a.org", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (cert.display().to_string(), key.display().to_string())
    })
}

fn with_cert(tag: &str, extra: &[(&str, &str)]) -> Fixture {
    let (cert, key) = cert_files();
    let mut pairs = vec![
        ("smtpd_tls_cert_file", cert.as_str()),
        ("smtpd_tls_key_file", key.as_str()),
    ];
    pairs.extend_from_slice(extra);
    fixture(tag, &pairs)
}

#[test]
fn without_tls_starttls_is_not_implemented() {
    let f = fixture("tls-none", &[]);
    let out = talk(&f, "EHLO h\r\nSTARTTLS\r\nQUIT\r\n");
    assert!(!out.iter().any(|l| l.contains("STARTTLS")));
    assert_eq!(
        after_ehlo(&out)[..],
        ["502 5.5.1 Error: command not implemented", "221 2.0.0 Bye"]
    );
}

#[test]
fn without_a_certificate_starttls_is_a_local_problem() {
    let f = fixture("tls-nocert", &[("smtpd_tls_security_level", "may")]);
    let out = talk(&f, "EHLO h\r\nSTARTTLS\r\nQUIT\r\n");
    assert!(!out.iter().any(|l| l.contains("STARTTLS")));
    assert_eq!(
        after_ehlo(&out)[..],
        [
            "454 4.7.0 TLS not available due to local problem",
            "221 2.0.0 Bye"
        ]
    );
}

#[test]
fn offered_with_a_certificate_and_arguments_refused() {
    let f = with_cert("tls-offer", &[("smtpd_tls_security_level", "may")]);
    assert!(f.ctx.tls.acceptor.is_some(), "the test certificate loads");
    let out = talk(&f, "EHLO h\r\nSTARTTLS now\r\nQUIT\r\n");
    assert_eq!(out[6], "250-STARTTLS");
    assert_eq!(
        after_ehlo(&out)[..],
        ["501 5.5.4 Syntax: STARTTLS", "221 2.0.0 Bye"]
    );
}

#[test]
fn one_file_with_key_and_certificate_is_enough() {
    // smtpd_tls_key_file defaults to $smtpd_tls_cert_file, as in Postfix.
    let (cert, key) = cert_files();
    let both = std::env::temp_dir().join(format!("postern-sd-both-{}.pem", std::process::id()));
    let mut pem = std::fs::read(key).unwrap();
    pem.extend(std::fs::read(cert).unwrap());
    std::fs::write(&both, pem).unwrap();
    let f = fixture(
        "tls-both",
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_cert_file", &both.display().to_string()),
        ],
    );
    assert!(f.ctx.tls.acceptor.is_some());
    // smtpd_tls_chain_files (key, then its chain) takes precedence over the pair.
    let f = fixture(
        "tls-chain",
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_cert_file", "/nonexistent/cert.pem"),
            ("smtpd_tls_chain_files", &both.display().to_string()),
        ],
    );
    let _ = std::fs::remove_file(&both);
    assert!(f.ctx.tls.acceptor.is_some());
}

#[test]
fn a_traditional_rsa_key_works_and_a_bad_key_disables_tls() {
    let (cert, key) = cert_files();
    let rsa = std::env::temp_dir().join(format!("postern-sd-rsa-{}.key", std::process::id()));
    let out = std::process::Command::new("openssl")
        .args(["rsa", "-traditional", "-in", key, "-out"])
        .arg(&rsa)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let with_key = |tag: &str, k: &str| {
        fixture(
            tag,
            &[
                ("smtpd_tls_security_level", "may"),
                ("smtpd_tls_cert_file", cert),
                ("smtpd_tls_key_file", k),
            ],
        )
    };
    // BEGIN RSA PRIVATE KEY is read as Postfix reads it.
    let f = with_key("tls-rsa", &rsa.display().to_string());
    assert!(f.ctx.tls.acceptor.is_some());
    // Not a key, and a key that does not match the certificate: TLS off, not offered.
    std::fs::write(
        &rsa,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let bad = with_key("tls-badkey", &rsa.display().to_string());
    assert!(bad.ctx.tls.acceptor.is_none());
    assert!(!talk(&bad, "EHLO h\r\nQUIT\r\n").contains(&"250-STARTTLS".to_string()));
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
        ])
        .arg(&rsa)
        .output()
        .expect("run openssl");
    assert!(out.status.success());
    let other = with_key("tls-otherkey", &rsa.display().to_string());
    let _ = std::fs::remove_file(&rsa);
    assert!(other.ctx.tls.acceptor.is_none());
}

#[test]
fn legacy_smtpd_use_tls_offers_it_too() {
    let f = with_cert("tls-legacy", &[("smtpd_use_tls", "yes")]);
    let out = talk(&f, "EHLO h\r\nQUIT\r\n");
    assert!(out.contains(&"250-STARTTLS".to_string()), "{:?}", out);
}

#[test]
fn plaintext_after_starttls_is_never_answered() {
    // CVE-2011-0411: the RSET arrives with STARTTLS, in the clear.
    let f = with_cert("tls-inject", &[("smtpd_tls_security_level", "may")]);
    let out = talk(&f, "EHLO h\r\nSTARTTLS\r\nRSET\r\n");
    assert_eq!(out.last().unwrap(), "220 2.0.0 Ready to start TLS");
    assert_eq!(after_ehlo(&out).len(), 1, "{:?}", out);
}

#[test]
fn encrypt_refuses_mail_before_starttls() {
    let f = with_cert("tls-encrypt", &[("smtpd_tls_security_level", "encrypt")]);
    let out = talk(
        &f,
        "HELO h\r\nMAIL FROM:<a@b>\r\nVRFY root\r\nAUTH PLAIN\r\nNOOP\r\nRSET\r\nFOO\r\nQUIT\r\n",
    );
    let must = "530 5.7.0 Must issue a STARTTLS command first";
    assert_eq!(
        out[1..],
        [
            "250 www.a.org",
            must,
            must,
            must,
            "250 2.0.0 Ok",
            must,
            "500 5.5.2 Error: command not recognized",
            "221 2.0.0 Bye"
        ]
    );
}

#[test]
fn wrapper_mode_greets_only_after_a_handshake() {
    // Plaintext SMTP on a wrapper-mode port is not a TLS handshake: no greeting at all.
    let f = with_cert("tls-wrap", &[("smtpd_tls_wrappermode", "yes")]);
    assert!(talk(&f, "EHLO h\r\nQUIT\r\n").is_empty());
    let f = fixture("tls-wrap-nocert", &[("smtpd_tls_wrappermode", "yes")]);
    assert!(talk(&f, "EHLO h\r\nQUIT\r\n").is_empty());
}

#[test]
fn a_bad_level_is_a_configuration_error() {
    let dir = std::env::temp_dir();
    let cfg = Arc::new(Config::from_pairs(
        &dir,
        &[("smtpd_tls_security_level", "bogus")],
    ));
    let (tx, _rx) = crossbeam_channel::unbounded();
    let err = SmtpdContext::new(cfg, Queue::new(&dir), tx).err().unwrap();
    assert_eq!(err, "invalid smtpd_tls_security_level: bogus");
}

#[test]
fn client_certificate_settings_build_or_disable_tls() {
    let (cert, _) = cert_files();
    // The server certificate doubles as a CA list here: it loads.
    let ok = with_cert(
        "tls-ca",
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_ask_ccert", "yes"),
            ("smtpd_tls_CAfile", cert.as_str()),
        ],
    );
    assert!(ok.ctx.tls.acceptor.is_some() && ok.ctx.tls.ask_ccert);
    assert!(!ok.ctx.tls.require_ccert, "req_ccert is off");
    // A CA file that cannot be read disables TLS rather than trusting nothing silently.
    let bad = with_cert(
        "tls-badca",
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_ask_ccert", "yes"),
            ("smtpd_tls_CAfile", "/nonexistent/ca.pem"),
        ],
    );
    assert!(bad.ctx.tls.acceptor.is_none());
    // req_ccert counts only at level encrypt, and implies asking.
    let req = with_cert(
        "tls-req",
        &[
            ("smtpd_tls_security_level", "encrypt"),
            ("smtpd_tls_req_ccert", "yes"),
            ("smtpd_tls_CAfile", cert.as_str()),
        ],
    );
    assert!(req.ctx.tls.require_ccert && req.ctx.tls.ask_ccert);
    let may = with_cert(
        "tls-req-may",
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_req_ccert", "yes"),
        ],
    );
    assert!(!may.ctx.tls.require_ccert && !may.ctx.tls.ask_ccert);
    // An unknown fingerprint digest disables TLS (Postfix's tls_server_init), a known one
    // is used.
    let digest = |name: &str| {
        with_cert(
            &format!("tls-dgst-{}", name),
            &[
                ("smtpd_tls_security_level", "may"),
                ("smtpd_tls_fingerprint_digest", name),
            ],
        )
    };
    assert!(digest("nosuchdigest").ctx.tls.acceptor.is_none());
    let sha256 = digest("sha256");
    assert!(sha256.ctx.tls.acceptor.is_some());
    assert_eq!(
        sha256.ctx.tls.digest.type_(),
        openssl::hash::MessageDigest::sha256().type_()
    );
}

/// smtpd_discard_ehlo_keywords = starttls: not offered, and refused as Postfix does.
#[test]
fn discarded_starttls_is_not_offered_nor_implemented() {
    let f = with_cert(
        "tls-discard",
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_discard_ehlo_keywords", "StartTLS"),
        ],
    );
    let out = talk(&f, "EHLO h\r\nSTARTTLS\r\nQUIT\r\n");
    assert!(!out.iter().any(|l| l.contains("STARTTLS")), "{out:?}");
    assert_eq!(
        out[out.len() - 2..],
        ["502 5.5.1 Error: command not implemented", "221 2.0.0 Bye"]
    );
}
