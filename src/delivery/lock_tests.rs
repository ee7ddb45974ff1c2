use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-lock-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn quick() -> LockPolicy {
    LockPolicy {
        attempts: 2,
        delay: Duration::from_millis(1),
        ..LockPolicy::default()
    }
}

#[test]
fn dotlock_is_exclusive_and_removed() {
    let d = tmpdir("dot");
    let mbox = d.join("user");
    let held = Dotlock::acquire(&mbox, &quick()).unwrap();
    assert!(d.join("user.lock").exists());
    let err = Dotlock::acquire(&mbox, &quick()).err().unwrap();
    assert!(err.to_string().contains("user.lock"), "{}", err);
    drop(held);
    assert!(!d.join("user.lock").exists());
    let _again = Dotlock::acquire(&mbox, &quick()).unwrap();
}

#[test]
fn dotlock_names_its_process_and_host() {
    let d = tmpdir("contents");
    let mbox = d.join("user");
    let _held = Dotlock::acquire(&mbox, &quick()).unwrap();
    let text = std::fs::read_to_string(d.join("user.lock")).unwrap();
    assert_eq!(
        text,
        format!("{}:{}\n", std::process::id(), crate::sys::hostname())
    );
    assert_eq!(
        parse_dotlock(&text),
        Some((std::process::id() as i32, crate::sys::hostname().as_str()))
    );
    assert_eq!(parse_dotlock("123\n"), Some((123, "")));
    assert_eq!(parse_dotlock("  77 host.x\n"), Some((77, "host.x")));
    assert_eq!(parse_dotlock(""), None);
    assert_eq!(parse_dotlock("0:host"), None);
    assert_eq!(parse_dotlock("-5:host"), None);
    assert_eq!(parse_dotlock("host:12"), None);
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    assert!(!crate::sys::process_exists(pid as i32));
    pid
}

#[test]
fn dotlock_of_a_dead_process_on_this_host_is_broken_at_once() {
    let d = tmpdir("dead");
    let mbox = d.join("user");
    let lock = d.join("user.lock");
    let host = crate::sys::hostname();
    // One attempt, a stale time far away: only the dead owner lets this succeed.
    let once = LockPolicy {
        attempts: 1,
        ..LockPolicy::default()
    };
    std::fs::write(&lock, format!("{}:{}\n", dead_pid(), host)).unwrap();
    let held = Dotlock::acquire(&mbox, &once).unwrap();
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        dotlock_contents(),
        "the lock is ours now"
    );
    drop(held);
    // A live owner (this process), another host, or no PID: the lock stands.
    for text in [
        format!("{}:{}\n", std::process::id(), host),
        format!("{}:other-{}\n", dead_pid(), host),
        format!("{}\n", dead_pid()),
        String::new(),
    ] {
        std::fs::write(&lock, &text).unwrap();
        let err = Dotlock::acquire(&mbox, &once).err().unwrap();
        assert_eq!(
            err.to_string(),
            format!("unable to create lock file {}: File exists", lock.display()),
            "{:?}",
            text
        );
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), text);
    }
}

#[test]
fn stale_dotlock_is_broken() {
    let d = tmpdir("stale");
    let mbox = d.join("user");
    std::fs::write(d.join("user.lock"), b"").unwrap();
    let p = LockPolicy {
        stale: Duration::ZERO,
        ..quick()
    };
    std::thread::sleep(Duration::from_millis(5));
    assert!(Dotlock::acquire(&mbox, &p).is_ok());
}

#[test]
fn pauses_double_up_to_the_delay_and_are_randomised() {
    let p = LockPolicy {
        delay: Duration::from_millis(100),
        ..LockPolicy::default()
    };
    for (attempt, base) in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (30, 100)] {
        let base = Duration::from_millis(base);
        let pauses: Vec<Duration> = (0..50).map(|_| backoff(&p, attempt)).collect();
        for d in &pauses {
            assert!(
                *d >= base / 2 && *d < base * 3 / 2,
                "{:?} for {:?}",
                d,
                base
            );
        }
        assert!(pauses.iter().any(|d| *d != pauses[0]), "randomised");
    }
}

#[test]
fn retry_stops_at_done_failed_or_the_last_attempt() {
    let p = LockPolicy {
        attempts: 4,
        delay: Duration::from_millis(1),
        ..LockPolicy::default()
    };
    let mut n = 0;
    let r: Result<u32, u32> = retry(&p, || {
        n += 1;
        if n == 3 {
            Attempt::Done(n)
        } else {
            Attempt::Busy(n)
        }
    });
    assert_eq!(r, Ok(3));
    n = 0;
    let r: Result<u32, u32> = retry(&p, || {
        n += 1;
        Attempt::Busy(n)
    });
    assert_eq!(r, Err(4), "the last busy attempt's error");
    n = 0;
    let r: Result<u32, u32> = retry(&p, || {
        n += 1;
        if n == 2 {
            Attempt::Failed(n)
        } else {
            Attempt::Busy(n)
        }
    });
    assert_eq!(r, Err(2), "no retry after a failure");
}

#[test]
fn path_guard_serialises_threads() {
    let inside = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let path = tmpdir("guard").join("mbox");
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let (inside, max, path) = (inside.clone(), max.clone(), path.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let _g = PathGuard::acquire(&path);
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(max.load(Ordering::SeqCst), 1);
}

/// Environment variable naming the file `fcntl_probe` tries to lock.
const PROBE: &str = "POSTERN_FCNTL_PROBE";

/// Run by `fcntl_lock_is_held_against_other_processes` in a second process (this test
/// binary again): try once to lock the file named in $POSTERN_FCNTL_PROBE and exit 0
/// (locked), 3 (held by someone else) or 4 (another error).
#[test]
#[ignore = "helper: run in a child process by fcntl_lock_is_held_against_other_processes"]
fn fcntl_probe() {
    let Some(path) = std::env::var_os(PROBE) else {
        // Run directly (e.g. `--include-ignored`): there is nothing to probe.
        eprintln!("{} is not set: this is a helper of another test", PROBE);
        return;
    };
    let f = OpenOptions::new().write(true).open(path).unwrap();
    let once = LockPolicy {
        attempts: 1,
        ..LockPolicy::default()
    };
    let code = match fcntl_lock(&f, &once) {
        Ok(()) => 0,
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => 3,
        Err(_) => 4,
    };
    std::process::exit(code);
}

/// Whether another process can take the fcntl lock on `path` now.
fn other_process_can_lock(path: &Path) -> bool {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "delivery::lock::tests::fcntl_probe",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env(PROBE, path)
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        _ => panic!(
            "probe failed: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        ),
    }
}

#[test]
fn fcntl_lock_is_held_against_other_processes() {
    let d = tmpdir("fcntl2");
    let p = d.join("mbox");
    std::fs::write(&p, b"").unwrap();
    assert!(other_process_can_lock(&p), "nobody holds it yet");
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    fcntl_lock(&f, &quick()).unwrap();
    assert!(!other_process_can_lock(&p), "held while locked");
    fcntl_unlock(&f).unwrap();
    assert!(other_process_can_lock(&p), "free after unlock");
    fcntl_lock(&f, &quick()).unwrap();
    assert!(!other_process_can_lock(&p));
    drop(f);
    assert!(other_process_can_lock(&p), "free once the file is closed");
}

#[test]
fn fcntl_lock_and_unlock() {
    let d = tmpdir("fcntl");
    let p = d.join("mbox");
    std::fs::write(&p, b"").unwrap();
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    fcntl_lock(&f, &quick()).unwrap();
    fcntl_unlock(&f).unwrap();
    fcntl_lock(&f, &quick()).unwrap();
    // A write lock needs a descriptor open for writing.
    let ro = File::open(&p).unwrap();
    assert_eq!(
        fcntl_lock(&ro, &quick()).unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
}
