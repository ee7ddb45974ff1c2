//! Secret files read as root (root only): the privileged helper answers the secrets request
//! with the files its own configuration names, and a started system (master unprivileged
//! after start) gets a root-only 0600 file at start and its new contents after `postfix
//! reload`, with the mysql option file the new contents name; when no root helper answers
//! (helpers restarted after the drop), a reload keeps the previous contents. Skips (with a
//! message) when not root.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Instance;
use postern::delivery::privileged::HelperHandle;

fn root_only(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(path, Some(0), Some(0)).unwrap();
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn helper_reads_the_secret_files_of_its_own_configuration() {
    if !common::require_root() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("postern-secrets-helper-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cf = dir.join("mysql-users.cf");
    root_only(&cf, "password = first\n");
    let key = dir.join("missing.key");
    std::fs::write(
        dir.join("main.cf"),
        format!(
            "virtual_alias_maps = proxy:mysql:{}\nsmtpd_tls_key_file = {}\n",
            cf.display(),
            key.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("master.cf"), "").unwrap();
    let helper = HelperHandle::spawn(Path::new(env!("CARGO_BIN_EXE_local")), &dir).unwrap();
    let store = helper.read_secrets().unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(store.read_file(&cf).unwrap(), b"password = first\n");
    let e = store.read_file(&key).unwrap_err().to_string();
    assert!(e.contains("No such file"), "{}", e);
    // The helper re-reads its configuration for every request.
    std::fs::write(dir.join("main.cf"), "").unwrap();
    assert!(helper.read_secrets().unwrap().is_empty());
    drop(helper);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The uid of process `pid` (real uid, from /proc).
fn uid_of(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid)).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn loaded(inst: &Instance, path: &Path, bytes: usize) -> bool {
    inst.log()
        .contains(&format!("secret file {}: {} bytes", path.display(), bytes))
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn root_only_secret_files_are_kept_across_reloads() {
    if !common::require_root() {
        return;
    }
    let inst = Instance::new(&[]);
    let cf = inst.etc.join("mysql-secret.cf");
    let first = "user = postern\npassword = first\n";
    root_only(&cf, first);
    // The option file a mysql .cf names is a secret too, read as root on reload.
    let cnf = inst.etc.join("mysql-secret.cnf");
    root_only(&cnf, "[client]\npassword = cnf\n");
    // A table of a type holding a password, named in a -o override of master.cf.
    let master_cf = std::fs::read_to_string(inst.etc.join("master.cf")).unwrap();
    let master_cf = master_cf.replace(
        " smtpd\n",
        &format!(
            " smtpd -o smtpd_sender_login_maps=proxy:mysql:{}\n",
            cf.display()
        ),
    );
    std::fs::write(inst.etc.join("master.cf"), master_cf).unwrap();
    let missing = inst.etc.join("missing.key");
    inst.set("smtp_tls_key_file", &missing.display().to_string());
    inst.start();
    assert!(loaded(&inst, &cf, first.len()), "{}", inst.log());
    assert!(!inst.log().contains(&cnf.display().to_string()));
    let log = inst.log();
    assert!(
        log.contains(&format!(
            "warning: cannot read secret file {}: No such file",
            missing.display()
        )),
        "{}",
        log
    );
    let pid = inst.pid().unwrap();
    assert_ne!(uid_of(pid), 0, "the master runs as mail_owner");

    // The unprivileged master cannot read the file; the reload has the root helper do it.
    let second = format!("option_file = {}\npassword = second\n", cnf.display());
    root_only(&cf, &second);
    std::fs::write(&missing, "key").unwrap();
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(
        common::wait_for(10, || loaded(&inst, &cf, second.len())),
        "{}",
        inst.log()
    );
    assert!(loaded(&inst, &missing, 3), "{}", inst.log());
    assert!(loaded(&inst, &cnf, 24), "{}", inst.log());
    assert!(!inst.log().contains("keeping the previous ones"));
    inst.stop();
}

/// The pids of the children of `parent` named `name` (from /proc), without the root
/// postlogd child (`local postlogd DIR`, which also runs the `local` program).
fn children(parent: i32, name: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid)) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((head, tail)) = stat.rsplit_once(") ") else {
            continue;
        };
        let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid)).unwrap_or_default();
        let postlogd = cmdline.split(|b| *b == 0).any(|a| a == b"postlogd");
        if head.ends_with(&format!("({}", name)) && ppid == Some(parent) && !postlogd {
            out.push(pid);
        }
    }
    out
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn reload_keeps_the_secrets_when_no_root_helper_answers() {
    if !common::require_root() {
        return;
    }
    let inst = Instance::new(&[]);
    let cf = inst.etc.join("mysql-secret.cf");
    root_only(&cf, "password = first\n");
    inst.set("virtual_alias_maps", &format!("mysql:{}", cf.display()));
    inst.start();
    assert!(loaded(&inst, &cf, 17), "{}", inst.log());
    // Helpers restarted after the privilege drop are no longer root: they refuse.
    let master = inst.pid().unwrap();
    let helpers = children(master, "local");
    assert_eq!(helpers.len(), postern::delivery::privileged::POOL);
    for pid in &helpers {
        let ok = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    root_only(&cf, "password = second\n");
    assert!(inst.postfix(&["reload"]).status.success());
    assert!(
        common::wait_for(10, || {
            inst.log().contains(
            "warning: reload: cannot read secret files through the helper, keeping the previous ones: the helper does not run as root"
        )
        }),
        "{}",
        inst.log()
    );
    assert!(!loaded(&inst, &cf, 18), "{}", inst.log());
    inst.stop();
}
