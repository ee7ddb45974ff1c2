//! Session tests over in-memory streams: every reply of the command state machine.

mod bare_lf;
mod bdat;
mod classes;
mod pipelining;
mod smtputf8_session;
mod starttls;
mod unknown_client;
mod utf8;

use std::io::{self, Cursor, Read, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::qmgr::Wake;
use crate::queue::{Queue, QueueFile, QueueName};

/// Reads scripted input; at its end either EOF or a timeout error.
struct Mem {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
    timeout_at_end: bool,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        if n == 0 && self.timeout_at_end {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "timeout"));
        }
        Ok(n)
    }
}

/// All of the scripted input is there at once, before the greeting.
impl chat::Peek for Mem {
    fn input_waiting(&self) -> bool {
        (self.input.position() as usize) < self.input.get_ref().len()
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Fixture {
    dir: PathBuf,
    ctx: SmtpdContext,
    rx: crossbeam_channel::Receiver<Wake>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn me() -> String {
    crate::sys::user_by_uid(crate::sys::euid())
        .unwrap()
        .unwrap()
        .name
}

fn fixture(tag: &str, extra: &[(&str, &str)]) -> Fixture {
    let dir = std::env::temp_dir().join(format!("postern-sd-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let aliases = dir.join("aliases");
    std::fs::write(&aliases, "postmaster: root\n").unwrap();
    crate::tables::aliases::build_file(&aliases).unwrap();
    let maps = format!("proxy:unix:passwd.byname hash:{}", aliases.display());
    let mut pairs: Vec<(&str, &str)> = vec![
        ("myhostname", "www.a.org"),
        ("mydestination", "www.a.org, localhost"),
        ("local_recipient_maps", &maps),
        ("mynetworks", "127.0.0.0/8"),
        ("smtpd_error_sleep_time", "0"),
        // The scripted clients send everything at once; pipelining has its own tests.
        ("smtpd_forbid_unauth_pipelining", "no"),
    ];
    pairs.extend_from_slice(extra);
    let cfg = Arc::new(Config::from_pairs(&dir, &pairs));
    let queue = Queue::new(&dir.join("spool"));
    queue.create_dirs().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = SmtpdContext::new(cfg, queue, tx).unwrap();
    Fixture { dir, ctx, rx }
}

fn client(addr: &str) -> ClientInfo {
    ClientInfo {
        name: "localhost".into(),
        addr: addr.parse::<IpAddr>().unwrap(),
        port: 1234,
        reverse_name: "localhost".into(),
        name_status: super::peer::NameStatus::Ok,
        reverse_name_status: super::peer::NameStatus::Ok,
    }
}

fn talk_from(f: &Fixture, addr: &str, input: &str, timeout: bool) -> Vec<String> {
    talk_bytes(f, addr, input.as_bytes(), timeout)
}

fn talk_bytes(f: &Fixture, addr: &str, input: &[u8], timeout: bool) -> Vec<String> {
    talk_as(f, client(addr), input, timeout)
}

/// A session with this client (its names and lookup outcomes as given): the reply lines.
fn talk_as(f: &Fixture, client: ClientInfo, input: &[u8], timeout: bool) -> Vec<String> {
    let mut m = Mem {
        input: Cursor::new(input.to_vec()),
        output: Vec::new(),
        timeout_at_end: timeout,
    };
    session(&mut m, client, &f.ctx);
    String::from_utf8(m.output)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The replies after the EHLO reply (whatever keywords it lists).
fn after_ehlo(out: &[String]) -> &[String] {
    let first = out.iter().position(|l| l.starts_with("250-")).unwrap();
    let last = first
        + out[first..]
            .iter()
            .position(|l| l.starts_with("250 "))
            .unwrap();
    &out[last + 1..]
}

fn talk(f: &Fixture, input: &str) -> Vec<String> {
    talk_from(f, "127.0.0.1", input, false)
}

#[test]
fn seed_greeting_helo_ehlo_and_nested_mail() {
    let f = fixture("seed", &[]);
    let out = talk(
        &f,
        "helo\r\nhelo localhost\r\nehlo localhost\r\nmail from: root\r\nmail from: obama@whitehouse.com\r\nquit\r\n",
    );
    assert_eq!(
        out,
        vec![
            "220 www.a.org ESMTP Postfix",
            "501 Syntax: HELO hostname",
            "250 www.a.org",
            "250-www.a.org",
            "250-PIPELINING",
            "250-SIZE 10240000",
            "250-VRFY",
            "250-ETRN",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250-DSN",
            "250 CHUNKING",
            "250 2.1.0 Ok",
            "503 5.5.1 Error: nested MAIL command",
            "221 2.0.0 Bye",
        ]
    );
}

#[test]
fn ehlo_variants() {
    let f = fixture(
        "ehlo",
        &[("message_size_limit", "0"), ("disable_vrfy_command", "yes")],
    );
    let out = talk(&f, "EHLO\r\nEHLO x\r\nVRFY root\r\nQUIT\r\n");
    assert_eq!(out[1], "501 Syntax: EHLO hostname");
    assert_eq!(out[3], "250-PIPELINING");
    assert_eq!(out[4], "250-SIZE");
    assert_eq!(out[5], "250-ETRN", "no VRFY when disabled");
    assert_eq!(after_ehlo(&out)[0], "502 5.5.1 VRFY command is disabled");
}

#[test]
fn order_errors() {
    let f = fixture("order", &[("smtpd_helo_required", "yes")]);
    let out = talk(
        &f,
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@www.a.org>\r\nDATA\r\nETRN x\r\nHELO h\r\nETRN\r\nMAIL FROM:<a@b.test>\r\nDATA\r\nETRN www.a.org\r\nRSET\r\nETRN www.a.org\r\nETRN a..b\r\nETRN remote.test\r\nQUIT\r\n",
    );
    assert_eq!(
        &out[1..],
        &[
            "503 5.5.1 Error: send HELO/EHLO first",
            "503 5.5.1 Error: need MAIL command",
            "503 5.5.1 Error: need RCPT command",
            "503 Error: send HELO/EHLO first",
            "250 www.a.org",
            "500 Syntax: ETRN domain",
            "250 2.1.0 Ok",
            "554 5.5.1 Error: no valid recipients",
            "503 Error: MAIL transaction in progress",
            "250 2.0.0 Ok",
            "250 Queuing started",
            "501 Error: invalid parameter syntax",
            "459 <remote.test>: service unavailable",
            "221 2.0.0 Bye",
        ]
    );
    assert_eq!(f.rx.try_recv(), Ok(Wake::Flush));
}

#[test]
fn mail_parameters_and_syntax() {
    let f = fixture("mailp", &[("message_size_limit", "1000")]);
    let cmds = [
        ("MAIL FROM:<a@x.test", "501 5.1.7 Bad sender address syntax"),
        (
            "MAIL FROM <a@x.test>",
            "501 5.5.4 Syntax: MAIL FROM:<address>",
        ),
        (
            "MAIL FROM:<a@x.test> FOO=bar",
            "555 5.5.4 Unsupported option: FOO=bar",
        ),
        (
            "MAIL FROM:<a@x.test> SIZE=2000",
            "552 5.3.4 Message size exceeds fixed limit",
        ),
        (
            "MAIL FROM:<a@x.test> BODY=9BIT",
            "501 5.5.4 Unsupported BODY parameter value",
        ),
        (
            "MAIL FROM:<a@x.test> RET=ALL",
            "501 5.5.4 Bad RET parameter syntax",
        ),
        (
            "MAIL FROM:<a@x.test> ENVID=a+zz",
            "501 5.5.4 Bad ENVID parameter syntax",
        ),
        (
            "MAIL FROM:<> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=x+2By",
            "250 2.1.0 Ok",
        ),
        (
            "RCPT TO:<a@www.a.org> NOTIFY=NEVER,DELAY",
            "501 5.5.4 Error: Bad NOTIFY parameter syntax",
        ),
        (
            "RCPT TO:<a@www.a.org> ORCPT=bad",
            "501 5.5.4 Error: Bad ORCPT parameter syntax",
        ),
        (
            "RCPT TO:<a@www.a.org> X=1",
            "555 5.5.4 Unsupported option: X=1",
        ),
        (
            "RCPT TO:<a@www.a.org",
            "501 5.1.3 Bad recipient address syntax",
        ),
        ("RCPT TO:<>", "501 5.1.3 Bad recipient address syntax"),
        ("RCPT TO <x>", "501 5.5.4 Syntax: RCPT TO:<address>"),
        ("BOGUS", "500 5.5.2 Error: command not recognized"),
        ("NOOP", "250 2.0.0 Ok"),
        ("AUTH PLAIN", "503 5.5.1 Error: authentication not enabled"),
        ("STARTTLS", "502 5.5.1 Error: command not implemented"),
    ];
    let mut input = String::from("EHLO x\r\n");
    for (c, _) in &cmds {
        input.push_str(c);
        input.push_str("\r\n");
    }
    input.push_str("QUIT\r\n");
    let out = talk(&f, &input);
    let replies = after_ehlo(&out);
    for (i, (c, want)) in cmds.iter().enumerate() {
        assert_eq!(replies[i], *want, "after {}", c);
    }
}

#[test]
fn recipients_local_unknown_relay_and_limit() {
    let me = me();
    let f = fixture(
        "rcpt",
        &[
            ("smtpd_recipient_limit", "2"),
            ("mynetworks", "10.9.9.0/24"),
        ],
    );
    let input = format!(
        "HELO h\r\nMAIL FROM:<s@b.test>\r\nRCPT TO:<nosuch@www.a.org>\r\nRCPT TO:<r@remote.test>\r\nRCPT TO:{me}\r\nRCPT TO:<postmaster@localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;post+2Bmaster@localhost\r\nRCPT TO:<{me}@www.a.org>\r\nDATA\r\n"
    );
    let out = talk(&f, &input);
    assert_eq!(
        &out[3..],
        &[
            "550 5.1.1 <nosuch@www.a.org>: Recipient address rejected: User unknown in local recipient table".to_string(),
            "454 4.7.1 <r@remote.test>: Relay access denied".to_string(),
            "250 2.1.5 Ok".to_string(),
            "250 2.1.5 Ok".to_string(),
            "452 4.5.3 Error: too many recipients".to_string(),
            "354 End data with <CR><LF>.<CR><LF>".to_string(),
        ]
    );
}

#[test]
fn relay_rules() {
    let f = fixture(
        "relay",
        &[(
            "smtpd_relay_restrictions",
            "permit_mynetworks reject_unauth_destination",
        )],
    );
    let input = "HELO h\r\nMAIL FROM:<s@b.test>\r\nRCPT TO:<r@remote.test>\r\nQUIT\r\n";
    assert_eq!(talk(&f, input)[3], "250 2.1.5 Ok", "inside mynetworks");
    assert_eq!(
        talk_from(&f, "192.0.2.7", input, false)[3],
        "554 5.7.1 <r@remote.test>: Relay access denied"
    );
    let f = fixture(
        "relay2",
        &[("smtpd_recipient_restrictions", "nonsense_check")],
    );
    assert_eq!(talk(&f, input)[3], "451 4.3.5 Server configuration error");
}

#[test]
fn data_without_valid_recipients_and_non_smtp_input() {
    let f = fixture("norcpt", &[]);
    let out = talk(
        &f,
        "helo localhost\r\nmail from: root\r\nrcpt to: nosuch\r\ndata\r\nGET / HTTP/1.0\r\nNOOP\r\n",
    );
    assert_eq!(out[4], "554 5.5.1 Error: no valid recipients");
    assert_eq!(out[5], "221 2.7.0 Error: I can break rules, too. Goodbye.");
    assert_eq!(out.len(), 6, "connection closed after 221");
    for junk in ["*\r\n", "Subject: hi\r\n"] {
        let out = talk(&f, junk);
        assert_eq!(out[1], "221 2.7.0 Error: I can break rules, too. Goodbye.");
    }
}

#[test]
fn long_command_nul_and_error_limit() {
    let f = fixture("long", &[("smtpd_hard_error_limit", "3")]);
    let long = "x".repeat(3000);
    let out = talk(
        &f,
        &format!("NOOP {long}\r\nNOOP\r\nNO\0OP\r\nBAD\r\nNOOP\r\n"),
    );
    assert_eq!(out[1], "500 5.5.2 www.a.org Error: command too long");
    assert_eq!(out[2], "250 2.0.0 Ok", "session still usable");
    assert_eq!(out[3], "500 5.5.2 Error: NUL character in command");
    assert_eq!(out[4], "500 5.5.2 Error: command not recognized");
    assert_eq!(out[5], "421 4.7.0 www.a.org Error: too many errors");
    assert_eq!(out.len(), 6);
}

#[test]
fn junk_commands_beyond_the_limit_count_as_errors() {
    let f = fixture(
        "junk",
        &[
            ("smtpd_junk_command_limit", "2"),
            ("smtpd_hard_error_limit", "3"),
        ],
    );
    let out = talk(&f, &"NOOP\r\n".repeat(8));
    // Three junk commands past the limit make three errors: the hard limit ends the session.
    assert_eq!(&out[1..6], &["250 2.0.0 Ok"; 5]);
    assert_eq!(out[6], "421 4.7.0 www.a.org Error: too many errors");
    assert_eq!(out.len(), 7);
}

#[test]
fn no_restriction_that_refuses_relaying_means_no_relaying_at_all() {
    let f = fixture(
        "unsafe",
        &[
            ("smtpd_relay_restrictions", ""),
            ("smtpd_recipient_restrictions", "permit_mynetworks"),
        ],
    );
    let out = talk_from(
        &f,
        "192.0.2.9",
        "HELO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<r@remote.test>\r\nQUIT\r\n",
        false,
    );
    assert_eq!(out[3], "451 4.3.5 Server configuration error");
}

#[test]
fn timeout_reply() {
    let f = fixture("timeout", &[]);
    let out = talk_from(&f, "127.0.0.1", "HELO h\r\nMAIL FROM:<a@b>\r\n", true);
    assert_eq!(
        out.last().unwrap(),
        "421 4.4.2 www.a.org Error: timeout exceeded"
    );
}

#[test]
fn message_is_queued_with_envelope_and_content() {
    let me = me();
    let f = fixture("queued", &[]);
    let input = format!(
        "HELO localhost\r\nMAIL FROM:obama@w.com\r\nRCPT TO:{me}\r\nDATA\r\nSubject:How are you these days?\r\nAre you gua lema?\r\n..dot\nbare\n.\n\0nul\r\n.\r\nQUIT\r\n"
    );
    let out = talk(&f, &input);
    let queued = &out[5];
    let id = queued
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .expect(queued);
    assert_eq!(f.rx.try_recv(), Ok(Wake::New(id.to_string())));
    let mut qf = QueueFile::open(&f.ctx.queue.path(QueueName::Incoming, id)).unwrap();
    let env = qf.envelope.clone();
    assert_eq!(env.sender, "obama@w.com");
    assert_eq!(env.recipients[0].address, format!("{me}@www.a.org"));
    assert_eq!(env.recipients[0].orig.as_deref(), Some(me.as_str()));
    assert_eq!(env.attr("protocol_name"), Some("SMTP"));
    assert_eq!(env.attr("helo_name"), Some("localhost"));
    assert_eq!(env.attr("client_address"), Some("127.0.0.1"));
    let content = String::from_utf8(qf.content().unwrap()).unwrap();
    assert!(
        content.starts_with(&format!(
            "Received: from localhost (localhost [127.0.0.1])\n\tby www.a.org (Postfix) with SMTP id {id}\n\tfor <{me}>; "
        )),
        "{content}"
    );
    assert!(content.contains("\nSubject:How are you these days?\nMessage-Id: <"));
    assert!(
        content.contains("; ")
            && content.ends_with("From: obama@w.com\n\nAre you gua lema?\n.dot\nbare\n\n\0nul\n"),
        "{content:?}"
    );
}

#[test]
fn oversized_message_is_not_queued() {
    let me = me();
    let f = fixture("big", &[("message_size_limit", "100")]);
    let body = "y".repeat(300);
    let input = format!(
        "EHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<{me}@www.a.org>\r\nDATA\r\n{body}\r\n.\r\nRSET\r\nQUIT\r\n"
    );
    let out = talk(&f, &input);
    assert!(out.contains(&"552 5.3.4 Error: message file too big".to_string()));
    assert!(out.contains(&"250 2.0.0 Ok".to_string()));
    assert_eq!(f.ctx.queue.list(QueueName::Incoming).unwrap().len(), 0);
    assert_eq!(
        std::fs::read_dir(f.ctx.queue.dir(QueueName::Incoming))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn disconnect_mid_data_leaves_nothing() {
    let me = me();
    let f = fixture("lost", &[]);
    let input = format!("HELO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<{me}>\r\nDATA\r\nhalf a mess");
    let out = talk(&f, &input);
    assert_eq!(out.last().unwrap(), "354 End data with <CR><LF>.<CR><LF>");
    assert_eq!(
        std::fs::read_dir(f.ctx.queue.dir(QueueName::Incoming))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn vrfy_replies() {
    let me = me();
    let f = fixture("vrfy", &[]);
    let out = talk(
        &f,
        &format!("VRFY\r\nVRFY {me}\r\nVRFY nosuch\r\nVRFY a@remote.test\r\n"),
    );
    assert_eq!(out[1], "501 5.5.4 Syntax: VRFY address");
    assert_eq!(out[2], format!("252 2.0.0 {me}"));
    assert_eq!(
        out[3],
        "550 5.1.1 <nosuch>: Recipient address rejected: User unknown in local recipient table"
    );
    assert_eq!(out[4], "252 2.0.0 a@remote.test");
}

#[test]
fn rewrite_clients() {
    let f = fixture("rw", &[]);
    assert!(
        f.ctx
            .rewrite_headers_for(("localhost", "127.0.0.1".parse().unwrap()), false, None)
    );
    assert!(
        !f.ctx
            .rewrite_headers_for(("unknown", "192.0.2.1".parse().unwrap()), false, None)
    );
}

#[test]
fn mail_without_helo_is_allowed_by_default() {
    let f = fixture("nohelo", &[]);
    let out = talk(&f, "MAIL FROM:<a@b.test>\r\nRSET\r\nRSET x\r\nQUIT\r\n");
    assert_eq!(
        &out[1..],
        &[
            "250 2.1.0 Ok",
            "250 2.0.0 Ok",
            "501 5.5.4 Syntax: RSET",
            "221 2.0.0 Bye"
        ]
    );
}

/// Hands the server one line per read, as a client that waits for each reply does.
struct Trickle {
    lines: Vec<Vec<u8>>,
    next: usize,
    output: Vec<u8>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(line) = self.lines.get(self.next) else {
            return Ok(0);
        };
        let n = line.len().min(buf.len());
        buf[..n].copy_from_slice(&line[..n]);
        self.lines[self.next].drain(..n);
        if self.lines[self.next].is_empty() {
            self.next += 1;
        }
        Ok(n)
    }
}

/// The next line arrives only when the server reads (after its replies were sent).
impl chat::Peek for Trickle {
    fn input_waiting(&self) -> bool {
        false
    }
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn trickle(f: &Fixture, input: &str) -> Vec<String> {
    chunks(f, input.split_inclusive("\r\n").collect())
}

/// A client whose reads return these pieces, each only after the server's replies.
fn chunks(f: &Fixture, pieces: Vec<&str>) -> Vec<String> {
    let mut t = Trickle {
        lines: pieces.iter().map(|l| l.as_bytes().to_vec()).collect(),
        next: 0,
        output: Vec::new(),
    };
    session(&mut t, client("127.0.0.1"), &f.ctx);
    String::from_utf8(t.output)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn routing_is_resolved_through_our_domains() {
    let f = fixture("route", &[]);
    let r = |a: &str| destination::resolve(&f.ctx, a);
    let routed = |address: &str, domain: &str| destination::Route {
        address: address.into(),
        domain: domain.into(),
        routed: true,
    };
    assert_eq!(
        r("jerry%qq.com@www.a.org"),
        routed("jerry@qq.com", "qq.com")
    );
    assert_eq!(
        r("qq.com!jerry@www.a.org"),
        routed("jerry@qq.com", "qq.com")
    );
    assert_eq!(
        r("\"jerry@qq.com\"@www.a.org"),
        routed("jerry@qq.com", "qq.com")
    );
    assert_eq!(
        r("a%localhost%www.a.org@localhost"),
        routed("a@localhost", "localhost"),
        "each of our hops removed in turn"
    );
    assert_eq!(r("a%b%qq.com@localhost"), routed("a%b@qq.com", "qq.com"));
    assert_eq!(
        r("a%qq.com@remote.test"),
        routed("a%qq.com@remote.test", "remote.test"),
        "a remote domain keeps its local part but is still routed"
    );
    let plain = r("root@www.a.org");
    assert!(!plain.routed);
    assert_eq!(plain.domain, "www.a.org");
    assert!(auth(&f.ctx, "root@www.a.org"));
    assert!(!auth(&f.ctx, "a%localhost@www.a.org"));
    let f = fixture(
        "route2",
        &[
            ("allow_percent_hack", "no"),
            ("allow_untrusted_routing", "yes"),
        ],
    );
    assert!(!destination::resolve(&f.ctx, "jerry%qq.com@www.a.org").routed);
    assert!(auth(&f.ctx, "localhost!a@www.a.org"));
}

/// permit_auth_destination for an address given as is.
fn auth(ctx: &SmtpdContext, addr: &str) -> bool {
    let rc = super::policy_types::Rcpt {
        given: addr,
        qualified: addr,
    };
    destination::auth_destination(ctx, &rc).unwrap()
}
