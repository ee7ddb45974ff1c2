//! SMTP AUTH in the client (PLAIN, LOGIN): password lookup, security options, failures.

use super::*;

const PLAIN_IR: &str = "AHVzZXIAcGFzcw=="; // base64 of "\0user\0pass"

fn auth_server(mechs: &str, replies: &[&str], tls: bool) -> server::Server {
    start(Script {
        auth: Some((
            mechs.to_string(),
            replies.iter().map(|r| r.to_string()).collect(),
        )),
        tls: tls.then(super::tls::identity),
        ..Script::default()
    })
}

fn sasl_agent(port: u16, extra: &[(&str, &str)]) -> Smtp {
    let mut cfg = vec![
        ("smtp_sasl_auth_enable", "yes"),
        ("smtp_sasl_password_maps", "inline:{ mx.test=user:pass }"),
    ];
    cfg.extend_from_slice(extra);
    let dns = FakeDns::default().mx("remote.test", &[("mx.test", 10, "127.0.0.1")]);
    agent(&cfg, dns).with_port(port)
}

fn no_mail(seen: &server::Seen) {
    assert!(seen.data.is_empty());
    assert!(
        !seen.cmds().iter().any(|c| c.contains("MAIL FROM")),
        "{:?}",
        seen.cmds()
    );
}

#[test]
fn plain_sends_the_credentials_of_the_mx_host_and_delivers() {
    let srv = auth_server(
        "LOGIN PLAIN",
        &["235 2.7.0 Authentication successful"],
        false,
    );
    let a = sasl_agent(srv.port, &[("smtp_sasl_security_options", "noanonymous")]);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let cmds = srv.seen().cmds();
    assert_eq!(
        cmds[..3],
        [
            "0:EHLO client.test".to_string(),
            format!("0:AUTH PLAIN {}", PLAIN_IR),
            "0:MAIL FROM:<s@here.test> SIZE=41".to_string()
        ],
        "{:?}",
        cmds
    );
}

#[test]
fn login_with_the_credentials_of_the_bracketed_next_hop() {
    let srv = auth_server(
        "LOGIN",
        &["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 Ok"],
        false,
    );
    let map = format!("inline:{{ [127.0.0.1]:{}=user:pass }}", srv.port);
    let a = sasl_agent(
        srv.port,
        &[
            ("smtp_sasl_security_options", "noanonymous"),
            ("smtp_sasl_password_maps", &map),
        ],
    );
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let cmds = srv.seen().cmds();
    assert_eq!(
        cmds[1..4],
        ["0:AUTH LOGIN", "0:dXNlcg==", "0:cGFzcw=="],
        "{:?}",
        cmds
    );
}

#[test]
fn a_535_defers_and_sends_no_mail() {
    let srv = auth_server(
        "PLAIN",
        &["535 5.7.8 Error: authentication failed: bad"],
        false,
    );
    let a = sasl_agent(srv.port, &[("smtp_sasl_security_options", "noanonymous")]);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].dsn, "4.7.8");
    assert_eq!(
        out[0].text,
        "SASL authentication failed; server mx.test[127.0.0.1] said: \
         535 5.7.8 Error: authentication failed: bad"
    );
    no_mail(&srv.seen());
}

#[test]
fn a_535_bounces_without_soft_bounce() {
    let srv = auth_server("PLAIN", &["535 5.7.8 Error: authentication failed"], false);
    let a = sasl_agent(
        srv.port,
        &[
            ("smtp_sasl_security_options", "noanonymous"),
            ("smtp_sasl_auth_soft_bounce", "no"),
        ],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Bounced, "{:?}", out);
    assert_eq!(out[0].dsn, "5.7.8");
    no_mail(&srv.seen());
}

#[test]
fn noplaintext_without_tls_attempts_no_auth_and_defers() {
    // Postfix's default options rule out PLAIN and LOGIN (Cyrus SASL's noplaintext).
    let srv = auth_server("PLAIN LOGIN", &["235 2.7.0 Ok"], false);
    let a = sasl_agent(srv.port, &[]);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].dsn, "4.7.0");
    assert_eq!(
        out[0].text,
        "SASL authentication failed; cannot authenticate to server mx.test[127.0.0.1]: \
         no mechanism available"
    );
    let seen = srv.seen();
    assert!(!seen.cmds().iter().any(|c| c.contains("AUTH")));
    no_mail(&seen);
}

#[test]
fn plaintext_allowed_over_tls_authenticates_after_starttls() {
    let srv = auth_server("PLAIN", &["235 2.7.0 Ok"], true);
    let a = sasl_agent(
        srv.port,
        &[
            ("smtp_tls_security_level", "encrypt"),
            ("smtp_sasl_tls_security_options", "noanonymous"),
        ],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let seen = srv.seen();
    assert_eq!(
        seen.cmds()[..4],
        [
            "0:EHLO client.test".to_string(),
            "0:STARTTLS".to_string(),
            "0:EHLO client.test".to_string(),
            format!("0:AUTH PLAIN {}", PLAIN_IR),
        ]
    );
    assert_eq!(seen.data_tls, vec![true]);
}

#[test]
fn mechanism_filter_and_no_entry() {
    let srv = auth_server("PLAIN", &["235 2.7.0 Ok"], false);
    let a = sasl_agent(
        srv.port,
        &[
            ("smtp_sasl_security_options", "noanonymous"),
            ("smtp_sasl_mechanism_filter", "login"),
        ],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert!(
        out[0]
            .text
            .contains("offered no compatible authentication mechanisms"),
        "{}",
        out[0].text
    );
    no_mail(&srv.seen());

    // No password entry for this server: no AUTH, the mail goes as a stranger's.
    let srv = auth_server("PLAIN", &["235 2.7.0 Ok"], false);
    let a = sasl_agent(
        srv.port,
        &[("smtp_sasl_password_maps", "inline:{ other.test=user:pass }")],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert!(!srv.seen().cmds().iter().any(|c| c.contains("AUTH")));
}

#[test]
fn may_with_a_password_does_not_retry_in_plaintext() {
    // Postfix 2.10: a failed opportunistic handshake is not retried without TLS when a
    // password would be sent to this server; the mail waits instead.
    let srv = start(Script {
        auth: Some(("PLAIN".into(), vec!["235 2.7.0 Ok".into()])),
        tls: Some(super::tls::identity()),
        break_tls: true,
        ..Script::default()
    });
    let a = sasl_agent(
        srv.port,
        &[
            ("smtp_tls_security_level", "may"),
            ("smtp_sasl_security_options", "noanonymous"),
        ],
    );
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(out[0].text, "Cannot start TLS: handshake failure");
    let seen = srv.seen();
    assert_eq!(seen.connections, 1);
    assert!(!seen.cmds().iter().any(|c| c.contains("AUTH")));
    no_mail(&seen);
    // Without an entry for the server the plaintext retry happens.
    let srv = start(Script {
        tls: Some(super::tls::identity()),
        break_tls: true,
        ..Script::default()
    });
    let dns = FakeDns::default().mx("remote.test", &[("mx.test", 10, "127.0.0.1")]);
    let set = [
        ("smtp_tls_security_level", "may"),
        ("smtp_sasl_auth_enable", "yes"),
        ("smtp_sasl_password_maps", "inline:{ other.test=user:pass }"),
    ];
    let a = agent(&set, dns).with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(srv.seen().connections, 2);
}

/// Deliver MSG to a@remote.test from `sender`; the AUTH PLAIN line the server got.
fn auth_line_for(a: &Smtp, port: u16, srv: &server::Server, sender: &str) -> String {
    let rcpts = rcpts_of(&["a@remote.test"]);
    let nexthop = lit(port);
    let req = Request {
        queue_id: "ABC123",
        sender,
        arrival: SystemTime::now(),
        content: MSG,
        recipients: &rcpts,
        nexthop: &nexthop,
        ret: None,
        envid: None,
        attrs: &[],
    };
    let out = a.deliver(&req);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let cmds = srv.seen().cmds();
    let last = cmds
        .iter()
        .rev()
        .find(|c| c.contains("AUTH PLAIN"))
        .cloned()
        .unwrap_or_default();
    last.split_once(':')
        .map(|(_, c)| c.to_string())
        .unwrap_or_default()
}

/// AUTH PLAIN's initial response for `user` and `pass`.
fn plain(user: &str, pass: &str) -> String {
    let ir = format!("\0{user}\0{pass}");
    format!(
        "AUTH PLAIN {}",
        postern::sasl::base64::encode(ir.as_bytes())
    )
}

#[test]
fn sender_dependent_authentication_looks_the_sender_up_first() {
    let srv = auth_server("PLAIN", &["235 2.7.0 Ok"], false);
    let map = format!(
        "inline:{{ a@one.test=alice:pw1, @two.test=bob:pw2, [127.0.0.1]:{}=host:pw3, me=local:pw4 }}",
        srv.port
    );
    let settings = [
        ("smtp_sasl_security_options", "noanonymous"),
        ("smtp_sasl_password_maps", map.as_str()),
        ("smtp_sender_dependent_authentication", "yes"),
        ("recipient_delimiter", "+"),
    ];
    let a = sasl_agent(srv.port, &settings);
    let p = srv.port;
    for (sender, user, pass) in [
        ("a@one.test", "alice", "pw1"),
        // Without the extension.
        ("A+list@One.Test", "alice", "pw1"),
        ("x@two.test", "bob", "pw2"),
        // mail_addr_find's keys: the bare local part for our own domain ($myhostname).
        ("me@client.test", "local", "pw4"),
        ("me@three.test", "host", "pw3"),
        // No sender entry, and the null sender: the next hop's.
        ("x@three.test", "host", "pw3"),
        ("", "host", "pw3"),
    ] {
        assert_eq!(
            auth_line_for(&a, p, &srv, sender),
            plain(user, pass),
            "{sender}"
        );
    }
    // Without smtp_sender_dependent_authentication the sender is not asked about.
    let a = sasl_agent(srv.port, &settings[..2]);
    assert_eq!(
        auth_line_for(&a, p, &srv, "a@one.test"),
        plain("host", "pw3")
    );
}
