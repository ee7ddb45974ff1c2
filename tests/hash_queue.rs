//! hash_queue_names / hash_queue_depth (issue 13): files of hashed queues live in
//! subdirectories named by the first characters of the queue ID, as Postfix puts them;
//! changing the settings (or upgrading from a flat spool) and restarting keeps every message
//! deliverable, listed by mailq, found by postsuper and postcat -q; postfix check names files
//! that a start will move.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{Instance, queued_id, wait_for};

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn submit(inst: &Instance, subject: &str) -> String {
    let mut c = inst.connect();
    c.reply();
    assert!(c.cmd("helo localhost").starts_with("250"));
    assert_eq!(c.cmd("mail from:<sender@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd(&format!("rcpt to:<{}>", inst.user)), "250 2.1.5 Ok");
    let r = c.data(&format!("Subject: {}\n\nbody\n", subject));
    c.cmd("quit");
    queued_id(&r)
}

/// Where Postfix puts `id` in directory `dir` at `depth` (0: flat).
fn hashed(inst: &Instance, dir: &str, id: &str, depth: usize) -> PathBuf {
    let mut p = inst.spool.join(dir);
    for c in id.chars().take(depth) {
        p.push(c.to_string());
    }
    p.join(id)
}

fn restart(inst: &Instance, names: &str, depth: &str) {
    inst.stop();
    inst.set("hash_queue_names", names);
    inst.set("hash_queue_depth", depth);
    inst.start();
}

/// mailq lists exactly these IDs (with `!` for held ones).
fn assert_listed(inst: &Instance, ids: &[&str]) {
    let p = inst.run("postqueue", &["-p"]);
    assert!(p.status.success(), "{}", err(&p));
    let text = out(&p);
    for id in ids {
        assert!(
            text.lines().any(|l| l.starts_with(id)),
            "{} not listed:\n{}",
            id,
            text
        );
    }
    let plural = if ids.len() == 1 { "" } else { "s" };
    assert!(
        text.ends_with(&format!("in {} Request{}.\n", ids.len(), plural)),
        "{}",
        text
    );
}

#[test]
fn changing_hash_settings_and_restarting_keeps_every_message() {
    // An older Postern's flat spool: nothing hashed.
    let inst = Instance::new(&[("defer_transports", "local"), ("hash_queue_names", "")]);
    inst.newaliases();
    inst.start();
    let ids: Vec<String> = (0..4).map(|n| submit(&inst, &format!("m{}", n))).collect();
    assert!(
        wait_for(20, || ids
            .iter()
            .all(|id| hashed(&inst, "deferred", id, 0).exists()
                && hashed(&inst, "defer", id, 0).exists())),
        "{}",
        inst.log()
    );
    let h = inst.run("postsuper", &["-h", &ids[3]]);
    assert!(h.status.success(), "{}", err(&h));

    // Postfix's default (deferred, defer at depth 1): start moves the files.
    restart(&inst, "deferred, defer", "1");
    for id in &ids[..3] {
        assert!(hashed(&inst, "deferred", id, 1).exists(), "{}", id);
        assert!(hashed(&inst, "defer", id, 1).exists(), "{}", id);
        assert!(!hashed(&inst, "deferred", id, 0).exists());
    }
    assert!(hashed(&inst, "hold", &ids[3], 0).exists());
    assert!(
        inst.log()
            .contains("moved 7 queue file(s) to match hash_queue_names")
    );
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_listed(&inst, &refs);

    // Deeper, and incoming, active and hold hashed too.
    restart(&inst, "incoming, active, deferred, defer, hold", "2");
    for id in &ids[..3] {
        assert!(hashed(&inst, "deferred", id, 2).exists(), "{}", id);
        assert!(hashed(&inst, "defer", id, 2).exists(), "{}", id);
    }
    assert!(hashed(&inst, "hold", &ids[3], 2).exists());
    assert_listed(&inst, &refs);
    let cat = inst.run("postcat", &["-q", &ids[0]]);
    assert!(
        cat.status.success() && out(&cat).contains("Subject: m0"),
        "{}{}",
        out(&cat),
        err(&cat)
    );
    let d = inst.run("postsuper", &["-d", &ids[1]]);
    assert_eq!(
        err(&d),
        format!(
            "postsuper: {}: removed\npostsuper: Deleted: 1 message\n",
            ids[1]
        )
    );
    assert!(!hashed(&inst, "deferred", &ids[1], 2).exists());
    assert!(!hashed(&inst, "defer", &ids[1], 2).exists());

    // The next hop comes back: every remaining message, released and new mail included,
    // is delivered through the hashed incoming/ and active/.
    inst.stop();
    inst.set("defer_transports", "");
    inst.start();
    let r = inst.run("postsuper", &["-H", &ids[3]]);
    assert!(r.status.success(), "{}", err(&r));
    let f = inst.run("postqueue", &["-f"]);
    assert!(f.status.success(), "{}", err(&f));
    let new = submit(&inst, "fresh");
    for id in [&ids[0], &ids[2], &ids[3], &new] {
        inst.wait_log(&format!("{}: removed", id));
    }
    let mbox = inst.mbox(&inst.user);
    for s in [
        "Subject: m0",
        "Subject: m2",
        "Subject: m3",
        "Subject: fresh",
    ] {
        assert_eq!(mbox.matches(s).count(), 1, "{}\n{}", s, mbox);
    }
    assert!(!mbox.contains("Subject: m1"));
    assert_eq!(
        out(&inst.run("postqueue", &["-p"])),
        "Mail queue is empty\n"
    );
}

#[test]
fn back_to_flat_and_postfix_check_names_misplaced_files() {
    let inst = Instance::new(&[("defer_transports", "local")]);
    inst.newaliases();
    inst.start();
    let a = submit(&inst, "a");
    assert!(
        wait_for(20, || hashed(&inst, "deferred", &a, 1).exists()
            && hashed(&inst, "defer", &a, 1).exists()),
        "{}",
        inst.log()
    );
    inst.stop();
    inst.set("hash_queue_names", "");
    let c = inst.postfix(&["check"]);
    assert!(c.status.success(), "{}", err(&c));
    assert!(
        err(&c).contains("2 queue file(s) not where hash_queue_names and hash_queue_depth put them (fix: postfix start moves them)"),
        "{}",
        err(&c)
    );
    // Until then the tools still find the message where it is.
    let cat = inst.run("postcat", &["-q", &a]);
    assert!(out(&cat).contains("Subject: a"), "{}", err(&cat));
    inst.start();
    assert!(hashed(&inst, "deferred", &a, 0).exists());
    assert!(hashed(&inst, "defer", &a, 0).exists());
    let c = inst.postfix(&["check"]);
    assert!(
        !err(&c).contains("not where hash_queue_names"),
        "{}",
        err(&c)
    );
    assert_listed(&inst, &[&a]);

    // A name Postern cannot hash is warned about and stays flat.
    inst.stop();
    inst.set("hash_queue_names", "maildrop, deferred");
    let c = inst.postfix(&["check"]);
    assert!(
        err(&c).contains("hash_queue_names: maildrop is not hashed by Postern; it stays flat"),
        "{}",
        err(&c)
    );
}
