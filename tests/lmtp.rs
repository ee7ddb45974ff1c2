//! lmtp(8) end to end: mail arrives over SMTP for a virtual domain whose
//! `virtual_transport = lmtp:unix:PATH` hands it to a real Dovecot LMTP server
//! (dovecot-lmtpd), which stores it in a Maildir; a recipient Dovecot does not know gets its
//! own 5xx after DATA and bounces while the others are delivered; a server that is down
//! defers the mail, which stays queued.

mod common;

use std::path::{Path, PathBuf};

use common::dovecot::Dovecot;
use common::{Instance, free_port, wait_for};
use postern::sys;

fn line_for(log: &str, id: &str, to: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains(&format!("{}: to=<{}>", id, to)))
        .map(str::to_string)
}

fn maildir_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                out.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn lmtp_server_down_defers_and_keeps_the_mail() {
    let a = Instance::new(&[
        ("virtual_mailbox_domains", "v.test"),
        ("virtual_mailbox_maps", "inline:{ u@v.test=x }"),
        ("minimal_backoff_time", "600s"),
    ]);
    let socket = a.dir.join("no-such-lmtp");
    a.set(
        "virtual_transport",
        &format!("lmtp:unix:{}", socket.display()),
    );
    std::fs::write(
        a.etc.join("master.cf"),
        std::fs::read_to_string(a.etc.join("master.cf")).unwrap() + "lmtp unix - - n - - lmtp\n",
    )
    .unwrap();
    a.newaliases();
    a.start();
    let id = a.send("s@remote.test", &["<u@v.test>"], "lmtp down", "kept");
    assert!(
        wait_for(20, || line_for(&a.log(), &id, "u@v.test").is_some()),
        "{}",
        a.log()
    );
    let line = line_for(&a.log(), &id, "u@v.test").unwrap();
    assert!(line.contains(" postfix/lmtp["), "{}", line);
    assert!(line.contains("relay=none, delay="), "{}", line);
    assert!(
        line.ends_with(&format!(
            "dsn=4.4.1, status=deferred (connect to www.a.org[{}]: No such file or directory)",
            socket.display()
        )),
        "{}",
        line
    );
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

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored); Dovecot's master needs root"]
fn virtual_transport_lmtp_delivers_to_dovecot() {
    if !common::require_root() {
        return;
    }
    if !common::require(
        Dovecot::available() && Path::new("/usr/lib/dovecot/lmtp").exists(),
        "needs Dovecot with LMTP (dovecot-imapd, dovecot-lmtpd)",
    ) {
        return;
    }
    let a = Instance::new(&[
        ("virtual_mailbox_domains", "v.test"),
        (
            "virtual_mailbox_maps",
            "inline:{ alice@v.test=x, bob@v.test=x, ghost@v.test=x }",
        ),
        ("minimal_backoff_time", "600s"),
    ]);
    let owner = sys::user_by_name(&common::test_user()).unwrap().unwrap();
    let dove = a.dir.join("dovecot");
    let mail: PathBuf = a.dir.join("vmail");
    std::fs::create_dir_all(&mail).unwrap();
    sys::chown(&mail, owner.uid, owner.gid).unwrap();
    let socket = a.dir.join("dovecot-lmtp");
    let dovecot = Dovecot::start_lmtp(
        &dove,
        free_port(),
        &socket,
        &format!("maildir:{}/%d/%n", mail.display()),
        &["alice@v.test", "bob@v.test"],
        owner.uid,
        owner.gid,
    );
    a.set(
        "virtual_transport",
        &format!("lmtp:unix:{}", socket.display()),
    );
    a.newaliases();
    a.start();
    let id = a.send(
        "s@remote.test",
        &["<alice@v.test>", "<ghost@v.test>", "<bob@v.test>"],
        "via lmtp",
        // Dot-stuffed as an SMTP client sends it: the message has ".leading dot".
        "hello dovecot\n..leading dot",
    );
    for to in ["alice@v.test", "bob@v.test", "ghost@v.test"] {
        assert!(
            wait_for(30, || line_for(&a.log(), &id, to).is_some()),
            "{}\n{}",
            to,
            a.log()
        );
    }
    let log = a.log();
    let relay = format!("relay=www.a.org[{}], delay=", socket.display());
    for to in ["alice@v.test", "bob@v.test"] {
        let line = line_for(&log, &id, to).unwrap();
        assert!(line.contains(" postfix/lmtp["), "{}", line);
        assert!(line.contains(&relay), "{}", line);
        assert!(line.contains(", delays="), "{}", line);
        let status = format!("dsn=2.0.0, status=sent (250 2.0.0 <{}> ", to);
        assert!(
            line.contains(&status) && line.ends_with(" Saved)"),
            "{}",
            line
        );
        let files = maildir_files(&mail.join("v.test").join(to.split('@').next().unwrap()));
        assert_eq!(files.len(), 1, "{}", to);
        let text = String::from_utf8_lossy(&files[0]).into_owned();
        assert!(text.contains("Subject: via lmtp"), "{}", text);
        assert!(text.contains("\n.leading dot"), "{}", text);
        assert!(!text.contains("\n..leading dot"), "{}", text);
    }
    // And Dovecot serves it over IMAP.
    let fetched = dovecot.fetch_all("alice@v.test");
    assert_eq!(fetched.len(), 1);
    assert!(String::from_utf8_lossy(&fetched[0]).contains("Subject: via lmtp"));
    let ghost = line_for(&log, &id, "ghost@v.test").unwrap();
    assert!(
        ghost.contains(&format!(
            "dsn=5.1.1, status=bounced (host www.a.org[{}] said: 550 5.1.1 <ghost@v.test> User doesn't exist",
            socket.display()
        )) && ghost.ends_with("(in reply to RCPT TO command))"),
        "{}",
        ghost
    );
    a.stop();
}
