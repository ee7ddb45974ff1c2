//! SystemResolver against the loopback FakeDns: MX order and shuffling, no MX, NXDOMAIN,
//! SERVFAIL, timeout, truncation (TCP), A+AAAA, CNAME, forged reply IDs, server failover.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use postern::dns::testserver::{FakeDns, Zone};
use postern::dns::{DnsError, Resolve, SystemResolver};

fn resolver(dns: &FakeDns) -> SystemResolver {
    SystemResolver::with_servers(vec![dns.addr()], Duration::from_secs(2), 2)
}

fn names(hosts: &[postern::dns::MxHost]) -> Vec<String> {
    hosts.iter().map(|h| h.name.clone()).collect()
}

#[test]
fn mx_hosts_come_in_preference_order() {
    let dns = FakeDns::start(
        Zone::new()
            .mx("example.test", 30, "c.example.test")
            .mx("example.test", 10, "a.example.test")
            .mx("example.test", 20, "b.example.test"),
    )
    .unwrap();
    let hosts = resolver(&dns).mx("example.test").unwrap();
    assert_eq!(
        names(&hosts),
        ["a.example.test", "b.example.test", "c.example.test"]
    );
    assert_eq!(
        hosts.iter().map(|h| h.preference).collect::<Vec<_>>(),
        [10, 20, 30]
    );
}

#[test]
fn equal_preferences_are_shuffled() {
    let dns = FakeDns::start(
        Zone::new()
            .mx("example.test", 10, "x.example.test")
            .mx("example.test", 10, "y.example.test")
            .mx("example.test", 5, "first.example.test"),
    )
    .unwrap();
    let r = resolver(&dns);
    let mut orders = std::collections::HashSet::new();
    for _ in 0..40 {
        let hosts = names(&r.mx("example.test").unwrap());
        assert_eq!(hosts[0], "first.example.test");
        orders.insert(hosts);
        if orders.len() == 2 {
            break;
        }
    }
    assert_eq!(orders.len(), 2, "only one order in 40 lookups: {orders:?}");
}

#[test]
fn domain_without_mx_gives_empty_list() {
    let dns = FakeDns::start(Zone::new().a("nomx.test", Ipv4Addr::new(192, 0, 2, 7))).unwrap();
    assert_eq!(resolver(&dns).mx("nomx.test"), Ok(vec![]));
}

#[test]
fn nxdomain_is_permanent_with_postfix_wording() {
    let dns = FakeDns::start(Zone::new()).unwrap();
    let r = resolver(&dns);
    assert_eq!(
        r.mx("nosuch.test"),
        Err(DnsError::NotFound(
            "Host or domain name not found. Name service error for name=nosuch.test type=MX: Host not found"
                .into()
        ))
    );
    assert_eq!(
        r.addrs("nosuch.test"),
        Err(DnsError::NotFound(
            "Host or domain name not found. Name service error for name=nosuch.test type=A: Host not found"
                .into()
        ))
    );
}

#[test]
fn servfail_is_temporary() {
    let dns = FakeDns::start(Zone::new().servfail("broken.test")).unwrap();
    let r = resolver(&dns);
    assert_eq!(
        r.mx("broken.test"),
        Err(DnsError::TempFail(
            "Host or domain name not found. Name service error for name=broken.test type=MX: Host not found, try again"
                .into()
        ))
    );
    assert!(matches!(r.addrs("broken.test"), Err(DnsError::TempFail(_))));
    // Two attempts, each asking the one server again.
    let mx_questions = dns.asked().iter().filter(|a| a.rtype == "MX").count();
    assert_eq!(mx_questions, 2);
}

#[test]
fn silent_server_times_out_as_temporary_failure() {
    let dns = FakeDns::start(
        Zone::new()
            .mx("example.test", 10, "a.example.test")
            .silent(),
    )
    .unwrap();
    let r = SystemResolver::with_servers(vec![dns.addr()], Duration::from_millis(200), 2);
    let started = Instant::now();
    let result = r.mx("example.test");
    let took = started.elapsed();
    assert!(
        matches!(result, Err(DnsError::TempFail(ref t)) if t.ends_with("type=MX: Host not found, try again")),
        "{result:?}"
    );
    // Two attempts, each waiting out its timeout (no upper bound: a loaded machine is slow).
    assert!(took >= Duration::from_millis(400), "gave up after {took:?}");
    assert_eq!(dns.asked().len(), 2);
}

#[test]
fn truncated_reply_is_retried_over_tcp() {
    let dns = FakeDns::start(
        Zone::new()
            .mx("big.test", 10, "mx.big.test")
            .truncate("big.test"),
    )
    .unwrap();
    let hosts = resolver(&dns).mx("big.test").unwrap();
    assert_eq!(names(&hosts), ["mx.big.test"]);
    let asked = dns.asked();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(!asked[0].tcp && asked[1].tcp, "{asked:?}");
}

#[test]
fn addrs_gives_a_then_aaaa() {
    let dns = FakeDns::start(
        Zone::new()
            .aaaa("mx.example.test", "2001:db8::25".parse().unwrap())
            .a("mx.example.test", Ipv4Addr::new(192, 0, 2, 25))
            .a("mx.example.test", Ipv4Addr::new(192, 0, 2, 26)),
    )
    .unwrap();
    let addrs = resolver(&dns).addrs("MX.Example.Test.").unwrap();
    assert_eq!(
        addrs,
        [
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 26)),
            IpAddr::V6("2001:db8::25".parse::<Ipv6Addr>().unwrap()),
        ]
    );
}

#[test]
fn host_without_addresses_is_not_found() {
    let dns = FakeDns::start(Zone::new().mx("mailonly.test", 10, "x.test")).unwrap();
    assert_eq!(
        resolver(&dns).addrs("mailonly.test"),
        Err(DnsError::NotFound(
            "Host or domain name not found. Name service error for name=mailonly.test type=AAAA: Host found but no data record of requested type"
                .into()
        ))
    );
}

#[test]
fn cname_chains_are_followed() {
    let dns = FakeDns::start(
        Zone::new()
            .cname("mail.example.test", "alias.example.test")
            .cname("alias.example.test", "real.example.test")
            .a("real.example.test", Ipv4Addr::new(192, 0, 2, 9))
            .cname("mxalias.test", "example.test")
            .mx("example.test", 10, "mail.example.test"),
    )
    .unwrap();
    let r = resolver(&dns);
    assert_eq!(
        r.addrs("mail.example.test").unwrap(),
        [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9))]
    );
    assert_eq!(names(&r.mx("mxalias.test").unwrap()), ["mail.example.test"]);
}

#[test]
fn reply_with_wrong_id_is_ignored() {
    // The forged reply (wrong ID) says NXDOMAIN; the real one lists the MX host.
    let dns = FakeDns::start(
        Zone::new()
            .mx("example.test", 10, "mx.example.test")
            .forge_first(),
    )
    .unwrap();
    let hosts = resolver(&dns).mx("example.test").unwrap();
    assert_eq!(names(&hosts), ["mx.example.test"]);
}

#[test]
fn dead_server_is_skipped_for_the_next_one() {
    // A bound socket that never answers, then a working server.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = FakeDns::start(Zone::new().mx("example.test", 10, "mx.example.test")).unwrap();
    let r = SystemResolver::with_servers(
        vec![dead.local_addr().unwrap(), dns.addr()],
        Duration::from_millis(200),
        1,
    );
    assert_eq!(names(&r.mx("example.test").unwrap()), ["mx.example.test"]);
}

#[test]
fn malformed_name_is_refused_without_asking() {
    let dns = FakeDns::start(Zone::new()).unwrap();
    let r = resolver(&dns);
    let err = r.mx("bad..name").unwrap_err();
    assert!(
        matches!(err, DnsError::NotFound(ref t) if t.ends_with("type=MX: Malformed domain name")),
        "{err:?}"
    );
    assert!(dns.asked().is_empty());
}

#[test]
fn resolv_conf_servers_and_options() {
    let (r, problems) = SystemResolver::from_text(
        b"# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.test\noptions timeout:3 attempts:4 rotate ndots:2\n",
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        r.servers(),
        [
            "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
            "[2001:db8::53]:53".parse::<SocketAddr>().unwrap()
        ]
    );
    assert_eq!(r.timeout(), Duration::from_secs(3));
    assert_eq!(r.attempts(), 4);
    assert!(r.rotates());
}

#[test]
fn resolv_conf_defaults_and_bad_lines() {
    let (r, problems) = SystemResolver::from_text(b"nameserver not-an-address\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    // No usable nameserver: the local host, as libc does.
    assert_eq!(
        r.servers()[0],
        "127.0.0.1:53".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(r.timeout(), Duration::from_secs(5));
    assert_eq!(r.attempts(), 2);
    assert!(!r.rotates());
}

#[test]
fn resolv_conf_from_file() {
    let dir = std::env::temp_dir().join(format!("postern-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resolv.conf");
    std::fs::write(&path, "nameserver 198.51.100.1\n").unwrap();
    let r = SystemResolver::from_file(&path).unwrap();
    assert_eq!(
        r.servers(),
        ["198.51.100.1:53".parse::<SocketAddr>().unwrap()]
    );
    assert!(SystemResolver::from_file(&dir.join("missing")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ns_records() {
    let dns = FakeDns::start(
        Zone::new()
            .ns("example.test", "ns1.hoster.test")
            .ns("example.test", "ns2.hoster.test")
            .a("www.example.test", Ipv4Addr::new(192, 0, 2, 1))
            .servfail("broken.test"),
    )
    .unwrap();
    let r = resolver(&dns);
    let mut ns = r.ns("example.test").unwrap();
    ns.sort();
    assert_eq!(ns, ["ns1.hoster.test", "ns2.hoster.test"]);
    // A name with other records but no NS: none; no such name: NotFound; SERVFAIL: TempFail.
    assert_eq!(r.ns("www.example.test").unwrap(), Vec::<String>::new());
    assert!(matches!(r.ns("nosuch.test"), Err(DnsError::NotFound(_))));
    assert!(matches!(r.ns("broken.test"), Err(DnsError::TempFail(_))));
}

#[test]
fn txt_records_and_a_records_alone() {
    let dns = FakeDns::start(
        Zone::new()
            .a("2.0.0.127.bl.test", Ipv4Addr::new(127, 0, 0, 2))
            .aaaa("2.0.0.127.bl.test", "2001:db8::2".parse().unwrap())
            .txt("2.0.0.127.bl.test", "Listed: see http://bl.test/"),
    )
    .unwrap();
    let r = resolver(&dns);
    assert_eq!(
        r.ipv4("2.0.0.127.bl.test").unwrap(),
        [Ipv4Addr::new(127, 0, 0, 2)]
    );
    assert_eq!(
        r.txt("2.0.0.127.bl.test").unwrap(),
        ["Listed: see http://bl.test/"]
    );
    assert!(matches!(
        r.ipv4("3.0.0.127.bl.test"),
        Err(DnsError::NotFound(_))
    ));
}
