//! Improper pipelining: detection before the greeting, before EHLO, after HELO and after a
//! command that ends a group; the sticky reject_unauth_pipelining; and
//! smtpd_forbid_unauth_pipelining's 554 and disconnect.

use super::*;

const SYNC: &str = "554 5.5.0 Error: SMTP protocol synchronization";
const CLIENT_503: &str = "503 5.5.0 <localhost[127.0.0.1]>: Client host rejected: Improper use of SMTP command pipelining";

fn restricted(tag: &str, forbid: &str) -> Fixture {
    fixture(
        tag,
        &[
            ("smtpd_client_restrictions", "reject_unauth_pipelining"),
            ("smtpd_data_restrictions", "reject_unauth_pipelining"),
            ("smtpd_forbid_unauth_pipelining", forbid),
        ],
    )
}

#[test]
fn early_talker_is_refused_at_rcpt_by_the_sticky_flag() {
    let me = me();
    let f = restricted("pipe-early", "no");
    // Everything arrives before the greeting; EHLO does not wash it clean.
    let out = talk(
        &f,
        &format!("EHLO h\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<{me}@www.a.org>\r\nQUIT\r\n"),
    );
    assert_eq!(out[0], "220 www.a.org ESMTP Postfix");
    assert_eq!(
        after_ehlo(&out)[..],
        ["250 2.1.0 Ok", CLIENT_503, "221 2.0.0 Bye"]
    );
}

#[test]
fn forbid_disconnects_an_early_talker_without_a_greeting() {
    let f = restricted("pipe-forbid", "yes");
    assert_eq!(talk(&f, "EHLO h\r\nQUIT\r\n"), [SYNC]);
}

#[test]
fn helo_client_and_commands_after_a_group_end() {
    let me = me();
    let rcpt = format!("RCPT TO:<{me}@www.a.org>\r\n");
    // After HELO nothing may be pipelined: with forbid = no, refused at RCPT.
    let f = restricted("pipe-helo", "no");
    let helo = format!("HELO h\r\nMAIL FROM:<a@b.test>\r\n{rcpt}QUIT\r\n");
    assert_eq!(trickle(&f, &helo)[3], "250 2.1.5 Ok");
    let piped = format!("MAIL FROM:<a@b.test>\r\n{rcpt}");
    let out = chunks(&f, vec!["HELO h\r\n", &piped, "QUIT\r\n"]);
    assert_eq!(out[2..], ["250 2.1.0 Ok", CLIENT_503, "221 2.0.0 Bye"]);
    // With forbid = yes the session ends at the offending command.
    let f = restricted("pipe-helo-forbid", "yes");
    let out = chunks(&f, vec!["HELO h\r\n", &piped, "QUIT\r\n"]);
    assert_eq!(out[1..], ["250 www.a.org", SYNC]);
    let out = chunks(&f, vec!["EHLO h\r\nNOOP\r\n"]);
    assert_eq!(out[1..], [SYNC], "nothing may follow EHLO before its reply");
}

#[test]
fn ehlo_client_may_pipeline_up_to_data() {
    let me = me();
    let f = restricted("pipe-ehlo", "yes");
    let group = format!("MAIL FROM:<a@b.test>\r\nRCPT TO:<{me}@www.a.org>\r\nDATA\r\n");
    let out = chunks(
        &f,
        vec!["EHLO h\r\n", &group, "Subject: x\r\n\r\n.\r\n", "QUIT\r\n"],
    );
    assert_eq!(
        after_ehlo(&out)[..3],
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>"
        ]
    );
    assert!(
        after_ehlo(&out)[3].starts_with("250 2.0.0 Ok: queued as "),
        "{out:?}"
    );
    // The message sent with DATA, before 354: refused by the data restrictions.
    let f = restricted("pipe-data", "no");
    let early = format!("{group}Subject: x\r\n\r\n.\r\n");
    let out = chunks(&f, vec!["EHLO h\r\n", &early]);
    assert_eq!(after_ehlo(&out)[..2], ["250 2.1.0 Ok", "250 2.1.5 Ok"]);
    assert_eq!(
        after_ehlo(&out)[2],
        "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"
    );
}

#[test]
fn stand_alone_sessions_are_exempt() {
    let mut f = restricted("pipe-bs", "yes");
    f.ctx.stand_alone = true;
    let out = talk(&f, "HELO h\r\nNOOP\r\nQUIT\r\n");
    assert_eq!(out[1..], ["250 www.a.org", "250 2.0.0 Ok", "221 2.0.0 Bye"]);
}
