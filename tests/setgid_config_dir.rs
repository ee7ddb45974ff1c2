//! The set-gid programs (postdrop, postqueue) and `-c`/MAIL_CONFIG: as in Postfix's
//! mail_conf.c, a configuration directory other than the default is honoured for an
//! ordinary user only when the default main.cf lists it in `alternate_config_directories`
//! (or `multi_instance_directories`); root may name any. Root-only: the tests install
//! set-gid copies and write the default main.cf (`common::setgid::DefaultMainCf`).

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::Instance;
use postern::queue::{Envelope, Recipient, file};

/// Run `program` as `ids` (uid, gid) with `args` and `env`, `input` on its standard input.
fn run(
    program: &Path,
    ids: (u32, u32),
    args: &[&str],
    env: &[(&str, &str)],
    input: &[u8],
) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("MAIL_CONFIG")
        .envs(env.iter().copied())
        .uid(ids.0)
        .gid(ids.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // A refused program may exit before it reads: a broken pipe is no failure.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The two lines of Postfix's refusal.
fn refusal(program: &str, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "{program}: error: unauthorized configuration directory name: {d}\n\
         {program}: fatal: specify \"alternate_config_directories = {d}\" or \"multi_instance_directories = {d}\" in {}/main.cf\n",
        postern::config::DEFAULT_CONFIG_DIR
    )
}

/// A queue file as sendmail hands it to postdrop.
fn queue_file(user: &str) -> Vec<u8> {
    let mut env = Envelope::new(&format!("{user}@www.a.org"));
    env.recipients.push(Recipient::new(user));
    file::encode(&mut env, b"Subject: setgid\n\nvia postdrop -c\n", "")
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn setgid_programs_take_another_config_directory_only_when_listed() {
    if !common::require_root() {
        return;
    }
    let inst = Instance::new(&[]);
    let (_, group) = common::mail_accounts();
    assert!(inst.postfix(&["check"]).status.success());
    let sbin = inst.dir.join("sbin");
    let postdrop = common::setgid::setgid_copy("postdrop", &sbin, &group);
    let postqueue = common::setgid::setgid_copy("postqueue", &sbin, &group);
    let user = postern::sys::user_by_name(&inst.user).unwrap().unwrap();
    let me = (user.uid, user.gid);
    let etc = inst.etc.to_str().unwrap();
    let qf = queue_file(&inst.user);

    // Not listed: refused with Postfix's messages, by -c and by MAIL_CONFIG alike.
    {
        let _default = common::setgid::DefaultMainCf::with(
            "# alternate_config_directories = the instance\nalternate_config_directories = /nonexistent\n",
        );
        let o = run(&postdrop, me, &["-c", etc], &[], &qf);
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        assert_eq!(err(&o), refusal("postdrop", &inst.etc));
        let o = run(&postdrop, me, &[], &[("MAIL_CONFIG", etc)], &qf);
        assert_eq!(
            (o.status.code(), err(&o)),
            (Some(1), refusal("postdrop", &inst.etc))
        );
        let o = run(&postqueue, me, &["-c", etc, "-p"], &[], b"");
        assert_eq!(
            (o.status.code(), err(&o)),
            (Some(1), refusal("postqueue", &inst.etc))
        );
        assert!(inst.queue_files("maildrop").is_empty());
        // Root may name any directory.
        let o = run(&postdrop, (0, 0), &["-c", etc], &[], &qf);
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    }
    assert_eq!(inst.queue_files("maildrop").len(), 1);

    // Listed (with a continuation line): accepted.
    let _default = common::setgid::DefaultMainCf::with(&format!(
        "alternate_config_directories = /nonexistent,\n    {etc}\n"
    ));
    let o = run(&postdrop, me, &["-c", etc], &[], &qf);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(inst.queue_files("maildrop").contains(&id), "{id}");
    let o = run(&postqueue, me, &["-c", etc, "-p"], &[], b"");
    assert!(!err(&o).contains("unauthorized"), "{}", err(&o));
    assert_ne!(o.status.code(), Some(1), "{}", err(&o));
}
