//! Tests of `append` against another process that takes the locks in the other order
//! (fcntl first, then the dot-lock, as Debian's Dovecot does for mbox writes) and waits for
//! the second while it holds the first.

use super::*;
use crate::sys::{self, RecordLock};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Environment variable naming the mailbox `reader_in_fcntl_dotlock_order` locks.
const MAILBOX: &str = "POSTERN_LOCK_ORDER_MAILBOX";

/// Run in a child process by `append_does_not_hold_the_dotlock_while_fcntl_is_busy` (this
/// test binary again): take the fcntl lock on $POSTERN_LOCK_ORDER_MAILBOX, say so by
/// creating `MAILBOX.ready`, wait until the parent says it is about to deliver
/// (`MAILBOX.started`) and hold the lock a little longer, so that the delivery finds it
/// busy (the moment Dovecot spends rewriting the file); then wait (up to 60 s, polling)
/// for the dot-lock; with both, append a line, release and exit 0. Exit 3 when the
/// dot-lock never came free.
#[test]
#[ignore = "helper: run in a child process by append_does_not_hold_the_dotlock_while_fcntl_is_busy"]
fn reader_in_fcntl_dotlock_order() {
    let Some(path) = std::env::var_os(MAILBOX).map(PathBuf::from) else {
        eprintln!("{} is not set: this is a helper of another test", MAILBOX);
        return;
    };
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    sys::fcntl_setlk(&file, RecordLock::Write).unwrap();
    std::fs::write(path.with_extension("ready"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.with_extension("started").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let lock = lock::dotlock_path(&path);
    while Instant::now() < deadline {
        if OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .is_ok()
        {
            file.write_all(b"reader\n").unwrap();
            std::fs::remove_file(&lock).unwrap();
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::exit(3);
}

#[test]
fn append_does_not_hold_the_dotlock_while_fcntl_is_busy() {
    let d = std::env::temp_dir().join(format!("postern-mbox-order-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let mbox = d.join("user");
    std::fs::write(&mbox, b"").unwrap();
    let mut reader = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "delivery::mbox::lock_tests::reader_in_fcntl_dotlock_order",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env(MAILBOX, &mbox)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = mbox.with_extension("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ready.exists(), "the reader took its fcntl lock");
    // Generous: many attempts, short pauses. Holding the dot-lock while retrying fcntl
    // would fail here after all of them, with the reader still waiting.
    let opts = AppendOptions {
        create: false,
        devices: false,
        limit: 0,
        locks: LockPolicy {
            attempts: 100,
            delay: Duration::from_millis(200),
            ..LockPolicy::default()
        },
    };
    std::fs::write(mbox.with_extension("started"), b"").unwrap();
    let result = append(&mbox, b"delivered\n", &opts);
    let status = reader.wait().unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(status.code(), Some(0), "the reader got the dot-lock");
    assert_eq!(std::fs::read(&mbox).unwrap(), b"reader\ndelivered\n");
    assert!(!lock::dotlock_path(&mbox).exists());
}
