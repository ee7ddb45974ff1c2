//! Access-table actions in the smtpd restrictions (access(5), Postfix's smtpd_check.c),
//! against a started server: HOLD (the whole message in hold/, `!` in mailq), DISCARD
//! (250, nothing delivered or queued), REDIRECT (one copy, to the new address only), BCC
//! (a copy delivered), PREPEND (the header above smtpd's Received:), INFO, and the
//! deferred decisions DEFER_IF_PERMIT and DEFER_IF_REJECT; with inline: and hash: tables.
//! Also the warnings for a bad target and for actions outside a transaction.

mod common;

use common::{Client, Instance, queued_id, wait_for};

/// A session up to an accepted MAIL FROM.
fn mail(inst: &Instance, from: &str) -> Client {
    let mut c = inst.connect();
    c.reply();
    c.cmd("ehlo localhost");
    assert_eq!(c.cmd(&format!("mail from:<{}>", from)), "250 2.1.0 Ok");
    c
}

/// The message's delivery lines.
fn deliveries(inst: &Instance, id: &str) -> Vec<String> {
    inst.log()
        .lines()
        .filter(|l| l.contains(&format!("{}: to=<", id)))
        .map(String::from)
        .collect()
}

fn instance(recipient_restrictions: &str, sender_table: &str) -> Instance {
    let inst = Instance::new(&[
        ("smtpd_recipient_restrictions", recipient_restrictions),
        ("smtpd_sender_restrictions", sender_table),
        (
            "smtpd_data_restrictions",
            "check_sender_access inline:{ dataq@remote.test=DEFER_IF_PERMIT }",
        ),
        ("relayhost", "[127.0.0.1]:9"),
        ("minimal_backoff_time", "600s"),
    ]);
    let aliases = inst.etc.join("aliases");
    let mut text = std::fs::read_to_string(&aliases).unwrap();
    for a in ["held", "dropped", "redir", "target", "copy", "dirok"] {
        text.push_str(&format!("{}: {}\n", a, inst.user));
    }
    std::fs::write(&aliases, text).unwrap();
    inst.newaliases();
    inst
}

#[test]
fn hold_discard_redirect_bcc_prepend_info() {
    let dir = std::env::temp_dir().join(format!("postern-acc-act-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = dir.join("recipients");
    std::fs::write(
        &hash,
        "held@www.a.org HOLD\n\
         dropped@www.a.org DISCARD\n\
         redir@www.a.org REDIRECT target@www.a.org\n\
         badredir@remote.test REDIRECT nowhere\n",
    )
    .unwrap();
    let inst = instance(
        &format!(
            "check_recipient_access hash:{}, permit_mynetworks, reject_unauth_destination",
            hash.display()
        ),
        "check_sender_access inline:{ { bcc@remote.test = BCC copy@www.a.org }, \
         { prep@remote.test = PREPEND X-Tagged: by access }, \
         { info@remote.test = INFO noted sender }, { badprep@remote.test = PREPEND no header } }",
    );
    let out = inst.run("postmap", &[&format!("hash:{}", hash.display())]);
    assert!(out.status.success(), "{:?}", out);
    inst.start();
    let me = inst.local_address();
    let log_tail = "from=<s@remote.test> to=<{}> proto=ESMTP helo=<localhost>";
    let line = |action: &str, rcpt: &str, what: &str| {
        format!(
            "NOQUEUE: {}: RCPT from localhost[127.0.0.1]: <{}>: {}; {}",
            action,
            rcpt,
            what,
            log_tail.replace("{}", rcpt)
        )
    };

    // HOLD: the whole message (both recipients) waits in hold/.
    let mut c = mail(&inst, "s@remote.test");
    assert_eq!(c.cmd(&format!("rcpt to:<{}>", me)), "250 2.1.5 Ok");
    assert_eq!(c.cmd("rcpt to:<held@www.a.org>"), "250 2.1.5 Ok");
    let reply = c.data("Subject: held\n\nx\n");
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{}", reply);
    let held = queued_id(&reply);
    c.cmd("quit");
    inst.wait_log(&line(
        "hold",
        "held@www.a.org",
        "Recipient address triggers HOLD action",
    ));
    assert!(inst.queue_files("hold").contains(&held), "{}", inst.log());
    let mailq = inst.run("postqueue", &["-p"]);
    let mailq = String::from_utf8_lossy(&mailq.stdout);
    assert!(mailq.contains(&format!("{}!", held)), "{}", mailq);

    // DISCARD: 250, then nothing queued or delivered, for any recipient.
    let mut c = mail(&inst, "s@remote.test");
    assert_eq!(c.cmd(&format!("rcpt to:<{}>", me)), "250 2.1.5 Ok");
    assert_eq!(c.cmd("rcpt to:<dropped@www.a.org>"), "250 2.1.5 Ok");
    let reply = c.data("Subject: dropped\n\nx\n");
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{}", reply);
    let dropped = queued_id(&reply);
    c.cmd("quit");
    inst.wait_log(&line(
        "discard",
        "dropped@www.a.org",
        "Recipient address triggers DISCARD action",
    ));

    // REDIRECT: one delivery, to the new address only.
    let mut c = mail(&inst, "s@remote.test");
    assert_eq!(c.cmd("rcpt to:<far@remote.test>"), "250 2.1.5 Ok");
    assert_eq!(c.cmd("rcpt to:<redir@www.a.org>"), "250 2.1.5 Ok");
    let reply = c.data("Subject: redirected\n\nx\n");
    let redirected = queued_id(&reply);
    c.cmd("quit");
    inst.wait_log(&line(
        "redirect",
        "redir@www.a.org",
        "Recipient address triggers REDIRECT target@www.a.org",
    ));
    inst.wait_mbox(&inst.user, "Subject: redirected");

    // A REDIRECT without user@domain is skipped with a warning.
    let mut c = mail(&inst, "s@remote.test");
    assert_eq!(c.cmd("rcpt to:<badredir@remote.test>"), "250 2.1.5 Ok");
    c.cmd("quit");
    inst.wait_log(&format!(
        "warning: access table hash:{} entry \"badredir@remote.test\" requires user@domain target",
        hash.display()
    ));

    // BCC (sender table): the copy is delivered, the original stays for the relay.
    let id = inst.send("bcc@remote.test", &["<far@remote.test>"], "bcc", "x");
    inst.wait_mbox(&inst.user, "Subject: bcc");
    let relayed = |l: &String| l.contains("to=<far@remote.test>") && l.contains("status=deferred");
    assert!(
        wait_for(20, || deliveries(&inst, &id).iter().any(relayed)),
        "{}",
        inst.log()
    );
    assert!(inst.log().contains(
        "NOQUEUE: bcc: RCPT from localhost[127.0.0.1]: <bcc@remote.test>: Sender address triggers BCC copy@www.a.org; from=<bcc@remote.test> to=<far@remote.test> proto=ESMTP helo=<localhost>"
    ));

    // PREPEND: the header line above smtpd's Received: header.
    inst.send(
        "prep@remote.test",
        &[&format!("<{}>", me)],
        "prepended",
        "x",
    );
    inst.wait_mbox(&inst.user, "Subject: prepended");
    let mbox = inst.mbox(&inst.user);
    assert!(
        mbox.contains("\nX-Tagged: by access\nReceived: from localhost"),
        "{}",
        mbox
    );
    assert_eq!(mbox.matches("X-Tagged:").count(), 1, "{}", mbox);

    // The same through BDAT (one hand-off path for DATA and BDAT).
    let mut c = mail(&inst, "prep@remote.test");
    assert_eq!(c.cmd(&format!("rcpt to:<{}>", me)), "250 2.1.5 Ok");
    let chunk = "Subject: prepended by bdat\r\n\r\nx\r\n";
    c.send_raw(format!("BDAT {} LAST\r\n{}", chunk.len(), chunk).as_bytes());
    let reply = c.reply();
    assert!(
        reply.starts_with("250 2.0.0 Ok: 33 bytes queued as "),
        "{}",
        reply
    );
    c.cmd("quit");
    inst.wait_mbox(&inst.user, "Subject: prepended by bdat");
    assert_eq!(inst.mbox(&inst.user).matches("X-Tagged:").count(), 2);

    // A PREPEND text that is no header is skipped with a warning.
    inst.send(
        "badprep@remote.test",
        &[&format!("<{}>", me)],
        "badprep",
        "x",
    );
    inst.wait_log("entry \"badprep@remote.test\" requires header: text");

    // INFO logs and goes on.
    inst.send("info@remote.test", &[&format!("<{}>", me)], "info", "x");
    inst.wait_log(
        "NOQUEUE: info: RCPT from localhost[127.0.0.1]: noted sender; from=<info@remote.test>",
    );
    inst.wait_mbox(&inst.user, "Subject: info");

    // The redirected message was delivered once; the discarded one never, and no file of
    // it is left in any queue.
    assert!(
        wait_for(20, || deliveries(&inst, &redirected).len() == 1),
        "{}",
        inst.log()
    );
    // Delivered locally (the alias of target@), not relayed towards far@remote.test.
    let d = deliveries(&inst, &redirected);
    assert!(
        d[0].contains("relay=local") && d[0].contains("status=sent"),
        "{:?}",
        d
    );
    let mbox = inst.mbox(&inst.user);
    assert!(!mbox.contains("Subject: dropped"), "{}", mbox);
    assert!(!mbox.contains("Subject: held"), "{}", mbox);
    assert!(deliveries(&inst, &dropped).is_empty(), "{}", inst.log());
    for q in ["incoming", "active", "deferred", "hold"] {
        assert!(
            !inst.queue_files(q).contains(&dropped),
            "{} in {}",
            dropped,
            q
        );
    }
    inst.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn defer_if_permit_and_defer_if_reject() {
    let inst = instance(
        "check_recipient_access inline:{ dip@www.a.org=DEFER_IF_PERMIT, \
         { dir@www.a.org = DEFER_IF_REJECT 4.7.5 try later }, dirok@www.a.org=DEFER_IF_REJECT, \
         { word@www.a.org = reject_non_fqdn_recipient defer_if_permit permit }, \
         { wordrej@www.a.org = reject_non_fqdn_recipient defer_if_reject reject }, \
         nosuch@www.a.org=DISCARD, unlisted@www.a.org=DEFER_IF_REJECT, \
         { both@www.a.org = reject_non_fqdn_recipient defer_if_reject defer_if_permit reject } }, \
         check_recipient_access inline:{ dir@www.a.org=REJECT }, \
         permit_mynetworks, reject_unauth_destination",
        "warn_if_reject check_sender_access inline:{ warned@remote.test=DEFER_IF_PERMIT }, \
         check_sender_access inline:{ later@remote.test=DEFER_IF_PERMIT }",
    );
    inst.start();
    let mut c = mail(&inst, "s@remote.test");
    // DEFER_IF_PERMIT, then permit_mynetworks: deferred.
    let want = "450 4.7.1 <dip@www.a.org>: Recipient address rejected: Service unavailable";
    assert_eq!(c.cmd("rcpt to:<dip@www.a.org>"), want);
    // DEFER_IF_REJECT, then REJECT: the deferral instead.
    let want_dir = "450 4.7.5 <dir@www.a.org>: Recipient address rejected: try later";
    assert_eq!(c.cmd("rcpt to:<dir@www.a.org>"), want_dir);
    // The restrictions of the same names (in a restriction list found in a table: an
    // answer whose first word is DEFER_IF_PERMIT is the action).
    assert_eq!(
        c.cmd("rcpt to:<word@www.a.org>"),
        "450 4.7.0 <word@www.a.org>: Recipient address rejected: defer_if_permit requested"
    );
    assert_eq!(
        c.cmd("rcpt to:<wordrej@www.a.org>"),
        "450 4.7.0 <wordrej@www.a.org>: Recipient address rejected: defer_if_reject requested"
    );
    // Both raised: the list stops before its reject, the permit deferral answers.
    assert_eq!(
        c.cmd("rcpt to:<both@www.a.org>"),
        "450 4.7.0 <both@www.a.org>: Recipient address rejected: defer_if_permit requested"
    );
    // An unknown local recipient: refused, deferred after DEFER_IF_REJECT.
    assert_eq!(
        c.cmd("rcpt to:<nosuch2@www.a.org>"),
        "550 5.1.1 <nosuch2@www.a.org>: Recipient address rejected: User unknown in local recipient table"
    );
    assert_eq!(
        c.cmd("rcpt to:<unlisted@www.a.org>"),
        "450 4.7.1 <unlisted@www.a.org>: Recipient address rejected: Service unavailable"
    );
    // DEFER_IF_REJECT without a later rejection: accepted.
    assert_eq!(c.cmd("rcpt to:<dirok@www.a.org>"), "250 2.1.5 Ok");
    let reply = c.data("Subject: dirok\n\nx\n");
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{}", reply);
    c.cmd("quit");
    inst.wait_log(&format!(
        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: {}; from=<s@remote.test> to=<dip@www.a.org> proto=ESMTP helo=<localhost>",
        want
    ));
    inst.wait_log(&format!(
        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: {};",
        want_dir
    ));
    inst.wait_mbox(&inst.user, "Subject: dirok");

    // DISCARD skips the unknown-recipient test: accepted, and the message dropped.
    let mut c = mail(&inst, "s@remote.test");
    assert_eq!(c.cmd("rcpt to:<nosuch@www.a.org>"), "250 2.1.5 Ok");
    let reply = c.data("Subject: gone\n\nx\n");
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{}", reply);
    c.cmd("quit");

    // A DEFER_IF_PERMIT of smtpd_data_restrictions defers DATA.
    let mut c = mail(&inst, "dataq@remote.test");
    assert_eq!(
        c.cmd(&format!("rcpt to:<{}>", inst.local_address())),
        "250 2.1.5 Ok"
    );
    assert_eq!(
        c.cmd("data"),
        "450 4.7.1 <dataq@remote.test>: Sender address rejected: Service unavailable"
    );
    c.cmd("quit");

    // A sender stage DEFER_IF_PERMIT defers each recipient the lists accept.
    let mut c = mail(&inst, "later@remote.test");
    let me = inst.local_address();
    assert_eq!(
        c.cmd(&format!("rcpt to:<{}>", me)),
        "450 4.7.1 <later@remote.test>: Sender address rejected: Service unavailable"
    );
    assert_eq!(c.cmd("data"), "554 5.5.1 Error: no valid recipients");
    c.cmd("quit");

    // After warn_if_reject, DEFER_IF_PERMIT is a warning only.
    let mut c = mail(&inst, "warned@remote.test");
    assert_eq!(c.cmd(&format!("rcpt to:<{}>", me)), "250 2.1.5 Ok");
    c.cmd("quit");
    inst.wait_log(&format!(
        "NOQUEUE: reject_warning: RCPT from localhost[127.0.0.1]: 450 4.7.1 <warned@remote.test>: Sender address rejected: Service unavailable; from=<warned@remote.test> to=<{}>",
        me
    ));
    inst.stop();
}

#[test]
fn actions_outside_a_transaction_are_skipped_with_a_warning() {
    let inst = Instance::new(&[
        ("smtpd_delay_reject", "no"),
        (
            "smtpd_client_restrictions",
            "check_client_access inline:{ 127.0.0.1=HOLD }",
        ),
    ]);
    inst.newaliases();
    inst.start();
    let me = inst.local_address();
    inst.send("s@remote.test", &[&format!("<{}>", me)], "not held", "x");
    inst.wait_log(
        "with smtpd_delay_reject=no, action HOLD is always skipped in client or helo restrictions",
    );
    inst.wait_mbox(&inst.user, "Subject: not held");
    inst.stop();
}
