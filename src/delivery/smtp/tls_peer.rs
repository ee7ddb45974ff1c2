//! The SMTP client's side of one TLS handshake and what it proved about the server, as
//! Postfix 2.10's tls_client.c and tls_verify.c: the handshake never fails over the
//! certificate; OpenSSL's verify callback records the first trust-chain failure and
//! goes on (chains deeper than smtp_tls_scert_verifydepth count as too long), and
//! afterwards the peer is Anonymous (no certificate), Untrusted (chain not trusted),
//! Trusted (chain trusted, name not checked or not matched) or Verified (trusted, at
//! the verify or secure level, and a certificate name matches the match list, see
//! `crate::tls::names`).
//!
//! Security role: the caller (the session) refuses to go on at verify and secure unless
//! the result is trusted and matched (`Server certificate not trusted` / `not verified`,
//! 4.7.5); this module only establishes the facts. Logs nothing (the session logs, with
//! the texts of `crate::log::tls`).

use std::sync::{Arc, Mutex};

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::ssl::{Ssl, SslRef, SslVerifyMode};
use openssl::x509::{X509NameRef, X509VerifyResult};

use super::tls_policy::{ClientTls, TlsLevel};
use crate::tls::fingerprint;
use crate::tls::names::CertNames;
use crate::tls::summary::Cipher;

/// The first trust-chain failure of a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFailure {
    /// Depth in the chain (0: the server's own certificate).
    pub depth: u32,
    /// The OpenSSL X509_V_ERR_* code.
    pub code: i32,
    /// OpenSSL's text for the code.
    pub text: String,
    /// The issuer of the certificate at fault, as X509_NAME_oneline writes it.
    pub issuer: String,
}

/// X509_V_ERR_CERT_CHAIN_TOO_LONG.
pub const CHAIN_TOO_LONG: i32 = 22;

/// One handshake about to start: the connection object and its failure record.
pub struct Attempt {
    pub ssl: Ssl,
    failure: Arc<Mutex<Option<ChainFailure>>>,
}

/// What the handshake established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub present: bool,
    pub trusted: bool,
    pub matched: bool,
    /// The name Postfix reports as the peer's (see `CertNames::check`).
    pub peer_cn: String,
    pub issuer_cn: String,
    pub cipher: Cipher,
    pub failure: Option<ChainFailure>,
    /// Each certificate name looked at, and whether it matched (for smtp_tls_loglevel 2).
    pub names: Vec<(String, bool)>,
    /// The names looked at were subjectAltNames (else the CommonName).
    pub altnames: bool,
    /// MD5 fingerprints of the certificate and of its public key (smtp_tls_fingerprint_digest's
    /// default), `AA:BB:...`.
    pub fingerprint: String,
    pub pkey_fingerprint: String,
}

impl PeerStatus {
    /// Postfix's word for the peer in the `... TLS connection established` line.
    pub fn trust_word(&self) -> &'static str {
        if !self.present {
            "Anonymous"
        } else if self.matched {
            "Verified"
        } else if self.trusted {
            "Trusted"
        } else {
            "Untrusted"
        }
    }
}

/// X509_NAME_oneline's form: `/C=DE/O=Org/CN=Name`.
fn oneline(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("/{}={}", key, val)
        })
        .collect()
}

/// Prepare the connection for `tls` (which must have a context).
pub fn prepare(tls: &ClientTls) -> Result<Attempt, ErrorStack> {
    let ctx = tls.ctx.as_ref().ok_or_else(ErrorStack::get)?;
    let mut ssl = Ssl::new(ctx)?;
    let failure = Arc::new(Mutex::new(None));
    let record = Arc::clone(&failure);
    let limit = tls.depth;
    ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, x| {
        let depth = x.error_depth();
        // Postfix's depth limit: one more than asked, and a chain reaching it is too long
        // even when a trusted root is found there.
        let too_deep = depth >= limit;
        if (!ok || too_deep)
            && let Ok(mut slot) = record.lock()
        {
            slot.get_or_insert_with(|| {
                let issuer = x
                    .current_cert()
                    .map(|c| oneline(c.issuer_name()))
                    .unwrap_or_default();
                let (code, text) = if too_deep {
                    (CHAIN_TOO_LONG, "certificate chain too long".to_string())
                } else {
                    (x.error().as_raw(), x.error().error_string().to_string())
                };
                ChainFailure {
                    depth,
                    code,
                    text,
                    issuer,
                }
            });
        }
        // Never fail the handshake: trust is read afterwards (Postfix's rule).
        true
    });
    Ok(Attempt { ssl, failure })
}

impl Attempt {
    /// The failure record, to read after the handshake.
    pub fn record(&self) -> Arc<Mutex<Option<ChainFailure>>> {
        Arc::clone(&self.failure)
    }
}

/// What the finished handshake `ssl` established for a server `host` of the next hop
/// `nexthop`; `record` is the attempt's failure record.
pub fn assess(
    ssl: &SslRef,
    record: &Mutex<Option<ChainFailure>>,
    tls: &ClientTls,
    host: &str,
    nexthop: &str,
) -> PeerStatus {
    let failure = record.lock().ok().and_then(|f| f.clone());
    let mut st = PeerStatus {
        present: false,
        trusted: false,
        matched: false,
        peer_cn: String::new(),
        issuer_cn: String::new(),
        cipher: Cipher::of(ssl),
        failure,
        names: Vec::new(),
        altnames: false,
        fingerprint: String::new(),
        pkey_fingerprint: String::new(),
    };
    let Some(cert) = ssl.peer_certificate() else {
        return st;
    };
    st.present = true;
    st.trusted = ssl.verify_result() == X509VerifyResult::OK && st.failure.is_none();
    let names = CertNames::of(&cert);
    st.altnames = names.has_altname;
    st.fingerprint = fingerprint::cert(&cert, MessageDigest::md5());
    st.pkey_fingerprint = fingerprint::pkey(&cert, MessageDigest::md5());
    st.issuer_cn = names.issuer.clone();
    let check = st.trusted && matches!(tls.level, TlsLevel::Verify | TlsLevel::Secure);
    if check || tls.log.certmatch {
        let mut seen = Vec::new();
        let (m, cn) = names.check(&tls.matching, host, nexthop, |n, m| {
            seen.push((n.to_string(), m))
        });
        st.matched = check && m;
        st.peer_cn = cn;
        st.names = seen;
    } else {
        st.peer_cn = names.cn;
    }
    st
}
