//! Trusted CA certificates of a TLS context, for the client (smtp_tls_CAfile,
//! smtp_tls_CApath) and the server (smtpd_tls_CAfile, smtpd_tls_CApath) alike: a PEM file
//! of one or more certificates, added to the context's store, and an OpenSSL hashed
//! directory (`HASH.0` names, as `openssl rehash` makes them), which OpenSSL searches at
//! verification time. Follows Postfix's tls_certkey.c / tls_misc.c (CAfile and CApath
//! loaded with SSL_CTX_load_verify_locations; the server's client-CA list, the names sent
//! with a certificate request, comes from the CAfile only).
//!
//! Security role: CA certificates are not secret; the file is read through
//! `crate::secrets` (preloaded as root when it is, else as the caller). The directory is
//! read when a certificate is verified, by the process that verifies it (smtpd and the
//! smtp client run as mail_owner), so it must be readable by mail_owner; it is checked to
//! be readable when the context is built. Logs nothing: errors go to the caller.

use std::fmt;
use std::path::Path;

use openssl::ssl::SslContextBuilder;
use openssl::x509::X509;

/// Why the CA certificates could not be loaded: the file or directory, and what happened.
#[derive(Debug)]
pub struct CaError {
    pub path: String,
    pub why: String,
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.why)
    }
}

fn err(path: &str, why: impl fmt::Display) -> CaError {
    CaError {
        path: path.to_string(),
        why: why.to_string(),
    }
}

/// Trust the certificates of `file` (PEM, at least one) and the hashed directory `dir`
/// (either may be empty: not used). Returns the file's certificates (the server sends
/// their subjects as its client-CA list).
pub fn load(b: &mut SslContextBuilder, file: &str, dir: &str) -> Result<Vec<X509>, CaError> {
    let mut certs = Vec::new();
    if !file.is_empty() {
        let data = crate::secrets::read_file(Path::new(file)).map_err(|e| err(file, e))?;
        certs = X509::stack_from_pem(&data).map_err(|e| err(file, e))?;
        if certs.is_empty() {
            return Err(err(file, "no certificate found"));
        }
        for c in &certs {
            b.cert_store_mut()
                .add_cert(c.clone())
                .map_err(|e| err(file, e))?;
        }
    }
    if !dir.is_empty() {
        std::fs::read_dir(dir).map_err(|e| err(dir, e))?;
        b.load_verify_locations(None, Some(Path::new(dir)))
            .map_err(|e| err(dir, e))?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ssl::{SslContext, SslMethod};

    fn builder() -> SslContextBuilder {
        SslContext::builder(SslMethod::tls()).unwrap()
    }

    #[test]
    fn missing_empty_and_unreadable_sources_are_errors() {
        let dir = std::env::temp_dir().join(format!("postern-cas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"no certificate here\n").unwrap();
        let e = load(&mut builder(), empty.to_str().unwrap(), "").unwrap_err();
        assert!(e.to_string().starts_with(empty.to_str().unwrap()), "{}", e);
        assert!(load(&mut builder(), "/nonexistent/ca.pem", "").is_err());
        let e = load(&mut builder(), "", "/nonexistent/certs").unwrap_err();
        assert_eq!(e.path, "/nonexistent/certs");
        // Neither set: nothing to trust, no error.
        assert!(load(&mut builder(), "", "").unwrap().is_empty());
        // A readable directory is accepted (OpenSSL reads it when verifying).
        assert!(load(&mut builder(), "", dir.to_str().unwrap()).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
