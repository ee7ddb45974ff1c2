//! TLS in the SMTP server against a started system: STARTTLS with a native-tls client and
//! a delivered message (Received: comment, log line), the CVE-2011-0411 plaintext
//! injection, TLS already active, level encrypt, Postfix's stock `submission` and `smtps`
//! master.cf entries (wrapper mode: the greeting only after the handshake), Python's smtplib, and as
//! root a 0600 root-only key used after the privilege drop and after `postfix reload`.

mod common;
#[path = "common/policy.rs"]
mod policy;
#[path = "common/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Instance;
use tls::{Smtp, handshake, make_cert, plain, starttls};

/// An instance with a certificate and the given settings.
fn instance(extra: &[(&str, &str)]) -> Instance {
    let inst = Instance::new(extra);
    let (cert, key) = make_cert(&inst.etc, "server");
    inst.set("smtpd_tls_cert_file", &cert.display().to_string());
    inst.set("smtpd_tls_key_file", &key.display().to_string());
    inst.newaliases();
    inst
}

#[test]
fn reject_plaintext_session_refuses_until_starttls() {
    let inst = instance(&[
        ("smtpd_tls_security_level", "may"),
        (
            "smtpd_recipient_restrictions",
            "reject_plaintext_session, permit_mynetworks, reject_unauth_destination",
        ),
    ]);
    inst.start();
    let rcpt = format!("RCPT TO:<{}>", inst.local_address());
    let mut c = plain(inst.port);
    c.reply();
    c.cmd("EHLO client.test");
    assert_eq!(c.cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&rcpt), "450 4.7.1 Session encryption is required");
    let mut t = starttls(inst.port);
    t.cmd("EHLO client.test");
    assert_eq!(t.cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(t.cmd(&rcpt), "250 2.1.5 Ok");
    assert!(inst.log().contains("reject: RCPT from "), "{}", inst.log());
}

#[test]
fn a_policy_server_sees_the_encryption() {
    let (policy, seen) = policy::recording();
    let list =
        format!("check_policy_service {policy}, permit_mynetworks, reject_unauth_destination");
    let inst = instance(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_recipient_restrictions", list.as_str()),
    ]);
    inst.start();
    let mut t = starttls(inst.port);
    t.cmd("EHLO client.test");
    assert_eq!(t.cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0 Ok");
    let rcpt = format!("RCPT TO:<{}>", inst.local_address());
    assert_eq!(t.cmd(&rcpt), "250 2.1.5 Ok");
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let req = &reqs[0];
    assert!(req.contains("\nencryption_protocol=TLSv1."), "{req}");
    assert!(!req.contains("\nencryption_cipher=\n"), "{req}");
    assert!(!req.contains("\nencryption_keysize=0\n"), "{req}");
    // No client certificate was verified.
    assert!(req.contains("\nccert_subject=\n"), "{req}");
}

#[test]
fn starttls_then_a_message_is_delivered_with_the_tls_comment() {
    let inst = instance(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_loglevel", "1"),
        ("smtpd_tls_received_header", "yes"),
    ]);
    inst.start();
    let mut c = starttls(inst.port);
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.starts_with("250-www.a.org"), "{}", ehlo);
    assert!(!ehlo.contains("STARTTLS"), "not offered twice: {}", ehlo);
    assert_eq!(c.cmd("STARTTLS"), "554 5.5.1 Error: TLS already active");
    assert_eq!(c.cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{}>", inst.local_address())),
        "250 2.1.5 Ok"
    );
    assert!(c.cmd("DATA").starts_with("354"));
    let r = c.cmd("Subject: over TLS\r\n\r\nhello\r\n.");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{}", r);
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(
        common::wait_for(20, || inst.mbox(&inst.user).contains("hello")),
        "{}",
        inst.log()
    );
    let mbox = inst.mbox(&inst.user);
    assert!(
        mbox.contains("\n\t(using TLSv1.")
            && mbox.contains(" bits))\n\t(No client certificate requested)\n\tby www.a.org")
            && mbox.contains(") with ESMTPS id "),
        "{}",
        mbox
    );
    let log = inst.log();
    assert!(
        log.contains("Anonymous TLS connection established from ")
            && log.contains("[127.0.0.1]: TLSv1."),
        "{}",
        log
    );
}

#[test]
fn plaintext_sent_with_starttls_is_discarded() {
    // CVE-2011-0411: "STARTTLS\r\nRSET\r\n" in one packet; the RSET is never answered.
    let inst = instance(&[("smtpd_tls_security_level", "may")]);
    inst.start();
    let mut c = plain(inst.port);
    c.reply();
    c.cmd("EHLO client.test");
    c.0.write_all(b"STARTTLS\r\nRSET\r\n").unwrap();
    assert_eq!(c.reply(), "220 2.0.0 Ready to start TLS");
    let mut t = Smtp(handshake(c.0));
    // The first reply over TLS answers this EHLO, not the injected RSET.
    let ehlo = t.cmd("EHLO client.test");
    assert!(ehlo.starts_with("250-www.a.org"), "{}", ehlo);
    // HELO was forgotten: the session starts over.
    assert_eq!(t.cmd("QUIT"), "221 2.0.0 Bye");
}

#[test]
fn encrypt_level_needs_starttls_and_a_failed_handshake_is_logged() {
    let inst = instance(&[("smtpd_tls_security_level", "encrypt")]);
    inst.start();
    let mut c = plain(inst.port);
    c.reply();
    c.cmd("EHLO client.test");
    assert_eq!(
        c.cmd("MAIL FROM:<a@remote.test>"),
        "530 5.7.0 Must issue a STARTTLS command first"
    );
    assert_eq!(c.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS");
    // Not a TLS client: the handshake fails and the server hangs up.
    c.0.write_all(b"HELO not-tls\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = c.0.read_to_end(&mut rest);
    assert!(!rest.windows(3).any(|w| w == b"250"), "{:?}", rest);
    assert!(
        common::wait_for(10, || inst
            .log()
            .contains("lost connection after STARTTLS from ")),
        "{}",
        inst.log()
    );
    assert!(
        inst.log().contains("SSL_accept error from "),
        "{}",
        inst.log()
    );
    // A TLS client gets through.
    let mut t = starttls(inst.port);
    t.cmd("EHLO client.test");
    assert_eq!(t.cmd("MAIL FROM:<a@remote.test>"), "250 2.1.0 Ok");
}

#[test]
fn smtpd_timeout_bounds_the_handshake() {
    let inst = instance(&[("smtpd_tls_security_level", "may"), ("smtpd_timeout", "1s")]);
    inst.start();
    let mut c = plain(inst.port);
    c.reply();
    c.cmd("EHLO client.test");
    assert_eq!(c.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS");
    // No ClientHello: the server gives up after $smtpd_timeout and hangs up.
    let mut rest = Vec::new();
    let _ = c.0.read_to_end(&mut rest);
    assert!(
        common::wait_for(10, || inst
            .log()
            .contains("lost connection after STARTTLS from ")),
        "{}",
        inst.log()
    );
    assert!(
        inst.log().contains("[127.0.0.1]: Connection timed out"),
        "{}",
        inst.log()
    );
}

/// Postfix's stock master.cf `submission` and `smtps` entries (as in its master.cf,
/// uncommented), on free loopback ports.
fn stock_entries(sub: u16, smtps: u16) -> String {
    format!(
        "127.0.0.1:{sub} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_client_restrictions=$mua_client_restrictions
  -o smtpd_helo_restrictions=$mua_helo_restrictions
  -o smtpd_sender_restrictions=$mua_sender_restrictions
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
127.0.0.1:{smtps} inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_client_restrictions=$mua_client_restrictions
  -o smtpd_helo_restrictions=$mua_helo_restrictions
  -o smtpd_sender_restrictions=$mua_sender_restrictions
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
"
    )
}

#[test]
fn stock_submission_and_smtps_entries() {
    let inst = instance(&[("smtpd_tls_loglevel", "1")]);
    let (sub, smtps) = (common::free_port(), common::free_port());
    let mut master = std::fs::read_to_string(inst.etc.join("master.cf")).unwrap();
    master.push_str(&stock_entries(sub, smtps));
    std::fs::write(inst.etc.join("master.cf"), master).unwrap();
    inst.start();
    // Port 25 (main.cf: no TLS level) does not offer STARTTLS.
    let mut c = plain(inst.port);
    c.reply();
    assert!(!c.cmd("EHLO client.test").contains("STARTTLS"));
    // submission: encrypt.
    let mut c = plain(sub);
    c.reply();
    c.cmd("EHLO client.test");
    assert_eq!(
        c.cmd("MAIL FROM:<a@remote.test>"),
        "530 5.7.0 Must issue a STARTTLS command first"
    );
    let mut t = starttls(sub);
    t.cmd("EHLO client.test");
    assert_eq!(t.cmd("MAIL FROM:<a@remote.test>"), "250 2.1.0 Ok");
    // smtps: the handshake comes first; the greeting arrives over TLS.
    let (mut w, greeting) = tls::wrapped(smtps);
    assert_eq!(greeting, "220 www.a.org ESMTP Postfix");
    let ehlo = w.cmd("EHLO client.test");
    assert!(!ehlo.contains("STARTTLS"), "{}", ehlo);
    assert_eq!(w.cmd("STARTTLS"), "554 5.5.1 Error: TLS already active");
    assert_eq!(w.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(
        common::wait_for(10, || inst.log().contains("postfix/smtps/smtpd[",)
            && inst.log().contains("Anonymous TLS connection established")),
        "{}",
        inst.log()
    );
}

/// A started instance offering STARTTLS (level may, loglevel 1) on its port and an smtps
/// (wrapper mode) entry on another: the instance and that port.
fn started_with_smtps() -> (Instance, u16) {
    let inst = instance(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_loglevel", "1"),
    ]);
    let smtps = common::free_port();
    let mut master = std::fs::read_to_string(inst.etc.join("master.cf")).unwrap();
    master.push_str(&format!(
        "127.0.0.1:{} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n",
        smtps
    ));
    std::fs::write(inst.etc.join("master.cf"), master).unwrap();
    inst.start();
    (inst, smtps)
}

/// Python's smtplib: STARTTLS (`SMTP.starttls`) and wrapper mode (`SMTP_SSL`), each
/// sending one message.
const SMTPLIB: &str = r#"
import smtplib, ssl, sys
port, smtps, to = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
msg = "Subject: smtplib\r\n\r\nvia smtplib\r\n"
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.starttls(context=ctx)
    s.sendmail("sender@remote.test", [to], msg)
with smtplib.SMTP_SSL("127.0.0.1", smtps, timeout=30, context=ctx) as s:
    s.sendmail("sender@remote.test", [to], msg)
print("sent")
"#;

#[test]
fn python_smtplib_starttls_and_wrapper_mode() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import ssl, smtplib"])
        .output();
    if !common::require(
        probe.is_ok_and(|o| o.status.success()),
        "python3 with ssl is not installed",
    ) {
        return;
    }
    let (inst, smtps) = started_with_smtps();
    let out = std::process::Command::new("python3")
        .args(["-c", SMTPLIB, &inst.port.to_string(), &smtps.to_string()])
        .arg(inst.local_address())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        common::wait_for(20, || inst.mbox(&inst.user).matches("via smtplib").count()
            == 2),
        "{}",
        inst.log()
    );
    // Python's default context offers TLS 1.3, and the server takes it.
    assert!(
        inst.log().contains(
            "Anonymous TLS connection established from localhost[127.0.0.1]: \
             TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
        ),
        "{}",
        inst.log()
    );
}

/// swaks as the walkthrough's admins use it: `--tls` (STARTTLS) on the smtpd port and
/// `--tlsc` (wrapper mode) on an smtps entry, each delivering one message.
#[test]
fn swaks_tls_and_tlsc() {
    let probe = std::process::Command::new("swaks")
        .args(["--support", "--tls"])
        .output();
    if !common::require(
        probe.is_ok_and(|o| o.status.success()),
        "swaks with TLS support (Debian packages swaks, libnet-ssleay-perl) is not installed",
    ) {
        return;
    }
    let (inst, smtps) = started_with_smtps();
    let to = inst.local_address();
    for (mode, port) in [("--tls", inst.port), ("--tlsc", smtps)] {
        let out = std::process::Command::new("swaks")
            .arg(mode)
            .args(["--server", &format!("127.0.0.1:{}", port)])
            .args(["--from", "sender@remote.test", "--to", &to])
            .args(["--header", &format!("Subject: swaks {}", mode)])
            .args(["--helo", "client.test", "--timeout", "20"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "swaks {}: {}", mode, text);
        // swaks marks lines sent and received over TLS with ~.
        assert!(
            text.contains("<~  250 2.0.0 Ok: queued as"),
            "swaks {}: {}",
            mode,
            text
        );
    }
    assert!(
        common::wait_for(20, || {
            let m = inst.mbox(&inst.user);
            m.contains("Subject: swaks --tls\n") && m.contains("Subject: swaks --tlsc\n")
        }),
        "{}",
        inst.log()
    );
}

/// A root-owned 0600 file.
fn root_only(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(path, Some(0), Some(0)).unwrap();
}

/// The DER of the certificate the server at `port` presents after STARTTLS.
fn served_cert(port: u16) -> Vec<u8> {
    let t = starttls(port);
    t.0.peer_certificate().unwrap().unwrap().to_der().unwrap()
}

fn pem_der(cert: &Path) -> Vec<u8> {
    native_tls::Certificate::from_pem(&std::fs::read(cert).unwrap())
        .unwrap()
        .to_der()
        .unwrap()
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn a_root_only_key_works_after_the_drop_and_after_reload() {
    if !common::require_root() {
        return;
    }
    let inst = instance(&[("smtpd_tls_security_level", "may")]);
    let key = inst.etc.join("server.key");
    root_only(&key);
    inst.start();
    assert_eq!(
        served_cert(inst.port),
        pem_der(&inst.etc.join("server.crt"))
    );
    // A new certificate and key under the same names; the reload reads them as root.
    let fresh = inst.dir.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let (cert2, key2) = make_cert(&fresh, "server");
    std::fs::copy(&cert2, inst.etc.join("server.crt")).unwrap();
    std::fs::copy(&key2, &key).unwrap();
    root_only(&key);
    assert!(inst.postfix(&["reload"]).status.success());
    let want = pem_der(&cert2);
    assert!(
        common::wait_for(20, || served_cert(inst.port) == want),
        "{}",
        inst.log()
    );
    assert!(
        !inst.log().contains("disabling TLS support"),
        "{}",
        inst.log()
    );
}

#[test]
fn new_tls_session_rate_limit() {
    // The loopback client must not be an exception (by default $mynetworks is).
    let inst = instance(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_client_new_tls_session_rate_limit", "1"),
        ("smtpd_client_event_limit_exceptions", "192.0.2.1"),
    ]);
    inst.start();
    let mut first = starttls(inst.port);
    assert!(first.cmd("EHLO client.test").starts_with("250-www.a.org"));
    assert_eq!(first.cmd("QUIT"), "221 2.0.0 Bye");
    // The second handshake takes the client over the limit: 421 over TLS, then the end.
    let mut second = starttls(inst.port);
    assert_eq!(
        second.reply(),
        "421 4.7.0 www.a.org Error: too many new TLS sessions from localhost[127.0.0.1]"
    );
    // Already over it: STARTTLS is refused before any handshake; the session goes on.
    let mut third = plain(inst.port);
    third.reply();
    third.cmd("EHLO client.test");
    assert_eq!(
        third.cmd("STARTTLS"),
        "454 4.7.0 Error: too many new TLS sessions from localhost[127.0.0.1]"
    );
    assert_eq!(third.cmd("NOOP"), "250 2.0.0 Ok");
    let log = inst.log();
    assert!(
        log.contains(
            "warning: New TLS session rate limit exceeded: 2 from localhost[127.0.0.1] for service "
        ) && log
            .contains("warning: Refusing STARTTLS request from localhost[127.0.0.1] for service "),
        "{}",
        log
    );
}
