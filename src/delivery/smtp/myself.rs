//! Which MX hosts are this machine, so that mail never loops back to it (RFC 5321
//! section 5.1: a host that finds itself in a domain's MX list uses only the hosts more
//! preferred than itself). smtp(8) bounces such mail with dsn 5.4.6 `mail for DOMAIN
//! loops back to myself` when no more preferred host is left.
//!
//! An MX host is "myself" when its name equals $myhostname (case-insensitive), or when
//! one of its addresses is one of ours AND the client would connect to the standard SMTP
//! port 25. Our addresses: every interface address when $inet_interfaces is `all`
//! (otherwise the literal addresses it lists, loopback for `loopback-only`), the literal
//! addresses in $proxy_interfaces, and always 127.0.0.0/8 and ::1. Postfix compares
//! addresses only; the port condition is Postern's own: with another smtp_tcp_port (a
//! test server or smtp-sink on a loopback port) the peer is not this MTA's SMTP server,
//! so loopback MX hosts stay usable.
//!
//! Security role: stops a mail loop between this host and itself. Logs nothing.

use std::net::IpAddr;

use crate::config::Config;

use super::DEFAULT_PORT;

/// This host, as far as loop detection needs it.
#[derive(Debug, Clone, Default)]
pub struct Myself {
    hostname: String,
    addrs: Vec<IpAddr>,
}

impl Myself {
    /// A host named `hostname` with these addresses (loopback is always included).
    pub fn new(hostname: &str, addrs: Vec<IpAddr>) -> Myself {
        Myself {
            hostname: hostname.trim().trim_end_matches('.').to_string(),
            addrs: addrs.into_iter().map(|a| a.to_canonical()).collect(),
        }
    }

    /// $myhostname and the addresses from $inet_interfaces and $proxy_interfaces (the
    /// same set as the local class's address literals, crate::rewrite::OwnAddresses).
    pub fn from_config(cfg: &Config) -> Myself {
        let own = crate::rewrite::OwnAddresses::from_config(cfg);
        Myself::new(cfg.get("myhostname"), own.addrs().to_vec())
    }

    /// Whether `name` is $myhostname.
    pub fn is_my_name(&self, name: &str) -> bool {
        !self.hostname.is_empty()
            && name
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&self.hostname)
    }

    /// Whether `ip` is one of this host's addresses (loopback included).
    pub fn is_my_addr(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || self.addrs.contains(&ip)
    }

    /// Whether an MX host named `name` with addresses `ips`, reached at `port`, is this
    /// machine.
    pub fn is_me(&self, name: &str, ips: &[IpAddr], port: u16) -> bool {
        self.is_my_name(name) || (port == DEFAULT_PORT && ips.iter().any(|&a| self.is_my_addr(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_compare_without_case_and_trailing_dot() {
        let me = Myself::new("mail.example.com", vec![]);
        assert!(me.is_my_name("MAIL.Example.COM"));
        assert!(me.is_my_name("mail.example.com."));
        assert!(!me.is_my_name("mail2.example.com"));
        assert!(!Myself::new("", vec![]).is_my_name(""));
        // A name match needs no address and holds on any port.
        assert!(me.is_me("mail.example.com", &[ip("192.0.2.9")], 2525));
    }

    #[test]
    fn local_addresses_count_only_on_port_25() {
        let me = Myself::new("me.test", vec![ip("192.0.2.7")]);
        for a in [
            "127.0.0.1",
            "127.3.4.5",
            "::1",
            "192.0.2.7",
            "::ffff:192.0.2.7",
        ] {
            assert!(me.is_my_addr(ip(a)), "{}", a);
            assert!(
                me.is_me("mx.other.test", &[ip("198.51.100.1"), ip(a)], 25),
                "{}",
                a
            );
            assert!(!me.is_me("mx.other.test", &[ip(a)], 2525), "{}", a);
        }
        assert!(!me.is_my_addr(ip("192.0.2.8")));
        assert!(!me.is_me("mx.other.test", &[ip("192.0.2.8")], 25));
    }

    #[test]
    fn addresses_from_the_interface_parameters() {
        let cfg = Config::from_pairs(
            Path::new("/nonexistent"),
            &[
                ("myhostname", "me.test"),
                ("inet_interfaces", "192.0.2.1, [2001:db8::1], mail.me.test"),
                ("proxy_interfaces", "198.51.100.4"),
            ],
        );
        let me = Myself::from_config(&cfg);
        assert!(me.is_my_name("me.test"));
        for a in ["192.0.2.1", "2001:db8::1", "198.51.100.4", "127.0.0.1"] {
            assert!(me.is_my_addr(ip(a)), "{}", a);
        }
        assert!(!me.is_my_addr(ip("192.0.2.2")));
        let all = Config::from_pairs(Path::new("/nonexistent"), &[("inet_interfaces", "all")]);
        let me = Myself::from_config(&all);
        for (a, _) in crate::sys::interface_networks() {
            assert!(me.is_my_addr(a), "{}", a);
        }
    }
}
