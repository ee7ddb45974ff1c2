//! This host's addresses, for address literals in the local class (Postfix's resolve_local
//! with own_inet_addr and proxy_inet_addr): `user@[192.0.2.1]` or `user@[IPv6:2001:db8::1]`
//! is local when the address is one of $inet_interfaces (every interface address for
//! `all`, loopback for `loopback-only` and `localhost`) or of $proxy_interfaces. Host names
//! in those parameters are not resolved. The interface addresses are read from the system
//! when a literal is first tested, not when the classes are built.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use crate::config::Config;

/// This host's addresses, read on first use.
#[derive(Debug, Clone, Default)]
pub struct OwnAddresses {
    all_interfaces: bool,
    listed: Vec<IpAddr>,
    addrs: OnceLock<Vec<IpAddr>>,
}

impl OwnAddresses {
    /// From $inet_interfaces and $proxy_interfaces.
    pub fn from_config(cfg: &Config) -> OwnAddresses {
        let (all_interfaces, mut listed) = inet_interfaces(cfg);
        listed.extend(cfg.list("proxy_interfaces").iter().filter_map(|i| parse(i)));
        OwnAddresses {
            all_interfaces,
            listed,
            addrs: OnceLock::new(),
        }
    }

    /// The addresses (the system's interface addresses read now if `all`).
    pub fn addrs(&self) -> &[IpAddr] {
        self.addrs.get_or_init(|| {
            let mut v = self.listed.clone();
            if self.all_interfaces {
                v.extend(crate::sys::interface_networks().into_iter().map(|n| n.0));
            }
            v.iter().map(|a| a.to_canonical()).collect()
        })
    }

    /// Whether `domain` is an address literal (`[addr]`, `[IPv6:addr]`) of ours.
    pub fn is_own_literal(&self, domain: &str) -> bool {
        let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) else {
            return false;
        };
        let bare = match inner.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("ipv6:") => &inner[5..],
            _ => inner,
        };
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.addrs().contains(&ip.to_canonical()),
            Err(_) => false,
        }
    }
}

/// $inet_interfaces: whether it says `all`, and the addresses it lists (`loopback-only` and
/// `localhost` as the loopback addresses).
fn inet_interfaces(cfg: &Config) -> (bool, Vec<IpAddr>) {
    let (mut all, mut listed) = (false, Vec::new());
    for item in cfg.list("inet_interfaces") {
        match item.to_ascii_lowercase().as_str() {
            "all" => all = true,
            "loopback-only" | "localhost" => listed.extend([
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]),
            other => listed.extend(parse(other)),
        }
    }
    (all, listed)
}

/// The addresses of $inet_interfaces alone (Postfix's own_inet_addr: permit_inet_interfaces),
/// read from the system now for `all`.
pub fn inet_interface_addrs(cfg: &Config) -> Vec<IpAddr> {
    let (all, mut addrs) = inet_interfaces(cfg);
    if all {
        addrs.extend(crate::sys::interface_networks().into_iter().map(|n| n.0));
    }
    addrs.iter().map(|a| a.to_canonical()).collect()
}

/// An address as written in an interfaces parameter (`192.0.2.1`, `[::1]`), if it is one.
pub fn parse(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn own(pairs: &[(&str, &str)]) -> OwnAddresses {
        OwnAddresses::from_config(&Config::from_pairs(Path::new("/x"), pairs))
    }

    #[test]
    fn listed_and_proxy_addresses_are_ours() {
        let o = own(&[
            ("inet_interfaces", "192.0.2.1, [2001:db8::1], mail.me.test"),
            ("proxy_interfaces", "198.51.100.7"),
        ]);
        assert!(o.is_own_literal("[192.0.2.1]"));
        assert!(o.is_own_literal("[IPv6:2001:db8::1]"));
        assert!(o.is_own_literal("[ipv6:2001:DB8::1]"));
        assert!(o.is_own_literal("[198.51.100.7]"));
        assert!(
            !o.is_own_literal("[127.0.0.1]"),
            "loopback only when listed"
        );
        assert!(!o.is_own_literal("[192.0.2.2]"));
        assert!(!o.is_own_literal("192.0.2.1"), "not a literal");
        assert!(!o.is_own_literal("[mail.me.test]") && !o.is_own_literal("[]"));
        assert!(!o.is_own_literal("[\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}]"));
    }

    #[test]
    fn loopback_only() {
        let o = own(&[("inet_interfaces", "loopback-only")]);
        assert!(o.is_own_literal("[127.0.0.1]") && o.is_own_literal("[IPv6:::1]"));
    }

    #[test]
    fn all_reads_the_interfaces_when_first_needed() {
        let o = own(&[("inet_interfaces", "all")]);
        assert!(o.addrs.get().is_none());
        let sys: Vec<IpAddr> = crate::sys::interface_networks()
            .into_iter()
            .map(|n| n.0.to_canonical())
            .collect();
        for a in &sys {
            let lit = match a {
                IpAddr::V4(v) => format!("[{}]", v),
                IpAddr::V6(v) => format!("[IPv6:{}]", v),
            };
            assert!(o.is_own_literal(&lit), "{}", lit);
        }
        assert!(
            !o.is_own_literal("[192.0.2.254]") || sys.contains(&"192.0.2.254".parse().unwrap())
        );
    }
}
