//! Virtual domains over real TCP (issue 9): smtpd's recipient test for virtual alias and
//! virtual mailbox domains (reply texts and NOQUEUE lines), 451 when a table fails, relay
//! control still closed for other domains, cleanup's virtual alias expansion refusing a
//! message when its table fails, and, with the whole mail system, virtual alias expansion
//! delivered to a local mailbox and virtual mailbox recipients routed to $virtual_transport.

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use common::{Instance, wait_for};
use inproc::{Server, assert_logged, cl, me, scratch};

/// An smtpd for which the client is outside $mynetworks, with `extra` settings.
fn server(extra: &[(&str, &str)]) -> Server {
    Server::builder()
        .in_dir(scratch())
        .set(&[
            ("mydestination", "$myhostname, localhost"),
            ("mynetworks", "192.0.2.0/24"),
            (
                "smtpd_relay_restrictions",
                "permit_mynetworks, reject_unauth_destination",
            ),
        ])
        .aliases(true)
        .set(extra)
        .start()
}

/// EHLO, MAIL FROM sender, then each RCPT; returns the RCPT replies.
fn rcpts(s: &Server, to: &[&str]) -> Vec<String> {
    let mut cmds = vec![
        "EHLO mail.b.test".to_string(),
        "MAIL FROM:<sender@b.test>".to_string(),
    ];
    cmds.extend(to.iter().map(|t| format!("RCPT TO:<{t}>")));
    let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let out = s.talk(&refs);
    out[3..3 + to.len()].to_vec()
}

fn noqueue(reply: &str, to: &str) -> String {
    format!(
        "NOQUEUE: reject: RCPT from {}: {reply}; from=<sender@b.test> to=<{to}> proto=ESMTP helo=<mail.b.test>",
        cl()
    )
}

const VIRTUAL: [(&str, &str); 4] = [
    ("virtual_alias_domains", "va.test"),
    (
        "virtual_alias_maps",
        "inline:{ known@va.test=root@www.a.org, aliased@vm.test=root@www.a.org }",
    ),
    (
        "virtual_mailbox_domains",
        "vm.test, texthash:/nonexistent-unused",
    ),
    (
        "virtual_mailbox_maps",
        "inline:{ box@vm.test=vm.test/box/, @catch.vm.test=x }",
    ),
];

#[test]
fn virtual_recipients_accepted_and_rejected() {
    let s = server(&[
        VIRTUAL[0],
        VIRTUAL[1],
        // Names match before a table is asked, so the broken texthash is never reached.
        ("virtual_mailbox_domains", "vm.test catch.vm.test"),
        VIRTUAL[3],
        ("recipient_delimiter", "+"),
    ]);
    let to = [
        "known@va.test",
        "nobody@va.test",
        "box@vm.test",
        "box+ext@vm.test",
        "aliased@vm.test",
        "nobody@vm.test",
        "anyone@catch.vm.test",
        "jerry@qq.com",
        "a@sub.vm.test",
    ];
    let r = rcpts(&s, &to);
    let alias_unknown = "550 5.1.1 <nobody@va.test>: Recipient address rejected: User unknown in virtual alias table";
    let mailbox_unknown = "550 5.1.1 <nobody@vm.test>: Recipient address rejected: User unknown in virtual mailbox table";
    assert_eq!(r[0], "250 2.1.5 Ok");
    assert_eq!(r[1], alias_unknown);
    assert_eq!(r[2], "250 2.1.5 Ok");
    assert_eq!(r[3], "250 2.1.5 Ok", "found without the extension");
    assert_eq!(r[4], "250 2.1.5 Ok", "a virtual alias in a mailbox domain");
    assert_eq!(r[5], mailbox_unknown);
    assert_eq!(r[6], "250 2.1.5 Ok", "@domain entry");
    assert_eq!(r[7], "554 5.7.1 <jerry@qq.com>: Relay access denied");
    assert_eq!(
        r[8], "554 5.7.1 <a@sub.vm.test>: Relay access denied",
        "virtual domain lists do not cover subdomains"
    );
    assert_logged(&noqueue(alias_unknown, "nobody@va.test"));
    assert_logged(&noqueue(mailbox_unknown, "nobody@vm.test"));
}

#[test]
fn reject_codes_are_configurable() {
    let s = server(&[
        VIRTUAL[0],
        VIRTUAL[1],
        ("virtual_mailbox_domains", "vm.test"),
        VIRTUAL[3],
        ("unknown_virtual_alias_reject_code", "450"),
        ("unknown_virtual_mailbox_reject_code", "551"),
    ]);
    let r = rcpts(&s, &["x@va.test", "x@vm.test"]);
    assert_eq!(
        r[0],
        "450 4.1.1 <x@va.test>: Recipient address rejected: User unknown in virtual alias table"
    );
    assert_eq!(
        r[1],
        "551 5.1.1 <x@vm.test>: Recipient address rejected: User unknown in virtual mailbox table"
    );
}

#[test]
fn table_errors_answer_451() {
    let s = server(&[("virtual_mailbox_domains", "fail:vmdomains")]);
    let me = me();
    let local = format!("{me}@www.a.org");
    let r = rcpts(&s, &["x@other.test", &local]);
    let want = "451 4.3.0 <x@other.test>: Temporary lookup failure";
    assert_eq!(r[0], want);
    assert_eq!(
        r[1], "250 2.1.5 Ok",
        "our own domains need no virtual lookup"
    );
    assert_logged("warning: virtual_mailbox_domains lookup failure");
    assert_logged("warning: fail:vmdomains lookup error for \"other.test\"");
    assert_logged(&noqueue(want, "x@other.test"));

    let s = server(&[
        ("virtual_alias_domains", "va.test"),
        ("virtual_alias_maps", "fail:valias"),
    ]);
    let r = rcpts(&s, &["y@va.test"]);
    assert_eq!(r[0], "451 4.3.0 <y@va.test>: Temporary lookup failure");
    assert_logged("warning: fail:valias lookup error for \"y@va.test\"");
}

#[test]
fn cleanup_table_error_refuses_the_message_at_data() {
    let s = server(&[
        ("smtpd_reject_unlisted_recipient", "no"),
        ("virtual_alias_maps", "fail:expansion"),
        ("virtual_alias_domains", ""),
    ]);
    let me = me();
    let out = s.talk(&[
        "EHLO mail.b.test",
        "MAIL FROM:<sender@b.test>",
        &format!("RCPT TO:<{me}@www.a.org>"),
        "DATA",
        "Subject: x\r\n\r\nbody\r\n.",
    ]);
    assert_eq!(out[3], "250 2.1.5 Ok");
    assert_eq!(out[5], "451 4.3.0 Error: queue file write error");
    assert_eq!(s.incoming_entries(), 0, "nothing queued");
    assert_logged(&format!(
        "virtual_alias_maps map lookup problem for {me}@www.a.org -- deferring delivery"
    ));
}

#[test]
fn virtual_aliases_are_delivered_and_mailbox_domains_use_virtual_transport() {
    let inst = Instance::new(&[]);
    let user = inst.user.clone();
    let maps = format!(
        "inline:{{ {{ team@va.test = one@va.test, two@va.test }}, one@va.test=deep@va.test, \
         deep@va.test={user}@www.a.org, two@va.test={user}@www.a.org, @catch.test={user}@www.a.org }}"
    );
    inst.set("virtual_alias_domains", "va.test, catch.test");
    inst.set("virtual_alias_maps", &maps);
    inst.set("virtual_mailbox_domains", "vm.test");
    inst.set("virtual_mailbox_maps", "inline:{ box@vm.test=x }");
    inst.set("virtual_transport", "discard:virtual mailbox");
    // So that an unknown virtual alias reaches the queue and the resolver's error transport.
    inst.set("smtpd_reject_unlisted_recipient", "no");
    inst.newaliases();
    inst.start();
    let id = inst.send(
        "sender@b.test",
        &[
            "<team@va.test>",
            "<whoever@catch.test>",
            "<box@vm.test>",
            "<nobody@va.test>",
        ],
        "virtual",
        "virtual alias body",
    );
    assert!(
        wait_for(30, || inst.log().contains(&format!("{}: removed", id))),
        "{}",
        inst.log()
    );
    let log = inst.log();
    // team -> one -> deep -> user, team -> two -> user: one delivery (duplicates removed).
    assert_eq!(
        log.matches(&format!("to=<{user}@www.a.org>, orig_to=<team@va.test>"))
            .count(),
        1,
        "{}",
        log
    );
    assert!(
        log.contains(&format!(
            "to=<{user}@www.a.org>, orig_to=<whoever@catch.test>"
        )),
        "{}",
        log
    );
    // virtual_transport = discard:virtual mailbox (the discard agent logs relay=none).
    assert!(
        log.contains("postfix/discard[")
            && log.contains("to=<box@vm.test>, relay=none")
            && log.contains("status=sent (virtual mailbox)"),
        "{}",
        log
    );
    assert!(
        log.contains(&format!("{id}: to=<nobody@va.test>, relay=none"))
            && log.contains("dsn=5.1.1, status=bounced (User unknown in virtual alias table)"),
        "{}",
        log
    );
    let mbox = inst.mbox(&user);
    // Two deliveries (team@, whoever@); the bounce goes to sender@b.test, not here.
    assert_eq!(mbox.matches("virtual alias body").count(), 2, "{}", mbox);
    assert!(mbox.contains("X-Original-To: team@va.test"), "{}", mbox);
    inst.stop();
}

/// Submit a message with `sendmail -i RCPT` (through maildrop and pickup).
fn sendmail(inst: &Instance, rcpt: &str, body: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(common::bin("sendmail"))
        .arg("-C")
        .arg(&inst.etc)
        .args(["-f", "cron@www.a.org", "-i", rcpt])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    write!(child.stdin.take().unwrap(), "Subject: local\n\n{}\n", body).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn pickup_leaves_the_file_while_the_alias_table_fails() {
    let inst = Instance::new(&[]);
    let table = inst.etc.join("valias");
    inst.set("virtual_alias_domains", "va.test");
    inst.set(
        "virtual_alias_maps",
        &format!("texthash:{}", table.display()),
    );
    inst.newaliases();
    inst.start();
    sendmail(&inst, "who@va.test", "first try");
    assert!(
        wait_for(20, || inst.log().contains(
            "virtual_alias_maps map lookup problem for who@va.test -- deferring delivery"
        )),
        "{}",
        inst.log()
    );
    assert_eq!(inst.queue_files("maildrop").len(), 1, "left for a retry");
    // The table appears; the next scan (poked by another submission) takes both.
    std::fs::write(&table, format!("who@va.test {}@www.a.org\n", inst.user)).unwrap();
    sendmail(&inst, "who@va.test", "second try");
    assert!(
        wait_for(30, || {
            let mbox = inst.mbox(&inst.user);
            mbox.contains("first try") && mbox.contains("second try")
        }),
        "{}",
        inst.log()
    );
    assert!(inst.queue_files("maildrop").is_empty());
    inst.stop();
}

#[test]
fn unknown_domain_checks_skip_virtual_domains() {
    // No resolver: a domain that needs DNS gets 450; virtual domains are final, not asked.
    let s = server(&[
        ("virtual_alias_domains", "va.test"),
        ("virtual_alias_maps", "inline:{ a@va.test=root@www.a.org }"),
        ("virtual_mailbox_domains", "vm.test"),
        ("smtpd_relay_restrictions", "permit"),
        (
            "smtpd_recipient_restrictions",
            "reject_unknown_recipient_domain, reject_unauth_destination",
        ),
    ]);
    let r = rcpts(&s, &["a@va.test", "b@vm.test", "c@other.test"]);
    assert_eq!(r[0], "250 2.1.5 Ok");
    assert_eq!(r[1], "250 2.1.5 Ok");
    assert!(r[2].starts_with("450 4.1.2 <c@other.test>: "), "{}", r[2]);
}
