//! smtpd's TLS settings, built once per configuration (at start and at each reload, as
//! part of `SmtpdContext`): the security level (smtpd_tls_security_level none / may /
//! encrypt, else the legacy smtpd_use_tls / smtpd_enforce_tls), the server identity from
//! the first of smtpd_tls_chain_files, else smtpd_tls_cert_file and smtpd_tls_key_file
//! (PEM), the protocol range from smtpd_tls_protocols (may) or
//! smtpd_tls_mandatory_protocols (encrypt), client certificates (smtpd_tls_ask_ccert,
//! smtpd_tls_req_ccert, smtpd_tls_CAfile, smtpd_tls_ccert_verifydepth),
//! smtpd_tls_loglevel, smtpd_tls_received_header and smtpd_tls_wrappermode. Follows
//! RFC 3207 and Postfix's TLS_README / postconf(5); the OpenSSL context is built by
//! `acceptor`, the session side is `session::starttls`, and `negotiated` names what a
//! handshake negotiated.
//!
//! Security role: the certificate and key are read only through `crate::secrets`, which the
//! root master preloaded (the key file is root-only); a protocol setting with a hole is
//! narrowed, never widened. Logs a warning (and disables TLS, as Postfix does) when the
//! certificate or key cannot be loaded, and Postfix's warnings for client-certificate
//! settings that cannot take effect.

mod acceptor;
pub mod negotiated;

use std::sync::Arc;

use openssl::hash::MessageDigest;
use openssl::ssl::SslAcceptor;

use crate::config::{Config, split_list};
use crate::tls::protocols;

/// smtpd_tls_security_level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    May,
    Encrypt,
}

/// A TLS setting that makes the configuration unusable (Postfix: fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfigError {
    BadLevel(String),
    BadProtocols(String, String),
}

impl std::fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsConfigError::BadLevel(l) => write!(f, "invalid smtpd_tls_security_level: {}", l),
            TlsConfigError::BadProtocols(name, v) => {
                write!(f, "invalid {} value: \"{}\"", name, v)
            }
        }
    }
}

/// The TLS side of one configuration.
#[derive(Clone)]
pub struct ServerTls {
    pub level: Level,
    /// The handshake engine; `None` when no certificate is configured or it failed to
    /// load (STARTTLS then answers 454, as Postfix does).
    pub acceptor: Option<Arc<SslAcceptor>>,
    /// A client certificate is requested (smtpd_tls_ask_ccert, or required).
    pub ask_ccert: bool,
    /// A trusted client certificate is required (smtpd_tls_req_ccert at level encrypt).
    pub require_ccert: bool,
    /// smtpd_tls_fingerprint_digest: the digest of client certificate fingerprints.
    pub digest: MessageDigest,
    pub loglevel: i64,
    pub received_header: bool,
    pub wrappermode: bool,
    /// smtpd_client_new_tls_session_rate_limit: new TLS sessions per client per anvil time
    /// unit (0: no limit).
    pub session_rate_limit: u32,
}

impl ServerTls {
    /// No TLS at all (the stand-alone server, `sendmail -bs`).
    pub fn disabled() -> ServerTls {
        ServerTls {
            level: Level::None,
            acceptor: None,
            ask_ccert: false,
            require_ccert: false,
            digest: MessageDigest::md5(),
            loglevel: 0,
            received_header: false,
            wrappermode: false,
            session_rate_limit: 0,
        }
    }

    /// The settings of `cfg`; the identity is loaded when the level (or wrapper mode)
    /// calls for TLS.
    pub fn from_config(cfg: &Config) -> Result<ServerTls, TlsConfigError> {
        let level = level(cfg)?;
        let wrappermode = cfg.bool("smtpd_tls_wrappermode");
        let (name, value) = match level {
            Level::Encrypt => (
                "smtpd_tls_mandatory_protocols",
                cfg.get("smtpd_tls_mandatory_protocols"),
            ),
            _ => ("smtpd_tls_protocols", cfg.get("smtpd_tls_protocols")),
        };
        let range = protocols::parse(value)
            .ok_or_else(|| TlsConfigError::BadProtocols(name.into(), value.into()))?;
        let wanted = level != Level::None || wrappermode;
        let require_ccert = cfg.bool("smtpd_tls_req_ccert") && level == Level::Encrypt;
        if cfg.bool("smtpd_tls_req_ccert") && level != Level::Encrypt && wanted {
            crate::log::warning("smtpd", "Can't require client certs unless TLS is required");
        }
        let ask_ccert = cfg.bool("smtpd_tls_ask_ccert") || require_ccert;
        let digest_name = cfg.get("smtpd_tls_fingerprint_digest").trim();
        let digest = crate::tls::fingerprint::digest(digest_name);
        let acceptor = match identity_files(cfg) {
            // As Postfix's tls_server_init: refused now, not in the middle of a handshake.
            Some(_) if wanted && digest.is_none() => {
                crate::log::warning(
                    "smtpd",
                    format!(
                        "Digest algorithm \"{}\" not found: disabling TLS support",
                        crate::log::lines::printable(digest_name)
                    ),
                );
                None
            }
            Some((cert, key)) if wanted => load(&acceptor::Settings {
                cert: &cert,
                key: &key,
                range,
                ca_file: cfg.get("smtpd_tls_CAfile").trim(),
                ca_path: cfg.get("smtpd_tls_CApath").trim(),
                ask_ccert,
                verify_depth: u32::try_from(cfg.int("smtpd_tls_ccert_verifydepth").max(1))
                    .unwrap_or(9),
            }),
            None if wanted => {
                crate::log::warning(
                    "smtpd",
                    "No server certs available. TLS won't be enabled (smtpd_tls_cert_file is empty)",
                );
                None
            }
            _ => None,
        };
        Ok(ServerTls {
            level,
            acceptor,
            ask_ccert,
            require_ccert,
            digest: digest.unwrap_or_else(MessageDigest::md5),
            loglevel: cfg.int("smtpd_tls_loglevel"),
            received_header: cfg.bool("smtpd_tls_received_header"),
            wrappermode,
            session_rate_limit: u32::try_from(
                cfg.int("smtpd_client_new_tls_session_rate_limit").max(0),
            )
            .unwrap_or(u32::MAX),
        })
    }

    /// Whether EHLO offers STARTTLS.
    pub fn offer_starttls(&self) -> bool {
        self.level != Level::None && self.acceptor.is_some() && !self.wrappermode
    }
}

/// smtpd_tls_security_level, or the legacy booleans when it is empty.
fn level(cfg: &Config) -> Result<Level, TlsConfigError> {
    match cfg.get("smtpd_tls_security_level").trim() {
        "" if cfg.bool("smtpd_enforce_tls") => Ok(Level::Encrypt),
        "" if cfg.bool("smtpd_use_tls") => Ok(Level::May),
        "" | "none" => Ok(Level::None),
        "may" => Ok(Level::May),
        "encrypt" => Ok(Level::Encrypt),
        other => Err(TlsConfigError::BadLevel(other.to_string())),
    }
}

/// The certificate and key files: the first of smtpd_tls_chain_files (key and chain in one
/// file; it takes precedence, as in Postfix), else smtpd_tls_cert_file and
/// smtpd_tls_key_file (empty: the certificate file). `None` when none is configured.
fn identity_files(cfg: &Config) -> Option<(String, String)> {
    let chain = split_list(cfg.get("smtpd_tls_chain_files"));
    if let Some(first) = chain.first() {
        if chain.len() > 1 {
            crate::log::warning(
                "smtpd",
                format!(
                    "smtpd_tls_chain_files: only {} is used (one server identity is loaded)",
                    first
                ),
            );
        }
        return Some((first.to_string(), first.to_string()));
    }
    let cert = cfg.get("smtpd_tls_cert_file").trim();
    if cert.is_empty() {
        return None;
    }
    let key = match cfg.get("smtpd_tls_key_file").trim() {
        "" => cert,
        k => k,
    };
    Some((cert.to_string(), key.to_string()))
}

/// The server context, or `None` with Postfix's "disabling TLS support" warning.
fn load(settings: &acceptor::Settings<'_>) -> Option<Arc<SslAcceptor>> {
    match acceptor::build(settings) {
        Ok(a) => Some(Arc::new(a)),
        Err(e) => {
            crate::log::warning(
                "smtpd",
                format!(
                    "cannot load TLS certificate {} / key {}: {}: disabling TLS support",
                    settings.cert, settings.key, e
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(Path::new("/nonexistent"), pairs)
    }

    #[test]
    fn levels_and_legacy_booleans() {
        assert_eq!(level(&cfg(&[])), Ok(Level::None));
        assert_eq!(level(&cfg(&[("smtpd_use_tls", "yes")])), Ok(Level::May));
        let enforce = cfg(&[("smtpd_use_tls", "yes"), ("smtpd_enforce_tls", "yes")]);
        assert_eq!(level(&enforce), Ok(Level::Encrypt));
        let both = cfg(&[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_enforce_tls", "yes"),
        ]);
        assert_eq!(level(&both), Ok(Level::May));
        let bad = cfg(&[("smtpd_tls_security_level", "verify")]);
        assert!(matches!(level(&bad), Err(TlsConfigError::BadLevel(_))));
    }

    #[test]
    fn no_certificate_means_no_starttls() {
        let t = ServerTls::from_config(&cfg(&[("smtpd_tls_security_level", "may")])).unwrap();
        assert!(t.acceptor.is_none());
        assert!(!t.offer_starttls());
    }
}
