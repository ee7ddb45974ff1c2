//! smtpd over real TCP: `serve` on 127.0.0.1:0 with a temporary spool and configuration,
//! checking replies, maillog lines and the queue files left behind.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use common::process_log_text as log_text;
use inproc::{Client, Server, me};
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use postern::qmgr::Wake;
use postern::queue::{QueueFile, QueueName};
use postern::smtpd::ClientInfo;

/// An smtpd whose local recipients are looked up in its alias table (built or not) and
/// the passwd file, as with Postfix's defaults.
fn server(extra: &[(&str, &str)], build_aliases: bool, maxproc: usize) -> Server {
    Server::builder()
        .set(&[(
            "mydestination",
            "$myhostname, localhost.$mydomain, localhost",
        )])
        .aliases(build_aliases)
        .set(extra)
        .maxproc(maxproc)
        .start()
}

fn client_log_name() -> String {
    ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).log_name()
}

#[test]
fn seed_lookup_failure_then_delivery_after_newaliases() {
    let me = me();
    let s = server(&[], false, 10);
    let mut c = Client::connect(&s);
    assert_eq!(c.reply(), "220 www.a.org ESMTP Postfix");
    assert_eq!(c.cmd("helo"), "501 Syntax: HELO hostname");
    assert_eq!(c.cmd("helo localhost"), "250 www.a.org");
    assert_eq!(c.cmd("mail from: root"), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd(&format!("mail to:{me}")),
        "503 5.5.1 Error: nested MAIL command"
    );
    assert_eq!(
        c.cmd(&format!("rcpt to: {me}")),
        format!("451 4.3.0 <{me}>: Temporary lookup failure")
    );
    assert_eq!(c.cmd("data"), "554 5.5.1 Error: no valid recipients");
    assert_eq!(c.cmd("quit"), "221 2.0.0 Bye");
    c.expect_eof();

    let log = log_text();
    let a = s.aliases();
    let client = client_log_name();
    for want in [
        format!(
            "warning: hash:{} is unavailable. open database {}.db: No such file or directory",
            a.display(),
            a.display()
        ),
        format!(
            "warning: hash:{} lookup error for \"{me}@www.a.org\"",
            a.display()
        ),
        format!(
            "NOQUEUE: reject: RCPT from {client}: 451 4.3.0 <{me}>: Temporary lookup failure; from=<root> to=<{me}> proto=SMTP helo=<localhost>"
        ),
        format!("connect from {client}"),
        format!("disconnect from {client}"),
    ] {
        assert!(log.contains(&want), "missing {want:?} in\n{log}");
    }

    // newaliases, and the same conversation succeeds.
    postern::tables::aliases::build_file(&a).unwrap();
    let mut c = Client::connect(&s);
    c.reply();
    c.cmd("helo localhost");
    assert_eq!(c.cmd("mail from:obama@w.com"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("rcpt to:{me}")), "250 2.1.5 Ok");
    assert_eq!(c.cmd("data"), "354 End data with <CR><LF>.<CR><LF>");
    c.send("Subject:How are you these days?\r\nAre you gua lema?\r\n.\r\n");
    let r = c.reply();
    let id = r
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    assert_eq!(c.cmd("quit"), "221 2.0.0 Bye");
    c.expect_eof();
    assert_eq!(s.wake.try_recv(), Ok(Wake::New(id.clone())));
    let log = log_text();
    assert!(log.contains(&format!("{id}: client={client}")), "{log}");
    assert!(log.contains(&format!("{id}: message-id=<")), "{log}");

    let mut qf = QueueFile::open(&s.queue.path(QueueName::Incoming, &id)).unwrap();
    assert_eq!(qf.envelope.sender, "obama@w.com");
    assert_eq!(qf.envelope.recipients.len(), 1);
    assert_eq!(qf.envelope.recipients[0].address, format!("{me}@www.a.org"));
    assert_eq!(qf.envelope.recipients[0].orig.as_deref(), Some(me.as_str()));
    let content = String::from_utf8(qf.content().unwrap()).unwrap();
    assert!(
        content.starts_with("Received: from localhost ("),
        "{content}"
    );
    assert!(
        content.contains(&format!("with SMTP id {id}\n\tfor <{me}>; ")),
        "{content}"
    );
    assert!(
        content.ends_with("From: obama@w.com\n\nAre you gua lema?\n"),
        "{content}"
    );
}

#[test]
fn relay_depends_on_mynetworks() {
    let s = server(&[("mynetworks", "192.0.2.0/24")], true, 10);
    let mut c = Client::connect(&s);
    c.reply();
    c.cmd("EHLO x");
    c.cmd("MAIL FROM:<a@b.test>");
    assert_eq!(
        c.cmd("RCPT TO:<jerry@qq.com>"),
        "454 4.7.1 <jerry@qq.com>: Relay access denied"
    );
    c.cmd("QUIT");
    c.expect_eof();
    assert!(log_text().contains(&format!(
        "NOQUEUE: reject: RCPT from {}: 454 4.7.1 <jerry@qq.com>: Relay access denied; from=<a@b.test> to=<jerry@qq.com> proto=ESMTP helo=<x>",
        client_log_name()
    )));

    let s = server(&[], true, 10);
    let mut c = Client::connect(&s);
    c.reply();
    c.cmd("HELO x");
    c.cmd("MAIL FROM:<a@yahoo.com>");
    assert_eq!(c.cmd("RCPT TO:<jerry@qq.com>"), "250 2.1.5 Ok");
    c.cmd("QUIT");
}

#[test]
fn pipelined_group_and_bare_lf_content() {
    let me = me();
    let s = server(&[], true, 10);
    let mut c = Client::connect(&s);
    c.reply();
    assert!(c.cmd("EHLO x").contains("250-PIPELINING"));
    c.send(&format!(
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<{me}@www.a.org>\r\nRCPT TO:<postmaster@localhost>\r\nDATA\r\n"
    ));
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert_eq!(c.reply(), "354 End data with <CR><LF>.<CR><LF>");
    // <LF>.<LF> and <LF>.<CR><LF> after a bare LF never end the message.
    c.send("Subject: t\r\n\r\nline1\n.\nMAIL FROM:<evil@x>\n.\r\nsmuggled?\r\n.\r\n");
    let r = c.reply();
    let id = r
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .expect(&r)
        .to_string();
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    let mut qf = QueueFile::open(&s.queue.path(QueueName::Incoming, &id)).unwrap();
    assert_eq!(qf.envelope.recipients.len(), 2);
    assert_eq!(qf.envelope.attr("protocol_name"), Some("ESMTP"));
    let content = String::from_utf8(qf.content().unwrap()).unwrap();
    assert!(
        content.ends_with("\nline1\n\nMAIL FROM:<evil@x>\n\nsmuggled?\n"),
        "{content:?}"
    );
    assert!(!content.contains("\tfor <"), "no `for` with two recipients");
}

#[test]
fn long_line_oversize_and_lost_connection() {
    let me = me();
    let s = server(&[("message_size_limit", "1000")], true, 10);
    let mut c = Client::connect(&s);
    c.reply();
    assert_eq!(
        c.cmd(&"X".repeat(3000)),
        "500 5.5.2 www.a.org Error: command too long"
    );
    assert_eq!(c.cmd("HELO x"), "250 www.a.org");
    c.cmd("MAIL FROM:<a@b.test>");
    c.cmd(&format!("RCPT TO:<{me}>"));
    c.cmd("DATA");
    c.send(&format!("{}\r\n.\r\n", "z".repeat(5000)));
    assert_eq!(c.reply(), "552 5.3.4 Error: message file too big");
    assert_eq!(s.incoming_entries(), 0);
    // Logged as Postfix's smtpd logs it, with the queue ID of its `client=` line.
    let log = log_text();
    let id = log
        .lines()
        .filter(|l| l.contains(": client="))
        .filter_map(|l| l.split(": client=").next()?.rsplit(' ').next())
        .next_back()
        .expect("a client= line");
    assert!(
        log.contains(&format!("warning: {id}: queue file size limit exceeded")),
        "{log}"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    c.cmd(&format!("RCPT TO:<{me}>"));
    assert_eq!(c.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>");
    c.send("Subject: half\r\n\r\nnot finished");
    c.w.shutdown(std::net::Shutdown::Write).unwrap();
    c.expect_eof();
    assert_eq!(s.incoming_entries(), 0, "no queue file left behind");
    let log = log_text();
    assert!(
        log.contains(&format!(
            "lost connection after DATA (27 bytes) from {}",
            client_log_name()
        )),
        "{log}"
    );
}

#[test]
fn idle_client_times_out() {
    let s = server(&[("smtpd_timeout", "1s")], true, 10);
    let mut c = Client::connect(&s);
    c.reply();
    c.cmd("HELO x");
    c.cmd("MAIL FROM:<a@b.test>");
    c.cmd("RCPT TO:<postmaster>");
    assert_eq!(c.reply(), "421 4.4.2 www.a.org Error: timeout exceeded");
    c.expect_eof();
    assert!(log_text().contains(&format!("timeout after RCPT from {}", client_log_name())));
}

#[test]
fn process_limit_and_stop() {
    let mut s = server(&[], true, 1);
    let mut a = Client::connect(&s);
    assert_eq!(a.reply(), "220 www.a.org ESMTP Postfix");
    let mut b = Client::connect(&s);
    b.w.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1];
    let early = b.r.read(&mut buf);
    assert!(early.is_err(), "second client must wait for a free slot");
    b.w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(a.cmd("QUIT"), "221 2.0.0 Bye");
    assert_eq!(b.reply(), "220 www.a.org ESMTP Postfix");
    assert_eq!(b.cmd("QUIT"), "221 2.0.0 Bye");
    s.stop();
    assert!(
        TcpStream::connect(s.addr).is_err(),
        "listener closed after stop"
    );
}
