//! The scheduler's memory bounds (issue 13): qmgr_message_active_limit (messages in the
//! active queue) and qmgr_message_recipient_limit (recipients of active messages held in
//! memory), with a deferred queue that is read a slice at a time. The maillog shows each
//! activation (`(queue active)`) and each completion (`removed`); replaying it gives how
//! many messages were active at every activation.

mod common;

use common::{Instance, queued_id, wait_for};

/// Submit `n` messages in one SMTP session, each to `rcpts`; their queue IDs.
fn submit_many(inst: &Instance, n: usize, rcpts: &[String]) -> Vec<String> {
    let mut c = inst.connect();
    c.reply();
    assert!(c.cmd("helo localhost").starts_with("250"));
    let mut ids = Vec::new();
    for i in 0..n {
        assert_eq!(c.cmd("mail from:<sender@remote.test>"), "250 2.1.0 Ok");
        for r in rcpts {
            assert_eq!(c.cmd(&format!("rcpt to:<{}>", r)), "250 2.1.5 Ok");
        }
        ids.push(queued_id(&c.data(&format!("Subject: n{}\n\nbody\n", i))));
    }
    c.cmd("quit");
    ids
}

/// The most messages active at once, replaying the log from `from` on.
fn peak_active(log: &str) -> usize {
    let (mut now, mut peak) = (0usize, 0usize);
    for l in log.lines() {
        if l.contains("(queue active)") {
            now += 1;
            peak = peak.max(now);
        } else if l.contains("postfix/qmgr[") && l.ends_with(": removed") {
            now = now.saturating_sub(1);
        }
    }
    peak
}

/// 50 messages deferred, then the hop comes back with room for only `settings`.
fn deferred_then_flushed(n: usize, rcpts: usize, settings: &[(&str, &str)]) -> (Instance, usize) {
    let inst = Instance::new(&[("defer_transports", "local"), ("recipient_delimiter", "+")]);
    inst.newaliases();
    inst.start();
    let to: Vec<String> = (0..rcpts).map(|i| format!("{}+{}", inst.user, i)).collect();
    let ids = submit_many(&inst, n, &to);
    assert!(
        wait_for(60, || inst.queue_files("deferred").len() == n),
        "{} of {} deferred\n{}",
        inst.queue_files("deferred").len(),
        n,
        inst.log()
    );
    inst.stop();
    let start = inst.log().len();
    inst.set("defer_transports", "");
    for (k, v) in settings {
        inst.set(k, v);
    }
    inst.start();
    let mut most_in_active = 0;
    let f = inst.run("postqueue", &["-f"]);
    assert!(f.status.success());
    assert!(
        wait_for(60, || {
            most_in_active = most_in_active.max(inst.queue_files("active").len());
            inst.log()[start..].matches(": removed").count() >= n
        }),
        "not all delivered:\n{}",
        inst.log()
    );
    let log = inst.log()[start..].to_string();
    for id in &ids {
        assert_eq!(
            log.matches(&format!("{}: removed", id)).count(),
            1,
            "{}",
            id
        );
    }
    assert_eq!(
        inst.mbox(&inst.user).matches("Subject: n").count(),
        n * rcpts,
        "every recipient once"
    );
    assert!(inst.queue_files("deferred").is_empty());
    let peak = peak_active(&log).max(most_in_active);
    (inst, peak)
}

#[test]
fn active_limit_bounds_the_active_queue_and_everything_is_delivered() {
    let (_inst, peak) = deferred_then_flushed(50, 1, &[("qmgr_message_active_limit", "5")]);
    assert!(peak <= 5, "{} messages active at once", peak);
    assert!(
        peak >= 2,
        "the limit, not a lack of work, bounds it: {}",
        peak
    );
}

#[test]
fn recipient_limit_bounds_recipients_in_memory() {
    // 4 recipients a message, at most 10 in memory: a third message may come in while 8
    // are held, a fourth never.
    let (_inst, peak) = deferred_then_flushed(12, 4, &[("qmgr_message_recipient_limit", "10")]);
    assert!(peak <= 3, "{} messages active at once", peak);
}

#[test]
fn a_message_above_the_recipient_limit_is_still_delivered() {
    let (_inst, peak) = deferred_then_flushed(3, 6, &[("qmgr_message_recipient_limit", "4")]);
    assert_eq!(peak, 1, "one at a time");
}
