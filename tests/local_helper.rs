//! The privileged helper path (root only): a new spool mailbox belongs to the recipient,
//! commands run as the alias database owner or $default_privs, Maildir as the user, and the
//! helper refuses requests it must not perform, including file and command requests whose
//! ids the named alias table or include file does not entitle. Skips (with a message) when
//! not root. Each test removes its directories; the test account's home (fixed when the
//! account is created) only ever holds per-process `Maildir-PID/` directories.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern::config::Config;
use postern::delivery::command::CommandJob;
use postern::delivery::local::Local;
use postern::delivery::lock::LockPolicy;
use postern::delivery::privileged::{HelperHandle, Op, Source};
use postern::delivery::{Agent, Outcome, Request, Status};
use postern::queue::Recipient;

const TEST_USER: &str = common::HELPER_TEST_USER;
/// The test account's home directory, given to useradd when the account is created.
const TEST_HOME: &str = common::HELPER_TEST_HOME;

struct Env {
    dir: PathBuf,
    cfg: Arc<Config>,
    helper: Arc<HelperHandle>,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
        ret: None,
        envid: None,
        attrs: &[],
    })
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn new_mailbox_belongs_to_the_recipient() {
    let Some(user) = common::helper_test_user() else {
        return;
    };
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
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn commands_run_as_alias_owner_or_default_privs() {
    let Some(user) = common::helper_test_user() else {
        return;
    };
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
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn maildir_is_written_as_the_user() {
    let Some(user) = common::helper_test_user() else {
        return;
    };
    if !common::require(
        user.home == TEST_HOME,
        &format!(
            "{} has home {}, not {} (remove the account; the tests recreate it)",
            TEST_USER, user.home, TEST_HOME
        ),
    ) {
        return;
    }
    // The home is shared with other runs: create it if needed (never through a symlink),
    // and use a Maildir of this process only, removed at the end.
    let _ = std::fs::create_dir(TEST_HOME);
    let meta = std::fs::symlink_metadata(TEST_HOME).unwrap();
    assert!(meta.is_dir(), "{} is not a directory", TEST_HOME);
    std::os::unix::fs::lchown(TEST_HOME, Some(user.uid), Some(user.gid)).unwrap();
    let maildir = format!("Maildir-{}/", std::process::id());
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove = Remove(Path::new(TEST_HOME).join(&maildir));
    let env = setup("maildir", "", &format!("home_mailbox = {}\n", maildir));
    let local = Local::new(env.cfg.clone(), Some(env.helper.clone()));
    let out = deliver(&local, "postern-test@www.a.org", b"Subject: md\n\nx\n");
    assert_eq!(
        (out[0].status, out[0].text.as_str()),
        (Status::Sent, "delivered to maildir"),
        "{:?}",
        out
    );
    let new = Path::new(TEST_HOME).join(&maildir).join("new");
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
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn helper_refuses_dangerous_requests() {
    let Some(user) = common::helper_test_user() else {
        return;
    };
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
        source: Source::None,
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
        records: vec![b"x".to_vec()],
    });
    refused(Op::Mbox {
        path: env.dir.join("spool").join(TEST_USER),
        user: TEST_USER.into(),
        uid: 0,
        gid: 0,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        records: vec![b"x".to_vec()],
    });
    refused(Op::File {
        path: "relative/file".into(),
        source: Source::None,
        uid: user.uid,
        gid: user.gid,
        limit: 0,
        locks: LockPolicy::default(),
        record: b"x".to_vec(),
    });
    assert!(!victim.exists());
    // Without a source the test user's ids are refused (only $default_privs would do).
    refused(Op::File {
        path: victim.clone(),
        source: Source::None,
        uid: user.uid,
        gid: user.gid,
        limit: 0,
        locks: LockPolicy::default(),
        record: b"x".to_vec(),
    });
    // A file the test user may not write stays untouched: the child really is that user.
    let list = env.dir.join("list");
    std::fs::write(&list, format!("{}\n", victim.display())).unwrap();
    std::os::unix::fs::chown(&list, Some(user.uid), Some(user.gid)).unwrap();
    let r = env.helper.request(&Op::File {
        path: victim.clone(),
        source: Source::Include(list),
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
    // It never will be: bounced at once (Postfix's 5.2.0), not retried.
    assert_eq!(
        (r.status, r.dsn.as_str(), r.text),
        (
            Status::Bounced,
            "5.2.0",
            format!(
                "cannot append message to file {}: cannot open file: Permission denied",
                victim.display()
            )
        )
    );
    assert!(!victim.exists());
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn command_ids_are_derived_from_the_source() {
    let Some(user) = common::helper_test_user() else {
        return;
    };
    let env = setup(
        "source",
        "inc: :include:DIR/list\nother: \"|id -u > DIR/out/other\"\n",
        // local(8)'s default (alias, forward) forbids commands in include files.
        "allow_mail_to_commands = alias, forward, include\n",
    );
    let list = env.dir.join("list");
    let cmd = format!("id -u > {}/out/inc", env.dir.display());
    std::fs::write(&list, format!("\"|{}\"\n", cmd)).unwrap();
    let nobody = postern::sys::user_by_name("nobody").unwrap().unwrap();
    let request = |source: Source, uid: u32, gid: u32, command: &str| {
        env.helper.request(&Op::Command {
            source,
            uid,
            gid,
            job: CommandJob {
                command: command.to_string(),
                argv: Vec::new(),
                shell: String::new(),
                dir_required: false,
                env: Vec::new(),
                dir: "/".into(),
                limit: Duration::from_secs(30),
                input: Vec::new(),
            },
        })
    };
    let refused = |r: postern::delivery::request::Reply, why: &str| {
        assert_eq!(r.status, Status::Deferred, "{:?}", r);
        assert!(r.text.contains(why), "{}", r.text);
    };
    // Root-owned include file: only $default_privs, not the ids mail_owner asks for.
    let inc = || Source::Include(list.clone());
    refused(
        request(inc(), user.uid, user.gid, &cmd),
        "as the source entitles",
    );
    // A command the include file does not list.
    std::os::unix::fs::chown(&list, Some(user.uid), Some(user.gid)).unwrap();
    refused(
        request(inc(), user.uid, user.gid, "touch /tmp/postern-evil"),
        "does not list the target",
    );
    // The alias table is root-owned: its command may not run as the test user, and the
    // source must be one of $alias_maps.
    let spec = format!("hash:{}/aliases", env.dir.display());
    let other = format!("id -u > {}/out/other", env.dir.display());
    let table = |spec: &str| Source::Table {
        spec: spec.to_string(),
        key: "other".into(),
    };
    refused(
        request(table(&spec), user.uid, user.gid, &other),
        "as the source entitles",
    );
    refused(
        request(
            table("hash:/etc/aliases-postern-none"),
            nobody.uid,
            nobody.gid,
            &other,
        ),
        "is not in alias_maps",
    );
    assert!(!env.dir.join("out/other").exists());
    assert!(!Path::new("/tmp/postern-evil").exists());
    // Through the delivery agent: the include file's owner runs its command.
    let local = Local::new(env.cfg.clone(), Some(env.helper.clone()));
    let out = deliver(&local, "inc@www.a.org", b"\nx\n");
    assert_eq!(out[0].status, Status::Sent, "{:?}", out);
    let id = std::fs::read_to_string(env.dir.join("out/inc")).unwrap();
    assert_eq!(id.trim(), user.uid.to_string());
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn alias_table_owned_by_user_with_group_root_runs_as_the_user() {
    let Some(user) = common::helper_test_user() else {
        return;
    };
    assert_ne!(user.gid, 0, "the test account's own group is not root");
    let env = setup(
        "usergroup",
        "runid: \"|id -u > DIR/out/id; id -g >> DIR/out/id\", DIR/out/copy\n",
        "",
    );
    // user:root, as `chown user /etc/aliases*` leaves a root-group file: the group of the
    // file is not a privilege the owner has.
    for f in ["aliases", "aliases.db"] {
        std::os::unix::fs::chown(env.dir.join(f), Some(user.uid), Some(0)).unwrap();
    }
    let local = Local::new(env.cfg.clone(), Some(env.helper.clone()));
    let out = deliver(&local, "runid@www.a.org", b"\nx\n");
    assert_eq!(out.len(), 2, "{:?}", out);
    for o in &out {
        assert_eq!(
            (o.status, o.dsn.as_str()),
            (Status::Sent, "2.0.0"),
            "{:?}",
            o
        );
    }
    let ids = std::fs::read_to_string(env.dir.join("out/id")).unwrap();
    assert_eq!(ids, format!("{}\n{}\n", user.uid, user.gid));
    let meta = std::fs::metadata(env.dir.join("out/copy")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid));
}
