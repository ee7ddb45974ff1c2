//! local(8) handing recipients to other transports through a running instance:
//! mailbox_transport (to a second Postern over SMTP), mailbox_transport_maps (error),
//! fallback_transport (discard), luser_relay, and a transport that passes back (a loop).
//! The final agent logs each delivery with its own `relay=`. Nothing leaves 127.0.0.0/8.

mod common;

use common::{Instance, wait_for};

/// The services the tests pass to.
fn add_services(inst: &Instance) {
    let path = inst.etc.join("master.cf");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "smtp unix - - n - - smtp\ndiscard unix - - n - - discard\nerror unix - - n - - error\n",
    );
    std::fs::write(&path, text).unwrap();
}

#[test]
fn mailbox_transport_hands_mailbox_mail_to_another_transport() {
    let b = Instance::new(&[]);
    b.newaliases();
    b.start();
    let a = Instance::new(&[("mailbox_transport", &format!("smtp:[127.0.0.1]:{}", b.port))]);
    add_services(&a);
    a.newaliases();
    a.start();
    // alias-user is an alias of the test user: aliases first, then the hand-over.
    let id = a.send("s@w.com", &["<alias-user@www.a.org>"], "passed", "to b");
    let line = a.wait_log(&format!("{}: to=<{}>", id, a.local_address()));
    assert!(
        line.contains(" postfix/smtp[")
            && line.contains(&format!(
                "orig_to=<alias-user@www.a.org>, relay=127.0.0.1[127.0.0.1]:{}, ",
                b.port
            ))
            && line.contains("status=sent (250 2.0.0 Ok: queued as "),
        "{}",
        line
    );
    assert!(
        wait_for(20, || b.mbox(&b.user).contains("to b")),
        "{}",
        b.log()
    );
    assert!(a.mbox(&a.user).is_empty(), "nothing in A's mailbox");
    assert!(!a.log().contains("relay=local"), "{}", a.log());
    a.wait_log(&format!("{}: removed", id));
    a.stop();
    b.stop();
}

#[test]
fn mailbox_transport_maps_win_per_user() {
    let a = Instance::new(&[("mailbox_transport", "discard:should not be used")]);
    add_services(&a);
    let map = a.etc.join("mbtransport");
    std::fs::write(&map, format!("{} error:5.2.1 mailbox disabled\n", a.user)).unwrap();
    assert!(a.run("postmap", &[map.to_str().unwrap()]).status.success());
    a.set("mailbox_transport_maps", &format!("hash:{}", map.display()));
    a.newaliases();
    a.start();
    let id = a.send("s@w.com", &[&format!("<{}>", a.local_address())], "m", "x");
    let line = a.wait_log(&format!("{}: to=<{}>", id, a.local_address()));
    assert!(
        line.contains(" postfix/error[")
            && line.contains("relay=none, ")
            && line.ends_with("dsn=5.2.1, status=bounced (mailbox disabled)"),
        "{}",
        line
    );
    // A table that cannot be read defers (never the mailbox, never $mailbox_transport).
    std::fs::remove_file(a.etc.join("mbtransport.db")).unwrap();
    let id = a.send("s@w.com", &[&format!("<{}>", a.local_address())], "m2", "x");
    let line = a.wait_log(&format!("{}: to=<{}>", id, a.local_address()));
    assert!(
        line.contains("relay=local, ")
            && line.ends_with("dsn=4.3.0, status=deferred (table lookup failure)"),
        "{}",
        line
    );
    a.stop();
}

#[test]
fn fallback_transport_takes_unknown_users() {
    let a = Instance::new(&[
        ("local_recipient_maps", ""),
        ("fallback_transport", "discard:kept for nobody"),
    ]);
    add_services(&a);
    a.newaliases();
    a.start();
    let id = a.send("s@w.com", &["<no-such-user@www.a.org>"], "u", "x");
    let line = a.wait_log(&format!("{}: to=<no-such-user@www.a.org>", id));
    assert!(
        line.contains(" postfix/discard[")
            && line.ends_with("dsn=2.0.0, status=sent (kept for nobody)"),
        "{}",
        line
    );
    // Known users still get their mailbox.
    a.send(
        "s@w.com",
        &[&format!("<{}>", a.local_address())],
        "k",
        "known",
    );
    assert!(
        wait_for(20, || a.mbox(&a.user).contains("known")),
        "{}",
        a.log()
    );
    a.stop();
}

#[test]
fn luser_relay_receives_unknown_users_with_expansion() {
    let a = Instance::new(&[("local_recipient_maps", ""), ("recipient_delimiter", "+")]);
    a.set("luser_relay", &format!("{}+$user", a.user));
    a.newaliases();
    a.start();
    let id = a.send("s@w.com", &["<Lost.Soul@www.a.org>"], "l", "for the relay");
    let line = a.wait_log(&format!("{}: to=<{}+lost.soul@www.a.org>", id, a.user));
    assert!(
        line.contains("orig_to=<Lost.Soul@www.a.org>, relay=local, ")
            && line.ends_with("status=sent (delivered to mailbox)"),
        "{}",
        line
    );
    let mbox = a.mbox(&a.user);
    assert!(mbox.contains("for the relay"), "{}", mbox);
    assert!(
        mbox.contains(&format!("Delivered-To: {}+lost.soul@www.a.org", a.user)),
        "{}",
        mbox
    );
    a.stop();
}

#[test]
fn a_transport_that_passes_back_is_a_configuration_error() {
    let a = Instance::new(&[("mailbox_transport", "local")]);
    a.newaliases();
    a.start();
    let id = a.send(
        "s@w.com",
        &[&format!("<{}>", a.local_address())],
        "loop",
        "x",
    );
    let line = a.wait_log(&format!("{}: to=<{}>", id, a.local_address()));
    assert!(
        line.ends_with("dsn=4.3.5, status=deferred (mail system configuration error)"),
        "{}",
        line
    );
    assert!(a.mbox(&a.user).is_empty());
    a.stop();
}
