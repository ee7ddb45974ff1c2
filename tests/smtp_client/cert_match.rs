//! The server certificate checks of the verify and secure levels as Postfix 2.10 makes
//! them (every entry of the match list, dot-nexthop, literal names, wildcards,
//! subjectAltNames before the CommonName), the trusted roots (smtp_tls_CApath), and the
//! TLS log lines of smtp_tls_loglevel 1 and 2, against certificates made by the openssl
//! command line and signed by the test CA of `verify`.

use super::verify::{ca, issue, log_has, pki, tls_server};
use super::*;

/// Deliver to remote.test, whose MX host is `mx` (at 127.0.0.1), with `extra` settings
/// and the test CA trusted, to a server presenting `id`. Returns the outcome and the
/// server's port; asserts that nothing was sent when the mail was not.
fn deliver(mx: &str, id: native_tls::Identity, extra: &[(&str, &str)]) -> (Outcome, u16) {
    let srv = tls_server(id);
    let dns = FakeDns::default().mx("remote.test", &[(mx, 10, "127.0.0.1")]);
    let mut set = vec![("smtp_tls_CAfile", ca())];
    set.extend_from_slice(extra);
    let a = agent(&set, dns).with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG).remove(0);
    if out.status != Status::Sent {
        let seen = srv.seen();
        assert!(seen.data.is_empty());
        assert!(!seen.cmds().iter().any(|c| c.contains("MAIL FROM")));
    }
    (out, srv.port)
}

fn verify(mx: &str, id: native_tls::Identity, matching: &str) -> Outcome {
    let set = [
        ("smtp_tls_security_level", "verify"),
        ("smtp_tls_verify_cert_match", matching),
    ];
    deliver(mx, id, &set).0
}

fn secure(mx: &str, id: native_tls::Identity) -> Outcome {
    deliver(mx, id, &[("smtp_tls_security_level", "secure")]).0
}

fn not_verified(o: &Outcome) {
    assert_eq!(o.status, Status::Deferred, "{:?}", o);
    assert_eq!(o.dsn, "4.7.5");
    assert_eq!(o.text, "Server certificate not verified");
}

#[test]
fn hostname_matches_the_mx_host_and_nothing_else() {
    let id = || issue("mx.test", Some("DNS:mx.test"));
    assert_eq!(verify("mx.test", id(), "hostname").status, Status::Sent);
    not_verified(&verify("other.test", id(), "hostname"));
}

#[test]
fn nexthop_and_dot_nexthop() {
    // secure's default, `nexthop, dot-nexthop`: the domain itself or any subdomain.
    let o = secure("mx.elsewhere.test", issue("x", Some("DNS:remote.test")));
    assert_eq!(o.status, Status::Sent, "{:?}", o);
    let o = secure("mx.elsewhere.test", issue("x", Some("DNS:a.b.remote.test")));
    assert_eq!(o.status, Status::Sent, "{:?}", o);
    not_verified(&secure(
        "mx.remote.test",
        issue("x", Some("DNS:notremote.test")),
    ));
    not_verified(&secure(
        "mx.remote.test",
        issue("x", Some("DNS:remote.test.evil")),
    ));
}

#[test]
fn any_entry_of_the_list_may_match_any_name() {
    let id = || issue("x", Some("DNS:one.test,DNS:relay.example"));
    let list = "nowhere.test, hostname, relay.example";
    assert_eq!(verify("mx.test", id(), list).status, Status::Sent);
    let list = "nowhere.test .example";
    assert_eq!(verify("mx.test", id(), list).status, Status::Sent);
    not_verified(&verify("mx.test", id(), "nowhere.test, .relay.example"));
}

#[test]
fn wildcards_match_one_label() {
    let id = || issue("x", Some("DNS:*.remote.test"));
    assert_eq!(
        verify("mx.remote.test", id(), "hostname").status,
        Status::Sent
    );
    not_verified(&verify("a.mx.remote.test", id(), "hostname"));
    not_verified(&verify("remote.test", id(), "hostname"));
}

#[test]
fn subject_alt_names_come_before_the_common_name() {
    // The CN names the host but the altnames do not: not verified.
    not_verified(&verify(
        "mx.test",
        issue("mx.test", Some("DNS:other.test")),
        "hostname",
    ));
    // Without altnames the CN is the name.
    assert_eq!(
        verify("mx.test", issue("mx.test", None), "hostname").status,
        Status::Sent
    );
}

#[test]
fn ca_path_is_a_hashed_directory() {
    let dir = pki().dir.join("capath");
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-hash", "-noout", "-in"])
        .arg(&pki().ca_file)
        .output()
        .unwrap();
    let hash = String::from_utf8(out.stdout).unwrap();
    std::fs::copy(&pki().ca_file, dir.join(format!("{}.0", hash.trim()))).unwrap();
    let srv = tls_server(issue("mx.test", Some("DNS:mx.test")));
    let dns = FakeDns::default().mx("remote.test", &[("mx.test", 10, "127.0.0.1")]);
    let set = [
        ("smtp_tls_security_level", "verify"),
        ("smtp_tls_CApath", dir.to_str().unwrap()),
    ];
    let a = agent(&set, dns).with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
}

/// The summary line for `trust` at `port`, checked against Postfix's form.
fn summary(trust: &str, host: &str, port: u16) {
    let head = format!(
        "{} TLS connection established to {}[127.0.0.1]:{}: ",
        trust, host, port
    );
    let text = std::fs::read_to_string(maillog()).unwrap_or_default();
    let line = text.lines().find(|l| l.contains(&head));
    let line = line.unwrap_or_else(|| panic!("no {:?} in\n{}", head, text));
    let rest = &line[line.find(&head).unwrap() + head.len()..];
    // `TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)`
    let words: Vec<&str> = rest.split(' ').collect();
    assert!(words[0].starts_with("TLSv1."), "{}", rest);
    assert_eq!(&words[1..3], ["with", "cipher"], "{}", rest);
    assert!(!words[3].is_empty(), "{}", rest);
    let bits = words[4];
    assert!(bits.starts_with('(') && words[5] == "bits)", "{}", rest);
    let (used, alg) = bits[1..].split_once('/').unwrap();
    assert!(
        used.parse::<u32>().unwrap() >= 128 && alg.parse::<u32>().is_ok(),
        "{}",
        rest
    );
}

#[test]
fn loglevel_1_names_the_trust_protocol_and_cipher() {
    let lv = ("smtp_tls_loglevel", "1");
    let id = || issue("mx.test", Some("DNS:mx.test"));
    let (o, port) = deliver(
        "mx.test",
        id(),
        &[("smtp_tls_security_level", "verify"), lv],
    );
    assert_eq!(o.status, Status::Sent);
    summary("Verified", "mx.test", port);
    // Trusted chain, name not checked below verify.
    let (o, port) = deliver(
        "mx.test",
        id(),
        &[("smtp_tls_security_level", "encrypt"), lv],
    );
    assert_eq!(o.status, Status::Sent);
    summary("Trusted", "mx.test", port);
    // Trusted chain, wrong name at verify: logged as Trusted, then refused.
    let (o, port) = deliver(
        "other.test",
        id(),
        &[("smtp_tls_security_level", "verify"), lv],
    );
    not_verified(&o);
    summary("Trusted", "other.test", port);
    // Self-signed.
    let self_signed = super::tls::identity();
    let (o, port) = deliver(
        "mx.test",
        self_signed,
        &[("smtp_tls_security_level", "may"), lv],
    );
    assert_eq!(o.status, Status::Sent);
    summary("Untrusted", "mx.test", port);
    // Below verify a chain failure is not logged at level 1.
    let at = format!("[127.0.0.1]:{}: self-signed", port);
    assert!(!log_has(&at));
}

#[test]
fn loglevel_2_logs_the_names_and_the_certificate() {
    let id = issue("mx.test", Some("DNS:other.test,DNS:mx.test"));
    let set = [
        ("smtp_tls_security_level", "verify"),
        ("smtp_tls_loglevel", "2"),
    ];
    let (o, port) = deliver("mx.test", id, &set);
    assert_eq!(o.status, Status::Sent);
    let at = format!("mx.test[127.0.0.1]:{}", port);
    assert!(log_has(&format!("{}: subjectAltName: other.test", at)));
    assert!(log_has(&format!("{}: Matched subjectAltName: mx.test", at)));
    let cert = format!(
        "{}: subject_CN=mx.test, issuer_CN=Postern Test CA, fingerprint=",
        at
    );
    assert!(log_has(&cert), "{}", cert);
    assert!(log_has(", pkey_fingerprint="));
    summary("Verified", "mx.test", port);
}
