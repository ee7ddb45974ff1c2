//! Local delivery faults through the real server, checked in the maillog as Postfix writes
//! them: a file alias that can never be written and an alias loop bounce at once (5.2.0,
//! 5.4.6 with `warning: alias database loop for NAME`); a mailbox dot-lock left by a dead
//! process is broken at once, one held by a live process defers the delivery.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Instance, wait_for};

/// The maillog line that ends the delivery of `id` with `status=`, once there is one.
fn delivery_line(inst: &Instance, id: &str, status: &str) -> Option<String> {
    let prefix = format!(": {}: to=<", id);
    let status = format!(", status={} (", status);
    inst.log()
        .lines()
        .find(|l| l.contains(&prefix) && l.contains(&status))
        .map(str::to_string)
}

/// Wait for the delivery line of `id` with `status`; the text from ` to=<` on, with the
/// delay figures (which vary) cut out.
fn wait_line(inst: &Instance, id: &str, status: &str) -> String {
    let mut line = None;
    let found = wait_for(30, || {
        line = delivery_line(inst, id, status);
        line.is_some()
    });
    assert!(
        found,
        "no status={} line for {}:\n{}",
        status,
        id,
        inst.log()
    );
    let line = line.unwrap_or_default();
    let start = line.find(" to=<").unwrap_or(0);
    let line = &line[start..];
    match (line.find(", delay="), line.find(", dsn=")) {
        (Some(a), Some(b)) => format!("{}{}", &line[..a], &line[b..]),
        _ => line.to_string(),
    }
}

#[test]
fn unwritable_file_and_alias_loop_bounce_at_once() {
    let inst = Instance::new(&[]);
    // A file nobody but root may write: the delivery runs as the test user (not root) or,
    // as root, as $default_privs (the alias database is root's), and is refused.
    let target = inst.dir.join("readonly");
    std::fs::write(&target, b"").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o444)).unwrap();
    let aliases = inst.etc.join("aliases");
    let mut text = std::fs::read_to_string(&aliases).unwrap();
    text.push_str(&format!(
        "tofile: {}\nloopa: loopb\nloopb: loopa\n",
        target.display()
    ));
    std::fs::write(&aliases, text).unwrap();
    inst.newaliases();
    inst.start();
    let file_id = inst.send("s@x.test", &["<tofile@www.a.org>"], "file", "x");
    assert_eq!(
        wait_line(&inst, &file_id, "bounced"),
        format!(
            " to=<tofile@www.a.org>, relay=local, dsn=5.2.0, status=bounced (cannot append message to file {}: cannot open file: Permission denied)",
            target.display()
        )
    );
    let loop_id = inst.send("s@x.test", &["<loopa@www.a.org>"], "loop", "x");
    assert_eq!(
        wait_line(&inst, &loop_id, "bounced"),
        " to=<loopb@www.a.org>, orig_to=<loopa@www.a.org>, relay=local, dsn=5.4.6, status=bounced (alias database loop for loopb)"
    );
    let log = inst.log();
    assert!(
        log.lines().any(|l| l.contains("postfix/local[")
            && l.ends_with(": warning: alias database loop for loopb")),
        "{}",
        log
    );
    // Neither is retried: both messages are gone from the queue once bounced.
    for id in [&file_id, &loop_id] {
        assert!(
            wait_for(30, || inst.log().contains(&format!(": {}: removed", id))),
            "{} not removed:\n{}",
            id,
            inst.log()
        );
    }
    assert!(inst.queue_files("deferred").is_empty());
    assert_eq!(std::fs::read(&target).unwrap(), b"");
    inst.stop();
}

#[test]
fn dotlock_of_a_dead_process_is_broken_and_a_live_one_defers() {
    // One lock attempt, and stale_lock_time at its default (500s): a lock that is not
    // broken for its dead owner would defer the delivery.
    let inst = Instance::new(&[("deliver_lock_attempts", "1")]);
    inst.newaliases();
    inst.start();
    let me = inst.local_address();
    let mbox = inst.mail.join(&inst.user);
    let lock = inst.mail.join(format!("{}.lock", inst.user));
    let host = postern::sys::hostname();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(&lock, format!("{}:{}\n", dead, host)).unwrap();
    let id = inst.send("s@x.test", &[&format!("<{}>", me)], "after a crash", "x");
    assert_eq!(
        wait_line(&inst, &id, "sent"),
        format!(
            " to=<{}>, relay=local, dsn=2.0.0, status=sent (delivered to mailbox)",
            me
        )
    );
    assert!(!lock.exists());
    assert!(inst.mbox(&inst.user).contains("Subject: after a crash\n"));
    // A lock of a live process (this test) on this host is respected.
    std::fs::write(&lock, format!("{}:{}\n", std::process::id(), host)).unwrap();
    let id = inst.send("s@x.test", &[&format!("<{}>", me)], "while locked", "x");
    assert_eq!(
        wait_line(&inst, &id, "deferred"),
        format!(
            " to=<{me}>, relay=local, dsn=4.2.0, status=deferred (cannot update mailbox {m} for user {u}. unable to create lock file {m}.lock: File exists)",
            me = me,
            m = mbox.display(),
            u = inst.user
        )
    );
    assert!(!inst.mbox(&inst.user).contains("Subject: while locked\n"));
    std::fs::remove_file(&lock).unwrap();
    inst.stop();
}
