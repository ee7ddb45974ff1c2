//! The TLS log lines of the SMTP client, as Postfix 2.10's tls_client.c and tls_verify.c
//! write them, and smtpd's level-2 client-certificate line (tls_server.c): the handshake summary (`Verified TLS connection established to
//! host[ip]:port: TLSv1.3 with cipher NAME (256/256 bits)`), the first trust-chain
//! failure (`certificate verification failed for host[ip]:port: untrusted issuer /CN=X`,
//! ...) and, at smtp_tls_loglevel 2, the certificate names looked at and the peer's
//! subject and issuer. Callers pass raw values; certificate text is made printable here.
//!
//! Security role: certificate text is chosen by the server: no control character reaches
//! the log. Logs the lines above.

use super::info;
use super::lines::printable;

/// `Verified TLS connection established to host[ip]:port: TLSv1.3 with cipher ...`.
pub fn client_established(component: &str, trust: &str, namaddrport: &str, cipher: &str) {
    info(
        component,
        format!(
            "{} TLS connection established to {}: {}",
            trust, namaddrport, cipher
        ),
    );
}

/// X509_V_ERR_* codes that tls_verify_certificate_callback words itself.
mod code {
    pub const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
    pub const DEPTH_ZERO_SELF_SIGNED_CERT: i32 = 18;
    pub const SELF_SIGNED_CERT_IN_CHAIN: i32 = 19;
    pub const CERT_NOT_YET_VALID: i32 = 9;
    pub const ERROR_IN_CERT_NOT_BEFORE_FIELD: i32 = 13;
    pub const CERT_HAS_EXPIRED: i32 = 10;
    pub const ERROR_IN_CERT_NOT_AFTER_FIELD: i32 = 14;
    pub const INVALID_PURPOSE: i32 = 26;
    pub const CERT_CHAIN_TOO_LONG: i32 = 22;
}

/// The first trust-chain failure of a server certificate (depth 0: the server's own; `limit`
/// is the depth OpenSSL was given, one more than smtp_tls_scert_verifydepth).
pub fn chain_failure(
    component: &str,
    namaddrport: &str,
    depth: u32,
    err: i32,
    err_text: &str,
    issuer: &str,
    limit: u32,
) {
    let purpose = if depth > 0 { "CA" } else { "server" };
    let text = match err {
        code::DEPTH_ZERO_SELF_SIGNED_CERT => format!(
            "certificate verification failed for {}: self-signed certificate",
            namaddrport
        ),
        code::UNABLE_TO_GET_ISSUER_CERT_LOCALLY | code::SELF_SIGNED_CERT_IN_CHAIN => format!(
            "certificate verification failed for {}: untrusted issuer {}",
            namaddrport,
            printable(issuer)
        ),
        code::CERT_NOT_YET_VALID | code::ERROR_IN_CERT_NOT_BEFORE_FIELD => format!(
            "{} certificate verification failed for {}: certificate not yet valid",
            purpose, namaddrport
        ),
        code::CERT_HAS_EXPIRED | code::ERROR_IN_CERT_NOT_AFTER_FIELD => format!(
            "{} certificate verification failed for {}: certificate has expired",
            purpose, namaddrport
        ),
        code::INVALID_PURPOSE => format!(
            "certificate verification failed for {}: not designated for use as a {} certificate",
            namaddrport, purpose
        ),
        code::CERT_CHAIN_TOO_LONG => format!(
            "certificate verification failed for {}: certificate chain longer than limit({})",
            namaddrport,
            limit.saturating_sub(1)
        ),
        _ => format!(
            "{} certificate verification failed for {}: num={}:{}",
            purpose, namaddrport, err, err_text
        ),
    };
    info(component, text);
}

/// smtp_tls_loglevel 2: one certificate name looked at (`host[ip]:port: Matched
/// subjectAltName: mx.example.com`, `host[ip]:port CommonName mx.example.com`).
pub fn cert_name(component: &str, namaddrport: &str, name: &str, matched: bool, altname: bool) {
    let m = if matched { "Matched " } else { "" };
    let name = printable(name);
    let text = if altname {
        format!("{}: {}subjectAltName: {}", namaddrport, m, name)
    } else {
        format!("{} {}CommonName {}", namaddrport, m, name)
    };
    info(component, text);
}

/// smtp_tls_loglevel 2: `host[ip]:port: subject_CN=X, issuer_CN=Y, fingerprint=F,
/// pkey_fingerprint=P`.
pub fn peer_cert(
    component: &str,
    namaddrport: &str,
    cn: &str,
    issuer: &str,
    fpt: &str,
    pkey: &str,
) {
    info(
        component,
        format!(
            "{}: subject_CN={}, issuer_CN={}, fingerprint={}, pkey_fingerprint={}",
            namaddrport,
            printable(cn),
            printable(issuer),
            fpt,
            pkey
        ),
    );
}

/// smtpd_tls_loglevel 2, a client's certificate: `host[addr]: subject_CN=X, issuer=Y,
/// fingerprint=F, pkey_fingerprint=P` (Postfix 2.10's tls_server.c).
pub fn client_cert(namaddr: &str, cn: &str, issuer: &str, fpt: &str, pkey: &str) {
    info(
        "smtpd",
        format!(
            "{}: subject_CN={}, issuer={}, fingerprint={}, pkey_fingerprint={}",
            namaddr,
            printable(cn),
            printable(issuer),
            fpt,
            pkey
        ),
    );
}
