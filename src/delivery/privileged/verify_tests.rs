use super::*;
use crate::delivery::lock::LockPolicy;

fn ctx() -> Ctx {
    Ctx {
        root: true,
        spool: "/var/mail".into(),
        config_dir: "/nonexistent-postern-config".into(),
        kept: super::super::keep::KeptProcs::new(None),
    }
}

fn mbox(path: &str, user: &str, uid: u32) -> Op {
    Op::Mbox {
        path: path.into(),
        user: user.into(),
        uid,
        gid: 0,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        records: vec![Vec::new()],
    }
}

#[test]
fn validation_as_root() {
    let c = ctx();
    let bad = |p: &str| Err(Refusal::BadPath(p.into()));
    let not_of = |uid, user: &str| {
        Err(Refusal::IdsNotOfUser {
            uid,
            gid: 0,
            user: user.into(),
        })
    };
    let shadow = Err(Refusal::NotAMailbox {
        path: "/etc/shadow".into(),
        user: "root".into(),
    });
    assert_eq!(validate(&mbox("/var/mail/root", "root", 0), &c), Ok(()));
    assert_eq!(validate(&mbox("/root/Mailbox", "root", 0), &c), Ok(()));
    assert_eq!(validate(&mbox("/etc/shadow", "root", 0), &c), shadow);
    let dotdot = "/var/mail/../../etc/shadow";
    assert_eq!(validate(&mbox(dotdot, "root", 0), &c), bad(dotdot));
    assert_eq!(
        validate(&mbox("/var/mail/root", "root", 5), &c),
        not_of(5, "root")
    );
    assert_eq!(
        validate(&mbox("var/mail/root", "root", 0), &c),
        bad("var/mail/root")
    );
    // A batch is checked exactly as a single mailbox request.
    let batch = |path: &str, uid| Op::Mbox {
        path: path.into(),
        user: "root".into(),
        uid,
        gid: 0,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        records: vec![Vec::new(); 2],
    };
    assert_eq!(validate(&batch("/var/mail/root", 0), &c), Ok(()));
    assert_eq!(validate(&batch("/root/Mailbox", 0), &c), Ok(()));
    assert_eq!(validate(&batch("/etc/shadow", 0), &c), shadow);
    assert_eq!(validate(&batch(dotdot, 0), &c), bad(dotdot));
    assert_eq!(validate(&batch("/var/mail/root", 5), &c), not_of(5, "root"));
    assert_eq!(
        validate(&mbox("/var/mail/x", "no-such-user-pst", 1234), &c),
        Err(Refusal::UnknownUser("no-such-user-pst".into()))
    );
    let file = |uid| Op::File {
        path: "/tmp/f".into(),
        source: Source::None,
        uid,
        gid: 65534,
        limit: 0,
        locks: LockPolicy::default(),
        record: Vec::new(),
    };
    let root_file = validate(&file(0), &c).unwrap_err();
    assert_eq!(root_file, Refusal::RootFile);
    assert_eq!(root_file.to_string(), "file delivery with root privileges");
    let nobody = sys::user_by_name("nobody").unwrap().unwrap();
    assert_eq!(nobody.gid, 65534, "test assumes nobody's gid is 65534");
    assert_eq!(validate(&file(nobody.uid), &c), Ok(()));
    // Without a source only $default_privs is acceptable.
    let wrong = validate(&file(4242), &c).unwrap_err();
    assert_eq!(
        wrong,
        Refusal::WrongIds {
            asked: (4242, 65534),
            entitled: (nobody.uid, nobody.gid),
        }
    );
    assert_eq!(
        wrong.to_string(),
        format!(
            "ids 4242:65534 are not {}:{} as the source entitles",
            nobody.uid, nobody.gid
        )
    );
    let cmd = Op::Command {
        source: Source::None,
        uid: 0,
        gid: 5,
        job: crate::delivery::command::CommandJob {
            command: "id".into(),
            argv: Vec::new(),
            shell: String::new(),
            dir_required: false,
            env: Vec::new(),
            dir: "/".into(),
            limit: std::time::Duration::from_secs(1),
            input: Vec::new(),
        },
    };
    if let Op::Command { uid, gid, job, .. } = &mut cmd.clone() {
        *uid = nobody.uid;
        *gid = nobody.gid;
        job.shell = "/bin/sh -c".into();
        let shell = Op::Command {
            source: Source::None,
            uid: *uid,
            gid: *gid,
            job: job.clone(),
        };
        let e = validate(&shell, &c).unwrap_err();
        assert_eq!(e, Refusal::NotTheCommandShell);
        assert_eq!(e.to_string(), "shell is not local_command_shell");
        // A forged environment is refused before the alias is even looked at.
        job.shell = String::new();
        job.env = vec![("LD_PRELOAD".into(), "/tmp/evil.so".into())];
        let preload = Op::Command {
            source: Source::None,
            uid: *uid,
            gid: *gid,
            job: job.clone(),
        };
        let e = validate(&preload, &c).unwrap_err();
        assert_eq!(e, Refusal::Environment("LD_PRELOAD".into()));
        assert_eq!(e.to_string(), "environment variable LD_PRELOAD refused");
    }
    let root_cmd = validate(&cmd, &c).unwrap_err();
    assert_eq!(root_cmd, Refusal::RootCommand);
    assert_eq!(
        root_cmd.to_string(),
        "command delivery with root privileges"
    );
    // Not root: in-process semantics, the ids are the caller's own anyway.
    let user = Ctx {
        root: false,
        ..ctx()
    };
    assert_eq!(validate(&file(4242), &user), Ok(()));
    assert!(in_spool(
        Path::new("/var/mail/u"),
        "u",
        Path::new("/var/mail")
    ));
    assert!(!in_spool(
        Path::new("/var/mail/v"),
        "u",
        Path::new("/var/mail")
    ));
    assert!(!in_spool(
        Path::new("/var/mail/u@d"),
        "u@d",
        Path::new("/var/mail")
    ));
}

#[test]
fn mailbox_commands_are_the_configured_one_as_the_user() {
    let cfg = Config::from_pairs(
        Path::new("/nonexistent-postern-config"),
        &[("mailbox_command", "/usr/bin/procmail -a \"$EXTENSION\"")],
    );
    let nobody = sys::user_by_name("nobody").unwrap().unwrap();
    let cmd = "/usr/bin/procmail -a \"$EXTENSION\"";
    // Root's mail runs as $default_privs; the command is taken as written.
    let ok = check_mailbox_command("root", cmd, (nobody.uid, nobody.gid), &cfg);
    assert_eq!(ok, Ok(()));
    assert_eq!(
        check_mailbox_command("root", cmd, (0, 0), &cfg),
        Err(Refusal::WrongIds {
            asked: (0, 0),
            entitled: (nobody.uid, nobody.gid)
        })
    );
    let e = check_mailbox_command("root", "/bin/sh -c evil", (nobody.uid, nobody.gid), &cfg);
    assert_eq!(e, Err(Refusal::NotTheMailboxCommand("root".into())));
    assert_eq!(
        e.unwrap_err().to_string(),
        "not the mailbox command of root"
    );
    let none = Config::from_pairs(Path::new("/nonexistent-postern-config"), &[]);
    assert!(check_mailbox_command("root", cmd, (nobody.uid, nobody.gid), &none).is_err());
    assert_eq!(
        check_mailbox_command("no-such-user-pst", cmd, (1, 1), &cfg),
        Err(Refusal::UnknownUser("no-such-user-pst".into()))
    );
}

/// The ids a file owned by the running user entitles.
fn entitled(path: &Path) -> (u32, u32) {
    let m = std::fs::metadata(path).unwrap();
    if m.uid() == 0 {
        let n = sys::user_by_name("nobody").unwrap().unwrap();
        (n.uid, n.gid)
    } else {
        let owner = sys::user_by_uid(m.uid()).unwrap().unwrap();
        (owner.uid, owner.gid)
    }
}

#[test]
fn identities_come_from_the_source_not_the_request() {
    let dir = std::env::temp_dir().join(format!("postern-ident-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let aliases = dir.join("aliases");
    std::fs::write(&aliases, "prog: \"|/bin/true x\", /var/tmp/copy\n").unwrap();
    crate::tables::aliases::build_file(&aliases).unwrap();
    let include = dir.join("list");
    std::fs::write(&include, "# members\n|/bin/echo hi\n/var/tmp/inc\n").unwrap();
    let spec = format!("hash:{}", aliases.display());
    let cfg = Config::from_pairs(&dir, &[("alias_maps", &spec)]);
    let table = |key: &str| Source::Table {
        spec: spec.clone(),
        key: key.into(),
    };
    let db_ids = entitled(&crate::tables::hash::db_path(&aliases));
    let inc_ids = entitled(&include);
    let cmd = Target::Command("/bin/true x");
    assert_eq!(check_identity(&table("prog"), &cmd, db_ids, &cfg), Ok(()));
    let copy = Target::File(Path::new("/var/tmp/copy"));
    assert_eq!(check_identity(&table("prog"), &copy, db_ids, &cfg), Ok(()));
    let other = (db_ids.0 + 1, db_ids.1);
    assert_eq!(
        check_identity(&table("prog"), &cmd, other, &cfg),
        Err(Refusal::WrongIds {
            asked: other,
            entitled: db_ids,
        })
    );
    let evil = Target::Command("/bin/sh -c evil");
    let e = check_identity(&table("prog"), &evil, db_ids, &cfg).unwrap_err();
    assert_eq!(
        e,
        Refusal::AliasDoesNotList {
            spec: spec.clone(),
            key: "prog".into()
        }
    );
    assert_eq!(
        e.to_string(),
        format!("alias prog in {} does not list the target", spec)
    );
    let e = check_identity(&table("nokey"), &cmd, db_ids, &cfg).unwrap_err();
    assert_eq!(
        e,
        Refusal::NoAlias {
            spec: spec.clone(),
            key: "nokey".into()
        }
    );
    assert_eq!(e.to_string(), format!("{} has no alias nokey", spec));
    let foreign = Source::Table {
        spec: "hash:/etc/postern-not-an-alias-map".into(),
        key: "prog".into(),
    };
    let e = check_identity(&foreign, &cmd, db_ids, &cfg).unwrap_err();
    assert_eq!(
        e,
        Refusal::NotInAliasMaps("hash:/etc/postern-not-an-alias-map".into())
    );
    assert_eq!(
        e.to_string(),
        "hash:/etc/postern-not-an-alias-map is not in alias_maps"
    );
    // Include files: the target must be listed (comments are not targets).
    let inc = Source::Include(include.clone());
    let echo = Target::Command("/bin/echo hi");
    assert_eq!(check_identity(&inc, &echo, inc_ids, &cfg), Ok(()));
    let f = Target::File(Path::new("/var/tmp/inc"));
    assert_eq!(check_identity(&inc, &f, inc_ids, &cfg), Ok(()));
    let not_listed = Err(Refusal::IncludeDoesNotList(include.clone()));
    let members = Target::Command("members");
    assert_eq!(check_identity(&inc, &members, inc_ids, &cfg), not_listed);
    let passwd = Target::File(Path::new("/etc/passwd"));
    let e = check_identity(&inc, &passwd, inc_ids, &cfg);
    assert_eq!(e, not_listed);
    assert_eq!(
        e.unwrap_err().to_string(),
        format!("{} does not list the target", include.display())
    );
    let missing = dir.join("no-such-list");
    let e = check_identity(&Source::Include(missing.clone()), &f, inc_ids, &cfg);
    assert_eq!(
        e,
        Err(Refusal::UnreadableInclude {
            path: missing,
            error: "No such file or directory (os error 2)".into()
        })
    );
    // Devices, FIFOs and relative paths are not read as include files.
    let e = check_identity(&Source::Include("/dev/zero".into()), &f, inc_ids, &cfg);
    let e = e.unwrap_err();
    assert_eq!(e, Refusal::NotAnIncludeFile("/dev/zero".into()));
    assert_eq!(e.to_string(), "/dev/zero is not a plausible include file");
    let e = check_identity(&Source::Include("rel/list".into()), &f, inc_ids, &cfg);
    let e = e.unwrap_err();
    assert_eq!(e, Refusal::BadPath("rel/list".into()));
    assert_eq!(e.to_string(), "bad path rel/list");
    // A source owned by a system account (as root we can arrange one) is refused.
    if sys::is_root() {
        let bin = sys::user_by_name("bin").unwrap().unwrap();
        assert!(bin.uid < MIN_UID && bin.uid != 0);
        std::os::unix::fs::chown(&include, Some(bin.uid), Some(bin.gid)).unwrap();
        let e = check_identity(&inc, &echo, (bin.uid, bin.gid), &cfg).unwrap_err();
        assert_eq!(
            e,
            Refusal::UidBelowMinimum {
                uid: bin.uid,
                minimum: MIN_UID
            }
        );
        assert_eq!(
            e.to_string(),
            format!("uid {} is below {}", bin.uid, MIN_UID)
        );
        // An owner without an account entitles nothing.
        let ghost = 54_321;
        assert!(sys::user_by_uid(ghost).unwrap().is_none());
        std::os::unix::fs::chown(&include, Some(ghost), Some(0)).unwrap();
        let e = check_identity(&inc, &echo, (ghost, 0), &cfg).unwrap_err();
        assert_eq!(
            e,
            Refusal::UnknownOwner("cannot find alias database owner".into())
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
