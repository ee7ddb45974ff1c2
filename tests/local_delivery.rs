//! local(8) delivery as the current user, in-process (no helper): mbox bytes, aliases,
//! loops, failures that must leave the mailbox untouched, concurrency.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use postern::config::Config;
use postern::delivery::local::Local;
use postern::delivery::{Agent, Outcome, Request, Status};
use postern::queue::Recipient;

struct Env {
    dir: PathBuf,
    user: String,
}

impl Env {
    fn new(tag: &str, aliases: &str) -> Env {
        let dir =
            std::env::temp_dir().join(format!("postern-local-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("spool")).unwrap();
        let user = postern::sys::user_by_uid(postern::sys::euid())
            .unwrap()
            .unwrap()
            .name;
        let text = aliases
            .replace("USER", &user)
            .replace("DIR", &dir.display().to_string());
        std::fs::write(dir.join("aliases"), text).unwrap();
        postern::tables::aliases::build_file(&dir.join("aliases")).unwrap();
        Env { dir, user }
    }

    fn cfg(&self, extra: &[(&str, &str)]) -> Arc<Config> {
        let maps = format!("hash:{}/aliases", self.dir.display());
        let spool = self.dir.join("spool").display().to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("myhostname", "www.a.org"),
            ("alias_maps", &maps),
            ("mail_spool_directory", &spool),
            ("deliver_lock_attempts", "2"),
            ("deliver_lock_delay", "0"),
        ];
        pairs.extend_from_slice(extra);
        Arc::new(Config::from_pairs(&self.dir, &pairs))
    }

    fn mbox(&self) -> PathBuf {
        self.dir.join("spool").join(&self.user)
    }
}

fn deliver(local: &Local, sender: &str, rcpts: &[Recipient], content: &[u8]) -> Vec<Outcome> {
    let req = Request {
        queue_id: "35EC31BB8035",
        sender,
        arrival: SystemTime::now(),
        content,
        recipients: rcpts,
        nexthop: "www.a.org",
        ret: None,
        envid: None,
        attrs: &[],
    };
    local.deliver(&req)
}

fn rcpt(addr: &str, orig: Option<&str>) -> Recipient {
    let mut r = Recipient::new(addr);
    r.orig = orig.map(str::to_string);
    r
}

/// Split an mbox into (From_ line, rest) records.
fn records(mbox: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(mbox).into_owned();
    let mut out = Vec::new();
    for part in text.split("\n\nFrom ") {
        let part = part.strip_prefix("From ").unwrap_or(part);
        let (first, rest) = part.split_once('\n').unwrap();
        out.push((format!("From {}", first), rest.to_string()));
    }
    out
}

fn from_line_ok(line: &str, sender: &str) {
    let prefix = format!("From {}  ", sender);
    assert!(line.starts_with(&prefix), "{}", line);
    // asctime: "Thu Apr 30 14:57:55 2020"
    let date = &line[prefix.len()..];
    assert_eq!(date.len(), 24, "{:?}", date);
    assert_eq!(&date[19..20], " ");
}

#[test]
fn mbox_record_is_exact() {
    let env = Env::new("exact", "postmaster: USER\n");
    let local = Local::new(env.cfg(&[]), None);
    let out = deliver(
        &local,
        "obama@w.com",
        &[rcpt(&format!("{}@www.a.org", env.user), Some(&env.user))],
        b"Subject: How are you these days?\nFrom: obama@w.com\n\nFrom the start\nAre you gua lema?",
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (
            out[0].status,
            out[0].dsn.as_str(),
            out[0].text.as_str(),
            out[0].relay.as_str()
        ),
        (Status::Sent, "2.0.0", "delivered to mailbox", "local")
    );
    assert_eq!(out[0].to, None);
    let mbox = std::fs::read(env.mbox()).unwrap();
    let recs = records(&mbox);
    assert_eq!(recs.len(), 1);
    from_line_ok(&recs[0].0, "obama@w.com");
    assert_eq!(
        recs[0].1,
        format!(
            "Return-Path: <obama@w.com>\nX-Original-To: {u}\nDelivered-To: {u}@www.a.org\n\
             Subject: How are you these days?\nFrom: obama@w.com\n\n>From the start\nAre you gua lema?\n\n",
            u = env.user
        )
    );
    // A second message is appended as its own record; null sender is MAILER-DAEMON.
    deliver(
        &local,
        "",
        &[rcpt(&format!("{}@www.a.org", env.user), None)],
        b"Subject: 2\n\nx\n",
    );
    let mbox = std::fs::read(env.mbox()).unwrap();
    let recs = records(&mbox);
    assert_eq!(recs.len(), 2);
    from_line_ok(&recs[1].0, "MAILER-DAEMON");
    assert!(recs[1].1.starts_with(&format!(
        "Return-Path: <>\nX-Original-To: {u}@www.a.org\nDelivered-To: {u}@www.a.org\n",
        u = env.user
    )));
    assert!(mbox.ends_with(b"x\n\n"));
}

#[test]
fn alias_to_user_file_and_command() {
    let env = Env::new(
        "alias",
        "postmaster: USER\nlist: USER, DIR/file.out, \"|cat > DIR/cmd.out; echo $RECIPIENT $SENDER $LOCAL $DOMAIN > DIR/env.out\"\n",
    );
    let local = Local::new(env.cfg(&[]), None);
    let out = deliver(
        &local,
        "a@b.test",
        &[rcpt("postmaster@www.a.org", Some("postmaster"))],
        b"Subject: pm\n\nhello\n",
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    assert_eq!(
        out[0].to.as_deref(),
        Some(format!("{}@www.a.org", env.user).as_str())
    );
    let mbox = String::from_utf8(std::fs::read(env.mbox()).unwrap()).unwrap();
    assert!(
        mbox.contains(&format!(
            "X-Original-To: postmaster\nDelivered-To: {}@www.a.org\n",
            env.user
        )),
        "{}",
        mbox
    );

    let out = deliver(
        &local,
        "a@b.test",
        &[rcpt("list@www.a.org", None)],
        b"Subject: list\n\nFrom body\n",
    );
    assert_eq!(out.len(), 3, "{:?}", out);
    assert!(
        out.iter().all(|o| o.status == Status::Sent && o.rcpt == 0),
        "{:?}",
        out
    );
    let file_out = format!("delivered to file: {}/file.out", env.dir.display());
    assert!(
        out.iter().any(|o| o.text == file_out && o.to.is_none()),
        "{:?}",
        out
    );
    assert!(
        out.iter()
            .any(|o| o.text.starts_with("delivered to command: cat > ")),
        "{:?}",
        out
    );
    let f = String::from_utf8(std::fs::read(env.dir.join("file.out")).unwrap()).unwrap();
    assert!(f.starts_with("From a@b.test  "), "{}", f);
    assert!(
        f.ends_with("Delivered-To: list@www.a.org\nSubject: list\n\n>From body\n\n"),
        "{}",
        f
    );
    let c = String::from_utf8(std::fs::read(env.dir.join("cmd.out")).unwrap()).unwrap();
    assert!(c.starts_with("From a@b.test  "), "{}", c);
    assert!(c.ends_with("Return-Path: <a@b.test>\nX-Original-To: list@www.a.org\nDelivered-To: list@www.a.org\nSubject: list\n\nFrom body\n"), "{}", c);
    let e = std::fs::read_to_string(env.dir.join("env.out")).unwrap();
    assert_eq!(e, "list@www.a.org a@b.test list www.a.org\n");
}

#[test]
fn restricted_commands_and_files_bounce() {
    let env = Env::new("restrict", "c: \"|true\"\nf: DIR/f.out\n");
    let local = Local::new(
        env.cfg(&[
            ("allow_mail_to_commands", "forward"),
            ("allow_mail_to_files", "forward"),
        ]),
        None,
    );
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("c@www.a.org", None), rcpt("f@www.a.org", None)],
        b"\nx\n",
    );
    assert_eq!(out[0].rcpt, 0);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.as_str()),
        (Status::Bounced, "5.7.1", "mail to command is restricted")
    );
    assert_eq!(out[1].rcpt, 1);
    assert_eq!(
        (out[1].status, out[1].text.as_str()),
        (Status::Bounced, "mail to file is restricted")
    );
    assert!(!env.dir.join("f.out").exists());
}

#[test]
fn alias_loops_bounce_and_self_references_reach_the_mailbox() {
    let env = Env::new(
        "loop",
        "USER: USER\nloopa: loopb\nloopb: loopa\nloopc: USER, loopd\nloopd: loopc\n\
         loope: loopf, loopg\nloopf: loope\nloopg: loope\n",
    );
    let local = Local::new(env.cfg(&[]), None);
    let me = format!("{}@www.a.org", env.user);
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], b"Subject: self\n\nx\n");
    assert_eq!((out.len(), out[0].status), (1, Status::Sent), "{:?}", out);
    assert_eq!(out[0].text, "delivered to mailbox");
    // Postfix follows the loop to its nesting limit, which falls on the second name.
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("loopa@www.a.org", None)],
        b"Subject: loop\n\nx\n",
    );
    assert_eq!(out.len(), 1, "{:?}", out);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.as_str()),
        (Status::Bounced, "5.4.6", "alias database loop for loopb")
    );
    assert_eq!(out[0].to.as_deref(), Some("loopb@www.a.org"));
    // A loop through a list: its other member gets one copy, however often it is named;
    // as in Postfix, the member named past the nesting limit is bounced too.
    let before = records(&std::fs::read(env.mbox()).unwrap()).len();
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("loopc@www.a.org", None)],
        b"Subject: list\n\nx\n",
    );
    let summary: Vec<_> = out
        .iter()
        .map(|o| (o.status, o.dsn.to_string(), o.text.clone()))
        .collect();
    let bounce = |name: &str| {
        (
            Status::Bounced,
            "5.4.6".to_string(),
            format!("alias database loop for {}", name),
        )
    };
    assert_eq!(
        summary,
        vec![
            (Status::Sent, "2.0.0".into(), "delivered to mailbox".into()),
            bounce(&env.user),
            bounce("loopd"),
        ]
    );
    assert_eq!(
        records(&std::fs::read(env.mbox()).unwrap()).len(),
        before + 1
    );
    // Two lists naming each other: each address is expanded once per level, so this ends
    // (it would take 2^33 expansions otherwise) with one bounce per name at the limit.
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("loope@www.a.org", None)],
        b"Subject: lists\n\nx\n",
    );
    let texts: Vec<_> = out
        .iter()
        .map(|o| (o.dsn.as_str(), o.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        vec![
            ("5.4.6", "alias database loop for loopf"),
            ("5.4.6", "alias database loop for loopg"),
        ]
    );
}

#[test]
fn file_that_cannot_be_opened_bounces_at_once() {
    let env = Env::new("nofile", "tofile: DIR/no-such-dir/out\n");
    let local = Local::new(env.cfg(&[]), None);
    let out = deliver(&local, "s@x", &[rcpt("tofile@www.a.org", None)], b"\nx\n");
    let path = env.dir.join("no-such-dir/out");
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.clone()),
        (
            Status::Bounced,
            "5.2.0",
            format!(
                "cannot append message to file {}: cannot open file: No such file or directory",
                path.display()
            )
        )
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn devices_are_written_and_fifos_never_block() {
    let env = Env::new("devnull", "devnull: /dev/null\ntofifo: DIR/fifo\n");
    let local = Local::new(env.cfg(&[]), None);
    let out = deliver(&local, "s@x", &[rcpt("devnull@www.a.org", None)], b"\nx\n");
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.as_str()),
        (Status::Sent, "2.0.0", "delivered to file: /dev/null")
    );
    // A FIFO nobody reads: open(2) does not wait for a reader; it fails, for good.
    let fifo = env.dir.join("fifo");
    postern::sys::mkfifo(&fifo, 0o600).unwrap();
    let out = deliver(&local, "s@x", &[rcpt("tofifo@www.a.org", None)], b"\nx\n");
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.clone()),
        (
            Status::Bounced,
            "5.2.0",
            format!(
                "cannot append message to file {}: cannot open file: No such device or address",
                fifo.display()
            )
        )
    );
}

#[test]
fn dotlock_left_by_a_dead_process_is_broken_at_once() {
    let env = Env::new("deadlock", "");
    let me = format!("{}@www.a.org", env.user);
    // One lock attempt and the default stale_lock_time (500s): only the dead owner lets the
    // delivery through.
    let local = Local::new(env.cfg(&[("deliver_lock_attempts", "1")]), None);
    let lock = env.dir.join("spool").join(format!("{}.lock", env.user));
    let host = postern::sys::hostname();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(&lock, format!("{}:{}\n", dead, host)).unwrap();
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], b"Subject: x\n\nx\n");
    assert_eq!(
        (out[0].status, out[0].text.as_str()),
        (Status::Sent, "delivered to mailbox"),
        "{:?}",
        out
    );
    assert!(!lock.exists());
    // A live owner (this test) keeps it.
    std::fs::write(&lock, format!("{}:{}\n", std::process::id(), host)).unwrap();
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], b"Subject: x\n\nx\n");
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.clone()),
        (
            Status::Deferred,
            "4.2.0",
            format!(
                "cannot update mailbox {m} for user {}. unable to create lock file {m}.lock: File exists",
                env.user,
                m = env.mbox().display()
            )
        )
    );
    assert_eq!(records(&std::fs::read(env.mbox()).unwrap()).len(), 1);
}

#[test]
fn unknown_user_bounces() {
    let env = Env::new("unknown", "postmaster: root\n");
    let local = Local::new(env.cfg(&[]), None);
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("nosuchuser-pst@www.a.org", None)],
        b"\nx\n",
    );
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.as_str()),
        (Status::Bounced, "5.1.1", "unknown user: \"nosuchuser-pst\"")
    );
}

#[test]
fn delivered_to_loop_bounces() {
    let env = Env::new("dtloop", "");
    let local = Local::new(env.cfg(&[]), None);
    let me = format!("{}@www.a.org", env.user);
    let msg = format!("Delivered-To: {}\nSubject: x\n\nbody\n", me.to_uppercase());
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], msg.as_bytes());
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Bounced, "5.4.6")
    );
    assert_eq!(out[0].text, format!("mail forwarding loop for {}", me));
    assert!(!env.mbox().exists());
    // The same address in the body is no loop.
    let msg = format!("Subject: x\n\nDelivered-To: {}\n", me);
    assert_eq!(
        deliver(&local, "s@x", &[rcpt(&me, None)], msg.as_bytes())[0].status,
        Status::Sent
    );
}

#[test]
fn missing_alias_database_defers() {
    let env = Env::new("noaliases", "");
    std::fs::remove_file(env.dir.join("aliases.db")).unwrap();
    let local = Local::new(env.cfg(&[]), None);
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("openstack@www.a.org", Some("openstack"))],
        b"\nx\n",
    );
    assert_eq!(
        (out[0].status, out[0].dsn.as_str(), out[0].text.as_str()),
        (Status::Deferred, "4.3.0", "alias database unavailable")
    );
    // newaliases fixes it without a restart.
    std::fs::write(
        env.dir.join("aliases"),
        format!("openstack: {}\n", env.user),
    )
    .unwrap();
    postern::tables::aliases::build_file(&env.dir.join("aliases")).unwrap();
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("openstack@www.a.org", Some("openstack"))],
        b"\nx\n",
    );
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
}

#[test]
fn size_limit_bounces_and_mailbox_is_unchanged() {
    let env = Env::new("limit", "");
    let me = format!("{}@www.a.org", env.user);
    std::fs::write(
        env.mbox(),
        b"From x  Thu Apr 30 14:57:55 2020\nSubject: old\n\nold\n\n",
    )
    .unwrap();
    let before = std::fs::read(env.mbox()).unwrap();
    let local = Local::new(
        env.cfg(&[("mailbox_size_limit", "200"), ("message_size_limit", "200")]),
        None,
    );
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], &[b'a'; 300]);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Bounced, "5.2.2")
    );
    assert_eq!(
        out[0].text,
        format!(
            "cannot update mailbox {} for user {}. error writing message: File too large",
            env.mbox().display(),
            env.user
        )
    );
    assert_eq!(std::fs::read(env.mbox()).unwrap(), before);
}

#[test]
fn unwritable_mailbox_defers_and_is_unchanged() {
    let env = Env::new("unwritable", "");
    let me = format!("{}@www.a.org", env.user);
    let local = Local::new(env.cfg(&[]), None);
    // A directory where the mailbox should be.
    std::fs::create_dir(env.mbox()).unwrap();
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], b"Subject: x\n\nx\n");
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Deferred, "4.2.0"),
        "{:?}",
        out
    );
    assert!(out[0].text.starts_with(&format!(
        "cannot update mailbox {} for user {}. ",
        env.mbox().display(),
        env.user
    )));
    assert!(env.mbox().is_dir());
    assert_eq!(std::fs::read_dir(env.mbox()).unwrap().count(), 0);
    std::fs::remove_dir(env.mbox()).unwrap();
    // A mailbox another process holds the dot-lock on: deferred, file unchanged.
    std::fs::write(env.mbox(), b"old\n").unwrap();
    std::fs::write(
        env.dir.join("spool").join(format!("{}.lock", env.user)),
        b"",
    )
    .unwrap();
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], b"Subject: x\n\nx\n");
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Deferred, "4.2.0")
    );
    assert_eq!(
        out[0].text,
        format!(
            "cannot update mailbox {m} for user {}. unable to create lock file {m}.lock: File exists",
            env.user,
            m = env.mbox().display(),
        )
    );
    assert_eq!(std::fs::read(env.mbox()).unwrap(), b"old\n");
    std::fs::remove_file(env.dir.join("spool").join(format!("{}.lock", env.user))).unwrap();
    // Mode 000 stops everyone but root.
    if !postern::sys::is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.mbox(), std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = deliver(&local, "s@x", &[rcpt(&me, None)], b"Subject: x\n\nx\n");
        assert_eq!(
            (out[0].status, out[0].dsn.as_str()),
            (Status::Deferred, "4.2.0")
        );
        assert!(
            out[0].text.ends_with("cannot open file: Permission denied"),
            "{}",
            out[0].text
        );
        std::fs::set_permissions(env.mbox(), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(std::fs::read(env.mbox()).unwrap(), b"old\n");
    }
}

#[test]
fn extension_is_stripped_for_lookup_and_mailbox() {
    let env = Env::new("ext", "sales: USER\n");
    let local = Local::new(env.cfg(&[("recipient_delimiter", "+")]), None);
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("sales+spring@www.a.org", None)],
        b"\nx\n",
    );
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let me = format!("{}+box@www.a.org", env.user);
    let out = deliver(&local, "s@x", &[rcpt(&me, None)], b"\ny\n");
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let mbox = String::from_utf8(std::fs::read(env.mbox()).unwrap()).unwrap();
    assert!(
        mbox.contains(&format!("Delivered-To: {}\n", me)),
        "{}",
        mbox
    );
    assert_eq!(records(mbox.as_bytes()).len(), 2);
}

#[test]
fn a_local_part_starting_with_the_delimiter_is_not_split() {
    // Postfix's split_addr never leaves an empty base: `+spring` is looked up and delivered
    // as itself (this used to look up the user "").
    let env = Env::new("ext-empty", "sales: USER\n");
    let local = Local::new(env.cfg(&[("recipient_delimiter", "+")]), None);
    let out = deliver(&local, "s@x", &[rcpt("+spring@www.a.org", None)], b"\nx\n");
    assert_eq!(out[0].status, Status::Bounced, "{:?}", out);
    assert_eq!(out[0].text, "unknown user: \"+spring\"");
}

#[test]
fn a_command_sees_the_extension() {
    let env = Env::new(
        "ext-cmd",
        "list: \"|echo $LOCAL $EXTENSION > DIR/ext.out\"\n",
    );
    let local = Local::new(env.cfg(&[("recipient_delimiter", "+")]), None);
    let out = deliver(
        &local,
        "s@x",
        &[rcpt("list+spring@www.a.org", None)],
        b"\nx\n",
    );
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let e = std::fs::read_to_string(env.dir.join("ext.out")).unwrap();
    assert_eq!(e, "list+spring spring\n");
}

#[test]
fn concurrent_deliveries_keep_messages_whole() {
    let env = Env::new("concurrent", "");
    let local = Arc::new(Local::new(
        env.cfg(&[
            ("deliver_lock_attempts", "200"),
            ("deliver_lock_delay", "1s"),
        ]),
        None,
    ));
    let me = format!("{}@www.a.org", env.user);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (local, me) = (local.clone(), me.clone());
            std::thread::spawn(move || {
                for n in 0..25 {
                    let body = format!(
                        "Subject: {t}-{n}\n\n{}\n",
                        format!("line {t}-{n}\n").repeat(50)
                    );
                    let out = deliver(&local, "s@x", &[rcpt(&me, None)], body.as_bytes());
                    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mbox = std::fs::read(env.mbox()).unwrap();
    let recs = records(&mbox);
    assert_eq!(recs.len(), 100);
    let mut seen = std::collections::HashSet::new();
    for (from, rest) in &recs {
        from_line_ok(from, "s@x");
        let subject = rest
            .lines()
            .nth(3)
            .unwrap()
            .strip_prefix("Subject: ")
            .unwrap()
            .to_string();
        let expect = format!(
            "Return-Path: <s@x>\nX-Original-To: {me}\nDelivered-To: {me}\nSubject: {subject}\n\n{}\n\n",
            format!("line {subject}\n").repeat(50)
        );
        let rest = if rest.ends_with("\n\n") {
            rest.clone()
        } else {
            format!("{}\n\n", rest)
        };
        assert_eq!(rest, expect);
        assert!(seen.insert(subject));
    }
}

#[test]
fn include_file_targets() {
    let env = Env::new("include", "team: :include:DIR/team.list\n");
    std::fs::write(
        env.dir.join("team.list"),
        format!("# members\n{}\n{}/inc.out\n", env.user, env.dir.display()),
    )
    .unwrap();
    // As local(8): the default allow_mail_to_files (alias, forward) forbids files named
    // in include files.
    let local = Local::new(env.cfg(&[]), None);
    let out = deliver(&local, "s@x", &[rcpt("team@www.a.org", None)], b"\nx\n");
    assert_eq!(out.len(), 2, "{:?}", out);
    assert_eq!(out[1].dsn, "5.7.1");
    assert_eq!(out[1].text, "mail to file is restricted");
    assert!(!env.dir.join("inc.out").exists());
    let _ = std::fs::remove_file(env.mbox());
    let allowed = [("allow_mail_to_files", "alias, forward, include")];
    let local = Local::new(env.cfg(&allowed), None);
    let out = deliver(&local, "s@x", &[rcpt("team@www.a.org", None)], b"\nx\n");
    assert_eq!(out.len(), 2, "{:?}", out);
    assert!(out.iter().all(|o| o.status == Status::Sent), "{:?}", out);
    assert!(env.mbox().exists());
    assert!(env.dir.join("inc.out").exists());
}
