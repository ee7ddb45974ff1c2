//! The smtp(8) client in verify mode (address verification probes and `sendmail -bv`)
//! against a scripted SMTP server: MAIL FROM and RCPT TO, then RSET and QUIT, never DATA,
//! with and without PIPELINING; each recipient's result is the server's reply to its RCPT
//! TO (accepted: deliverable with that reply, at once, even if the session breaks later;
//! 5xx: undeliverable; 4xx: deferred, and tried at the next server).

#[path = "smtp_client/server.rs"]
mod server;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use postern::config::Config;
use postern::delivery::smtp::Smtp;
use postern::delivery::{Agent, Request, Status};
use postern::dns::{DnsError, MxHost, Resolve};
use postern::queue::Recipient;

use server::{Script, start};

/// No DNS: the tests use address literals.
struct NoDns;

impl Resolve for NoDns {
    fn mx(&self, _domain: &str) -> Result<Vec<MxHost>, DnsError> {
        Err(DnsError::NotFound("NXDOMAIN".into()))
    }
    fn addrs(&self, _host: &str) -> Result<Vec<IpAddr>, DnsError> {
        Err(DnsError::NotFound("NXDOMAIN".into()))
    }
}

fn agent() -> Smtp {
    let cfg = Config::from_pairs(Path::new("/nonexistent"), &[("myhostname", "client.test")]);
    Smtp::new("smtp", Arc::new(cfg), Arc::new(NoDns))
}

/// The verify-mode outcomes of `rcpts` from `sender` at the scripted server on `port`.
fn verify(port: u16, sender: &str, rcpts: &[&str]) -> Vec<postern::delivery::Outcome> {
    let rcpts: Vec<Recipient> = rcpts.iter().map(|r| Recipient::new(r)).collect();
    let nexthop = format!("[127.0.0.1]:{}", port);
    let req = Request {
        queue_id: "ABC123",
        sender,
        arrival: SystemTime::now(),
        content: b"",
        recipients: &rcpts,
        nexthop: &nexthop,
        ret: None,
        envid: None,
        attrs: &[],
    };
    agent().verify(&req)
}

#[test]
fn verify_mode_asks_rcpt_to_and_sends_no_data() {
    for pipelining in [true, false] {
        let mut script = Script::default();
        if !pipelining {
            script.ehlo = Some(vec!["SIZE 10240000".into()]);
        }
        script.rcpt.insert(
            "b@remote.test".into(),
            "550 5.1.1 <b@remote.test>: Recipient address rejected: User unknown in local recipient table".into(),
        );
        script.rcpt.insert(
            "c@remote.test".into(),
            "450 4.2.0 <c@remote.test>: Recipient address rejected: Greylisted".into(),
        );
        let srv = start(script);
        let rcpts = ["a@remote.test", "b@remote.test", "c@remote.test"];
        let out = verify(srv.port, "double-bounce@client.test", &rcpts);
        let got: Vec<_> = out
            .iter()
            .map(|o| (o.rcpt, o.status, o.dsn.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (0, Status::Sent, "2.1.5"),
                (1, Status::Bounced, "5.1.1"),
                (2, Status::Deferred, "4.2.0")
            ]
        );
        assert_eq!(out[0].text, "250 2.1.5 Ok");
        assert_eq!(
            out[1].text,
            "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <b@remote.test>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)"
        );
        let cmds = srv.seen().cmds();
        assert!(
            cmds[1].starts_with("0:MAIL FROM:<double-bounce@client.test>"),
            "{cmds:?}"
        );
        assert_eq!(
            cmds[2..],
            [
                "0:RCPT TO:<a@remote.test>",
                "0:RCPT TO:<b@remote.test>",
                "0:RCPT TO:<c@remote.test>",
                "0:RSET",
                "0:QUIT"
            ],
            "pipelining {pipelining}"
        );
        assert!(srv.seen().data.is_empty());
    }
}

#[test]
fn an_accepted_recipient_stays_deliverable_when_the_session_breaks() {
    let mut script = Script::default();
    script.rcpt.insert(
        "b@remote.test".into(),
        "421 4.3.2 Service shutting down".into(),
    );
    let srv = start(script);
    let out = verify(srv.port, "", &["a@remote.test", "b@remote.test"]);
    let got: Vec<_> = out.iter().map(|o| (o.rcpt, o.status)).collect();
    assert_eq!(got, [(0, Status::Sent), (1, Status::Deferred)], "{out:?}");
}
