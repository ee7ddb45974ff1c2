//! TLS for the tests of the SMTP server: a self-signed certificate made by `openssl req`,
//! a line client over any stream (plain or TLS), and the client side of STARTTLS and of a
//! wrapper-mode (smtps) connection, accepting the self-signed certificate.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Make a self-signed certificate and PKCS#8 key in `dir` with `openssl req`.
pub fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{}.crt", name)),
        dir.join(format!("{}.key", name)),
    );
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=www.a.org", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (the TLS tests need the openssl command)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// An SMTP client over any stream, reading replies byte by byte (no buffering, so that
/// the stream can be handed to the TLS layer between replies).
pub struct Smtp<S: Read + Write>(pub S);

impl<S: Read + Write> Smtp<S> {
    fn line(&mut self) -> Option<String> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        loop {
            match self.0.read(&mut b) {
                Ok(1) if b[0] == b'\n' => break,
                Ok(1) => line.push(b[0]),
                _ if line.is_empty() => return None,
                _ => break,
            }
        }
        Some(String::from_utf8_lossy(&line).trim_end().to_string())
    }

    /// One reply, its lines joined with "\n" (empty at end of stream).
    pub fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        while let Some(l) = self.line() {
            let more = l.as_bytes().get(3) == Some(&b'-');
            lines.push(l);
            if !more {
                break;
            }
        }
        lines.join("\n")
    }

    pub fn cmd(&mut self, c: &str) -> String {
        self.0.write_all(format!("{}\r\n", c).as_bytes()).unwrap();
        self.reply()
    }
}

pub fn plain(port: u16) -> Smtp<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Smtp(s)
}

pub fn handshake(s: TcpStream) -> native_tls::TlsStream<TcpStream> {
    native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap()
        .connect("www.a.org", s)
        .unwrap_or_else(|e| panic!("TLS handshake: {}", e))
}

/// Greeting, EHLO, STARTTLS and the handshake: the TLS session, before its EHLO.
pub fn starttls(port: u16) -> Smtp<native_tls::TlsStream<TcpStream>> {
    let mut c = plain(port);
    let greeting = c.reply();
    assert!(greeting.starts_with("220 "), "port {}: {}", port, greeting);
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.contains("250-STARTTLS"), "port {}: {}", port, ehlo);
    assert_eq!(c.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS");
    Smtp(handshake(c.0))
}

/// A wrapper-mode connection: the handshake, then the greeting (returned) over TLS.
pub fn wrapped(port: u16) -> (Smtp<native_tls::TlsStream<TcpStream>>, String) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = Smtp(handshake(s));
    let greeting = w.reply();
    (w, greeting)
}

/// Run the openssl command with `args`; panic with its stderr on failure.
fn openssl(args: &[&std::ffi::OsStr]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (the TLS tests need the openssl command)");
    assert!(
        out.status.success(),
        "openssl {:?}: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA certificate and key in `dir` (`NAME.crt`, `NAME.key`), subject `/CN=CN`.
pub fn make_ca(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{}.crt", name)),
        dir.join(format!("{}.key", name)),
    );
    let subj = format!("/CN={}", cn);
    let args: Vec<&std::ffi::OsStr> = vec![
        "req".as_ref(),
        "-x509".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:prime256v1".as_ref(),
        "-nodes".as_ref(),
        "-days".as_ref(),
        "1".as_ref(),
        "-subj".as_ref(),
        subj.as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        cert.as_os_str(),
    ];
    openssl(&args);
    (cert, key)
}

/// A certificate for `/CN=CN` signed by the CA `ca` (certificate, key), in `dir`.
pub fn make_signed(
    dir: &Path,
    name: &str,
    cn: &str,
    ca: &(PathBuf, PathBuf),
) -> (PathBuf, PathBuf) {
    let (cert, key, csr) = (
        dir.join(format!("{}.crt", name)),
        dir.join(format!("{}.key", name)),
        dir.join(format!("{}.csr", name)),
    );
    let subj = format!("/CN={}", cn);
    let req: Vec<&std::ffi::OsStr> = vec![
        "req".as_ref(),
        "-new".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:prime256v1".as_ref(),
        "-nodes".as_ref(),
        "-subj".as_ref(),
        subj.as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
    ];
    openssl(&req);
    let sign: Vec<&std::ffi::OsStr> = vec![
        "x509".as_ref(),
        "-req".as_ref(),
        "-days".as_ref(),
        "1".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-CA".as_ref(),
        ca.0.as_os_str(),
        "-CAkey".as_ref(),
        ca.1.as_os_str(),
        "-set_serial".as_ref(),
        "2".as_ref(),
        "-out".as_ref(),
        cert.as_os_str(),
    ];
    openssl(&sign);
    (cert, key)
}

/// An instance with a server certificate, a test CA (`ca.crt`, CN "Test CA") as
/// smtpd_tls_CAfile, client certificates it signed (`trusted`) and ones from another CA
/// (`untrusted`, CN "Other CA"), each named by its CN, and `extra` master.cf lines added
/// after `settings`.
pub fn ccert_instance(
    settings: &[(&str, &str)],
    extra: &str,
    trusted: &[&str],
    untrusted: &[&str],
) -> crate::common::Instance {
    let inst = crate::common::Instance::new(settings);
    let (cert, key) = make_cert(&inst.etc, "server");
    inst.set("smtpd_tls_cert_file", &cert.display().to_string());
    inst.set("smtpd_tls_key_file", &key.display().to_string());
    let ca = make_ca(&inst.etc, "ca", "Test CA");
    inst.set("smtpd_tls_CAfile", &ca.0.display().to_string());
    for name in trusted {
        make_signed(&inst.etc, name, name, &ca);
    }
    let other = make_ca(&inst.etc, "other", "Other CA");
    for name in untrusted {
        make_signed(&inst.etc, name, name, &other);
    }
    let mut master = std::fs::read_to_string(inst.etc.join("master.cf")).unwrap();
    master.push_str(extra);
    std::fs::write(inst.etc.join("master.cf"), master).unwrap();
    inst.newaliases();
    inst
}
