//! BDAT (RFC 3030) in the session, as Postfix 3.x answers it: chunk replies, the checks of
//! the first chunk, chunks discarded after an error, the size limit, bare LFs, and content
//! stored exactly as the same message sent with DATA.

use super::*;

/// The session's replies after the greeting and the EHLO reply, for `body` sent after
/// `EHLO h` (so the first reply of `body` is at index 0).
fn replies(f: &Fixture, body: &[u8]) -> Vec<String> {
    let mut input = b"EHLO h\r\n".to_vec();
    input.extend_from_slice(body);
    let out = talk_bytes(f, "127.0.0.1", &input, false);
    let ehlo_end = out.iter().position(|l| l.starts_with("250 ")).unwrap();
    out[ehlo_end + 1..].to_vec()
}

fn tx(me: &str) -> String {
    format!("MAIL FROM:<a@b.test>\r\nRCPT TO:<{me}@www.a.org>\r\n")
}

fn queued_content(f: &Fixture, id: &str) -> Vec<u8> {
    let mut qf = QueueFile::open(&f.ctx.queue.path(QueueName::Incoming, id)).unwrap();
    qf.content().unwrap()
}

fn incoming(f: &Fixture) -> usize {
    std::fs::read_dir(f.ctx.queue.dir(QueueName::Incoming))
        .unwrap()
        .count()
}

/// The message without what differs between two receptions: the Received: header and
/// the Message-Id: and Date: headers cleanup adds.
fn comparable(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut in_received = false;
    for line in content.split_inclusive(|&b| b == b'\n') {
        let cont = line.first() == Some(&b'\t');
        if line.starts_with(b"Received:") {
            in_received = true;
        } else if !(cont && in_received) {
            in_received = false;
            if !line.starts_with(b"Message-Id:") && !line.starts_with(b"Date:") {
                out.extend_from_slice(line);
            }
        }
    }
    out
}

#[test]
fn ehlo_offers_chunking_unless_discarded() {
    let f = fixture("bdat-ehlo", &[]);
    let out = talk(&f, "EHLO h\r\nQUIT\r\n");
    assert_eq!(
        out[out.len() - 3..],
        ["250-DSN", "250 CHUNKING", "221 2.0.0 Bye"]
    );
    let f = fixture(
        "bdat-ehlo-off",
        &[(
            "smtpd_discard_ehlo_keywords",
            "silent-discard, CHUNKING size",
        )],
    );
    let out = talk(&f, "EHLO h\r\nQUIT\r\n");
    assert!(
        !out.iter()
            .any(|l| l.contains("CHUNKING") || l.contains("SIZE"))
    );
    assert_eq!(out[out.len() - 2..], ["250 DSN", "221 2.0.0 Bye"]);
}

#[test]
fn discarded_keywords_are_left_out_in_any_case_and_unknown_ones_ignored() {
    let f = fixture(
        "bdat-discard",
        &[(
            "smtpd_discard_ehlo_keywords",
            "pipelining, Size VRFY etrn bogus dsn",
        )],
    );
    let out = talk(&f, "EHLO h\r\nQUIT\r\n");
    assert_eq!(
        out[1..],
        [
            "250-www.a.org",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250 CHUNKING",
            "221 2.0.0 Bye"
        ]
    );
}

#[test]
fn chunks_are_answered_and_the_message_queued_as_with_data() {
    let me = me();
    let f = fixture("bdat-ok", &[]);
    // Sent with DATA, dot-stuffed; with BDAT, raw, cut anywhere (even inside CR LF).
    let raw: &[u8] = b"Subject: s\r\n\r\n.\r\n..two\r\nbare\nlast\r\n";
    let data = format!(
        "{}DATA\r\nSubject: s\r\n\r\n..\r\n...two\r\nbare\nlast\r\n.\r\n",
        tx(&me)
    );
    let mut bdat = tx(&me).into_bytes();
    bdat.extend_from_slice(b"BDAT 13\r\n");
    bdat.extend_from_slice(&raw[..13]);
    bdat.extend_from_slice(format!("BDAT {} LAST\r\n", raw.len() - 13).as_bytes());
    bdat.extend_from_slice(&raw[13..]);
    bdat.extend_from_slice(b"QUIT\r\n");
    let out_data = replies(&f, data.as_bytes());
    let out = replies(&f, &bdat);
    let id = out[3]
        .strip_prefix(&format!("250 2.0.0 Ok: {} bytes queued as ", raw.len() + 1))
        .expect(&out[3])
        .to_string();
    assert_eq!(
        out,
        [
            "250 2.1.0 Ok".to_string(),
            "250 2.1.5 Ok".into(),
            "250 2.0.0 Ok: 13 bytes".into(),
            out[3].clone(),
            "221 2.0.0 Bye".into(),
        ]
    );
    let id_data = out_data[3]
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .unwrap();
    let (a, b) = (queued_content(&f, id_data), queued_content(&f, &id));
    assert_eq!(comparable(&a), comparable(&b));
    assert!(comparable(&b).starts_with(b"Subject: s\n"));
    assert!(b.ends_with(b"\n\n.\n..two\nbare\nlast\n"), "{:?}", b);
}

#[test]
fn bdat_0_last_ends_a_message_and_the_last_line_gets_its_end() {
    let me = me();
    let f = fixture("bdat-zero", &[]);
    let body = format!(
        "{}BDAT 17\r\nSubject: x\r\n\r\nb\r\nBDAT 0 LAST\r\nQUIT\r\n",
        tx(&me)
    );
    let out = replies(&f, body.as_bytes());
    assert_eq!(out[2], "250 2.0.0 Ok: 17 bytes");
    let id = out[3]
        .strip_prefix("250 2.0.0 Ok: 17 bytes queued as ")
        .expect(&out[3]);
    let c = queued_content(&f, id);
    assert!(c.ends_with(b"\n\nb\n"), "{:?}", c);
    // No line end at the end of the last chunk: one is added (and counted, as Postfix).
    let body = format!("{}BDAT 4 LAST\r\nbody", tx(&me));
    let out = replies(&f, body.as_bytes());
    let id = out[2]
        .strip_prefix("250 2.0.0 Ok: 6 bytes queued as ")
        .expect(&out[2]);
    assert!(queued_content(&f, id).ends_with(b"\nbody\n"));
}

#[test]
fn a_dot_line_inside_a_chunk_is_content_not_an_end() {
    let me = me();
    let f = fixture("bdat-smuggle", &[]);
    let chunk = b"Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@x>\r\n.\r\nRCPT TO:<v@x>\r\n";
    let mut body = tx(&me).into_bytes();
    body.extend_from_slice(format!("BDAT {} LAST\r\n", chunk.len()).as_bytes());
    body.extend_from_slice(chunk);
    body.extend_from_slice(b"QUIT\r\n");
    let out = replies(&f, &body);
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(out[2].starts_with("250 2.0.0 Ok: "), "{out:?}");
    assert_eq!(out[3], "221 2.0.0 Bye");
    assert_eq!(incoming(&f), 1, "one message");
    let id = out[2].rsplit(' ').next().unwrap();
    let c = queued_content(&f, id);
    assert!(c.ends_with(b"x\n.\nMAIL FROM:<evil@x>\n.\nRCPT TO:<v@x>\n"));
}

#[test]
fn bdat_outside_a_transaction_is_skipped_and_the_session_stays_in_step() {
    let me = me();
    let f = fixture("bdat-order", &[]);
    // Without MAIL: 503 and the chunk is read, not taken for commands; then MAIL is
    // refused until RSET, as Postfix does after a failed chunk.
    let body = format!(
        "BDAT 6\r\nNOOP\r\nMAIL FROM:<a@b.test>\r\nBDAT 6 LAST\r\nQUIT\r\nRSET\r\n{}BDAT 0\r\nQUIT\r\n",
        tx(&me)
    );
    let out = replies(&f, body.as_bytes());
    assert_eq!(
        out,
        [
            "503 5.5.1 Error: need RCPT command",
            "503 5.5.1 Error: MAIL after BDAT",
            "551 5.0.0 Discarded 6 bytes after earlier error",
            "250 2.0.0 Ok",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "551 5.7.1 Null BDAT request",
            "221 2.0.0 Bye",
        ]
    );
    // No accepted recipient: 554, and DATA, RCPT and MAIL after BDAT are refused.
    let body = format!(
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<nosuchuser@www.a.org>\r\nBDAT 3\r\nabcDATA\r\n\
         RCPT TO:<{me}@www.a.org>\r\nMAIL FROM:<c@d.test>\r\nQUIT\r\n"
    );
    let out = replies(&f, body.as_bytes());
    assert_eq!(
        out[2..],
        [
            "554 5.5.1 Error: no valid recipients",
            "503 5.5.1 Error: DATA after BDAT",
            "503 5.5.1 Error: RCPT after BDAT",
            "503 5.5.1 Error: nested MAIL command",
            "221 2.0.0 Bye",
        ]
    );
    assert_eq!(incoming(&f), 0);
}

#[test]
fn rset_between_chunks_drops_the_message() {
    let me = me();
    let f = fixture("bdat-rset", &[]);
    let body = format!("{}BDAT 3\r\nabcRSET\r\nBDAT 3 LAST\r\nxyzQUIT\r\n", tx(&me));
    let out = replies(&f, body.as_bytes());
    assert_eq!(
        out[2..],
        [
            "250 2.0.0 Ok: 3 bytes",
            "250 2.0.0 Ok",
            "503 5.5.1 Error: need RCPT command",
            "221 2.0.0 Bye",
        ]
    );
    assert_eq!(incoming(&f), 0);
}

#[test]
fn malformed_bdat_ends_the_session() {
    let f = fixture("bdat-syntax", &[]);
    for bad in [
        "BDAT",
        "BDAT x",
        "BDAT 5 FIRST",
        "BDAT -1",
        "BDAT 1 LAST more",
    ] {
        let out = replies(&f, format!("{bad}\r\nQUIT\r\n").as_bytes());
        assert_eq!(out, ["521 5.5.4 Syntax: BDAT count [LAST]"], "{bad}");
    }
}

#[test]
fn chunks_over_the_size_limit_are_read_and_refused() {
    let me = me();
    let f = fixture("bdat-size", &[("message_size_limit", "20")]);
    // The first chunk fits, the second would not: refused before it is stored, read,
    // and later chunks are discarded; the transaction ends at LAST.
    let body = format!(
        "{}BDAT 10\r\n0123456789BDAT 11\r\n0123456789XBDAT 2 LAST\r\nabNOOP\r\nQUIT\r\n",
        tx(&me)
    );
    let out = replies(&f, body.as_bytes());
    assert_eq!(
        out[2..],
        [
            "250 2.0.0 Ok: 10 bytes",
            "552 5.3.4 Chunk exceeds message size limit",
            "551 5.0.0 Discarded 2 bytes after earlier error",
            "250 2.0.0 Ok",
            "221 2.0.0 Bye",
        ]
    );
    // Within the chunk count but over the limit once bare LFs count as CR LF.
    let body = format!("{}BDAT 20 LAST\r\n{}QUIT\r\n", tx(&me), "a\n".repeat(10));
    let out = replies(&f, body.as_bytes());
    assert_eq!(
        out[2..],
        ["552 5.3.4 Error: message file too big", "221 2.0.0 Bye"]
    );
    assert_eq!(incoming(&f), 0);
}

#[test]
fn bare_lf_in_a_chunk_is_refused_with_reject() {
    let me = me();
    let f = fixture(
        "bdat-barelf",
        &[
            ("smtpd_forbid_bare_newline", "reject"),
            ("smtpd_forbid_bare_newline_exclusions", ""),
        ],
    );
    let body = format!("{}BDAT 4\r\nab\ncBDAT 3 LAST\r\nd\r\nQUIT\r\n", tx(&me));
    let out = replies(&f, body.as_bytes());
    assert_eq!(
        out[2..],
        [
            "550 5.5.2 www.a.org Error: bare <LF> received",
            "551 5.0.0 Discarded 3 bytes after earlier error",
            "221 2.0.0 Bye",
        ]
    );
    assert_eq!(incoming(&f), 0);
}

#[test]
fn lost_connection_or_timeout_mid_chunk_queues_nothing() {
    let me = me();
    let f = fixture("bdat-lost", &[]);
    let body = format!("{}BDAT 100 LAST\r\nonly part", tx(&me));
    let out = replies(&f, body.as_bytes());
    assert_eq!(out.len(), 2, "{out:?}");
    let mut input = b"EHLO h\r\n".to_vec();
    input.extend_from_slice(body.as_bytes());
    let out = talk_bytes(&f, "127.0.0.1", &input, true);
    assert_eq!(
        out.last().unwrap(),
        "421 4.4.2 www.a.org Error: timeout exceeded"
    );
    assert_eq!(incoming(&f), 0);
}

#[test]
fn the_message_gets_received_and_content_filter_as_with_data() {
    let me = me();
    let f = fixture(
        "bdat-filter",
        &[("content_filter", "smtp:[127.0.0.1]:10025")],
    );
    let body = format!("{}BDAT 14 LAST\r\nSubject: f\r\n\r\n", tx(&me));
    let out = replies(&f, body.as_bytes());
    let id = out[2]
        .strip_prefix("250 2.0.0 Ok: 14 bytes queued as ")
        .expect(&out[2]);
    assert_eq!(f.rx.try_recv(), Ok(Wake::New(id.to_string())));
    let mut qf = QueueFile::open(&f.ctx.queue.path(QueueName::Incoming, id)).unwrap();
    assert_eq!(
        qf.envelope.attr(crate::queue::FILTER_ATTR),
        Some("smtp:[127.0.0.1]:10025")
    );
    assert_eq!(qf.envelope.attr("protocol_name"), Some("ESMTP"));
    let content = String::from_utf8(qf.content().unwrap()).unwrap();
    assert!(
        content.starts_with(&format!(
            "Received: from h (localhost [127.0.0.1])\n\tby www.a.org (Postfix) with ESMTP id {id}\n\tfor <{me}@www.a.org>; "
        )),
        "{content}"
    );
}
