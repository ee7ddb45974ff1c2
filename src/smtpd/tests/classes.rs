//! Address classes as the SMTP server sees them (crate::rewrite): our address literals.

use super::*;

#[test]
fn our_address_literals_are_local_destinations() {
    let f = fixture(
        "literal",
        &[
            ("inet_interfaces", "127.0.0.1"),
            ("proxy_interfaces", "192.0.2.1"),
        ],
    );
    let rcpt = |to: &str| {
        let input = format!(
            "HELO h\r\nMAIL FROM:<s@b.test>\r\nRCPT TO:<{}>\r\nQUIT\r\n",
            to
        );
        talk_from(&f, "192.0.2.7", &input, false)[3].clone()
    };
    assert_eq!(rcpt("postmaster@[192.0.2.1]"), "250 2.1.5 Ok");
    assert_eq!(rcpt("postmaster@[127.0.0.1]"), "250 2.1.5 Ok");
    assert_eq!(
        rcpt("postmaster@[192.0.2.2]"),
        "454 4.7.1 <postmaster@[192.0.2.2]>: Relay access denied"
    );
    assert_eq!(
        rcpt("nosuchuser@[192.0.2.1]"),
        "550 5.1.1 <nosuchuser@[192.0.2.1]>: Recipient address rejected: User unknown in local recipient table"
    );
}
