//! check_{helo,sender,recipient}_{mx,ns}_access over real TCP with a stand-in resolver:
//! MX and NS hosts found by name, by parent domain and by address prefix, a domain that is
//! its own MX host, an address literal, an NS record of a parent domain, OK refused as in
//! Postfix, and DNS failures that leave the decision to the rest of the list.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use common::process_log_text as log_text;
use inproc::{Server, scratch};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use postern::dns::{DnsError, MxHost, Resolve};
use postern::smtpd::peer::{LookupFailure, PeerLookup};

struct FakeDns;

/// Address lookups of `many.test`'s MX hosts so far.
static MANY_LOOKUPS: AtomicUsize = AtomicUsize::new(0);

impl Resolve for FakeDns {
    fn mx(&self, d: &str) -> Result<Vec<MxHost>, DnsError> {
        let one = |n: &str| {
            Ok(vec![MxHost {
                name: n.to_string(),
                preference: 10,
            }])
        };
        match d {
            "spam.test" => one("mx.spam.test"),
            "hosted.test" => one("mail.bulk-hoster.test"),
            "prefix.test" => one("mx.prefix.test"),
            "clean.test" => one("mx.clean.test"),
            "nomx.test" | "ptr.spam.test" => Ok(vec![]),
            "both.test" => one("mx.both.test"),
            "dunno.test" => one("mx.dunno.test"),
            "nullmx.test" => one("."),
            "many.test" => Ok((0..150)
                .map(|i| MxHost {
                    name: format!("h{i}.many.test"),
                    preference: 10,
                })
                .collect()),
            "temp.test" => Err(DnsError::TempFail("SERVFAIL".into())),
            _ => Err(DnsError::NotFound("NXDOMAIN".into())),
        }
    }
    fn addrs(&self, h: &str) -> Result<Vec<IpAddr>, DnsError> {
        let ip = |a: &str| Ok(vec![a.parse().unwrap()]);
        match h {
            "mx.spam.test" => ip("192.0.2.66"),
            "mail.bulk-hoster.test" => ip("198.51.100.1"),
            "mx.prefix.test" => ip("203.0.113.9"),
            "mx.clean.test" => ip("198.51.100.200"),
            "nomx.test" => ip("192.0.2.66"),
            "ns1.bad-dns.test" => ip("198.51.100.2"),
            "ptr.spam.test" | "mx.dunno.test" => ip("192.0.2.66"),
            "mx.both.test" => ip("192.0.2.77"),
            h if h.ends_with(".many.test") => {
                MANY_LOOKUPS.fetch_add(1, Ordering::SeqCst);
                Err(DnsError::NotFound("NXDOMAIN".into()))
            }
            _ => Err(DnsError::NotFound("NXDOMAIN".into())),
        }
    }
    fn ns(&self, d: &str) -> Result<Vec<String>, DnsError> {
        match d {
            "bad-ns.test" => Ok(vec!["ns1.bad-dns.test".into()]),
            "ok-ns.test" => Ok(vec!["ns.example.test".into()]),
            // Exists, with no NS records of its own.
            "mail.bad-ns.test" => Ok(vec![]),
            _ => Err(DnsError::NotFound("NXDOMAIN".into())),
        }
    }
}

/// A client inside $mynetworks whose sender, HELO and recipient lists use `restrictions`
/// with the table `table` (texthash, written here).
fn server(list: &str, restriction: &str, table: &str) -> Server {
    let dir = scratch();
    let path = dir.join("servers");
    std::fs::write(&path, table).unwrap();
    let value = format!("{restriction} texthash:{}", path.display());
    Server::builder()
        .in_dir(dir)
        .set(&[(list, value.as_str())])
        .setup(|ctx| ctx.resolver = Some(Arc::new(FakeDns)))
        .start()
}

const TABLE: &str = "\
192.0.2.66 REJECT bogus mail server address
bulk-hoster.test REJECT hosted where we get spam
203.0.113 REJECT bad network
bad-dns.test REJECT bad DNS hosting
mx.clean.test OK
gone.test REJECT gone
mx.both.test REJECT by name
192.0.2.77 REJECT by address
mx.dunno.test DUNNO
";

fn sender(s: &Server, from: &str) -> String {
    let out = s.talk(&[
        "EHLO c.b.test",
        &format!("MAIL FROM:<{from}>"),
        "RCPT TO:<r@qq.com>",
    ]);
    out[3].clone()
}

#[test]
fn sender_mx_hosts_by_address_name_parent_and_prefix() {
    let s = server("smtpd_sender_restrictions", "check_sender_mx_access", TABLE);
    let refused =
        |addr: &str, why: &str| format!("554 5.7.1 <{addr}>: Sender address rejected: {why}");
    assert_eq!(
        sender(&s, "a@spam.test"),
        refused("a@spam.test", "bogus mail server address")
    );
    assert_eq!(
        sender(&s, "a@hosted.test"),
        refused("a@hosted.test", "hosted where we get spam")
    );
    assert_eq!(
        sender(&s, "a@prefix.test"),
        refused("a@prefix.test", "bad network")
    );
    // No MX records: the domain is its own MX host.
    assert_eq!(
        sender(&s, "a@nomx.test"),
        refused("a@nomx.test", "bogus mail server address")
    );
    // An address literal is its own MX address.
    assert_eq!(
        sender(&s, "a@[192.0.2.66]"),
        refused("a@[192.0.2.66]", "bogus mail server address")
    );
    // Not listed, the null sender, and a DNS failure (no opinion, with a warning).
    assert_eq!(sender(&s, "a@other.test"), "250 2.1.5 Ok");
    assert_eq!(sender(&s, ""), "250 2.1.5 Ok");
    assert_eq!(sender(&s, "a@temp.test"), "250 2.1.5 Ok");
    assert!(
        log_text().contains("warning: Unable to look up MX host for temp.test: SERVFAIL"),
        "{}",
        log_text()
    );
    // A domain that does not exist is no opinion (Postfix 2.10), not its own MX host.
    assert_eq!(sender(&s, "a@gone.test"), "250 2.1.5 Ok");
    // A host listed by name and by address: the name's answer; DUNNO ends the search.
    assert_eq!(sender(&s, "a@both.test"), refused("a@both.test", "by name"));
    assert_eq!(sender(&s, "a@dunno.test"), "250 2.1.5 Ok");
    // A null MX is no opinion.
    assert_eq!(sender(&s, "a@nullmx.test"), "250 2.1.5 Ok");
    // At most 100 MX hosts of one domain are looked up.
    assert_eq!(sender(&s, "a@many.test"), "250 2.1.5 Ok");
    assert_eq!(MANY_LOOKUPS.load(Ordering::SeqCst), 100);
}

#[test]
fn a_table_that_cannot_answer_defers() {
    let dir = scratch();
    let s = Server::builder()
        .in_dir(dir)
        .set(&[(
            "smtpd_sender_restrictions",
            "check_sender_mx_access hash:/nonexistent/mx_access",
        )])
        .setup(|ctx| ctx.resolver = Some(Arc::new(FakeDns)))
        .start();
    assert_eq!(
        sender(&s, "a@spam.test"),
        "451 4.3.5 <a@spam.test>: Sender address rejected: Server configuration error"
    );
    inproc::assert_logged("warning: hash:/nonexistent/mx_access: table lookup problem");
}

#[test]
fn ok_is_not_allowed() {
    let s = server("smtpd_sender_restrictions", "check_sender_mx_access", TABLE);
    assert_eq!(
        sender(&s, "a@clean.test"),
        "451 4.3.5 Server configuration error"
    );
    let log = log_text();
    for w in [
        "warning: restriction check_sender_mx_access returns OK for a@clean.test",
        "warning: this is not allowed for security reasons",
        "warning: use DUNNO instead of OK if you want to make an exception",
    ] {
        assert!(log.contains(w), "missing {w}");
    }
}

#[test]
fn ns_hosts_of_the_domain_or_its_parent() {
    let s = server("smtpd_sender_restrictions", "check_sender_ns_access", TABLE);
    let want = "554 5.7.1 <a@mail.bad-ns.test>: Sender address rejected: bad DNS hosting";
    assert_eq!(sender(&s, "a@mail.bad-ns.test"), want);
    assert_eq!(sender(&s, "a@ok-ns.test"), "250 2.1.5 Ok");
    // An address literal has no name servers.
    assert_eq!(sender(&s, "a@[192.0.2.66]"), "250 2.1.5 Ok");
}

#[test]
fn helo_and_recipient_mx_access() {
    let s = server("smtpd_helo_restrictions", "check_helo_mx_access", TABLE);
    let out = s.talk(&[
        "EHLO spam.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<r@qq.com>",
    ]);
    assert_eq!(
        out[3],
        "554 5.7.1 <spam.test>: Helo command rejected: bogus mail server address"
    );
    let s = server(
        "smtpd_recipient_restrictions",
        "check_recipient_mx_access",
        TABLE,
    );
    let out = s.talk(&[
        "EHLO c.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<r@hosted.test>",
    ]);
    assert_eq!(
        out[3],
        "554 5.7.1 <r@hosted.test>: Recipient address rejected: hosted where we get spam"
    );
}

/// Every client's PTR name is `ptr.spam.test`, which does not resolve back: the verified
/// name is `unknown`, the unverified one `ptr.spam.test`.
struct Ptr;

impl PeerLookup for Ptr {
    fn reverse(&self, _: IpAddr) -> Result<String, LookupFailure> {
        Ok("ptr.spam.test".to_string())
    }
    fn forward(&self, _: &str, _: bool) -> Result<Vec<IpAddr>, LookupFailure> {
        Ok(vec!["192.0.2.99".parse().unwrap()])
    }
}

fn reverse_server(restriction: &str, table: &str) -> Server {
    let dir = scratch();
    let path = dir.join("servers");
    std::fs::write(&path, table).unwrap();
    let value = format!("{restriction} texthash:{}", path.display());
    Server::builder()
        .in_dir(dir)
        .set(&[("smtpd_client_restrictions", value.as_str())])
        .setup(|ctx| {
            ctx.resolver = Some(Arc::new(FakeDns));
            ctx.peer_lookup = Arc::new(Ptr);
        })
        .start()
}

#[test]
fn the_unverified_client_name_and_its_mx_hosts() {
    let table = "ptr.spam.test REJECT forged PTR\n";
    let s = reverse_server("check_reverse_client_hostname_access", table);
    assert_eq!(
        sender(&s, "a@b.test"),
        "554 5.7.1 <ptr.spam.test>: Unverified Client host rejected: forged PTR"
    );
    // check_client_access sees only the verified name (unknown here).
    let s = reverse_server("check_client_access", table);
    assert_eq!(sender(&s, "a@b.test"), "250 2.1.5 Ok");
    // OK is refused for the unverified name, as in Postfix.
    let s = reverse_server("check_reverse_client_hostname_access", "spam.test OK\n");
    assert_eq!(
        sender(&s, "a@b.test"),
        "451 4.3.5 Server configuration error"
    );
    assert!(log_text().contains(
        "warning: restriction check_reverse_client_hostname_access returns OK for ptr.spam.test"
    ));
    // Its MX host (no MX records: the name itself) by address.
    let s = reverse_server("check_reverse_client_hostname_mx_access", TABLE);
    assert_eq!(
        sender(&s, "a@b.test"),
        "554 5.7.1 <ptr.spam.test>: Unverified Client host rejected: bogus mail server address"
    );
    // check_client_mx_access has no name to look up (the verified name is unknown).
    let s = reverse_server("check_client_mx_access", TABLE);
    assert_eq!(sender(&s, "a@b.test"), "250 2.1.5 Ok");
}
