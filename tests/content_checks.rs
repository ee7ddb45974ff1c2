//! header_checks, mime_header_checks, nested_header_checks and body_checks through a
//! running instance: each action's SMTP reply, log line, and effect on the queue or the
//! delivered mbox; MIME structure (a text/plain part, an attached message/rfc822, part
//! headers); bad MIME input (unterminated boundaries, too deep nesting, a huge header, also in a body part);
//! table errors; mail submitted with sendmail (pickup) bounced when rejected.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Instance, queued_id, wait_for};

const HEADER_CHECKS: &str = "\
/^Subject: reject default/ REJECT
/^Subject: reject text/ REJECT 5.7.0 no thanks
/^Subject: reject later/ REJECT 4.7.1 try later
/^Subject: warn me/ WARN looked at
/^Subject: discard me/ DISCARD gone
/^Subject: hold me/ HOLD for review
/^Subject: redirect me/ REDIRECT USER@www.a.org
/^Subject: edit me/ REPLACE Subject: edited
/^X-Drop-Me:/ IGNORE
/^X-Tag-Me:/ PREPEND X-Tagged: yes
/^X-Copy-Me:/ BCC USER@www.a.org
/^Content-Type: application\\/x-evil/ REJECT evil attachment
/^Subject: inner bad/ REJECT nested header seen
";

const BODY_CHECKS: &str = "\
/^buy pills now$/ REJECT 5.7.1 spam body
/^secret line$/ REPLACE [redacted]
";

fn instance(extra: &[(&str, &str)]) -> Instance {
    let inst = Instance::new(extra);
    let user = inst.user.clone();
    std::fs::write(
        inst.etc.join("header_checks"),
        HEADER_CHECKS.replace("USER", &user),
    )
    .unwrap();
    std::fs::write(inst.etc.join("body_checks"), BODY_CHECKS).unwrap();
    inst.set(
        "header_checks",
        &format!("regexp:{}/header_checks", inst.etc.display()),
    );
    inst.set(
        "body_checks",
        &format!("regexp:{}/body_checks", inst.etc.display()),
    );
    inst.newaliases();
    inst.start();
    inst
}

/// Send `message` (headers and body) to `rcpt`; the reply to the final dot.
fn send(inst: &Instance, rcpt: &str, message: &str) -> String {
    let mut c = inst.connect();
    c.reply();
    assert!(c.cmd("ehlo localhost").starts_with("250"));
    assert_eq!(c.cmd("mail from:<s@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("rcpt to:<{}>", rcpt)), "250 2.1.5 Ok");
    let r = c.data(message);
    c.cmd("quit");
    r
}

fn delivered(inst: &Instance, id: &str) -> bool {
    wait_for(20, || inst.log().contains(&format!("{}: removed", id)))
}

/// The maillog line containing `needle`, which must come from cleanup.
fn cleanup_line(inst: &Instance, needle: &str) -> String {
    let log = inst.log();
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {:?} in\n{}", needle, log));
    assert!(line.contains("postfix/cleanup["), "{}", line);
    line.to_string()
}

#[test]
fn reject_replies_and_log_lines() {
    let inst = instance(&[]);
    let me = inst.local_address();
    let r = send(&inst, &me, "Subject: reject default\n\nbody\n");
    assert_eq!(r, "550 5.7.1 message content rejected");
    let line = cleanup_line(&inst, "reject: header Subject: reject default");
    assert!(
        line.ends_with(&format!(
            ": reject: header Subject: reject default from localhost[127.0.0.1]; from=<s@remote.test> to=<{}> proto=ESMTP helo=<localhost>: 5.7.1 message content rejected",
            me
        )),
        "{}",
        line
    );
    let r = send(&inst, &me, "Subject: reject text\n\nbody\n");
    assert_eq!(r, "550 5.7.0 no thanks");
    let r = send(&inst, &me, "Subject: reject later\n\nbody\n");
    assert_eq!(r, "451 4.7.1 try later");
    // body_checks on the text/plain part of a multipart message.
    let msg = "Subject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\nContent-Type: text/plain\n\nhello\nbuy pills now\n--zz--\n";
    assert_eq!(send(&inst, &me, msg), "550 5.7.1 spam body");
    cleanup_line(
        &inst,
        "reject: body buy pills now from localhost[127.0.0.1]; from=<s@remote.test>",
    );
    // mime_header_checks (= $header_checks) sees a part's Content-Type.
    let msg = "Subject: parts\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: application/x-evil; name=a.exe\n\nAAAA\n--zz--\n";
    assert_eq!(send(&inst, &me, msg), "550 5.7.1 evil attachment");
    // nested_header_checks (= $header_checks) sees an attached message's headers.
    let msg = "Subject: fwd\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: message/rfc822\n\nSubject: inner bad\n\ninner\n--zz--\n";
    assert_eq!(send(&inst, &me, msg), "550 5.7.1 nested header seen");
    // Nothing was queued for any of these.
    assert!(inst.queue_files("incoming").is_empty());
    assert!(inst.queue_files("active").is_empty());
}

#[test]
fn warn_discard_hold_redirect_bcc_and_edits() {
    let inst = instance(&[]);
    let me = inst.local_address();
    let user = inst.user.clone();

    let r = send(&inst, &me, "Subject: warn me\n\nwarned body\n");
    let id = queued_id(&r);
    assert!(delivered(&inst, &id), "{}", inst.log());
    cleanup_line(
        &inst,
        &format!(
            "{}: warning: header Subject: warn me from localhost[127.0.0.1]; from=<s@remote.test> to=<{}> proto=ESMTP helo=<localhost>: looked at",
            id, me
        ),
    );

    // DISCARD: accepted, logged, never delivered.
    let r = send(&inst, &me, "Subject: discard me\n\nx\n");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{}", r);
    let id = queued_id(&r);
    cleanup_line(
        &inst,
        &format!("{}: discard: header Subject: discard me from localhost", id),
    );
    assert!(!inst.mbox(&user).contains("Subject: discard me"));

    // HOLD: in hold/, shown by mailq with "!".
    let r = send(&inst, &me, "Subject: hold me\n\nx\n");
    let held = queued_id(&r);
    cleanup_line(
        &inst,
        &format!("{}: hold: header Subject: hold me from localhost", held),
    );
    assert!(inst.queue_files("hold").contains(&held));
    let q = inst.run("postqueue", &["-p"]);
    let listing = String::from_utf8_lossy(&q.stdout).into_owned();
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&format!("{}!", held))),
        "{}",
        listing
    );
    // Released, it is delivered like any other message.
    let h = inst.run("postsuper", &["-H", &held]);
    assert!(h.status.success());
    assert!(delivered(&inst, &held), "{}", inst.log());
    assert!(inst.mbox(&user).contains("Subject: hold me"));

    // REDIRECT: mail for fwd@ (a remote forward) reaches the user instead.
    let r = send(
        &inst,
        "fwd@www.a.org",
        "Subject: redirect me\n\nredirected body\n",
    );
    let id = queued_id(&r);
    assert!(delivered(&inst, &id), "{}", inst.log());
    cleanup_line(
        &inst,
        &format!(
            "{}: redirect: header Subject: redirect me from localhost[127.0.0.1]; from=<s@remote.test> to=<fwd@www.a.org> proto=ESMTP helo=<localhost>: {}",
            id, me
        ),
    );
    assert!(inst.mbox(&user).contains("redirected body"));

    // PREPEND, REPLACE, IGNORE (headers) and REPLACE (body) in the delivered copy; BCC adds
    // the user as a recipient of mail for someone else.
    let msg = "Subject: edit me\nX-Drop-Me: 1\n\tcontinued\nX-Tag-Me: 1\nX-Copy-Me: 1\n\nkeep\nsecret line\nend\n";
    let r = send(&inst, "fwd@www.a.org", msg);
    let id = queued_id(&r);
    assert!(
        wait_for(20, || inst.log().contains(&format!("{}: to=<{}>", id, me))),
        "{}",
        inst.log()
    );
    let mbox = inst.mbox(&user);
    assert!(
        mbox.contains("Subject: edited\nX-Tagged: yes\nX-Tag-Me: 1\nX-Copy-Me: 1\n"),
        "{}",
        mbox
    );
    assert!(mbox.contains("\n\nkeep\n[redacted]\nend\n"), "{}", mbox);
    assert!(!mbox.contains("X-Drop-Me"));
    cleanup_line(
        &inst,
        &format!("{}: replace: header Subject: edit me from localhost", id),
    );
    cleanup_line(&inst, &format!("{}: prepend: header X-Tag-Me: 1 from", id));
    cleanup_line(
        &inst,
        &format!("{}: bcc: header X-Copy-Me: 1 from localhost", id),
    );
    cleanup_line(&inst, &format!("{}: replace: body secret line from", id));
}

#[test]
fn bad_mime_input_loses_nothing() {
    let inst = instance(&[("mime_nesting_limit", "3"), ("header_size_limit", "2000")]);
    let me = inst.local_address();
    let user = inst.user.clone();

    // An unterminated multipart is delivered as it came.
    let msg = "Subject: open\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nno end boundary\n";
    let id = queued_id(&send(&inst, &me, msg));
    assert!(delivered(&inst, &id), "{}", inst.log());
    assert!(
        inst.mbox(&user)
            .contains("\n--b\nContent-Type: text/plain\n\nno end boundary\n")
    );

    // A huge header is cut to header_size_limit and the message delivered.
    let msg = format!(
        "Subject: huge\nX-Huge: {}\n\nafter huge\n",
        "h".repeat(5000)
    );
    let id = queued_id(&send(&inst, &me, &msg));
    assert!(delivered(&inst, &id), "{}", inst.log());
    let mbox = inst.mbox(&user);
    assert!(mbox.contains("after huge"));
    assert!(!mbox.contains(&"h".repeat(2000)));

    // So is a huge header of a body part (and of an attached message).
    let msg = format!(
        "Subject: huge part\nContent-Type: multipart/mixed; boundary=pp\n\n--pp\nX-Part: {}\n\tp-cont\nContent-Type: text/plain\n\nafter part\n--pp\nContent-Type: message/rfc822\n\nX-Inner: {}\nSubject: inner\n\ninner body\n--pp--\n",
        "p".repeat(5000),
        "i".repeat(5000)
    );
    let id = queued_id(&send(&inst, &me, &msg));
    assert!(delivered(&inst, &id), "{}", inst.log());
    let mbox = inst.mbox(&user);
    let cut = format!(
        "\nX-Part: {}\nContent-Type: text/plain\n\nafter part\n",
        "p".repeat(2000 - 9)
    );
    assert!(mbox.contains(&cut), "{}", mbox);
    assert!(!mbox.contains("p-cont"));
    let cut = format!("\nX-Inner: {}\nSubject: inner\n", "i".repeat(2000 - 10));
    assert!(mbox.contains(&cut), "{}", mbox);

    // Nesting beyond mime_nesting_limit is rejected (header checks are configured).
    let mut msg = String::from("Subject: deep\n");
    for i in 0..6 {
        msg.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=n{}\n\n--n{}\n",
            i, i
        ));
    }
    msg.push_str("\ndeep body\n");
    assert_eq!(
        send(&inst, &me, &msg),
        "550 5.6.0 MIME nesting exceeds safety limit"
    );
    let line = cleanup_line(
        &inst,
        "reject: mime-error MIME nesting exceeds safety limit: Content-Type: multipart/mixed; boundary=n",
    );
    assert!(
        line.ends_with(&format!(
            " from localhost[127.0.0.1]; from=<s@remote.test> to=<{}>",
            me
        )),
        "{}",
        line
    );
}

#[test]
fn table_error_defers() {
    let inst = Instance::new(&[]);
    std::fs::write(inst.etc.join("broken"), "/(unclosed/ REJECT\n").unwrap();
    inst.set(
        "header_checks",
        &format!("regexp:{}/broken", inst.etc.display()),
    );
    inst.newaliases();
    inst.start();
    let me = inst.local_address();
    let r = send(&inst, &me, "Subject: x\n\nbody\n");
    assert_eq!(r, "451 4.3.0 Error: queue file write error");
    cleanup_line(
        &inst,
        "header_checks map lookup problem -- message not accepted, try again later",
    );
    // Submitted with sendmail: pickup leaves it in maildrop/ for a later try.
    let mut child = Command::new(common::bin("sendmail"))
        .args(["-C", inst.etc.to_str().unwrap(), "-i"])
        .arg(&me)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: local\n\nbody\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        wait_for(20, || inst
            .log()
            .lines()
            .any(|l| l.contains("postfix/pickup[") && l.contains("uid="))),
        "{}",
        inst.log()
    );
    assert!(
        wait_for(20, || inst
            .log()
            .matches("map lookup problem -- message not accepted")
            .count()
            >= 2),
        "{}",
        inst.log()
    );
    assert_eq!(inst.queue_files("maildrop").len(), 1, "{}", inst.log());
    assert!(inst.queue_files("incoming").is_empty());
}

#[test]
fn sendmail_submission_rejected_by_checks_bounces() {
    let inst = instance(&[]);
    let user = inst.user.clone();
    let mut child = Command::new(common::bin("sendmail"))
        .args([
            "-C",
            inst.etc.to_str().unwrap(),
            "-f",
            &inst.local_address(),
            "-i",
        ])
        .arg(inst.local_address())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: reject default\n\nlocal body\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        wait_for(30, || inst
            .mbox(&user)
            .contains("Undelivered Mail Returned to Sender")),
        "{}",
        inst.log()
    );
    let line = cleanup_line(&inst, "reject: header Subject: reject default from local;");
    assert!(
        line.contains(&format!("from=<{}>", inst.local_address())),
        "{}",
        line
    );
    cleanup_line(
        &inst,
        "dsn=5.7.1, status=bounced (message content rejected)",
    );
    assert!(!inst.mbox(&user).contains("\n\nlocal body\n\nFrom "));
}
