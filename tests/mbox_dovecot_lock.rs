//! Mailbox locking against a real Dovecot: while an IMAP client changes flags in a loop on
//! the user's mbox (Dovecot then takes its dot-lock and fcntl locks, and rewrites the
//! file), local(8) delivers a burst of messages to the same mbox. Every message must be
//! delivered on its first attempt (none deferred with `unable to lock for exclusive
//! access` or `unable to create lock file`), and Dovecot must see them all, intact.
//!
//! Root-only: Dovecot's master needs root, and local(8) delivers as the user.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::dovecot::{Dovecot, Imap};
use common::{Instance, free_port, wait_for};
use postern::sys;

const MESSAGES: usize = 60;
const SENDERS: usize = 4;

fn count(log: &str, part: &str) -> usize {
    log.lines().filter(|l| l.contains(part)).count()
}

#[test]
#[ignore = "needs root: local(8) delivers as the user and Dovecot's master needs root"]
fn deliveries_while_dovecot_changes_flags_are_never_deferred() {
    if !common::require_root()
        || !common::require(Dovecot::available(), "needs Dovecot (dovecot-imapd)")
    {
        return;
    }
    let inst = Instance::new(&[]);
    let account = sys::user_by_name(&inst.user).unwrap().unwrap();
    // A spool directory both may create dot-locks in, as /var/mail (1777 on some hosts,
    // 2775 root:mail with Dovecot's mail_privileged_group on others).
    std::fs::set_permissions(&inst.mail, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let folders = inst.dir.join("folders");
    std::fs::create_dir_all(&folders).unwrap();
    std::os::unix::fs::chown(&folders, Some(account.uid), Some(account.gid)).unwrap();
    let port = free_port();
    let dovecot = Dovecot::start_with(
        &inst.dir.join("dovecot"),
        port,
        &format!(
            "mbox:{}:INBOX={}/%u",
            folders.display(),
            inst.mail.display()
        ),
        account.uid,
        account.gid,
        // Debian's defaults (upstream Dovecot takes the dot-lock first), spelled out: Dovecot
        // holds its fcntl lock while it waits for the dot-lock, so a delivery agent that
        // holds the dot-lock while it waits for the fcntl lock deadlocks with it until one
        // side gives up.
        "mbox_read_locks = fcntl\nmbox_write_locks = fcntl dotlock\n",
    );
    inst.newaliases();
    inst.start();
    let to = format!("<{}>", inst.local_address());
    inst.send("sender@remote.test", &[&to], "first", "the mailbox exists");
    assert!(
        wait_for(30, || count(
            &inst.log(),
            "status=sent (delivered to mailbox)"
        ) == 1),
        "{}",
        inst.log()
    );

    // The IMAP client: flags on every message set and cleared, each change written to the
    // mbox at once (CHECK), and new mail noticed (NOOP), until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let commands = Arc::new(AtomicUsize::new(0));
    let flagger = {
        let (stop, rounds, commands, user) = (
            stop.clone(),
            rounds.clone(),
            commands.clone(),
            inst.user.clone(),
        );
        std::thread::spawn(move || {
            let mut imap = Imap::connect(port);
            imap.ok(&format!("LOGIN \"{}\" \"secret\"", user));
            imap.ok("SELECT INBOX");
            while !stop.load(Ordering::SeqCst) {
                for cmd in [
                    "STORE 1:* +FLAGS (\\Flagged)",
                    "CHECK",
                    "STORE 1:* -FLAGS (\\Flagged)",
                    "CHECK",
                    "NOOP",
                ] {
                    imap.ok(cmd);
                    commands.fetch_add(1, Ordering::SeqCst);
                }
                rounds.fetch_add(1, Ordering::SeqCst);
                // A client's pace between rounds (a person or a mail client's sync, not a
                // wait for a condition): a client that rewrites the mbox back to back holds
                // Dovecot's locks nearly all the time, and then deliveries can still run out
                // of lock attempts (README, "Mailbox locking").
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            imap.ok("LOGOUT");
        })
    };
    assert!(wait_for(30, || rounds.load(Ordering::SeqCst) > 0));
    let commands_at_start_of_input = commands.load(Ordering::SeqCst);

    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (to, port) = (to.clone(), inst.port);
            std::thread::spawn(move || {
                for i in 0..MESSAGES / SENDERS {
                    let mut c = common::Client::connect(port);
                    c.reply();
                    c.cmd("ehlo localhost");
                    assert_eq!(c.cmd("mail from:<sender@remote.test>"), "250 2.1.0 Ok");
                    assert_eq!(c.cmd(&format!("rcpt to:{}", to)), "250 2.1.5 Ok");
                    let reply = c.data(&format!("Subject: m{}-{}\n\nbody {} {}\n", s, i, s, i));
                    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{}", reply);
                    c.cmd("quit");
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let all_sent = wait_for(180, || {
        let log = inst.log();
        count(&log, "status=sent (delivered to mailbox)") == MESSAGES + 1
            || count(&log, "status=deferred") > 0
    });
    let commands_at_delivery = commands.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    flagger.join().unwrap();
    let log = inst.log();
    assert_eq!(count(&log, "status=deferred"), 0, "{}", log);
    assert!(all_sent, "{}", log);
    // The IMAP client was at work between the first message in and the last one delivered
    // (the deliveries overlap the input; with fast deliveries the burst can be over within
    // one round of flag changes, so this counts commands, not rounds).
    assert!(
        commands_at_delivery > commands_at_start_of_input,
        "the IMAP client kept changing flags during the deliveries"
    );

    // Dovecot reads every message whole.
    let got = dovecot.fetch_all(&inst.user);
    assert_eq!(got.len(), MESSAGES + 1);
    for s in 0..SENDERS {
        for i in 0..MESSAGES / SENDERS {
            let needle = format!("body {} {}\r\n", s, i);
            assert_eq!(
                got.iter()
                    .filter(|m| m.windows(needle.len()).any(|w| w == needle.as_bytes()))
                    .count(),
                1,
                "{}",
                needle
            );
        }
    }
}
