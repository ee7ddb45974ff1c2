//! pickup: moves locally submitted mail from maildrop/ into the queue (Postfix's
//! pickup(8)). The submission side, the set-gid postdrop program, is `crate::postdrop`.
//!
//! The pickup thread of the running system reads maildrop/ on every poke of the FIFO
//! public/pickup (and once at start, and every 60 s), passes each message through cleanup
//! into incoming/, logs `ID: uid=N from=<sender>`, and removes the maildrop file. Mail
//! dropped while Postern is stopped waits in maildrop/ and is picked up at the next start.
//!
//! Files from `postdrop -r` (`sendmail -bs`) carry `received=smtpd`: the stand-alone smtpd
//! wrote its Received: header with the maildrop ID and set the protocol. pickup adds its own
//! Received: header above it all the same, as Postfix's pickup.c does for every message.
//!
//! Security role: pickup runs as mail_owner and treats maildrop files as untrusted; the
//! submitting user is the file's owner, not anything the file says.

use crate::verify::probe::PROBE_ATTR;
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
use crate::queue::{Queue, QueueFile, QueueName};
use crate::received::{self, RECEIVED_ATTR};

const COMPONENT: &str = "pickup";

/// How often maildrop/ is scanned without a poke.
const PICKUP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The pickup trigger FIFO.
pub fn fifo_path(queue: &Queue) -> PathBuf {
    queue.root().join("public").join("pickup")
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
    if ids.is_empty() {
        return;
    }
    // The address classes, once per scan rather than once per message.
    let rw = crate::rewrite::Rewrite::new(cfg);
    for id in ids {
        let path = queue.path(QueueName::Maildrop, &id);
        match pick(cfg, &rw, queue, &path) {
            Ok(new_id) => {
                let _ = std::fs::remove_file(&path);
                let _ = wake.send(Wake::New(new_id));
            }
            Err(Some(why)) => {
                log::warning(
                    COMPONENT,
                    format!("{}: {}; moved to the corrupt queue", id, why),
                );
                let _ = queue.move_to(&id, QueueName::Maildrop, QueueName::Corrupt);
            }
            Err(None) => {}
        }
    }
}

/// `Err(Some)` for a bad file, `Err(None)` for a temporary failure (left for later).
fn pick(
    cfg: &Config,
    rw: &crate::rewrite::Rewrite,
    queue: &Queue,
    path: &Path,
) -> Result<String, Option<String>> {
    let mut qf = match QueueFile::open_read_only(path) {
        Ok(q) => q,
        Err(crate::queue::QueueFileError::Corrupt(why)) => return Err(Some(why)),
        Err(_) => return Err(None),
    };
    let content = qf.content().map_err(|_| None)?;
    let mut env = qf.envelope.clone();
    // As Postfix's pickup: the submitting user is the file's owner.
    let uid = qf.metadata().map(|m| m.uid()).map_err(|_| None)?;
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
    // A content filter is pickup's own $content_filter, never the submitting user's choice
    // (Postfix's pickup drops REC_TYPE_FILT records from maildrop files); an address
    // verification probe is never a local submission (postdrop drops it too).
    env.attrs
        .retain(|(n, _)| n != RECEIVED_ATTR.0 && n != crate::queue::FILTER_ATTR && n != PROBE_ATTR);
    let filter = cfg.get("content_filter").trim();
    if !filter.is_empty() {
        env.set_attr(crate::queue::FILTER_ATTR, filter);
    }
    let receive = cleanup::receive::ReceiveOverrides::of(cfg).0;
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
    // The sender as submitted (`from=<root>`), as Postfix's pickup logs it.
    let given = env
        .attr(crate::sendmail::SENDER_GIVEN_ATTR)
        .map(str::to_string);
    env.attrs
        .retain(|(n, _)| n != crate::sendmail::SENDER_GIVEN_ATTR);
    lines::pickup(&new_id, uid, given.as_deref().unwrap_or(&env.sender));
    // SMTPUTF8: autodetected for sendmail submissions; a `sendmail -bs` client's request
    // is kept (smtpd wrote it).
    let requested =
        from_smtpd && crate::smtputf8::stored(&env.attrs) & crate::smtputf8::REQUESTED != 0;
    crate::smtputf8::mark(cfg, &mut env, requested, crate::smtputf8::Source::Sendmail);
    let sender_env = env.clone();
    let sub = Submission {
        envelope: env,
        content,
        received,
        add_missing_headers: true,
        inspect: !receive.no_header_body_checks,
        map_addresses: !receive.no_address_mappings,
    };
    cleanup::submit_with(cfg, rw, incoming, sub).or_else(|e| match e {
        // Refused for good (too big, too many hops, rejected by header/body checks):
        // returned to the sender, as Postfix's cleanup bounces local submissions
        // (cleanup_strerror.c's DSN codes).
        CleanupError::TooBig => {
            let why = "5.3.4 message file too big";
            bounce_rejected(cfg, queue, &new_id, &sender_env, &mut qf, why)
        }
        CleanupError::TooManyHops => {
            let why = "5.4.0 too many hops";
            bounce_rejected(cfg, queue, &new_id, &sender_env, &mut qf, why)
        }
        CleanupError::Content(c) if !c.is_temporary() => {
            bounce_rejected(cfg, queue, &new_id, &sender_env, &mut qf, &c.to_string())
        }
        CleanupError::Write(_)
        | CleanupError::Alias(_)
        | CleanupError::Content(_)
        | CleanupError::Lookup(_) => {
            log::warning(COMPONENT, format!("{}: {}", new_id, e));
            Err(None)
        }
    })
}

/// A message refused for good (content inspection, size, hops): a non-delivery notification for every
/// recipient (`ID: to=<r>, relay=none, ..., dsn=5.7.1, status=bounced (text)` each).
/// Returns the notification's queue ID (the message's own when none is sent).
fn bounce_rejected(
    cfg: &Config,
    queue: &Queue,
    id: &str,
    env: &crate::queue::Envelope,
    qf: &mut QueueFile,
    reason: &str,
) -> Result<String, Option<String>> {
    let content = qf.content().map_err(|_| None)?;
    let (dsn, text) = reason.split_once(' ').unwrap_or(("5.7.1", reason));
    let failures: Vec<crate::bounce::Failure> = env
        .recipients
        .iter()
        .map(|r| {
            let mut f = crate::bounce::Failure::new(r, text);
            f.dsn = dsn.to_string();
            f
        })
        .collect();
    for f in &failures {
        lines::delivery(&lines::Delivery {
            component: "cleanup",
            queue_id: id,
            to: &f.address,
            orig_to: f.original.as_deref(),
            relay: "none",
            delays: lines::Delays::default(),
            dsn: &f.dsn,
            status: "bounced",
            text: &f.text,
        });
    }
    match crate::bounce::non_delivery(cfg, queue, id, env, &content, &failures) {
        Ok(n) => Ok(n.unwrap_or_else(|| id.to_string())),
        Err(e) => {
            log::warning(
                COMPONENT,
                format!("{}: cannot return rejected mail: {}", id, e),
            );
            Err(None)
        }
    }
}
