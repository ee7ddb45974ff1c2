//! The client's host name, as Postfix's smtpd_peer.c finds it: the address is looked up
//! in reverse (PTR), and that name counts only when a forward lookup of it (in the client's
//! address family) lists the client address again. Otherwise the client is `unknown`.
//!
//! Security role: a client controls its own PTR record, so an unverified name must never
//! reach check_client_access (`trusted.example OK`), the Received: header or the logs.
//! Names that are not plausible host names (control characters, brackets, a numeric
//! address) are refused before any forward lookup.
//!
//! Two results, as Postfix keeps them: `name` (verified) and `reverse_name` (the PTR name,
//! unverified), each with a status (ok, temporary failure, permanent failure, and for
//! `name` also "forged": the forward lookup did not give the address back), for
//! reject_unknown_client_hostname and reject_unknown_reverse_client_hostname.
//!
//! Logs (log::lines::hostname_unverified): `warning: hostname NAME does not resolve to
//! address ADDR` and `warning: hostname NAME does not resolve to address ADDR: REASON`.

use std::net::IpAddr;

use crate::log::lines;

/// A failed lookup: whether it is worth retrying, and the resolver's text.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupFailure {
    pub temporary: bool,
    pub reason: String,
}

/// Reverse and forward host lookups (the system resolver, or a stand-in in tests).
pub trait PeerLookup: Send + Sync {
    /// The PTR name of `addr`.
    fn reverse(&self, addr: IpAddr) -> Result<String, LookupFailure>;
    /// The addresses of `name` in the family of the client (`ipv6` or IPv4).
    fn forward(&self, name: &str, ipv6: bool) -> Result<Vec<IpAddr>, LookupFailure>;
}

/// The system resolver: getnameinfo and getaddrinfo (/etc/hosts, DNS, as nsswitch says).
pub struct SystemLookup;

fn failure(e: crate::sys::AiError) -> LookupFailure {
    LookupFailure {
        temporary: e.is_temporary(),
        reason: e.text,
    }
}

impl PeerLookup for SystemLookup {
    fn reverse(&self, addr: IpAddr) -> Result<String, LookupFailure> {
        crate::sys::name_of_addr(addr).map_err(failure)
    }

    fn forward(&self, name: &str, ipv6: bool) -> Result<Vec<IpAddr>, LookupFailure> {
        crate::sys::addrs_of_name(name, ipv6).map_err(failure)
    }
}

/// How a name result is to be read (Postfix's SMTPD_PEER_CODE_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStatus {
    Ok,
    /// A lookup failed and may work later.
    Temporary,
    /// No name, or a lookup failed for good.
    Permanent,
    /// The PTR name does not resolve back to the client address.
    Forged,
}

/// The client's names.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerNames {
    /// The verified name, or `unknown`.
    pub name: String,
    pub name_status: NameStatus,
    /// The PTR name, verified or not, or `unknown`.
    pub reverse_name: String,
    pub reverse_name_status: NameStatus,
}

pub const UNKNOWN: &str = "unknown";

/// A name fit for logs and access tables: letters, digits, `.`, `-`, `_`, not an address.
fn plausible(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && name.parse::<IpAddr>().is_err()
}

fn status(temporary: bool) -> NameStatus {
    if temporary {
        NameStatus::Temporary
    } else {
        NameStatus::Permanent
    }
}

/// Look the client up in reverse, then verify the name forward. A name that does not
/// resolve back to `addr` is logged and replaced by `unknown`.
pub fn resolve(addr: IpAddr, dns: &dyn PeerLookup) -> PeerNames {
    let unknown = |s: NameStatus| PeerNames {
        name: UNKNOWN.to_string(),
        name_status: s,
        reverse_name: UNKNOWN.to_string(),
        reverse_name_status: s,
    };
    let ptr = match dns.reverse(addr) {
        Ok(n) if plausible(&n) => n,
        Ok(_) => return unknown(NameStatus::Permanent),
        Err(f) => return unknown(status(f.temporary)),
    };
    let addr_text = addr.to_string();
    let name_status = match dns.forward(&ptr, addr.is_ipv6()) {
        Err(f) => {
            lines::hostname_unverified(&ptr, &addr_text, Some(&f.reason));
            if f.temporary {
                NameStatus::Temporary
            } else {
                NameStatus::Forged
            }
        }
        Ok(list) if list.contains(&addr) => NameStatus::Ok,
        Ok(_) => {
            lines::hostname_unverified(&ptr, &addr_text, None);
            NameStatus::Forged
        }
    };
    PeerNames {
        name: if name_status == NameStatus::Ok {
            ptr.clone()
        } else {
            UNKNOWN.to_string()
        },
        name_status,
        reverse_name: ptr,
        reverse_name_status: NameStatus::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PTR `trusted.example` for every address; the forward answer is given.
    pub struct Fake(pub Result<Vec<IpAddr>, LookupFailure>);

    impl PeerLookup for Fake {
        fn reverse(&self, _: IpAddr) -> Result<String, LookupFailure> {
            Ok("trusted.example".to_string())
        }
        fn forward(&self, name: &str, _: bool) -> Result<Vec<IpAddr>, LookupFailure> {
            assert_eq!(name, "trusted.example");
            self.0.clone()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn verified_name_is_used() {
        let n = resolve(
            ip("192.0.2.1"),
            &Fake(Ok(vec![ip("10.0.0.1"), ip("192.0.2.1")])),
        );
        assert_eq!(n.name, "trusted.example");
        assert_eq!(n.name_status, NameStatus::Ok);
        assert_eq!(n.reverse_name, "trusted.example");
    }

    #[test]
    fn name_for_another_address_is_unknown() {
        let n = resolve(ip("192.0.2.1"), &Fake(Ok(vec![ip("10.0.0.1")])));
        assert_eq!(n.name, "unknown");
        assert_eq!(n.name_status, NameStatus::Forged);
        // The reverse name itself was found (reject_unknown_reverse_client_hostname passes).
        assert_eq!(n.reverse_name, "trusted.example");
        assert_eq!(n.reverse_name_status, NameStatus::Ok);
    }

    #[test]
    fn forward_failures() {
        let fail = |temporary| {
            Fake(Err(LookupFailure {
                temporary,
                reason: "Name or service not known".into(),
            }))
        };
        let n = resolve(ip("192.0.2.1"), &fail(false));
        assert_eq!(
            (n.name.as_str(), n.name_status),
            ("unknown", NameStatus::Forged)
        );
        let n = resolve(ip("192.0.2.1"), &fail(true));
        assert_eq!(n.name_status, NameStatus::Temporary);
    }

    #[test]
    fn implausible_ptr_names_are_refused() {
        assert!(!plausible("192.0.2.1"));
        assert!(!plausible("a b"));
        assert!(!plausible("evil\r\nhost"));
        assert!(!plausible(""));
        assert!(plausible("mx-1.example.com"));
    }

    #[test]
    fn system_resolver_on_loopback() {
        // /etc/hosts names 127.0.0.1 on every machine we run on; whatever the name, it is
        // either verified or `unknown`, never an unverified name.
        let n = resolve(ip("127.0.0.1"), &SystemLookup);
        if n.name_status == NameStatus::Ok {
            let back = SystemLookup.forward(&n.name, false).unwrap();
            assert!(back.contains(&ip("127.0.0.1")));
        } else {
            assert_eq!(n.name, "unknown");
        }
    }
}
