//! smtpd_forbid_bare_newline: `reject` refuses a bare LF in a command (then hangs up) or in
//! a message (the session goes on); $mynetworks is excluded by default; `normalize` accepts.

use super::*;

const REFUSED: &str = "550 5.5.2 www.a.org Error: bare <LF> received";

fn rejecting(tag: &str, exclusions: &str) -> Fixture {
    fixture(
        tag,
        &[
            ("smtpd_forbid_bare_newline", "reject"),
            ("smtpd_forbid_bare_newline_exclusions", exclusions),
        ],
    )
}

#[test]
fn bare_lf_command_is_refused_and_the_client_dropped() {
    let f = rejecting("blf-cmd", "");
    let out = talk(&f, "HELO h\r\nNOOP\nNOOP\r\nQUIT\r\n");
    assert_eq!(out[1..], ["250 www.a.org", REFUSED]);
}

#[test]
fn bare_lf_message_is_refused_and_the_session_goes_on() {
    let me = me();
    let f = rejecting("blf-data", "10.0.0.0/8");
    let msg = format!(
        "EHLO h\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<{me}@www.a.org>\r\nDATA\r\nSubject: x\r\n\r\nline\nmore\r\n.\r\nQUIT\r\n"
    );
    let out = talk(&f, &msg);
    assert_eq!(
        after_ehlo(&out)[2..],
        [
            "354 End data with <CR><LF>.<CR><LF>",
            REFUSED,
            "221 2.0.0 Bye"
        ]
    );
    let queued = std::fs::read_dir(f.ctx.queue.dir(QueueName::Incoming)).unwrap();
    assert_eq!(queued.count(), 0, "nothing queued");
}

#[test]
fn mynetworks_and_normalize_accept_bare_lf() {
    let f = fixture("blf-mynet", &[("smtpd_forbid_bare_newline", "reject")]);
    let out = talk(&f, "HELO h\nNOOP\r\nQUIT\r\n");
    assert_eq!(out[1..], ["250 www.a.org", "250 2.0.0 Ok", "221 2.0.0 Bye"]);
    let f = fixture("blf-norm", &[("smtpd_forbid_bare_newline_exclusions", "")]);
    let out = talk(&f, "HELO h\nNOOP\r\nQUIT\r\n");
    assert_eq!(out[1..], ["250 www.a.org", "250 2.0.0 Ok", "221 2.0.0 Bye"]);
}
