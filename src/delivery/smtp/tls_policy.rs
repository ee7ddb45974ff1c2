//! The SMTP client's TLS policy (RFC 3207): smtp_tls_security_level and what each level
//! asks of the server's certificate, as a native-tls connector.
//!
//! Levels: `none`, `may` (opportunistic, certificate not checked), `encrypt` (TLS
//! required, certificate not checked), `verify` (TLS required, the certificate must chain
//! to a trusted root and name the host given by smtp_tls_verify_cert_match, default
//! `hostname`: the MX host name) and `secure` (the same with
//! smtp_tls_secure_cert_match, default `nexthop, dot-nexthop`: the next-hop domain).
//! native-tls checks one DNS name per connection, so of the match list the first usable
//! entry is the one checked: `hostname` (the MX host), `nexthop` (the next-hop domain) or
//! a literal name; `dot-nexthop` (subdomains of the next hop) cannot be expressed and is
//! skipped. Trusted roots: the system's, plus the certificates of smtp_tls_CAfile and of
//! the `*.pem`/`*.crt` files in smtp_tls_CApath (native-tls adds them to the system
//! store, it cannot replace it). smtp_tls_mandatory_protocols (encrypt and stronger) or
//! smtp_tls_protocols (may) set the lowest TLS version; TLSv1.2 is the floor.
//!
//! Security role: a level that Postern cannot enforce (`dane`, `dane-only`,
//! `fingerprint`, an unknown level, or any smtp_tls_policy_maps) is refused — the mail is
//! deferred (4.7.5) with a warning — never silently weakened to `encrypt`. Logs nothing
//! itself (the agent logs the refusal, the session the handshake result).

use std::fmt;
use std::path::Path;

use native_tls::{Certificate, Protocol, TlsConnector};

use crate::config::Config;

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

/// Which name the certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertMatch {
    /// The MX host name (or the name of the `[host]` next hop).
    Hostname,
    /// The next-hop domain.
    Nexthop,
    /// A fixed name.
    Name(String),
}

/// Why the TLS settings cannot be used.
#[derive(Debug)]
pub enum TlsPolicyError {
    /// A CA file or directory could not be read or parsed.
    Ca(String, String),
    /// No entry of the match list can be checked by native-tls.
    NoMatch(String),
    /// The connector could not be built.
    Tls(native_tls::Error),
}

impl fmt::Display for TlsPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsPolicyError::Ca(p, e) => write!(f, "cannot load CA certificates from {}: {}", p, e),
            TlsPolicyError::NoMatch(v) => {
                write!(f, "no usable certificate match strategy in \"{}\"", v)
            }
            TlsPolicyError::Tls(e) => write!(f, "{}", e),
        }
    }
}

/// The client's TLS settings, loaded once per agent.
#[derive(Clone)]
pub struct ClientTls {
    pub level: TlsLevel,
    /// Extra trusted roots (smtp_tls_CAfile, smtp_tls_CApath).
    roots: Vec<Certificate>,
    /// For verify and secure: which name to check.
    pub matching: CertMatch,
    min: Protocol,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("level", &self.level)
            .field("roots", &self.roots.len())
            .field("matching", &self.matching)
            .finish()
    }
}

/// The certificates of one PEM file (a bundle may hold many).
fn pem_certs(path: &Path, out: &mut Vec<Certificate>) -> Result<(), TlsPolicyError> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(|e| TlsPolicyError::Ca(shown.clone(), e.to_string()))?;
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut rest: &[u8] = &data;
    let mut found = 0;
    while let Some(end) = rest.windows(END.len()).position(|w| w == END) {
        let block = rest.get(..end + END.len()).unwrap_or(rest);
        if let Some(start) = block
            .windows(27)
            .position(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            let pem = block.get(start..).unwrap_or(block);
            let c = Certificate::from_pem(pem)
                .map_err(|e| TlsPolicyError::Ca(shown.clone(), e.to_string()))?;
            out.push(c);
            found += 1;
        }
        rest = rest.get(end + END.len()..).unwrap_or(&[]);
    }
    if found == 0 {
        return Err(TlsPolicyError::Ca(shown, "no certificate found".into()));
    }
    Ok(())
}

/// The first usable entry of a match list (`hostname`, `nexthop`, a name).
fn parse_match(value: &str) -> Option<CertMatch> {
    value
        .split(|c: char| c == ',' || c == ':' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .find_map(|t| match t.to_ascii_lowercase().as_str() {
            "hostname" => Some(CertMatch::Hostname),
            "nexthop" => Some(CertMatch::Nexthop),
            "dot-nexthop" => None,
            name if !name.starts_with('.') => Some(CertMatch::Name(name.to_string())),
            _ => None,
        })
}

/// The lowest protocol a smtp_tls_protocols-style value allows (TLSv1.2 at least).
fn min_protocol(value: &str) -> Protocol {
    const NAMES: [&str; 4] = ["tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"];
    let mut on = [true; 4];
    let mut listed = [false; 4];
    for t in value
        .split(|c: char| c == ',' || c == ':' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        let t = t.to_ascii_lowercase();
        let idx = |n: &str| NAMES.iter().position(|x| *x == n);
        if let Some(i) = t.strip_prefix(">=").and_then(idx) {
            on.iter_mut().take(i).for_each(|x| *x = false);
        } else if let Some(i) = t.strip_prefix('!').and_then(idx) {
            on[i] = false;
        } else if let Some(i) = idx(&t) {
            listed[i] = true;
        }
    }
    if listed.iter().any(|x| *x) {
        for (o, l) in on.iter_mut().zip(listed) {
            *o = *o && l;
        }
    }
    match on.iter().position(|x| *x).unwrap_or(2).max(2) {
        2 => Protocol::Tlsv12,
        _ => Protocol::Tlsv13,
    }
}

impl ClientTls {
    /// The settings of `cfg`. Errors only for levels that need them (encrypt and up read
    /// the protocol list; verify and secure the CA files and match list).
    pub fn from_config(cfg: &Config) -> Result<ClientTls, TlsPolicyError> {
        let level = TlsLevel::parse(cfg.get("smtp_tls_security_level"));
        let mut roots = Vec::new();
        let mut matching = CertMatch::Hostname;
        if level.verifies() {
            let file = cfg.get("smtp_tls_CAfile").trim();
            if !file.is_empty() {
                pem_certs(Path::new(file), &mut roots)?;
            }
            let dir = cfg.get("smtp_tls_CApath").trim();
            if !dir.is_empty() {
                let rd = std::fs::read_dir(dir)
                    .map_err(|e| TlsPolicyError::Ca(dir.to_string(), e.to_string()))?;
                let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
                paths.sort();
                for p in paths {
                    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                    if ["pem", "crt"].contains(&ext) || ext.parse::<u32>().is_ok() {
                        pem_certs(&p, &mut roots)?;
                    }
                }
            }
            let param = if level == TlsLevel::Verify {
                "smtp_tls_verify_cert_match"
            } else {
                "smtp_tls_secure_cert_match"
            };
            let v = cfg.get(param);
            matching = parse_match(v).ok_or_else(|| TlsPolicyError::NoMatch(v.to_string()))?;
        }
        let protocols = if level.required() {
            cfg.get("smtp_tls_mandatory_protocols")
        } else {
            cfg.get("smtp_tls_protocols")
        };
        Ok(ClientTls {
            level,
            roots,
            matching,
            min: min_protocol(protocols),
        })
    }

    /// Plain settings for a level (tests, and the plaintext retry).
    pub fn with_level(level: TlsLevel) -> ClientTls {
        ClientTls {
            level,
            roots: Vec::new(),
            matching: CertMatch::Hostname,
            min: Protocol::Tlsv12,
        }
    }

    /// The name the certificate must carry, for a server `host` of next hop `nexthop`.
    pub fn verify_name<'a>(&'a self, host: &'a str, nexthop: &'a str) -> &'a str {
        match &self.matching {
            CertMatch::Hostname => host,
            CertMatch::Nexthop => nexthop,
            CertMatch::Name(n) => n,
        }
    }

    /// The connector for this level: verifying for verify and secure, accepting any
    /// certificate below.
    pub fn connector(&self) -> Result<TlsConnector, TlsPolicyError> {
        let mut b = TlsConnector::builder();
        b.min_protocol_version(Some(self.min));
        if self.level.verifies() {
            for c in &self.roots {
                b.add_root_certificate(c.clone());
            }
        } else {
            b.danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        b.build().map_err(TlsPolicyError::Tls)
    }
}

/// A handshake error that is a certificate verification failure.
pub fn is_verify_failure(why: &str) -> bool {
    let w = why.to_ascii_lowercase();
    w.contains("certificate verify failed") || w.contains("verify") && w.contains("certificate")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn match_lists() {
        assert_eq!(parse_match("hostname"), Some(CertMatch::Hostname));
        assert_eq!(
            parse_match("nexthop, dot-nexthop"),
            Some(CertMatch::Nexthop)
        );
        assert_eq!(parse_match("dot-nexthop"), None);
        assert_eq!(
            parse_match("mx.example.com"),
            Some(CertMatch::Name("mx.example.com".into()))
        );
    }

    #[test]
    fn protocols() {
        let v = |s: &str| format!("{:?}", min_protocol(s));
        assert_eq!(v(""), "Tlsv12");
        assert_eq!(v(">=TLSv1"), "Tlsv12");
        assert_eq!(v(">=TLSv1.3"), "Tlsv13");
        assert_eq!(v("!SSLv2, !TLSv1, !TLSv1.1, !TLSv1.2"), "Tlsv13");
    }
}
