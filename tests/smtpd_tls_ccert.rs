//! The OpenSSL server of smtpd against real clients: TLS 1.3 by default and TLS 1.2 with
//! `smtpd_tls_protocols = !TLSv1.3` (Python's ssl and `openssl s_client -starttls smtp`),
//! and client certificates: smtpd_tls_ask_ccert with smtpd_tls_CAfile (Trusted /
//! Untrusted / Anonymous log lines, the Received: header's `Client CN` comment) and
//! smtpd_tls_req_ccert at level encrypt (421 without a trusted certificate). Certificates
//! come from a test CA made with the openssl command.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::io::Write;

use common::Instance;

/// An instance with a server certificate, a test CA (`ca.crt`, CN "Test CA"), a client
/// certificate it signed (`alice`), one from another CA (`mallory`), and `extra` master.cf
/// lines added after `settings`.
fn instance(settings: &[(&str, &str)], extra: &str) -> Instance {
    tls::ccert_instance(settings, extra, &["alice"], &["mallory"])
}

/// Run a Python script with `args`; its standard output.
fn python(script: &str, args: &[String]) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A message per client certificate over STARTTLS, then EHLO after STARTTLS on the
/// req_ccert port, and a TLS 1.3-only client against the TLS 1.2-only port.
const CLIENTS: &str = r#"
import smtplib, ssl, sys
port, req, no13, to, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def ctx(name, tls13=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if tls13:
        c.minimum_version = ssl.TLSVersion.TLSv1_3
    if name != "none":
        c.load_cert_chain(f"{d}/{name}.crt", f"{d}/{name}.key")
    return c
for name in ["alice", "mallory", "none"]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.starttls(context=ctx(name))
        s.sendmail("sender@remote.test", [to], f"Subject: {name}\r\n\r\nclient {name}\r\n")
for name in ["alice", "mallory", "none"]:
    s = smtplib.SMTP("127.0.0.1", req, timeout=30)
    s.starttls(context=ctx(name))
    code, msg = s.ehlo()
    print(f"{name}: {code} {msg.decode().splitlines()[0]}")
    s.close()
with smtplib.SMTP("127.0.0.1", no13, timeout=30) as s:
    s.starttls(context=ctx("none"))
    print(f"no13: {s.sock.version()}")
try:
    with smtplib.SMTP("127.0.0.1", no13, timeout=30) as s:
        s.starttls(context=ctx("none", tls13=True))
    print("no13 tls13: accepted")
except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError):
    print("no13 tls13: refused")
"#;

#[test]
fn client_certificates_and_protocols() {
    if !common::have_python_ssl() {
        return;
    }
    let (req, no13) = (common::free_port(), common::free_port());
    let inst = instance(
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_loglevel", "1"),
            ("smtpd_tls_received_header", "yes"),
            ("smtpd_tls_ask_ccert", "yes"),
        ],
        &format!(
            "127.0.0.1:{req} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt \
             -o smtpd_tls_req_ccert=yes\n\
             127.0.0.1:{no13} inet n - n - - smtpd -o smtpd_tls_protocols=!TLSv1.3 \
             -o smtpd_tls_ask_ccert=no\n"
        ),
    );
    inst.start();
    let out = python(
        CLIENTS,
        &[
            inst.port.to_string(),
            req.to_string(),
            no13.to_string(),
            inst.local_address(),
            inst.etc.display().to_string(),
        ],
    );
    assert!(
        out.contains("alice: 250 www.a.org\n"),
        "{}\n{}",
        out,
        inst.log()
    );
    assert!(
        out.contains("mallory: 421 4.7.1 www.a.org Error: Client certificate not trusted\n")
            && out.contains("none: 421 4.7.1 www.a.org Error: No client certificate presented\n")
            && out.contains("no13: TLSv1.2\n")
            && out.contains("no13 tls13: refused\n"),
        "{}\n{}",
        out,
        inst.log()
    );
    assert!(
        common::wait_for(20, || inst.mbox(&inst.user).matches("client ").count() == 3),
        "{}",
        inst.log()
    );
    let mbox = inst.mbox(&inst.user);
    for comment in [
        "\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\n\t\
         (Client CN \"alice\", Issuer \"Test CA\" (verified OK))\n",
        "\n\t(Client CN \"mallory\", Issuer \"Other CA\" (not verified))\n",
        "\n\t(Client did not present a certificate)\n",
    ] {
        assert!(mbox.contains(comment), "{}\n{}", comment, mbox);
    }
    let log = inst.log();
    let from = "TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher \
                TLS_AES_256_GCM_SHA384 (256/256 bits)";
    for line in [
        format!("Trusted {}", from),
        format!("Untrusted {}", from),
        format!("Anonymous {}", from),
        "NOQUEUE: abort: TLS from localhost[127.0.0.1]: Client certificate not trusted".into(),
        "NOQUEUE: abort: TLS from localhost[127.0.0.1]: No client certificate presented".into(),
        "Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.2 with cipher \
         ECDHE-RSA-"
            .into(),
        "SSL_accept error from localhost[127.0.0.1]: ".into(),
    ] {
        assert!(log.contains(&line), "{}\n{}", line, log);
    }
}

/// `openssl s_client -starttls smtp`: TLS 1.3, then QUIT over it.
#[test]
fn openssl_s_client_starttls_gets_tls13() {
    let inst = instance(&[("smtpd_tls_security_level", "may")], "");
    inst.start();
    let mut child = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-brief",
            "-crlf",
            "-ign_eof",
        ])
        .arg("-connect")
        .arg(format!("127.0.0.1:{}", inst.port))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    child.stdin.take().unwrap().write_all(b"QUIT\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stderr.contains("Protocol version: TLSv1.3") && stdout.contains("221 2.0.0 Bye"),
        "{}\n{}\n{}",
        stdout,
        stderr,
        inst.log()
    );
}

/// smtpd_tls_req_ccert without level encrypt is ignored with Postfix's warning.
#[test]
fn req_ccert_needs_encrypt() {
    let inst = instance(
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_req_ccert", "yes"),
        ],
        "",
    );
    inst.start();
    let mut c = tls::starttls(inst.port);
    assert!(c.cmd("EHLO client.test").starts_with("250-www.a.org"));
    assert!(
        common::wait_for(10, || inst
            .log()
            .contains("warning: Can't require client certs unless TLS is required")),
        "{}",
        inst.log()
    );
}

/// EHLO after STARTTLS with each client certificate on a port that requires a trusted one.
const REQUIRED: &str = r#"
import smtplib, ssl, sys
port, d = int(sys.argv[1]), sys.argv[2]
for name in ["alice", "mallory"]:
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.load_cert_chain(f"{d}/{name}.crt", f"{d}/{name}.key")
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.starttls(context=c)
    code, msg = s.ehlo()
    print(f"{name}: {code} {msg.decode().splitlines()[0]}")
    s.close()
"#;

/// smtpd_tls_CApath alone (no CAfile): a hashed directory holding the test CA makes its
/// client certificate trusted, another CA's is not.
#[test]
fn client_certificates_verified_through_ca_path() {
    if !common::have_python_ssl() {
        return;
    }
    let inst = instance(
        &[
            ("smtpd_tls_security_level", "encrypt"),
            ("smtpd_tls_req_ccert", "yes"),
        ],
        "",
    );
    let capath = inst.etc.join("capath");
    std::fs::create_dir_all(&capath).unwrap();
    let ca = inst.etc.join("ca.crt");
    let out = std::process::Command::new("openssl")
        .args(["x509", "-hash", "-noout", "-in"])
        .arg(&ca)
        .output()
        .unwrap();
    let hash = String::from_utf8(out.stdout).unwrap();
    std::fs::copy(&ca, capath.join(format!("{}.0", hash.trim()))).unwrap();
    inst.set("smtpd_tls_CAfile", "");
    inst.set("smtpd_tls_CApath", &capath.display().to_string());
    inst.start();
    let out = python(
        REQUIRED,
        &[inst.port.to_string(), inst.etc.display().to_string()],
    );
    assert!(
        out.contains("alice: 250 www.a.org\n")
            && out.contains("mallory: 421 4.7.1 www.a.org Error: Client certificate not trusted\n"),
        "{}\n{}",
        out,
        inst.log()
    );
    assert!(
        !inst.log().contains("smtpd_tls_CApath"),
        "no warning about the setting: {}",
        inst.log()
    );
}
