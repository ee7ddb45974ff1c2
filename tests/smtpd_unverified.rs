//! Address verification through the started system: reject_unverified_recipient and
//! reject_unverified_sender send a probe that the scheduler routes and local(8) checks
//! (aliases and accounts) without delivering; the result lands in the verification cache
//! that every listener shares. Checked: the `Address verification in progress` deferral, a
//! deliverable address passing, an undeliverable one refused (with the default 450 as
//! `unverified address: WHY`, as Postfix 2.10; with a 5xx unverified_*_reject_code as
//! `undeliverable address`, and unverified_*_reject_reason), the null sender never probed,
//! defer_if_permit letting a later reject win, and the probe's own log lines (from the
//! $double_bounce_sender, `status=deliverable` / `undeliverable`, then removed; nothing
//! delivered, nothing left in the queue).

mod common;
#[path = "common/inproc.rs"]
mod inproc;
#[path = "smtp_client/server.rs"]
mod server;

use common::{Client, Instance, free_port, wait_for};

/// The RCPT reply for `rcpt` after MAIL FROM `sender`, on a fresh connection to `port`.
fn rcpt_reply(port: u16, sender: &str, rcpt: &str) -> String {
    let mut c = Client::connect(port);
    c.reply();
    c.cmd("EHLO client.test");
    let mail = c.cmd(&format!("MAIL FROM:<{sender}>"));
    assert_eq!(mail, "250 2.1.0 Ok");
    let reply = c.cmd(&format!("RCPT TO:<{rcpt}>"));
    c.cmd("QUIT");
    reply
}

/// Ask until the probe has answered (a client retrying later, as after a 450).
fn settled(port: u16, sender: &str, rcpt: &str) -> String {
    let mut last = String::new();
    let done = wait_for(30, || {
        last = rcpt_reply(port, sender, rcpt);
        !last.contains("Address verification in progress")
    });
    assert!(done, "still in progress: {last}");
    last
}

#[test]
fn recipients_and_senders_are_verified_by_probes() {
    let (once, coded, at_once) = (free_port(), free_port(), free_port());
    let inst = Instance::new(&[
        (
            "smtpd_recipient_restrictions",
            "reject_unverified_recipient, reject_unauth_destination",
        ),
        ("smtpd_sender_restrictions", "reject_unverified_sender"),
        ("smtpd_relay_restrictions", ""),
        // smtpd's own table test would refuse unknown local users first.
        ("local_recipient_maps", ""),
        ("address_verify_poll_delay", "1s"),
    ]);
    let mut master = std::fs::read_to_string(inst.etc.join("master.cf")).unwrap();
    master.push_str(&format!(
        "127.0.0.1:{once} inet n - n - - smtpd -o address_verify_poll_count=1\n\
         127.0.0.1:{coded} inet n - n - - smtpd -o address_verify_poll_count=1 \
         -o unverified_recipient_reject_code=550 \
         -o unverified_recipient_reject_reason=Gone -o smtpd_recipient_restrictions=reject_unverified_recipient,reject\n\
         127.0.0.1:{at_once} inet n - n - - smtpd -o address_verify_poll_count=1 \
         -o unverified_recipient_tempfail_action=defer \
         -o smtpd_recipient_restrictions=reject_unverified_recipient,reject\n"
    ));
    std::fs::write(inst.etc.join("master.cf"), master).unwrap();
    inst.newaliases();
    inst.start();
    let me = inst.local_address();
    let nosuch = "nosuch-user@www.a.org";

    // One poll: the first answer for a new address is the deferral.
    assert_eq!(
        rcpt_reply(once, "", nosuch),
        format!(
            "450 4.1.1 <{nosuch}>: Recipient address rejected: unverified address: Address verification in progress"
        )
    );
    assert_eq!(
        settled(inst.port, "", nosuch),
        format!(
            "450 4.1.1 <{nosuch}>: Recipient address rejected: unverified address: unknown user: \"nosuch-user\""
        ),
        "{}",
        inst.log()
    );
    assert_eq!(
        settled(inst.port, "", &me),
        "250 2.1.5 Ok",
        "{}",
        inst.log()
    );
    // The cache is shared: another listener knows at once, with its own code and reason.
    assert_eq!(
        rcpt_reply(coded, "", nosuch),
        format!("550 5.1.1 <{nosuch}>: Recipient address rejected: undeliverable address: Gone")
    );
    // A deferral (not known yet: one poll) is DEFER_IF_PERMIT: a later reject wins.
    assert_eq!(
        rcpt_reply(coded, "", "fresh-user@www.a.org"),
        "554 5.7.1 <fresh-user@www.a.org>: Recipient address rejected: Access denied"
    );
    // unverified_recipient_tempfail_action = defer: the deferral at once.
    assert_eq!(
        rcpt_reply(at_once, "", "fresh2-user@www.a.org"),
        "450 4.1.1 <fresh2-user@www.a.org>: Recipient address rejected: unverified address: Address verification in progress"
    );
    // The sender, verified at RCPT (smtpd_delay_reject).
    assert_eq!(
        settled(inst.port, "gone-sender@www.a.org", &me),
        "450 4.1.7 <gone-sender@www.a.org>: Sender address rejected: unverified address: unknown user: \"gone-sender\"",
        "{}",
        inst.log()
    );
    assert_eq!(settled(inst.port, &me, &me), "250 2.1.5 Ok");

    let log = inst.log();
    for line in [
        "from=<double-bounce@www.a.org>, size=".to_string(),
        format!("to=<{me}>, relay=local, delay="),
        "status=deliverable (delivers to mailbox)".into(),
        "status=undeliverable (unknown user: \"nosuch-user\")".into(),
    ] {
        assert!(log.contains(&line), "{line}\n{log}");
    }
    assert!(
        !log.contains("status=sent"),
        "a probe delivers nothing: {log}"
    );
    assert!(
        wait_for(20, || inst.run("postqueue", &["-p"]).stdout
            == b"Mail queue is empty\n"),
        "probes are removed: {}",
        String::from_utf8_lossy(&inst.run("postqueue", &["-p"]).stdout)
    );
    assert!(inst.mbox(&inst.user).is_empty());
}

/// An smtpd without the master's cache (as the stand-alone server): Postfix's answer when
/// verify(8) cannot be reached.
#[test]
fn without_a_verification_cache_the_answer_is_a_deferral() {
    let s = inproc::Server::builder()
        .set(&[(
            "smtpd_recipient_restrictions",
            "reject_unverified_recipient, reject_unauth_destination",
        )])
        .start();
    let out = s.talk(&[
        "EHLO c.b.test",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<root@www.a.org>",
    ]);
    assert_eq!(
        out[3],
        "450 4.1.1 <root@www.a.org>: Recipient address rejected: address verification problem"
    );
    inproc::assert_logged("warning: verify service failure");
}

/// A relay domain's recipients are verified by the SMTP client asking the next hop (a
/// scripted server): its RCPT TO reply decides, and no DATA is ever sent.
#[test]
fn relay_recipients_are_verified_at_the_next_hop() {
    let mut script = server::Script::default();
    script.rcpt.insert(
        "gone@remote.test".into(),
        "550 5.1.1 <gone@remote.test>: Recipient address rejected: User unknown".into(),
    );
    let srv = server::start(script);
    let inst = Instance::new(&[
        ("relay_domains", "remote.test"),
        (
            "transport_maps",
            &format!("inline:{{ remote.test=smtp:[127.0.0.1]:{} }}", srv.port),
        ),
        (
            "smtpd_recipient_restrictions",
            "reject_unverified_recipient, permit_auth_destination, reject",
        ),
        ("smtpd_relay_restrictions", ""),
        ("unverified_recipient_reject_code", "550"),
        ("address_verify_poll_delay", "1s"),
    ]);
    inst.newaliases();
    inst.start();
    assert_eq!(
        settled(inst.port, "", "gone@remote.test"),
        "550 5.1.1 <gone@remote.test>: Recipient address rejected: undeliverable address: host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <gone@remote.test>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
        "{}",
        inst.log()
    );
    assert_eq!(
        settled(inst.port, "", "here@remote.test"),
        "250 2.1.5 Ok",
        "{}",
        inst.log()
    );
    assert!(
        inst.log().contains("status=deliverable (250 2.1.5 Ok)"),
        "{}",
        inst.log()
    );
    let seen = srv.seen();
    assert!(seen.data.is_empty(), "{:?}", seen.cmds());
    assert!(!seen.cmds().iter().any(|c| c.ends_with(":DATA")));
}

/// A probe that can only be deferred (defer_transports): the address is not known, and the
/// client gets unverified_recipient_defer_code with the reason.
#[test]
fn a_deferred_probe_gives_the_defer_code() {
    let inst = Instance::new(&[
        ("relay_domains", "held.test"),
        ("defer_transports", "relay"),
        (
            "smtpd_recipient_restrictions",
            "reject_unverified_recipient, permit_auth_destination, reject",
        ),
        ("smtpd_relay_restrictions", ""),
        ("unverified_recipient_defer_code", "451"),
        ("address_verify_poll_delay", "1s"),
    ]);
    inst.newaliases();
    inst.start();
    assert_eq!(
        settled(inst.port, "", "x@held.test"),
        "451 4.1.1 <x@held.test>: Recipient address rejected: unverified address: deferred transport",
        "{}",
        inst.log()
    );
    assert!(
        wait_for(20, || inst.run("postqueue", &["-p"]).stdout
            == b"Mail queue is empty\n"),
        "a deferred probe is removed, not retried"
    );
}

/// Without the negative cache a failed probe is not kept (logged as Postfix logs it), so
/// the address stays unverified.
#[test]
fn without_the_negative_cache_failures_are_not_kept() {
    let inst = Instance::new(&[
        (
            "smtpd_recipient_restrictions",
            "reject_unverified_recipient, reject_unauth_destination",
        ),
        ("smtpd_relay_restrictions", ""),
        ("local_recipient_maps", ""),
        ("address_verify_negative_cache", "no"),
        ("address_verify_poll_count", "1"),
    ]);
    inst.newaliases();
    inst.start();
    let nosuch = "nosuch-user@www.a.org";
    let in_progress = format!(
        "450 4.1.1 <{nosuch}>: Recipient address rejected: unverified address: Address verification in progress"
    );
    assert_eq!(rcpt_reply(inst.port, "", nosuch), in_progress);
    assert!(
        wait_for(20, || inst.log().contains(
            "status=undeliverable-but-not-cached (unknown user: \"nosuch-user\")"
        )),
        "{}",
        inst.log()
    );
    assert_eq!(rcpt_reply(inst.port, "", nosuch), in_progress);
}
