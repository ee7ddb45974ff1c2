//! pickup: local submission (Postfix's postdrop(1) and pickup(8)).
//!
//! `postdrop` (the only setgid program, group $setgid_group) takes a queue file from its
//! standard input, checks it, stamps it with the invoking user's real uid, and writes it
//! atomically into maildrop/ (temporary name, fsync, rename, directory fsync). It then pokes
//! the pickup FIFO public/pickup. The pickup thread of the running system reads maildrop/
//! on every poke (and once at start), passes each message through cleanup into incoming/,
//! logs `ID: uid=N from=<sender>`, and removes the maildrop file. Mail dropped while Postern
//! is stopped waits in maildrop/ and is picked up at the next start.
//!
//! `postdrop -r` (used by `sendmail -bs`) creates the maildrop file and prints its ID before
//! it reads the queue file; such files carry `received=smtpd` (the stand-alone smtpd wrote
//! its Received: header with the maildrop ID and set the protocol). pickup adds its own
//! Received: header above it all the same, as Postfix's pickup.c does for every message.
//!
//! Security role: postdrop trusts nothing on its input (the uid attribute is replaced, the
//! file must parse); pickup runs as mail_owner and treats maildrop files as untrusted.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::cleanup::{self, CleanupError, Submission};
use crate::config::Config;
use crate::log::{self, lines, timefmt};
use crate::qmgr::Wake;
use crate::queue::{Envelope, Queue, QueueFile, QueueName, file};
use crate::smtpd::received;
use crate::smtpd::sink::RECEIVED_ATTR;

const COMPONENT: &str = "pickup";

/// How often maildrop/ is scanned without a poke.
const PICKUP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The pickup trigger FIFO.
pub fn fifo_path(queue: &Queue) -> PathBuf {
    queue.root().join("public").join("pickup")
}

/// Attributes a local submission may carry; everything else is dropped by `stamp`.
const SUBMITTER_ATTRS: &[&str] = &[
    "ret",
    "envid",
    "full_name",
    "verify",
    "helo_name",
    "protocol_name",
    RECEIVED_ATTR.0,
];

/// Stamp an envelope as postdrop does: only the attributes a submitter may set, the arrival
/// time now, `uid=<real uid>`, the local rewriting context, nothing marked done or warned.
pub fn stamp(env: &mut Envelope) {
    env.attrs
        .retain(|(n, _)| SUBMITTER_ATTRS.contains(&n.as_str()));
    env.set_attr("uid", &crate::sys::uid().to_string());
    env.set_attr("rewrite_context", "local");
    env.arrival = std::time::SystemTime::now();
    env.delay_warned = false;
    for r in env.recipients.iter_mut() {
        r.done = false;
    }
}

/// Check what an untrusted submitter put in the envelope: addresses and DSN values without
/// control characters (they would end up in SMTP commands and log lines), NOTIFY and RET
/// with their RFC 3461 values only.
pub fn validate(env: &Envelope) -> Result<(), String> {
    let clean = |what: &str, v: &str| -> Result<(), String> {
        if v.chars().any(|c| c.is_control()) {
            return Err(format!("malformed input: control character in {}", what));
        }
        Ok(())
    };
    clean("sender", &env.sender)?;
    for r in &env.recipients {
        clean("recipient", &r.address)?;
        if let Some(o) = &r.orig {
            clean("recipient", o)?;
        }
        if let Some(q) = &r.orcpt {
            clean("ORCPT", q)?;
        }
        if let Some(n) = &r.notify {
            let ok = n.eq_ignore_ascii_case("NEVER")
                || n.split(',').all(|w| {
                    ["SUCCESS", "FAILURE", "DELAY"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k))
                });
            if !ok {
                return Err(format!("malformed input: bad NOTIFY value {:?}", n));
            }
        }
    }
    if let Some(r) = env.attr("ret")
        && !r.eq_ignore_ascii_case("FULL")
        && !r.eq_ignore_ascii_case("HDRS")
    {
        return Err(format!("malformed input: bad RET value {:?}", r));
    }
    for (n, v) in &env.attrs {
        clean(n, v)?;
    }
    Ok(())
}

/// Write a message into maildrop/ (postdrop's work). `env.attrs` gets `uid=<real uid>`.
pub fn drop_message(queue: &Queue, mut env: Envelope, content: &[u8]) -> io::Result<String> {
    stamp(&mut env);
    let w = queue.create(QueueName::Maildrop)?;
    let id = w.commit(&mut env, content)?;
    poke(queue);
    Ok(id)
}

/// Read a queue file from `input`, check it, and drop it (the postdrop program).
pub fn postdrop(queue: &Queue, input: &mut dyn Read) -> Result<String, String> {
    let mut data = Vec::new();
    input
        .read_to_end(&mut data)
        .map_err(|e| format!("read input: {}", e))?;
    let (mut env, off, len) = file::decode(&data).map_err(|e| format!("malformed input: {}", e))?;
    let content = &data[off as usize..(off + len) as usize];
    if env.recipients.is_empty() {
        return Err("no recipients specified".into());
    }
    validate(&env)?;
    // Only `postdrop -r` (the stand-alone smtpd of `sendmail -bs`) may say that the message
    // already has its Received: header; plain submissions always get pickup's.
    env.attrs.retain(|(n, _)| n != RECEIVED_ATTR.0);
    drop_message(queue, env, content).map_err(|e| format!("create maildrop file: {}", e))
}

/// `postdrop -r` (for `sendmail -bs`): create the maildrop file first and print its ID on
/// `output` (one line, flushed), then read the queue file from `input` and commit it. The
/// ID goes into smtpd's Received: header before the message arrives. Input that ends
/// without a complete queue file (an abandoned session) leaves nothing behind.
pub fn postdrop_streamed(
    queue: &Queue,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<String, String> {
    let w = queue
        .create(QueueName::Maildrop)
        .map_err(|e| format!("create maildrop file: {}", e))?;
    let id = w.id().to_string();
    writeln!(output, "{}", id)
        .and_then(|_| output.flush())
        .map_err(|e| format!("write queue ID: {}", e))?;
    let mut data = Vec::new();
    input
        .read_to_end(&mut data)
        .map_err(|e| format!("read input: {}", e))?;
    if data.is_empty() {
        return Err("no message: submission abandoned".into());
    }
    let (mut env, off, len) = file::decode(&data).map_err(|e| format!("malformed input: {}", e))?;
    if env.recipients.is_empty() {
        return Err("no recipients specified".into());
    }
    validate(&env)?;
    stamp(&mut env);
    env.set_attr(RECEIVED_ATTR.0, RECEIVED_ATTR.1);
    let content = &data[off as usize..(off + len) as usize];
    w.commit(&mut env, content)
        .map_err(|e| format!("write maildrop file: {}", e))?;
    poke(queue);
    Ok(id)
}

/// Wake the pickup thread, if the system runs (never blocks).
pub fn poke(queue: &Queue) {
    if let Ok(mut f) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo_path(queue))
    {
        let _ = f.write_all(b"W");
    }
}

/// Start the pickup thread. Stop it by setting `stop` and calling `poke`.
pub fn start(
    cfg: crate::Shared<Config>,
    queue: Queue,
    wake: Sender<Wake>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    let fifo = fifo_path(&queue);
    crate::sys::mkfifo(&fifo, 0o622)?;
    // mkfifo's mode is filtered by the umask; every local user must be able to poke it.
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622))?;
    // Read and write, so the FIFO never reports end-of-file while we wait.
    let mut trigger = OpenOptions::new().read(true).write(true).open(&fifo)?;
    std::thread::Builder::new()
        .name("pickup".into())
        .spawn(move || {
            let mut buf = [0u8; 64];
            loop {
                // The configuration of the moment: `postfix reload` replaces it.
                let current = cfg.read().unwrap_or_else(|e| e.into_inner()).clone();
                scan(&current, &queue, &wake);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // A poke, or the periodic rescan (master.cf's pickup wakeup, 60 s).
                match crate::sys::wait_readable(&trigger, PICKUP_INTERVAL) {
                    Ok(true) => {
                        if trigger.read(&mut buf).is_err() {
                            break;
                        }
                    }
                    Ok(false) => {}
                    Err(_) => break,
                }
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        })
}

/// Move every complete maildrop file into the queue.
pub fn scan(cfg: &Config, queue: &Queue, wake: &Sender<Wake>) {
    let Ok(ids) = queue.list(QueueName::Maildrop) else {
        return;
    };
    for id in ids {
        let path = queue.path(QueueName::Maildrop, &id);
        match pick(cfg, queue, &path) {
            Ok(new_id) => {
                let _ = std::fs::remove_file(&path);
                let _ = wake.send(Wake::New(new_id));
            }
            Err(Some(why)) => {
                log::warning(
                    COMPONENT,
                    format!("{}: {}; moved to the corrupt queue", id, why),
                );
                let _ = std::fs::rename(&path, queue.path(QueueName::Corrupt, &id));
            }
            Err(None) => {}
        }
    }
}

/// `Err(Some)` for a bad file, `Err(None)` for a temporary failure (left for later).
fn pick(cfg: &Config, queue: &Queue, path: &Path) -> Result<String, Option<String>> {
    let mut qf = match QueueFile::open_read_only(path) {
        Ok(q) => q,
        Err(crate::queue::QueueFileError::Corrupt(why)) => return Err(Some(why)),
        Err(_) => return Err(None),
    };
    let content = qf.content().map_err(|_| None)?;
    let mut env = qf.envelope.clone();
    // As Postfix's pickup: the submitting user is the file's owner.
    let uid = qf.file.metadata().map(|m| m.uid()).map_err(|_| None)?;
    env.set_attr("uid", &uid.to_string());
    let incoming = queue.create(QueueName::Incoming).map_err(|e| {
        log::warning(COMPONENT, format!("create queue file: {}", e));
        None
    })?;
    let new_id = incoming.id().to_string();
    let user = crate::sys::user_by_uid(uid).ok().flatten();
    // `sendmail -bs` mail already has the stand-alone smtpd's Received: header and protocol;
    // pickup's Received: header goes above it (Postfix's pickup.c writes it for every message).
    let from_smtpd = env.attr(RECEIVED_ATTR.0) == Some(RECEIVED_ATTR.1);
    env.attrs.retain(|(n, _)| n != RECEIVED_ATTR.0);
    if !from_smtpd {
        env.set_attr("protocol_name", "local");
    }
    let received = Some(received::build(&received::Trace {
        client: None,
        myhostname: cfg.get("myhostname"),
        mail_name: cfg.get("mail_name"),
        userid: Some(uid),
        queue_id: &new_id,
        single_rcpt: None,
        date: &timefmt::rfc2822(timefmt::now_secs()),
    }));
    if let Some(u) = user {
        env.set_attr("login_name", &u.name);
    }
    lines::pickup(&new_id, uid, &env.sender);
    let sub = Submission {
        envelope: env,
        content,
        received,
        add_missing_headers: true,
    };
    cleanup::submit(cfg, incoming, sub).map_err(|e| match e {
        // Refused for good (too big, too many hops): retrying cannot help.
        CleanupError::TooBig | CleanupError::TooManyHops => Some(e.to_string()),
        CleanupError::Write(_) => {
            log::warning(COMPONENT, format!("{}: {}", new_id, e));
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Recipient;

    #[test]
    fn untrusted_envelopes_are_checked_and_stamped() {
        let mut env = Envelope::new("a@b.test");
        env.recipients.push(Recipient::new("c@d.test"));
        assert!(validate(&env).is_ok());
        let mut bad = env.clone();
        bad.recipients[0].address = "c@d.test>\r\nRCPT TO:<x@y.test".into();
        assert!(validate(&bad).unwrap_err().contains("control character"));
        let mut bad = env.clone();
        bad.recipients[0].notify = Some("SUCCESS,BOGUS".into());
        assert!(validate(&bad).is_err());
        let mut bad = env.clone();
        bad.set_attr("ret", "ALL");
        assert!(validate(&bad).is_err());

        let mut forged = env.clone();
        forged.set_attr("client_address", "192.0.2.1");
        forged.set_attr("ret", "HDRS");
        forged.arrival = std::time::UNIX_EPOCH;
        forged.delay_warned = true;
        forged.recipients[0].done = true;
        stamp(&mut forged);
        assert_eq!(forged.attr("client_address"), None);
        assert_eq!(forged.attr("ret"), Some("HDRS"));
        assert!(
            forged.arrival > std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000)
        );
        assert!(!forged.delay_warned && !forged.recipients[0].done);
    }
}
