//! DNS lists in smtpd over real TCP and real DNS (the system resolver code asking a
//! loopback DNS server): reject_rbl_client with its reason and filter, reject_rhsbl_sender
//! and _helo, rbl_reply_maps, a lookup failure (450, never a pass), permit_dnswl_client
//! permitting a local recipient but never relaying. The client is 127.0.0.1, outside
//! $mynetworks; each case uses list domains of its own (results are cached per thread).

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use inproc::{Server, assert_logged, cl, me, scratch};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use postern::dns::SystemResolver;
use postern::dns::testserver::{FakeDns, Zone};
use postern::smtpd::ClientInfo;

/// An smtpd asking `dns`, with `extra` settings.
fn server(dns: &FakeDns, extra: &[(&str, &str)]) -> Server {
    let addr = dns.addr();
    Server::builder()
        .in_dir(scratch())
        .set(&[
            ("mydestination", "$myhostname, localhost"),
            ("mynetworks", "192.0.2.0/24"),
        ])
        .aliases(true)
        .set(extra)
        .setup(move |ctx| {
            let r = SystemResolver::with_servers(vec![addr], Duration::from_secs(2), 1);
            ctx.resolver = Some(Arc::new(r));
        })
        .start()
}

/// EHLO helo, MAIL FROM sender, RCPT TO rcpt: the RCPT reply.
fn rcpt(s: &Server, helo: &str, sender: &str, rcpt: &str) -> String {
    let out = s.talk(&[
        &format!("EHLO {helo}"),
        &format!("MAIL FROM:<{sender}>"),
        &format!("RCPT TO:<{rcpt}>"),
    ]);
    out[3].clone()
}

fn listed() -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2)
}

#[test]
fn a_listed_client_is_refused_with_the_lists_reason() {
    let dns = FakeDns::start(
        Zone::new()
            .a("1.0.0.127.bl1.test", listed())
            .txt(
                "1.0.0.127.bl1.test",
                "Listed: see http://bl1.test/?127.0.0.1",
            )
            .a("1.0.0.127.only3.test", listed()),
    )
    .unwrap();
    let local = format!("{}@www.a.org", me());
    let s = server(
        &dns,
        &[(
            "smtpd_recipient_restrictions",
            "reject_rbl_client only3.test=127.0.0.3, reject_rbl_client bl1.test, permit",
        )],
    );
    let want = "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using bl1.test; \
                Listed: see http://bl1.test/?127.0.0.1";
    assert_eq!(rcpt(&s, "mail.b.test", "a@b.test", &local), want);
    assert_logged(&format!(
        "NOQUEUE: reject: RCPT from {}: {want}; from=<a@b.test> to=<{local}> proto=ESMTP helo=<mail.b.test>",
        cl()
    ));
    let asked: Vec<(String, String)> = dns.asked().into_iter().map(|a| (a.rtype, a.name)).collect();
    assert!(
        asked.contains(&("A".into(), "1.0.0.127.only3.test".into())),
        "{asked:?}"
    );
    assert!(
        asked.contains(&("TXT".into(), "1.0.0.127.bl1.test".into())),
        "{asked:?}"
    );
    assert!(
        !asked.contains(&("TXT".into(), "1.0.0.127.only3.test".into())),
        "filtered out: no reason asked {asked:?}"
    );
}

#[test]
fn listed_sender_and_helo_domains_and_reply_maps() {
    let dns = FakeDns::start(
        Zone::new()
            .a("spam.example.dbl2.test", listed())
            .a("bad.helo.test.hbl2.test", listed()),
    )
    .unwrap();
    let dir = scratch();
    let maps = dir.join("rbl_reply");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &maps,
        "hbl2.test 550 5.7.1 Go away, $rbl_what ($client_address)\n",
    )
    .unwrap();
    let local = format!("{}@www.a.org", me());
    let s = server(
        &dns,
        &[
            (
                "smtpd_recipient_restrictions",
                "reject_rhsbl_sender dbl2.test, reject_rhsbl_helo hbl2.test, permit",
            ),
            ("rbl_reply_maps", &format!("texthash:{}", maps.display())),
        ],
    );
    assert_eq!(
        rcpt(&s, "mail.b.test", "spammer@Spam.Example", &local),
        "554 5.7.1 Service unavailable; Sender address [spammer@Spam.Example] blocked using dbl2.test"
    );
    assert_eq!(
        rcpt(&s, "bad.helo.test", "a@b.test", &local),
        "550 5.7.1 Go away, bad.helo.test (127.0.0.1)"
    );
    assert_eq!(
        rcpt(&s, "good.helo.test", "a@b.test", &local),
        "250 2.1.5 Ok"
    );
}

#[test]
fn a_failed_lookup_defers_instead_of_passing() {
    let dns = FakeDns::start(Zone::new().servfail("1.0.0.127.bl3.test")).unwrap();
    let local = format!("{}@www.a.org", me());
    let s = server(
        &dns,
        &[(
            "smtpd_recipient_restrictions",
            "reject_rbl_client bl3.test, permit",
        )],
    );
    assert_eq!(
        rcpt(&s, "mail.b.test", "a@b.test", &local),
        format!(
            "450 4.7.1 <{}>: Client host rejected: Temporary DNS list lookup failure for bl3.test",
            cl()
        )
    );
    assert_logged("warning: 1.0.0.127.bl3.test: RBL lookup error: Host or domain name not found.");
}

#[test]
fn an_allow_list_permits_local_mail_but_never_relaying() {
    let dns = FakeDns::start(
        Zone::new()
            .a("1.0.0.127.wl4.test", listed())
            .servfail("1.0.0.127.failwl4.test"),
    )
    .unwrap();
    let local = format!("{}@www.a.org", me());
    let s = server(
        &dns,
        &[
            ("smtpd_relay_restrictions", ""),
            (
                "smtpd_recipient_restrictions",
                "permit_dnswl_client wl4.test, reject_unauth_destination, reject",
            ),
        ],
    );
    assert_eq!(rcpt(&s, "mail.b.test", "a@b.test", &local), "250 2.1.5 Ok");
    // A relay attempt: the list is not even asked, reject_unauth_destination decides.
    let before = dns.asked().len();
    assert_eq!(
        rcpt(&s, "mail.b.test", "a@b.test", "x@qq.com"),
        "554 5.7.1 <x@qq.com>: Relay access denied"
    );
    assert_eq!(dns.asked().len(), before, "{:?}", dns.asked());
    // A failed allow list turns the later reject into a 450 (DEFER_IF_REJECT, as Postfix).
    let s = server(
        &dns,
        &[(
            "smtpd_recipient_restrictions",
            "permit_dnswl_client failwl4.test, reject",
        )],
    );
    assert_eq!(
        rcpt(&s, "mail.b.test", "a@b.test", &local),
        "450 4.7.1 <127.0.0.1>: Client host rejected: Service unavailable"
    );
}

#[test]
fn a_listed_reverse_client_name_is_refused() {
    let reverse = ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).reverse_name;
    assert_ne!(reverse, "unknown", "127.0.0.1 has a name in /etc/hosts");
    let dns = FakeDns::start(Zone::new().a(&format!("{reverse}.rev6.test"), listed())).unwrap();
    let local = format!("{}@www.a.org", me());
    let s = server(
        &dns,
        &[(
            "smtpd_recipient_restrictions",
            "reject_rhsbl_reverse_client rev6.test, permit",
        )],
    );
    assert_eq!(
        rcpt(&s, "mail.b.test", "a@b.test", &local),
        format!(
            "554 5.7.1 Service unavailable; Unverified Client host [{reverse}] blocked using rev6.test"
        )
    );
}

/// The obsolete reject_maps_rbl: reject_rbl_client for each of $maps_rbl_domains, with
/// Postfix's warning.
#[test]
fn reject_maps_rbl_asks_the_maps_rbl_domains() {
    let dns = FakeDns::start(Zone::new().a("1.0.0.127.old2.test", listed())).unwrap();
    let local = format!("{}@www.a.org", me());
    let s = server(
        &dns,
        &[
            ("maps_rbl_domains", "old1.test, old2.test"),
            ("smtpd_recipient_restrictions", "reject_maps_rbl, permit"),
        ],
    );
    assert_eq!(
        rcpt(&s, "mail.b.test", "a@b.test", &local),
        "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using old2.test"
    );
    assert_logged(
        "warning: support for restriction \"reject_maps_rbl\" will be removed from Postfix; use \"reject_rbl_client domain-name\" instead",
    );
}
