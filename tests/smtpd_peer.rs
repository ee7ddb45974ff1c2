//! The client host name over real sockets, with a stand-in resolver: a PTR name counts only
//! when it resolves back to the client address (Postfix's smtpd_peer.c), so a client that
//! controls its own PTR record cannot match `trusted.example OK` in check_client_access.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use std::net::IpAddr;
use std::sync::Arc;

use common::{Client, process_log_text};
use inproc::Server;
use postern::smtpd::peer::{LookupFailure, PeerLookup};

/// PTR `trusted.example` for every client; the forward lookup answers `forward`.
struct Ptr {
    forward: Result<Vec<IpAddr>, LookupFailure>,
}

impl PeerLookup for Ptr {
    fn reverse(&self, _: IpAddr) -> Result<String, LookupFailure> {
        Ok("trusted.example".to_string())
    }
    fn forward(&self, name: &str, ipv6: bool) -> Result<Vec<IpAddr>, LookupFailure> {
        assert_eq!((name, ipv6), ("trusted.example", false));
        self.forward.clone()
    }
}

/// A server that lets only `trusted.example` send mail (client restrictions at RCPT).
fn server(service: &str, forward: Result<Vec<IpAddr>, LookupFailure>) -> Server {
    Server::start_with(
        service,
        &[
            (
                "smtpd_client_restrictions",
                "check_client_access inline:{trusted.example=OK}, reject",
            ),
            ("myhostname", "mx.peer.test"),
        ],
        10,
        move |ctx| ctx.peer_lookup = Arc::new(Ptr { forward }),
    )
}

/// MAIL and RCPT from a new connection: the RCPT reply.
fn rcpt_reply(s: &Server) -> String {
    let mut c = Client::connect(s.port());
    assert_eq!(c.reply(), "220 mx.peer.test ESMTP Postfix");
    assert_eq!(c.cmd("HELO client.test"), "250 mx.peer.test");
    assert_eq!(c.cmd("MAIL FROM:<a@client.test>"), "250 2.1.0 Ok");
    let r = c.cmd("RCPT TO:<u@mx.peer.test>");
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert_eq!(c.reply(), "");
    r
}

fn loopback() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

#[test]
fn verified_name_matches_the_access_table() {
    let s = server("peer-ok", Ok(vec![loopback()]));
    assert_eq!(rcpt_reply(&s), "250 2.1.5 Ok");
    assert!(process_log_text().contains("connect from trusted.example[127.0.0.1]"));
}

#[test]
fn ptr_name_for_another_address_is_unknown() {
    let s = server("peer-forged", Ok(vec!["192.0.2.99".parse().unwrap()]));
    assert_eq!(
        rcpt_reply(&s),
        "554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied"
    );
    let log = process_log_text();
    assert!(
        log.contains("warning: hostname trusted.example does not resolve to address 127.0.0.1\n"),
        "{log}"
    );
    assert!(log.contains("connect from unknown[127.0.0.1]"));
}

#[test]
fn failed_forward_lookup_is_unknown_with_the_reason() {
    let s = server(
        "peer-nxdomain",
        Err(LookupFailure {
            temporary: false,
            reason: "Name or service not known".to_string(),
        }),
    );
    assert!(rcpt_reply(&s).starts_with("554 5.7.1 <unknown[127.0.0.1]>"));
    assert!(process_log_text().contains(
        "warning: hostname trusted.example does not resolve to address 127.0.0.1: Name or service not known"
    ));
}
