//! reject_unknown_client_hostname and reject_unknown_reverse_client_hostname against
//! clients whose name lookups went each way, with Postfix's reply texts (fail2ban's postfix
//! filter matches them).

use super::*;
use crate::smtpd::peer::NameStatus;

/// The RCPT reply for a client at 192.0.2.9 whose lookups went as given.
fn rcpt_reply(f: &Fixture, name: &str, name_status: NameStatus, reverse: NameStatus) -> String {
    let c = ClientInfo {
        name: name.into(),
        addr: "192.0.2.9".parse().unwrap(),
        port: 4321,
        reverse_name: if reverse == NameStatus::Ok {
            "ptr.example".into()
        } else {
            "unknown".into()
        },
        name_status,
        reverse_name_status: reverse,
    };
    let input = format!(
        "HELO h\r\nMAIL FROM:<s@b.test>\r\nRCPT TO:<{}@www.a.org>\r\nQUIT\r\n",
        me()
    );
    talk_as(f, c, input.as_bytes(), false)[3].clone()
}

#[test]
fn unknown_client_names_are_refused_as_postfix_refuses_them() {
    let f = fixture(
        "unknown-client",
        &[(
            "smtpd_client_restrictions",
            "reject_unknown_reverse_client_hostname, reject_unknown_client_hostname",
        )],
    );
    use NameStatus::*;
    assert_eq!(rcpt_reply(&f, "ptr.example", Ok, Ok), "250 2.1.5 Ok");
    assert_eq!(
        rcpt_reply(&f, "unknown", Forged, Ok),
        "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.9]"
    );
    assert_eq!(
        rcpt_reply(&f, "unknown", Permanent, Permanent),
        "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.9]"
    );
    let f = fixture(
        "unknown-client-550",
        &[
            ("smtpd_client_restrictions", "reject_unknown_client"),
            ("unknown_client_reject_code", "550"),
        ],
    );
    assert_eq!(
        rcpt_reply(&f, "unknown", Forged, Ok),
        "550 5.7.1 Client host rejected: cannot find your hostname, [192.0.2.9]"
    );
    // A lookup that failed for now is always a 450.
    assert_eq!(
        rcpt_reply(&f, "unknown", Temporary, Temporary),
        "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.9]"
    );
}

/// DNS for HELO names: mx.test has an MX, temp.test fails, the rest does not exist.
struct HeloDns;

impl crate::dns::Resolve for HeloDns {
    fn mx(&self, d: &str) -> Result<Vec<crate::dns::MxHost>, crate::dns::DnsError> {
        match d {
            "mx.test" => Ok(vec![crate::dns::MxHost {
                name: "m.mx.test".into(),
                preference: 10,
            }]),
            "temp.test" => Err(crate::dns::DnsError::TempFail("SERVFAIL".into())),
            _ => Err(crate::dns::DnsError::NotFound("NXDOMAIN".into())),
        }
    }
    fn addrs(&self, _: &str) -> Result<Vec<IpAddr>, crate::dns::DnsError> {
        Ok(vec![])
    }
}

#[test]
fn unknown_helo_names_and_inet_interfaces() {
    let mut f = fixture(
        "unknown-helo",
        &[(
            "smtpd_helo_restrictions",
            "reject_unknown_helo_hostname, permit",
        )],
    );
    f.ctx.resolver = Some(std::sync::Arc::new(HeloDns));
    let rcpt = |helo: &str| {
        let input = format!(
            "HELO {helo}\r\nMAIL FROM:<s@b.test>\r\nRCPT TO:<{}@www.a.org>\r\nQUIT\r\n",
            me()
        );
        talk_from(&f, "192.0.2.9", &input, false)[3].clone()
    };
    assert_eq!(rcpt("mx.test"), "250 2.1.5 Ok");
    assert_eq!(
        rcpt("[192.0.2.9]"),
        "250 2.1.5 Ok",
        "a literal is not asked about"
    );
    assert_eq!(
        rcpt("nx.test"),
        "450 4.7.1 <nx.test>: Helo command rejected: Host not found"
    );
    // A DNS failure defers what would be accepted.
    assert_eq!(
        rcpt("temp.test"),
        "450 4.7.1 <temp.test>: Helo command rejected: Host not found"
    );
    // A literal that is no address is refused as Postfix's reject_invalid_hostaddr does.
    assert_eq!(
        rcpt("[999.1.1.1]"),
        "501 5.5.2 <[999.1.1.1]>: Helo command rejected: invalid ip address"
    );
    let f = fixture(
        "inet-interfaces",
        &[(
            "smtpd_recipient_restrictions",
            "permit_inet_interfaces, reject",
        )],
    );
    let input = format!(
        "HELO h\r\nMAIL FROM:<s@b.test>\r\nRCPT TO:<{}@www.a.org>\r\nQUIT\r\n",
        me()
    );
    assert_eq!(talk_from(&f, "127.0.0.1", &input, false)[3], "250 2.1.5 Ok");
    assert_eq!(
        talk_from(&f, "192.0.2.9", &input, false)[3],
        format!(
            "554 5.7.1 <{}@www.a.org>: Recipient address rejected: Access denied",
            me()
        )
    );
}
