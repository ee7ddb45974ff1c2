//! Relaying and remote delivery against real peers: a second Postern instance, Postfix's
//! smtp-sink with its fault injection, and MX lookups answered by a fake DNS server on
//! loopback. Nothing leaves 127.0.0.0/8.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Stdio};

use common::{Instance, free_port, postfix_tool, wait_for};
use postern::dns::testserver::{FakeDns, Zone};

/// smtp-sink on 127.0.0.1:port with extra options; killed on drop.
struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sink(port: u16, opts: &[&str]) -> Option<Sink> {
    let mut cmd = postfix_tool("smtp-sink")?;
    if postern::sys::is_root() {
        cmd.args(["-u", "nobody"]);
    }
    let child = cmd
        .args(opts)
        .arg(format!("127.0.0.1:{}", port))
        .arg("10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start smtp-sink");
    assert!(
        wait_for(10, || TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "smtp-sink did not start"
    );
    Some(Sink(child))
}

/// Send one message through `inst` from its test user to `rcpts`; returns the queue ID.
fn send(inst: &Instance, rcpts: &[&str], body: &str) -> String {
    let args: Vec<String> = rcpts.iter().map(|r| format!("<{}>", r)).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    inst.send(&inst.local_address(), &refs, "relay test", body)
}

fn line_for<'a>(log: &'a str, id: &str, to: &str) -> Option<&'a str> {
    log.lines()
        .find(|l| l.contains(&format!("{}: to=<{}>", id, to)))
}

#[test]
fn two_instances_relay_to_each_other() {
    let b = Instance::new(&[("mydestination", "$myhostname, localhost, b.test")]);
    b.newaliases();
    b.start();
    let a = Instance::new(&[(
        "transport_maps",
        &format!("inline:{{ b.test=smtp:[127.0.0.1]:{} }}", b.port),
    )]);
    a.newaliases();
    a.start();
    let id = send(&a, &[&format!("{}@b.test", b.user)], "across two instances");
    assert!(
        wait_for(20, || b.mbox(&b.user).contains("across two instances")),
        "A:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    assert!(wait_for(10, || a
        .log()
        .contains(&format!("{}: removed", id))));
    let log = a.log();
    let line =
        line_for(&log, &id, &format!("{}@b.test", b.user)).unwrap_or_else(|| panic!("{}", log));
    assert!(
        line.contains(&format!("relay=127.0.0.1[127.0.0.1]:{}, delay=", b.port))
            && line.contains("dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "),
        "{}",
        line
    );
    assert!(line.contains("postfix/smtp["), "{}", line);
    let mbox = b.mbox(&b.user);
    assert_eq!(
        mbox.matches("across two instances").count(),
        1,
        "delivered once"
    );
    assert!(
        mbox.contains("by www.a.org (Postfix) with ESMTP id"),
        "B's Received: header"
    );
    a.stop();
    b.stop();
}

#[test]
fn smtp_sink_faults_defer_bounce_or_deliver_once() {
    let ok_port = free_port();
    let soft_port = free_port();
    let hard_port = free_port();
    let drop_port = free_port();
    let Some(_ok) = sink(ok_port, &[]) else {
        return;
    };
    let Some(_soft) = sink(soft_port, &["-r", "rcpt"]) else {
        return;
    };
    let Some(_hard) = sink(hard_port, &["-f", "rcpt"]) else {
        return;
    };
    let Some(_drop) = sink(drop_port, &["-q", "."]) else {
        return;
    };
    let maps = format!(
        "inline:{{ ok.test=smtp:[127.0.0.1]:{}, soft.test=smtp:[127.0.0.1]:{}, hard.test=smtp:[127.0.0.1]:{}, drop.test=smtp:[127.0.0.1]:{} }}",
        ok_port, soft_port, hard_port, drop_port
    );
    let inst = Instance::new(&[("transport_maps", &maps), ("minimal_backoff_time", "600s")]);
    inst.newaliases();
    inst.start();
    let id = send(
        &inst,
        &["u@ok.test", "u@soft.test", "u@hard.test", "u@drop.test"],
        "fault injection",
    );
    assert!(
        wait_for(30, || ["ok", "soft", "hard", "drop"].iter().all(|d| {
            line_for(&inst.log(), &id, &format!("u@{}.test", d)).is_some()
        })),
        "{}",
        inst.log()
    );
    let log = inst.log();
    let ok = line_for(&log, &id, "u@ok.test").unwrap();
    assert!(
        ok.contains("dsn=2.0.0, status=sent (250 2.0.0 Ok)"),
        "{}",
        ok
    );
    let soft = line_for(&log, &id, "u@soft.test").unwrap();
    assert!(
        soft.contains(
            "status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed (in reply to RCPT TO command))"
        ),
        "{}",
        soft
    );
    let hard = line_for(&log, &id, "u@hard.test").unwrap();
    assert!(
        hard.contains("status=bounced (host 127.0.0.1[127.0.0.1] said: 5")
            && hard.contains("(in reply to RCPT TO command))"),
        "{}",
        hard
    );
    let dropped = line_for(&log, &id, "u@drop.test").unwrap();
    assert!(
        dropped.contains("status=deferred (lost connection with 127.0.0.1[127.0.0.1] while"),
        "{}",
        dropped
    );
    // The hard failure goes back to the sender; the deferred ones stay queued.
    assert!(wait_for(20, || inst
        .mbox(&inst.user)
        .contains("Undelivered Mail Returned to Sender")));
    assert_eq!(inst.queue_files("deferred"), vec![id.clone()]);
    // A retry does not send again to the recipient the sink already accepted.
    assert!(inst.postfix(&["flush"]).status.success());
    assert!(
        wait_for(20, || inst
            .log()
            .matches(&format!("{}: to=<u@soft.test>", id))
            .count()
            >= 2),
        "{}",
        inst.log()
    );
    assert_eq!(
        inst.log()
            .matches(&format!("{}: to=<u@ok.test>", id))
            .count(),
        1,
        "sent exactly once"
    );
    inst.stop();
}

#[test]
fn mx_lookup_preference_nxdomain_and_servfail() {
    let port = free_port();
    let Some(_sink) = sink(port, &[]) else { return };
    let dns = FakeDns::start(
        Zone::new()
            .mx("mx.test", 10, "mx1.mx.test")
            .mx("mx.test", 20, "mx2.mx.test")
            // Nothing listens on 127.0.0.2: the first MX refuses, the second takes the mail.
            .a("mx1.mx.test", Ipv4Addr::new(127, 0, 0, 2))
            .a("mx2.mx.test", Ipv4Addr::new(127, 0, 0, 1))
            .a("nomx.test", Ipv4Addr::new(127, 0, 0, 1))
            .servfail("servfail.test"),
    )
    .unwrap();
    let inst = Instance::new(&[
        ("smtp_tcp_port", &port.to_string()),
        ("minimal_backoff_time", "600s"),
    ]);
    inst.newaliases();
    inst.start_env(&[("POSTERN_DNS_SERVER", &dns.addr().to_string())]);
    let id = send(
        &inst,
        &[
            "u@mx.test",
            "u@nomx.test",
            "u@nxdomain.test",
            "u@servfail.test",
        ],
        "mx",
    );
    assert!(
        wait_for(30, || ["mx", "nomx", "nxdomain", "servfail"].iter().all(
            |d| line_for(&inst.log(), &id, &format!("u@{}.test", d)).is_some()
        )),
        "{}",
        inst.log()
    );
    let log = inst.log();
    assert!(
        log.contains(&format!(
            "connect to mx1.mx.test[127.0.0.2]:{}: Connection refused",
            port
        )),
        "{}",
        log
    );
    let mx = line_for(&log, &id, "u@mx.test").unwrap();
    assert!(
        mx.contains(&format!("relay=mx2.mx.test[127.0.0.1]:{}", port))
            && mx.contains("status=sent"),
        "{}",
        mx
    );
    let nomx = line_for(&log, &id, "u@nomx.test").unwrap();
    assert!(
        nomx.contains(&format!("relay=nomx.test[127.0.0.1]:{}", port))
            && nomx.contains("status=sent"),
        "{}",
        nomx
    );
    let nx = line_for(&log, &id, "u@nxdomain.test").unwrap();
    assert!(
        nx.contains("dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=nxdomain.test type=MX: Host not found)"),
        "{}",
        nx
    );
    let sf = line_for(&log, &id, "u@servfail.test").unwrap();
    assert!(
        sf.contains("dsn=4.4.3, status=deferred (Host or domain name not found."),
        "{}",
        sf
    );
    inst.stop();
}

#[test]
fn smtp_sink_faults_at_each_command_and_slow_replies() {
    // (domain, smtp-sink options, expected status and reply context)
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "mailsoft",
            &["-r", "mail"],
            "status=deferred (host 127.0.0.1[127.0.0.1] said: 4",
        ),
        (
            "mailhard",
            &["-f", "mail"],
            "status=bounced (host 127.0.0.1[127.0.0.1] said: 5",
        ),
        ("datahard", &["-f", "data"], "(in reply to DATA command))"),
        (
            "dotsoft",
            &["-r", "."],
            "(in reply to end of DATA command))",
        ),
        ("helosoft", &["-r", "ehlo,helo"], "status=deferred ("),
        ("slow", &["-w", "1"], "status=sent (250 2.0.0 Ok)"),
    ];
    let mut sinks = Vec::new();
    let mut maps = Vec::new();
    for (domain, opts, _) in &cases {
        let port = free_port();
        let Some(s) = sink(port, opts) else { return };
        sinks.push(s);
        maps.push(format!("{}.test=smtp:[127.0.0.1]:{}", domain, port));
    }
    let inst = Instance::new(&[
        (
            "transport_maps",
            &format!("inline:{{ {} }}", maps.join(", ")),
        ),
        ("minimal_backoff_time", "600s"),
    ]);
    inst.newaliases();
    inst.start();
    let rcpts: Vec<String> = cases
        .iter()
        .map(|(d, _, _)| format!("u@{}.test", d))
        .collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let id = send(&inst, &refs, "each command");
    assert!(
        wait_for(60, || rcpts
            .iter()
            .all(|r| line_for(&inst.log(), &id, r).is_some())),
        "{}",
        inst.log()
    );
    let log = inst.log();
    for ((domain, _, want), rcpt) in cases.iter().zip(&rcpts) {
        let line = line_for(&log, &id, rcpt).unwrap();
        assert!(line.contains(want), "{}: {}", domain, line);
    }
    let mail = line_for(&log, &id, "u@mailsoft.test").unwrap();
    assert!(
        mail.contains("(in reply to MAIL FROM command))"),
        "{}",
        mail
    );
    inst.stop();
}

#[test]
fn verified_tls_to_a_postern_smtpd() {
    // B serves STARTTLS with a certificate of a test CA; A relays to it at `verify`,
    // trusting only that CA, and logs Postfix's summary line (smtp_tls_loglevel = 1).
    // A second message at `verify` with a name the certificate lacks waits, unsent.
    let b = Instance::new(&[
        ("mydestination", "$myhostname, localhost, b.test"),
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_received_header", "yes"),
    ]);
    let ca = tls::make_ca(&b.etc, "ca", "Relay Test CA");
    let (cert, key) = tls::make_signed(&b.etc, "server", "smtp.b.test", &ca);
    b.set("smtpd_tls_cert_file", &cert.display().to_string());
    b.set("smtpd_tls_key_file", &key.display().to_string());
    b.newaliases();
    b.start();
    let transport = format!(
        "inline:{{ b.test=smtp:[127.0.0.1]:{}, c.test=verifywrong:[127.0.0.1]:{} }}",
        b.port, b.port
    );
    let a = Instance::new(&[
        ("transport_maps", &transport),
        ("smtp_tls_security_level", "verify"),
        ("smtp_tls_verify_cert_match", "hostname, smtp.b.test"),
        ("smtp_tls_CAfile", &ca.0.display().to_string()),
        ("smtp_tls_loglevel", "1"),
    ]);
    let mut master = std::fs::read_to_string(a.etc.join("master.cf")).unwrap();
    master.push_str("verifywrong unix - - n - - smtp -o smtp_tls_verify_cert_match=nexthop\n");
    std::fs::write(a.etc.join("master.cf"), master).unwrap();
    a.newaliases();
    a.start();
    send(&a, &[&format!("{}@b.test", b.user)], "verified relay");
    assert!(
        wait_for(20, || b.mbox(&b.user).contains("verified relay")),
        "A:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    let head = format!(
        "Verified TLS connection established to 127.0.0.1[127.0.0.1]:{}: TLSv1.3 with cipher TLS_",
        b.port
    );
    assert!(wait_for(10, || a.log().contains(&head)), "{}", a.log());
    assert!(b.mbox(&b.user).contains("(using TLSv1.3 with cipher"));
    let id = send(&a, &[&format!("{}@c.test", b.user)], "wrong name");
    assert!(
        wait_for(20, || a.log().contains(&format!(
            "{}: to=<{}@c.test>, relay=127.0.0.1[127.0.0.1]:{}",
            id, b.user, b.port
        ))),
        "{}",
        a.log()
    );
    let log = a.log();
    let line = line_for(&log, &id, &format!("{}@c.test", b.user)).unwrap();
    assert!(
        line.contains("dsn=4.7.5, status=deferred (Server certificate not verified)"),
        "{}",
        line
    );
    assert!(!b.mbox(&b.user).contains("wrong name"));
    a.stop();
    b.stop();
}

#[test]
fn smtpd_mandatory_protocols_refuse_an_older_client() {
    // B requires TLS 1.3 at `encrypt` (smtpd_tls_mandatory_protocols); A's client offers
    // TLS 1.2 at most: the handshake fails and the mail waits at A, unsent.
    let b = Instance::new(&[
        ("mydestination", "$myhostname, localhost, b.test"),
        ("smtpd_tls_security_level", "encrypt"),
        ("smtpd_tls_mandatory_protocols", ">=TLSv1.3"),
        ("smtpd_tls_protocols", ""),
    ]);
    let ca = tls::make_ca(&b.etc, "ca", "Relay Test CA");
    let (cert, key) = tls::make_signed(&b.etc, "server", "smtp.b.test", &ca);
    b.set("smtpd_tls_cert_file", &cert.display().to_string());
    b.set("smtpd_tls_key_file", &key.display().to_string());
    b.newaliases();
    b.start();
    let transport = format!("inline:{{ b.test=smtp:[127.0.0.1]:{} }}", b.port);
    let a = Instance::new(&[
        ("transport_maps", &transport),
        ("smtp_tls_security_level", "encrypt"),
        ("smtp_tls_mandatory_protocols", "<=TLSv1.2"),
    ]);
    a.newaliases();
    a.start();
    let id = send(&a, &[&format!("{}@b.test", b.user)], "too old");
    let rcpt = format!("{}@b.test", b.user);
    assert!(
        wait_for(20, || line_for(&a.log(), &id, &rcpt).is_some()),
        "{}",
        a.log()
    );
    let log = a.log();
    let line = line_for(&log, &id, &rcpt).unwrap();
    assert!(
        line.contains("dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)"),
        "{}",
        line
    );
    assert!(log.contains(&format!(
        "SSL_connect error to 127.0.0.1[127.0.0.1]:{}: ",
        b.port
    )));
    assert!(!b.mbox(&b.user).contains("too old"));
    a.stop();
    b.stop();
}
