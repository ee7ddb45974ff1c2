//! maillog_file with a running instance (as root through the root postlogd child, as an
//! ordinary user written by the daemon itself): `postfix reload` follows a renamed file and
//! a changed path, `postfix logrotate` renames, reopens and compresses as Postfix 3.4's, its
//! errors are Postfix's, no line is lost at `postfix stop`, and each SMTP session's lines
//! carry their own number in the PID field.

mod common;

use std::path::{Path, PathBuf};

use common::{Instance, wait_for};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// One SMTP session that only says EHLO and QUIT.
fn hello(inst: &Instance, name: &str) {
    let mut c = inst.connect();
    c.reply();
    assert!(c.cmd(&format!("ehlo {}", name)).starts_with("250"));
    c.cmd("quit");
}

/// The `[pid]` of the log line containing `needle`.
fn pid_of(log: &str, needle: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains(needle))?;
    let tag_end = line.find("]: ")?;
    let start = line[..tag_end].rfind('[')?;
    Some(line[start + 1..tag_end].to_string())
}

#[test]
fn reload_follows_a_renamed_file_and_a_new_path() {
    let inst = Instance::new(&[]);
    inst.start();
    let old = inst.dir.join("maillog.1");
    std::fs::rename(&inst.maillog, &old).unwrap();
    let out = inst.postfix(&["reload"]);
    assert!(out.status.success(), "{:?}", out);
    assert!(
        wait_for(20, || read(&inst.maillog).contains("reload -- version")),
        "new file: {:?}\nold file: {}",
        read(&inst.maillog),
        read(&old)
    );
    hello(&inst, "after-rename");
    assert!(wait_for(20, || read(&inst.maillog)
        .contains("disconnect from localhost[127.0.0.1]")));
    assert!(!read(&old).contains("reload -- version"), "{}", read(&old));
    assert!(read(&old).contains("daemon started"), "{}", read(&old));

    // A new path: the next reload writes there, and nothing more goes to the old one.
    let other = inst.dir.join("other.log");
    inst.set("maillog_file", other.to_str().unwrap());
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(wait_for(20, || read(&other).contains("reload -- version")));
    let before = read(&inst.maillog);
    hello(&inst, "after-change");
    assert!(wait_for(20, || read(&other)
        .contains("disconnect from localhost[127.0.0.1]")));
    inst.stop();
    // Everything logged up to the stop is in the file when `postfix stop` returns.
    assert!(
        read(&other).contains("terminating on signal 15"),
        "{}",
        read(&other)
    );
    let after = read(&inst.maillog);
    assert!(
        after.len() <= before.len() + 200 && !after.contains("after-change"),
        "{}",
        after
    );
}

fn rotated(dir: &Path, name: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{}.", name)))
        })
        .collect()
}

#[test]
fn logrotate_renames_compresses_and_reopens() {
    let inst = Instance::new(&[]);
    inst.start();
    hello(&inst, "before-rotation");
    assert!(wait_for(20, || read(&inst.maillog).contains("disconnect from")));
    let out = inst.postfix(&["logrotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = rotated(&inst.dir, "maillog");
    assert_eq!(files.len(), 1, "{:?}", files);
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    // maillog.YYYYMMDD-HHMMSS.gz (the default suffix and compressor).
    assert!(name.ends_with(".gz"), "{}", name);
    let stamp = &name["maillog.".len()..name.len() - 3];
    assert!(
        stamp.len() == 15 && stamp.as_bytes()[8] == b'-',
        "{}",
        stamp
    );
    let unzipped = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&files[0])
        .output()
        .unwrap();
    let old = String::from_utf8_lossy(&unzipped.stdout);
    assert!(old.contains("daemon started"), "{}", old);
    assert!(old.contains("disconnect from"), "{}", old);
    // The running system writes the new file.
    assert!(wait_for(20, || read(&inst.maillog).contains("reload -- version")));
    hello(&inst, "after-rotation");
    assert!(wait_for(20, || read(&inst.maillog).contains("disconnect from")));
    inst.stop();
}

#[test]
fn logrotate_errors_as_postfix() {
    let inst = Instance::new(&[("maillog_file_rotate_suffix", "x%Y")]);
    std::fs::write(&inst.maillog, "old line\n").unwrap();
    // Not running: renamed and compressed without a reload; a compressor of our choice.
    inst.set("maillog_file_compressor", "/bin/true");
    let out = inst.postfix(&["logrotate"]);
    assert!(out.status.success(), "{:?}", out);
    let files = rotated(&inst.dir, "maillog");
    assert_eq!(files.len(), 1, "{:?}", files);
    assert!(
        files[0].to_str().unwrap().contains("maillog.x2"),
        "{:?}",
        files
    );
    assert_eq!(read(&files[0]), "old line\n");

    inst.set("maillog_file_compressor", "");
    let out = inst.postfix(&["logrotate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "fatal: empty 'maillog_file_compressor' parameter value - logfile rotation failed"
        ),
        "{:?}",
        out
    );
    // A compressor that fails.
    inst.set("maillog_file_compressor", "/bin/false");
    let out = inst.postfix(&["logrotate"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}", err);
    assert!(
        err.contains(&format!(
            "fatal: logfile '{}' rotation failed: /bin/false ",
            inst.maillog.display()
        )),
        "{}",
        err
    );

    let dev = Instance::new(&[("maillog_file", "/dev/stdout")]);
    let out = dev.postfix(&["logrotate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fatal: not rotating '/dev/stdout'"),
        "{:?}",
        out
    );
}

#[test]
fn each_session_has_its_own_pid_field() {
    let inst = Instance::new(&[]);
    inst.start();
    // Two sessions open at once, then each ends.
    let mut a = inst.connect();
    a.reply();
    assert!(a.cmd("ehlo first-client").starts_with("250"));
    let mut b = inst.connect();
    b.reply();
    assert!(b.cmd("ehlo second-client").starts_with("250"));
    a.cmd("mail from:<a@remote.test>");
    a.cmd("quit");
    b.cmd("quit");
    // The master logs "daemon started" after the pid file that `postfix start` waits for.
    assert!(wait_for(20, || {
        let log = read(&inst.maillog);
        log.matches("disconnect from").count() >= 2 && log.contains("daemon started")
    }));
    let log = read(&inst.maillog);
    let connects: Vec<String> = log
        .lines()
        .filter(|l| l.contains("postfix/smtpd[") && l.contains("connect from localhost"))
        .filter(|l| !l.contains("disconnect"))
        .map(|l| pid_of(l, "connect from").unwrap())
        .collect();
    assert_eq!(connects.len(), 2, "{}", log);
    assert_ne!(connects[0], connects[1], "{}", log);
    let master = pid_of(&log, "daemon started").expect(&log);
    assert_eq!(master, inst.pid().unwrap().to_string(), "{}", log);
    assert!(!connects.contains(&master), "{}", log);
    // A session's lines share its number: the one with a MAIL command logs mail=1.
    let with_mail = pid_of(&log, "mail=1").unwrap();
    assert!(connects.contains(&with_mail), "{}", log);
    inst.stop();
}
