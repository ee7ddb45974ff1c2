//! The OpenSSL server context of smtpd: Mozilla's "intermediate" (v5) profile, which
//! allows TLS 1.2 and TLS 1.3, narrowed to the protocol range of smtpd_tls_protocols /
//! smtpd_tls_mandatory_protocols; the server certificate chain and private key (PEM, any
//! key format OpenSSL reads); and, with smtpd_tls_ask_ccert or smtpd_tls_req_ccert, a
//! request for a client certificate, verified against smtpd_tls_CAfile (whose CA names
//! are sent to the client, as Postfix does) and the hashed directory smtpd_tls_CApath
//! (`crate::tls::cas`) to smtpd_tls_ccert_verifydepth. Follows
//! Postfix's tls_server.c / tls_certkey.c / tls_verify.c.
//!
//! Security role: the key is read only through `crate::secrets` (preloaded as root); the
//! CA file is not secret and is read the same way (from the store when preloaded, else
//! directly as the unprivileged user). A client certificate never makes the handshake
//! fail: the verify callback records and continues, as Postfix's does, and trust is the
//! verify result read afterwards (`negotiated`); smtpd_tls_req_ccert is enforced by the
//! session after the handshake. No system CA store is loaded (Postfix's
//! tls_append_default_CA = no). Sessions are never resumed (no cache, no tickets).
//! Logs nothing (the caller logs the errors).

use std::path::Path;

use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslMethod, SslOptions, SslSessionCacheMode, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::{X509, X509Name};

use crate::tls::protocols::Range;

/// Why the server context could not be built (TLS is then disabled).
#[derive(Debug)]
pub enum ContextError {
    Read(String, std::io::Error),
    NoCert(String),
    Key(String, openssl::error::ErrorStack),
    Ca(crate::tls::cas::CaError),
    Ssl(openssl::error::ErrorStack),
}

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContextError::Read(p, e) => write!(f, "cannot read {}: {}", p, e),
            ContextError::NoCert(p) => write!(f, "no PEM certificate in {}", p),
            ContextError::Key(p, e) => write!(f, "cannot load the private key in {}: {}", p, e),
            ContextError::Ca(e) => write!(
                f,
                "cannot load the CA certificates in {}: {}",
                e.path, e.why
            ),
            ContextError::Ssl(e) => write!(f, "{}", e),
        }
    }
}

impl From<openssl::error::ErrorStack> for ContextError {
    fn from(e: openssl::error::ErrorStack) -> ContextError {
        ContextError::Ssl(e)
    }
}

/// What the context is built from.
pub struct Settings<'a> {
    pub cert: &'a str,
    pub key: &'a str,
    pub range: Range,
    /// smtpd_tls_CAfile (empty: none).
    pub ca_file: &'a str,
    /// smtpd_tls_CApath (empty: none).
    pub ca_path: &'a str,
    /// Ask for a client certificate (smtpd_tls_ask_ccert, or a required one).
    pub ask_ccert: bool,
    /// smtpd_tls_ccert_verifydepth.
    pub verify_depth: u32,
}

fn read(p: &str) -> Result<Vec<u8>, ContextError> {
    crate::secrets::read_file(Path::new(p)).map_err(|e| ContextError::Read(p.into(), e))
}

/// The server context for `s`.
pub fn build(s: &Settings<'_>) -> Result<SslAcceptor, ContextError> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(s.range.min))?;
    b.set_max_proto_version(s.range.max)?;
    let mut chain = X509::stack_from_pem(&read(s.cert)?)
        .map_err(|_| ContextError::NoCert(s.cert.into()))?
        .into_iter();
    let leaf = chain
        .next()
        .ok_or_else(|| ContextError::NoCert(s.cert.into()))?;
    b.set_certificate(&leaf)?;
    for extra in chain {
        b.add_extra_chain_cert(extra)?;
    }
    let key = PKey::private_key_from_pem(&read(s.key)?)
        .map_err(|e| ContextError::Key(s.key.into(), e))?;
    b.set_private_key(&key)?;
    b.check_private_key()?;
    // No session resumption (Postfix without smtpd_tls_session_cache_database): no
    // server cache, no tickets, so every handshake is a new session, as the README and
    // smtpd_client_new_tls_session_rate_limit assume. The id context is still required
    // by OpenSSL when client certificates are asked for.
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    b.set_options(SslOptions::NO_TICKET);
    b.set_num_tickets(0)?;
    b.set_session_id_context(b"Postern/TLS serverid")?;
    if s.ask_ccert {
        let cas = crate::tls::cas::load(&mut b, s.ca_file, s.ca_path).map_err(ContextError::Ca)?;
        if !cas.is_empty() {
            let mut names = Stack::<X509Name>::new()?;
            for ca in cas {
                names.push(ca.subject_name().to_owned()?)?;
            }
            b.set_client_ca_list(names);
        }
        b.set_verify_depth(s.verify_depth.saturating_add(1));
        // Record, never fail: trust is read from the verify result after the handshake.
        b.set_verify_callback(SslVerifyMode::PEER | SslVerifyMode::CLIENT_ONCE, |_, _| {
            true
        });
    }
    Ok(b.build())
}
