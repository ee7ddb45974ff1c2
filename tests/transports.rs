//! Delivery transports built from master.cf by their command: a copied `smtp` service with
//! its own `-o` overrides relays through a second Postern instance, and a service whose
//! command Postern lacks (spawn) is named in a warning while its mail waits in the queue with
//! Postfix's "mail transport unavailable". Nothing leaves 127.0.0.0/8.

mod common;

use common::{Instance, wait_for};

/// Append master.cf lines to an instance's configuration.
fn add_services(inst: &Instance, lines: &str) {
    let path = inst.etc.join("master.cf");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(lines);
    std::fs::write(&path, text).unwrap();
}

fn send(inst: &Instance, rcpt: &str, body: &str) -> String {
    inst.send(
        &inst.local_address(),
        &[&format!("<{}>", rcpt)],
        "transport test",
        body,
    )
}

fn line_for(log: &str, id: &str, to: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains(&format!("{}: to=<{}>", id, to)))
        .map(str::to_string)
}

#[test]
fn a_copied_smtp_service_delivers_with_its_own_overrides() {
    let b = Instance::new(&[("mydestination", "$myhostname, localhost, b.test")]);
    b.newaliases();
    b.start();
    let a = Instance::new(&[(
        "transport_maps",
        &format!("inline:{{ b.test=smtp-copy:[127.0.0.1]:{} }}", b.port),
    )]);
    add_services(
        &a,
        "smtp-copy unix - - n - 2 smtp\n  -o smtp_helo_name=copy.example\n  -o syslog_name=postfix/$service_name\n",
    );
    a.newaliases();
    a.start();
    let rcpt = format!("{}@b.test", b.user);
    let id = send(&a, &rcpt, "through the copied service");
    assert!(
        wait_for(20, || b
            .mbox(&b.user)
            .contains("through the copied service")),
        "A:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    // B saw the copy's HELO name, in its Received: header.
    let mbox = b.mbox(&b.user);
    assert!(
        mbox.contains("Received: from copy.example (localhost [127.0.0.1])"),
        "{}",
        mbox
    );
    assert!(wait_for(10, || line_for(&a.log(), &id, &rcpt).is_some()));
    let line = line_for(&a.log(), &id, &rcpt).unwrap();
    // Logged by the smtp command under the service's syslog_name, as Postfix does.
    assert!(line.contains(" postfix/smtp-copy/smtp["), "{}", line);
    assert!(
        line.contains(&format!("relay=127.0.0.1[127.0.0.1]:{}, ", b.port))
            && line.contains("status=sent (250 2.0.0 Ok: queued as "),
        "{}",
        line
    );
    assert!(
        !a.log().contains("mail transport unavailable"),
        "{}",
        a.log()
    );
    a.stop();
    b.stop();
}

#[test]
fn a_service_with_an_unsupported_command_warns_and_its_mail_waits() {
    let a = Instance::new(&[
        (
            "transport_maps",
            "inline:{ l.test=policy-out:[127.0.0.1]:24 }",
        ),
        ("minimal_backoff_time", "600s"),
    ]);
    add_services(&a, "policy-out unix - n n - - spawn\n");
    a.newaliases();
    a.start();
    let warning = format!(
        "postfix/master[{}]: warning: {}/master.cf: line 5: service policy-out (unix spawn) is not provided by Postern (unknown to Postern); mail for transport policy-out is deferred (mail transport unavailable)",
        a.pid().unwrap(),
        a.etc.display()
    );
    assert!(a.log().contains(&warning), "{}\n{}", warning, a.log());
    let id = send(&a, "u@l.test", "for a transport Postern lacks");
    assert!(
        wait_for(20, || line_for(&a.log(), &id, "u@l.test").is_some()),
        "{}",
        a.log()
    );
    let line = line_for(&a.log(), &id, "u@l.test").unwrap();
    assert!(
        line.contains(" postfix/qmgr[")
            && line.contains("relay=none, ")
            && line.contains("dsn=4.3.0, status=deferred (mail transport unavailable)"),
        "{}",
        line
    );
    // Kept for a later attempt, not lost.
    assert!(
        wait_for(10, || a
            .queue_files("deferred")
            .iter()
            .any(|f| f.contains(&id))),
        "{:?}",
        a.queue_files("deferred")
    );
    a.stop();
}
