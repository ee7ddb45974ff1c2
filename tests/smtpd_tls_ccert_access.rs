//! Client certificates that grant or refuse something, against Python's ssl client:
//! permit_tls_clientcerts with relay_clientcerts (a certificate fingerprint or a public-key
//! fingerprint, trusted or not), permit_tls_all_clientcerts (a certificate that verified),
//! check_ccert_access (a postmap'ed access table keyed by fingerprint; the refusal names the
//! certificate's CommonName), smtpd_tls_fingerprint_digest, the level-2 log line with both
//! fingerprints, a relay_clientcerts table that cannot answer (451, never "not listed") and
//! Postfix's warning when no certificate is asked for, and what a policy server is told. The expected fingerprints come from
//! the openssl command, as an admin makes them for the tables.

mod common;
#[path = "common/policy.rs"]
mod policy;
#[path = "common/tls.rs"]
mod tls;

use std::path::Path;
use std::process::{Command, Stdio};

use common::Instance;

/// An instance with a server certificate, the test CA (`ca.crt`, CN "Test CA") as
/// smtpd_tls_CAfile, two certificates it signed (`alice`, `carol`), two from another CA
/// (`mallory`, `eve`), and `extra` master.cf lines.
fn instance(settings: &[(&str, &str)], extra: &str) -> Instance {
    tls::ccert_instance(settings, extra, &["alice", "carol"], &["mallory", "eve"])
}

/// Run openssl with `args`, `input` on its standard input; its standard output.
fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {:?}", args);
    out.stdout
}

/// The certificate's fingerprint with `digest`, as `openssl x509 -fingerprint` prints it.
fn cert_fingerprint(cert: &Path, digest: &str) -> String {
    let pem = std::fs::read(cert).unwrap();
    let out = openssl(
        &["x509", "-noout", "-fingerprint", &format!("-{digest}")],
        &pem,
    );
    let text = String::from_utf8(out).unwrap();
    let (_, print) = text.trim().split_once('=').unwrap();
    print.to_string()
}

/// The fingerprint of the certificate's public key (its DER SubjectPublicKeyInfo), as
/// Postfix's TLS_README makes it with openssl.
fn pkey_fingerprint(cert: &Path, digest: &str) -> String {
    let pem = std::fs::read(cert).unwrap();
    let key = openssl(&["x509", "-noout", "-pubkey"], &pem);
    let der = openssl(&["pkey", "-pubin", "-outform", "DER"], &key);
    let out = openssl(&["dgst", &format!("-{digest}"), "-c"], &der);
    let text = String::from_utf8(out).unwrap();
    let (_, print) = text.trim().split_once("= ").unwrap();
    print.to_ascii_uppercase()
}

/// For each certificate name (`none`: no certificate; `plain`: no STARTTLS at all):
/// STARTTLS, MAIL and RCPT TO the recipient, printed as `name: CODE TEXT` (MAIL's reply when
/// MAIL was refused).
const CLIENT: &str = r#"
import smtplib, ssl, sys
port, d, to = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for name in sys.argv[4:]:
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if name not in ("none", "plain"):
        c.load_cert_chain(f"{d}/{name}.crt", f"{d}/{name}.key")
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    if name != "plain":
        s.starttls(context=c)
    s.ehlo("client.test")
    code, msg = s.mail("sender@remote.test")
    if code == 250:
        code, msg = s.rcpt(to)
    print(f"{name}: {code} {msg.decode()}")
    s.close()
"#;

/// CLIENT against `port` for `names`, sending to `to`.
fn clients(inst: &Instance, port: u16, to: &str, names: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(port.to_string())
        .arg(&inst.etc)
        .arg(to)
        .args(names)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        inst.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn denied(name: &str) -> String {
    format!("{name}: 554 5.7.1 <someone@remote.test>: Relay access denied\n")
}

#[test]
fn relaying_by_certificate_fingerprint_and_by_verified_certificate() {
    if !common::have_python_ssl() {
        return;
    }
    let all = common::free_port();
    let (policy, seen) = policy::recording();
    let relay =
        format!("check_policy_service {policy}, permit_tls_clientcerts, reject_unauth_destination");
    let inst = instance(
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_ask_ccert", "yes"),
            ("smtpd_tls_loglevel", "2"),
            ("mynetworks", "192.0.2.0/24"),
            ("smtpd_relay_restrictions", relay.as_str()),
        ],
        &format!(
            "127.0.0.1:{all} inet n - n - - smtpd \
             -o smtpd_relay_restrictions=permit_tls_all_clientcerts,reject_unauth_destination\n"
        ),
    );
    let etc = &inst.etc;
    let alice = cert_fingerprint(&etc.join("alice.crt"), "md5");
    let alice_pkey = pkey_fingerprint(&etc.join("alice.crt"), "md5");
    let mallory = cert_fingerprint(&etc.join("mallory.crt"), "md5");
    let mallory_pkey = pkey_fingerprint(&etc.join("mallory.crt"), "md5");
    // alice by her certificate, mallory (whose CA is not trusted) by his key.
    let table = etc.join("relay_clientcerts");
    std::fs::write(
        &table,
        format!("{alice} alice.example\n{mallory_pkey} mallory.example\n"),
    )
    .unwrap();
    inst.set(
        "relay_clientcerts",
        &format!("texthash:{}", table.display()),
    );
    inst.start();
    let to = "someone@remote.test";
    let names = ["alice", "mallory", "carol", "eve", "none"];
    let out = clients(&inst, inst.port, to, &names);
    let want = format!(
        "alice: 250 2.1.5 Ok\nmallory: 250 2.1.5 Ok\n{}{}{}",
        denied("carol"),
        denied("eve"),
        denied("none")
    );
    assert_eq!(out, want, "{}", inst.log());
    // The policy server: names from a verified certificate only, fingerprints of any.
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(reqs.len(), 5, "{reqs:?}");
    for (req, attrs) in reqs.iter().zip([
        ["alice", alice.as_str(), alice_pkey.as_str()],
        ["", mallory.as_str(), mallory_pkey.as_str()],
    ]) {
        let [subject, print, pkey] = attrs;
        for want in [
            format!("\nccert_subject={subject}\n"),
            format!("\nccert_fingerprint={print}\n"),
            format!("\nccert_pubkey_fingerprint={pkey}\n"),
        ] {
            assert!(req.contains(&want), "{want}\n{req}");
        }
    }
    assert!(reqs[4].contains("\nccert_fingerprint=\n"), "{}", reqs[4]);
    assert!(reqs[2].contains("\nccert_subject=carol\n"), "{}", reqs[2]);
    // permit_tls_all_clientcerts: any certificate that verified, and (Postfix 2.10) one
    // that relay_clientcerts lists; not eve's.
    let out = clients(&inst, all, to, &names);
    let want = format!(
        "alice: 250 2.1.5 Ok\nmallory: 250 2.1.5 Ok\ncarol: 250 2.1.5 Ok\n{}{}",
        denied("eve"),
        denied("none")
    );
    assert_eq!(out, want, "{}", inst.log());
    let log = inst.log();
    for line in [
        format!(
            "localhost[127.0.0.1]: subject_CN=alice, issuer=Test CA, fingerprint={alice}, \
             pkey_fingerprint={alice_pkey}"
        ),
        format!(
            "localhost[127.0.0.1]: subject_CN=mallory, issuer=Other CA, \
             fingerprint={mallory}, pkey_fingerprint={mallory_pkey}"
        ),
    ] {
        assert!(log.contains(&line), "{}\n{}", line, log);
    }
    assert!(!log.contains("is requested, but"), "{}", log);
}

#[test]
fn access_by_certificate_with_sha256_and_a_table_that_cannot_answer() {
    if !common::have_python_ssl() {
        return;
    }
    let (failing, unasked) = (common::free_port(), common::free_port());
    let inst = instance(
        &[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_ask_ccert", "yes"),
            ("smtpd_tls_fingerprint_digest", "sha256"),
            ("mynetworks", "192.0.2.0/24"),
        ],
        &format!(
            "127.0.0.1:{failing} inet n - n - - smtpd \
             -o smtpd_relay_restrictions=permit_tls_clientcerts,reject_unauth_destination \
             -o relay_clientcerts=hash:/nonexistent/relay_clientcerts\n\
             127.0.0.1:{unasked} inet n - n - - smtpd -o smtpd_tls_ask_ccert=no\n"
        ),
    );
    let etc = &inst.etc;
    let mallory = cert_fingerprint(&etc.join("mallory.crt"), "sha256");
    let carol_pkey = pkey_fingerprint(&etc.join("carol.crt"), "sha256");
    let eve = cert_fingerprint(&etc.join("eve.crt"), "sha256");
    let eve_pkey = pkey_fingerprint(&etc.join("eve.crt"), "sha256");
    let table = etc.join("ccert_access");
    // eve: DUNNO for the certificate goes on to the key, whose answer is a restriction
    // list, evaluated for the certificate.
    std::fs::write(
        &table,
        format!(
            "{mallory} REJECT certificate revoked\n{carol_pkey} 450 try later\n\
             {eve} DUNNO\n{eve_pkey} permit_mynetworks reject\n"
        ),
    )
    .unwrap();
    let made = inst.run("postmap", &[table.to_str().unwrap()]);
    assert!(made.status.success(), "{:?}", made);
    inst.set(
        "smtpd_sender_restrictions",
        &format!("check_ccert_access hash:{}", table.display()),
    );
    inst.start();
    let to = inst.local_address();
    let out = clients(
        &inst,
        inst.port,
        &to,
        &["alice", "mallory", "carol", "none"],
    );
    let want = "alice: 250 2.1.5 Ok\n\
                mallory: 554 5.7.1 <mallory>: Client certificate rejected: certificate revoked\n\
                carol: 450 4.7.1 <carol>: Client certificate rejected: try later\n\
                none: 250 2.1.5 Ok\n";
    assert_eq!(out, want, "{}", inst.log());
    // relay_clientcerts cannot be read: a temporary failure, never "not listed".
    let out = clients(&inst, failing, "someone@remote.test", &["alice", "none"]);
    assert_eq!(
        out,
        format!(
            "alice: 451 4.3.0 <someone@remote.test>: Temporary lookup failure\n{}",
            denied("none")
        ),
        "{}",
        inst.log()
    );
    // No certificate asked for: none to check, and Postfix's warning (in a TLS session
    // only).
    let out = clients(&inst, unasked, &to, &["plain"]);
    assert_eq!(out, "plain: 250 2.1.5 Ok\n", "{}", inst.log());
    assert!(!inst.log().contains("is requested, but"), "{}", inst.log());
    let out = clients(&inst, unasked, &to, &["mallory"]);
    assert_eq!(out, "mallory: 250 2.1.5 Ok\n", "{}", inst.log());
    let log = inst.log();
    for line in [
        "warning: relay_clientcerts: lookup error for fingerprint '".to_string(),
        "warning: check_ccert_access is requested, but \"smtpd_tls_ask_ccert = no\"".into(),
        format!(
            "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <mallory>: Client certificate rejected: certificate revoked; from=<sender@remote.test> to=<{to}> proto=ESMTP helo=<client.test>"
        ),
    ] {
        assert!(log.contains(&line), "{}\n{}", line, log);
    }
}
