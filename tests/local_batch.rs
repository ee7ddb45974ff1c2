//! local(8) group commit: `Local::deliver_batch` gives, request by request, the outcomes
//! `deliver` gives one message at a time, and writes the same mailbox records, in process
//! (as the running user) and, when root, through the privileged helper (the mailbox then
//! belongs to the recipient). A batch mixes mailbox deliveries with an unknown user, an
//! alias to a command, an alias to the same user and a message over the size limit.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use postern::config::Config;
use postern::delivery::local::Local;
use postern::delivery::lock::LockPolicy;
use postern::delivery::privileged::{HelperHandle, Op};
use postern::delivery::{Agent, Outcome, Request, Status};
use postern::queue::Recipient;

const TEST_USER: &str = common::HELPER_TEST_USER;

struct Env {
    dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Env {
    fn new(tag: &str, user: &str, aliases: &str, extra: &str) -> (Env, Arc<Config>) {
        let dir =
            std::env::temp_dir().join(format!("postern-batch-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("spool")).unwrap();
        std::fs::create_dir_all(dir.join("out")).unwrap();
        std::fs::set_permissions(dir.join("out"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let text = aliases
            .replace("USER", user)
            .replace("DIR", &dir.display().to_string());
        std::fs::write(dir.join("aliases"), text).unwrap();
        postern::tables::aliases::build_file(&dir.join("aliases")).unwrap();
        let main_cf = format!(
            "myhostname = www.a.org\nalias_maps = hash:{d}/aliases\nmail_spool_directory = {d}/spool\n\
             deliver_lock_attempts = 3\ndeliver_lock_delay = 0\n{}",
            extra,
            d = dir.display()
        );
        std::fs::write(dir.join("main.cf"), main_cf).unwrap();
        let cfg = Arc::new(Config::load(&dir).unwrap());
        (Env { dir }, cfg)
    }
}

/// One queued message: sender, recipients, content.
struct Msg {
    sender: &'static str,
    rcpts: Vec<Recipient>,
    content: Vec<u8>,
}

fn requests(msgs: &[Msg]) -> Vec<Request<'_>> {
    msgs.iter()
        .map(|m| Request {
            queue_id: "4F2A11BB8035",
            sender: m.sender,
            arrival: SystemTime::now(),
            content: &m.content,
            recipients: &m.rcpts,
            nexthop: "www.a.org",
            ret: None,
            envid: None,
            attrs: &[],
        })
        .collect()
}

/// The batch used by both tests, for mailbox owner `user`: six messages.
fn mixed(user: &str) -> Vec<Msg> {
    let me = format!("{}@www.a.org", user);
    let msg = |sender, rcpts: &[&str], content: &[u8]| Msg {
        sender,
        rcpts: rcpts.iter().map(|r| Recipient::new(r)).collect(),
        content: content.to_vec(),
    };
    vec![
        msg("a@x.test", &[&me], b"Subject: 1\n\nFrom one\n"),
        msg(
            "b@x.test",
            &["nosuchuser-pst@www.a.org"],
            b"Subject: 2\n\nx\n",
        ),
        msg("", &["runcmd@www.a.org"], b"Subject: 3\n\ncommand input\n"),
        msg(
            "c@x.test",
            &[&me, "again@www.a.org"],
            b"Subject: 4\n\ntwice\n",
        ),
        msg("d@x.test", &[&me], &[b'z'; 3000]),
        msg("e@x.test", &[&me], b"Subject: 6\n\nlast"),
    ]
}

/// The mbox (or a command's input) with the dates of the From_ lines blanked (deliveries a
/// second apart differ).
fn undated(mbox: &[u8]) -> String {
    let text = String::from_utf8_lossy(mbox);
    let mut out = String::new();
    let mut at_record_start = true;
    for line in text.split_inclusive('\n') {
        if at_record_start && line.starts_with("From ") {
            let cut = line.find("  ").map(|i| i + 2).unwrap_or(line.len());
            out.push_str(&line[..cut]);
            out.push_str("DATE\n");
        } else {
            out.push_str(line);
        }
        at_record_start = line == "\n";
    }
    out
}

/// Deliver `msgs` one at a time, then (from an empty mailbox) as one batch; the outcome
/// lists and mailbox contents must agree. Returns the batch outcomes and mailbox text.
fn compare(
    local: &Local,
    mbox: &Path,
    cmd_out: &Path,
    msgs: &[Msg],
) -> (Vec<Vec<Outcome>>, String) {
    let reqs = requests(msgs);
    let one_by_one: Vec<Vec<Outcome>> = reqs.iter().map(|r| local.deliver(r)).collect();
    let seq_mbox = undated(&std::fs::read(mbox).unwrap());
    let seq_cmd = undated(&std::fs::read(cmd_out).unwrap());
    std::fs::write(mbox, b"").unwrap();
    std::fs::remove_file(cmd_out).unwrap();
    let batch = local.deliver_batch(&reqs);
    assert_eq!(batch, one_by_one);
    let batch_mbox = undated(&std::fs::read(mbox).unwrap());
    assert_eq!(batch_mbox, seq_mbox);
    assert_eq!(undated(&std::fs::read(cmd_out).unwrap()), seq_cmd);
    (batch, batch_mbox)
}

/// What both tests expect of the batch outcomes and the mailbox.
fn check(out: &[Vec<Outcome>], mbox_text: &str, user: &str, mbox: &Path) {
    let me = format!("{}@www.a.org", user);
    assert_eq!(out.len(), 6, "one outcome list per request: {:?}", out);
    fn sent(o: &Outcome) -> (Status, &str, &str) {
        (o.status, o.dsn.as_str(), o.text.as_str())
    }
    let delivered = (Status::Sent, "2.0.0", "delivered to mailbox");
    assert_eq!(out[0].len(), 1);
    assert_eq!(sent(&out[0][0]), delivered);
    assert_eq!(
        sent(&out[1][0]),
        (Status::Bounced, "5.1.1", "unknown user: \"nosuchuser-pst\"")
    );
    assert_eq!(out[2].len(), 1);
    assert_eq!(out[2][0].status, Status::Sent, "{:?}", out[2]);
    assert!(out[2][0].text.starts_with("delivered to command: cat > "));
    // Two recipients of one message, the second an alias of the same user.
    assert_eq!(out[3].len(), 2);
    assert_eq!((out[3][0].rcpt, out[3][1].rcpt), (0, 1));
    assert_eq!(sent(&out[3][0]), delivered);
    assert_eq!(sent(&out[3][1]), delivered);
    assert_eq!(out[3][1].to.as_deref(), Some(me.as_str()));
    // Over mailbox_size_limit: refused alone, the next message still delivered.
    assert_eq!(
        sent(&out[4][0]),
        (
            Status::Bounced,
            "5.2.2",
            format!(
                "cannot update mailbox {} for user {}. error writing message: File too large",
                mbox.display(),
                user
            )
            .as_str()
        )
    );
    assert_eq!(sent(&out[5][0]), delivered);
    let expected = format!(
        "From a@x.test  DATE\nReturn-Path: <a@x.test>\nX-Original-To: {me}\nDelivered-To: {me}\nSubject: 1\n\n>From one\n\n\
         From c@x.test  DATE\nReturn-Path: <c@x.test>\nX-Original-To: {me}\nDelivered-To: {me}\nSubject: 4\n\ntwice\n\n\
         From c@x.test  DATE\nReturn-Path: <c@x.test>\nX-Original-To: again@www.a.org\nDelivered-To: {me}\nSubject: 4\n\ntwice\n\n\
         From e@x.test  DATE\nReturn-Path: <e@x.test>\nX-Original-To: {me}\nDelivered-To: {me}\nSubject: 6\n\nlast\n\n",
        me = me
    );
    assert_eq!(mbox_text, expected);
}

const ALIASES: &str = "runcmd: \"|cat > DIR/out/cmd\"\nagain: USER\n";

#[test]
fn batch_in_process_matches_one_by_one() {
    let user = postern::sys::user_by_uid(postern::sys::euid())
        .unwrap()
        .unwrap()
        .name;
    let (env, cfg) = Env::new(
        "inproc",
        &user,
        ALIASES,
        "mailbox_size_limit = 2000\nmessage_size_limit = 2000\n",
    );
    let local = Local::new(cfg, None);
    let mbox = env.dir.join("spool").join(&user);
    let (out, text) = compare(&local, &mbox, &env.dir.join("out/cmd"), &mixed(&user));
    check(&out, &text, &user, &mbox);
    let cmd = String::from_utf8(std::fs::read(env.dir.join("out/cmd")).unwrap()).unwrap();
    assert!(cmd.ends_with("Subject: 3\n\ncommand input\n"), "{}", cmd);
    // A batch of one is a plain delivery; an empty batch has no outcomes.
    let msgs = &mixed(&user)[..1];
    assert_eq!(local.deliver_batch(&requests(msgs)).len(), 1);
    assert!(local.deliver_batch(&[]).is_empty());
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn batch_through_the_helper_matches_one_by_one() {
    let Some(user) = common::helper_test_user() else {
        return;
    };
    let (env, cfg) = Env::new(
        "helper",
        TEST_USER,
        ALIASES,
        "mailbox_size_limit = 2000\nmessage_size_limit = 2000\n",
    );
    let helper =
        Arc::new(HelperHandle::spawn(Path::new(env!("CARGO_BIN_EXE_local")), &env.dir).unwrap());
    let local = Local::new(cfg, Some(helper.clone()));
    let mbox = env.dir.join("spool").join(TEST_USER);
    // The helper checks a batch as it checks one mailbox request: every record refused.
    let victim = env.dir.join("victim");
    let refused = helper.request_all(&Op::Mbox {
        path: victim.clone(),
        user: TEST_USER.into(),
        uid: user.uid,
        gid: user.gid,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        records: vec![b"x\n".to_vec(); 2],
    });
    assert_eq!(refused.len(), 2);
    for r in &refused {
        assert_eq!((r.status, r.dsn.as_str()), (Status::Deferred, "4.3.0"));
        assert!(
            r.text.starts_with("local delivery helper refused request"),
            "{}",
            r.text
        );
    }
    assert!(!victim.exists());
    let (out, text) = compare(&local, &mbox, &env.dir.join("out/cmd"), &mixed(TEST_USER));
    check(&out, &text, TEST_USER, &mbox);
    let meta = std::fs::metadata(&mbox).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (user.uid, user.gid, 0o600)
    );
    assert!(!env.dir.join("spool").join("postern-test.lock").exists());
    // A new mailbox created by a batch belongs to the recipient too.
    std::fs::remove_file(&mbox).unwrap();
    let msgs: Vec<Msg> = mixed(TEST_USER).into_iter().step_by(5).collect();
    let out = local.deliver_batch(&requests(&msgs));
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o[0].status == Status::Sent), "{:?}", out);
    let meta = std::fs::metadata(&mbox).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (user.uid, 0o600));
    assert_eq!(
        undated(&std::fs::read(&mbox).unwrap())
            .matches("From ")
            .count(),
        3,
        "two records, one with a quoted >From line"
    );
}
