//! Server certificate names and the match lists of smtp_tls_verify_cert_match and
//! smtp_tls_secure_cert_match, as Postfix 2.10 checks them (tls_client.c's match_hostname
//! and verify_extract_name, tls_verify.c's tls_dns_name and tls_text_name; postconf(5)).
//!
//! A match list holds strategies and patterns, separated by white space, commas or colons:
//! `hostname` (the server's host name: the MX host, or the `[host]` of a bracketed next
//! hop), `nexthop` (the next-hop domain before any MX lookup), `dot-nexthop` (any
//! subdomain of it), a name (`mx.example.com`, matched exactly) and `.example.com` (any
//! subdomain). Any entry may match any name of the certificate. The certificate's names
//! are its subjectAltName dNSNames; only when it has none is the subject CommonName used.
//! A certificate name `*.example.com` matches exactly one leading label of an exact
//! pattern (`mx.example.com`, not `example.com` nor `a.b.example.com`); a subdomain
//! pattern compares suffixes only, as in 2.10.
//!
//! Security role: decides whether the server is the one mail for the next hop may go to
//! (levels verify and secure). Certificate text is attacker-chosen: a dNSName with an
//! embedded NUL or a non-printable character is never matched, nor is a CommonName with
//! an embedded NUL or an ASCII control character (Postfix's checks); comparisons work on
//! bytes, case-insensitively for ASCII only. Logs nothing.

use openssl::nid::Nid;
use openssl::x509::X509Ref;

/// One entry of a match list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Hostname,
    Nexthop,
    DotNexthop,
    /// A name that must be equal.
    Exact(String),
    /// `.example.com`: any subdomain of `example.com` (stored without the dot).
    Subdomain(String),
}

/// smtp_tls_verify_cert_match / smtp_tls_secure_cert_match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchList(pub Vec<Strategy>);

impl MatchList {
    /// Parse a list (separators: white space, commas, colons).
    pub fn parse(value: &str) -> MatchList {
        let list = value
            .split(|c: char| c == ',' || c == ':' || c.is_ascii_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| {
                if t.eq_ignore_ascii_case("hostname") {
                    Strategy::Hostname
                } else if t.eq_ignore_ascii_case("nexthop") {
                    Strategy::Nexthop
                } else if t.eq_ignore_ascii_case("dot-nexthop") {
                    Strategy::DotNexthop
                } else if let Some(rest) = t.strip_prefix('.').filter(|r| !r.is_empty()) {
                    Strategy::Subdomain(rest.to_string())
                } else {
                    Strategy::Exact(t.to_string())
                }
            })
            .collect();
        MatchList(list)
    }

    /// Whether the certificate name `peerid` satisfies an entry of the list, for a server
    /// called `host` of the next hop `nexthop`.
    pub fn matches(&self, peerid: &str, host: &str, nexthop: &str) -> bool {
        self.0.iter().any(|s| {
            let (pattern, sub) = match s {
                Strategy::Hostname => (host, false),
                Strategy::Nexthop => (nexthop, false),
                Strategy::DotNexthop => (nexthop, true),
                Strategy::Exact(n) => (n.as_str(), false),
                Strategy::Subdomain(n) => (n.as_str(), true),
            };
            if sub {
                is_subdomain(peerid.as_bytes(), pattern.as_bytes())
            } else {
                exact_or_wildcard(peerid.as_bytes(), pattern.as_bytes())
            }
        })
    }
}

/// `id` is `label(s).pattern`.
fn is_subdomain(id: &[u8], pattern: &[u8]) -> bool {
    id.len() > pattern.len() + 1
        && id.get(id.len() - pattern.len() - 1) == Some(&b'.')
        && id
            .get(id.len() - pattern.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(pattern))
}

/// `id` equals `pattern`, or is `*.rest` where `pattern` is `label.rest`.
fn exact_or_wildcard(id: &[u8], pattern: &[u8]) -> bool {
    if id.eq_ignore_ascii_case(pattern) {
        return true;
    }
    let Some(rest) = id.strip_prefix(b"*.").filter(|r| !r.is_empty()) else {
        return false;
    };
    match pattern.iter().position(|&b| b == b'.') {
        Some(dot) => pattern
            .get(dot + 1..)
            .is_some_and(|p| p.eq_ignore_ascii_case(rest)),
        None => false,
    }
}

/// The names of a server certificate that matching looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    /// The usable subjectAltName dNSNames, in certificate order.
    pub dns: Vec<String>,
    /// The certificate has a subjectAltName that may be a dNSName (usable or not): the
    /// CommonName is then ignored.
    pub has_altname: bool,
    /// The subject CommonName (empty when missing or unusable).
    pub cn: String,
    /// The issuer CommonName, else Organization (empty when missing or unusable).
    pub issuer: String,
}

impl CertNames {
    /// The names of `cert`.
    pub fn of(cert: &X509Ref) -> CertNames {
        let mut out = CertNames {
            cn: text_entry(cert.subject_name().entries_by_nid(Nid::COMMONNAME).next()),
            issuer: {
                let i = cert.issuer_name();
                let cn = text_entry(i.entries_by_nid(Nid::COMMONNAME).next());
                if cn.is_empty() {
                    text_entry(i.entries_by_nid(Nid::ORGANIZATIONNAME).next())
                } else {
                    cn
                }
            },
            ..CertNames::default()
        };
        if let Some(alts) = cert.subject_alt_names() {
            for gn in alts.iter() {
                match gn.dnsname() {
                    Some(name) => {
                        out.has_altname = true;
                        if let Some(n) = dns_name(name) {
                            out.dns.push(n);
                        }
                    }
                    // A dNSName that is not UTF-8 is not told apart from other name
                    // types by the library: counting it keeps the CommonName out
                    // (stricter, never looser, than Postfix).
                    None if gn.ipaddress().is_none()
                        && gn.email().is_none()
                        && gn.uri().is_none()
                        && gn.directory_name().is_none() =>
                    {
                        out.has_altname = true
                    }
                    None => {}
                }
            }
        }
        out
    }

    /// Check the names against `list`: whether one matches, and the name Postfix reports
    /// as the peer's (the first matching dNSName, else the first dNSName, else the
    /// CommonName). `each` is called for every name looked at, with its match result,
    /// for the certificate-matching log lines.
    pub fn check(
        &self,
        list: &MatchList,
        host: &str,
        nexthop: &str,
        mut each: impl FnMut(&str, bool),
    ) -> (bool, String) {
        if self.has_altname {
            let mut first: Option<&str> = None;
            for n in &self.dns {
                let m = list.matches(n, host, nexthop);
                each(n, m);
                if m {
                    return (true, n.clone());
                }
                first.get_or_insert(n);
            }
            return (false, first.unwrap_or("").to_string());
        }
        let m = !self.cn.is_empty() && list.matches(&self.cn, host, nexthop);
        each(&self.cn, m);
        (m, self.cn.clone())
    }
}

/// A subjectAltName dNSName as tls_dns_name accepts it: trailing NULs dropped, no
/// embedded NUL, printable ASCII only; `None` when unusable or empty.
fn dns_name(raw: &str) -> Option<String> {
    let name = raw.trim_end_matches('\0');
    if name.is_empty() || !name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(name.to_string())
}

/// A name entry as tls_text_name accepts it: UTF-8, trailing NULs dropped, no embedded
/// NUL nor ASCII control character; empty when missing or unusable.
fn text_entry(e: Option<&openssl::x509::X509NameEntryRef>) -> String {
    let Some(text) = e.and_then(|e| e.data().to_string().ok()) else {
        return String::new();
    };
    let t = text.trim_end_matches('\0');
    if t.chars().any(|c| c.is_ascii_control()) {
        return String::new();
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(list: &str, id: &str) -> bool {
        MatchList::parse(list).matches(id, "mx1.example.com", "example.com")
    }

    #[test]
    fn strategies() {
        assert!(m("hostname", "MX1.Example.COM"));
        assert!(!m("hostname", "example.com"));
        assert!(m("nexthop", "example.com"));
        assert!(!m("nexthop", "mx1.example.com"));
        assert!(m("dot-nexthop", "mx1.example.com"));
        assert!(m("dot-nexthop", "a.b.example.com"));
        assert!(!m("dot-nexthop", "example.com"));
        assert!(!m("dot-nexthop", "badexample.com"));
        assert!(m("nexthop, dot-nexthop", "example.com"));
        assert!(m("nexthop:dot-nexthop", "smtp.example.com"));
        assert!(m("mail.test .relay.test", "mail.test"));
        assert!(m("mail.test .relay.test", "x.relay.test"));
        assert!(!m("mail.test .relay.test", "relay.test"));
        assert!(!m("", "example.com"));
    }

    #[test]
    fn wildcards_as_postfix_2_10() {
        assert!(m("hostname", "*.example.com"));
        assert!(!m("nexthop", "*.example.com"));
        assert!(!m("a.b.example.com", "*.example.com"));
        assert!(!m("hostname", "*."));
        assert!(!m("hostname", "mx*.example.com"));
        assert!(!m("nexthop", "*"));
        // A subdomain pattern compares suffixes: `*` is a label there (2.10).
        assert!(m("dot-nexthop", "*.example.com"));
    }

    #[test]
    fn names_are_bytes_and_never_panic() {
        assert!(!m("hostname", "\u{e9}x1.example.com"));
        assert!(!m("dot-nexthop", "\u{e9}"));
        assert!(!m("\u{e9}.", "*.\u{e9}"));
        assert_eq!(dns_name("mx.test\0\0"), Some("mx.test".into()));
        assert_eq!(dns_name("mx\0.test"), None);
        assert_eq!(dns_name("mx\u{e9}.test"), None);
        assert_eq!(dns_name(""), None);
    }

    #[test]
    fn altnames_before_the_common_name() {
        let list = MatchList::parse("hostname");
        let names = CertNames {
            dns: vec!["other.test".into(), "mx1.example.com".into()],
            has_altname: true,
            cn: "mx1.example.com".into(),
            issuer: String::new(),
        };
        let mut seen = Vec::new();
        let r = names.check(&list, "mx1.example.com", "example.com", |n, m| {
            seen.push((n.to_string(), m))
        });
        assert_eq!(r, (true, "mx1.example.com".to_string()));
        assert_eq!(seen.len(), 2);
        // The CN is not looked at when altnames exist.
        let only_cn = CertNames {
            dns: vec!["other.test".into()],
            ..names.clone()
        };
        let r = only_cn.check(&list, "mx1.example.com", "example.com", |_, _| {});
        assert_eq!(r, (false, "other.test".to_string()));
        let no_alt = CertNames {
            dns: vec![],
            has_altname: false,
            ..names
        };
        let r = no_alt.check(&list, "mx1.example.com", "example.com", |_, _| {});
        assert_eq!(r, (true, "mx1.example.com".to_string()));
    }
}
