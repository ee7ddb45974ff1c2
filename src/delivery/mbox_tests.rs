use super::*;
use std::path::PathBuf;
use std::time::Duration;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-mbox-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(limit: u64) -> AppendOptions {
    AppendOptions {
        create: true,
        devices: false,
        limit,
        locks: LockPolicy {
            attempts: 2,
            delay: Duration::from_millis(1),
            ..LockPolicy::default()
        },
    }
}

#[test]
fn record_shape() {
    let r = record(
        "",
        "orig",
        "u@h",
        b"Subject: x\n\nFrom here\nFromage\nlast",
        0,
    );
    let s = String::from_utf8(r).unwrap();
    let first = s.lines().next().unwrap();
    assert!(first.starts_with("From MAILER-DAEMON  "), "{}", first);
    assert_eq!(
        first.len(),
        "From MAILER-DAEMON  Thu Jan  1 00:00:00 1970".len()
    );
    let rest = &s[first.len() + 1..];
    assert_eq!(
        rest,
        "Return-Path: <>\nX-Original-To: orig\nDelivered-To: u@h\nSubject: x\n\n>From here\nFromage\nlast\n\n"
    );
}

#[test]
fn append_creates_and_appends() {
    let d = tmpdir("append");
    let p = d.join("user");
    append(&p, b"one\n", &opts(0)).unwrap();
    append(&p, b"two\n", &opts(0)).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"one\ntwo\n");
    assert!(!d.join("user.lock").exists());
    assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn size_limit_bounces_and_leaves_file() {
    let d = tmpdir("limit");
    let p = d.join("user");
    std::fs::write(&p, b"0123456789").unwrap();
    let f = append(&p, b"abcdef", &opts(12)).unwrap_err();
    assert_eq!((f.status, f.dsn), (Status::Bounced, "5.2.2"));
    assert_eq!(f.reason, "error writing message: File too large");
    assert_eq!(std::fs::read(&p).unwrap(), b"0123456789");
}

#[test]
fn write_error_truncates_back() {
    let d = tmpdir("trunc");
    let p = d.join("user");
    std::fs::write(&p, b"kept\n").unwrap();
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    let r = append_or_rollback(&mut f, b"partial message\n", 0, &mut |f, d| {
        f.write_all(&d[..7])?;
        Err(io::Error::from_raw_os_error(libc::ENOSPC))
    });
    let fail = r.unwrap_err();
    assert_eq!((fail.status, fail.dsn), (Status::Deferred, "4.3.0"));
    assert_eq!(std::fs::read(&p).unwrap(), b"kept\n");
    let r = append_or_rollback(&mut f, b"x", 0, &mut |_, _| {
        Err(io::Error::from_raw_os_error(libc::EDQUOT))
    });
    assert_eq!(r.unwrap_err().dsn, "5.2.2");
}

#[test]
fn append_many_writes_what_sequential_appends_write() {
    let d = tmpdir("many");
    let (one, many) = (d.join("one"), d.join("many"));
    let recs: [&[u8]; 3] = [b"From a  x\n\nfirst\n\n", b"From b  x\n\n2\n\n", b"third\n"];
    for r in recs {
        append(&one, r, &opts(0)).unwrap();
    }
    let results = append_many(&many, &recs, &opts(0));
    assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
    assert_eq!(std::fs::read(&many).unwrap(), std::fs::read(&one).unwrap());
    assert_eq!(std::fs::metadata(&many).unwrap().mode() & 0o777, 0o600);
    assert!(!d.join("many.lock").exists());
    assert!(append_many(&many, &[], &opts(0)).is_empty());
}

#[test]
fn append_many_rejects_only_the_record_over_the_limit() {
    let d = tmpdir("manylimit");
    let p = d.join("user");
    std::fs::write(&p, b"0123").unwrap();
    // 4 + 3 = 7 fits, 7 + 6 > 10 does not, 7 + 2 = 9 fits, 9 + 2 > 10 does not.
    let recs: [&[u8]; 4] = [b"abc", b"defghi", b"jk", b"lm"];
    let results = append_many(&p, &recs, &opts(10));
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[2], Ok(()));
    for k in [1, 3] {
        let f = results[k].clone().unwrap_err();
        assert_eq!((f.status, f.dsn), (Status::Bounced, "5.2.2"));
        assert_eq!(f.reason, "error writing message: File too large");
    }
    assert_eq!(std::fs::read(&p).unwrap(), b"0123abcjk");
}

#[test]
fn append_many_write_error_truncates_and_fails_the_rest() {
    let d = tmpdir("manyerr");
    let p = d.join("user");
    std::fs::write(&p, b"kept\n").unwrap();
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    for (errno, status, dsn) in [
        (libc::ENOSPC, Status::Deferred, "4.3.0"),
        (libc::EDQUOT, Status::Bounced, "5.2.2"),
        (libc::EIO, Status::Deferred, "4.2.0"),
    ] {
        let mut calls = 0;
        let recs: [&[u8]; 4] = [b"one\n", b"two\n", b"three\n", b"four\n"];
        let results = append_records(&mut f, &recs, 0, &mut |f, d| {
            calls += 1;
            if calls == 3 {
                // Half the record reaches the file before the error.
                f.write_all(&d[..2])?;
                return Err(io::Error::from_raw_os_error(errno));
            }
            f.write_all(d)
        });
        assert_eq!(calls, 3, "nothing is written after the error");
        assert_eq!(&results[..2], &[Ok(()), Ok(())]);
        for r in &results[2..] {
            let fail = r.clone().unwrap_err();
            assert_eq!((fail.status, fail.dsn), (status, dsn));
            assert!(fail.reason.starts_with("error writing message: "));
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"kept\none\ntwo\n");
        f.set_len(5).unwrap();
    }
}

#[test]
fn append_many_write_error_from_the_kernel() {
    // A real short write: a child process with RLIMIT_FSIZE just above the first record
    // gets EFBIG on the second; the first stays, the second and third fail (5.2.2).
    let d = tmpdir("fsize");
    let p = d.join("user");
    let recs: [&[u8]; 3] = [&[b'a'; 100], &[b'b'; 100], b"c"];
    let child = || {
        if crate::sys::set_file_size_limit(150).is_err() {
            return 2;
        }
        // No append_many here: its in-process path lock could have been held by another
        // test thread at the fork.
        let r = match OpenOptions::new().append(true).create(true).open(&p) {
            Ok(mut f) => append_records(&mut f, &recs, 0, &mut |f, d| f.write_all(d)),
            Err(_) => return 2,
        };
        let ok = r[0].is_ok()
            && r[1..].iter().all(|x| {
                x.as_ref()
                    .is_err_and(|f| f.dsn == "5.2.2" && f.status == Status::Bounced)
            });
        if ok { 0 } else { 1 }
    };
    let (uid, gid) = (crate::sys::euid(), crate::sys::egid());
    // SAFETY: the test harness is multi-threaded, but the child takes no lock another
    // thread might hold (glibc's malloc is fork-safe; the path lock is avoided above),
    // touches only its own copies and ends with _exit().
    let pid = unsafe { crate::sys::fork_as(uid, gid, child) }.unwrap();
    assert_eq!(crate::sys::wait_pid(pid).unwrap(), 0);
    assert_eq!(std::fs::read(&p).unwrap(), vec![b'a'; 100]);
}

#[test]
fn append_many_lock_failure_fails_every_record() {
    let d = tmpdir("manylocked");
    let p = d.join("user");
    std::fs::write(d.join("user.lock"), b"").unwrap();
    let results = append_many(&p, &[b"x\n", b"y\n"], &opts(0));
    assert_eq!(results.len(), 2);
    for r in results {
        let f = r.unwrap_err();
        assert!(
            f.reason.starts_with("unable to create lock file"),
            "{}",
            f.reason
        );
    }
    assert!(!p.exists());
}

#[test]
fn directory_in_place_defers() {
    let d = tmpdir("dir");
    let p = d.join("user");
    std::fs::create_dir(&p).unwrap();
    let f = append(&p, b"x\n", &opts(0)).unwrap_err();
    assert_eq!((f.status, f.dsn), (Status::Deferred, "4.2.0"));
    assert!(f.reason.contains("Is a directory"), "{}", f.reason);
}

#[test]
fn held_dotlock_defers() {
    let d = tmpdir("locked");
    let p = d.join("user");
    std::fs::write(d.join("user.lock"), b"").unwrap();
    let f = append(&p, b"x\n", &opts(0)).unwrap_err();
    assert_eq!((f.status, f.dsn), (Status::Deferred, "4.2.0"));
    assert_eq!(
        f.reason,
        format!(
            "unable to create lock file {}: File exists",
            d.join("user.lock").display()
        )
    );
    assert!(!p.exists());
}

#[test]
fn create_owned_refuses_symlink() {
    let d = tmpdir("own");
    let p = d.join("user");
    std::os::unix::fs::symlink("/etc/passwd", &p).unwrap();
    assert!(create_owned(&p, crate::sys::euid(), crate::sys::egid()).is_err());
    let q = d.join("new");
    create_owned(&q, crate::sys::euid(), crate::sys::egid()).unwrap();
    assert_eq!(std::fs::metadata(&q).unwrap().mode() & 0o777, 0o600);
}
