//! Host name and domain tests of the restriction machinery: HELO syntax
//! (reject_invalid_helo_hostname), fully-qualified names and addresses
//! (reject_non_fqdn_helo_hostname, reject_non_fqdn_sender, reject_non_fqdn_recipient) and
//! whether a domain exists in DNS (reject_unknown_sender_domain,
//! reject_unknown_recipient_domain) through `crate::dns::Resolve`, and Postfix's IPv4
//! address form (valid_ipv4_hostaddr) for literals and permit_naked_ip_address.
//!
//! Security role: parses client-supplied names; never widens. Without a resolver every
//! domain lookup is a temporary failure (450), never "exists". Follows postconf(5) for
//! these restrictions and RFC 5321 section 4.1.3 for address literals. Logs nothing.

use std::net::IpAddr;

use crate::dns::{DnsError, Resolve};

/// An RFC 5321 address literal: `[1.2.3.4]` or `[IPv6:...]`.
pub fn address_literal(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) else {
        return false;
    };
    match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => inner[5..].parse::<IpAddr>().is_ok(),
        _ => valid_ipv4_hostaddr(inner),
    }
}

/// An IPv4 address in Postfix's form (valid_ipv4_hostaddr): four decimal octets up to
/// 255, leading zeros allowed, and no initial 0 octet unless the address is all zeros.
pub fn valid_ipv4_hostaddr(name: &str) -> bool {
    let octets: Vec<&str> = name.split('.').collect();
    let numbers: Option<Vec<u32>> = octets
        .iter()
        .map(|o| {
            (!o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
                .then(|| {
                    o.bytes().try_fold(0u32, |v, b| {
                        let v = v * 10 + u32::from(b - b'0');
                        (v <= 255).then_some(v)
                    })
                })
                .flatten()
        })
        .collect();
    match numbers {
        Some(n) if n.len() == 4 => n[0] != 0 || n.iter().all(|&v| v == 0),
        _ => false,
    }
}

/// A syntactically valid host name: labels of letters, digits, `-` and `_` (not starting
/// or ending with `-`), at most 63 bytes each and 255 in all, and not all-numeric.
pub fn valid_hostname(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let ok = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok && !labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// reject_invalid_helo_hostname passes this.
pub fn valid_helo(name: &str) -> bool {
    address_literal(name) || valid_hostname(name)
}

/// reject_non_fqdn_helo_hostname passes this: an address literal, or a valid name with a
/// dot inside.
pub fn fqdn_helo(name: &str) -> bool {
    if address_literal(name) {
        return true;
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    bare.contains('.') && valid_hostname(bare)
}

/// reject_non_fqdn_sender / _recipient pass this: `user@domain` where the domain is an
/// address literal or a fully-qualified name.
/// A UTF-8 domain (which only an SMTPUTF8 transaction gets this far) counts when its IDNA
/// form is valid, as Postfix's valid_utf8_hostname.
pub fn fqdn_address(addr: &str) -> bool {
    match addr.rsplit_once('@') {
        Some((_, d)) if !d.is_ascii() => {
            d.trim_end_matches('.').contains('.') && crate::smtputf8::valid_utf8_domain(d)
        }
        Some((_, d)) => fqdn_helo(d),
        None => false,
    }
}

/// What DNS says about a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainStatus {
    Exists,
    NotFound,
    TempFail,
}

/// A domain exists for mail when it has MX records, or else an address record. Any answer
/// settles it, as Postfix's lookup stops at the first: an MX lookup that fails for now
/// does not hide an address record.
pub fn domain_status(resolver: Option<&dyn Resolve>, domain: &str) -> DomainStatus {
    let Some(r) = resolver else {
        return DomainStatus::TempFail;
    };
    let mx_failed = match r.mx(domain) {
        Ok(hosts) if !hosts.is_empty() => return DomainStatus::Exists,
        Ok(_) => false,
        Err(DnsError::NotFound(_)) => return DomainStatus::NotFound,
        Err(DnsError::TempFail(_)) => true,
    };
    match r.addrs(domain) {
        Ok(a) if !a.is_empty() => DomainStatus::Exists,
        _ if mx_failed => DomainStatus::TempFail,
        Ok(_) | Err(DnsError::NotFound(_)) => DomainStatus::NotFound,
        Err(DnsError::TempFail(_)) => DomainStatus::TempFail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_addresses_as_postfix_takes_them() {
        for ok in ["192.0.2.7", "01.2.3.4", "0.0.0.0", "255.255.255.255"] {
            assert!(valid_ipv4_hostaddr(ok), "{ok}");
        }
        // The same rule for address literals.
        assert!(address_literal("[01.2.3.4]") && !address_literal("[0.1.2.3]"));
        for bad in [
            "0.1.2.3",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.256",
            "1..2.3",
            "1.2.3.",
            "2001::7",
            "",
        ] {
            assert!(!valid_ipv4_hostaddr(bad), "{bad}");
        }
    }
    use crate::dns::MxHost;

    #[test]
    fn helo_names() {
        for good in [
            "mail.ex.test",
            "a_b.test",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "x",
        ] {
            assert!(valid_helo(good), "{good}");
        }
        for bad in [
            "-a.test", "a..test", "1.2.3.4", "[1.2.3]", "a b", "ex!.test", "",
        ] {
            assert!(!valid_helo(bad), "{bad}");
        }
        assert!(fqdn_helo("mail.ex.test"));
        assert!(fqdn_helo("mail.ex.test."));
        assert!(fqdn_helo("[192.0.2.1]"));
        assert!(!fqdn_helo("localhost"));
        assert!(!fqdn_helo("localhost."));
        assert!(fqdn_address("a@b.test"));
        assert!(fqdn_address("a@[192.0.2.1]"));
        assert!(!fqdn_address("root"));
        assert!(!fqdn_address("root@localhost"));
        assert!(fqdn_address("j\u{f6}rg@b\u{fc}cher.example"));
        assert!(!fqdn_address("a@b\u{fc}cher"));
        assert!(!fqdn_address("a@b\u{fc}_cher.example"));
    }

    struct Fake;
    impl Resolve for Fake {
        fn mx(&self, d: &str) -> Result<Vec<MxHost>, DnsError> {
            match d {
                "mx.test" => Ok(vec![MxHost {
                    name: "m.mx.test".into(),
                    preference: 10,
                }]),
                "a.test" | "none.test" | "atemp.test" => Ok(vec![]),
                "temp.test" | "mxtemp.test" => Err(DnsError::TempFail("SERVFAIL".into())),
                _ => Err(DnsError::NotFound("NXDOMAIN".into())),
            }
        }
        fn addrs(&self, h: &str) -> Result<Vec<IpAddr>, DnsError> {
            match h {
                "a.test" | "mxtemp.test" => Ok(vec!["192.0.2.1".parse().unwrap()]),
                "atemp.test" => Err(DnsError::TempFail("timeout".into())),
                _ => Ok(vec![]),
            }
        }
    }

    #[test]
    fn domain_lookups() {
        let r: &dyn Resolve = &Fake;
        assert_eq!(domain_status(Some(r), "mx.test"), DomainStatus::Exists);
        assert_eq!(domain_status(Some(r), "a.test"), DomainStatus::Exists);
        assert_eq!(domain_status(Some(r), "none.test"), DomainStatus::NotFound);
        assert_eq!(domain_status(Some(r), "nx.test"), DomainStatus::NotFound);
        assert_eq!(domain_status(Some(r), "temp.test"), DomainStatus::TempFail);
        assert_eq!(domain_status(Some(r), "atemp.test"), DomainStatus::TempFail);
        // A failed MX lookup does not hide an address record.
        assert_eq!(domain_status(Some(r), "mxtemp.test"), DomainStatus::Exists);
        assert_eq!(domain_status(None, "mx.test"), DomainStatus::TempFail);
    }
}
