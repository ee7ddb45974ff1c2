//! End to end: the seed's telnet session against the real `postfix` binary, delivery to a
//! local mbox, the maillog lines, crash recovery, reload, stop, and local submission.

mod common;

use common::{Instance, queued_id, wait_for};

#[test]
fn seed_session_replies_mailbox_and_log() {
    let inst = Instance::new(&[]);
    inst.start();
    let user = inst.user.clone();

    // Part 5 of the seed: HELO without a name, EHLO, nested MAIL, then the missing aliases.db.
    let mut c = inst.connect();
    assert_eq!(c.reply(), "220 www.a.org ESMTP Postfix");
    assert_eq!(c.cmd("helo"), "501 Syntax: HELO hostname");
    assert_eq!(c.cmd("helo localhost"), "250 www.a.org");
    // The seed's (Postfix 2.10) keywords, then CHUNKING as Postfix 3.4+ offers it (README,
    // "CHUNKING (BDAT)"; `smtpd_discard_ehlo_keywords = chunking` gives the 2.10 list).
    assert_eq!(
        c.cmd("ehlo localhost"),
        "250-www.a.org\n250-PIPELINING\n250-SIZE 10240000\n250-VRFY\n250-ETRN\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 CHUNKING"
    );
    assert_eq!(c.cmd("mail from: root"), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd("mail from: obama@whitehouse.com"),
        "503 5.5.1 Error: nested MAIL command"
    );
    assert_eq!(
        c.cmd(&format!("rcpt to:{}", user)),
        format!("451 4.3.0 <{}>: Temporary lookup failure", user)
    );
    assert_eq!(c.cmd("data"), "554 5.5.1 Error: no valid recipients");
    assert_eq!(c.cmd("quit"), "221 2.0.0 Bye");
    let log = inst.log();
    let aliases = inst.etc.join("aliases");
    assert!(
        log.contains(&format!(
            "warning: hash:{} is unavailable. open database {}.db: No such file or directory",
            aliases.display(),
            aliases.display()
        )),
        "{}",
        log
    );
    assert!(log.contains(&format!(
        "warning: hash:{} lookup error for \"{}@www.a.org\"",
        aliases.display(),
        user
    )));
    assert!(log.contains(&format!(
        ": 451 4.3.0 <{u}>: Temporary lookup failure; from=<root> to=<{u}> proto=ESMTP helo=<localhost>",
        u = user
    )));

    // newaliases, then the message goes through.
    inst.newaliases();
    let mut c = inst.connect();
    c.reply();
    assert_eq!(c.cmd("helo localhost"), "250 www.a.org");
    assert_eq!(c.cmd("mail from:obama@w.com"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("rcpt to:{}", user)), "250 2.1.5 Ok");
    let r = c.data("Subject:How are you these days?\n\nAre you gua lema?\n");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{}", r);
    let id = queued_id(&r);
    assert_eq!(c.cmd("quit"), "221 2.0.0 Bye");

    assert!(
        wait_for(20, || inst.log().contains(&format!("{}: removed", id))),
        "not delivered:\n{}",
        inst.log()
    );
    let mbox = inst.mbox(&user);
    assert!(mbox.starts_with("From obama@w.com  "), "{}", mbox);
    for needle in [
        "Return-Path: <obama@w.com>\n",
        &format!("X-Original-To: {}\n", user),
        &format!("Delivered-To: {}@www.a.org\n", user),
        "Subject:How are you these days?\n",
        "From: obama@w.com\n",
        "\nAre you gua lema?\n\n",
    ] {
        assert!(mbox.contains(needle), "mbox lacks {:?}:\n{}", needle, mbox);
    }
    assert!(
        mbox.contains("\nDate: ") && mbox.contains("\nMessage-Id: <"),
        "{}",
        mbox
    );
    assert!(
        mbox.contains(&format!("\tby www.a.org (Postfix) with SMTP id {}", id)),
        "{}",
        mbox
    );
    if postern::sys::is_root() {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(inst.mail.join(&user)).unwrap();
        let u = postern::sys::user_by_name(&user).unwrap().unwrap();
        assert_eq!(meta.uid(), u.uid, "the mailbox belongs to the recipient");
    }
    let log = inst.log();
    for needle in [
        "postfix/smtpd[".to_string(),
        format!("{}: client=", id),
        format!("{}: message-id=<", id),
        format!("{}: from=<obama@w.com>, size=", id),
        ", nrcpt=1 (queue active)".to_string(),
        format!(
            "{}: to=<{}@www.a.org>, orig_to=<{}>, relay=local, delay=",
            id, user, user
        ),
        "dsn=2.0.0, status=sent (delivered to mailbox)".to_string(),
        "postfix/postfix-script[".to_string(),
        "starting the Postfix mail system".to_string(),
        "daemon started -- version ".to_string(),
    ] {
        assert!(log.contains(&needle), "log lacks {:?}:\n{}", needle, log);
    }
    inst.stop();
    assert!(inst.log().contains("terminating on signal 15"));
}

#[test]
fn killed_after_250_delivers_after_restart() {
    // Hold local deliveries so the message is certainly still queued when the server dies.
    let inst = Instance::new(&[("defer_transports", "local")]);
    inst.newaliases();
    inst.start();
    let mut c = inst.connect();
    c.reply();
    c.cmd("helo localhost");
    c.cmd("mail from:<a@b.test>");
    assert_eq!(
        c.cmd(&format!("rcpt to:<{}@www.a.org>", inst.user)),
        "250 2.1.5 Ok"
    );
    let r = c.data("Subject: survive\n\nkill -9 test\n");
    assert!(r.starts_with("250 "), "{}", r);
    // Held as Postfix holds it: the retry service (error(8)) logs the deferral, 4.3.2.
    let held = |log: &str| {
        log.lines()
            .find(|l| l.contains("status=deferred (deferred transport)"))
            .map(str::to_string)
    };
    assert!(
        wait_for(10, || held(&inst.log()).is_some()),
        "{}",
        inst.log()
    );
    let line = held(&inst.log()).unwrap();
    assert!(
        line.contains(" postfix/error[") && line.contains(", dsn=4.3.2, "),
        "{}",
        line
    );
    let pid = inst.pid().unwrap();
    postern::sys::kill(pid, libc::SIGKILL).unwrap();
    assert!(wait_for(10, || !postern::sys::process_exists(pid)));
    assert!(inst.mbox(&inst.user).is_empty());

    inst.set("defer_transports", "");
    inst.start();
    assert!(inst.postfix(&["flush"]).status.success());
    assert!(
        wait_for(20, || inst.mbox(&inst.user).contains("kill -9 test")),
        "log:\n{}",
        inst.log()
    );
    inst.stop();
}

#[test]
fn status_stop_and_double_start() {
    let inst = Instance::new(&[]);
    let out = inst.postfix(&["status"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the Postfix mail system is not running")
    );
    inst.start();
    let out = inst.postfix(&["status"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the Postfix mail system is running: PID: ")
    );
    let out = inst.postfix(&["start"]);
    assert!(!out.status.success(), "a second start must fail");
    if postern::sys::is_root() {
        // Started as root, the server itself runs as mail_owner (real, effective, saved uid).
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", inst.pid().unwrap())).unwrap();
        let uids: Vec<u32> = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        let main_cf = std::fs::read_to_string(inst.etc.join("main.cf")).unwrap();
        let owner = main_cf
            .lines()
            .find_map(|l| l.strip_prefix("mail_owner = "))
            .unwrap();
        let want = postern::sys::user_by_name(owner).unwrap().unwrap().uid;
        assert!(
            want != 0 && uids.iter().all(|&u| u == want),
            "uids {:?}, want {}",
            uids,
            want
        );
    }
    inst.stop();
    assert!(!inst.postfix(&["status"]).status.success());
    let out = inst.postfix(&["stop"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("fatal: the Postfix mail system is not running")
    );
}

#[test]
fn reload_changes_banner_without_closing_sessions() {
    let inst = Instance::new(&[]);
    inst.start();
    let mut old = inst.connect();
    assert_eq!(old.reply(), "220 www.a.org ESMTP Postfix");
    inst.set("smtpd_banner", "$myhostname ESMTP reloaded");
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(wait_for(10, || inst.log().contains("reload -- version")));
    let mut new = inst.connect();
    assert_eq!(new.reply(), "220 www.a.org ESMTP reloaded");
    assert_eq!(
        old.cmd("noop"),
        "250 2.0.0 Ok",
        "the old session survives the reload"
    );
    old.cmd("quit");
    new.cmd("quit");
    // Local submission (pickup) follows the reload too: its Received: header names mail_name.
    inst.newaliases();
    inst.set("mail_name", "Reloaded");
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(wait_for(10, || inst
        .log()
        .matches("reload -- version")
        .count()
        == 2));
    let mut child = std::process::Command::new(common::bin("sendmail"))
        .arg("-C")
        .arg(&inst.etc)
        .arg(&inst.user)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        b"Subject: after reload\n\nx\n",
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        wait_for(20, || inst
            .mbox(&inst.user)
            .contains("(Reloaded, from userid")),
        "{}",
        inst.mbox(&inst.user)
    );
    inst.stop();
}

#[test]
fn unknown_parameter_warns_and_syntax_error_names_line() {
    let inst = Instance::new(&[
        ("bogus_parameter", "1"),
        ("mua_client_restrictions", "permit_mynetworks, reject"),
    ]);
    // A name that master.cf refers to counts as used, as in Postfix.
    let listener = format!(
        "127.0.0.1:{} inet n - n - - smtpd\n  -o smtpd_client_restrictions=$mua_client_restrictions\n",
        common::free_port()
    );
    let mut m = std::fs::OpenOptions::new()
        .append(true)
        .open(inst.etc.join("master.cf"))
        .unwrap();
    std::io::Write::write_all(&mut m, listener.as_bytes()).unwrap();
    let out = inst.postfix(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unused parameter: bogus_parameter=1"),
        "{}",
        err
    );
    assert!(
        !err.contains("unused parameter: mua_client_restrictions"),
        "{}",
        err
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(inst.etc.join("main.cf"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"this line is wrong\n").unwrap();
    let out = inst.postfix(&["start"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("main.cf, line ") && err.contains("missing '=' after attribute name"),
        "{}",
        err
    );
}

#[test]
fn sendmail_submission_while_stopped_is_delivered_after_start() {
    let inst = Instance::new(&[]);
    inst.newaliases();
    // As after make install: the queue directories exist.
    assert!(inst.postfix(&["check"]).status.success());
    let mut child = std::process::Command::new(common::bin("sendmail"))
        .args(["-C"])
        .arg(&inst.etc)
        .args(["-f", "cron", "-t", "-i"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        write!(
            stdin,
            "To: {}\nBcc: postmaster\nSubject: cron output\n\nfrom cron\n",
            inst.user
        )
        .unwrap();
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(
        inst.queue_files("maildrop").len(),
        1,
        "waits in maildrop/ while stopped"
    );
    inst.start();
    assert!(
        wait_for(20, || inst.mbox(&inst.user).contains("from cron")),
        "log:\n{}",
        inst.log()
    );
    let mbox = inst.mbox(&inst.user);
    assert!(!mbox.contains("Bcc:"), "{}", mbox);
    // pickup logs the sender as submitted, qmgr as qualified (Postfix's cleanup does it).
    let log = inst.log();
    assert!(log.contains(" from=<cron>"), "pickup: {}", log);
    assert!(
        log.contains(": from=<cron@www.a.org>, size="),
        "qmgr: {}",
        log
    );
    inst.stop();
}

#[test]
fn local_submission_with_too_many_hops_is_returned_to_the_sender() {
    // Postfix's cleanup bounces a locally submitted message it refuses for good (here a
    // mail loop: more Received: headers than hopcount_limit); nothing goes to corrupt/.
    let inst = Instance::new(&[("hopcount_limit", "3")]);
    inst.newaliases();
    inst.start();
    let mut input = String::new();
    for i in 0..4 {
        input.push_str(&format!(
            "Received: from h{i} by h{i}; Thu, 3 Dec 2026 09:00:0{i} +0000\n"
        ));
    }
    input.push_str("Subject: looping\n\nround and round\n");
    let sender = inst.local_address();
    let out = inst.sendmail(&["-f", &sender, "-i", &inst.user], input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    inst.wait_mbox(&inst.user, "Undelivered Mail Returned to Sender");
    let log = inst.log();
    assert!(
        log.contains("dsn=5.4.0, status=bounced (too many hops)"),
        "{log}"
    );
    assert!(!log.contains("corrupt"), "{log}");
    assert!(inst.queue_files("corrupt").is_empty());
    let mbox = inst.mbox(&inst.user);
    assert!(mbox.contains("Status: 5.4.0"), "{mbox}");
    assert!(
        mbox.contains("round and round"),
        "the whole message is returned: {mbox}"
    );
    inst.stop();
}

#[test]
fn bounce_for_unknown_local_user_reaches_sender() {
    // Accept everything at RCPT so the local agent has to bounce.
    let inst = Instance::new(&[("local_recipient_maps", "")]);
    inst.newaliases();
    inst.start();
    let id = inst.send(
        &inst.local_address(),
        &["<no-such-user-xyz@www.a.org>"],
        "to nobody",
        "bounce me",
    );
    inst.wait_mbox(&inst.user, "Undelivered Mail Returned to Sender");
    let log = inst.log();
    assert!(
        log.contains("status=bounced (unknown user: \"no-such-user-xyz\")"),
        "{}",
        log
    );
    assert!(
        log.contains(&format!("{}: sender non-delivery notification: ", id)),
        "{}",
        log
    );
    assert!(log.contains("from=<>, size="), "{}", log);
    let mbox = inst.mbox(&inst.user);
    assert!(mbox.starts_with("From MAILER-DAEMON  "), "{}", mbox);
    assert!(mbox.contains("Status: 5.1.1"), "{}", mbox);
    assert!(mbox.contains("bounce me"), "the original is attached");
    inst.stop();
}

#[test]
fn alias_to_a_remote_address_is_forwarded_and_scheduled_at_once() {
    // The copy's route answers "later" at once, so the test needs no remote server.
    let inst = Instance::new(&[(
        "transport_maps",
        "inline:{ remote.test=retry:4.4.1 held for the test }",
    )]);
    inst.newaliases();
    inst.start();
    let id = inst.send("a@b.test", &["<fwd@www.a.org>"], "fwd", "forward me");
    // The copy is scheduled at once (not at the next queue scan, minutes later).
    assert!(
        wait_for(20, || inst
            .log()
            .contains("status=deferred (held for the test)")),
        "log:\n{}",
        inst.log()
    );
    let log = inst.log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("{}: to=<friend@remote.test>", id)))
        .unwrap_or_else(|| panic!("{}", log));
    assert!(
        line.contains("orig_to=<fwd@www.a.org>") && line.contains("status=sent (forwarded as "),
        "{}",
        line
    );
    let copy = line
        .rsplit("forwarded as ")
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(
        log.contains(&format!("{}: from=<a@b.test>, size=", copy)),
        "{}",
        log
    );
    inst.stop();
}

#[test]
fn transport_maps_error_and_discard() {
    let inst = Instance::new(&[(
        "transport_maps",
        "inline:{ blocked.test=error:5.7.1 blocked by policy, gone.test=discard:dropped here }",
    )]);
    inst.newaliases();
    inst.start();
    let id = inst.send(
        &inst.local_address(),
        &["<x@blocked.test>", "<y@gone.test>"],
        "routed",
        "transport maps",
    );
    assert!(
        wait_for(20, || inst.log().contains(&format!("{}: removed", id))),
        "{}",
        inst.log()
    );
    let log = inst.log();
    assert!(
        log.contains(&format!("{}: to=<x@blocked.test>, relay=none, delay=", id))
            && log.contains("dsn=5.7.1, status=bounced (blocked by policy)"),
        "{}",
        log
    );
    assert!(
        log.contains("postfix/discard[") && log.contains("status=sent (dropped here)"),
        "{}",
        log
    );
    assert!(
        wait_for(20, || inst.mbox(&inst.user).contains("blocked by policy")),
        "the sender gets the bounce"
    );
    inst.stop();
}

#[test]
fn deferred_mail_is_retried_warned_about_and_expires_to_the_sender() {
    // Short clocks instead of waiting hours: retries every second or two, a delay warning
    // after 2 s, expiry after 6 s. The route always answers "try again later".
    let inst = Instance::new(&[
        (
            "transport_maps",
            "inline:{ slow.test=retry:4.4.1 connect to slow.test[192.0.2.1]:25: Connection timed out }",
        ),
        ("queue_run_delay", "1s"),
        ("minimal_backoff_time", "1s"),
        ("maximal_backoff_time", "2s"),
        ("delay_warning_time", "2s"),
        ("maximal_queue_lifetime", "6s"),
    ]);
    inst.newaliases();
    inst.start();
    let id = inst.send(
        &inst.local_address(),
        &["<far@slow.test>"],
        "patience",
        "will expire",
    );
    assert!(
        wait_for(30, || inst.log().contains(&format!("{}: removed", id))),
        "{}",
        inst.log()
    );
    let log = inst.log();
    let attempts = log
        .lines()
        .filter(|l| {
            l.contains(&format!("{}: to=<far@slow.test>", id)) && l.contains("status=deferred")
        })
        .count();
    assert!(attempts >= 2, "retried: {}", log);
    assert!(
        log.contains(
            "dsn=4.4.1, status=deferred (connect to slow.test[192.0.2.1]:25: Connection timed out)"
        ),
        "{}",
        log
    );
    assert!(
        log.contains(&format!("{}: sender delay notification: ", id)),
        "{}",
        log
    );
    assert!(
        log.contains(&format!(
            "{}: from=<{}@www.a.org>, status=expired, returned to sender",
            id, inst.user
        )),
        "{}",
        log
    );
    assert!(
        log.contains(&format!("{}: sender non-delivery notification: ", id)),
        "{}",
        log
    );
    assert!(
        wait_for(20, || {
            let m = inst.mbox(&inst.user);
            m.contains("Subject: Delayed Mail (still being retried)")
                && m.contains("Subject: Undelivered Mail Returned to Sender")
        }),
        "{}",
        inst.mbox(&inst.user)
    );
    assert_eq!(
        inst.mbox(&inst.user)
            .matches("Subject: Delayed Mail")
            .count(),
        1,
        "one warning only"
    );
    inst.stop();
}

#[test]
fn dsn_notify_never_gets_no_bounce() {
    let inst = Instance::new(&[("local_recipient_maps", "")]);
    inst.newaliases();
    inst.start();
    let id = inst.send(
        &inst.local_address(),
        &[
            "<quiet-xyz@www.a.org> NOTIFY=NEVER",
            "<loud-xyz@www.a.org> NOTIFY=FAILURE",
        ],
        "notify",
        "x",
    );
    assert!(
        wait_for(20, || inst
            .mbox(&inst.user)
            .contains("Undelivered Mail Returned to Sender")),
        "{}",
        inst.log()
    );
    assert!(wait_for(10, || inst
        .log()
        .contains(&format!("{}: removed", id))));
    let mbox = inst.mbox(&inst.user);
    assert!(
        mbox.contains("Final-Recipient: rfc822; loud-xyz@www.a.org"),
        "{}",
        mbox
    );
    assert!(
        !mbox.contains("Final-Recipient: rfc822; quiet-xyz@www.a.org"),
        "{}",
        mbox
    );
    inst.stop();
}

#[test]
fn a_listener_without_a_host_serves_ipv4_and_ipv6() {
    let inst = Instance::new(&[
        ("inet_interfaces", "loopback-only"),
        ("inet_protocols", "all"),
    ]);
    let port = common::free_port();
    std::fs::write(
        inst.etc.join("master.cf"),
        format!("{} inet n - n - - smtpd\n", port),
    )
    .unwrap();
    inst.start();
    let banner = |addr: &str| -> String {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(s), &mut line).unwrap();
        line
    };
    assert!(banner(&format!("127.0.0.1:{}", port)).starts_with("220 www.a.org ESMTP"));
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert!(banner(&format!("[::1]:{}", port)).starts_with("220 www.a.org ESMTP"));
        assert!(
            wait_for(10, || inst.log().contains("[::1]")),
            "{}",
            inst.log()
        );
    } else {
        assert!(
            inst.log().contains("continuing with IPv4 only"),
            "{}",
            inst.log()
        );
    }
    inst.stop();
}

/// The files (inode numbers) in the spool's spare/ directory.
fn spare_inodes(inst: &Instance) -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(inst.spool.join("spare"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok().map(|m| m.ino()))
                .collect()
        })
        .unwrap_or_default()
}

/// Delivered messages' files become spares in spare/; a new message overwrites one; a
/// kill -9 after its 250 loses nothing, and the restart removes the spares it left.
#[test]
fn spare_queue_files_are_reused_and_survive_kill() {
    use std::os::unix::fs::MetadataExt;
    let inst = Instance::new(&[]);
    inst.newaliases();
    inst.start();
    let rcpt = format!("<{}@www.a.org>", inst.user);
    for i in 0..20 {
        inst.send("a@b.test", &[&rcpt], &format!("warm {}", i), "warm-up");
    }
    assert!(
        wait_for(20, || inst.log().matches(": removed").count() == 20),
        "{}",
        inst.log()
    );
    assert_eq!(inst.mbox(&inst.user).matches("warm-up").count(), 20);
    // Kept (each new message reuses one once 16 are durable, if delivery kept up).
    let spares = spare_inodes(&inst);
    assert!(
        (16..=20).contains(&spares.len()),
        "spares: {:?}\n{}",
        spares,
        inst.log()
    );

    // Hold the next message in the queue, then kill the server after its 250.
    inst.set("defer_transports", "local");
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(wait_for(10, || inst.log().contains("reload")));
    let id = inst.send("a@b.test", &[&rcpt], "kept", "kill -9 spare test");
    let held = |log: &str| log.contains(&format!("{}: to=<", id)) && log.contains("deferred");
    assert!(wait_for(10, || held(&inst.log())), "{}", inst.log());
    let file = ["incoming", "active", "deferred"]
        .iter()
        .flat_map(|q| {
            let flat = inst.spool.join(q).join(&id);
            let hashed = inst.spool.join(q).join(&id[..1]).join(&id);
            [flat, hashed]
        })
        .find(|p| p.exists())
        .expect("the held message's queue file");
    let ino = std::fs::metadata(&file).unwrap().ino();
    assert!(spares.contains(&ino), "written into a spare file");
    let pid = inst.pid().unwrap();
    postern::sys::kill(pid, libc::SIGKILL).unwrap();
    assert!(wait_for(10, || !postern::sys::process_exists(pid)));

    inst.set("defer_transports", "");
    inst.start();
    // The killed process's spares are gone (at most the restart's own are there).
    let before: Vec<u64> = spares.iter().copied().filter(|i| *i != ino).collect();
    assert!(
        spare_inodes(&inst).iter().all(|i| !before.contains(i)),
        "{}",
        inst.log()
    );
    assert!(inst.postfix(&["flush"]).status.success());
    assert!(
        wait_for(20, || inst.mbox(&inst.user).contains("kill -9 spare test")),
        "log:\n{}",
        inst.log()
    );
    inst.stop();
}
