use super::*;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

fn setup(name: &str, extra: &[(&str, &str)]) -> (PathBuf, Virtual) {
    let base =
        std::env::temp_dir().join(format!("postern-virtual-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let base_s = base.display().to_string();
    let mut pairs = vec![
        ("myhostname", "mx.test"),
        ("virtual_mailbox_base", base_s.as_str()),
        (
            "virtual_mailbox_maps",
            "inline:{ md@ex.test=ex.test/md/, mb@ex.test=ex.test/mb, evil@ex.test=../x/ }",
        ),
        ("virtual_uid_maps", "static:5000"),
        ("virtual_gid_maps", "static:5000"),
        ("virtual_mailbox_lock", "fcntl"),
    ];
    pairs.extend_from_slice(extra);
    let cfg = Config::from_pairs(Path::new("/nonexistent"), &pairs);
    (base, Virtual::new(Arc::new(cfg), None))
}

fn deliver(v: &Virtual, to: &str, content: &[u8]) -> Outcome {
    let rcpts = [Recipient::new(to)];
    let req = Request {
        queue_id: "ABC123",
        sender: "s@src.test",
        arrival: SystemTime::now(),
        content,
        recipients: &rcpts,
        nexthop: "ex.test",
        ret: None,
        envid: None,
        attrs: &[],
    };
    v.deliver(&req).remove(0)
}

#[test]
fn maildir_and_mbox() {
    let (base, v) = setup("both", &[]);
    let o = deliver(&v, "MD@ex.test", b"Subject: s\n\nFrom body\n");
    assert_eq!(
        (o.status, o.text.as_str()),
        (Status::Sent, "delivered to maildir")
    );
    assert_eq!(o.relay, "virtual");
    let new = base.join("ex.test/md/new");
    let files: Vec<_> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        b"Return-Path: <s@src.test>\nX-Original-To: MD@ex.test\nDelivered-To: MD@ex.test\nSubject: s\n\nFrom body\n"
    );
    let o = deliver(&v, "mb@ex.test", b"Subject: s\n\nFrom body\n");
    assert_eq!(
        (o.status, o.text.as_str()),
        (Status::Sent, "delivered to mailbox")
    );
    let text = std::fs::read_to_string(base.join("ex.test/mb")).unwrap();
    assert!(text.starts_with("From s@src.test  "), "{}", text);
    assert!(
        text.ends_with("Delivered-To: mb@ex.test\nSubject: s\n\n>From body\n\n"),
        "{}",
        text
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn failures() {
    let (base, v) = setup("fail", &[("virtual_mailbox_limit", "10")]);
    let o = deliver(&v, "who@ex.test", b"x\n");
    assert_eq!(
        (o.status, o.dsn.as_str(), o.text.as_str()),
        (Status::Bounced, "5.1.1", "unknown user: \"who@ex.test\"")
    );
    let o = deliver(&v, "evil@ex.test", b"x\n");
    assert_eq!(
        (o.status, o.dsn.as_str(), o.text.as_str()),
        (Status::Deferred, "4.3.5", CONFIG_ERROR)
    );
    let o = deliver(&v, "md@ex.test", b"Subject: too long for ten bytes\n\nx\n");
    assert_eq!(
        (o.status, o.dsn.as_str()),
        (Status::Bounced, "5.2.2"),
        "{}",
        o.text
    );
    // As in Postfix, an mbox's directory is not created.
    let o = deliver(&v, "mb@ex.test", b"x\n");
    assert_eq!((o.status, o.dsn.as_str()), (Status::Deferred, "4.2.0"));
    std::fs::create_dir_all(base.join("ex.test")).unwrap();
    let o = deliver(&v, "mb@ex.test", b"Subject: too long for ten bytes\n\nx\n");
    assert_eq!(
        (o.status, o.dsn.as_str()),
        (Status::Bounced, "5.2.2"),
        "{}",
        o.text
    );
    assert!(
        o.text.starts_with("delivery failed to mailbox "),
        "{}",
        o.text
    );
    let (base2, low) = setup("low", &[("virtual_uid_maps", "static:42")]);
    let o = deliver(&low, "md@ex.test", b"x\n");
    assert_eq!((o.status, o.dsn.as_str()), (Status::Deferred, "4.3.5"));
    let (base3, broken) = setup("err", &[("virtual_mailbox_maps", "fail:vmail")]);
    let o = deliver(&broken, "md@ex.test", b"x\n");
    assert_eq!(o.status, Status::Deferred);
    for b in [base, base2, base3] {
        std::fs::remove_dir_all(&b).unwrap();
    }
}

#[test]
fn verification_resolves_without_delivering() {
    let (base, v) = setup("verify", &[]);
    let rcpts = [Recipient::new("md@ex.test"), Recipient::new("no@ex.test")];
    let req = Request {
        queue_id: "ABC123",
        sender: "",
        arrival: SystemTime::now(),
        content: b"",
        recipients: &rcpts,
        nexthop: "ex.test",
        ret: None,
        envid: None,
        attrs: &[],
    };
    let out = v.verify(&req);
    assert_eq!(
        (out[0].status, out[0].text.as_str()),
        (Status::Sent, "delivers to maildir")
    );
    assert_eq!(out[1].status, Status::Bounced);
    assert!(!base.join("ex.test").exists());
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn mbox_locking_follows_virtual_mailbox_lock() {
    let cfg = Config::from_pairs(
        Path::new("/nonexistent"),
        &[
            ("virtual_mailbox_lock", "dotlock"),
            ("mailbox_delivery_lock", "fcntl"),
        ],
    );
    let v = LockPolicy::from_param(&cfg, "virtual_mailbox_lock");
    assert!(v.dotlock && !v.fcntl);
    let l = LockPolicy::from_config(&cfg);
    assert!(!l.dotlock && l.fcntl);
    let dflt = Config::from_pairs(Path::new("/nonexistent"), &[]);
    let d = LockPolicy::from_param(&dflt, "virtual_mailbox_lock");
    assert!(
        d.dotlock && d.fcntl,
        "Postfix's Linux default: fcntl, dotlock"
    );
}

fn request<'a>(id: &'a str, rcpts: &'a [Recipient], content: &'a [u8]) -> Request<'a> {
    Request {
        queue_id: id,
        sender: "s@src.test",
        arrival: SystemTime::now(),
        content,
        recipients: rcpts,
        nexthop: "ex.test",
        ret: None,
        envid: None,
        attrs: &[],
    }
}

#[test]
fn a_batch_answers_every_recipient_in_place() {
    let (base, v) = setup("batch", &[("virtual_mailbox_limit", "400")]);
    std::fs::create_dir_all(base.join("ex.test")).unwrap();
    let big = vec![b'x'; 500];
    let r1 = [Recipient::new("md@ex.test"), Recipient::new("who@ex.test")];
    let r2 = [Recipient::new("md@ex.test")];
    let r3 = [Recipient::new("mb@ex.test"), Recipient::new("MD@ex.test")];
    let r4 = [Recipient::new("mb@ex.test")];
    let reqs = [
        request("A", &r1, b"Subject: 1\n\none\n"),
        request("B", &r2, &big),
        request("C", &r3, b"Subject: 3\n\nthree\n"),
        request("D", &r4, b"Subject: 4\n\nfour\n"),
    ];
    let out = v.deliver_batch(&reqs);
    let got: Vec<Vec<(usize, Status, &str)>> = out
        .iter()
        .map(|os| {
            os.iter()
                .map(|o| (o.rcpt, o.status, o.dsn.as_str()))
                .collect()
        })
        .collect();
    assert_eq!(
        got,
        vec![
            vec![(0, Status::Sent, "2.0.0"), (1, Status::Bounced, "5.1.1")],
            vec![(0, Status::Bounced, "5.2.2")],
            vec![(0, Status::Sent, "2.0.0"), (1, Status::Sent, "2.0.0")],
            vec![(0, Status::Sent, "2.0.0")],
        ]
    );
    assert_eq!(out[0][0].text, "delivered to maildir");
    assert_eq!(out[2][0].text, "delivered to mailbox");
    assert!(out.iter().flatten().all(|o| o.relay == "virtual"));
    // Two messages in the Maildir, each with its own delivery headers.
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(base.join("ex.test/md/new"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0].starts_with(b"Return-Path: <s@src.test>\nX-Original-To: MD@ex.test\n"));
    assert!(bodies[0].ends_with(b"three\n"));
    assert!(bodies[1].starts_with(b"Return-Path: <s@src.test>\nX-Original-To: md@ex.test\n"));
    assert!(bodies[1].ends_with(b"one\n"));
    // The two mbox records in order, in one mailbox.
    let text = std::fs::read_to_string(base.join("ex.test/mb")).unwrap();
    let three = text.find("three").unwrap();
    let four = text.find("four").unwrap();
    assert!(three < four, "{}", text);
    assert_eq!(
        text.matches("\nFrom s@src.test  ").count() + 1,
        2,
        "{}",
        text
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn concurrent_workers_share_a_mailbox_and_get_their_own_answers() {
    let (base, v) = setup("commit", &[("virtual_mailbox_limit", "400")]);
    let v = Arc::new(v);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let v = v.clone();
            std::thread::spawn(move || {
                let rcpts = [Recipient::new("md@ex.test")];
                let small = format!("Subject: {}\n\nsmall\n", t);
                let big = vec![b'x'; 500];
                let mut got = Vec::new();
                for round in 0..5 {
                    // Every third message is over the limit: answered 5.2.2, in place.
                    let content: &[u8] = if (t + round) % 3 == 0 {
                        &big
                    } else {
                        small.as_bytes()
                    };
                    let o = v.deliver(&request("T", &rcpts, content)).remove(0);
                    got.push(((t + round) % 3 == 0, o.status, o.dsn));
                }
                got
            })
        })
        .collect();
    let mut sent = 0;
    for th in threads {
        for (big, status, dsn) in th.join().unwrap() {
            if big {
                assert_eq!((status, dsn.as_str()), (Status::Bounced, "5.2.2"));
            } else {
                assert_eq!((status, dsn.as_str()), (Status::Sent, "2.0.0"));
                sent += 1;
            }
        }
    }
    let files = std::fs::read_dir(base.join("ex.test/md/new"))
        .unwrap()
        .count();
    assert_eq!(files, sent);
    // Every queue is gone once no worker writes.
    assert!(v.commits.is_idle());
    std::fs::remove_dir_all(&base).unwrap();
}
