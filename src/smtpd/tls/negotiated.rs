//! What a finished TLS handshake negotiated, as Postfix names it in its log line and in
//! the Received: header: the protocol (`TLSv1.3`), the OpenSSL cipher name and its
//! used/algorithm bits (read and worded by the shared `crate::tls::summary`), and the
//! client certificate if one was asked for (subject CN, issuer CN, its certificate and
//! public-key fingerprints with smtpd_tls_fingerprint_digest, and whether it verified
//! against smtpd_tls_CAfile). Follows Postfix 2.10's
//! tls_server.c / tls_misc.c (`tls_log_summary`) and smtpd.c's Received: comment; the
//! 3.x key-exchange / signature details are not logged (2.10's form).
//!
//! Security role: the certificate's names are client input: they are made printable
//! (log::lines::printable) before they reach a log line or header. Trust is OpenSSL's
//! verify result (X509_V_OK), never the names. Logs nothing.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::SslRef;
use openssl::x509::{X509NameRef, X509VerifyResult};

use crate::tls::fingerprint;
use crate::tls::summary::Cipher;

/// The client certificate the handshake carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// The subject's common name (printable; empty when there is none).
    pub cn: String,
    /// The issuer's common name, else its organization (printable).
    pub issuer: String,
    /// The certificate's fingerprint (`AA:BB:...`), for relay_clientcerts and
    /// check_ccert_access.
    pub fingerprint: String,
    /// The fingerprint of its public key (Postfix 2.9.6's form).
    pub pkey_fingerprint: String,
    /// Verified against smtpd_tls_CAfile.
    pub trusted: bool,
}

/// The negotiated protocol and cipher, and the client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1.3`, `TLSv1.2`, ...
    pub protocol: String,
    /// The OpenSSL cipher name.
    pub cipher: String,
    /// The cipher's secret bits and its algorithm's bits.
    pub bits: (i32, i32),
    /// Whether a client certificate was requested (smtpd_tls_ask_ccert / req_ccert).
    pub asked: bool,
    pub peer: Option<PeerCert>,
}

impl Negotiated {
    /// What `ssl` negotiated; `asked`: a client certificate was requested; `digest`:
    /// smtpd_tls_fingerprint_digest.
    pub fn of(ssl: &SslRef, asked: bool, digest: MessageDigest) -> Negotiated {
        let c = Cipher::of(ssl);
        let peer = ssl.peer_certificate().map(|cert| PeerCert {
            cn: name_entry(cert.subject_name(), &[Nid::COMMONNAME]),
            issuer: name_entry(
                cert.issuer_name(),
                &[Nid::COMMONNAME, Nid::ORGANIZATIONNAME],
            ),
            fingerprint: fingerprint::cert(&cert, digest),
            pkey_fingerprint: fingerprint::pkey(&cert, digest),
            trusted: ssl.verify_result() == X509VerifyResult::OK,
        });
        Negotiated {
            protocol: c.protocol,
            cipher: c.name,
            bits: c.bits,
            asked,
            peer,
        }
    }

    /// `TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`, as in Postfix's log
    /// line and Received: header.
    pub fn describe(&self) -> String {
        crate::tls::summary::describe(&self.protocol, &self.cipher, self.bits)
    }

    /// Postfix's word for the peer: Anonymous (no certificate), Trusted, Untrusted.
    pub fn trust_word(&self) -> &'static str {
        match &self.peer {
            None => "Anonymous",
            Some(p) if p.trusted => "Trusted",
            Some(_) => "Untrusted",
        }
    }

    /// The Received: header's second TLS comment, without its parentheses:
    /// `Client CN "x", Issuer "y" (verified OK)`, `Client did not present a certificate`
    /// or `No client certificate requested`.
    pub fn client_comment(&self) -> String {
        match &self.peer {
            Some(p) => format!(
                "Client CN \"{}\", Issuer \"{}\" ({})",
                comment_safe(&p.cn),
                comment_safe(&p.issuer),
                if p.trusted {
                    "verified OK"
                } else {
                    "not verified"
                }
            ),
            None if self.asked => "Client did not present a certificate".to_string(),
            None => "No client certificate requested".to_string(),
        }
    }
}

/// The first entry of `name` for the first of `nids` present, printable.
fn name_entry(name: &X509NameRef, nids: &[Nid]) -> String {
    nids.iter()
        .find_map(|nid| name.entries_by_nid(*nid).next())
        // Any ASN.1 string type (BMPString, UTF8String, ...) as UTF-8, by OpenSSL.
        .map(|e| {
            e.data()
                .to_string()
                .unwrap_or_else(|_| String::from_utf8_lossy(e.data().as_slice()).into_owned())
        })
        .map_or_else(String::new, |s| crate::log::lines::printable(&s))
}

/// A name inside a header comment: no quote, parenthesis or backslash can end it early
/// (Postfix's comment_sanitize keeps the comment balanced).
fn comment_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '(' | ')' | '\\' => '?',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(peer: Option<PeerCert>, asked: bool) -> Negotiated {
        Negotiated {
            protocol: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            bits: (256, 256),
            asked,
            peer,
        }
    }

    #[test]
    fn postfix_wording() {
        let anon = n(None, false);
        assert_eq!(
            anon.describe(),
            "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
        );
        assert_eq!(anon.trust_word(), "Anonymous");
        assert_eq!(anon.client_comment(), "No client certificate requested");
        assert_eq!(
            n(None, true).client_comment(),
            "Client did not present a certificate"
        );
        let peer = PeerCert {
            cn: "alice \"x\" (y)".into(),
            issuer: "Test CA".into(),
            fingerprint: "AA:BB".into(),
            pkey_fingerprint: "CC:DD".into(),
            trusted: true,
        };
        let t = n(Some(peer.clone()), true);
        assert_eq!(t.trust_word(), "Trusted");
        assert_eq!(
            t.client_comment(),
            "Client CN \"alice ?x? ?y?\", Issuer \"Test CA\" (verified OK)"
        );
        let u = n(
            Some(PeerCert {
                trusted: false,
                ..peer
            }),
            true,
        );
        assert_eq!(u.trust_word(), "Untrusted");
        assert!(u.client_comment().ends_with("(not verified)"));
    }
}
