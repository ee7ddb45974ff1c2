//! Virtual mail hosting end to end, as the users' walkthrough builds it: domains, mailboxes
//! and aliases are rows in MySQL (the shipped etc/extmail-schema.sql and
//! etc/mysql_virtual_*.cf examples, loaded into a database of the test's own on the
//! MariaDB at 127.0.0.1:3306), mail arrives over SMTP, virtual(8) delivers it into maildirs
//! as the mapped uid, and a real Dovecot reads it back over IMAP. The database is reached
//! through a forwarder the test can take down, to check that a stopped database answers
//! 451 at RCPT and defers delivery until it is back, losing nothing.
//!
//! Root-only: Postern starts as root (the .cf files are root-only 0600, read before the
//! privilege drop) and Dovecot's master needs root.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::dovecot::Dovecot;
use common::proxy::Proxy;
use common::{Instance, free_port, queued_id, wait_for};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};
use postern::sys;

/// A database of the test's own holding the shipped Extmail schema and test data.
struct Db {
    name: String,
    admin: Conn,
}

impl Db {
    fn new() -> Option<Db> {
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(3306)
            .user(Some("root"))
            .prefer_socket(false);
        let admin = Conn::new(opts).ok();
        if !common::require(
            admin.is_some(),
            "needs MariaDB/MySQL on 127.0.0.1:3306 (root, empty password)",
        ) {
            return None;
        }
        let mut admin = admin.unwrap();
        let name = format!("postern_vd{}", std::process::id());
        admin
            .query_drop(format!("DROP DATABASE IF EXISTS {}", name))
            .unwrap();
        admin
            .query_drop(format!("CREATE DATABASE {}", name))
            .unwrap();
        admin.query_drop(format!("USE {}", name)).unwrap();
        let schema = std::fs::read_to_string(repo("etc/extmail-schema.sql")).unwrap();
        for stmt in common::sql_statements(&schema) {
            admin.query_drop(stmt).unwrap();
        }
        // A disabled user, as Extmail marks one.
        admin
            .query_drop(
                "INSERT INTO mailbox (username, maildir, domain, active) \
                 VALUES ('carol@example.com', 'example.com/carol/Maildir/', 'example.com', 0)",
            )
            .unwrap();
        Some(Db { name, admin })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self
            .admin
            .query_drop(format!("DROP DATABASE {}", self.name));
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Install a shipped mysql_*.cf into `etc`, its connection settings pointed at `port`
/// (the forwarder) and the test database, root-only as an admin keeps a file with a
/// password. Returns its `mysql:` spec.
fn install_cf(etc: &Path, name: &str, port: u16, db: &str) -> String {
    let text = std::fs::read_to_string(repo("etc").join(name)).unwrap();
    let mut out = format!(
        "hosts = inet:127.0.0.1:{}\nuser = root\npassword =\ndbname = {}\n",
        port, db
    );
    for l in text.lines() {
        if !["hosts", "user", "password", "dbname"]
            .iter()
            .any(|k| l.starts_with(k))
        {
            out.push_str(l);
            out.push('\n');
        }
    }
    let path = etc.join(name);
    std::fs::write(&path, out).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!("mysql:{}", path.display())
}

/// Every message file in a maildir (new/ and cur/), contents sorted.
fn maildir_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                out.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    out.sort();
    out
}

fn crlf_to_lf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// How many log lines contain every one of `parts`.
fn count(log: &str, parts: &[&str]) -> usize {
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

#[test]
#[ignore = "needs root: Postern's privilege drop and Dovecot's master"]
fn mysql_virtual_hosting_read_back_over_imap() {
    if !common::require_root()
        || !common::require(Dovecot::available(), "needs Dovecot (dovecot-imapd)")
    {
        return;
    }
    let Some(db) = Db::new() else { return };
    let proxy = Proxy::start("127.0.0.1:3306");
    let account = sys::user_by_name(&common::test_user()).unwrap().unwrap();

    let inst = Instance::new(&[]);
    let base = inst.dir.join("vmail");
    std::fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::chown(&base, Some(account.uid), Some(account.gid)).unwrap();
    let domains = install_cf(
        &inst.etc,
        "mysql_virtual_domains_maps.cf",
        proxy.port,
        &db.name,
    );
    let mailboxes = install_cf(
        &inst.etc,
        "mysql_virtual_mailbox_maps.cf",
        proxy.port,
        &db.name,
    );
    let aliases = install_cf(
        &inst.etc,
        "mysql_virtual_alias_maps.cf",
        proxy.port,
        &db.name,
    );
    inst.set("virtual_mailbox_domains", &domains);
    inst.set("virtual_mailbox_maps", &mailboxes);
    inst.set("virtual_alias_maps", &aliases);
    inst.set("virtual_mailbox_base", &base.display().to_string());
    inst.set("virtual_uid_maps", &format!("static:{}", account.uid));
    inst.set("virtual_gid_maps", &format!("static:{}", account.gid));
    // The test client is not a trusted network: mail it sends must be for our domains.
    inst.set("mynetworks", "192.0.2.0/24");
    let master = inst.etc.join("master.cf");
    let mut m = std::fs::read_to_string(&master).unwrap();
    m.push_str("virtual unix - n n - - virtual\n");
    std::fs::write(&master, m).unwrap();
    inst.newaliases();
    inst.start();

    // RCPT: known users and aliases accepted; unknown, disabled and hostile addresses
    // rejected as Postfix does; a domain not in the database is not ours (2.10's default
    // smtpd_relay_restrictions end in defer_unauth_destination: 454).
    let mut c = inst.connect();
    c.reply();
    c.cmd("ehlo client.test");
    assert_eq!(c.cmd("mail from:<sender@remote.test>"), "250 2.1.0 Ok");
    for bad in [
        "nobody@example.com",
        "carol@example.com",
        "x'or'1'='1@example.com",
    ] {
        assert_eq!(
            c.cmd(&format!("rcpt to:<{}>", bad)),
            format!(
                "550 5.1.1 <{}>: Recipient address rejected: User unknown in virtual mailbox table",
                bad
            )
        );
    }
    assert_eq!(
        c.cmd("rcpt to:<a@missing.test>"),
        "454 4.7.1 <a@missing.test>: Relay access denied"
    );
    assert_eq!(c.cmd("rcpt to:<alice@example.com>"), "250 2.1.5 Ok");
    let body = "Subject: first\n\nHello Alice,\n.. a line that starts with a dot\n\tand a tab\n";
    let r = c.data(body);
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{}", r);
    let first = queued_id(&r);
    c.cmd("quit");
    let log = inst.log();
    assert_eq!(
        count(
            &log,
            &[
                "NOQUEUE: reject: RCPT",
                "carol@example.com",
                "virtual mailbox table"
            ]
        ),
        1,
        "{}",
        log
    );
    let second = inst.send(
        "sender@remote.test",
        &["<postmaster@example.com>"],
        "second",
        "To all",
    );

    // Three deliveries by virtual(8): alice twice (once through the alias), bob once.
    let sent = |log: &str| {
        count(
            log,
            &[
                "postfix/virtual[",
                "relay=virtual",
                "status=sent (delivered to maildir)",
            ],
        )
    };
    assert!(wait_for(30, || sent(&inst.log()) == 3), "{}", inst.log());
    let log = inst.log();
    assert_eq!(
        count(&log, &[&first, "to=<alice@example.com>", "dsn=2.0.0"]),
        1,
        "{}",
        log
    );
    assert_eq!(
        count(
            &log,
            &[
                &second,
                "to=<bob@example.com>",
                "orig_to=<postmaster@example.com>"
            ]
        ),
        1,
        "{}",
        log
    );

    // The maildirs belong to the mapped account; their files are what Dovecot serves.
    let alice_dir = base.join("example.com/alice/Maildir");
    let meta = std::fs::metadata(&alice_dir).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (account.uid, account.gid));
    let on_disk = maildir_files(&alice_dir);
    assert_eq!(on_disk.len(), 2);
    let first_file = on_disk
        .iter()
        .find(|f| f.windows(14).any(|w| w == b"Subject: first"))
        .expect("the first message in alice's maildir");
    let text = String::from_utf8_lossy(first_file);
    assert!(
        text.starts_with(
            "Return-Path: <sender@remote.test>\nX-Original-To: alice@example.com\nDelivered-To: alice@example.com\n"
        ),
        "{}",
        text
    );
    assert!(
        text.ends_with("\nHello Alice,\n. a line that starts with a dot\n\tand a tab\n"),
        "{}",
        text
    );

    let imap_dir = inst.dir.join("dovecot");
    let dovecot = Dovecot::start(
        &imap_dir,
        free_port(),
        &format!("maildir:{}/%d/%n/Maildir", base.display()),
        account.uid,
        account.gid,
    );
    let mut over_imap: Vec<Vec<u8>> = dovecot
        .fetch_all("alice@example.com")
        .iter()
        .map(|m| crlf_to_lf(m))
        .collect();
    over_imap.sort();
    assert_eq!(
        over_imap,
        maildir_files(&alice_dir),
        "IMAP serves alice's files byte for byte"
    );
    let bob = dovecot.fetch_all("bob@example.com");
    assert_eq!(bob.len(), 1);
    assert!(String::from_utf8_lossy(&bob[0]).contains("Delivered-To: bob@example.com\r\n"));

    // The database stops: RCPT answers 451, never "unknown user".
    proxy.down();
    let mut c = inst.connect();
    c.reply();
    c.cmd("ehlo client.test");
    c.cmd("mail from:<sender@remote.test>");
    assert_eq!(
        c.cmd("rcpt to:<bob@example.com>"),
        "451 4.3.0 <bob@example.com>: Temporary lookup failure"
    );
    c.cmd("quit");
    proxy.up();

    // Mail accepted while the database answered, delivered while it is down: deferred,
    // then delivered once it is back.
    inst.set("defer_transports", "virtual");
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(wait_for(10, || inst.log().contains("reload -- version")));
    let third = inst.send(
        "sender@remote.test",
        &["<bob@example.com>"],
        "third",
        "While down",
    );
    assert!(wait_for(30, || count(
        &inst.log(),
        &[&third, "status=deferred"]
    ) >= 1));
    proxy.down();
    inst.set("defer_transports", "");
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(wait_for(10, || count(&inst.log(), &["reload -- version"]) >= 2));
    assert!(inst.run("postqueue", &["-f"]).status.success());
    assert!(
        wait_for(30, || count(&inst.log(), &[&third, "status=deferred"]) >= 2),
        "{}",
        inst.log()
    );
    assert_eq!(count(&inst.log(), &[&third, "status=bounced"]), 0);
    proxy.up();
    assert!(inst.run("postqueue", &["-f"]).status.success());
    assert!(
        wait_for(30, || count(
            &inst.log(),
            &[&third, "status=sent (delivered to maildir)"]
        ) == 1),
        "{}",
        inst.log()
    );
    assert_eq!(dovecot.fetch_all("bob@example.com").len(), 2);
}
