//! Where the SMTP client connects: the next-hop forms of smtp(8) (`domain` and
//! `host:port` with an MX lookup, `[host]` and `[host]:port` without), the MX walk in
//! preference order with the fall-back to the domain's own addresses when it has no MX
//! records (RFC 5321 section 5.1), MX hosts as preferred as this host or less dropped
//! (`mail for DOMAIN loops back to myself`, 5.4.6, when none is left; `myself` decides
//! what is this host), null MX (RFC 7505: 5.1.10), and the TCP connect with
//! smtp_connect_timeout.
//!
//! Security role: bounds the walk (smtp_mx_address_limit) and keeps mail from looping
//! back to this host. Logs nothing
//! itself; the agent logs each failed connect as `connect to HOST[IP]:PORT: REASON`.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::myself::Myself;
use crate::delivery::{Status, dsn_of};
use crate::dns::{DnsError, MxHost, Resolve};
use crate::reply::Dsn;

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
        // `get` never splits a character: a multi-byte name cannot panic here.
        let h = match (h.get(..5), h.get(5..)) {
            (Some(tag), Some(addr)) if tag.eq_ignore_ascii_case("ipv6:") && !addr.is_empty() => {
                addr
            }
            _ => h,
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
    /// `Status::of(dsn)`.
    pub status: Status,
    pub dsn: Dsn,
    pub text: String,
}

impl NoPeers {
    fn new(dsn: &str, text: String) -> NoPeers {
        let dsn = dsn_of(dsn);
        NoPeers {
            status: Status::of(dsn),
            dsn,
            text,
        }
    }
}

fn dns_failure(name: &str, rtype: &str, e: &DnsError) -> NoPeers {
    let prefix = "Host or domain name not found. Name service error for";
    match e {
        DnsError::NotFound(_) => NoPeers::new(
            "5.4.4",
            format!("{} name={} type={}: Host not found", prefix, name, rtype),
        ),
        DnsError::TempFail(why) if why.starts_with("Host or domain name not found") => {
            NoPeers::new("4.4.3", why.clone())
        }
        DnsError::TempFail(why) => NoPeers::new(
            "4.4.3",
            format!("{} name={} type={}: {}", prefix, name, rtype, why),
        ),
    }
}

fn host_addrs(resolver: &dyn Resolve, host: &str) -> Result<Vec<IpAddr>, DnsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    resolver.addrs(host)
}

/// Whether an MX record is a null MX (RFC 7505): the root name, "the domain accepts no
/// mail".
fn is_null_mx(mx: &MxHost) -> bool {
    mx.name.is_empty() || mx.name == "."
}

/// The addresses to try, in order, at most `limit` of them (0: no limit). In an MX walk
/// the hosts as preferred as this machine (`me`) or less are dropped; when that leaves
/// none, the mail loops back to myself (5.4.6). A domain whose MX records are all null
/// MX accepts no mail (5.1.10).
pub fn peers(
    resolver: &dyn Resolve,
    nh: &NextHop,
    limit: usize,
    me: &Myself,
) -> Result<Vec<Peer>, NoPeers> {
    let mut out = Vec::new();
    let push = |name: &str, ips: &[IpAddr], out: &mut Vec<Peer>| {
        for &ip in ips {
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
    if !mxs.is_empty() && mxs.iter().all(is_null_mx) {
        return Err(NoPeers::new(
            "5.1.10",
            format!("Domain {} does not accept mail (nullMX)", nh.host),
        ));
    }
    let mxs: Vec<MxHost> = mxs.into_iter().filter(|m| !is_null_mx(m)).collect();
    if mxs.is_empty() {
        let ips = host_addrs(resolver, &nh.host).map_err(|e| dns_failure(&nh.host, "A", &e))?;
        push(&nh.host, &ips, &mut out);
    } else {
        let found: Vec<(&MxHost, Result<Vec<IpAddr>, DnsError>)> = mxs
            .iter()
            .map(|mx| (mx, host_addrs(resolver, &mx.name)))
            .collect();
        // The best preference of a host that is this machine: it and anything less
        // preferred would deliver to ourselves.
        let cutoff = found
            .iter()
            .filter(|(mx, ips)| {
                let ips = ips.as_deref().unwrap_or(&[]);
                me.is_me(&mx.name, ips, nh.port)
            })
            .map(|(mx, _)| mx.preference)
            .min();
        let kept = found
            .iter()
            .filter(|(mx, _)| cutoff.is_none_or(|c| mx.preference < c));
        // A host that does not resolve is skipped; when none resolves, the last error
        // (a temporary one preferred) is the answer.
        let mut err: Option<NoPeers> = None;
        let mut any = false;
        for (mx, ips) in kept {
            any = true;
            match ips {
                Ok(ips) => push(&mx.name, ips, &mut out),
                Err(e) => {
                    let f = dns_failure(&mx.name, "A", e);
                    if err
                        .as_ref()
                        .is_none_or(|old| old.status != Status::Deferred)
                    {
                        err = Some(f);
                    }
                }
            }
        }
        if !any {
            return Err(NoPeers::new(
                "5.4.6",
                format!("mail for {} loops back to myself", nh.host),
            ));
        }
        if out.is_empty()
            && let Some(e) = err
        {
            return Err(e);
        }
    }
    if out.is_empty() {
        return Err(NoPeers::new(
            "4.4.4",
            format!("Host or domain name not found: no address for {}", nh.host),
        ));
    }
    Ok(out)
}

/// The reason text of a failed connect, as the C library words it.
pub fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "Connection timed out".into(),
        io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        _ => crate::sys::error_text(e),
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

    #[test]
    fn multibyte_nexthop_never_panics() {
        // A two-byte character across byte 5 of a bracketed host used to panic.
        assert_eq!(nh_host("[ipv6\u{e9}x]"), "ipv6\u{e9}x");
        assert_eq!(nh_host("[abcd\u{e9}]:26"), "abcd\u{e9}");
        assert_eq!(nh_host("[\u{e9}\u{e9}\u{e9}]"), "\u{e9}\u{e9}\u{e9}");
        assert_eq!(nh_host("b\u{fc}ro.test:25"), "b\u{fc}ro.test");
    }

    fn nh_host(s: &str) -> String {
        parse_nexthop(s, 25).unwrap().host
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
                "null.test" => Ok(vec![MxHost {
                    name: ".".into(),
                    preference: 0,
                }]),
                "mixed.test" => Ok(vec![
                    MxHost {
                        name: ".".into(),
                        preference: 0,
                    },
                    MxHost {
                        name: "mx2.two.test".into(),
                        preference: 10,
                    },
                ]),
                "self.test" => Ok(vec![
                    MxHost {
                        name: "mx2.two.test".into(),
                        preference: 10,
                    },
                    MxHost {
                        name: "gone.two.test".into(),
                        preference: 15,
                    },
                    MxHost {
                        name: "local.test".into(),
                        preference: 20,
                    },
                    MxHost {
                        name: "mx1.two.test".into(),
                        preference: 20,
                    },
                    MxHost {
                        name: "mx3.test".into(),
                        preference: 30,
                    },
                ]),
                "loop.test" => Ok(vec![
                    MxHost {
                        name: "local.test".into(),
                        preference: 10,
                    },
                    MxHost {
                        name: "mx2.two.test".into(),
                        preference: 10,
                    },
                    MxHost {
                        name: "mx3.test".into(),
                        preference: 20,
                    },
                ]),
                "slow.test" => Err(DnsError::TempFail("Host not found, try again".into())),
                _ => Err(DnsError::NotFound("nx".into())),
            }
        }
        fn addrs(&self, h: &str) -> Result<Vec<IpAddr>, DnsError> {
            match h {
                "mx1.two.test" => Ok(vec![
                    "10.0.0.1".parse().unwrap(),
                    "2001:db8::1".parse().unwrap(),
                ]),
                "mx2.two.test" | "nomx.test" => Ok(vec!["10.0.0.2".parse().unwrap()]),
                "mx3.test" => Ok(vec!["10.0.0.3".parse().unwrap()]),
                "local.test" => Ok(vec!["127.0.0.1".parse().unwrap()]),
                _ => Err(DnsError::NotFound("nx".into())),
            }
        }
    }

    fn walk(nexthop: &str, limit: usize) -> Result<Vec<Peer>, NoPeers> {
        peers(
            &R,
            &parse_nexthop(nexthop, 25).unwrap(),
            limit,
            &Myself::default(),
        )
    }

    #[test]
    fn mx_walk_in_order_skipping_unresolvable_hosts() {
        let p = walk("two.test", 0).unwrap();
        let names: Vec<String> = p.iter().map(Peer::relay).collect();
        assert_eq!(
            names,
            vec![
                "mx1.two.test[10.0.0.1]:25",
                "mx1.two.test[2001:db8::1]:25",
                "mx2.two.test[10.0.0.2]:25"
            ]
        );
        let p = walk("two.test", 2).unwrap();
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn no_mx_falls_back_to_the_address_and_brackets_skip_mx() {
        let p = walk("nomx.test", 0).unwrap();
        assert_eq!(p[0].namaddr(), "nomx.test[10.0.0.2]");
        let p = walk("[mx2.two.test]:26", 0).unwrap();
        assert_eq!(p[0].relay(), "mx2.two.test[10.0.0.2]:26");
    }

    #[test]
    fn dns_failures() {
        let e = walk("nx.test", 0).unwrap_err();
        assert_eq!(e.status, Status::Bounced);
        assert_eq!(e.dsn, "5.4.4");
        assert_eq!(
            e.text,
            "Host or domain name not found. Name service error for name=nx.test type=MX: Host not found"
        );
        let e = walk("slow.test", 0).unwrap_err();
        assert_eq!((e.status, e.dsn.as_str()), (Status::Deferred, "4.4.3"));
        assert_eq!(
            e.text,
            "Host or domain name not found. Name service error for name=slow.test type=MX: Host not found, try again"
        );
        let e = walk("bad.test", 0).unwrap_err();
        assert!(e.text.contains("name=gone.bad.test type=A"), "{}", e.text);
        let e = walk("[nx.test]", 0).unwrap_err();
        assert!(e.text.contains("name=nx.test type=A"), "{}", e.text);
    }

    fn relays(p: &[Peer]) -> Vec<String> {
        p.iter().map(Peer::relay).collect()
    }

    #[test]
    fn mx_hosts_as_preferred_as_myself_or_less_are_dropped() {
        // local.test (127.0.0.1 on port 25) is this host: it, the other host of its
        // preference and the less preferred one go; an unresolvable better host is skipped.
        let p = walk("self.test", 0).unwrap();
        assert_eq!(relays(&p), vec!["mx2.two.test[10.0.0.2]:25"]);
        // On another port a loopback address is not this MTA: nothing is dropped...
        let other = parse_nexthop("self.test:2525", 25).unwrap();
        let p = peers(&R, &other, 0, &Myself::default()).unwrap();
        assert_eq!(p.len(), 5);
        // ...but $myhostname is, on any port and whatever its addresses.
        let p = peers(&R, &other, 0, &Myself::new("MX3.test", vec![])).unwrap();
        assert_eq!(
            relays(&p),
            vec![
                "mx2.two.test[10.0.0.2]:2525",
                "local.test[127.0.0.1]:2525",
                "mx1.two.test[10.0.0.1]:2525",
                "mx1.two.test[2001:db8::1]:2525"
            ]
        );
        // A [host] next hop is never checked.
        let p = walk("[local.test]", 0).unwrap();
        assert_eq!(relays(&p), vec!["local.test[127.0.0.1]:25"]);
    }

    #[test]
    fn best_mx_is_myself_loops() {
        // local.test shares the best preference with a remote host: both go, and the
        // less preferred mx3 too.
        let e = walk("loop.test", 0).unwrap_err();
        assert_eq!(
            (e.status, e.dsn.as_str(), e.text.as_str()),
            (
                Status::Bounced,
                "5.4.6",
                "mail for loop.test loops back to myself"
            )
        );
        let me = Myself::new("mx1.two.test", vec![]);
        let e = peers(&R, &parse_nexthop("two.test", 25).unwrap(), 0, &me).unwrap_err();
        assert_eq!(e.text, "mail for two.test loops back to myself");
        // The address of an interface, not only loopback.
        let me = Myself::new("other.test", vec!["10.0.0.2".parse().unwrap()]);
        let e = peers(&R, &parse_nexthop("nomx.test", 25).unwrap(), 0, &me);
        // No MX records: the domain's own address is used, without a loop check.
        assert!(e.is_ok());
        let e = peers(&R, &parse_nexthop("self.test", 25).unwrap(), 0, &me).unwrap_err();
        assert_eq!(e.dsn, "5.4.6");
    }

    #[test]
    fn null_mx_accepts_no_mail() {
        let e = walk("null.test", 0).unwrap_err();
        assert_eq!(
            (e.status, e.dsn.as_str(), e.text.as_str()),
            (
                Status::Bounced,
                "5.1.10",
                "Domain null.test does not accept mail (nullMX)"
            )
        );
        // A null MX among real ones (a misconfiguration) is ignored.
        let p = walk("mixed.test", 0).unwrap();
        assert_eq!(relays(&p), vec!["mx2.two.test[10.0.0.2]:25"]);
    }
}
