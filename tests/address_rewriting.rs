//! Address rewriting through a running instance (issue 11): canonical mapping of the
//! envelope and the address headers as seen in the delivered mbox, a canonical table error
//! refusing the message at DATA, masquerading, automatic BCC copies, and $relocated_maps
//! (550 5.1.6 at RCPT, a 5.1.6 bounce when the message is accepted anyway).

mod common;

use common::{Instance, queued_id, wait_for};

/// One SMTP session from `from` to `rcpts` with the raw message `msg`; returns the reply to
/// the final dot.
fn send_raw(inst: &Instance, from: &str, rcpts: &[&str], msg: &str) -> String {
    let mut c = inst.connect();
    c.reply();
    c.cmd("EHLO mail.b.test");
    assert_eq!(c.cmd(&format!("MAIL FROM:<{}>", from)), "250 2.1.0 Ok");
    for r in rcpts {
        assert_eq!(c.cmd(&format!("RCPT TO:<{}>", r)), "250 2.1.5 Ok", "{}", r);
    }
    let reply = c.data(msg);
    c.cmd("QUIT");
    reply
}

fn wait_removed(inst: &Instance, reply: &str) {
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{}", reply);
    let id = queued_id(reply);
    assert!(
        wait_for(30, || inst.log().contains(&format!("{}: removed", id))),
        "{}",
        inst.log()
    );
}

#[test]
fn canonical_maps_rewrite_envelope_and_headers() {
    let inst = Instance::new(&[]);
    let user = inst.user.clone();
    inst.set(
        "sender_canonical_maps",
        "inline:{ joe@b.test=joseph.public@b.test }",
    );
    inst.set(
        "recipient_canonical_maps",
        &format!("inline:{{ jdoe@www.a.org={user}@www.a.org }}"),
    );
    // Any table type: a regexp table here.
    let re = inst.etc.join("canonical.re");
    std::fs::write(&re, "/^(.*)@old\\.test$/ ${1}@new.test\n").unwrap();
    inst.set("canonical_maps", &format!("regexp:{}", re.display()));
    inst.newaliases();
    inst.start();
    let msg = "From: \"Joe, Public\" <joe@b.test>\nTo: Someone <jdoe@www.a.org>\nCc: x@old.test (old, comment),\n  y@other.test\nSubject: canonical\n\nbody joe@b.test\n.\n";
    let reply = send_raw(&inst, "joe@b.test", &["jdoe@www.a.org"], msg);
    wait_removed(&inst, &reply);
    let mbox = inst.mbox(&user);
    for want in [
        "From joseph.public@b.test ",
        "Return-Path: <joseph.public@b.test>\n",
        "X-Original-To: jdoe@www.a.org\n",
        "From: \"Joe, Public\" <joseph.public@b.test>\n",
        &format!("To: Someone <{user}@www.a.org>\n"),
        "Cc: x@new.test (old, comment),\n  y@other.test\n",
        "\nbody joe@b.test\n",
    ] {
        assert!(mbox.contains(want), "missing {:?} in:\n{}", want, mbox);
    }
    inst.stop();
}

/// With `param = spec` (a table that fails), a message is refused with 451 after DATA and
/// cleanup logs `log_text`. The instance is returned stopped.
fn table_error_refuses_the_message(param: &str, spec: &str, log_text: &str) -> Instance {
    let inst = Instance::new(&[]);
    inst.set(param, spec);
    inst.newaliases();
    inst.start();
    let to = inst.local_address();
    let reply = send_raw(&inst, "joe@b.test", &[&to], "Subject: x\n\nx\n.\n");
    assert_eq!(reply, "451 4.3.0 Error: queue file write error");
    assert!(inst.log().contains(log_text), "{}", inst.log());
    inst.stop();
    inst
}

#[test]
fn canonical_table_error_refuses_the_message() {
    let inst = table_error_refuses_the_message(
        "sender_canonical_maps",
        "fail:canonical",
        ": sender_canonical_maps map lookup problem for joe@b.test -- message not accepted, try again later",
    );
    // smtpd's recipient test searches recipient_canonical_maps: a failure answers 451.
    inst.set("recipient_canonical_maps", "fail:rcanonical");
    inst.start();
    let mut c = inst.connect();
    c.reply();
    c.cmd("EHLO mail.b.test");
    c.cmd("MAIL FROM:<joe@b.test>");
    assert_eq!(
        c.cmd("RCPT TO:<nobody@www.a.org>"),
        "451 4.3.0 <nobody@www.a.org>: Temporary lookup failure"
    );
    c.cmd("QUIT");
    inst.stop();
}

#[test]
fn relocated_recipients_are_rejected_at_rcpt_and_bounced_on_delivery() {
    let inst = Instance::new(&[]);
    inst.set("relocated_maps", "inline:{ gone@www.a.org=new@e.test }");
    inst.newaliases();
    inst.start();
    let mut c = inst.connect();
    c.reply();
    c.cmd("EHLO mail.b.test");
    c.cmd("MAIL FROM:<joe@b.test>");
    assert_eq!(
        c.cmd("RCPT TO:<gone@www.a.org>"),
        "550 5.1.6 <gone@www.a.org>: Recipient address rejected: User has moved to new@e.test"
    );
    c.cmd("QUIT");
    inst.stop();

    // Accepted without the recipient test: the resolver bounces it with 5.1.6.
    inst.set("smtpd_reject_unlisted_recipient", "no");
    inst.start();
    let reply = send_raw(&inst, "", &["gone@www.a.org"], "Subject: x\n\nx\n.\n");
    let id = queued_id(&reply);
    assert!(
        wait_for(30, || inst.log().contains(&format!("{}: removed", id))),
        "{}",
        inst.log()
    );
    assert!(
        inst.log()
            .contains(&format!("{id}: to=<gone@www.a.org>, relay=none"))
            && inst
                .log()
                .contains("dsn=5.1.6, status=bounced (User has moved to new@e.test)"),
        "{}",
        inst.log()
    );
    inst.stop();
}

#[test]
fn masquerading_strips_subdomains_except_exceptions() {
    let inst = Instance::new(&[]);
    let user = inst.user.clone();
    inst.set("masquerade_domains", "!keep.b.test, b.test");
    inst.set("masquerade_exceptions", "root");
    inst.newaliases();
    inst.start();
    let to = inst.local_address();
    let msg = "From: Joe <joe@host.b.test>\nSender: root@host.b.test\nReply-To: amy@keep.b.test\nCc: bob@mx.b.test\nSubject: masq\n\nmasq body\n.\n";
    let reply = send_raw(&inst, "joe@host.b.test", &[&to], msg);
    wait_removed(&inst, &reply);
    let mbox = inst.mbox(&user);
    for want in [
        "Return-Path: <joe@b.test>\n",
        "From: Joe <joe@b.test>\n",
        "Sender: root@host.b.test\n",
        "Reply-To: amy@keep.b.test\n",
        "Cc: bob@b.test\n",
        &format!("Delivered-To: {to}\n"),
    ] {
        assert!(mbox.contains(want), "missing {:?} in:\n{}", want, mbox);
    }
    inst.stop();
}

#[test]
fn bcc_copies_are_delivered() {
    let inst = Instance::new(&[]);
    let user = inst.user.clone();
    inst.set("transport_maps", "inline:{ bcc.test=discard:archived }");
    inst.set("sender_bcc_maps", "inline:{ joe@b.test=scopy@bcc.test }");
    inst.set(
        "recipient_bcc_maps",
        "inline:{ to@bcc.test=alias-user@www.a.org }",
    );
    inst.set("always_bcc", "acopy@bcc.test");
    inst.newaliases();
    inst.start();
    let reply = send_raw(
        &inst,
        "joe@b.test",
        &["to@bcc.test"],
        "Subject: bcc\n\nbcc body\n.\n",
    );
    wait_removed(&inst, &reply);
    let id = queued_id(&reply);
    let log = inst.log();
    for to in ["to@bcc.test", "scopy@bcc.test", "acopy@bcc.test"] {
        assert!(
            log.contains(&format!("{id}: to=<{to}>, relay=none"))
                && log.contains("status=sent (archived)"),
            "{to}: {log}"
        );
    }
    assert!(
        log.contains(&format!(
            "{id}: to=<{user}@www.a.org>, orig_to=<alias-user@www.a.org>"
        )),
        "{log}"
    );
    let mbox = inst.mbox(&user);
    assert_eq!(mbox.matches("bcc body").count(), 1, "{mbox}");
    inst.stop();
}

#[test]
fn bcc_table_error_refuses_the_message() {
    table_error_refuses_the_message(
        "recipient_bcc_maps",
        "fail:bcc",
        ": recipient_bcc_maps map lookup problem -- message not accepted, try again later",
    );
}

#[test]
fn header_addresses_get_the_local_or_remote_standard_form() {
    let inst = Instance::new(&[]);
    let user = inst.user.clone();
    inst.newaliases();
    inst.start();
    let to = inst.local_address();
    let msg = "To: amy, bob@host, <carol@x.test>\nSubject: one\n\n.\n";
    // 127.0.0.1 is an interface address: the local context ($myorigin, $mydomain).
    wait_removed(&inst, &send_raw(&inst, "joe@b.test", &[&to], msg));
    inst.stop();
    // Not a local_header_rewrite_clients client: untouched without
    // remote_header_rewrite_domain, completed with it.
    inst.set("local_header_rewrite_clients", "");
    inst.start();
    let msg2 = msg.replace("one", "two");
    wait_removed(&inst, &send_raw(&inst, "joe@b.test", &[&to], &msg2));
    inst.stop();
    inst.set("remote_header_rewrite_domain", "domain.invalid");
    inst.start();
    let msg3 = msg.replace("one", "three");
    wait_removed(&inst, &send_raw(&inst, "joe@b.test", &[&to], &msg3));
    inst.stop();
    let mbox = inst.mbox(&user);
    for want in [
        "To: amy@www.a.org, bob@host.a.org, <carol@x.test>\nSubject: one\n",
        "To: amy, bob@host, <carol@x.test>\nSubject: two\n",
        "To: amy@domain.invalid, bob@host.domain.invalid, <carol@x.test>\nSubject: three\n",
    ] {
        assert!(mbox.contains(want), "missing {:?} in:\n{}", want, mbox);
    }
}

/// always_add_missing_headers: Message-Id:, Date: and From: for a client that is not a
/// local_header_rewrite_clients client; smtpd_client_port_logging names it with its port.
#[test]
fn always_add_missing_headers_and_client_port_logging() {
    let inst = Instance::new(&[
        ("local_header_rewrite_clients", ""),
        ("always_add_missing_headers", "yes"),
        ("smtpd_client_port_logging", "yes"),
    ]);
    let user = inst.user.clone();
    inst.newaliases();
    inst.start();
    let to = inst.local_address();
    wait_removed(
        &inst,
        &send_raw(&inst, "joe@b.test", &[&to], "Subject: bare\n\nhi\n.\n"),
    );
    inst.stop();
    let mbox = inst.mbox(&user);
    for want in ["\nMessage-Id: <", "\nDate: ", "\nFrom: joe@b.test\n"] {
        assert!(mbox.contains(want), "missing {:?} in:\n{}", want, mbox);
    }
    let log = inst.log();
    let connect = log
        .lines()
        .find(|l| l.contains("postfix/smtpd[") && l.contains(": connect from "))
        .unwrap_or_else(|| panic!("{log}"));
    let port = connect.rsplit("]:").next().unwrap_or("");
    assert!(
        connect.contains("connect from localhost[127.0.0.1]:") && port.parse::<u16>().is_ok(),
        "{connect}"
    );
}
