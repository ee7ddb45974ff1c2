//! Alias targets outside $mydestination are forwarded through cleanup as a new message
//! with the original sender and a Delivered-To: header.
//! Forwarding goes through cleanup::submit into a real queue directory.

use std::sync::Arc;
use std::time::SystemTime;

use postern::config::Config;
use postern::delivery::local::Local;
use postern::delivery::{Agent, Request, Status};
use postern::queue::{Queue, QueueFile, QueueName, Recipient};

#[test]
fn remote_alias_targets_are_forwarded() {
    let dir = std::env::temp_dir().join(format!("postern-forward-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    let queue = Queue::new(&dir.join("queue"));
    queue.create_dirs().unwrap();
    std::fs::write(dir.join("aliases"), "fwd: jerry@qq.com, tom@remote.test\n").unwrap();
    postern::tables::aliases::build_file(&dir.join("aliases")).unwrap();
    let maps = format!("hash:{}/aliases", dir.display());
    let spool = dir.join("spool").display().to_string();
    let qdir = dir.join("queue").display().to_string();
    let cfg = Arc::new(Config::from_pairs(
        &dir,
        &[
            ("myhostname", "www.a.org"),
            ("alias_maps", &maps),
            ("mail_spool_directory", &spool),
            ("queue_directory", &qdir),
        ],
    ));
    let local = Local::new(cfg, None);
    let rcpts = [Recipient::new("fwd@www.a.org")];
    let out = local.deliver(&Request {
        queue_id: "ABC",
        sender: "a@yahoo.com",
        arrival: SystemTime::now(),
        content: b"Subject: fw\n\nbody\n",
        recipients: &rcpts,
        nexthop: "www.a.org",
        ret: None,
        envid: None,
        attrs: &[],
    });
    assert_eq!(out.len(), 2, "{:?}", out);
    assert!(
        out.iter()
            .all(|o| o.status == Status::Sent && o.dsn == "2.0.0"),
        "{:?}",
        out
    );
    assert_eq!(out[0].to.as_deref(), Some("jerry@qq.com"));
    assert_eq!(out[1].to.as_deref(), Some("tom@remote.test"));
    let id = out[0]
        .text
        .strip_prefix("forwarded as ")
        .unwrap()
        .to_string();
    assert_eq!(out[1].text, out[0].text, "one new message for both targets");
    // The scheduler learns the copy's queue ID from the outcomes (no global wake channel).
    assert!(
        out.iter()
            .all(|o| o.forwarded.as_deref() == Some(id.as_str()))
    );
    let mut qf = QueueFile::open(&queue.path(QueueName::Incoming, &id)).unwrap();
    assert_eq!(qf.envelope.sender, "a@yahoo.com");
    let to: Vec<&str> = qf
        .envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(to, vec!["jerry@qq.com", "tom@remote.test"]);
    let content = String::from_utf8(qf.content().unwrap()).unwrap();
    assert!(
        content.starts_with("Delivered-To: fwd@www.a.org\n"),
        "{}",
        content
    );
    assert!(content.ends_with("Subject: fw\n\nbody\n"), "{}", content);
}
