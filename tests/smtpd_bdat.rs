//! CHUNKING (RFC 3030 BDAT) against the real server, with raw-socket clients: the replies
//! Postfix 3.x sends for each chunk and each bad input, pipelined chunks, the log lines
//! (queue ID, warnings, lost connection / timeout after BDAT, the disconnect counters),
//! and delivered mail byte for byte the same as the same message sent with DATA.

mod common;

use common::{Client, Instance, queued_id, wait_for};
use postern::smtpd::ClientInfo;

fn client_log_name() -> String {
    ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).log_name()
}

fn started(extra: &[(&str, &str)]) -> Instance {
    let inst = Instance::new(extra);
    inst.newaliases();
    inst.start();
    inst
}

/// Connected, greeted, after EHLO (whose reply is returned).
fn session(inst: &Instance) -> (Client, String) {
    let mut c = inst.connect();
    assert_eq!(c.reply(), "220 www.a.org ESMTP Postfix");
    let ehlo = c.cmd("EHLO client.test");
    (c, ehlo)
}

/// `BDAT n[ LAST]` followed by the chunk, as bytes.
fn bdat(chunk: &[u8], last: bool) -> Vec<u8> {
    let mut v = format!(
        "BDAT {}{}\r\n",
        chunk.len(),
        if last { " LAST" } else { "" }
    )
    .into_bytes();
    v.extend_from_slice(chunk);
    v
}

fn logged(inst: &Instance, text: &str) -> bool {
    wait_for(20, || inst.log().contains(text))
}

/// One mbox message (from its `From ` line to the next) that contains `marker`, without
/// what differs between two receptions: the `From ` line, Received:, Message-Id:, Date:.
fn delivered(inst: &Instance, marker: &str) -> String {
    let mbox = inst.mbox(&inst.user);
    let msg = mbox
        .split("\nFrom ")
        .find(|m| m.contains(marker))
        .unwrap_or_else(|| panic!("no {marker} in {mbox}"));
    let mut out = String::new();
    let mut in_received = false;
    for line in msg.split_inclusive('\n').skip(1) {
        if line.starts_with("Received:") {
            in_received = true;
        } else if !(in_received && line.starts_with('\t')) {
            in_received = false;
            if !line.starts_with("Message-Id:") && !line.starts_with("Date:") {
                out.push_str(line);
            }
        }
    }
    out
}

#[test]
fn bdat_delivers_what_data_delivers() {
    let inst = started(&[]);
    let rcpt = inst.local_address();
    // Dots, a `From ` line, a bare CR, a bare LF, a long line, no final line end.
    let long = "x".repeat(3000);
    let raw = format!(
        "Subject: SUBJ\r\nX-Test: 1\r\n\r\n.\r\n..two\r\nFrom me\r\nbare\rcr\r\nbare\nlf\r\n{long}\r\nend"
    );
    let stuffed = format!(
        "Subject: SUBJ\r\nX-Test: 1\r\n\r\n..\r\n...two\r\nFrom me\r\nbare\rcr\r\nbare\nlf\r\n{long}\r\nend\r\n.\r\n"
    );
    let (mut c, ehlo) = session(&inst);
    assert!(ehlo.ends_with("\n250-DSN\n250 CHUNKING"), "{ehlo}");
    assert_eq!(c.cmd("MAIL FROM:<s@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("RCPT TO:<{rcpt}>")), "250 2.1.5 Ok");
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send_raw(stuffed.replace("SUBJ", "by-data").as_bytes());
    let by_data = c.reply();
    assert!(by_data.starts_with("250 2.0.0 Ok: queued as "), "{by_data}");
    // The same message in three pipelined chunks cut anywhere, then BDAT 0 LAST.
    let raw = raw.replace("SUBJ", "by-bdat");
    let bytes = raw.as_bytes();
    let mut input = format!("MAIL FROM:<s@remote.test>\r\nRCPT TO:<{rcpt}>\r\n").into_bytes();
    input.extend(bdat(&bytes[..14], false));
    input.extend(bdat(&bytes[14..40], false));
    input.extend(bdat(&bytes[40..], false));
    input.extend(bdat(b"", true));
    input.extend(b"QUIT\r\n");
    c.send_raw(&input);
    let mut replies = Vec::new();
    for _ in 0..7 {
        replies.push(c.reply());
    }
    assert_eq!(
        replies[..5],
        [
            "250 2.1.0 Ok".to_string(),
            "250 2.1.5 Ok".into(),
            "250 2.0.0 Ok: 14 bytes".into(),
            "250 2.0.0 Ok: 26 bytes".into(),
            format!("250 2.0.0 Ok: {} bytes", bytes.len() - 40),
        ]
    );
    // Postfix's act_size: every line with CR LF (the bare LF and the missing end add 1+2).
    let size = bytes.len() + 3;
    let want = format!("250 2.0.0 Ok: {size} bytes queued as ");
    assert!(replies[5].starts_with(&want), "{replies:?}");
    assert_eq!(replies[6], "221 2.0.0 Bye");
    let id = queued_id(&replies[5]);
    let client = client_log_name();
    assert!(logged(&inst, &format!("{id}: client={client}")));
    assert!(logged(&inst, &format!("{id}: removed")));
    assert!(logged(&inst, &format!("{}: removed", queued_id(&by_data))));
    let (a, b) = (delivered(&inst, "by-data"), delivered(&inst, "by-bdat"));
    // The mbox's blank line between messages is not the message's.
    let (a, b) = (a.trim_end_matches('\n'), b.trim_end_matches('\n'));
    assert_eq!(a.replace("by-data", "by-bdat"), b);
    assert!(b.ends_with(&format!(
        "\n\n.\n..two\n>From me\nbare\rcr\nbare\nlf\n{long}\nend"
    )));
    assert!(logged(
        &inst,
        &format!("disconnect from {client} ehlo=1 mail=2 rcpt=2 data=1 bdat=4 quit=1 commands=11")
    ));
}

#[test]
fn a_dot_line_in_a_chunk_smuggles_nothing() {
    let inst = started(&[]);
    let rcpt = inst.local_address();
    let (mut c, _) = session(&inst);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("RCPT TO:<{rcpt}>")), "250 2.1.5 Ok");
    let chunk = format!(
        "Subject: smuggle\r\n\r\nbefore\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\nSubject: evil\r\n.\r\nafter\r\n"
    );
    c.send_raw(&bdat(chunk.as_bytes(), true));
    let r = c.reply();
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    inst.wait_mbox(&inst.user, "\nafter\n");
    let mbox = inst.mbox(&inst.user);
    assert_eq!(
        mbox.matches("\nFrom ").count() + 1,
        1,
        "one message: {mbox}"
    );
    assert!(mbox.contains("\nbefore\n.\nMAIL FROM:<evil@x.test>\n"));
}

#[test]
fn bad_chunks_are_read_answered_and_logged() {
    let inst = started(&[("message_size_limit", "1000")]);
    let rcpt = inst.local_address();
    let client = client_log_name();
    let (mut c, _) = session(&inst);
    // Outside a transaction: 503, and the chunk (which looks like commands) is skipped.
    c.send_raw(&bdat(b"MAIL FROM:<x@y.test>\r\n", false));
    assert_eq!(c.reply(), "503 5.5.1 Error: need RCPT command");
    assert_eq!(
        c.cmd("MAIL FROM:<s@remote.test>"),
        "503 5.5.1 Error: MAIL after BDAT"
    );
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
    // A chunk over message_size_limit is read and refused; later chunks are discarded.
    let mut input = format!("MAIL FROM:<s@remote.test>\r\nRCPT TO:<{rcpt}>\r\n").into_bytes();
    input.extend(bdat(b"Subject: big\r\n\r\n", false));
    input.extend(bdat(&[b'y'; 1200], false));
    input.extend(bdat(b"DATA\r\n", false));
    input.extend(b"BDAT 0\r\n");
    input.extend(bdat(b"tail\r\n", true));
    input.extend(b"NOOP\r\n");
    c.send_raw(&input);
    let mut replies = Vec::new();
    for _ in 0..8 {
        replies.push(c.reply());
    }
    assert_eq!(
        replies,
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 Ok: 16 bytes",
            "552 5.3.4 Chunk exceeds message size limit",
            "551 5.0.0 Discarded 6 bytes after earlier error",
            "551 5.7.1 Null BDAT request",
            "551 5.0.0 Discarded 6 bytes after earlier error",
            "250 2.0.0 Ok",
        ]
    );
    // DATA after BDAT, RCPT after BDAT, and no valid recipients.
    assert_eq!(c.cmd("MAIL FROM:<s@remote.test>"), "250 2.1.0 Ok");
    assert!(c.cmd("RCPT TO:<nosuchuser@www.a.org>").starts_with("550 "));
    c.send_raw(&bdat(b"x\r\n", false));
    assert_eq!(c.reply(), "554 5.5.1 Error: no valid recipients");
    assert_eq!(c.cmd("DATA"), "503 5.5.1 Error: DATA after BDAT");
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{rcpt}>")),
        "503 5.5.1 Error: RCPT after BDAT"
    );
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(logged(
        &inst,
        &format!("BDAT request from {client} exceeds message size limit")
    ));
    assert!(logged(&inst, &format!(": null BDAT request from {client}")));
    assert!(logged(
        &inst,
        &format!(
            "disconnect from {client} ehlo=1 mail=2/3 rcpt=1/3 data=0/1 bdat=1/7 rset=1 noop=1 quit=1 commands=8/18"
        )
    ));
    assert!(inst.queue_files("incoming").is_empty());
    assert!(inst.queue_files("active").is_empty());
}

#[test]
fn malformed_bdat_and_discarded_chunking_hang_up() {
    let inst = started(&[("smtpd_discard_ehlo_keywords", "chunking")]);
    let client = client_log_name();
    let (mut c, ehlo) = session(&inst);
    assert!(!ehlo.contains("CHUNKING"), "{ehlo}");
    assert!(ehlo.ends_with("\n250 DSN"), "{ehlo}");
    c.send_raw(b"BDAT 5 LAST\r\nhello");
    assert_eq!(c.reply(), "521 5.5.1 Error: command not implemented");
    assert_eq!(c.reply(), "", "the server hung up");
    assert!(logged(&inst, "discarding EHLO keywords: CHUNKING"));
    assert!(logged(
        &inst,
        &format!("disconnect from {client} ehlo=1 bdat=0/1 commands=1/2")
    ));
    let inst = started(&[]);
    for bad in ["BDAT 5 FIRST", "BDAT", "BDAT -3", "BDAT 0x10 LAST"] {
        let (mut c, _) = session(&inst);
        assert_eq!(c.cmd(bad), "521 5.5.4 Syntax: BDAT count [LAST]", "{bad}");
        assert_eq!(c.reply(), "", "the server hung up after {bad}");
        assert!(logged(
            &inst,
            &format!("warning: NOQUEUE: malformed BDAT command syntax from {client}: {bad}")
        ));
    }
}

#[test]
fn lost_connection_and_timeout_mid_chunk_queue_nothing() {
    let inst = started(&[("smtpd_timeout", "2s")]);
    let rcpt = inst.local_address();
    let client = client_log_name();
    let (mut c, _) = session(&inst);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("RCPT TO:<{rcpt}>")), "250 2.1.5 Ok");
    c.send_raw(b"BDAT 100 LAST\r\n0123456789");
    drop(c);
    assert!(logged(
        &inst,
        &format!("lost connection after BDAT (10 bytes) from {client}")
    ));
    assert!(logged(
        &inst,
        &format!("disconnect from {client} ehlo=1 mail=1 rcpt=1 bdat=0/1 commands=3/4")
    ));
    // Between two chunks: the byte count is logged too, as Postfix does.
    let (mut c, _) = session(&inst);
    c.send_raw(format!("MAIL FROM:<s@remote.test>\r\nRCPT TO:<{rcpt}>\r\n").as_bytes());
    c.send_raw(&bdat(b"Subject: t\r\nab", false));
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert_eq!(c.reply(), "250 2.0.0 Ok: 14 bytes");
    drop(c);
    assert!(logged(
        &inst,
        &format!("lost connection after BDAT (14 bytes) from {client}")
    ));
    assert!(logged(
        &inst,
        &format!("disconnect from {client} ehlo=1 mail=1 rcpt=1 bdat=1 commands=4")
    ));
    let (mut c, _) = session(&inst);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("RCPT TO:<{rcpt}>")), "250 2.1.5 Ok");
    c.send_raw(&bdat(b"Subject: t\r\n", false));
    assert_eq!(c.reply(), "250 2.0.0 Ok: 12 bytes");
    c.send_raw(b"BDAT 50 LAST\r\nabc");
    assert_eq!(c.reply(), "421 4.4.2 www.a.org Error: timeout exceeded");
    assert!(logged(
        &inst,
        &format!("timeout after BDAT (15 bytes) from {client}")
    ));
    assert!(inst.queue_files("incoming").is_empty());
    assert!(inst.queue_files("active").is_empty());
    assert!(!inst.log().contains(": removed"), "nothing was delivered");
}

#[test]
fn bare_lf_and_header_checks_apply_to_chunks() {
    let inst = Instance::new(&[
        ("smtpd_forbid_bare_newline", "reject"),
        ("smtpd_forbid_bare_newline_exclusions", ""),
    ]);
    std::fs::write(
        inst.etc.join("header_checks"),
        "/^Subject: spam/ REJECT 5.7.1 no spam\n",
    )
    .unwrap();
    inst.set(
        "header_checks",
        &format!("regexp:{}/header_checks", inst.etc.display()),
    );
    inst.newaliases();
    inst.start();
    let rcpt = inst.local_address();
    let client = client_log_name();
    let (mut c, _) = session(&inst);
    let tx = format!("MAIL FROM:<s@remote.test>\r\nRCPT TO:<{rcpt}>\r\n");
    c.send_raw(tx.as_bytes());
    c.send_raw(&bdat(b"Subject: x\r\n\r\nbare\n", true));
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert_eq!(c.reply(), "550 5.5.2 www.a.org Error: bare <LF> received");
    assert!(logged(
        &inst,
        &format!(
            ": reject: END-OF-MESSAGE from {client}: bare <LF> received; from=<s@remote.test>"
        )
    ));
    c.send_raw(tx.as_bytes());
    c.send_raw(&bdat(b"Subject: spam spam\r\n\r\nbody\r\n", true));
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert_eq!(c.reply(), "550 5.7.1 no spam");
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(logged(&inst, "reject: header Subject: spam spam"));
    assert!(inst.queue_files("incoming").is_empty());
}

#[test]
fn a_stop_between_chunks_ends_the_session_and_queues_nothing() {
    let inst = started(&[]);
    let rcpt = inst.local_address();
    let (mut c, _) = session(&inst);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("RCPT TO:<{rcpt}>")), "250 2.1.5 Ok");
    c.send_raw(&bdat(b"Subject: stop\r\n", false));
    assert_eq!(c.reply(), "250 2.0.0 Ok: 15 bytes");
    inst.stop();
    assert_eq!(c.reply(), "421 4.3.2 www.a.org Service shutting down");
    assert!(inst.queue_files("incoming").is_empty());
    assert!(inst.queue_files("active").is_empty());
}
