//! Where the SMTP client connects: the next-hop forms of smtp(8) (`domain` and
//! `host:port` with an MX lookup, `[host]` and `[host]:port` without), the MX walk in
//! preference order with the fall-back to the domain's own addresses when it has no MX
//! records (RFC 5321 section 5.1), and the TCP connect with smtp_connect_timeout.
//!
//! Security role: none beyond bounding the walk (smtp_mx_address_limit). Logs nothing
//! itself; the agent logs each failed connect as `connect to HOST[IP]:PORT: REASON`.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::delivery::Status;
use crate::dns::{DnsError, Resolve};

/// A parsed next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    pub host: String,
    pub port: u16,
    /// Look up MX records (no brackets).
    pub mx: bool,
}

/// A port number or one of the service names used in transport maps.
fn port(s: &str) -> Option<u16> {
    match s {
        "smtp" => Some(25),
        "submission" => Some(587),
        "smtps" | "submissions" => Some(465),
        _ => s.parse().ok().filter(|&p| p != 0),
    }
}

/// Parse `domain`, `domain:port`, `[host]`, `[host]:port` (an IPv6 literal may be written
/// `[ipv6:::1]`). `default_port` applies when no port is given.
pub fn parse_nexthop(s: &str, default_port: u16) -> Result<NextHop, String> {
    let s = s.trim();
    let bad = || format!("malformed next-hop destination: {}", s);
    let (host, mx, rest) = if let Some(inner) = s.strip_prefix('[') {
        let (h, rest) = inner.split_once(']').ok_or_else(bad)?;
        let h = if h.len() > 5 && h[..5].eq_ignore_ascii_case("ipv6:") {
            &h[5..]
        } else {
            h
        };
        (h, false, rest)
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) => (h, true, &s[h.len()..]),
            None => (s, true, ""),
        }
    };
    let port = match rest {
        "" => default_port,
        r => r.strip_prefix(':').and_then(port).ok_or_else(bad)?,
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '[' || c == ']') {
        return Err(bad());
    }
    Ok(NextHop {
        host: host.trim_end_matches('.').to_string(),
        port,
        mx,
    })
}

/// One address to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub ip: IpAddr,
    pub port: u16,
}

impl Peer {
    /// `name[ip]`, as smtp(8) names a server in its texts.
    pub fn namaddr(&self) -> String {
        format!("{}[{}]", self.name, self.ip)
    }

    /// `name[ip]:port`, the `relay=` value.
    pub fn relay(&self) -> String {
        format!("{}[{}]:{}", self.name, self.ip, self.port)
    }
}

/// Why there is nowhere to connect to.
#[derive(Debug, Clone, PartialEq)]
pub struct NoPeers {
    pub status: Status,
    pub dsn: String,
    pub text: String,
}

fn dns_failure(name: &str, rtype: &str, e: &DnsError) -> NoPeers {
    let prefix = "Host or domain name not found. Name service error for";
    match e {
        DnsError::NotFound(_) => NoPeers {
            status: Status::Bounced,
            dsn: "5.4.4".into(),
            text: format!("{} name={} type={}: Host not found", prefix, name, rtype),
        },
        DnsError::TempFail(why) if why.starts_with("Host or domain name not found") => NoPeers {
            status: Status::Deferred,
            dsn: "4.4.3".into(),
            text: why.clone(),
        },
        DnsError::TempFail(why) => NoPeers {
            status: Status::Deferred,
            dsn: "4.4.3".into(),
            text: format!("{} name={} type={}: {}", prefix, name, rtype, why),
        },
    }
}

fn host_addrs(resolver: &dyn Resolve, host: &str) -> Result<Vec<IpAddr>, DnsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    resolver.addrs(host)
}

/// The addresses to try, in order, at most `limit` of them (0: no limit).
pub fn peers(resolver: &dyn Resolve, nh: &NextHop, limit: usize) -> Result<Vec<Peer>, NoPeers> {
    let mut out = Vec::new();
    let push = |name: &str, ips: Vec<IpAddr>, out: &mut Vec<Peer>| {
        for ip in ips {
            if limit == 0 || out.len() < limit {
                out.push(Peer {
                    name: name.to_string(),
                    ip,
                    port: nh.port,
                });
            }
        }
    };
    let mxs = if nh.mx && nh.host.parse::<IpAddr>().is_err() {
        resolver
            .mx(&nh.host)
            .map_err(|e| dns_failure(&nh.host, "MX", &e))?
    } else {
        Vec::new()
    };
    if mxs.is_empty() {
        let ips = host_addrs(resolver, &nh.host).map_err(|e| dns_failure(&nh.host, "A", &e))?;
        push(&nh.host, ips, &mut out);
    } else {
        // A host that does not resolve is skipped; when none resolves, the last error
        // (a temporary one preferred) is the answer.
        let mut err: Option<NoPeers> = None;
        for mx in &mxs {
            match host_addrs(resolver, &mx.name) {
                Ok(ips) => push(&mx.name, ips, &mut out),
                Err(e) => {
                    let f = dns_failure(&mx.name, "A", &e);
                    if err
                        .as_ref()
                        .is_none_or(|old| old.status != Status::Deferred)
                    {
                        err = Some(f);
                    }
                }
            }
        }
        if out.is_empty()
            && let Some(e) = err
        {
            return Err(e);
        }
    }
    if out.is_empty() {
        return Err(NoPeers {
            status: Status::Deferred,
            dsn: "4.4.4".into(),
            text: format!("Host or domain name not found: no address for {}", nh.host),
        });
    }
    Ok(out)
}

/// The reason text of a failed connect, as the C library words it.
pub fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "Connection timed out".into(),
        io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// Open a TCP connection within `timeout`.
pub fn connect(peer: &Peer, timeout: Duration) -> Result<TcpStream, String> {
    let addr = SocketAddr::new(peer.ip, peer.port);
    let t = timeout.max(Duration::from_millis(1));
    let s = TcpStream::connect_timeout(&addr, t).map_err(|e| reason(&e))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MxHost;

    #[test]
    fn nexthop_forms() {
        let nh = |s| parse_nexthop(s, 25).unwrap();
        assert_eq!(
            nh("example.com"),
            NextHop {
                host: "example.com".into(),
                port: 25,
                mx: true
            }
        );
        assert_eq!(nh("example.com:2525").port, 2525);
        assert!(nh("example.com:2525").mx);
        assert!(!nh("[mail.example.com]").mx);
        assert_eq!(nh("[10.0.0.1]:587").host, "10.0.0.1");
        assert_eq!(nh("[10.0.0.1]:submission").port, 587);
        assert_eq!(nh("[ipv6:::1]:26").host, "::1");
        assert_eq!(nh("[::1]").host, "::1");
        for bad in ["", "[x", "[x]y", "x:0", "x:abc", "[]", "a b"] {
            assert!(parse_nexthop(bad, 25).is_err(), "{}", bad);
        }
    }

    struct R;
    impl Resolve for R {
        fn mx(&self, d: &str) -> Result<Vec<MxHost>, DnsError> {
            match d {
                "two.test" => Ok(vec![
                    MxHost {
                        name: "mx1.two.test".into(),
                        preference: 10,
                    },
                    MxHost {
                        name: "gone.two.test".into(),
                        preference: 15,
                    },
                    MxHost {
                        name: "mx2.two.test".into(),
                        preference: 20,
                    },
                ]),
                "nomx.test" => Ok(vec![]),
                "bad.test" => Ok(vec![MxHost {
                    name: "gone.bad.test".into(),
                    preference: 1,
                }]),
                "slow.test" => Err(DnsError::TempFail("Host not found, try again".into())),
                _ => Err(DnsError::NotFound("nx".into())),
            }
        }
        fn addrs(&self, h: &str) -> Result<Vec<IpAddr>, DnsError> {
            match h {
                "mx1.two.test" => Ok(vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()]),
                "mx2.two.test" | "nomx.test" => Ok(vec!["10.0.0.2".parse().unwrap()]),
                _ => Err(DnsError::NotFound("nx".into())),
            }
        }
    }

    #[test]
    fn mx_walk_in_order_skipping_unresolvable_hosts() {
        let p = peers(&R, &parse_nexthop("two.test", 25).unwrap(), 0).unwrap();
        let names: Vec<String> = p.iter().map(Peer::relay).collect();
        assert_eq!(
            names,
            vec![
                "mx1.two.test[10.0.0.1]:25",
                "mx1.two.test[::1]:25",
                "mx2.two.test[10.0.0.2]:25"
            ]
        );
        let p = peers(&R, &parse_nexthop("two.test", 25).unwrap(), 2).unwrap();
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn no_mx_falls_back_to_the_address_and_brackets_skip_mx() {
        let p = peers(&R, &parse_nexthop("nomx.test", 25).unwrap(), 0).unwrap();
        assert_eq!(p[0].namaddr(), "nomx.test[10.0.0.2]");
        let p = peers(&R, &parse_nexthop("[mx2.two.test]:26", 25).unwrap(), 0).unwrap();
        assert_eq!(p[0].relay(), "mx2.two.test[10.0.0.2]:26");
    }

    #[test]
    fn dns_failures() {
        let e = peers(&R, &parse_nexthop("nx.test", 25).unwrap(), 0).unwrap_err();
        assert_eq!(e.status, Status::Bounced);
        assert_eq!(e.dsn, "5.4.4");
        assert_eq!(
            e.text,
            "Host or domain name not found. Name service error for name=nx.test type=MX: Host not found"
        );
        let e = peers(&R, &parse_nexthop("slow.test", 25).unwrap(), 0).unwrap_err();
        assert_eq!((e.status, e.dsn.as_str()), (Status::Deferred, "4.4.3"));
        assert_eq!(
            e.text,
            "Host or domain name not found. Name service error for name=slow.test type=MX: Host not found, try again"
        );
        let e = peers(&R, &parse_nexthop("bad.test", 25).unwrap(), 0).unwrap_err();
        assert!(e.text.contains("name=gone.bad.test type=A"), "{}", e.text);
        let e = peers(&R, &parse_nexthop("[nx.test]", 25).unwrap(), 0).unwrap_err();
        assert!(e.text.contains("name=nx.test type=A"), "{}", e.text);
    }
}
