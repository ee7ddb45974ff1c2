//! The smtp(8) client agent against a scripted SMTP server on loopback and a fake
//! resolver: per-recipient results and their exact log texts, the MX walk (soft failures
//! move on to the next MX host, MX hosts that are this host are dropped, null MX), DNS
//! failures, PIPELINING, SIZE, 8BITMIME, DSN, STARTTLS (may/encrypt/verify/secure,
//! certificate names, trusted roots, TLS log lines, refused levels), AUTH (PLAIN/LOGIN),
//! data encoding, timeouts.

#[path = "smtp_client/server.rs"]
mod server;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use postern::config::Config;
use postern::delivery::smtp::{EnvelopeDsn, Smtp};
use postern::delivery::{Agent, Outcome, Request, Status};
use postern::dns::{DnsError, MxHost, Resolve};
use postern::queue::Recipient;

use server::{Script, start, start_on};

#[derive(Default)]
struct FakeDns {
    mx: HashMap<String, Result<Vec<MxHost>, DnsError>>,
    a: HashMap<String, Vec<IpAddr>>,
}

impl FakeDns {
    fn mx(mut self, domain: &str, hosts: &[(&str, u16, &str)]) -> FakeDns {
        let list = hosts
            .iter()
            .map(|(n, p, _)| MxHost {
                name: n.to_string(),
                preference: *p,
            })
            .collect();
        self.mx.insert(domain.into(), Ok(list));
        for (n, _, ip) in hosts {
            self.a.insert(n.to_string(), vec![ip.parse().unwrap()]);
        }
        self
    }
    fn err(mut self, domain: &str, e: DnsError) -> FakeDns {
        self.mx.insert(domain.into(), Err(e));
        self
    }
}

impl Resolve for FakeDns {
    fn mx(&self, domain: &str) -> Result<Vec<MxHost>, DnsError> {
        match self.mx.get(domain) {
            Some(r) => r.clone(),
            None if self.a.contains_key(domain) => Ok(vec![]),
            None => Err(DnsError::NotFound("NXDOMAIN".into())),
        }
    }
    fn addrs(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        self.a
            .get(host)
            .cloned()
            .ok_or_else(|| DnsError::NotFound("NXDOMAIN".into()))
    }
}

fn config(extra: &[(&str, &str)]) -> Arc<Config> {
    let mut pairs = vec![("myhostname", "client.test")];
    pairs.extend_from_slice(extra);
    Arc::new(Config::from_pairs(Path::new("/nonexistent"), &pairs))
}

fn agent(extra: &[(&str, &str)], dns: FakeDns) -> Smtp {
    Smtp::new("smtp", config(extra), Arc::new(dns))
}

const MSG: &[u8] = b"From: s@here.test\nSubject: hi\n\nhello\n";

fn send(a: &Smtp, nexthop: &str, rcpts: &[&str], content: &[u8]) -> Vec<Outcome> {
    send_dsn(
        a,
        nexthop,
        &rcpts_of(rcpts),
        content,
        &EnvelopeDsn::default(),
    )
}

fn rcpts_of(r: &[&str]) -> Vec<Recipient> {
    r.iter().map(|a| Recipient::new(a)).collect()
}

fn send_dsn(
    a: &Smtp,
    nexthop: &str,
    recipients: &[Recipient],
    content: &[u8],
    dsn: &EnvelopeDsn,
) -> Vec<Outcome> {
    let req = Request {
        queue_id: "ABC123",
        sender: "s@here.test",
        arrival: SystemTime::now(),
        content,
        recipients,
        nexthop,
        ret: None,
        envid: None,
        attrs: &[],
    };
    let out = a.deliver_dsn(&req, dsn);
    for i in 0..recipients.len() {
        assert_eq!(
            out.iter().filter(|o| o.rcpt == i).count(),
            1,
            "one outcome per recipient: {:?}",
            out
        );
    }
    out
}

fn lit(port: u16) -> String {
    format!("[127.0.0.1]:{}", port)
}

fn relay(port: u16) -> String {
    format!("127.0.0.1[127.0.0.1]:{}", port)
}

#[test]
fn pipelined_success_with_postfix_texts() {
    let srv = start(Script {
        hold_until_data: true,
        ..Script::default()
    });
    let a = agent(&[("smtp_mail_timeout", "5s")], FakeDns::default());
    assert_eq!(a.name(), "smtp");
    let out = send(&a, &lit(srv.port), &["a@remote.test", "b@remote.test"], MSG);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.rcpt, i);
        assert_eq!(o.status, Status::Sent);
        assert_eq!(o.dsn, "2.0.0");
        assert_eq!(o.text, "250 2.0.0 Ok: queued as 4ABC123");
        assert_eq!(o.relay, relay(srv.port));
        assert!(o.setup > Duration::ZERO);
    }
    let size = MSG.len() + 4;
    assert_eq!(
        srv.seen().cmds(),
        vec![
            "0:EHLO client.test".to_string(),
            format!("0:MAIL FROM:<s@here.test> SIZE={}", size),
            "0:RCPT TO:<a@remote.test>".into(),
            "0:RCPT TO:<b@remote.test>".into(),
            "0:DATA".into(),
            "0:QUIT".into(),
        ]
    );
    assert_eq!(
        srv.seen().data[0],
        b"From: s@here.test\r\nSubject: hi\r\n\r\nhello\r\n".to_vec()
    );
}

#[test]
fn one_recipient_refused_at_rcpt() {
    let mut script = Script::default();
    script.rcpt.insert(
        "b@remote.test".into(),
        "550 5.1.1 <b@remote.test>: Recipient address rejected: User unknown in local recipient table".into(),
    );
    let srv = start(script);
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test", "b@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent);
    assert_eq!(out[1].status, Status::Bounced);
    assert_eq!(out[1].dsn, "5.1.1");
    assert_eq!(
        out[1].text,
        "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <b@remote.test>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)"
    );
    assert_eq!(out[1].relay, relay(srv.port));
    assert_eq!(srv.seen().data.len(), 1);
}

#[test]
fn all_recipients_refused_sends_no_data_and_4xx_rcpt_defers() {
    let mut script = Script {
        ehlo: Some(vec![]),
        ..Script::default()
    };
    script.rcpt.insert(
        "a@remote.test".into(),
        "450 4.2.0 <a@remote.test>: greylisted".into(),
    );
    script
        .rcpt
        .insert("b@remote.test".into(), "550 no such user".into());
    let srv = start(script);
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test", "b@remote.test"], MSG);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Deferred, "4.2.0")
    );
    assert_eq!(
        (out[1].status, out[1].dsn.as_str()),
        (Status::Bounced, "5.0.0")
    );
    let cmds = srv.seen().cmds();
    assert!(!cmds.contains(&"0:DATA".to_string()), "{:?}", cmds);
    assert_eq!(cmds.last().unwrap(), "0:QUIT");
}

#[test]
fn out_of_protocol_replies_bounce_as_protocol_errors() {
    // A 3xx where none is expected (to RCPT, to the end of DATA) is a protocol error:
    // Postfix gives it 5.5.0 and bounces; never a 3.0.0 status in a DSN.
    let mut script = Script::default();
    script
        .rcpt
        .insert("b@remote.test".into(), "354 go ahead".into());
    let srv = start(script);
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test", "b@remote.test"], MSG);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Sent, "2.0.0")
    );
    assert_eq!(
        (out[1].status, out[1].dsn.as_str()),
        (Status::Bounced, "5.5.0")
    );
    assert_eq!(
        out[1].text,
        "host 127.0.0.1[127.0.0.1] said: 354 go ahead (in reply to RCPT TO command)"
    );

    let srv = start(Script {
        final_reply: "354 3.0.0 more please".into(),
        ..Script::default()
    });
    let out = send(&a, &lit(srv.port), &["jerry@remote.test"], MSG);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Bounced, "5.5.0")
    );
}

#[test]
fn mail_4xx_defers_everyone() {
    let srv = start(Script {
        mail: "451 4.3.0 Error: queue file write error".into(),
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test", "b@remote.test"], MSG);
    for o in &out {
        assert_eq!(o.status, Status::Deferred);
        assert_eq!(o.dsn, "4.3.0");
        assert_eq!(
            o.text,
            "host 127.0.0.1[127.0.0.1] said: 451 4.3.0 Error: queue file write error (in reply to MAIL FROM command)"
        );
    }
    assert!(srv.seen().data.is_empty());
}

#[test]
fn rejection_after_data_bounces() {
    let srv = start(Script {
        final_reply: "550 Domain may not exist or DNS check failed".into(),
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["jerry@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Bounced);
    assert_eq!(out[0].dsn, "5.0.0");
    assert_eq!(
        out[0].text,
        "host 127.0.0.1[127.0.0.1] said: 550 Domain may not exist or DNS check failed (in reply to end of DATA command)"
    );
}

#[test]
fn without_pipelining_commands_go_one_by_one_and_4xx_after_data_defers() {
    let srv = start(Script {
        ehlo: Some(vec!["SIZE".into()]),
        final_reply: "452 4.3.1 Insufficient system storage".into(),
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Deferred, "4.3.1")
    );
    assert!(out[0].text.ends_with("(in reply to end of DATA command)"));
    // SIZE without a limit: announced, never refused locally.
    assert!(srv.seen().cmds()[1].starts_with("0:MAIL FROM:<s@here.test> SIZE="));
}

#[test]
fn helo_when_ehlo_is_refused() {
    let srv = start(Script {
        ehlo: None,
        ..Script::default()
    });
    let a = agent(&[("smtp_helo_name", "relay.here.test")], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], "é\n".as_bytes());
    assert_eq!(out[0].status, Status::Sent);
    let cmds = srv.seen().cmds();
    assert_eq!(cmds[0], "0:EHLO relay.here.test");
    assert_eq!(cmds[1], "0:HELO relay.here.test");
    // No extensions: plain MAIL, no BODY= even for 8-bit content.
    assert_eq!(cmds[2], "0:MAIL FROM:<s@here.test>");
}

#[test]
fn refused_first_mx_then_the_second() {
    let srv = start(Script::default());
    // Nothing listens on 127.0.0.2 at the server's port.
    let dns = FakeDns::default().mx(
        "remote.test",
        &[
            ("mx1.remote.test", 10, "127.0.0.2"),
            ("mx2.remote.test", 20, "127.0.0.1"),
        ],
    );
    let a = agent(&[], dns).with_port(srv.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(
        out[0].relay,
        format!("mx2.remote.test[127.0.0.1]:{}", srv.port)
    );
}

#[test]
fn best_mx_that_is_myself_bounces_as_a_loop() {
    // 127.0.0.1 on the standard port is this host; so is $myhostname on any port.
    let dns = FakeDns::default()
        .mx(
            "loop.test",
            &[
                ("mx1.loop.test", 10, "127.0.0.1"),
                ("mx2.loop.test", 20, "192.0.2.1"),
            ],
        )
        .mx("named.test", &[("CLIENT.test", 5, "192.0.2.2")]);
    let a = agent(&[], dns);
    for domain in ["loop.test", "named.test"] {
        let out = send(&a, domain, &["a@x.test", "b@x.test"], MSG);
        for o in &out {
            assert_eq!(o.status, Status::Bounced, "{:?}", o);
            assert_eq!(o.dsn, "5.4.6");
            assert_eq!(o.relay, "none");
            assert_eq!(o.text, format!("mail for {} loops back to myself", domain));
        }
    }
}

#[test]
fn a_less_preferred_mx_that_is_myself_is_skipped() {
    let me = start(Script::default());
    // The best MX refuses; the next ones are this host (by name) and another host of the
    // same preference: neither is tried, so the mail waits instead of looping.
    let dns = FakeDns::default().mx(
        "remote.test",
        &[
            ("mx1.remote.test", 10, "127.0.0.2"),
            ("client.test", 20, "127.0.0.1"),
            ("mx3.remote.test", 20, "127.0.0.1"),
        ],
    );
    let a = agent(&[], dns).with_port(me.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred, "{:?}", out);
    assert_eq!(
        out[0].text,
        format!(
            "connect to mx1.remote.test[127.0.0.2]:{}: Connection refused",
            me.port
        )
    );
    assert_eq!(me.seen().connections, 0);
    // With a better remote host that answers, it takes the mail.
    let remote = start_on(&format!("127.0.0.2:{}", me.port), Script::default());
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(
        out[0].relay,
        format!("mx1.remote.test[127.0.0.2]:{}", me.port)
    );
    assert_eq!(remote.seen().data.len(), 1);
    assert_eq!(me.seen().connections, 0);
}

#[test]
fn null_mx_bounces() {
    let dns = FakeDns::default().mx("nullmx.test", &[(".", 0, "192.0.2.1")]);
    let a = agent(&[], dns);
    let out = send(&a, "nullmx.test", &["a@nullmx.test"], MSG);
    assert_eq!(out[0].status, Status::Bounced);
    assert_eq!(out[0].dsn, "5.1.10");
    assert_eq!(out[0].relay, "none");
    assert_eq!(
        out[0].text,
        "Domain nullmx.test does not accept mail (nullMX)"
    );
}

/// Two MX hosts on 127.0.0.1 and 127.0.0.2 (same port): the first runs `first`, the
/// second accepts everything.
fn two_mx(first: Script) -> (server::Server, server::Server, Smtp) {
    let one = start(first);
    let two = start_on(&format!("127.0.0.2:{}", one.port), Script::default());
    let dns = FakeDns::default().mx(
        "remote.test",
        &[
            ("mx1.remote.test", 10, "127.0.0.1"),
            ("mx2.remote.test", 20, "127.0.0.2"),
        ],
    );
    let a = agent(&[], dns).with_port(one.port);
    (one, two, a)
}

#[test]
fn a_4xx_to_rcpt_tries_that_recipient_at_the_next_mx() {
    let mut script = Script::default();
    script.rcpt.insert(
        "b@remote.test".into(),
        "450 4.2.0 <b@remote.test>: greylisted".into(),
    );
    script
        .rcpt
        .insert("c@remote.test".into(), "550 5.1.1 no such user".into());
    let (one, two, a) = two_mx(script);
    let out = send(
        &a,
        "remote.test",
        &["a@remote.test", "b@remote.test", "c@remote.test"],
        MSG,
    );
    let mx1 = format!("mx1.remote.test[127.0.0.1]:{}", one.port);
    let mx2 = format!("mx2.remote.test[127.0.0.2]:{}", one.port);
    assert_eq!((out[0].status, &out[0].relay), (Status::Sent, &mx1));
    assert_eq!((out[1].status, &out[1].relay), (Status::Sent, &mx2));
    assert_eq!((out[2].status, &out[2].relay), (Status::Bounced, &mx1));
    // The second host saw only the greylisted recipient.
    let cmds = two.seen().cmds();
    let rcpts: Vec<&String> = cmds.iter().filter(|c| c.contains("RCPT")).collect();
    assert_eq!(rcpts, vec!["0:RCPT TO:<b@remote.test>"]);
    assert_eq!((one.seen().data.len(), two.seen().data.len()), (1, 1));
}

#[test]
fn a_4xx_at_end_of_data_sends_the_transaction_to_the_next_mx() {
    let (one, two, a) = two_mx(Script {
        final_reply: "451 4.3.0 Error: queue file write error".into(),
        ..Script::default()
    });
    let out = send(&a, "remote.test", &["a@remote.test", "b@remote.test"], MSG);
    for o in &out {
        assert_eq!(o.status, Status::Sent, "{:?}", o);
        assert_eq!(o.relay, format!("mx2.remote.test[127.0.0.2]:{}", one.port));
        assert_eq!(o.text, "250 2.0.0 Ok: queued as 4ABC123");
    }
    assert_eq!((one.seen().data.len(), two.seen().data.len()), (1, 1));
    let cmds = two.seen().cmds();
    assert_eq!(cmds.iter().filter(|c| c.contains("RCPT")).count(), 2);
}

#[test]
fn soft_failures_at_the_last_mx_keep_their_own_reason() {
    // Both hosts greylist b; a is sent by the first and never offered again.
    let mut grey = Script::default();
    grey.rcpt.insert(
        "b@remote.test".into(),
        "450 4.2.0 <b@remote.test>: greylisted".into(),
    );
    let one = start(grey.clone());
    let two = start_on(&format!("127.0.0.2:{}", one.port), grey);
    let dns = FakeDns::default().mx(
        "remote.test",
        &[
            ("mx1.remote.test", 10, "127.0.0.1"),
            ("mx2.remote.test", 20, "127.0.0.2"),
        ],
    );
    let a = agent(&[], dns).with_port(one.port);
    let out = send(&a, "remote.test", &["a@remote.test", "b@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent);
    assert_eq!(
        out[0].relay,
        format!("mx1.remote.test[127.0.0.1]:{}", one.port)
    );
    assert_eq!(
        (out[1].status, out[1].dsn.as_str()),
        (Status::Deferred, "4.2.0")
    );
    assert_eq!(
        out[1].text,
        "host mx2.remote.test[127.0.0.2] said: 450 4.2.0 <b@remote.test>: greylisted (in reply to RCPT TO command)"
    );
    assert_eq!(
        out[1].relay,
        format!("mx2.remote.test[127.0.0.2]:{}", one.port)
    );
    // b alone at the second host: it got no DATA (no valid recipients).
    let cmds = two.seen().cmds();
    assert!(
        cmds.iter().all(|c| !c.contains("a@remote.test")),
        "{:?}",
        cmds
    );
    assert!(two.seen().data.is_empty());
}

/// The maillog of this test binary.
fn maillog() -> &'static Path {
    static LOG: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("postern-smtpc-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let cfg = Config::from_pairs(
            Path::new("/nonexistent"),
            &[
                ("myhostname", "client.test"),
                ("maillog_file", path.to_str().unwrap()),
            ],
        );
        postern::log::init_with_socket(&cfg, false, Path::new("/nonexistent/socket"));
        path
    })
}

#[test]
fn a_421_moves_on_to_the_next_mx() {
    let first = start(Script {
        mail: "421 4.3.2 Service shutting down".into(),
        ..Script::default()
    });
    let second = start_on(&format!("127.0.0.2:{}", first.port), Script::default());
    let dns = FakeDns::default().mx(
        "remote.test",
        &[
            ("mx1.remote.test", 10, "127.0.0.1"),
            ("mx2.remote.test", 20, "127.0.0.2"),
        ],
    );
    let a = agent(&[], dns).with_port(first.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(
        out[0].relay,
        format!("mx2.remote.test[127.0.0.2]:{}", first.port)
    );
    assert!(first.seen().data.is_empty());
    assert_eq!(second.seen().data.len(), 1);
}

#[test]
fn mx_session_limit_stops_the_walk() {
    let first = start(Script {
        mail: "450 4.3.2 busy".into(),
        ..Script::default()
    });
    let second = start_on(&format!("127.0.0.2:{}", first.port), Script::default());
    let dns = FakeDns::default().mx(
        "remote.test",
        &[
            ("mx1.remote.test", 10, "127.0.0.1"),
            ("mx2.remote.test", 20, "127.0.0.2"),
        ],
    );
    let a = agent(&[("smtp_mx_session_limit", "1")], dns).with_port(first.port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(
        out[0].text,
        "host mx1.remote.test[127.0.0.1] said: 450 4.3.2 busy (in reply to MAIL FROM command)"
    );
    assert_eq!(second.seen().connections, 0);
}

#[test]
fn no_reachable_server_defers_with_the_last_connect_error() {
    let log = maillog();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dns = FakeDns::default().mx(
        "remote.test",
        &[
            ("mx1.remote.test", 10, "127.0.0.2"),
            ("mx2.remote.test", 20, "127.0.0.3"),
        ],
    );
    let a = agent(&[], dns).with_port(port);
    let out = send(&a, "remote.test", &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(out[0].dsn, "4.4.1");
    assert_eq!(out[0].relay, "none");
    assert_eq!(
        out[0].text,
        format!(
            "connect to mx2.remote.test[127.0.0.3]:{}: Connection refused",
            port
        )
    );
    let text = std::fs::read_to_string(log).unwrap();
    for host in ["mx1.remote.test[127.0.0.2]", "mx2.remote.test[127.0.0.3]"] {
        let want = format!(
            "postfix/smtp[{}]: connect to {}:{}: Connection refused",
            postern::sys::thread_id(),
            host,
            port
        );
        assert!(text.contains(&want), "{} not in {}", want, text);
    }
}

#[test]
fn domain_without_mx_uses_its_address() {
    let srv = start(Script::default());
    let mut dns = FakeDns::default();
    dns.a
        .insert("nomx.test".into(), vec!["127.0.0.1".parse().unwrap()]);
    let a = agent(&[], dns).with_port(srv.port);
    let out = send(&a, "nomx.test", &["a@nomx.test"], MSG);
    assert_eq!(out[0].status, Status::Sent);
    assert_eq!(out[0].relay, format!("nomx.test[127.0.0.1]:{}", srv.port));
    // An explicit port on a bracketed name: no MX lookup.
    let out = send(
        &a,
        &format!("[nomx.test]:{}", srv.port),
        &["a@nomx.test"],
        MSG,
    );
    assert_eq!(out[0].status, Status::Sent);
}

#[test]
fn dns_not_found_bounces_and_tempfail_defers() {
    let dns = FakeDns::default().err(
        "slow.test",
        DnsError::TempFail(
            "Host or domain name not found. Name service error for name=slow.test type=MX: Host not found, try again".into(),
        ),
    );
    let a = agent(&[], dns);
    let out = send(&a, "nx.test", &["a@nx.test", "b@nx.test"], MSG);
    for o in &out {
        assert_eq!(o.status, Status::Bounced);
        assert_eq!(o.dsn, "5.4.4");
        assert_eq!(o.relay, "none");
        assert_eq!(
            o.text,
            "Host or domain name not found. Name service error for name=nx.test type=MX: Host not found"
        );
    }
    let out = send(&a, "slow.test", &["a@slow.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(out[0].dsn, "4.4.3");
    assert_eq!(
        out[0].text,
        "Host or domain name not found. Name service error for name=slow.test type=MX: Host not found, try again"
    );
}

#[test]
fn data_is_dot_stuffed_and_long_lines_folded() {
    let srv = start(Script::default());
    let a = agent(&[], FakeDns::default());
    let long = "x".repeat(2000);
    let content = format!("Subject: t\n\n.\n.hidden\n{}\nend\n", long);
    let out = send(&a, &lit(srv.port), &["a@remote.test"], content.as_bytes());
    assert_eq!(out[0].status, Status::Sent);
    let expected = format!(
        "Subject: t\r\n\r\n..\r\n..hidden\r\n{}\r\n {}\r\n {}\r\nend\r\n",
        &long[..998],
        &long[998..1995],
        &long[1995..]
    );
    assert_eq!(
        String::from_utf8(srv.seen().data[0].clone()).unwrap(),
        expected
    );
    for line in expected.split("\r\n") {
        assert!(line.len() <= 998);
    }
}

#[test]
fn message_bigger_than_the_server_limit_is_refused_locally() {
    let srv = start(Script {
        ehlo: Some(vec!["SIZE 100".into()]),
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let content = format!("Subject: big\n\n{}\n", "y".repeat(200));
    let out = send(&a, &lit(srv.port), &["a@remote.test"], content.as_bytes());
    assert_eq!(out[0].status, Status::Bounced);
    assert_eq!(out[0].dsn, "5.3.4");
    assert_eq!(
        out[0].text,
        format!(
            "message size {} exceeds size limit 100 of server 127.0.0.1[127.0.0.1]",
            content.len() + 3
        )
    );
    let cmds = srv.seen().cmds();
    assert!(cmds.iter().all(|c| !c.contains("MAIL")), "{:?}", cmds);
}

#[test]
fn dsn_and_8bitmime_parameters() {
    let srv = start(Script::default());
    let a = agent(&[], FakeDns::default());
    let mut r = Recipient::new("a@remote.test");
    r.notify = Some("SUCCESS,FAILURE".into());
    r.orcpt = Some("rfc822;A+x@remote.test".into());
    let dsn = EnvelopeDsn {
        ret: Some("hdrs".into()),
        envid: Some("id+1=2".into()),
    };
    let content = "Subject: caf\u{e9}\n\n\u{e9}\n".as_bytes();
    let out = send_dsn(&a, &lit(srv.port), &[r], content, &dsn);
    assert_eq!(out[0].status, Status::Sent);
    let cmds = srv.seen().cmds();
    assert_eq!(
        cmds[1],
        format!(
            "0:MAIL FROM:<s@here.test> SIZE={} BODY=8BITMIME RET=HDRS ENVID=id+2B1+3D2",
            content.len() + 3
        )
    );
    assert_eq!(
        cmds[2],
        "0:RCPT TO:<a@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;A+2Bx@remote.test"
    );
}

#[test]
fn no_dsn_parameters_to_a_server_without_dsn() {
    let srv = start(Script {
        ehlo: Some(vec!["PIPELINING".into()]),
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let mut r = Recipient::new("a@remote.test");
    r.notify = Some("NEVER".into());
    let dsn = EnvelopeDsn {
        ret: Some("FULL".into()),
        envid: None,
    };
    send_dsn(&a, &lit(srv.port), &[r], MSG, &dsn);
    let cmds = srv.seen().cmds();
    assert_eq!(cmds[1], "0:MAIL FROM:<s@here.test>");
    assert_eq!(cmds[2], "0:RCPT TO:<a@remote.test>");
}

#[test]
fn lost_connection_mid_session_defers() {
    let srv = start(Script {
        drop_after_mail: true,
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(out[0].dsn, "4.4.2");
    assert_eq!(
        out[0].text,
        "lost connection with 127.0.0.1[127.0.0.1] while sending RCPT TO"
    );
    assert_eq!(out[0].relay, relay(srv.port));
}

#[test]
fn silent_server_times_out() {
    let srv = start(Script {
        greeting: None,
        ..Script::default()
    });
    let a = agent(
        &[("smtp_connect_timeout", "1s"), ("smtp_helo_timeout", "1s")],
        FakeDns::default(),
    );
    let t = Instant::now();
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(out[0].dsn, "4.4.2");
    assert_eq!(
        out[0].text,
        "conversation with 127.0.0.1[127.0.0.1] timed out while receiving the initial server greeting"
    );
}

#[test]
fn greeting_5xx_is_skipped_and_deferred() {
    let srv = start(Script {
        greeting: Some("554 5.7.1 go away".into()),
        ..Script::default()
    });
    let a = agent(&[], FakeDns::default());
    let out = send(&a, &lit(srv.port), &["a@remote.test"], MSG);
    assert_eq!(out[0].status, Status::Deferred);
    assert_eq!(out[0].dsn, "4.7.1");
    assert_eq!(
        out[0].text,
        "host 127.0.0.1[127.0.0.1] refused to talk to me: 554 5.7.1 go away"
    );
}

#[path = "smtp_client/tls.rs"]
mod tls;

#[path = "smtp_client/verify.rs"]
mod verify;

#[path = "smtp_client/sasl.rs"]
mod sasl;

#[path = "smtp_client/cert_match.rs"]
mod cert_match;
