//! `sendmail -bs`: an SMTP session on standard input/output with smtpd's replies, the
//! message handed to maildrop/ (delivered once the instance runs, with two Received:
//! headers, pickup's and smtpd's), an unknown local user refused with 550, and an ordinary user's session through
//! the set-gid postdrop (as root only).

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::{Instance, wait_for};

/// Run `sendmail -bs` with `input` (CR LF added) and return standard output's lines.
fn bs(inst: &Instance, input: &str, ids: Option<(u32, u32)>) -> Vec<String> {
    let mut cmd = Command::new(common::bin("sendmail"));
    cmd.arg("-C").arg(&inst.etc).arg("-bs");
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(input.replace('\n', "\r\n").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn session_queues_into_maildrop_and_delivers_after_start() {
    let inst = Instance::new(&[]);
    inst.newaliases();
    assert!(inst.postfix(&["check"]).status.success());
    let input = format!(
        "EHLO me.test\nMAIL FROM:<sender@www.a.org>\nRCPT TO:<{}>\nRCPT TO:<someone@remote.test>\nDATA\nSubject: via -bs\n\nhello from -bs\n.\nQUIT\n",
        inst.user
    );
    let out = bs(&inst, &input, None);
    assert_eq!(out[0], "220 www.a.org ESMTP Postfix", "{:?}", out);
    assert_eq!(out[1], "250-www.a.org");
    assert!(out.contains(&"250-PIPELINING".to_string()), "{:?}", out);
    assert!(out.contains(&"250-DSN".to_string()), "{:?}", out);
    let after = out.iter().position(|l| l == "250 CHUNKING").unwrap();
    assert_eq!(out[after + 1], "250 2.1.0 Ok");
    assert_eq!(out[after + 2], "250 2.1.5 Ok");
    // Relay restrictions do not apply to a local user.
    assert_eq!(out[after + 3], "250 2.1.5 Ok");
    assert_eq!(out[after + 4], "354 End data with <CR><LF>.<CR><LF>");
    let queued = &out[after + 5];
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{:?}", out);
    let id = common::queued_id(queued);
    assert_eq!(out[after + 6], "221 2.0.0 Bye");
    assert_eq!(inst.queue_files("maildrop"), vec![id.clone()]);
    let log = inst.log();
    assert!(log.contains("connect from localhost[127.0.0.1]"), "{}", log);
    assert!(
        log.contains(&format!("{}: client=localhost[127.0.0.1]", id)),
        "{}",
        log
    );

    inst.start();
    assert!(
        wait_for(20, || inst.mbox(&inst.user).contains("hello from -bs")),
        "log:\n{}",
        inst.log()
    );
    let mbox = inst.mbox(&inst.user);
    // Two Received: headers, as Postfix writes them: pickup's on top (pickup.c, with the
    // queue ID the message got from cleanup), then the stand-alone smtpd's (maildrop ID).
    let received: Vec<&str> = mbox
        .split("\nReceived: ")
        .skip(1)
        .map(|h| h.split(';').next().unwrap())
        .collect();
    let pickup_id = inst
        .log()
        .lines()
        .find(|l| l.contains("postfix/pickup[") && l.contains(": uid="))
        .and_then(|l| l.split("]: ").nth(1))
        .and_then(|l| l.split(':').next())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        received,
        [
            format!(
                "by www.a.org (Postfix, from userid {})\n\tid {}",
                postern::sys::uid(),
                pickup_id
            ),
            format!(
                "from me.test (localhost [127.0.0.1])\n\tby www.a.org (Postfix, from userid {}) with ESMTP id {}",
                postern::sys::uid(),
                id
            ),
        ],
        "{}",
        mbox
    );
    assert!(mbox.contains("Message-Id: <"), "missing headers added");
    assert!(inst.log().contains(": uid="), "pickup logs uid=");
    assert!(inst.queue_files("maildrop").is_empty());
    inst.stop();
}

/// BDAT works in a `sendmail -bs` session as in smtpd (the `bs` helper turns each LF into
/// CR LF, so the chunk below is 25 bytes on the wire).
#[test]
fn bdat_in_a_session_queues_into_maildrop() {
    let inst = Instance::new(&[]);
    inst.newaliases();
    assert!(inst.postfix(&["check"]).status.success());
    let input = format!(
        "EHLO me.test\nMAIL FROM:<sender@www.a.org>\nRCPT TO:<{}>\nBDAT 25 LAST\nSubject: bdat\n\nhi -bs\nQUIT\n",
        inst.user
    );
    let out = bs(&inst, &input, None);
    let queued = out
        .iter()
        .find(|l| l.starts_with("250 2.0.0 Ok: 25 bytes queued as "))
        .unwrap_or_else(|| panic!("{:?}\n{}", out, inst.log()));
    let id = queued.rsplit(' ').next().unwrap().to_string();
    assert_eq!(inst.queue_files("maildrop"), vec![id]);
    assert_eq!(out.last().map(String::as_str), Some("221 2.0.0 Bye"));
}

#[test]
fn unknown_local_user_is_refused() {
    let inst = Instance::new(&[]);
    inst.newaliases();
    assert!(inst.postfix(&["check"]).status.success());
    let out = bs(
        &inst,
        "HELO me\nMAIL FROM:<a@www.a.org>\nRCPT TO:<no-such-user-xyz@www.a.org>\nDATA\nQUIT\n",
        None,
    );
    assert_eq!(
        out[3],
        "550 5.1.1 <no-such-user-xyz@www.a.org>: Recipient address rejected: User unknown in local recipient table"
    );
    assert_eq!(out[4], "554 5.5.1 Error: no valid recipients");
    assert_eq!(out[5], "221 2.0.0 Bye");
    assert!(inst.queue_files("maildrop").is_empty());
    assert!(
        inst.log()
            .contains("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1"),
        "{}",
        inst.log()
    );
}

/// As root: an ordinary user cannot write maildrop/ and goes through a set-gid postdrop.
#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn ordinary_user_goes_through_setgid_postdrop() {
    if !common::require_root() {
        return;
    }
    let inst = Instance::new(&[]);
    let (_, group) = common::mail_accounts();
    inst.newaliases();
    assert!(inst.postfix(&["check"]).status.success());
    // A private command directory with a set-gid postdrop, as make install makes it. The
    // set-gid postdrop takes the instance's directory (sendmail -C) only when the default
    // main.cf lists it.
    let sbin = inst.dir.join("sbin");
    common::setgid::setgid_copy("postdrop", &sbin, &group);
    let _default = common::setgid::DefaultMainCf::with(&format!(
        "alternate_config_directories = {}\n",
        inst.etc.display()
    ));
    inst.set("command_directory", sbin.to_str().unwrap());
    let user = postern::sys::user_by_name(&inst.user).unwrap().unwrap();
    let out = bs(
        &inst,
        &format!(
            "HELO me\nMAIL FROM:<{u}@www.a.org>\nRCPT TO:<{u}>\nDATA\nSubject: setgid\n\nvia postdrop\n.\nQUIT\n",
            u = inst.user
        ),
        Some((user.uid, user.gid)),
    );
    let queued = out
        .iter()
        .find(|l| l.starts_with("250 2.0.0 Ok: queued as "))
        .unwrap_or_else(|| panic!("{:?}\n{}", out, inst.log()));
    let id = common::queued_id(queued);
    let meta = std::fs::metadata(inst.spool.join("maildrop").join(&id)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.uid(), user.uid, "the maildrop file is the user's");
    inst.start();
    assert!(
        wait_for(20, || inst.mbox(&inst.user).contains("via postdrop")),
        "log:\n{}",
        inst.log()
    );
    assert!(
        inst.log().contains(&format!("uid={} from=<", user.uid)),
        "{}",
        inst.log()
    );
    inst.stop();
}

/// `sendmail -bv`: nothing is delivered to the addresses; the sender gets one report with
/// an Action line per recipient, and the log says deliverable / undeliverable.
#[test]
fn verify_reports_to_the_sender_and_delivers_nothing() {
    let inst = Instance::new(&[]);
    inst.newaliases();
    assert!(inst.postfix(&["check"]).status.success());
    let out = Command::new(common::bin("sendmail"))
        .arg("-C")
        .arg(&inst.etc)
        .args(["-bv", "-f", &inst.user, "alias-user", "no-such-user-xyz"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    inst.start();
    assert!(
        wait_for(20, || inst
            .mbox(&inst.user)
            .contains("Mail Delivery Status Report")),
        "log:\n{}",
        inst.log()
    );
    let mbox = inst.mbox(&inst.user);
    assert_eq!(
        mbox.matches("\nFrom ").count() + usize::from(mbox.starts_with("From ")),
        1,
        "only the report arrives: {}",
        mbox
    );
    assert!(mbox.contains("report-type=delivery-status"), "{}", mbox);
    assert!(
        mbox.contains(&format!(
            "Final-Recipient: rfc822; {}@www.a.org\nOriginal-Recipient: rfc822;alias-user\nAction: deliverable\nStatus: 2.0.0\n",
            inst.user
        )),
        "{}",
        mbox
    );
    assert!(
        mbox.contains("Final-Recipient: rfc822; no-such-user-xyz@www.a.org\nOriginal-Recipient: rfc822;no-such-user-xyz\nAction: undeliverable\nStatus: 5.1.1\n"),
        "{}",
        mbox
    );
    // The mailbox is written before the delivery is logged: wait for the log line.
    assert!(
        wait_for(20, || inst
            .log()
            .contains("status=sent (delivered to mailbox)")),
        "{}",
        inst.log()
    );
    let log = inst.log();
    assert!(
        log.contains("status=deliverable (delivers to mailbox)"),
        "{}",
        log
    );
    assert!(
        log.contains("status=undeliverable (unknown user: \"no-such-user-xyz\")"),
        "{}",
        log
    );
    assert!(
        log.contains("sender delivery status notification: "),
        "{}",
        log
    );
    // Only the report itself was delivered.
    assert_eq!(
        log.matches("status=sent (delivered to mailbox)").count(),
        1,
        "{}",
        log
    );
    assert!(!log.contains("non-delivery notification"), "{}", log);
    inst.stop();
}
