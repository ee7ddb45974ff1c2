//! The SMTP client's TLS policy (RFC 3207): smtp_tls_security_level and what each level
//! asks of the server's certificate, as an OpenSSL client context (the `openssl` crate).
//!
//! Levels: `none`, `may` (opportunistic, certificate not checked), `encrypt` (TLS
//! required, certificate not checked), `verify` (TLS required, the certificate must chain
//! to a trusted root and carry a name of smtp_tls_verify_cert_match, default `hostname`)
//! and `secure` (the same with smtp_tls_secure_cert_match, default `nexthop,
//! dot-nexthop`); the lists and their matching are `crate::tls::names`, as Postfix 2.10
//! (no DNSSEC: `hostname` is the MX host name as DNS gave it, whatever the level).
//! Trusted roots: smtp_tls_CAfile and smtp_tls_CApath (an OpenSSL hashed directory, as
//! `c_rehash` makes), plus the system's default roots only with tls_append_default_CA =
//! yes (Postfix's default is no). smtp_tls_mandatory_protocols (encrypt and stronger) or
//! smtp_tls_protocols (may) give the protocol range (`crate::tls::protocols`; TLSv1.2 is
//! the floor); smtp_tls_scert_verifydepth bounds the chain; smtp_tls_loglevel says what
//! the session logs. As in Postfix 2.10 no SNI is sent and no session is cached. The
//! handshake and the checks after it are `tls_peer`.
//!
//! Security role: a level that Postern cannot enforce (`dane`, `dane-only`,
//! `fingerprint`, an unknown level, or any smtp_tls_policy_maps) is refused — the mail is
//! deferred (4.7.5) with a warning — never silently weakened to `encrypt`. The context
//! never fails a handshake over the certificate (Postfix's verify callback records and
//! goes on); `tls_peer` enforces trust and name afterwards. Logs nothing itself (the agent
//! logs the refusal, the session the handshake result).

use std::fmt;

use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslOptions, SslVerifyMode};

use crate::config::Config;
use crate::tls::names::MatchList;
use crate::tls::protocols;
/// smtp_tls_security_level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    None,
    May,
    Encrypt,
    Verify,
    Secure,
    /// Levels Postern does not implement: refused, never weakened.
    Dane,
    DaneOnly,
    Fingerprint,
    /// Not a Postfix level at all.
    Invalid,
}

impl TlsLevel {
    pub fn parse(s: &str) -> TlsLevel {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => TlsLevel::None,
            "may" => TlsLevel::May,
            "encrypt" => TlsLevel::Encrypt,
            "verify" => TlsLevel::Verify,
            "secure" => TlsLevel::Secure,
            "dane" => TlsLevel::Dane,
            "dane-only" => TlsLevel::DaneOnly,
            "fingerprint" => TlsLevel::Fingerprint,
            _ => TlsLevel::Invalid,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TlsLevel::None => "none",
            TlsLevel::May => "may",
            TlsLevel::Encrypt => "encrypt",
            TlsLevel::Verify => "verify",
            TlsLevel::Secure => "secure",
            TlsLevel::Dane => "dane",
            TlsLevel::DaneOnly => "dane-only",
            TlsLevel::Fingerprint => "fingerprint",
            TlsLevel::Invalid => "(invalid)",
        }
    }

    /// TLS must be used (no plaintext fallback).
    pub fn required(self) -> bool {
        matches!(
            self,
            TlsLevel::Encrypt | TlsLevel::Verify | TlsLevel::Secure
        )
    }

    /// The certificate is verified.
    pub fn verifies(self) -> bool {
        matches!(self, TlsLevel::Verify | TlsLevel::Secure)
    }

    /// Postern can enforce this level.
    pub fn supported(self) -> bool {
        matches!(
            self,
            TlsLevel::None
                | TlsLevel::May
                | TlsLevel::Encrypt
                | TlsLevel::Verify
                | TlsLevel::Secure
        )
    }
}

/// Why the TLS settings cannot be used.
#[derive(Debug)]
pub enum TlsPolicyError {
    /// A CA file or directory could not be read or parsed.
    Ca(String, String),
    /// A parameter has a value Postfix would refuse.
    Bad(&'static str, String),
    /// The context could not be built.
    Tls(openssl::error::ErrorStack),
}

impl fmt::Display for TlsPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsPolicyError::Ca(p, e) => write!(f, "cannot load CA certificates from {}: {}", p, e),
            TlsPolicyError::Bad(name, v) => write!(f, "invalid {} value: \"{}\"", name, v),
            TlsPolicyError::Tls(e) => write!(f, "{}", e),
        }
    }
}

impl From<openssl::error::ErrorStack> for TlsPolicyError {
    fn from(e: openssl::error::ErrorStack) -> TlsPolicyError {
        TlsPolicyError::Tls(e)
    }
}

/// What smtp_tls_loglevel asks to be logged (Postfix 2.10's tls_log_mask).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogMask {
    /// `... TLS connection established to ...` (level 1 and up, `summary`).
    pub summary: bool,
    /// Trust-chain failures even below the verify level (`untrusted`).
    pub untrusted: bool,
    /// The certificate's names and whether each matched, and the peer's CN and issuer
    /// (level 2 and up, `certmatch`, `verbose`, `peercert`).
    pub certmatch: bool,
}

impl LogMask {
    /// Parse smtp_tls_loglevel: `0`..`9`, `none`, `routine`, `debug`, ... or a list of
    /// `summary`, `untrusted`, `peercert`, `certmatch`, `verbose`, ...
    pub fn parse(value: &str) -> Option<LogMask> {
        let mut m = LogMask::default();
        for t in value
            .split(|c: char| c == ',' || c == ':' || c.is_ascii_whitespace())
            .filter(|t| !t.is_empty())
        {
            match t.to_ascii_lowercase().as_str() {
                "0" | "none" => {}
                "1" | "routine" | "summary" => m.summary = true,
                "untrusted" => m.untrusted = true,
                "peercert" | "certmatch" | "verbose" => m.certmatch = true,
                "2" | "debug" | "3" | "ssl-expert" | "4" | "ssl-developer" | "5" | "6" | "7"
                | "8" | "9" => {
                    m.summary = true;
                    m.certmatch = true;
                }
                // Library debugging and packet dumps: nothing more is logged.
                "cache" | "ssl-debug" | "ssl-handshake-packet-dump" | "ssl-session-packet-dump" => {
                }
                _ => return None,
            }
        }
        Some(m)
    }
}

/// The client's TLS settings, loaded once per agent.
#[derive(Clone)]
pub struct ClientTls {
    pub level: TlsLevel,
    /// The OpenSSL context (`None` at level none).
    pub ctx: Option<SslContext>,
    /// For verify and secure: the names the certificate may carry.
    pub matching: MatchList,
    pub log: LogMask,
    /// The chain depth OpenSSL checks: smtp_tls_scert_verifydepth + 1, as Postfix.
    pub depth: u32,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("level", &self.level)
            .field("matching", &self.matching)
            .field("log", &self.log)
            .finish()
    }
}

/// Add the certificates of smtp_tls_CAfile and the hashed directory smtp_tls_CApath.
fn load_cas(b: &mut SslContextBuilder, file: &str, dir: &str) -> Result<(), TlsPolicyError> {
    crate::tls::cas::load(b, file, dir)
        .map(|_| ())
        .map_err(|e| TlsPolicyError::Ca(e.path, e.why))
}

/// The client context: protocol range, roots, verify depth; certificates are checked
/// by `tls_peer`, never by failing the handshake.
fn context(
    cfg: &Config,
    range: protocols::Range,
    with_cas: bool,
) -> Result<SslContext, TlsPolicyError> {
    let mut b = SslContext::builder(SslMethod::tls_client())?;
    b.set_min_proto_version(Some(range.min))?;
    b.set_max_proto_version(range.max)?;
    b.set_options(SslOptions::NO_COMPRESSION | SslOptions::NO_TICKET);
    if with_cas {
        if cfg.bool("tls_append_default_CA") {
            b.set_default_verify_paths()?;
        }
        load_cas(
            &mut b,
            cfg.get("smtp_tls_CAfile").trim(),
            cfg.get("smtp_tls_CApath").trim(),
        )?;
    }
    b.set_verify_depth(verify_depth(cfg));
    b.set_verify(SslVerifyMode::PEER);
    Ok(b.build())
}

/// smtp_tls_scert_verifydepth + 1 (Postfix sets one more than asked, see `tls_peer`).
fn verify_depth(cfg: &Config) -> u32 {
    u32::try_from(cfg.int("smtp_tls_scert_verifydepth").max(1))
        .unwrap_or(9)
        .saturating_add(1)
}

impl ClientTls {
    /// The settings of `cfg`. Errors only for levels that need them: a bad protocol list
    /// or log level from encrypt up, unreadable CA files at verify and secure (below that a
    /// warning, and no root is trusted).
    pub fn from_config(cfg: &Config) -> Result<ClientTls, TlsPolicyError> {
        let level = TlsLevel::parse(cfg.get("smtp_tls_security_level"));
        let mut out = ClientTls::with_level(level);
        if level == TlsLevel::None || !level.supported() {
            return Ok(out);
        }
        out.depth = verify_depth(cfg);
        let lv = cfg.get("smtp_tls_loglevel");
        out.log = LogMask::parse(lv).ok_or(TlsPolicyError::Bad("smtp_tls_loglevel", lv.into()))?;
        let name = if level.required() {
            "smtp_tls_mandatory_protocols"
        } else {
            "smtp_tls_protocols"
        };
        let value = cfg.get(name);
        let range = protocols::parse(value).ok_or(TlsPolicyError::Bad(name, value.into()))?;
        out.ctx = Some(match context(cfg, range, true) {
            Ok(c) => c,
            Err(e) if !level.verifies() => {
                crate::log::warning("smtp", format!("TLS client initialization: {}", e));
                context(cfg, range, false)?
            }
            Err(e) => return Err(e),
        });
        if level.verifies() {
            let param = if level == TlsLevel::Verify {
                "smtp_tls_verify_cert_match"
            } else {
                "smtp_tls_secure_cert_match"
            };
            out.matching = MatchList::parse(cfg.get(param));
        }
        Ok(out)
    }

    /// Settings for a level without a context (the plaintext retry, tests).
    pub fn with_level(level: TlsLevel) -> ClientTls {
        ClientTls {
            level,
            ctx: None,
            matching: MatchList::default(),
            log: LogMask::default(),
            depth: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn levels() {
        assert_eq!(TlsLevel::parse(""), TlsLevel::None);
        assert_eq!(TlsLevel::parse("MAY"), TlsLevel::May);
        assert_eq!(TlsLevel::parse("verify"), TlsLevel::Verify);
        assert_eq!(TlsLevel::parse("dane-only"), TlsLevel::DaneOnly);
        assert_eq!(TlsLevel::parse("bogus"), TlsLevel::Invalid);
        assert!(!TlsLevel::Dane.supported());
        assert!(!TlsLevel::Fingerprint.supported());
        assert!(TlsLevel::Secure.required() && TlsLevel::Secure.verifies());
        assert!(!TlsLevel::Encrypt.verifies());
    }

    #[test]
    fn log_levels() {
        let l = |s| LogMask::parse(s);
        assert_eq!(l("0"), Some(LogMask::default()));
        assert!(l("1").unwrap().summary && !l("1").unwrap().certmatch);
        assert!(l("2").unwrap().certmatch);
        assert!(l("summary, untrusted").unwrap().untrusted);
        assert_eq!(l("bogus"), None);
    }

    #[test]
    fn bad_settings_are_errors_not_defaults() {
        let cfg = |pairs: &[(&str, &str)]| Config::from_pairs(Path::new("/nonexistent"), pairs);
        let c = cfg(&[
            ("smtp_tls_security_level", "encrypt"),
            ("smtp_tls_mandatory_protocols", "TLSv9"),
        ]);
        assert!(matches!(
            ClientTls::from_config(&c),
            Err(TlsPolicyError::Bad("smtp_tls_mandatory_protocols", _))
        ));
        let c = cfg(&[
            ("smtp_tls_security_level", "verify"),
            ("smtp_tls_CApath", "/nonexistent/certs"),
        ]);
        assert!(matches!(
            ClientTls::from_config(&c),
            Err(TlsPolicyError::Ca(_, _))
        ));
        // Below verify an unreadable CA file is a warning: no root is trusted.
        let c = cfg(&[
            ("smtp_tls_security_level", "may"),
            ("smtp_tls_CAfile", "/nonexistent/ca.pem"),
        ]);
        assert!(ClientTls::from_config(&c).unwrap().ctx.is_some());
    }

    /// The roots in the context's store (the system bundle is loaded eagerly).
    fn roots(append: &str) -> usize {
        let c = Config::from_pairs(
            Path::new("/nonexistent"),
            &[
                ("smtp_tls_security_level", "verify"),
                ("tls_append_default_CA", append),
            ],
        );
        let t = ClientTls::from_config(&c).unwrap();
        t.ctx.unwrap().cert_store().all_certificates().len()
    }

    #[test]
    fn system_roots_only_with_tls_append_default_ca() {
        assert_eq!(roots("no"), 0);
        // Debian's and RHEL's bundle; skipped where the host has none.
        let bundles = [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
        ];
        if bundles.iter().any(|b| Path::new(b).exists()) {
            assert!(roots("yes") > 0);
        }
    }
}
