//! Queue tools against a running instance: postqueue -p/-j/-f/-i, mailq and sendmail -bp/-q,
//! postsuper -d/-h/-H/-r on deferred and active messages, -s and -p, and bad input.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use common::{Instance, bin, queued_id, wait_for};
use postern::log::timefmt;
use postern::queue::QueueFile;

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Submit one message over SMTP; returns its queue ID.
fn submit(inst: &Instance, rcpts: &[&str]) -> String {
    let mut c = inst.connect();
    c.reply();
    assert!(c.cmd("helo localhost").starts_with("250"));
    assert_eq!(c.cmd("mail from:<sender@remote.test>"), "250 2.1.0 Ok");
    for r in rcpts {
        assert_eq!(c.cmd(&format!("rcpt to:<{}>", r)), "250 2.1.5 Ok");
    }
    let r = c.data("Subject: queued\n\nbody\n");
    c.cmd("quit");
    queued_id(&r)
}

fn deferred_instance(extra: &[(&str, &str)]) -> Instance {
    let mut settings = vec![("defer_transports", "local")];
    settings.extend_from_slice(extra);
    let inst = Instance::new(&settings);
    inst.newaliases();
    inst.start();
    inst
}

fn wait_deferred(inst: &Instance, ids: &[&str]) {
    assert!(
        wait_for(20, || ids.iter().all(|id| {
            inst.queue_files("deferred").iter().any(|f| f == id)
                && inst.queue_path("defer", id).exists()
        })),
        "not deferred: {:?}\n{}",
        ids,
        inst.log()
    );
}

/// The mailq entry lines Postfix prints for a message, built field by field.
fn entry(inst: &Instance, queue: &str, id: &str, mark: &str, reason: Option<&str>) -> Vec<String> {
    let qf = QueueFile::open_read_only(&inst.queue_path(queue, id)).unwrap();
    let secs = qf
        .envelope
        .arrival
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let when = &timefmt::asctime(secs)[..19];
    let mut lines = vec![format!(
        "{:<11} {:>7} {}  {}",
        format!("{}{}", id, mark),
        qf.content_len(),
        when,
        qf.envelope.sender
    )];
    if let Some(r) = reason {
        lines.push(format!("{}({})", " ".repeat(76 - r.len()), r));
    }
    for (_, r) in qf.pending() {
        lines.push(format!("{}{}", " ".repeat(41), r.address));
    }
    lines
}

const HEADER: &str = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------";

#[test]
fn mailq_layout_hold_json_and_sendmail_bp() {
    let inst = deferred_instance(&[]);
    let p = inst.run("postqueue", &["-p"]);
    assert_eq!(
        (p.status.code(), out(&p).as_str()),
        (Some(0), "Mail queue is empty\n")
    );

    let user = inst.user.clone();
    let a = submit(&inst, &[&user, "alias-user"]);
    let b = submit(&inst, &[&user]);
    wait_deferred(&inst, &[&a, &b]);
    let mut ids = [a.clone(), b.clone()];
    ids.sort();
    let mut want = vec![HEADER.to_string()];
    let mut total = 0;
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            want.push(String::new());
        }
        want.extend(entry(&inst, "deferred", id, "", Some("deferred transport")));
        total += QueueFile::open_read_only(&inst.queue_path("deferred", id))
            .unwrap()
            .content_len();
    }
    want.push(String::new());
    want.push(format!("-- {} Kbytes in 2 Requests.", total / 1024));
    let p = inst.run("postqueue", &["-p"]);
    assert!(p.status.success(), "{}", err(&p));
    let got: Vec<String> = out(&p).lines().map(String::from).collect();
    assert_eq!(got, want);

    // sendmail -bp and the name mailq print the same listing.
    let bp = Command::new(bin("sendmail"))
        .args(["-C", inst.etc.to_str().unwrap(), "-bp"])
        .output()
        .unwrap();
    assert_eq!(out(&bp), out(&p), "{}", err(&bp));
    let mailq = inst.dir.join("mailq");
    std::os::unix::fs::symlink(bin("sendmail"), &mailq).unwrap();
    let mq = Command::new(&mailq)
        .args(["-C", inst.etc.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out(&mq), out(&p), "{}", err(&mq));

    // On hold: listed first with "!".
    let h = inst.run("postsuper", &["-h", &b]);
    assert!(h.status.success(), "{}", err(&h));
    assert_eq!(
        err(&h),
        format!(
            "postsuper: {}: placed on hold\npostsuper: Placed on hold: 1 message\n",
            b
        )
    );
    let p = inst.run("postqueue", &["-p"]);
    let got: Vec<String> = out(&p).lines().map(String::from).collect();
    let mut want = vec![HEADER.to_string()];
    want.extend(entry(&inst, "hold", &b, "!", Some("deferred transport")));
    want.push(String::new());
    want.extend(entry(&inst, "deferred", &a, "", Some("deferred transport")));
    want.push(String::new());
    want.push(format!("-- {} Kbytes in 2 Requests.", total / 1024));
    assert_eq!(got, want);

    // -j: one object per message, parsed back.
    let j = inst.run("postqueue", &["-j"]);
    let lines: Vec<String> = out(&j).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{}", out(&j));
    assert!(lines[0].starts_with(&format!(
        "{{\"queue_name\": \"hold\", \"queue_id\": \"{}\", \"arrival_time\": ",
        b
    )));
    assert!(lines[1].contains(&format!("\"queue_id\": \"{}\"", a)));
    assert!(lines[1].contains(&format!(
        "\"recipients\": [{{\"address\": \"{u}@www.a.org\", \"delay_reason\": \"deferred transport\"}}",
        u = user
    )));
    assert!(lines[1].contains("\"sender\": \"sender@remote.test\""));
    for l in &lines {
        assert!(l.starts_with('{') && l.ends_with("]}"), "{}", l);
        assert_eq!(l.matches('"').count() % 2, 0);
    }
    inst.stop();

    // Down: root reads the spool directly, with Postfix's warning.
    let p = inst.run("postqueue", &["-p"]);
    assert_eq!(
        err(&p),
        "postqueue: warning: Mail system is down -- accessing queue directly\n"
    );
    assert_eq!(out(&p).lines().count(), want.len());
    let f = inst.run("postqueue", &["-f"]);
    assert_eq!(f.status.code(), Some(69));
    assert_eq!(
        err(&f),
        "postqueue: fatal: Cannot flush mail queue - mail system is down\n"
    );
}

#[test]
fn flush_one_and_all_after_reload() {
    let inst = deferred_instance(&[]);
    let user = inst.user.clone();
    let a = submit(&inst, &[&user]);
    let b = submit(&inst, &[&user]);
    let c = submit(&inst, &[&user]);
    wait_deferred(&inst, &[&a, &b, &c]);
    inst.set("defer_transports", "");
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(wait_for(10, || inst.log().contains("reload -- version")));
    let i = inst.run("postqueue", &["-i", &a]);
    assert!(i.status.success(), "{}", err(&i));
    assert!(
        wait_for(20, || inst.log().contains(&format!("{}: removed", a))),
        "{}",
        inst.log()
    );
    assert!(
        inst.queue_files("deferred").contains(&b),
        "only -i's message"
    );
    let q = Command::new(bin("sendmail"))
        .args(["-C", inst.etc.to_str().unwrap(), "-qRwww.a.org"])
        .output()
        .unwrap();
    assert!(q.status.success(), "{}", err(&q));
    assert!(
        wait_for(20, || inst.log().contains(&format!("{}: removed", b))),
        "{}",
        inst.log()
    );
    let f = inst.run("postqueue", &["-f"]);
    assert!(f.status.success(), "{}", err(&f));
    assert!(wait_for(20, || inst
        .log()
        .contains(&format!("{}: removed", c))));
    assert_eq!(
        out(&inst.run("postqueue", &["-p"])),
        "Mail queue is empty\n"
    );
    let bad = inst.run("postqueue", &["-i", "../x"]);
    assert_eq!(bad.status.code(), Some(64));
    let bad = inst.run("postqueue", &["-p", "-f"]);
    assert_eq!(bad.status.code(), Some(64));
}

#[test]
fn postsuper_on_deferred_messages_and_bad_input() {
    let inst = deferred_instance(&[]);
    let user = inst.user.clone();
    let a = submit(&inst, &[&user]);
    let b = submit(&inst, &[&user]);
    let c = submit(&inst, &[&user]);
    wait_deferred(&inst, &[&a, &b, &c]);

    let d = inst.run("postsuper", &["-d", &a]);
    assert_eq!(
        (d.status.code(), err(&d)),
        (
            Some(0),
            format!("postsuper: {}: removed\npostsuper: Deleted: 1 message\n", a)
        )
    );
    assert!(!inst.queue_path("deferred", &a).exists());
    assert!(!inst.queue_path("defer", &a).exists());
    let log = inst.log();
    assert!(
        log.lines()
            .any(|l| l.contains("postfix/postsuper[") && l.ends_with(&format!("]: {}: removed", a))),
        "{}",
        log
    );

    // A missing ID: a clear warning and exit status 1.
    let d = inst.run("postsuper", &["-d", &a]);
    assert_eq!(d.status.code(), Some(1));
    assert_eq!(
        err(&d),
        format!("postsuper: warning: {}: no such message\n", a)
    );
    let d = inst.run("postsuper", &["-d", "not/an/id"]);
    assert_eq!(
        err(&d),
        "postsuper: warning: invalid mail queue id: not/an/id\n"
    );
    let d = inst.run("postsuper", &["-d", "ALL", "nosuchqueue"]);
    assert_eq!(
        err(&d),
        "postsuper: fatal: invalid directory name: nosuchqueue\n"
    );

    // -h ALL, then -H one: released mail goes to deferred/ and is tried at once.
    let h = inst.run("postsuper", &["-h", "ALL"]);
    assert!(
        err(&h).ends_with("postsuper: Placed on hold: 2 messages\n"),
        "{}",
        err(&h)
    );
    let mut held = inst.queue_files("hold");
    held.sort();
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    assert_eq!(held, want);
    let before = inst.log().matches(&format!("{}: from=<", b)).count();
    let r = inst.run("postsuper", &["-H", &b]);
    assert_eq!(
        err(&r),
        format!(
            "postsuper: {}: released from hold\npostsuper: Released from hold: 1 message\n",
            b
        )
    );
    assert!(
        wait_for(20, || inst.log().matches(&format!("{}: from=<", b)).count()
            > before),
        "released mail not tried:\n{}",
        inst.log()
    );
    // -r from hold: back to incoming/ and through the scheduler again.
    let r = inst.run("postsuper", &["-r", &c]);
    assert!(
        err(&r).contains(&format!("postsuper: {}: requeued\n", c)),
        "{}",
        err(&r)
    );
    assert!(wait_for(20, || inst.queue_files("deferred").contains(&c)));

    // IDs on standard input.
    let mut child = Command::new(bin("postsuper"))
        .args(["-c", inst.etc.to_str().unwrap(), "-d", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{}\n{}", b, c).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        err(&o).ends_with("postsuper: Deleted: 2 messages\n"),
        "{}",
        err(&o)
    );
    assert!(wait_for(10, || inst.queue_files("deferred").is_empty()));

    // -s: a garbage file goes to corrupt/; -p: old temporary files go.
    std::fs::write(inst.spool.join("deferred").join("garbage"), b"junk").unwrap();
    let old = inst.spool.join("incoming").join("t.1.1");
    let fresh = inst.spool.join("incoming").join("t.1.2");
    std::fs::write(&old, b"x").unwrap();
    std::fs::write(&fresh, b"x").unwrap();
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(7 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(then)
        .unwrap();
    let s = inst.run("postsuper", &["-s", "-p"]);
    assert!(s.status.success(), "{}", err(&s));
    assert!(inst.spool.join("corrupt").join("garbage").exists());
    assert!(!old.exists() && fresh.exists());
}

/// As root: an ordinary user (`nobody`, not the mail owner) may not run postsuper, and
/// postqueue serves it only through the set-gid group.
#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn ordinary_users_are_refused_postsuper_and_postqueue_needs_the_setgid_group() {
    if !common::require_root() {
        return;
    }
    let inst = deferred_instance(&[]);
    let (owner, group) = common::mail_accounts();
    let nobody = postern::sys::user_by_name("nobody").unwrap().unwrap();
    assert_ne!(nobody.name, owner, "the test user must not be mail_owner");
    let user = inst.user.clone();
    let a = submit(&inst, &[&user]);
    wait_deferred(&inst, &[&a]);

    let o = Command::new(bin("postsuper"))
        .args(["-c", inst.etc.to_str().unwrap(), "-d", "ALL"])
        .uid(nobody.uid)
        .gid(nobody.gid)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        err(&o),
        "postsuper: fatal: use of this command is reserved for the superuser\n"
    );
    assert!(inst.queue_path("deferred", &a).exists(), "{}", inst.log());
    // postqueue as an ordinary user: only with the set-gid group.
    let o = Command::new(bin("postqueue"))
        .args(["-c", inst.etc.to_str().unwrap(), "-p"])
        .uid(nobody.uid)
        .gid(nobody.gid)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(69), "{}", err(&o));
    let gid = postern::sys::group_by_name(&group).unwrap().unwrap();
    let o = Command::new(bin("postqueue"))
        .args(["-c", inst.etc.to_str().unwrap(), "-p"])
        .uid(nobody.uid)
        .gid(gid)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let p = out(&o);
    assert!(p.starts_with(&format!("{}\n{} ", HEADER, a)), "{}", p);
    assert!(p.ends_with("in 1 Request.\n"), "{}", p);
}

#[test]
fn postsuper_on_active_messages_waits_for_deliveries() {
    let inst = Instance::new(&[("local_destination_concurrency_limit", "1")]);
    // The alias command marks that it runs, then holds the delivery until the test opens the
    // gate (it runs as default_privs as root: the directory is writable by all).
    let gate = inst.dir.join("gate");
    std::fs::create_dir(&gate).unwrap();
    std::fs::set_permissions(&gate, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let running = gate.join("running");
    let open = gate.join("open");
    let aliases = inst.etc.join("aliases");
    let mut text = std::fs::read_to_string(&aliases).unwrap();
    text.push_str(&format!(
        "slow: \"|touch {running}; while [ ! -e {open} ]; do sleep 0.05; done\"\n",
        running = running.display(),
        open = open.display()
    ));
    std::fs::write(&aliases, text).unwrap();
    inst.newaliases();
    inst.start();
    let a = submit(&inst, &["slow"]);
    assert!(
        wait_for(20, || running.exists()),
        "A's delivery did not start\n{}",
        inst.log()
    );
    let b = submit(&inst, &["slow"]);
    let c = submit(&inst, &["slow"]);
    assert!(wait_for(10, || {
        let l = inst.log();
        l.contains(&format!("{}: from=<", b)) && l.contains(&format!("{}: from=<", c))
    }));
    // All three are active: A delivers, B and C wait for the destination.
    let mut active = inst.queue_files("active");
    active.sort();
    let mut want = vec![a.clone(), b.clone(), c.clone()];
    want.sort();
    assert_eq!(active, want, "{}", inst.log());
    let p = out(&inst.run("postqueue", &["-p"]));
    assert!(p.contains(&format!("\n{}*  ", a)), "{}", p);

    for (opt, id) in [("-h", &b), ("-r", &c), ("-d", &a)] {
        let o = inst.run("postsuper", &[opt, id]);
        assert!(o.status.success(), "{} {}: {}", opt, id, err(&o));
    }
    // B and C are not in delivery: the scheduler applies their requests at once. A's
    // delivery is still held by the gate, so its delete waits.
    assert!(
        wait_for(20, || inst.queue_files("hold").contains(&b)
            && inst.log().contains(&format!("{}: requeued", c))),
        "{}",
        inst.log()
    );
    assert!(
        !inst.log().contains(&format!("{}: removed", a)),
        "{}",
        inst.log()
    );
    assert!(inst.queue_files("active").contains(&a), "{}", inst.log());
    std::fs::write(&open, "").unwrap();
    assert!(
        wait_for(20, || inst.queue_files("hold").contains(&b)),
        "{}",
        inst.log()
    );
    assert!(
        wait_for(30, || inst.log().contains(&format!("{}: removed", c))
            && inst.log().contains(&format!("{}: removed", a))),
        "{}",
        inst.log()
    );
    let log = inst.log();
    assert!(log.contains("postfix/postsuper["), "{}", log);
    assert!(log.contains(&format!("{}: placed on hold", b)), "{}", log);
    assert!(log.contains(&format!("{}: requeued", c)), "{}", log);
    // B was never delivered; A's delivery in flight finished, then the delete won.
    assert!(!log.contains(&format!("{}: to=<", b)), "{}", log);
    assert_eq!(
        log.matches(&format!("{}: to=<slow@", a)).count(),
        1,
        "{}",
        log
    );
    assert_eq!(
        log.matches(&format!("{}: to=<slow@", c)).count(),
        1,
        "{}",
        log
    );
    assert!(inst.queue_files("active").is_empty());
    let p = out(&inst.run("postqueue", &["-p"]));
    assert!(p.starts_with(&format!("{}\n{}!", HEADER, b)), "{}", p);
    assert!(p.ends_with("in 1 Request.\n"), "{}", p);
}
