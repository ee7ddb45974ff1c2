//! pipe(8) end to end: master.cf pipe entries as transports. A small shell script run as
//! the `user=` account (the running user when Postern is not root, the test account through
//! the privileged helper as root) records its arguments, its standard input and who it ran
//! as: `${...}` macros expand element by element (one argument per recipient, hostile
//! addresses passed literally, never to a shell), flags change the input, exit codes and
//! signals map as Postfix's pipe(8) does. As root, Postfix's walkthrough entry runs Debian's
//! maildrop as user=vmail, and a procmail entry delivers into a file.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{Instance, wait_for};
use postern::sys;

fn add_services(inst: &Instance, lines: &str) {
    let path = inst.etc.join("master.cf");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(lines);
    std::fs::write(&path, text).unwrap();
}

fn line_for(log: &str, id: &str, to: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains(&format!("{}: to=<{}>", id, to)))
        .map(str::to_string)
}

/// Wait for the delivery line of `to` in message `id` and return it.
fn wait_line(inst: &Instance, id: &str, to: &str) -> String {
    assert!(
        wait_for(30, || line_for(&inst.log(), id, to).is_some()),
        "{} {}\n{}",
        id,
        to,
        inst.log()
    );
    line_for(&inst.log(), id, to).unwrap()
}

/// The `user=` of a test pipe entry: as root the test account (through the helper),
/// otherwise the running user.
fn pipe_user() -> String {
    if sys::is_root() {
        common::test_user()
    } else {
        sys::user_by_uid(sys::euid()).unwrap().unwrap().name
    }
}

/// A world-writable directory for the command's output.
fn out_dir(inst: &Instance) -> PathBuf {
    let d = inst.dir.join("pipe-out");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// The recording script: one `NAME.args` (user, cwd, one `arg:` line per argument) and one
/// `NAME.stdin` per call; arguments containing tempfail, nouser or crash make it exit 75,
/// exit 67 or die of SIGKILL.
fn script(inst: &Instance, out: &Path) -> PathBuf {
    let path = inst.etc.join("record.sh");
    let text = format!(
        "#!/bin/sh\n\
         f={out}/call-$$\n\
         {{ id -un; pwd; for a in \"$@\"; do printf 'arg:%s\\n' \"$a\"; done; }} > $f.args\n\
         cat > $f.stdin\n\
         case \"$*\" in\n\
           *tempfail*) echo 'try again later'; exit 75;;\n\
           *nouser*) echo 'no such mailbox' >&2; exit 67;;\n\
           *crash*) kill -9 $$;;\n\
         esac\n\
         exit 0\n",
        out = out.display()
    );
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Every call's (args file, stdin file) contents.
fn calls(out: &Path) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(out).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "args") {
            let stdin = std::fs::read_to_string(p.with_extension("stdin")).unwrap_or_default();
            v.push((std::fs::read_to_string(&p).unwrap(), stdin));
        }
    }
    v
}

#[test]
fn pipe_runs_the_command_as_user_without_a_shell() {
    let a = Instance::new(&[
        ("transport_maps", "inline:{ p.test=filter: }"),
        ("filter_destination_recipient_limit", "2"),
        ("minimal_backoff_time", "600s"),
    ]);
    let out = out_dir(&a);
    let cmd = script(&a, &out);
    // As root the command runs as the test account through the helper; otherwise as us.
    let user = pipe_user();
    add_services(
        &a,
        &format!(
            "filter unix - n n - - pipe flags=R. user={} argv={} -p ${{client_port}} -f ${{sender}} -n ${{nexthop}} -q $queue_id -c ${{client_address}} -- ${{recipient}}\n",
            user,
            cmd.display()
        ),
    );
    a.newaliases();
    a.start();
    let id = a.send(
        "s@remote.test",
        &["<a@p.test>", "<x;id@p.test>"],
        "piped",
        "line\n..dot line",
    );
    for to in ["a@p.test", "x;id@p.test"] {
        let line = wait_line(&a, &id, to);
        assert!(line.contains(" postfix/pipe["), "{}", line);
        assert!(
            line.contains("relay=filter, delay=") && line.contains(", delays="),
            "{}",
            line
        );
        assert!(
            line.ends_with("dsn=2.0.0, status=sent (delivered via filter service)"),
            "{}",
            line
        );
    }
    let c = calls(&out);
    assert_eq!(c.len(), 1, "one call for both recipients: {:?}", c);
    let (args, stdin) = &c[0];
    // ${client_port}: the client's port, from the queue file.
    let lines: Vec<&str> = args.lines().collect();
    assert_eq!(lines[2], "arg:-p", "{}", args);
    let port: u16 = lines[3].strip_prefix("arg:").unwrap().parse().unwrap();
    assert!(port > 0, "{}", args);
    let args = &format!(
        "{}\n{}\n{}",
        lines[0],
        lines[1],
        args.splitn(5, '\n').nth(4).unwrap()
    );
    let want = format!(
        "{}\n{}\narg:-f\narg:s@remote.test\narg:-n\narg:p.test\narg:-q\narg:{}\narg:-c\narg:127.0.0.1\narg:--\narg:a@p.test\narg:x;id@p.test\n",
        user,
        a.spool.display(),
        id
    );
    assert_eq!(args, &want);
    assert!(
        stdin.starts_with("Return-Path: <s@remote.test>\n"),
        "{}",
        stdin
    );
    assert!(stdin.contains("Subject: piped\n"), "{}", stdin);
    // flags=. : a line starting with a dot gets another.
    assert!(stdin.contains("\nline\n..dot line\n"), "{}", stdin);
    assert!(
        !a.log().contains("uid="),
        "no id output: no shell ran the address"
    );
    a.stop();
}

#[test]
fn pipe_size_eol_and_directory_attributes() {
    // size=: a bigger message bounces with 5.2.3 and the command never runs; eol=: each
    // line ends as asked; directory=: the command's working directory.
    let a = Instance::new(&[("transport_maps", "inline:{ p.test=attrs: }")]);
    let out = out_dir(&a);
    let cmd = script(&a, &out);
    let user = pipe_user();
    add_services(
        &a,
        &format!(
            "attrs unix - n n - - pipe size=600 eol=\\r\\n directory={} user={} argv={} ${{user}}\n",
            out.display(),
            user,
            cmd.display()
        ),
    );
    a.newaliases();
    a.start();
    let small = a.send("s@remote.test", &["<small@p.test>"], "small", "one\ntwo");
    let line = wait_line(&a, &small, "small@p.test");
    assert!(
        line.ends_with("status=sent (delivered via attrs service)"),
        "{line}"
    );
    let big = a.send("s@remote.test", &["<big@p.test>"], "big", &"x".repeat(700));
    let line = wait_line(&a, &big, "big@p.test");
    assert!(
        line.ends_with("dsn=5.2.3, status=bounced (message too large)"),
        "{line}"
    );
    let c = calls(&out);
    assert_eq!(
        c.len(),
        1,
        "the command ran only for the small message: {c:?}"
    );
    let (args, stdin) = &c[0];
    let want = format!("{}\n{}\narg:small\n", user, out.display());
    assert_eq!(args, &want);
    assert!(stdin.contains("Subject: small\r\n"), "{stdin:?}");
    assert!(stdin.ends_with("one\r\ntwo\r\n"), "{stdin:?}");
    assert!(!stdin.replace("\r\n", "").contains('\n'), "{stdin:?}");
    a.stop();
}

#[test]
fn pipe_exit_status_and_signals_map_as_postfix() {
    let a = Instance::new(&[
        ("transport_maps", "inline:{ p.test=filter: }"),
        ("minimal_backoff_time", "600s"),
    ]);
    let out = out_dir(&a);
    let cmd = script(&a, &out);
    let user = pipe_user();
    add_services(
        &a,
        &format!(
            "filter unix - n n - - pipe user={} argv={} ${{user}}\n",
            user,
            cmd.display()
        ),
    );
    a.newaliases();
    a.start();
    let cases = [
        (
            "tempfail@p.test",
            "dsn=4.3.0, status=deferred (temporary failure. Command output: try again later)"
                .to_string(),
        ),
        (
            "nouser@p.test",
            "dsn=5.1.1, status=bounced (user unknown. Command output: no such mailbox)".to_string(),
        ),
        (
            "crash@p.test",
            format!(
                "dsn=4.3.0, status=deferred (Command died with signal 9: \"{}\")",
                cmd.display()
            ),
        ),
    ];
    for (to, want) in &cases {
        let id = a.send("s@remote.test", &[&format!("<{}>", to)], "exit", "x");
        let line = wait_line(&a, &id, to);
        assert!(
            line.contains(" postfix/pipe[") && line.contains("relay=filter"),
            "{}",
            line
        );
        assert!(line.ends_with(want.as_str()), "{}\nwant {}", line, want);
    }
    a.stop();
}

#[test]
fn pipe_entry_naming_root_or_the_mail_owner_is_refused() {
    let a = Instance::new(&[
        ("transport_maps", "inline:{ p.test=rootpipe: }"),
        ("minimal_backoff_time", "600s"),
    ]);
    add_services(
        &a,
        "rootpipe unix - n n - - pipe user=root argv=/bin/cat\n\
         ownerpipe unix - n n - - pipe user=postfix argv=/bin/cat\n",
    );
    a.newaliases();
    // `postfix check` names the entry too.
    let check = a.postfix(&["check"]);
    let said = String::from_utf8_lossy(&check.stderr).into_owned() + &a.log();
    assert!(
        said.contains("line 5: service rootpipe (unix pipe): user= command-line attribute specifies root privileges"),
        "{}",
        said
    );
    a.start();
    if sys::is_root() {
        // As root, $mail_owner (postfix in the tests) is refused too.
        assert!(
            a.log().contains(": service ownerpipe (unix pipe): user= command-line attribute specifies mail system owner postfix;"),
            "{}",
            a.log()
        );
    }
    assert!(
        a.log().contains(": service rootpipe (unix pipe): user= command-line attribute specifies root privileges; mail for transport rootpipe is deferred (mail system configuration error)"),
        "{}",
        a.log()
    );
    let id = a.send("s@remote.test", &["<r@p.test>"], "root", "x");
    let line = wait_line(&a, &id, "r@p.test");
    assert!(line.contains("relay=rootpipe, delay="), "{}", line);
    assert!(
        line.ends_with("dsn=4.3.5, status=deferred (mail system configuration error)"),
        "{}",
        line
    );
    a.stop();
}

/// The `vmail` account of the walkthrough, with a .mailfilter that delivers into
/// `$HOME/postern-test.mbox`.
fn vmail() -> sys::User {
    // One at a time: two useradd runs at once (this file's tests run in parallel) both
    // pass its existence check, and the second rewrites the account with another uid after
    // the first caller read it (seen on a fresh machine: maildrop then could not read the
    // .mailfilter chowned to the first uid).
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if sys::user_by_name("vmail").unwrap().is_none() {
        let st = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", "vmail"])
            .status()
            .expect("run useradd");
        assert!(st.success() || sys::user_by_name("vmail").unwrap().is_some());
    }
    let v = sys::user_by_name("vmail").unwrap().unwrap();
    // A home left behind by an earlier vmail account (removed without -r, made again with
    // another uid) makes maildrop refuse it ("Home directory owned by wrong user").
    let home = Path::new(&v.home);
    if std::fs::metadata(home).is_ok_and(|m| m.uid() != v.uid) {
        std::os::unix::fs::chown(home, Some(v.uid), Some(v.gid)).expect("chown vmail's home");
    }
    v
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored); user=vmail needs the privileged helper"]
fn walkthrough_maildrop_and_procmail_entries_as_root() {
    if !common::require_root() {
        return;
    }
    if !common::require(
        Path::new("/usr/bin/maildrop").exists() && Path::new("/usr/bin/procmail").exists(),
        "needs Debian's maildrop and procmail packages",
    ) {
        return;
    }
    let v = vmail();
    let home = PathBuf::from(&v.home);
    let mbox = home.join(format!("postern-test-{}.mbox", std::process::id()));
    let filter = home.join(".mailfilter");
    std::fs::write(&filter, format!("to \"{}\"\n", mbox.display())).unwrap();
    sys::chown(&filter, v.uid, v.gid).unwrap();
    std::fs::set_permissions(&filter, std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = Instance::new(&[
        (
            "transport_maps",
            "inline:{ m.test=maildrop:, l.test=maildroplocal:, pm.test=procmail: }",
        ),
        ("maildrop_destination_recipient_limit", "1"),
        ("maildroplocal_destination_recipient_limit", "1"),
        ("minimal_backoff_time", "600s"),
    ]);
    let out = out_dir(&a);
    let rc = a.etc.join("procmailrc");
    std::fs::write(&rc, format!(":0:\n{}/mbox-$RCPT\n", out.display())).unwrap();
    add_services(
        &a,
        &format!(
            "maildrop unix - n n - - pipe flags=DRhu user=vmail argv=maildrop -d ${{recipient}}\n\
             maildroplocal unix - n n - - pipe flags=DRhu user=vmail argv=maildrop -d ${{user}}\n\
             procmail unix - n n - - pipe flags=R user=vmail argv=/usr/bin/procmail -m RCPT=${{recipient}} {}\n",
            rc.display()
        ),
    );
    a.newaliases();
    a.start();
    // The walkthrough entry as written: maildrop runs as vmail with the address as one
    // argument; without courier-authlib's daemon it knows no virtual user, and its EX_NOUSER
    // bounces with its own words.
    let id = a.send("s@remote.test", &["<Someone@M.test>"], "walk", "x");
    let line = wait_line(&a, &id, "Someone@M.test");
    assert!(
        line.contains(" postfix/pipe[") && line.contains("relay=maildrop"),
        "{}",
        line
    );
    assert!(
        line.contains("dsn=5.1.1, status=bounced (user unknown. Command output: ")
            && line.contains("Invalid user specified."),
        "{}",
        line
    );
    // The same entry with ${user}: maildrop delivers for the system account.
    let id = a.send(
        "s@remote.test",
        &["<VMail@L.Test>"],
        "maildrop ok",
        "hello maildrop",
    );
    let line = wait_line(&a, &id, "VMail@L.Test");
    assert!(line.contains("relay=maildroplocal, delay="), "{}", line);
    // maildrop reports the missing authdaemon even when it delivers; pipe(8) quotes what a
    // successful command printed.
    assert!(
        line.contains("dsn=2.0.0, status=sent (delivered via maildroplocal service"),
        "{}",
        line
    );
    let text = std::fs::read_to_string(&mbox).unwrap();
    let _ = std::fs::remove_file(&mbox);
    assert!(text.contains("Return-Path: <s@remote.test>\n"), "{}", text);
    assert!(text.contains("Delivered-To: vmail@l.test\n"), "{}", text);
    assert!(
        text.contains("Subject: maildrop ok\n") && text.contains("hello maildrop"),
        "{}",
        text
    );
    // procmail, with an address a shell would have run a command for.
    let id = a.send(
        "s@remote.test",
        &["<$(id)x@pm.test>"],
        "procmail ok",
        "hello procmail",
    );
    let line = wait_line(&a, &id, "$(id)x@pm.test");
    assert!(
        line.ends_with("dsn=2.0.0, status=sent (delivered via procmail service)"),
        "{}",
        line
    );
    let file = out.join("mbox-$(id)x@pm.test");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("Subject: procmail ok\n"), "{}", text);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), v.uid);
    a.stop();
}

#[test]
fn pipe_time_limit_kills_and_bounces_as_postfix() {
    let a = Instance::new(&[
        ("transport_maps", "inline:{ p.test=slow: }"),
        ("slow_time_limit", "1s"),
    ]);
    let cmd = a.etc.join("slow.sh");
    std::fs::write(&cmd, "#!/bin/sh\necho still working\nsleep 30 & sleep 30\n").unwrap();
    std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = pipe_user();
    add_services(
        &a,
        &format!(
            "slow unix - n n - - pipe user={} argv={} ${{user}}\n",
            user,
            cmd.display()
        ),
    );
    a.newaliases();
    a.start();
    let started = std::time::Instant::now();
    let id = a.send("s@remote.test", &["<x@p.test>"], "slow", "x");
    let line = wait_line(&a, &id, "x@p.test");
    assert!(
        line.ends_with(&format!(
            "dsn=5.3.0, status=bounced (Command time limit exceeded: \"{}\". Command output: still working)",
            cmd.display()
        )),
        "{}",
        line
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
    a.stop();
}

/// Debian's courier-authdaemon with a userdb for the test's virtual address, as root: the
/// system authdaemonrc says `authmodulelist="authuserdb authpam"` (system accounts still
/// resolve), /etc/courier/userdb has the address, authdaemond runs, and its socket directory
/// is reachable by maildrop (set-gid mail, not in group courier). Everything is put back
/// when dropped. An exclusive lock in the temporary directory makes tests of other
/// checkouts on this machine take turns.
struct CourierUserdb {
    _lock: std::fs::File,
    saved_rc: Vec<u8>,
    saved_userdb: Option<Vec<u8>>,
    saved_mode: u32,
}

const AUTHDAEMONRC: &str = "/etc/courier/authdaemonrc";
const USERDB: &str = "/etc/courier/userdb";
const AUTHDAEMON_DIR: &str = "/run/courier/authdaemon";

fn run_ok(program: &str, args: &[&str]) {
    let st = std::process::Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("run {}: {}", program, e));
    assert!(st.success(), "{} {:?}: {}", program, args, st);
}

impl CourierUserdb {
    fn with(address: &str, user: &sys::User, home: &Path) -> CourierUserdb {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("postern-tests-courier-userdb.lock"))
            .unwrap();
        lock.lock().unwrap();
        let saved_rc = std::fs::read(AUTHDAEMONRC).unwrap();
        let saved_userdb = std::fs::read(USERDB).ok();
        let rc: String = String::from_utf8_lossy(&saved_rc)
            .lines()
            .map(|l| {
                if l.starts_with("authmodulelist=") {
                    "authmodulelist=\"authuserdb authpam\"".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(AUTHDAEMONRC, rc + "\n").unwrap();
        let _ = std::process::Command::new("/usr/sbin/authdaemond")
            .arg("stop")
            .status();
        let _ = std::fs::remove_file(Path::new(AUTHDAEMON_DIR).join("socket"));
        run_ok(
            "/usr/sbin/userdb",
            &[
                address,
                "set",
                &format!("home={}", home.display()),
                &format!("mail={}/Maildir", home.display()),
                &format!("uid={}", user.uid),
                &format!("gid={}", user.gid),
            ],
        );
        run_ok("/usr/sbin/makeuserdb", &[]);
        run_ok("/usr/sbin/authdaemond", &["start"]);
        let saved_mode = std::fs::metadata(AUTHDAEMON_DIR)
            .unwrap()
            .permissions()
            .mode();
        std::fs::set_permissions(AUTHDAEMON_DIR, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Ready when its socket accepts a connection: `authdaemond stop` leaves the socket
        // file behind, so its existence proves nothing (maildrop then found no daemon and
        // failed with "setgid: Operation not permitted" on a machine where the daemon was
        // slow to start).
        let socket = Path::new(AUTHDAEMON_DIR).join("socket");
        assert!(
            wait_for(10, || std::os::unix::net::UnixStream::connect(&socket)
                .is_ok()),
            "authdaemond did not start"
        );
        CourierUserdb {
            _lock: lock,
            saved_rc,
            saved_userdb,
            saved_mode,
        }
    }
}

impl Drop for CourierUserdb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("/usr/sbin/authdaemond")
            .arg("stop")
            .status();
        let _ = std::fs::write(AUTHDAEMONRC, &self.saved_rc);
        match &self.saved_userdb {
            Some(old) => {
                let _ = std::fs::write(USERDB, old);
                let _ = std::process::Command::new("/usr/sbin/makeuserdb").status();
            }
            None => {
                for f in [
                    USERDB,
                    "/etc/courier/userdb.dat",
                    "/etc/courier/userdbshadow.dat",
                ] {
                    let _ = std::fs::remove_file(f);
                }
            }
        }
        let _ = std::fs::set_permissions(
            AUTHDAEMON_DIR,
            std::fs::Permissions::from_mode(self.saved_mode & 0o7777),
        );
    }
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored); changes /etc/courier while it runs"]
fn walkthrough_maildrop_entry_delivers_to_a_courier_userdb_virtual_user() {
    if !common::require_root() {
        return;
    }
    if !common::require(
        Path::new("/usr/bin/maildrop").exists()
            && Path::new("/usr/sbin/authdaemond").exists()
            && Path::new("/usr/sbin/makeuserdb").exists(),
        "needs Debian's maildrop, courier-authdaemon and courier-authlib-userdb packages",
    ) {
        return;
    }
    let v = vmail();
    let a = Instance::new(&[
        ("virtual_mailbox_domains", "userdb.test"),
        ("virtual_transport", "maildrop"),
        ("maildrop_destination_recipient_limit", "1"),
        ("minimal_backoff_time", "600s"),
    ]);
    let home = a.dir.join("vhome");
    for d in ["", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"] {
        let p = home.join(d);
        std::fs::create_dir_all(&p).unwrap();
        sys::chown(&p, v.uid, v.gid).unwrap();
    }
    let _authlib = CourierUserdb::with("walk@userdb.test", &v, &home);
    // The walkthrough's entry exactly as written.
    add_services(
        &a,
        "maildrop unix - n n - - pipe flags=DRhu user=vmail argv=maildrop -d ${recipient}\n",
    );
    a.newaliases();
    a.start();
    let id = a.send("s@remote.test", &["<Walk@UserDB.test>"], "userdb", "hello");
    let line = wait_line(&a, &id, "Walk@UserDB.test");
    assert!(
        line.contains("relay=maildrop, delay=")
            && line.contains("dsn=2.0.0, status=sent (delivered via maildrop service"),
        "{}",
        line
    );
    let new: Vec<_> = std::fs::read_dir(home.join("Maildir/new"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(new.len(), 1, "one message in the userdb user's Maildir");
    let text = std::fs::read_to_string(new[0].path()).unwrap();
    assert!(
        text.contains("Delivered-To: walk@userdb.test\n"),
        "{}",
        text
    );
    assert!(
        text.contains("Subject: userdb\n") && text.contains("hello"),
        "{}",
        text
    );
    let meta = std::fs::metadata(new[0].path()).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), v.uid);
    a.stop();
}
