//! .forward files through a running instance: forward_path with `$user` and the extension
//! form, the user's own name to the mailbox, files and commands as the user, forwarding,
//! ownership and mode checks, and a forwarding loop between a .forward and an alias.
//! forward_path points into the instance's directory so the shared test account's home is
//! never touched.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{Instance, wait_for};

fn setup() -> (Instance, PathBuf, PathBuf) {
    let inst = Instance::new(&[("recipient_delimiter", "+")]);
    let fwd = inst.dir.join("fwd");
    let out = inst.dir.join("out");
    for d in [&fwd, &out] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    inst.set(
        "forward_path",
        &format!(
            "{d}/$user.forward${{recipient_delimiter}}${{extension}}, {d}/$user.forward",
            d = fwd.display()
        ),
    );
    inst.newaliases();
    (inst, fwd, out)
}

/// Write a .forward owned by the test user (as root) with mode 0644.
fn write_forward(inst: &Instance, path: &PathBuf, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    if postern::sys::is_root() {
        let acct = postern::sys::user_by_name(&inst.user).unwrap().unwrap();
        std::os::unix::fs::chown(path, Some(acct.uid), Some(acct.gid)).unwrap();
    }
}

#[test]
fn dotforward_delivers_to_self_files_commands_and_forwards() {
    let (inst, fwd, out) = setup();
    let user = inst.user.clone();
    let acct = postern::sys::user_by_name(&user).unwrap().unwrap();
    write_forward(
        &inst,
        &fwd.join(format!("{}.forward", user)),
        &format!(
            "# my forwarding\n\\{u}, {o}/copy.mbox,\n\"|id -u > {o}/cmd.out\", friend@remote.test\n",
            u = user,
            o = out.display()
        ),
    );
    write_forward(
        &inst,
        &fwd.join(format!("{}.forward+ext", user)),
        &format!("{}/ext.mbox\n", out.display()),
    );
    inst.start();
    let id = inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "f",
        "dot forward",
    );
    inst.wait_log(&format!(
        "{}: to=<{}>, relay=local, ",
        id,
        inst.local_address()
    ));
    inst.wait_log("status=sent (forwarded as ");
    inst.wait_log("status=sent (delivered to command: id -u > ");
    inst.wait_log(&format!(
        "status=sent (delivered to file: {}/copy.mbox)",
        out.display()
    ));
    assert!(inst.mbox(&user).contains("dot forward"));
    assert!(
        std::fs::read_to_string(out.join("copy.mbox"))
            .unwrap()
            .contains("dot forward")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("cmd.out")).unwrap().trim(),
        acct.uid.to_string(),
        "commands in .forward run as the user"
    );
    // user+ext reads the extension's file: only the file, not the mailbox.
    inst.send(
        "s@w.com",
        &[&format!("<{}+ext@www.a.org>", user)],
        "e",
        "extension copy",
    );
    inst.wait_log(&format!(
        "status=sent (delivered to file: {}/ext.mbox)",
        out.display()
    ));
    assert!(!inst.mbox(&user).contains("extension copy"));
    inst.stop();
}

#[test]
fn unsafe_dotforward_files_are_ignored_with_a_warning() {
    let (inst, fwd, out) = setup();
    let path = fwd.join(format!("{}.forward", inst.user));
    write_forward(&inst, &path, &format!("{}/never.mbox\n", out.display()));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    inst.start();
    inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "w",
        "world writable",
    );
    inst.wait_log(&format!(
        "warning: file {} is world writable",
        path.display()
    ));
    assert!(wait_for(20, || inst
        .mbox(&inst.user)
        .contains("world writable")));
    if postern::sys::is_root() {
        let nobody = postern::sys::user_by_name("nobody").unwrap().unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&path, Some(nobody.uid), None).unwrap();
        inst.send(
            "s@w.com",
            &[&format!("<{}>", inst.local_address())],
            "o",
            "bad owner",
        );
        inst.wait_log(&format!(
            "warning: file {} has bad owner uid {}",
            path.display(),
            nobody.uid
        ));
        assert!(wait_for(20, || inst.mbox(&inst.user).contains("bad owner")));
    }
    assert!(!out.join("never.mbox").exists());
    if postern::sys::is_root() {
        // A directory $mail_owner cannot search: said in the log, mail to the mailbox.
        let acct = postern::sys::user_by_name(&inst.user).unwrap().unwrap();
        std::os::unix::fs::chown(&fwd, Some(acct.uid), Some(acct.gid)).unwrap();
        std::fs::set_permissions(&fwd, std::fs::Permissions::from_mode(0o700)).unwrap();
        inst.send(
            "s@w.com",
            &[&format!("<{}>", inst.local_address())],
            "p",
            "private home",
        );
        inst.wait_log(&format!(
            "warning: cannot access file {}: Permission denied; not used as a .forward file",
            path.display()
        ));
        assert!(wait_for(20, || inst
            .mbox(&inst.user)
            .contains("private home")));
    }
    inst.stop();
}

#[test]
fn a_dotforward_loop_through_an_alias_bounces() {
    let (inst, fwd, _out) = setup();
    // alias-user is an alias of the test user, whose .forward sends it back there.
    write_forward(
        &inst,
        &fwd.join(format!("{}.forward", inst.user)),
        "alias-user@www.a.org\n",
    );
    inst.start();
    inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "l",
        "loop",
    );
    let line = inst.wait_log("status=bounced (mail forwarding loop for ");
    assert!(line.contains("dsn=5.4.6"), "{}", line);
    assert!(!inst.mbox(&inst.user).contains("Subject: l\n"));
    inst.stop();
}
