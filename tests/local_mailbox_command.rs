//! $mailbox_command and $mailbox_command_maps through a running instance: the command runs
//! as the recipient with Postfix's environment, its exit code maps through sysexits, envelope
//! data never reaches a shell as code, and (as root) Debian's procmail and maildrop deliver.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{Instance, require, require_root};

/// A directory the recipient can write (as root: owned by the test user).
fn out_dir(inst: &Instance) -> PathBuf {
    let out = inst.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    out
}

/// An executable script.
fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn mailbox_command_runs_as_the_recipient_with_postfix_environment() {
    let inst = Instance::new(&[("recipient_delimiter", "+")]);
    let out = out_dir(&inst);
    let mc = inst.dir.join("mc.sh");
    // Exit codes by extension: tmp -> EX_TEMPFAIL, nouser -> EX_NOUSER.
    script(
        &mc,
        &format!(
            "#!/bin/sh\n\
             case \"$EXTENSION\" in tmp) echo busy; exit 75;; nouser) exit 67;; esac\n\
             {{ id -u; pwd; env | sort; echo ---; cat; }} > {}/\"$EXTENSION\".out\n",
            out.display()
        ),
    );
    // A plain command (no shell metacharacters) is executed directly.
    inst.set("mailbox_command", &mc.display().to_string());
    inst.newaliases();
    inst.start();
    let user = inst.user.clone();
    let acct = postern::sys::user_by_name(&user).unwrap().unwrap();
    let rcpt = format!("<{}+ext@www.a.org>", user);
    inst.send("obama@w.com", &[&rcpt], "mc", "hello command");
    inst.wait_log("status=sent (delivered to command: ");
    let text = std::fs::read_to_string(out.join("ext.out")).unwrap();
    let (head, input) = text.split_once("---\n").unwrap();
    let mut lines = head.lines();
    assert_eq!(
        lines.next(),
        Some(acct.uid.to_string().as_str()),
        "{}",
        text
    );
    assert_eq!(
        lines.next(),
        Some(acct.home.as_str()),
        "cwd is HOME: {}",
        text
    );
    let env: Vec<&str> = lines.collect();
    for want in [
        format!("HOME={}", acct.home),
        format!("USER={}", user),
        format!("LOGNAME={}", user),
        format!("SHELL={}", acct.shell),
        "EXTENSION=ext".to_string(),
        "DOMAIN=www.a.org".to_string(),
        format!("LOCAL={}+ext", user),
        format!("RECIPIENT={}+ext@www.a.org", user),
        "SENDER=obama@w.com".to_string(),
        format!("ORIGINAL_RECIPIENT={}+ext@www.a.org", user),
        "PATH=/usr/bin:/bin".to_string(),
    ] {
        assert!(env.contains(&want.as_str()), "{} not in {:?}", want, env);
    }
    assert!(input.starts_with("From obama@w.com  "), "{}", input);
    assert!(
        input.contains("\nReturn-Path: <obama@w.com>\n"),
        "{}",
        input
    );
    assert!(
        input.contains(&format!("\nDelivered-To: {}+ext@www.a.org\n", user)),
        "{}",
        input
    );
    assert!(input.contains("hello command"), "{}", input);
    assert!(
        inst.log()
            .contains(&format!("to=<{}+ext@www.a.org>, relay=local, delay=", user)),
        "{}",
        inst.log()
    );

    // EX_TEMPFAIL defers with the command's output, EX_NOUSER bounces with 5.1.1.
    inst.send(
        "obama@w.com",
        &[&format!("<{}+tmp@www.a.org>", user)],
        "t",
        "x",
    );
    inst.wait_log("status=deferred (temporary failure. Command output: busy)");
    inst.send(
        "obama@w.com",
        &[&format!("<{}+nouser@www.a.org>", user)],
        "n",
        "x",
    );
    inst.wait_log("dsn=5.1.1, status=bounced (user unknown)");
    assert!(
        !Path::new(&inst.mail.join(&user)).exists(),
        "nothing went to the mbox"
    );
    inst.stop();
}

#[test]
fn envelope_data_never_reaches_a_shell_as_code() {
    let inst = Instance::new(&[("recipient_delimiter", "+")]);
    let out = out_dir(&inst);
    let mc = inst.dir.join("mc.sh");
    script(
        &mc,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" \"$RECIPIENT\" > {}/arg.out\n",
            out.display()
        ),
    );
    // With shell metacharacters the command goes through /bin/sh, as Postfix does; the
    // shell expands "$EXTENSION" from the (censored) environment.
    inst.set(
        "mailbox_command",
        &format!("{} \"$EXTENSION\"", mc.display()),
    );
    inst.newaliases();
    inst.start();
    let pwned = inst.dir.join("pwned");
    let evil = format!("x|touch${{IFS}}{}", pwned.display());
    let rcpt = format!("<{}+{}@www.a.org>", inst.user, evil);
    inst.send("a`id`@w.com", &[&rcpt], "evil", "x");
    inst.wait_log("status=sent (delivered to command: ");
    let text = std::fs::read_to_string(out.join("arg.out")).unwrap();
    let censored = evil.replace(['|', '$', '{', '}'], "_");
    assert_eq!(
        text,
        // EXTENSION comes from the lower-cased local part, RECIPIENT is as given.
        format!(
            "{}\n{}+{}@www.a.org\n",
            censored.to_lowercase(),
            inst.user,
            censored
        )
    );
    assert!(!pwned.exists(), "the recipient ran a command");
    inst.stop();
}

#[test]
fn mailbox_command_maps_wins_and_a_lookup_error_defers() {
    let inst = Instance::new(&[]);
    let out = out_dir(&inst);
    let a = inst.dir.join("a.sh");
    let b = inst.dir.join("b.sh");
    script(
        &a,
        &format!("#!/bin/sh\necho a > {}/a.out\n", out.display()),
    );
    script(
        &b,
        &format!("#!/bin/sh\necho b > {}/b.out\n", out.display()),
    );
    let map = inst.etc.join("mbcmd");
    std::fs::write(&map, format!("{} {}\n", inst.user, b.display())).unwrap();
    let o = inst.run("postmap", &[map.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", o);
    inst.set("mailbox_command", &a.display().to_string());
    inst.set("mailbox_command_maps", &format!("hash:{}", map.display()));
    inst.newaliases();
    inst.start();
    inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "m",
        "x",
    );
    inst.wait_log(&format!(
        "status=sent (delivered to command: {})",
        b.display()
    ));
    assert!(out.join("b.out").exists() && !out.join("a.out").exists());
    // The table goes away: deferred, never the mbox nor $mailbox_command.
    std::fs::remove_file(inst.etc.join("mbcmd.db")).unwrap();
    inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "m2",
        "x",
    );
    inst.wait_log("dsn=4.3.0, status=deferred (table lookup failure)");
    assert!(!out.join("a.out").exists());
    assert!(!inst.mail.join(&inst.user).exists());
    inst.stop();
}

/// As root, for the test user: a directory only that user can write.
fn private_dir(inst: &Instance, acct: &postern::sys::User) -> PathBuf {
    let d = inst.dir.join("private");
    std::fs::create_dir_all(&d).unwrap();
    std::os::unix::fs::chown(&d, Some(acct.uid), Some(acct.gid)).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn procmail_delivers_as_the_recipient() {
    if !require_root() {
        return;
    }
    if !require(
        Path::new("/usr/bin/procmail").exists(),
        "needs Debian's procmail package",
    ) {
        return;
    }
    let inst = Instance::new(&[("recipient_delimiter", "+")]);
    let acct = postern::sys::user_by_name(&inst.user).unwrap().unwrap();
    let d = private_dir(&inst, &acct);
    let mbox = d.join("procmail.mbox");
    // procmail's own assignments name the mailbox: the user's ~/.procmailrc is left alone.
    inst.set(
        "mailbox_command",
        &format!(
            "/usr/bin/procmail -a \"$EXTENSION\" DEFAULT={} LOGFILE={}/log VERBOSE=on",
            mbox.display(),
            d.display()
        ),
    );
    inst.newaliases();
    inst.start();
    inst.send(
        "obama@w.com",
        &[&format!("<{}+pm@www.a.org>", inst.user)],
        "via procmail",
        "hello procmail",
    );
    inst.wait_log("status=sent (delivered to command: /usr/bin/procmail");
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert!(text.starts_with("From obama@w.com "), "{}", text);
    assert!(text.contains("Subject: via procmail"), "{}", text);
    assert!(text.contains(&format!("Delivered-To: {}+pm@www.a.org", inst.user)));
    assert_eq!(std::fs::metadata(&mbox).unwrap().uid(), acct.uid);
    inst.stop();
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn maildrop_delivers_as_the_recipient() {
    if !require_root() {
        return;
    }
    if !require(
        Path::new("/usr/bin/maildrop").exists(),
        "needs Debian's maildrop package",
    ) {
        return;
    }
    let inst = Instance::new(&[]);
    let acct = postern::sys::user_by_name(&inst.user).unwrap().unwrap();
    let d = private_dir(&inst, &acct);
    let maildir = d.join("Maildir");
    for sub in ["", "tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
        std::os::unix::fs::chown(maildir.join(sub), Some(acct.uid), Some(acct.gid)).unwrap();
    }
    let filter = d.join("mailfilter");
    std::fs::write(&filter, format!("to \"{}/\"\n", maildir.display())).unwrap();
    std::os::unix::fs::chown(&filter, Some(acct.uid), Some(acct.gid)).unwrap();
    std::fs::set_permissions(&filter, std::fs::Permissions::from_mode(0o600)).unwrap();
    inst.set(
        "mailbox_command",
        &format!("/usr/bin/maildrop {}", filter.display()),
    );
    inst.newaliases();
    inst.start();
    inst.send(
        "obama@w.com",
        &[&format!("<{}>", inst.local_address())],
        "via maildrop",
        "hello maildrop",
    );
    inst.wait_log("status=sent (delivered to command: /usr/bin/maildrop");
    let files: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("Subject: via maildrop"), "{}", text);
    assert_eq!(files[0].metadata().unwrap().uid(), acct.uid);
    inst.stop();
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn root_mail_runs_the_command_as_default_privs() {
    if !require_root() {
        return;
    }
    let inst = Instance::new(&[]);
    let out = out_dir(&inst);
    let mc = inst.dir.join("mc.sh");
    script(
        &mc,
        &format!("#!/bin/sh\nid -u > {}/root.out\n", out.display()),
    );
    inst.set("mailbox_command", &mc.display().to_string());
    // postmaster -> root in the instance's aliases.
    inst.newaliases();
    inst.start();
    inst.send("s@w.com", &["<postmaster@www.a.org>"], "r", "x");
    inst.wait_log("status=sent (delivered to command: ");
    let nobody = postern::sys::user_by_name("nobody").unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("root.out"))
            .unwrap()
            .trim(),
        nobody.uid.to_string()
    );
    inst.stop();
}

#[test]
fn command_time_limit_kills_and_bounces() {
    let inst = Instance::new(&[("command_time_limit", "1s")]);
    let mc = inst.dir.join("slow.sh");
    script(&mc, "#!/bin/sh\necho still working\nsleep 30 & sleep 30\n");
    inst.set("mailbox_command", &mc.display().to_string());
    inst.newaliases();
    inst.start();
    let started = std::time::Instant::now();
    inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "s",
        "slow",
    );
    inst.wait_log(&format!(
            "dsn=5.3.0, status=bounced (Command time limit exceeded: \"{}\". Command output: still working)",
            mc.display()
        ),
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    inst.stop();
}

#[test]
fn local_command_shell_runs_every_command() {
    let inst = Instance::new(&[]);
    let out = out_dir(&inst);
    // A restricted shell in the manner of smrsh: it gets `-c COMMAND` and decides.
    let wrap = inst.dir.join("wrap.sh");
    script(
        &wrap,
        &format!(
            "#!/bin/sh\nprintf '%s|%s' \"$1\" \"$2\" > {}/wrapped\n",
            out.display()
        ),
    );
    inst.set("local_command_shell", &format!("{} -c", wrap.display()));
    inst.set("mailbox_command", "/bin/false never run");
    inst.newaliases();
    inst.start();
    inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "w",
        "x",
    );
    inst.wait_log("status=sent (delivered to command: /bin/false never run)");
    assert_eq!(
        std::fs::read_to_string(out.join("wrapped")).unwrap(),
        "-c|/bin/false never run"
    );
    inst.stop();
}

#[test]
fn command_execution_directory_is_expanded_and_required() {
    let inst = Instance::new(&[("recipient_delimiter", "+")]);
    let out = out_dir(&inst);
    let cwd = inst.dir.join("cwd").join(&inst.user);
    std::fs::create_dir_all(&cwd).unwrap();
    let mc = inst.dir.join("pwd.sh");
    script(
        &mc,
        &format!("#!/bin/sh\npwd > {}/pwd.out\n", out.display()),
    );
    inst.set("mailbox_command", &mc.display().to_string());
    inst.set(
        "command_execution_directory",
        &format!("{}/cwd/$user${{extension?/$extension}}", inst.dir.display()),
    );
    inst.newaliases();
    inst.start();
    inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "c",
        "x",
    );
    inst.wait_log("status=sent (delivered to command: ");
    assert_eq!(
        std::fs::read_to_string(out.join("pwd.out")).unwrap().trim(),
        cwd.display().to_string()
    );
    // A directory that does not exist defers, as Postfix does.
    inst.send(
        "s@w.com",
        &[&format!("<{}+gone@www.a.org>", inst.user)],
        "g",
        "x",
    );
    inst.wait_log(&format!(
        "dsn=4.3.0, status=deferred (cannot change directory to \"{}/gone\")",
        cwd.display()
    ));
    inst.stop();
}
