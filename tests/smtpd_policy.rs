//! smtpd access policy over real TCP: the open-relay matrix, each restriction with its
//! Postfix reply and NOQUEUE log line, access tables (hash, texthash, inline, cidr),
//! warn_if_reject, smtpd_delay_reject yes/no, smtpd_helo_required and $mynetworks forms.
//! The client is always 127.0.0.1; "outside" means a $mynetworks that excludes it.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use inproc::{Server, assert_logged, cl, me, scratch};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use postern::dns::{DnsError, MxHost, Resolve};
use postern::queue::{QueueFile, QueueName};

/// DNS as the tests want it: mx.test has MX, a.test only an address, temp.test fails,
/// everything else does not exist.
struct FakeDns;

impl Resolve for FakeDns {
    fn mx(&self, d: &str) -> Result<Vec<MxHost>, DnsError> {
        match d {
            "mx.test" => Ok(vec![MxHost {
                name: "mail.mx.test".into(),
                preference: 10,
            }]),
            "a.test" => Ok(vec![]),
            "temp.test" => Err(DnsError::TempFail("SERVFAIL".into())),
            _ => Err(DnsError::NotFound("NXDOMAIN".into())),
        }
    }
    fn addrs(&self, h: &str) -> Result<Vec<IpAddr>, DnsError> {
        match h {
            "a.test" => Ok(vec!["192.0.2.1".parse().unwrap()]),
            _ => Ok(vec![]),
        }
    }
}

/// An smtpd in `dir` for which the client is outside $mynetworks (192.0.2.0/24), with a
/// built alias table and, when `dns`, [`FakeDns`] as its resolver.
fn server_in(dir: PathBuf, extra: &[(&str, &str)], dns: bool) -> Server {
    let b = Server::builder()
        .in_dir(dir)
        .set(&[
            ("mydestination", "$myhostname, localhost"),
            ("mynetworks", "192.0.2.0/24"),
        ])
        .aliases(true)
        .set(extra);
    if dns {
        b.setup(|ctx| ctx.resolver = Some(Arc::new(FakeDns)))
    } else {
        b
    }
    .start()
}

/// As `server_in`, in a new directory and with [`FakeDns`].
fn server(extra: &[(&str, &str)]) -> Server {
    server_in(scratch(), extra, true)
}

/// EHLO, MAIL FROM sender, then each RCPT; returns the RCPT replies.
fn rcpts(s: &Server, helo: &str, sender: &str, to: &[&str]) -> Vec<String> {
    let mut cmds = vec![format!("EHLO {helo}"), format!("MAIL FROM:<{sender}>")];
    cmds.extend(to.iter().map(|t| format!("RCPT TO:<{t}>")));
    let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let out = s.talk(&refs);
    out[3..3 + to.len()].to_vec()
}

const FORMS: [(&str, &str); 5] = [
    ("jerry@qq.com", "jerry@qq.com"),
    ("jerry%qq.com@www.a.org", "jerry%qq.com@www.a.org"),
    ("qq.com!jerry@www.a.org", "qq.com!jerry@www.a.org"),
    ("\"jerry@qq.com\"@www.a.org", "\"jerry@qq.com\"@www.a.org"),
    // The source route is stripped before any check (and before logging).
    ("@www.a.org:jerry@qq.com", "jerry@qq.com"),
];

#[test]
fn open_relay_matrix_outside_is_refused() {
    for (restrictions, code) in [
        ("permit_mynetworks, reject_unauth_destination", "554 5.7.1"),
        // The 3.x-style default list.
        (
            "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
            "454 4.7.1",
        ),
    ] {
        let s = server(&[("smtpd_relay_restrictions", restrictions)]);
        let me = me();
        let local = format!("{me}@www.a.org");
        let mut to: Vec<&str> = FORMS.iter().map(|(f, _)| *f).collect();
        to.push(&local);
        let replies = rcpts(&s, "mail.b.test", "spammer@b.test", &to);
        for (i, (form, shown)) in FORMS.iter().enumerate() {
            let want = format!("{code} <{shown}>: Relay access denied");
            assert_eq!(replies[i], want, "form {form}");
            assert_logged(&format!(
                "NOQUEUE: reject: RCPT from {}: {want}; from=<spammer@b.test> to=<{shown}> proto=ESMTP helo=<mail.b.test>",
                cl()
            ));
        }
        assert_eq!(replies[5], "250 2.1.5 Ok", "local mail is still accepted");
    }
}

#[test]
fn open_relay_matrix_inside_is_relayed() {
    let s = server(&[
        ("mynetworks", "127.0.0.0/8"),
        (
            "smtpd_relay_restrictions",
            "permit_mynetworks, reject_unauth_destination",
        ),
    ]);
    let mut cmds = vec![
        "EHLO mail.b.test".to_string(),
        "MAIL FROM:<friend@b.test>".to_string(),
    ];
    cmds.extend(FORMS.iter().map(|(f, _)| format!("RCPT TO:<{f}>")));
    cmds.push("DATA".into());
    cmds.push("Subject: relay\r\n\r\nhi\r\n.".into());
    let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let out = s.talk(&refs);
    for (i, (form, _)) in FORMS.iter().enumerate() {
        assert_eq!(out[3 + i], "250 2.1.5 Ok", "form {form}");
    }
    assert!(out[9].starts_with("250 2.0.0 Ok: queued as "), "{out:?}");
    let id = out[9].rsplit(' ').next().unwrap();
    let qf = QueueFile::open(&s.queue.path(QueueName::Incoming, id)).unwrap();
    // cleanup resolves the routing (as Postfix's trivial-rewrite does), keeping each form
    // the client gave as the original recipient; the source route was already stripped.
    let got: Vec<(&str, Option<&str>)> = qf
        .envelope
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.orig.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("jerry@qq.com", None),
            ("jerry@qq.com", Some("jerry%qq.com@www.a.org")),
            ("jerry@qq.com", Some("qq.com!jerry@www.a.org")),
            ("jerry@qq.com", Some("\"jerry@qq.com\"@www.a.org")),
        ],
        "the stripped source route duplicates the first recipient"
    );
    assert_logged(&format!("{id}: client={}", cl()));
}

#[test]
fn routed_addresses_to_relay_domains_need_trusted_routing() {
    for (allow, want) in [
        ("no", "554 5.7.1 <u%qq.com@relay.test>: Relay access denied"),
        ("yes", "250 2.1.5 Ok"),
    ] {
        let s = server(&[
            ("relay_domains", "relay.test"),
            ("allow_untrusted_routing", allow),
            (
                "smtpd_relay_restrictions",
                "permit_mynetworks, reject_unauth_destination",
            ),
        ]);
        let r = rcpts(
            &s,
            "h.b.test",
            "a@b.test",
            &["u@relay.test", "u@sub.relay.test", "u%qq.com@relay.test"],
        );
        assert_eq!(r[0], "250 2.1.5 Ok");
        assert_eq!(r[1], "250 2.1.5 Ok", "parent domain matches subdomains");
        assert_eq!(r[2], want, "allow_untrusted_routing = {allow}");
    }
}

/// Settings, HELO name, sender, recipient, expected RCPT reply.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str, &'a str, String);

/// One server per case.
#[test]
fn each_restriction_with_its_reply() {
    let me = me();
    let local = format!("{me}@www.a.org");
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("smtpd_client_restrictions", "reject")],
            "mail.b.test",
            "a@b.test",
            &local,
            format!("554 5.7.1 <{}>: Client host rejected: Access denied", cl()),
        ),
        (
            vec![("smtpd_helo_restrictions", "reject_non_fqdn_helo_hostname")],
            "localhost",
            "a@b.test",
            &local,
            "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname".into(),
        ),
        (
            vec![("smtpd_helo_restrictions", "reject_invalid_helo_hostname")],
            "bad..name",
            "a@b.test",
            &local,
            "501 5.5.2 <bad..name>: Helo command rejected: Invalid name".into(),
        ),
        (
            vec![("smtpd_sender_restrictions", "reject_non_fqdn_sender")],
            "mail.b.test",
            "root",
            &local,
            "504 5.5.2 <root>: Sender address rejected: need fully-qualified address".into(),
        ),
        (
            vec![("smtpd_recipient_restrictions", "reject_non_fqdn_recipient")],
            "mail.b.test",
            "a@b.test",
            "postmaster",
            "504 5.5.2 <postmaster>: Recipient address rejected: need fully-qualified address"
                .into(),
        ),
        (
            vec![("smtpd_sender_restrictions", "reject_unknown_sender_domain")],
            "mail.b.test",
            "a@nx.test",
            &local,
            "450 4.1.8 <a@nx.test>: Sender address rejected: Domain not found".into(),
        ),
        (
            vec![
                ("smtpd_sender_restrictions", "reject_unknown_sender_domain"),
                ("unknown_address_reject_code", "550"),
            ],
            "mail.b.test",
            "a@nx.test",
            &local,
            "550 5.1.8 <a@nx.test>: Sender address rejected: Domain not found".into(),
        ),
        (
            vec![("smtpd_sender_restrictions", "reject_unknown_sender_domain")],
            "mail.b.test",
            "a@temp.test",
            &local,
            "450 4.1.8 <a@temp.test>: Sender address rejected: Domain not found".into(),
        ),
        (
            vec![("smtpd_sender_restrictions", "reject_unknown_sender_domain")],
            "mail.b.test",
            "a@mx.test",
            &local,
            "250 2.1.5 Ok".into(),
        ),
        (
            vec![
                ("mynetworks", "127.0.0.0/8"),
                ("smtpd_recipient_restrictions", "reject_unknown_recipient_domain"),
            ],
            "mail.b.test",
            "a@b.test",
            "r@nx.test",
            "450 4.1.2 <r@nx.test>: Recipient address rejected: Domain not found".into(),
        ),
        (
            vec![
                ("mynetworks", "127.0.0.0/8"),
                ("smtpd_recipient_restrictions", "reject_unknown_recipient_domain"),
            ],
            "mail.b.test",
            "a@b.test",
            "r@a.test",
            "250 2.1.5 Ok".into(),
        ),
        (
            // Our own domains are not looked up in DNS.
            vec![("smtpd_recipient_restrictions", "reject_unknown_recipient_domain")],
            "mail.b.test",
            "a@b.test",
            &local,
            "250 2.1.5 Ok".into(),
        ),
        (
            vec![("smtpd_sender_restrictions", "defer")],
            "mail.b.test",
            "a@b.test",
            &local,
            "450 4.7.1 <a@b.test>: Sender address rejected: Try again later".into(),
        ),
        (
            vec![("smtpd_recipient_restrictions", "reject_unlisted_recipient")],
            "mail.b.test",
            "a@b.test",
            "nosuch@www.a.org",
            "550 5.1.1 <nosuch@www.a.org>: Recipient address rejected: User unknown in local recipient table".into(),
        ),
        (
            // permit ends only its own list: the sender list still rejects.
            vec![
                ("smtpd_client_restrictions", "permit"),
                ("smtpd_sender_restrictions", "reject"),
            ],
            "mail.b.test",
            "a@b.test",
            &local,
            "554 5.7.1 <a@b.test>: Sender address rejected: Access denied".into(),
        ),
        (
            vec![("smtpd_client_restrictions", "bogus_restriction")],
            "mail.b.test",
            "a@b.test",
            &local,
            "451 4.3.5 Server configuration error".into(),
        ),
    ];
    for (settings, helo, sender, to, want) in &cases {
        let s = server(settings);
        let got = rcpts(&s, helo, sender, &[to]);
        assert_eq!(&got[0], want, "settings {settings:?}");
        if !want.starts_with('2') {
            assert_logged(&format!(
                "NOQUEUE: reject: RCPT from {}: {want}; from=<{sender}> to=<{to}> proto=ESMTP helo=<{helo}>",
                cl()
            ));
        }
    }
}

#[test]
fn unknown_domain_without_resolver_is_a_temporary_failure() {
    let s = server_in(
        scratch(),
        &[("smtpd_sender_restrictions", "reject_unknown_sender_domain")],
        false,
    );
    let r = rcpts(
        &s,
        "h.b.test",
        "a@mx.test",
        &[&format!("{}@www.a.org", me())],
    );
    assert_eq!(
        r[0],
        "450 4.1.8 <a@mx.test>: Sender address rejected: Domain not found"
    );
}

#[test]
fn access_tables_hash_texthash_inline_cidr() {
    let dir = scratch();
    let sender_src = dir.join("sender_access");
    std::fs::write(
        &sender_src,
        "# sender access\nspammer@bad.test REJECT\nbad.test 550 5.7.0 go away\nok.bad.test OK\ndunno.bad.test DUNNO\npostmaster@ DEFER come back later\n<> REJECT no bounces\n",
    )
    .unwrap();
    postern::tables::postmap_src::build_file(&sender_src).unwrap();
    let sender = format!("check_sender_access hash:{}, permit", sender_src.display());
    let me = me();
    let local = format!("{me}@www.a.org");
    let s = server_in(
        dir.clone(),
        &[
            ("smtpd_sender_restrictions", &sender),
            ("mynetworks", "127.0.0.0/8"),
        ],
        true,
    );
    for (from, want) in [
        (
            "spammer@bad.test",
            "554 5.7.1 <spammer@bad.test>: Sender address rejected: Access denied",
        ),
        (
            "other@sub.bad.test",
            "550 5.7.0 <other@sub.bad.test>: Sender address rejected: go away",
        ),
        ("x@ok.bad.test", "250 2.1.5 Ok"),
        ("x@dunno.bad.test", "250 2.1.5 Ok"),
        (
            "postmaster@c.test",
            "450 4.7.1 <postmaster@c.test>: Sender address rejected: come back later",
        ),
        ("", "554 5.7.1 <>: Sender address rejected: no bounces"),
        ("fine@c.test", "250 2.1.5 Ok"),
    ] {
        assert_eq!(
            rcpts(&s, "h.b.test", from, &[&local])[0],
            want,
            "from {from}"
        );
    }
    drop(s);

    // Without smtpd_access_maps in parent_domain_matches_subdomains only ".bad.test"
    // would match subdomains, so "bad.test" no longer catches sub.bad.test.
    let dir = scratch();
    let src = dir.join("sender_access");
    std::fs::write(&src, "bad.test REJECT\n.dot.test REJECT dotted\n").unwrap();
    let spec = format!("check_sender_access texthash:{}", src.display());
    let s = server_in(
        dir.clone(),
        &[
            ("smtpd_sender_restrictions", &spec),
            ("parent_domain_matches_subdomains", ""),
        ],
        true,
    );
    let r = |from: &str| rcpts(&s, "h.b.test", from, &[&local])[0].clone();
    assert_eq!(r("a@sub.bad.test"), "250 2.1.5 Ok");
    assert_eq!(
        r("a@bad.test"),
        "554 5.7.1 <a@bad.test>: Sender address rejected: Access denied"
    );
    assert_eq!(
        r("a@x.dot.test"),
        "554 5.7.1 <a@x.dot.test>: Sender address rejected: dotted"
    );
    drop(s);

    let dir = scratch();
    let cidr2 = dir.join("clients.cidr");
    std::fs::write(&cidr2, "127.0.0.1/32 REJECT blocked here\n").unwrap();
    let rcpt2 = dir.join("rcpt_access");
    std::fs::write(&rcpt2, "closed.test 450 4.2.1 mailbox closed\n").unwrap();
    for (settings, to, want) in [
        (
            vec![(
                "smtpd_client_restrictions".to_string(),
                format!("check_client_access cidr:{}", cidr2.display()),
            )],
            local.clone(),
            format!("554 5.7.1 <{}>: Client host rejected: blocked here", cl()),
        ),
        (
            vec![(
                "smtpd_client_restrictions".to_string(),
                "check_client_access inline:{ 127.0.0=DEFER }".to_string(),
            )],
            local.clone(),
            format!("450 4.7.1 <{}>: Client host rejected: Access denied", cl()),
        ),
        (
            vec![(
                "smtpd_helo_restrictions".to_string(),
                "check_helo_access inline:{ b.test=REJECT }".to_string(),
            )],
            local.clone(),
            "554 5.7.1 <h.b.test>: Helo command rejected: Access denied".to_string(),
        ),
        (
            vec![
                ("mynetworks".to_string(), "127.0.0.0/8".to_string()),
                (
                    "smtpd_recipient_restrictions".to_string(),
                    format!("check_recipient_access hash:{}", rcpt2.display()),
                ),
            ],
            "u@closed.test".to_string(),
            "450 4.2.1 <u@closed.test>: Recipient address rejected: mailbox closed".to_string(),
        ),
        (
            // An access answer that is a restriction: evaluated in place.
            vec![(
                "smtpd_recipient_restrictions".to_string(),
                "check_recipient_access inline:{ www.a.org=reject_non_fqdn_sender }".to_string(),
            )],
            local.clone(),
            "250 2.1.5 Ok".to_string(),
        ),
    ] {
        if settings.iter().any(|(_, v)| v.contains("hash:")) {
            postern::tables::postmap_src::build_file(&rcpt2).unwrap();
        }
        let pairs: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let s = server_in(scratch(), &pairs, true);
        assert_eq!(rcpts(&s, "h.b.test", "a@b.test", &[&to])[0], want);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn warn_if_reject_logs_and_accepts() {
    let s = server(&[(
        "smtpd_recipient_restrictions",
        "warn_if_reject reject_non_fqdn_recipient, permit_mynetworks, reject_unauth_destination",
    )]);
    let r = rcpts(&s, "w.b.test", "a@b.test", &["postmaster", "x@qq.com"]);
    assert_eq!(r[0], "250 2.1.5 Ok");
    // smtpd_relay_restrictions (default: defer_unauth_destination) runs first.
    assert_eq!(r[1], "454 4.7.1 <x@qq.com>: Relay access denied");
    assert_logged(&format!(
        "NOQUEUE: reject_warning: RCPT from {}: 504 5.5.2 <postmaster>: Recipient address rejected: need fully-qualified address; from=<a@b.test> to=<postmaster> proto=ESMTP helo=<w.b.test>",
        cl()
    ));
}

#[test]
fn delay_reject_no_rejects_at_each_stage() {
    let s = server(&[
        ("smtpd_delay_reject", "no"),
        ("smtpd_client_restrictions", "reject"),
    ]);
    let out = s.talk(&["EHLO x.b.test", "MAIL FROM:<a@b.test>"]);
    let refusal = format!("554 5.7.1 <{}>: Client host rejected: Access denied", cl());
    assert_eq!(out[0], refusal, "refused in the greeting");
    let denied = format!("503 5.7.0 Error: access denied for {}", cl());
    assert_eq!(out[1], denied);
    assert_eq!(out[2], denied);
    assert_eq!(out[3], "221 2.0.0 Bye");
    assert_logged(&format!(
        "NOQUEUE: reject: CONNECT from {}: {refusal}; proto=SMTP",
        cl()
    ));

    let settings = [
        ("smtpd_helo_restrictions", "reject_non_fqdn_helo_hostname"),
        ("smtpd_sender_restrictions", "reject_non_fqdn_sender"),
    ];
    let mut no = settings.to_vec();
    no.push(("smtpd_delay_reject", "no"));
    let s = server(&no);
    let out = s.talk(&[
        "HELO localhost",
        "EHLO h.b.test",
        "MAIL FROM:<root>",
        "MAIL FROM:<a@b.test>",
    ]);
    let helo_no = "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname";
    let mail_no = "504 5.5.2 <root>: Sender address rejected: need fully-qualified address";
    assert_eq!(out[1], helo_no);
    assert!(out[2].starts_with("250-www.a.org"));
    assert_eq!(out[3], mail_no);
    assert_eq!(out[4], "250 2.1.0 Ok");
    assert_logged(&format!(
        "NOQUEUE: reject: HELO from {}: {helo_no}; proto=SMTP helo=<localhost>",
        cl()
    ));
    assert_logged(&format!(
        "NOQUEUE: reject: MAIL from {}: {mail_no}; from=<root> proto=ESMTP helo=<h.b.test>",
        cl()
    ));

    // The same lists with smtpd_delay_reject = yes: HELO and MAIL pass, RCPT is refused.
    let s = server(&settings);
    let local = format!("{}@www.a.org", me());
    let rcpt = format!("RCPT TO:<{local}>");
    let out = s.talk(&["HELO localhost", "MAIL FROM:<root>", &rcpt]);
    assert_eq!(out[1], "250 www.a.org");
    assert_eq!(out[2], "250 2.1.0 Ok");
    assert_eq!(out[3], helo_no, "HELO list first");
}

#[test]
fn data_restrictions_and_helo_required() {
    let s = server(&[
        ("mynetworks", "127.0.0.0/8"),
        ("smtpd_data_restrictions", "reject"),
        ("smtpd_helo_required", "yes"),
    ]);
    let out = s.talk(&[
        "MAIL FROM:<a@b.test>",
        "HELO d.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<r@qq.com>",
        "DATA",
    ]);
    assert_eq!(out[1], "503 5.5.1 Error: send HELO/EHLO first");
    assert_eq!(out[4], "250 2.1.5 Ok");
    let want = "554 5.7.1 <DATA>: Data command rejected: Access denied";
    assert_eq!(out[5], want);
    assert_logged(&format!(
        "NOQUEUE: reject: DATA from {}: {want}; from=<a@b.test> to=<r@qq.com> proto=SMTP helo=<d.b.test>",
        cl()
    ));
}

#[test]
fn mynetworks_from_file_and_table() {
    let dir = scratch();
    let file = dir.join("mynets");
    std::fs::write(&file, "# trusted\n10.0.0.0/8\n\n127.0.0.1 # this host\n").unwrap();
    let cidr = dir.join("nets.cidr");
    std::fs::write(&cidr, "127.0.0.0/8 OK\n").unwrap();
    let relay = (
        "smtpd_relay_restrictions",
        "permit_mynetworks, reject_unauth_destination",
    );
    let file_spec = file.display().to_string();
    let cidr_spec = format!("cidr:{}", cidr.display());
    let negated = format!("!127.0.0.1, {cidr_spec}");
    for (nets, want) in [
        (file_spec.as_str(), "250 2.1.5 Ok"),
        (cidr_spec.as_str(), "250 2.1.5 Ok"),
        (
            negated.as_str(),
            "554 5.7.1 <r@qq.com>: Relay access denied",
        ),
    ] {
        let s = server_in(scratch(), &[("mynetworks", nets), relay], true);
        assert_eq!(
            rcpts(&s, "n.b.test", "a@b.test", &["r@qq.com"])[0],
            want,
            "{nets}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restriction_classes_as_restrictions_and_table_answers() {
    let dir = scratch();
    std::fs::create_dir_all(&dir).unwrap();
    let table = dir.join("rcpt_access");
    std::fs::write(&table, "strict@www.a.org strict_class\n").unwrap();
    let me = me();
    let s = server_in(
        dir.clone(),
        &[
            ("smtpd_restriction_classes", "strict_class, open_class"),
            ("strict_class", "reject_non_fqdn_sender, reject"),
            ("open_class", "permit"),
            (
                "smtpd_recipient_restrictions",
                &format!(
                    "check_recipient_access texthash:{}, open_class",
                    table.display()
                ),
            ),
        ],
        true,
    );
    let r = rcpts(
        &s,
        "mail.b.test",
        "a@b.test",
        &["strict@www.a.org", &format!("{me}@www.a.org")],
    );
    assert_eq!(
        r[0],
        "554 5.7.1 <strict@www.a.org>: Recipient address rejected: Access denied"
    );
    assert_eq!(r[1], "250 2.1.5 Ok");
    // A class name is a restriction like any other; an undefined one is a configuration error.
    let s = server(&[
        ("smtpd_restriction_classes", "strict_class"),
        ("strict_class", "reject"),
        (
            "smtpd_recipient_restrictions",
            "permit_mynetworks, nosuch_class, strict_class",
        ),
    ]);
    let r = rcpts(&s, "mail.b.test", "a@b.test", &[&format!("{me}@www.a.org")]);
    assert_eq!(r[0], "451 4.3.5 Server configuration error");
    assert_logged("warning: unknown smtpd restriction: \"nosuch_class\"");
    // A class without a definition fails closed (Postfix refuses to start).
    let s = server(&[
        ("smtpd_restriction_classes", "undefined_class"),
        ("smtpd_recipient_restrictions", "undefined_class, permit"),
    ]);
    let r = rcpts(&s, "mail.b.test", "a@b.test", &[&format!("{me}@www.a.org")]);
    assert_eq!(r[0], "451 4.3.5 Server configuration error");
    assert_logged("warning: restriction class `undefined_class' needs a definition");
    // warn_if_reject in front of a class holds inside it: the reject is only logged and
    // the class's later permit counts.
    let s = server(&[
        ("smtpd_restriction_classes", "soft_class"),
        ("soft_class", "reject_non_fqdn_recipient, permit"),
        (
            "smtpd_recipient_restrictions",
            "warn_if_reject soft_class, reject",
        ),
    ]);
    let r = rcpts(&s, "mail.b.test", "a@b.test", &["postmaster"]);
    assert_eq!(r[0], "250 2.1.5 Ok");
    assert_logged(&format!(
        "NOQUEUE: reject_warning: RCPT from {}: 504 5.5.2 <postmaster>: Recipient address rejected: need fully-qualified address",
        cl()
    ));
    // A class that refuses relaying makes the relay restrictions safe, as Postfix's check
    // looks into classes.
    let s = server(&[
        ("smtpd_restriction_classes", "relay_class"),
        ("relay_class", "reject_unauth_destination"),
        ("smtpd_relay_restrictions", "permit_mynetworks, relay_class"),
    ]);
    let r = rcpts(
        &s,
        "mail.b.test",
        "a@b.test",
        &[&format!("{me}@www.a.org"), "x@qq.com"],
    );
    assert_eq!(r[0], "250 2.1.5 Ok");
    assert_eq!(r[1], "554 5.7.1 <x@qq.com>: Relay access denied");
}
