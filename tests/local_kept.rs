//! The helper's kept user processes (`privileged::keep`): mailbox writes for one uid go to
//! a `local work` process that the helper starts once and reuses; one that was killed is
//! replaced without losing the request; they end with the helper. Runs as root (the
//! mailbox of nobody, written as nobody) and as an ordinary user (everything as that user).

use std::path::Path;
use std::time::{Duration, Instant};

use postern::delivery::Status;
use postern::delivery::lock::LockPolicy;
use postern::delivery::privileged::{HelperHandle, Op, POOL};

mod common;

use common::HelperDir;

/// (pid, parent pid, argv) of every process.
fn processes() -> Vec<(i32, i32, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let (Ok(stat), Ok(cmd)) = (
            std::fs::read_to_string(e.path().join("stat")),
            std::fs::read(e.path().join("cmdline")),
        ) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised command name.
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
            continue;
        };
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        let argv = cmd
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Some(ppid) = ppid {
            out.push((pid, ppid, argv));
        }
    }
    out
}

/// The pids of the `local work` processes whose parent is one of our `local serve` helpers.
fn workers() -> Vec<i32> {
    let all = processes();
    let me = std::process::id() as i32;
    let helpers: Vec<i32> = all
        .iter()
        .filter(|(_, ppid, argv)| *ppid == me && argv.get(1).map(String::as_str) == Some("serve"))
        .map(|(pid, _, _)| *pid)
        .collect();
    let mut w: Vec<i32> = all
        .iter()
        .filter(|(_, ppid, argv)| {
            helpers.contains(ppid) && argv.get(1).map(String::as_str) == Some("work")
        })
        .map(|(pid, _, _)| *pid)
        .collect();
    w.sort();
    w
}

const SIGKILL: i32 = 9;

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid)) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, a)| a.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {}", what);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mailbox_writers_are_kept_reused_replaced_and_ended() {
    let tmp = HelperDir::new("kept");
    let dir = &tmp.dir;
    let (user, uid, gid) = (tmp.user.clone(), tmp.uid, tmp.gid);
    let mbox = tmp.mbox();
    let helper = HelperHandle::spawn(Path::new(env!("CARGO_BIN_EXE_local")), dir).unwrap();
    let deliver = |n: usize| {
        for _ in 0..n {
            let r = helper.request(&Op::Mbox {
                path: mbox.clone(),
                user: user.clone(),
                uid,
                gid,
                limit: 0,
                locks: LockPolicy::default(),
                create: true,
                records: vec![b"From s@x.test  Thu Jan  1 00:00:00 1970\n\nx\n\n".to_vec()],
            });
            assert_eq!(r.status, Status::Sent, "{:?}", r);
        }
    };
    let count = || {
        std::fs::read_to_string(&mbox)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("From "))
            .count()
    };

    // Each helper starts at most one writer for the uid, and keeps it.
    deliver(2 * POOL);
    assert_eq!(count(), 2 * POOL);
    let first = workers();
    assert!(!first.is_empty() && first.len() <= POOL, "{:?}", first);
    for pid in &first {
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid)).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid_line
                .split_whitespace()
                .skip(1)
                .all(|u| u == uid.to_string()),
            "writer {} is not running as {}: {}",
            pid,
            uid,
            uid_line
        );
    }
    deliver(2 * POOL);
    assert_eq!(count(), 4 * POOL);
    let again = workers();
    assert!(
        first.iter().any(|p| again.contains(p)),
        "no writer was reused: {:?} then {:?}",
        first,
        again
    );

    // Writers killed between requests are replaced, and no request is lost.
    for pid in &again {
        postern::sys::kill(*pid, SIGKILL).unwrap();
    }
    // "Between requests": wait until the kills have taken effect (the process is gone or
    // a zombie), so no request is written to a writer that is still dying.
    wait_until("the killed writers to end", || {
        again.iter().all(|p| ended(*p))
    });
    deliver(2 * POOL);
    assert_eq!(count(), 6 * POOL);
    let replaced = workers();
    assert!(
        replaced.iter().all(|p| !again.contains(p)),
        "killed writers still listed: {:?} then {:?}",
        again,
        replaced
    );
    assert!(!replaced.is_empty());

    // They end with the helpers.
    drop(helper);
    wait_until("the writers to end with their helpers", || {
        replaced.iter().all(|p| ended(*p))
    });
}
