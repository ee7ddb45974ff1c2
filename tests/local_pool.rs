//! The helper pool: a mailbox delivery is not queued behind a helper that is busy with a
//! slow command. Runs as root (helpers verify ids; the command runs as $default_privs) and
//! as an ordinary user (the helpers run everything as that user).

use std::path::Path;
use std::time::{Duration, Instant};

use postern::delivery::Status;
use postern::delivery::command::CommandJob;
use postern::delivery::lock::LockPolicy;
use postern::delivery::privileged::{HelperHandle, Op, POOL, Source};

mod common;

use common::HelperDir;

#[test]
fn mailbox_deliveries_do_not_wait_behind_a_slow_command() {
    let tmp = HelperDir::new("pool");
    let dir = &tmp.dir;
    let (user, uid, gid) = (tmp.user.clone(), tmp.uid, tmp.gid);
    let mbox = tmp.mbox();
    let started = dir.join("started");
    let seen = dir.join("seen");
    let helper = HelperHandle::spawn(Path::new(env!("CARGO_BIN_EXE_local")), dir).unwrap();
    // The command holds its helper until POOL mailbox deliveries have arrived (or about
    // 10 s have passed), then records how many it saw.
    let command = format!(
        "touch {started}; i=0; \
         while [ \"$(grep -c '^From ' {mbox} 2>/dev/null)\" != {n} ] && [ $i -lt 200 ]; \
         do sleep 0.05; i=$((i+1)); done; \
         grep -c '^From ' {mbox} > {seen}",
        started = started.display(),
        mbox = mbox.display(),
        n = POOL,
        seen = seen.display()
    );
    let reply = std::thread::scope(|s| {
        let slow = s.spawn(|| {
            helper.request(&Op::Command {
                source: Source::None,
                uid,
                gid,
                job: CommandJob {
                    command,
                    argv: Vec::new(),
                    shell: String::new(),
                    dir_required: false,
                    env: vec![("PATH".into(), "/usr/bin:/bin".into())],
                    dir: "/".into(),
                    limit: Duration::from_secs(60),
                    input: Vec::new(),
                },
            })
        });
        // Wait until the command is running in its helper.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !started.exists() {
            assert!(Instant::now() < deadline, "the command never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        // POOL deliveries in a row: round-robin would hand one of them to the busy helper.
        for _ in 0..POOL {
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
        slow.join().unwrap()
    });
    assert_eq!(reply.status, Status::Sent, "{:?}", reply);
    // The command saw every mailbox delivery finished while it was still running.
    let n = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(n.trim(), POOL.to_string());
}
