//! virtual(8) through the whole mail system: a Postern instance routes ex.test and ca.test
//! to the virtual transport with transport_maps (small.test and other.test to copied
//! `virtual` services with a small virtual_mailbox_limit and a failing virtual_gid_maps);
//! virtual_mailbox_maps is a texthash table, virtual_uid_maps and virtual_gid_maps inline
//! ones. Covers Maildir (file in new/, Postfix's name, Return-Path/Delivered-To, byte-exact
//! body), mbox, the `@domain` catch-all, unknown user (5.1.1), a `..` path (4.3.5), the size
//! limit (5.2.2), a table error, a uid below virtual_minimum_uid and an unwritable Maildir
//! (all deferred). As root the writes go through the privileged helper as the mapped
//! uid/gid (the root-only tests check ownership and modes, and that the helper refuses
//! forged requests); otherwise in-process as the running user.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{Instance, wait_for};

/// A started instance with its virtual mailbox base and the uid/gid the tables map to.
struct Virt {
    inst: Instance,
    base: PathBuf,
    uid: u32,
    gid: u32,
}

fn start() -> Virt {
    // As root: ids no account has (the helper's child switches to them); else our own.
    let (uid, gid) = if postern::sys::is_root() {
        (5123, 5123)
    } else {
        let m = std::fs::metadata(std::env::temp_dir()).unwrap();
        (postern::sys::euid(), m.gid().max(1))
    };
    let min_uid = 100.min(uid).to_string();
    let inst = Instance::new(&[
        (
            "transport_maps",
            "inline:{ ex.test=virtual:, ca.test=virtual:, other.test=verr:, small.test=vsmall: }",
        ),
        (
            "virtual_uid_maps",
            &format!("inline:{{ low@ex.test=42 }}, static:{}", uid),
        ),
        (
            "virtual_gid_maps",
            &format!(
                "inline:{{ @ex.test={g}, @ca.test={g}, @small.test={g}, @other.test={g} }}",
                g = gid
            ),
        ),
        ("virtual_minimum_uid", &min_uid),
        ("recipient_delimiter", "+"),
        ("minimal_backoff_time", "600s"),
        ("maximal_backoff_time", "600s"),
    ]);
    let base = inst.dir.join("vmail");
    inst.set("virtual_mailbox_base", &base.display().to_string());
    let vmailbox = inst.etc.join("vmailbox");
    std::fs::write(
        &vmailbox,
        "# virtual mailboxes\n\
         md@ex.test      ex.test/md/\n\
         mb@ex.test      ex.test/mb\n\
         evil@ex.test    ex.test/../../evil/\n\
         low@ex.test     ex.test/low/\n\
         gerr@other.test other.test/gerr/\n\
         big@small.test  small.test/big/\n\
         ro@ex.test      ro/\n\
         @ca.test        ca.test/all/\n",
    )
    .unwrap();
    inst.set(
        "virtual_mailbox_maps",
        &format!("texthash:{}", vmailbox.display()),
    );
    let path = inst.etc.join("master.cf");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("virtual unix - n n - - virtual\n");
    text.push_str("vsmall unix - n n - - virtual\n  -o virtual_mailbox_limit=1000\n");
    text.push_str("verr unix - n n - - virtual\n  -o virtual_gid_maps=fail:gid\n");
    std::fs::write(&path, text).unwrap();
    // The base and the mbox's directory belong to the mapped ids, as an administrator
    // would set them up (Postfix creates Maildirs, not an mbox's directory).
    for d in [base.clone(), base.join("ex.test")] {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        if postern::sys::is_root() {
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
        }
    }
    // A Maildir its owner cannot write (mode 0500).
    let ro = base.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    inst.newaliases();
    inst.start();
    Virt {
        inst,
        base,
        uid,
        gid,
    }
}

fn send(v: &Virt, rcpt: &str, body: &str) -> String {
    v.inst.send(
        &v.inst.local_address(),
        &[&format!("<{}>", rcpt)],
        "virtual test",
        body,
    )
}

/// The logged outcome line for `id` and `to`, once it appears.
fn outcome(v: &Virt, id: &str, to: &str) -> String {
    let needle = format!("{}: to=<{}>, ", id, to);
    let found = wait_for(20, || v.inst.log().lines().any(|l| l.contains(&needle)));
    assert!(found, "no line for {} {}:\n{}", id, to, v.inst.log());
    let log = v.inst.log();
    log.lines()
        .find(|l| l.contains(&needle))
        .unwrap()
        .to_string()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn virtual_mailboxes() {
    let v = start();
    let sender = v.inst.local_address();

    // Maildir: one file in new/, Postfix's name, delivery headers, the body byte for byte.
    let id = send(
        &v,
        "md@ex.test",
        "first line\n..dotted\nFrom the start\nend",
    );
    let line = outcome(&v, &id, "md@ex.test");
    assert!(line.contains(" postfix/virtual["), "{}", line);
    assert!(
        line.contains(", relay=virtual, delay=")
            && line.ends_with(", dsn=2.0.0, status=sent (delivered to maildir)"),
        "{}",
        line
    );
    let md = v.base.join("ex.test/md");
    let new = files(&md.join("new"));
    assert_eq!(new.len(), 1, "{:?}", new);
    assert!(files(&md.join("tmp")).is_empty() && md.join("cur").is_dir());
    let name = new[0].file_name().unwrap().to_str().unwrap().to_string();
    let ino = std::fs::metadata(&new[0]).unwrap().ino();
    let parts: Vec<&str> = name.splitn(3, '.').collect();
    assert!(parts[0].parse::<u64>().is_ok(), "{}", name);
    assert!(
        parts[1].starts_with('V') && parts[1].contains(&format!("I{:x}M", ino)),
        "{}",
        name
    );
    assert_eq!(parts[2], "www.a.org", "{}", name);
    let text = std::fs::read_to_string(&new[0]).unwrap();
    let head = format!(
        "Return-Path: <{}>\nX-Original-To: md@ex.test\nDelivered-To: md@ex.test\n",
        sender
    );
    assert!(text.starts_with(&head), "{}", text);
    assert!(
        text.ends_with("\n\nfirst line\n.dotted\nFrom the start\nend\n"),
        "{}",
        text
    );

    // An address extension finds the base address's mailbox.
    let id = send(&v, "md+tag@ex.test", "with extension");
    assert!(outcome(&v, &id, "md+tag@ex.test").contains("status=sent (delivered to maildir)"));
    assert_eq!(files(&md.join("new")).len(), 2);

    // mbox.
    let id = send(&v, "mb@ex.test", "From here\nto there");
    let line = outcome(&v, &id, "mb@ex.test");
    assert!(
        line.ends_with(", dsn=2.0.0, status=sent (delivered to mailbox)"),
        "{}",
        line
    );
    let mbox = std::fs::read_to_string(v.base.join("ex.test/mb")).unwrap();
    assert!(mbox.starts_with(&format!("From {}  ", sender)), "{}", mbox);
    assert!(mbox.contains("\nDelivered-To: mb@ex.test\n"), "{}", mbox);
    assert!(mbox.ends_with("\n\n>From here\nto there\n\n"), "{}", mbox);

    // The @domain catch-all.
    let id = send(&v, "anyone@ca.test", "caught");
    assert!(outcome(&v, &id, "anyone@ca.test").contains("status=sent (delivered to maildir)"));
    assert_eq!(files(&v.base.join("ca.test/all/new")).len(), 1);

    // Unknown user: bounced.
    let id = send(&v, "nobody@ex.test", "x");
    let line = outcome(&v, &id, "nobody@ex.test");
    assert!(
        line.ends_with(", dsn=5.1.1, status=bounced (unknown user: \"nobody@ex.test\")"),
        "{}",
        line
    );

    // Configuration problems: deferred, with Postfix's warning.
    let deferred = "dsn=4.3.5, status=deferred (mail system configuration error)";
    let id = send(&v, "evil@ex.test", "x");
    assert!(outcome(&v, &id, "evil@ex.test").ends_with(deferred));
    assert!(v.inst.log().contains(
        "warning: recipient evil@ex.test: bad mailbox path ex.test/../../evil/ in virtual_mailbox_maps"
    ));
    assert!(!v.base.parent().unwrap().join("evil").exists());
    let id = send(&v, "low@ex.test", "x");
    assert!(outcome(&v, &id, "low@ex.test").ends_with(deferred));
    assert!(
        v.inst
            .log()
            .contains("warning: recipient low@ex.test: bad uid 42 in virtual_uid_maps")
    );
    let id = send(&v, "gerr@other.test", "x");
    assert!(outcome(&v, &id, "gerr@other.test").ends_with(deferred));
    assert!(
        v.inst
            .log()
            .contains("warning: table virtual_gid_maps: lookup gerr@other.test: ")
    );

    // A Maildir that cannot be written: deferred, with Postfix's two warnings.
    let id = send(&v, "ro@ex.test", "x");
    let line = outcome(&v, &id, "ro@ex.test");
    assert!(
        line.contains(", dsn=4.2.0, status=deferred (maildir delivery failed: ")
            && line.ends_with(": Permission denied)"),
        "{}",
        line
    );
    let log = v.inst.log();
    assert!(
        log.contains(&format!(
            "warning: maildir access problem for UID/GID={}/{}: ",
            v.uid, v.gid
        )) && log.contains("warning: perhaps you need to create the maildirs in advance"),
        "{}",
        log
    );

    // Over virtual_mailbox_limit (the vsmall service's -o): bounced 5.2.2.
    let id = send(&v, "big@small.test", &"0123456789".repeat(200));
    let line = outcome(&v, &id, "big@small.test");
    assert!(line.contains(", dsn=5.2.2, status=bounced ("), "{}", line);
    assert!(line.contains(" postfix/virtual["), "{}", line);
    v.inst.stop();
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn as_root_files_belong_to_the_mapped_ids() {
    if !common::require_root() {
        return;
    }
    let v = start();
    let id = send(&v, "md@ex.test", "owned");
    assert!(outcome(&v, &id, "md@ex.test").contains("status=sent (delivered to maildir)"));
    let id = send(&v, "mb@ex.test", "owned");
    assert!(outcome(&v, &id, "mb@ex.test").contains("status=sent (delivered to mailbox)"));
    let md = v.base.join("ex.test/md");
    let new = files(&md.join("new"));
    let mut owned = vec![md.clone(), md.join("new"), md.join("tmp"), md.join("cur")];
    owned.extend(new);
    owned.push(v.base.join("ex.test/mb"));
    for p in &owned {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!((m.uid(), m.gid()), (v.uid, v.gid), "{}", p.display());
        let mode = m.mode() & 0o7777;
        let want = if m.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} {:o}", p.display(), mode);
    }
    v.inst.stop();
}

#[test]
#[ignore = "needs root: make test runs it as root (cargo test -- --ignored)"]
fn the_helper_performs_only_what_its_own_tables_say() {
    use postern::delivery::Status;
    use postern::delivery::lock::LockPolicy;
    use postern::delivery::privileged::{HelperHandle, Op};
    if !common::require_root() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("postern-vhelper-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = dir.join("vmail");
    std::fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::chown(&base, Some(5123), Some(5123)).unwrap();
    std::fs::write(
        dir.join("main.cf"),
        format!(
            "virtual_mailbox_base = {}\n\
             virtual_mailbox_maps = inline:{{ a@ex.test=ex.test/a/, b@ex.test=b }}\n\
             virtual_uid_maps = static:5123\nvirtual_gid_maps = static:5123\n",
            base.display()
        ),
    )
    .unwrap();
    let helper = HelperHandle::spawn(Path::new(env!("CARGO_BIN_EXE_local")), &dir).unwrap();
    let maildir = |path: PathBuf, user: &str, uid: u32, gid: u32| Op::Maildir {
        dir: path,
        user: user.into(),
        uid,
        gid,
        limit: 0,
        host: "h".into(),
        contents: vec![b"Subject: x\n\nx\n".to_vec()],
    };
    let refused = |op: Op| {
        let r = helper.request(&op);
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
    let right = base.join("ex.test/a/");
    let victim = dir.join("victim/");
    refused(maildir(victim.clone(), "a@ex.test", 5123, 5123));
    refused(maildir(right.clone(), "a@ex.test", 0, 0));
    refused(maildir(right.clone(), "a@ex.test", 5124, 5123));
    refused(maildir(right.clone(), "z@ex.test", 5123, 5123));
    refused(maildir(base.join("b/"), "b@ex.test", 5123, 5123));
    refused(Op::Mbox {
        path: base.join("ex.test/a"),
        user: "a@ex.test".into(),
        uid: 5123,
        gid: 5123,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        records: vec![b"x".to_vec()],
    });
    assert!(!victim.exists() && !base.join("ex.test").exists());
    let r = helper.request(&maildir(right.clone(), "A@ex.test", 5123, 5123));
    assert_eq!(r.status, Status::Sent, "{:?}", r);
    let new = files(&right.join("new"));
    assert_eq!(new.len(), 1);
    let m = std::fs::metadata(&new[0]).unwrap();
    assert_eq!((m.uid(), m.gid()), (5123, 5123));
    // Several messages in one request: one answer each, in order; the oversized one
    // bounces, the others are written.
    let batch = Op::Maildir {
        dir: right.clone(),
        user: "a@ex.test".into(),
        uid: 5123,
        gid: 5123,
        limit: 10,
        host: "h".into(),
        contents: vec![
            b"one\n".to_vec(),
            b"far too long\n".to_vec(),
            b"three\n".to_vec(),
        ],
    };
    let rs = helper.request_all(&batch);
    let got: Vec<_> = rs.iter().map(|r| (r.status, r.dsn.as_str())).collect();
    assert_eq!(
        got,
        [
            (Status::Sent, "2.0.0"),
            (Status::Bounced, "5.2.2"),
            (Status::Sent, "2.0.0")
        ],
        "{:?}",
        rs
    );
    assert_eq!(files(&right.join("new")).len(), 3);
    // A batch for another address's mailbox is refused as a whole.
    let mut stolen = batch.clone();
    if let Op::Maildir { user, limit, .. } = &mut stolen {
        *user = "z@ex.test".into();
        *limit = 0;
    }
    let rs = helper.request_all(&stolen);
    assert_eq!(rs.len(), 3);
    assert!(rs.iter().all(|r| r.status == Status::Deferred), "{:?}", rs);
    assert_eq!(files(&right.join("new")).len(), 3);
    drop(helper);
    std::fs::remove_dir_all(&dir).unwrap();
}
