//! The privileged helper path (root only): a new spool mailbox belongs to the recipient,
//! commands run as the alias database owner or $default_privs, Maildir as the user, and the
//! helper refuses requests it must not perform. Skips (with a message) when not root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern::config::Config;
use postern::delivery::local::Local;
use postern::delivery::lock::LockPolicy;
use postern::delivery::privileged::{HelperHandle, Op};
use postern::delivery::{Agent, Outcome, Request, Status};
use postern::queue::Recipient;
use postern::sys::User;

const TEST_USER: &str = "postern-test";
const TEST_HOME: &str = "/tmp/postern-test-home";

/// The test account, created when root and absent; None (with the reason printed) to skip.
fn test_user() -> Option<User> {
    if !postern::sys::is_root() {
        eprintln!("skipping: the privileged helper tests need root");
        return None;
    }
    static CREATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = CREATE.lock().unwrap_or_else(|e| e.into_inner());
    if postern::sys::user_by_name(TEST_USER)
        .ok()
        .flatten()
        .is_none()
    {
        let st = std::process::Command::new("useradd")
            .args(["-M", "-d", TEST_HOME, "-s", "/bin/sh", TEST_USER])
            .status();
        if !st.is_ok_and(|s| s.success()) {
            eprintln!("skipping: cannot create user {}", TEST_USER);
            return None;
        }
    }
    postern::sys::user_by_name(TEST_USER).ok().flatten()
}

struct Env {
    dir: PathBuf,
    cfg: Arc<Config>,
    helper: Arc<HelperHandle>,
}

fn setup(tag: &str, aliases: &str, extra: &str) -> Env {
    let dir = std::env::temp_dir().join(format!("postern-helper-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::set_permissions(dir.join("out"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(
        dir.join("aliases"),
        aliases.replace("DIR", &dir.display().to_string()),
    )
    .unwrap();
    postern::tables::aliases::build_file(&dir.join("aliases")).unwrap();
    let main_cf = format!(
        "myhostname = www.a.org\nalias_maps = hash:{d}/aliases\nmail_spool_directory = {d}/spool\n{}",
        extra,
        d = dir.display()
    );
    std::fs::write(dir.join("main.cf"), main_cf).unwrap();
    let cfg = Arc::new(Config::load(&dir).unwrap());
    let helper =
        Arc::new(HelperHandle::spawn(Path::new(env!("CARGO_BIN_EXE_local")), &dir).unwrap());
    Env { dir, cfg, helper }
}

fn deliver(local: &Local, rcpt: &str, content: &[u8]) -> Vec<Outcome> {
    let rcpts = [Recipient::new(rcpt)];
    local.deliver(&Request {
        queue_id: "ABC",
        sender: "s@x.test",
        arrival: SystemTime::now(),
        content,
        recipients: &rcpts,
        nexthop: "www.a.org",
    })
}

#[test]
fn new_mailbox_belongs_to_the_recipient() {
    let Some(user) = test_user() else { return };
    let env = setup("owner", "", "");
    let local = Local::new(env.cfg.clone(), Some(env.helper.clone()));
    let out = deliver(&local, "postern-test@www.a.org", b"Subject: hi\n\nhello\n");
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let mbox = env.dir.join("spool").join(TEST_USER);
    let meta = std::fs::metadata(&mbox).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (user.uid, user.gid, 0o600)
    );
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert!(text.starts_with("From s@x.test  "), "{}", text);
    assert!(
        text.ends_with("Delivered-To: postern-test@www.a.org\nSubject: hi\n\nhello\n\n"),
        "{}",
        text
    );
    assert!(!env.dir.join("spool").join("postern-test.lock").exists());
    // Several threads through the pool: all delivered, each record whole.
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let cfg = env.cfg.clone();
            let helper = env.helper.clone();
            std::thread::spawn(move || {
                let local = Local::new(cfg, Some(helper));
                for _ in 0..5 {
                    assert_eq!(
                        deliver(&local, "postern-test@www.a.org", b"\nbody\n")[0].status,
                        Status::Sent
                    );
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert_eq!(text.matches("\nFrom s@x.test  ").count() + 1, 21);
}

#[test]
fn commands_run_as_alias_owner_or_default_privs() {
    let Some(user) = test_user() else { return };
    let env = setup(
        "cmd",
        "runid: \"|id -u > DIR/out/id; id -g >> DIR/out/id\"\n",
        "",
    );
    let local = Local::new(env.cfg.clone(), Some(env.helper.clone()));
    let nobody = postern::sys::user_by_name("nobody").unwrap().unwrap();
    let out = deliver(&local, "runid@www.a.org", b"\nx\n");
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let ids = std::fs::read_to_string(env.dir.join("out/id")).unwrap();
    assert_eq!(
        ids,
        format!("{}\n{}\n", nobody.uid, nobody.gid),
        "root-owned aliases run as default_privs"
    );
    std::fs::remove_file(env.dir.join("out/id")).unwrap();
    std::os::unix::fs::chown(env.dir.join("aliases.db"), Some(user.uid), Some(user.gid)).unwrap();
    let out = deliver(&local, "runid@www.a.org", b"\nx\n");
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let ids = std::fs::read_to_string(env.dir.join("out/id")).unwrap();
    assert_eq!(ids, format!("{}\n{}\n", user.uid, user.gid));
}

#[test]
fn maildir_is_written_as_the_user() {
    let Some(user) = test_user() else { return };
    if user.home != TEST_HOME {
        eprintln!(
            "skipping: {} has home {}, not {}",
            TEST_USER, user.home, TEST_HOME
        );
        return;
    }
    let _ = std::fs::remove_dir_all(TEST_HOME);
    std::fs::create_dir_all(TEST_HOME).unwrap();
    std::os::unix::fs::chown(TEST_HOME, Some(user.uid), Some(user.gid)).unwrap();
    let env = setup("maildir", "", "home_mailbox = Maildir/\n");
    let local = Local::new(env.cfg.clone(), Some(env.helper.clone()));
    let out = deliver(&local, "postern-test@www.a.org", b"Subject: md\n\nx\n");
    assert_eq!(
        (out[0].status, out[0].text.as_str()),
        (Status::Sent, "delivered to maildir"),
        "{:?}",
        out
    );
    let new = Path::new(TEST_HOME).join("Maildir/new");
    let files: Vec<_> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let meta = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(meta.uid(), user.uid);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(
        text,
        "Return-Path: <s@x.test>\nX-Original-To: postern-test@www.a.org\nDelivered-To: postern-test@www.a.org\nSubject: md\n\nx\n"
    );
}

#[test]
fn helper_refuses_dangerous_requests() {
    let Some(user) = test_user() else { return };
    let env = setup("refuse", "", "");
    let refused = |op: Op| {
        let r = env.helper.request(&op);
        assert_eq!(
            (r.status, r.dsn.as_str()),
            (Status::Deferred, "4.3.0"),
            "{:?}",
            r
        );
        assert!(
            r.text.starts_with("local delivery helper refused request"),
            "{}",
            r.text
        );
    };
    let victim = env.dir.join("victim");
    refused(Op::File {
        path: victim.clone(),
        uid: 0,
        gid: 0,
        limit: 0,
        locks: LockPolicy::default(),
        record: b"x".to_vec(),
    });
    refused(Op::Mbox {
        path: victim.clone(),
        user: "root".into(),
        uid: 0,
        gid: 0,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        record: b"x".to_vec(),
    });
    refused(Op::Mbox {
        path: env.dir.join("spool").join(TEST_USER),
        user: TEST_USER.into(),
        uid: 0,
        gid: 0,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        record: b"x".to_vec(),
    });
    refused(Op::File {
        path: "relative/file".into(),
        uid: user.uid,
        gid: user.gid,
        limit: 0,
        locks: LockPolicy::default(),
        record: b"x".to_vec(),
    });
    assert!(!victim.exists());
    // A file the test user may not write stays untouched: the child really is that user.
    let r = env.helper.request(&Op::File {
        path: victim.clone(),
        uid: user.uid,
        gid: user.gid,
        limit: 0,
        locks: LockPolicy {
            attempts: 1,
            delay: Duration::ZERO,
            ..LockPolicy::default()
        },
        record: b"x".to_vec(),
    });
    assert_eq!(r.status, Status::Deferred, "{:?}", r);
    assert!(r.text.contains("Permission denied"), "{}", r.text);
    assert!(!victim.exists());
}
