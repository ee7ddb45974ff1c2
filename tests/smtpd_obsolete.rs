//! The restrictions Postfix 2.10 calls obsolete, over real TCP: check_relay_domains
//! (permit a client named in $relay_domains or an authorized destination, else `Recipient
//! address rejected: Relay access denied`) and permit_naked_ip_address (a bare IP address
//! as HELO name), each with Postfix's warning. reject_maps_rbl is in smtpd_dnsbl.rs.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use inproc::{Server, assert_logged, me};

fn server(extra: &[(&str, &str)]) -> Server {
    Server::builder()
        .set(&[
            ("mydestination", "$myhostname, localhost"),
            ("mynetworks", "192.0.2.0/24"),
            ("relay_domains", "relay.test"),
            ("smtpd_relay_restrictions", ""),
        ])
        .aliases(true)
        .set(extra)
        .start()
}

/// HELO `helo`, MAIL, RCPT TO `rcpt`: the RCPT reply.
fn rcpt(s: &Server, helo: &str, rcpt: &str) -> String {
    let out = s.talk(&[
        &format!("HELO {helo}"),
        "MAIL FROM:<a@b.test>",
        &format!("RCPT TO:<{rcpt}>"),
    ]);
    out[3].clone()
}

#[test]
fn check_relay_domains_permits_our_destinations_only() {
    let s = server(&[("smtpd_recipient_restrictions", "check_relay_domains")]);
    let local = format!("{}@www.a.org", me());
    assert_eq!(rcpt(&s, "c.b.test", &local), "250 2.1.5 Ok");
    assert_eq!(rcpt(&s, "c.b.test", "x@relay.test"), "250 2.1.5 Ok");
    assert_eq!(
        rcpt(&s, "c.b.test", "x@elsewhere.test"),
        "554 5.7.1 <x@elsewhere.test>: Recipient address rejected: Relay access denied"
    );
    assert_logged(
        "warning: support for restriction \"check_relay_domains\" will be removed from Postfix; use \"reject_unauth_destination\" instead",
    );
    // A client whose name is in $relay_domains may relay anywhere.
    let s = server(&[
        ("smtpd_recipient_restrictions", "check_relay_domains"),
        ("relay_domains", "relay.test, localhost"),
    ]);
    assert_eq!(rcpt(&s, "c.b.test", "x@elsewhere.test"), "250 2.1.5 Ok");
}

#[test]
fn permit_naked_ip_address_permits_a_bare_address_as_helo() {
    let s = server(&[(
        "smtpd_recipient_restrictions",
        "permit_naked_ip_address, reject",
    )]);
    assert_eq!(rcpt(&s, "192.0.2.7", "x@elsewhere.test"), "250 2.1.5 Ok");
    // Postfix takes a bare address as IPv4 only: a bare IPv6 address is invalid.
    assert_eq!(
        rcpt(&s, "2001::7", "x@elsewhere.test"),
        "501 5.5.2 <2001::7>: Helo command rejected: invalid ip address"
    );
    // Postfix's test takes digits, dots and colons only: no hexadecimal letters.
    assert_eq!(
        rcpt(&s, "2001:db8::7", "x@elsewhere.test"),
        "554 5.7.1 <x@elsewhere.test>: Recipient address rejected: Access denied"
    );
    assert_eq!(
        rcpt(&s, "c.b.test", "x@elsewhere.test"),
        "554 5.7.1 <x@elsewhere.test>: Recipient address rejected: Access denied"
    );
    assert_eq!(
        rcpt(&s, "1.2.3.999", "x@elsewhere.test"),
        "501 5.5.2 <1.2.3.999>: Helo command rejected: invalid ip address"
    );
    assert_logged(
        "warning: restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or permit_sasl_authenticated instead",
    );
}
