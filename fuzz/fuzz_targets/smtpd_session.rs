//! Fuzzes a whole SMTP server dialogue: `smtpd::session` over an in-memory stream whose
//! input is everything the client sends (commands, pipelined groups, DATA content; EOF ends
//! the session). One context per process, as the daemon builds one per configuration, with
//! a queue in a scratch directory (tmpfs when there is one); messages the session queues
//! are removed after each run. Clients with an even-length input connect from 127.0.0.1
//! (in $mynetworks: may relay), odd-length ones from 192.0.2.1 (may not), so both sides of
//! the relay checks are reached. Logging goes nowhere. Scratch directories of finished
//! runs are removed by the next run.

#![no_main]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use postern::config::Config;
use postern::queue::{Queue, QueueName};
use postern::smtpd::{ClientInfo, SmtpdContext, session};

#[path = "../common/mem.rs"]
mod mem;
use mem::Mem;

const SCRATCH_PREFIX: &str = "postern-fuzz-session-";

/// This process's scratch directory. libFuzzer ends a process with exit(), so a directory
/// cannot remove itself: the ones of processes that are gone are removed here instead.
fn scratch_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)) else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    base.join(format!("{}{}", SCRATCH_PREFIX, std::process::id()))
}

fn context() -> &'static SmtpdContext {
    static CTX: OnceLock<SmtpdContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let dir = scratch_dir();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let aliases = dir.join("aliases");
        std::fs::write(&aliases, "postmaster: root\nopenstack: root\n").expect("aliases");
        postern::tables::aliases::build_file(&aliases).expect("aliases.db");
        let maps = format!("hash:{}", aliases.display());
        let cfg = Config::from_pairs(
            &dir,
            &[
                ("myhostname", "www.a.org"),
                ("mydestination", "www.a.org, localhost"),
                ("relay_domains", "relay.test"),
                ("local_recipient_maps", &maps),
                ("mynetworks", "127.0.0.0/8"),
                ("smtpd_error_sleep_time", "0"),
                ("maillog_file", ""),
                ("message_size_limit", "100000"),
                ("smtpd_forbid_unauth_pipelining", "no"),
            ],
        );
        // No syslog socket, no maillog file, no stderr: the session's log lines vanish.
        postern::log::init_with_socket(&cfg, false, &dir.join("no-syslog-socket"));
        let queue = Queue::new(&dir.join("spool"));
        queue.create_dirs().expect("queue directories");
        // The scheduler is not running: wake-ups go to a dropped receiver.
        let (wake, _) = crossbeam_channel::unbounded();
        SmtpdContext::new(Arc::new(cfg), queue, wake).expect("smtpd context")
    })
}

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    let addr: IpAddr = if data.len().is_multiple_of(2) {
        [127, 0, 0, 1].into()
    } else {
        [192, 0, 2, 1].into()
    };
    let client = ClientInfo {
        name: "client.test".to_string(),
        addr,
        port: 1025,
        reverse_name: "client.test".to_string(),
        name_status: postern::smtpd::peer::NameStatus::Ok,
        reverse_name_status: postern::smtpd::peer::NameStatus::Ok,
    };
    let mut mem = Mem::new(data);
    session(&mut mem, client, ctx);
    // Every reply line is CR LF terminated and starts with a three-digit code.
    for line in mem.output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(
            line.ends_with(b"\r"),
            "reply line without CR LF: {:?}",
            line
        );
        assert!(
            line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit),
            "malformed reply line: {:?}",
            String::from_utf8_lossy(line)
        );
    }
    if let Ok(ids) = ctx.queue.list(QueueName::Incoming) {
        for id in ids {
            let _ = ctx.queue.remove(&id, QueueName::Incoming);
        }
    }
});
