//! permit_mx_backup over real TCP with a stand-in resolver: this host as a backup MX (by
//! address or by name), as the primary MX, without MX records, with DNS failures (which
//! turn a later reject into a deferral) and with permit_mx_backup_networks.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use inproc::Server;
use std::net::IpAddr;
use std::sync::Arc;

use postern::dns::{DnsError, MxHost, Resolve};

/// This host's address for the tests ($proxy_interfaces).
const ME: &str = "198.51.100.7";

struct FakeDns;

fn mx(list: &[(&str, u16)]) -> Result<Vec<MxHost>, DnsError> {
    Ok(list
        .iter()
        .map(|(n, p)| MxHost {
            name: n.to_string(),
            preference: *p,
        })
        .collect())
}

impl Resolve for FakeDns {
    fn mx(&self, d: &str) -> Result<Vec<MxHost>, DnsError> {
        match d {
            // We are the second MX, found by address.
            "backup.test" => mx(&[("mx2.backup.test", 20), ("mx1.backup.test", 10)]),
            // The primary is outside permit_mx_backup_networks.
            "far.test" => mx(&[("mx1.far.test", 10), ("mx2.backup.test", 30)]),
            // We are the second MX, found by name ($myhostname is in $mydestination).
            "byname.test" => mx(&[("mx1.backup.test", 5), ("www.a.org", 50)]),
            // We are a primary MX.
            "primary.test" => mx(&[("mx2.backup.test", 10), ("mx1.backup.test", 10)]),
            // Not an MX at all.
            "other.test" => mx(&[("mx1.backup.test", 10), ("mx1.far.test", 20)]),
            // A backup MX host whose address lookup fails.
            "hostfail.test" => mx(&[("mx1.backup.test", 10), ("broken.test", 20)]),
            "temp.test" => Err(DnsError::TempFail("SERVFAIL".into())),
            // Were an address literal looked up, it would list us as backup MX.
            "[192.0.2.10]" | "192.0.2.10" => {
                mx(&[("mx1.backup.test", 10), ("mx2.backup.test", 20)])
            }
            _ => Err(DnsError::NotFound("NXDOMAIN".into())),
        }
    }
    fn addrs(&self, h: &str) -> Result<Vec<IpAddr>, DnsError> {
        match h {
            "mx1.backup.test" => Ok(vec!["192.0.2.10".parse().unwrap()]),
            "mx2.backup.test" => Ok(vec![ME.parse().unwrap()]),
            "mx1.far.test" => Ok(vec!["203.0.113.5".parse().unwrap()]),
            "broken.test" => Err(DnsError::TempFail("SERVFAIL".into())),
            _ => Err(DnsError::NotFound("NXDOMAIN".into())),
        }
    }
}

/// A client outside $mynetworks; relaying only through permit_mx_backup.
fn server(extra: &[(&str, &str)]) -> Server {
    Server::builder()
        .set(&[
            ("mynetworks", "192.0.2.0/24"),
            ("proxy_interfaces", ME),
            (
                "smtpd_relay_restrictions",
                "permit_mx_backup, reject_unauth_destination",
            ),
        ])
        .set(extra)
        .setup(|ctx| ctx.resolver = Some(Arc::new(FakeDns)))
        .start()
}

fn rcpt(s: &Server, to: &str) -> String {
    let r = format!("RCPT TO:<{to}>");
    s.talk(&["EHLO c.b.test", "MAIL FROM:<a@b.test>", &r])[3].clone()
}

fn denied(to: &str) -> String {
    format!("554 5.7.1 <{to}>: Relay access denied")
}

#[test]
fn a_backup_mx_relays_and_a_primary_or_stranger_does_not() {
    let s = server(&[]);
    assert_eq!(rcpt(&s, "u@backup.test"), "250 2.1.5 Ok");
    assert_eq!(rcpt(&s, "u@byname.test"), "250 2.1.5 Ok");
    assert_eq!(rcpt(&s, "u@far.test"), "250 2.1.5 Ok");
    for to in [
        "u@primary.test",
        "u@other.test",
        "u@nomx.test",
        "u@[192.0.2.10]",
    ] {
        assert_eq!(rcpt(&s, to), denied(to), "{to}");
    }
    // Sender-specified routing through us is never relayed this way, nor an address whose
    // domain comes out empty.
    for routed in [
        "u%backup.test@www.a.org",
        "\"victim%backup.test@\"@www.a.org",
    ] {
        assert_eq!(rcpt(&s, routed), denied(routed));
    }
}

#[test]
fn dns_failures_turn_the_refusal_into_a_deferral() {
    let s = server(&[]);
    assert_eq!(
        rcpt(&s, "u@temp.test"),
        "450 4.4.4 <u@temp.test>: Recipient address rejected: Unable to look up mail exchanger information"
    );
    assert_eq!(
        rcpt(&s, "u@hostfail.test"),
        "450 4.4.4 <u@hostfail.test>: Recipient address rejected: Unable to look up mail exchanger host broken.test: SERVFAIL"
    );
    // DEFER_IF_REJECT only: a later permit still accepts.
    let s = server(&[
        ("mynetworks", "127.0.0.0/8"),
        (
            "smtpd_relay_restrictions",
            "permit_mx_backup, permit_mynetworks, reject_unauth_destination",
        ),
    ]);
    assert_eq!(rcpt(&s, "u@temp.test"), "250 2.1.5 Ok");
}

#[test]
fn permit_mx_backup_networks_limits_the_primaries() {
    let s = server(&[("permit_mx_backup_networks", "192.0.2.0/24")]);
    assert_eq!(rcpt(&s, "u@backup.test"), "250 2.1.5 Ok");
    assert_eq!(rcpt(&s, "u@far.test"), denied("u@far.test"));
    // Entries that cannot be read (a host name, a bad prefix) match nothing: the setting
    // still limits the primaries.
    let s = server(&[("permit_mx_backup_networks", "mx1.backup.test, 192.0.2.0/33")]);
    assert_eq!(rcpt(&s, "u@backup.test"), denied("u@backup.test"));
    // A table that cannot answer defers.
    let s = server(&[("permit_mx_backup_networks", "hash:/nonexistent/mx_networks")]);
    let reply = rcpt(&s, "u@backup.test");
    assert_eq!(
        reply,
        "450 4.4.4 <u@backup.test>: Recipient address rejected: Unable to verify host mx1.backup.test as mail exchanger"
    );
}
