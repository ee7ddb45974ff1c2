//! `SystemResolver`: the `Resolve` implementation the smtp client uses in production.
//! Reads the name servers, `options timeout:` / `attempts:` / `rotate` from resolv.conf(5)
//! (parsed by resolv-conf), asks for MX, A and AAAA records (RFC 1035, RFC 3596) and orders
//! MX hosts as RFC 5321 section 5.1 says: lowest preference first, equal preferences in
//! random order.
//!
//! Like Postfix's smtp(8), every name is looked up as given, fully qualified: no `search`
//! list, no `ndots`. CNAME chains inside one answer are followed (RFC 1034 3.6.2).
//! Error texts are Postfix's: "Host or domain name not found. Name service error for
//! name=X type=MX: Host not found" (NXDOMAIN: permanent) and "...: Host not found, try
//! again" (SERVFAIL, REFUSED, timeout: temporary).
//!
//! Security role: the answer section is trusted only for the asked name and the CNAME
//! chain starting at it; replies are matched to queries by the transport. Unparsable
//! resolv.conf lines are skipped with a warning in the mail log, as the libc resolver
//! skips them (silently).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::transport::Transport;
use super::{DnsError, MxHost, Resolve, random};

/// The DNS port; resolv.conf cannot name another.
const DNS_PORT: u16 = 53;
/// Longest CNAME chain followed inside one answer.
const MAX_CNAME_HOPS: usize = 16;
const NO_DATA: &str = "Host found but no data record of requested type";

/// A stub resolver speaking to the name servers of resolv.conf (or given ones).
#[derive(Debug)]
pub struct SystemResolver {
    transport: Transport,
    rotate: bool,
    next: AtomicUsize,
}

/// What one query found.
enum Found {
    /// NOERROR: the records of the asked type (possibly none).
    Records(Vec<Record>),
    /// NXDOMAIN.
    NoSuchName,
}

impl SystemResolver {
    /// Reads /etc/resolv.conf; when it does not exist, uses the local host as the libc
    /// resolver does (127.0.0.1 and ::1, timeout 5s, 2 attempts).
    pub fn system() -> io::Result<SystemResolver> {
        match Self::from_file(Path::new("/etc/resolv.conf")) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::from_text(b"").0),
            other => other,
        }
    }

    /// Reads a resolv.conf file. Lines that do not parse are skipped, each with a warning.
    pub fn from_file(path: &Path) -> io::Result<SystemResolver> {
        let text = std::fs::read(path)?;
        let (resolver, problems) = Self::from_text(&text);
        for problem in problems {
            crate::log::warning("smtp", format!("{}: {}", path.display(), problem));
        }
        Ok(resolver)
    }

    /// Parses resolv.conf text; returns the resolver and one message per skipped line.
    pub fn from_text(text: &[u8]) -> (SystemResolver, Vec<String>) {
        let (conf, errors) = resolv_conf::Config::parse_with_errors(text);
        let servers = conf
            .get_nameservers_or_local()
            .iter()
            .map(|ip| match ip {
                resolv_conf::ScopedIp::V4(a) => SocketAddr::from((*a, DNS_PORT)),
                resolv_conf::ScopedIp::V6(a, scope) => {
                    let scope = scope.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
                    SocketAddr::V6(SocketAddrV6::new(*a, DNS_PORT, 0, scope))
                }
            })
            .collect();
        // The libc resolver caps these at 30 seconds and 5 attempts.
        let timeout = Duration::from_secs(u64::from(conf.timeout.clamp(1, 30)));
        let attempts = conf.attempts.clamp(1, 5);
        let mut resolver = Self::with_servers(servers, timeout, attempts);
        resolver.rotate = conf.rotate;
        (resolver, errors.iter().map(|e| e.to_string()).collect())
    }

    /// Uses the given servers (any port), `timeout` per attempt and server, and `attempts`
    /// rounds over the server list.
    pub fn with_servers(
        servers: Vec<SocketAddr>,
        timeout: Duration,
        attempts: u32,
    ) -> SystemResolver {
        SystemResolver {
            transport: Transport {
                servers,
                timeout,
                attempts: attempts.max(1),
            },
            rotate: false,
            next: AtomicUsize::new(0),
        }
    }

    /// The name servers asked, in order.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.transport.servers
    }

    /// The wait for one reply from one server.
    pub fn timeout(&self) -> Duration {
        self.transport.timeout
    }

    /// Rounds over the server list.
    pub fn attempts(&self) -> u32 {
        self.transport.attempts
    }

    /// Whether `options rotate` spreads queries over the servers.
    pub fn rotates(&self) -> bool {
        self.rotate
    }

    /// Asks one question; NOERROR gives the records of `rtype` owned by `host` or by the
    /// end of a CNAME chain starting at it.
    fn lookup(&self, host: &str, rtype: RecordType) -> Result<Found, DnsError> {
        let name = parse_name(host).ok_or_else(|| {
            DnsError::NotFound(failure_text(host, rtype, "Malformed domain name"))
        })?;
        let id = (random::random_u64() & 0xffff) as u16;
        let mut query = Message::new(id, MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(name.clone(), rtype));
        let start = if self.rotate && !self.transport.servers.is_empty() {
            self.next.fetch_add(1, Ordering::Relaxed) % self.transport.servers.len()
        } else {
            0
        };
        let reply = self.transport.exchange(&query, start).map_err(|_| {
            DnsError::TempFail(failure_text(host, rtype, "Host not found, try again"))
        })?;
        if reply.metadata.response_code == ResponseCode::NXDomain {
            return Ok(Found::NoSuchName);
        }
        Ok(Found::Records(select(&reply.answers, &name, rtype)))
    }
}

impl Resolve for SystemResolver {
    fn mx(&self, domain: &str) -> Result<Vec<MxHost>, DnsError> {
        let records = match self.lookup(domain, RecordType::MX)? {
            Found::NoSuchName => {
                return Err(DnsError::NotFound(failure_text(
                    domain,
                    RecordType::MX,
                    "Host not found",
                )));
            }
            Found::Records(records) => records,
        };
        Ok(mx_hosts(&records))
    }

    fn ipv4(&self, name: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
        let records = self.records(name, RecordType::A)?;
        Ok(records
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect())
    }

    fn ns(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let records = self.records(name, RecordType::NS)?;
        Ok(records
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(display_name(&ns.0)),
                _ => None,
            })
            .collect())
    }

    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let records = self.records(name, RecordType::TXT)?;
        Ok(records
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    fn addrs(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let mut addrs = Vec::new();
        let mut temp = None;
        for rtype in [RecordType::A, RecordType::AAAA] {
            match self.lookup(host, rtype) {
                Ok(Found::NoSuchName) => {
                    return Err(DnsError::NotFound(failure_text(
                        host,
                        rtype,
                        "Host not found",
                    )));
                }
                Ok(Found::Records(records)) => addrs.extend(addresses(&records)),
                Err(e @ DnsError::TempFail(_)) => temp = temp.or(Some(e)),
                Err(e) => return Err(e),
            }
        }
        if !addrs.is_empty() {
            return Ok(addrs);
        }
        match temp {
            Some(e) => Err(e),
            None => Err(DnsError::NotFound(failure_text(
                host,
                RecordType::AAAA,
                NO_DATA,
            ))),
        }
    }
}

impl SystemResolver {
    /// The records of `rtype` for `name`; NXDOMAIN is NotFound.
    fn records(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        match self.lookup(name, rtype)? {
            Found::NoSuchName => Err(DnsError::NotFound(failure_text(
                name,
                rtype,
                "Host not found",
            ))),
            Found::Records(records) => Ok(records),
        }
    }
}

/// MX hosts of `records` (other types skipped), in `order_mx` order.
fn mx_hosts(records: &[Record]) -> Vec<MxHost> {
    let mut hosts: Vec<MxHost> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some(MxHost {
                name: display_name(&mx.exchange),
                preference: mx.preference,
            }),
            _ => None,
        })
        .collect();
    order_mx(&mut hosts);
    hosts
}

/// The addresses of the A and AAAA records among `records`.
fn addresses(records: &[Record]) -> impl Iterator<Item = IpAddr> + '_ {
    records.iter().filter_map(|r| match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    })
}

/// What the resolver makes of one reply in wire format, without the network: the
/// hickory-proto decode, the transport's reply-to-query match (against a query for the
/// reply's own first question, with its ID), then, for NOERROR, the CNAME-chasing answer
/// selection and the MX hosts and addresses `mx` and `addrs` would return. `Err` is why the
/// transport would drop the reply. The entry point of the fuzz target fuzz/fuzz_targets/
/// dns_reply.rs; nothing else calls it.
pub fn decode_reply(wire: &[u8]) -> Result<(Vec<MxHost>, Vec<IpAddr>), String> {
    let reply = Message::from_vec(wire).map_err(|e| format!("bad reply: {e}"))?;
    let question = reply.queries.first().ok_or("reply without a question")?;
    let mut query = Message::new(reply.metadata.id, MessageType::Query, OpCode::Query);
    query.add_query(question.clone());
    if !super::transport::matches(&query, &reply) {
        return Err("reply does not match the query".to_string());
    }
    if reply.metadata.response_code != ResponseCode::NoError {
        return Ok((Vec::new(), Vec::new()));
    }
    let name = question.name().clone();
    let rtype = question.query_type();
    let records = select(&reply.answers, &name, rtype);
    let addrs = addresses(&records).collect();
    Ok((mx_hosts(&records), addrs))
}

/// Postfix's wording for a failed lookup.
fn failure_text(host: &str, rtype: RecordType, why: &str) -> String {
    format!("Host or domain name not found. Name service error for name={host} type={rtype}: {why}")
}

/// The name as a fully qualified DNS name, or None when it is not a valid name.
fn parse_name(host: &str) -> Option<Name> {
    if host.is_empty() || host == "." || host.len() > 253 + 1 {
        return None;
    }
    // A UTF-8 name (SMTPUTF8 mail) is looked up in its IDNA ASCII form, as Postfix 3 does.
    let name = match host.is_ascii() {
        true => Name::from_ascii(host),
        false => Name::from_utf8(host),
    };
    let mut name = name.ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// A name as Postfix prints it: no trailing dot (the root stays ".", a null MX).
fn display_name(name: &Name) -> String {
    let text = name.to_ascii();
    match text.strip_suffix('.') {
        Some("") | None => text,
        Some(stripped) => stripped.to_string(),
    }
}

/// The records of type `rtype` owned by `qname` or by a name reached from it through the
/// CNAME records of the same answer.
pub(crate) fn select(answers: &[Record], qname: &Name, rtype: RecordType) -> Vec<Record> {
    let mut owner = qname.clone();
    for _ in 0..MAX_CNAME_HOPS {
        if answers
            .iter()
            .any(|r| r.name == owner && r.record_type() == rtype)
        {
            break;
        }
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == owner => Some(target.0.clone()),
            _ => None,
        });
        match next {
            Some(target) => owner = target,
            None => break,
        }
    }
    answers
        .iter()
        .filter(|r| r.name == owner && r.record_type() == rtype)
        .cloned()
        .collect()
}

/// Sorts by preference, then shuffles each run of equal preferences.
pub(crate) fn order_mx(hosts: &mut [MxHost]) {
    hosts.sort_by_key(|h| h.preference);
    let mut start = 0;
    while start < hosts.len() {
        let pref = hosts[start].preference;
        let end = start
            + hosts[start..]
                .iter()
                .take_while(|h| h.preference == pref)
                .count();
        random::shuffle(&mut hosts[start..end]);
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};
    use std::net::Ipv4Addr;

    fn name(s: &str) -> Name {
        parse_name(s).unwrap()
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A(Ipv4Addr::new(192, 0, 2, last))))
    }

    #[test]
    fn select_ignores_records_for_other_names() {
        let answers = vec![a("evil.test", 1), a("host.test", 2)];
        let got = select(&answers, &name("host.test"), RecordType::A);
        assert_eq!(got, vec![a("host.test", 2)]);
    }

    #[test]
    fn select_follows_cname_and_stops_on_loops() {
        let cname = |from: &str, to: &str| {
            Record::from_rdata(name(from), 60, RData::CNAME(CNAME(name(to))))
        };
        let answers = vec![cname("a.test", "b.test"), a("b.test", 3)];
        assert_eq!(
            select(&answers, &name("A.TEST"), RecordType::A),
            vec![a("b.test", 3)]
        );
        let looping = vec![cname("x.test", "y.test"), cname("y.test", "x.test")];
        assert!(select(&looping, &name("x.test"), RecordType::A).is_empty());
    }

    #[test]
    fn order_mx_sorts_and_keeps_groups() {
        let mx = |n: &str, p| MxHost {
            name: n.into(),
            preference: p,
        };
        let mut hosts = vec![
            mx("c", 20),
            mx("a", 10),
            mx("d", 20),
            mx("b", 10),
            mx("e", 0),
        ];
        order_mx(&mut hosts);
        let prefs: Vec<u16> = hosts.iter().map(|h| h.preference).collect();
        assert_eq!(prefs, [0, 10, 10, 20, 20]);
        let mut tens: Vec<&str> = hosts[1..3].iter().map(|h| h.name.as_str()).collect();
        tens.sort();
        assert_eq!(tens, ["a", "b"]);
    }

    #[test]
    fn names_print_without_trailing_dot() {
        assert_eq!(display_name(&name("mx.example.test")), "mx.example.test");
        assert_eq!(display_name(&Name::root()), ".");
        assert!(parse_name("").is_none());
        assert!(parse_name(".").is_none());
        // A UTF-8 name is looked up in its IDNA form.
        assert_eq!(
            display_name(&parse_name("b\u{fc}cher.example").unwrap()),
            "xn--bcher-kva.example"
        );
    }
}
