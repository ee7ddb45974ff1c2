//! Certificate and public-key fingerprints as Postfix 2.10 computes and writes them
//! (tls_verify.c, tls_fingerprint and tls_pkey_fprint): the digest named by
//! smtpd_tls_fingerprint_digest (md5 by default in 2.10) over the certificate's DER
//! encoding, and over the DER encoding of its SubjectPublicKeyInfo, written as upper-case
//! hex byte pairs joined by `:` (`3D:95:34:...`). The smtpd uses them for
//! permit_tls_clientcerts, check_ccert_access and its level-2 log line; the smtp client
//! for its level-2 log line.
//!
//! Security role: a fingerprint is what relay_clientcerts and check_ccert_access tables
//! list, so it must match Postfix's byte for byte (the same tables keep working). Never
//! computed from client-chosen names. Logs nothing.

use openssl::hash::{MessageDigest, hash};
use openssl::x509::X509Ref;

/// `AA:BB:...`, as Postfix writes fingerprints.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{:02X}", b);
    }
    out
}

/// The digest of that name (`md5`, `sha1`, `sha256`...), as OpenSSL knows it.
pub fn digest(name: &str) -> Option<MessageDigest> {
    MessageDigest::from_name(name)
}

/// The fingerprint of the certificate (empty if OpenSSL cannot compute it).
pub fn cert(cert: &X509Ref, md: MessageDigest) -> String {
    cert.digest(md).map(|d| hex(&d)).unwrap_or_default()
}

/// The fingerprint of the certificate's public key (Postfix 2.9.6 and later; the
/// pre-2.9.6 form, tls_legacy_public_key_fingerprints, is not computed).
pub fn pkey(cert: &X509Ref, md: MessageDigest) -> String {
    cert.public_key()
        .and_then(|k| k.public_key_to_der())
        .and_then(|der| hash(md, &der))
        .map(|d| hex(&d))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_postfix_writes_them() {
        assert_eq!(hex(&[0x3d, 0x95, 0x00, 0xff]), "3D:95:00:FF");
        assert_eq!(hex(&[]), "");
        assert!(digest("md5").is_some());
        assert!(digest("sha256").is_some());
        assert!(digest("nosuchdigest").is_none());
    }
}
