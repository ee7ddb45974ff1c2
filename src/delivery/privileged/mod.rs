//! The privileged local delivery helper: a small root process that writes mail as the
//! recipient while the rest of Postern runs as $mail_owner.
//!
//! Process model. `postfix start` (root) spawns the helper program (`$daemon_directory/local`,
//! else `local` next to the running executable) with `HelperHandle::spawn` *before* dropping
//! privileges: a pool of `POOL` processes, each `local serve CONFIG_DIR`. A helper keeps root
//! and serves requests (`request::Op`, wire format in `request`) on its stdin/stdout pipes,
//! one at a time, until end of input. For each request it validates it. A mailbox or
//! Maildir write then goes to the process it keeps for the request's uid and gid (`keep`:
//! the helper program executed as `local work` with those ids, reused for later requests,
//! so a delivery costs no fork). Other requests (files, commands), or any request when no
//! such process can be started, fork a child with `sys::fork_as`; there is no exec: the
//! helper is single-threaded, so the child is a plain copy of it. The child sets its groups
//! to just the target gid, then its gid and uid, runs `request::execute` and writes the
//! replies to a pipe the helper reads; the helper then reaps it. Nothing ever switches uid
//! inside a thread. When Postern does not run as
//! root the delivery agent calls `request::execute` in-process instead, and no helper
//! exists. The mbox records for one mailbox (`Op::Mbox`, one or more: group commit) are one
//! request for one process: one dot-lock, one fcntl lock, one fsync, one reply per record.
//! Likewise the messages for one Maildir (`Op::Maildir`, one or more): one request, each file
//! fsynced and renamed into `new/`, one fsync of `new/`, one reply per message.
//!
//! Work done as root in the helper itself is limited to a spool mailbox
//! ($mail_spool_directory/USER, which users usually cannot create or dot-lock): creating a
//! missing mailbox (O_EXCL, O_NOFOLLOW, 0600, chown to the user) and holding the dot-lock
//! while the child takes the fcntl lock and appends; and, for file and command requests,
//! reading the alias table or include file that justifies them.
//!
//! Validation (the helper trusts nothing from $mail_owner): absolute paths without `..`;
//! uid 0 only for the mailbox or Maildir of the user `root`, never for files or commands;
//! mailbox and Maildir requests must name an existing account with that uid and gid and a
//! path in the spool directory named after the user, or under the account's home directory.
//! File and command requests carry their `request::Source`; the helper derives the ids
//! itself: for a table, the spec must be one of $alias_maps (re-read from CONFIG_DIR) and
//! the key's value must list the target; for an include file (opened by the helper, a
//! regular file of at most `MAX_INCLUDE` bytes), it must list the target. The ids must then
//! be those of the account owning the table's file or the include file (its uid and its own
//! primary gid from passwd, not the file's group, as local(8) does), or $default_privs'
//! when that owner is root or there is no file; and a uid below `MIN_UID` is refused unless
//! it is $default_privs'. A refused request is answered with a 4.3.0 deferral and logged as
//! `warning: refusing delivery request: REASON`.
//!
//! Secrets (`secrets`): besides delivery requests a helper answers the secrets request of
//! `postfix reload`: as root, it re-reads main.cf and master.cf from its own CONFIG_DIR,
//! derives the secret files (`crate::secrets::secret_files`, the function the master used at
//! start) and returns their contents, so that root-only TLS keys and mysql_*.cf passwords
//! stay readable by the unprivileged master across reloads. The request carries no data; a
//! compromised $mail_owner asking for it gets only what its memory already holds since start.
//!
//! Virtual mailboxes (virtual(8), a Maildir or mbox request whose user is an address): the
//! helper resolves the address itself from $virtual_mailbox_maps, $virtual_uid_maps and
//! $virtual_gid_maps (read from CONFIG_DIR; kept while main.cf's stamp is unchanged) for
//! every request and requires the request's path, kind, uid and gid to be exactly that
//! mailbox: under $virtual_mailbox_base, uid at least $virtual_minimum_uid, never uid or
//! gid 0 (`virtual_check`).
//!
//! Residual trust: a compromised $mail_owner can still name any include file on the system;
//! it then gets only the deliveries that file lists, as that file's owner.
//!
//! Concurrency: `HelperHandle` keeps the pool, each helper behind a mutex. A request takes
//! the first idle helper (try_lock, starting from a rotating index), and waits for one only
//! when all are busy, so mailbox deliveries do not queue behind a slow command
//! (command_time_limit). A helper that died is restarted on next use (after the master
//! dropped privileges a restarted helper is no longer root, so its children fail and
//! deliveries are deferred until Postern is restarted). A request whose answer was lost is
//! deferred, never repeated.

mod keep;
mod pool;
mod refusal;
mod secrets;
mod verify;
mod virtual_check;

pub use pool::{HelperHandle, POOL, helper_program};
pub use refusal::Refusal;
pub use verify::{MAX_INCLUDE, MIN_UID};

use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::dsn_of;
use super::lock::{Attempt, Dotlock, retry};
use super::mbox;
pub use super::request::{Op, Reply, Source};
use super::request::{
    decode_op, decode_replies, encode_replies, encode_reply, execute, mailbox_failure, read_frame,
    write_frame,
};
use crate::config::Config;
use crate::sys;
use verify::{in_spool, validate};

fn helper_failed(why: String) -> Reply {
    Reply::new(
        dsn_of("4.3.0"),
        format!("local delivery helper failed: {}", why),
    )
}

/// Entry point of the `local` program (`args` includes argv[0]):
/// `local serve CONFIG_DIR` serves requests on stdin/stdout until end of input.
pub fn helper_main(args: &[String]) -> i32 {
    match args.get(1).map(String::as_str) {
        Some("serve") if args.len() == 3 => serve(Path::new(&args[2])),
        Some("work") if args.len() == 2 => keep::work(),
        _ => usage(),
    }
}

fn usage() -> i32 {
    eprintln!(
        "local: fatal: usage: local serve CONFIG_DIR | local work (started by the Postern master)"
    );
    1
}

struct Ctx {
    root: bool,
    spool: PathBuf,
    config_dir: PathBuf,
    /// The mailbox writers kept per uid and gid (`keep`).
    kept: keep::KeptProcs,
}

fn serve(config_dir: &Path) -> i32 {
    let cfg = Config::load(config_dir).unwrap_or_else(|_| Config::from_pairs(config_dir, &[]));
    crate::log::init(&cfg, false);
    let mut ctx = Ctx {
        root: sys::is_root(),
        spool: PathBuf::from(cfg.get("mail_spool_directory")),
        config_dir: config_dir.to_path_buf(),
        kept: keep::KeptProcs::new(std::env::current_exe().ok()),
    };
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    loop {
        let buf = match read_frame(&mut input) {
            Ok(Some(b)) => b,
            Ok(None) => return 0,
            Err(e) => {
                crate::log::warning("local", format!("helper: read request: {}", e));
                return 1;
            }
        };
        if secrets::is_request(&buf) {
            if write_frame(&mut output, &secrets::answer(&ctx.config_dir, ctx.root)).is_err() {
                return 1;
            }
            continue;
        }
        let answer = match decode_op(&buf) {
            Ok(op) if op.batched() => encode_replies(&handle(&op, &mut ctx)),
            Ok(op) => match handle(&op, &mut ctx).into_iter().next() {
                Some(reply) => encode_reply(&reply),
                None => encode_reply(&helper_failed("no answer".into())),
            },
            Err(e) => encode_reply(&helper_failed(e.to_string())),
        };
        if write_frame(&mut output, &answer).is_err() {
            return 1;
        }
    }
}

/// Validate and perform `op`: exactly `op.replies()` replies.
fn handle(op: &Op, ctx: &mut Ctx) -> Vec<Reply> {
    let n = op.replies();
    if let Err(why) = validate(op, ctx) {
        crate::log::warning("local", format!("refusing delivery request: {}", why));
        let r = Reply::new(
            dsn_of("4.3.0"),
            format!("local delivery helper refused request: {}", why),
        );
        return vec![r; n];
    }
    match op {
        Op::Mbox {
            path,
            user,
            uid,
            gid,
            locks,
            ..
        } if in_spool(path, user, &ctx.spool) => {
            // One creation and one dot-lock for all the records; the child takes the fcntl
            // lock once and appends every record. The child tries the fcntl lock once per
            // attempt: when it is busy, the dot-lock is released before the pause (see
            // `lock`), or a reader that holds the fcntl lock while it waits for the
            // dot-lock (Debian's Dovecot) would wait for us as we wait for it.
            if let Err(f) = mbox::create_owned(path, *uid, *gid) {
                return vec![mailbox_failure(path, user, &f); n];
            }
            let mut rest = op.clone();
            if let Op::Mbox { create, locks, .. } = &mut rest {
                *create = false;
                locks.dotlock = false;
                locks.attempts = 1;
            }
            let busy = mailbox_failure(path, user, &mbox::fcntl_busy());
            let attempt = |ctx: &mut Ctx| {
                let _dot = if locks.dotlock {
                    match Dotlock::attempt(path, locks) {
                        Attempt::Done(d) => Some(d),
                        Attempt::Busy(e) => {
                            let f = mbox::dotlock_failure(e);
                            return Attempt::Busy(vec![mailbox_failure(path, user, &f); n]);
                        }
                        Attempt::Failed(e) => {
                            let f = mbox::dotlock_failure(e);
                            return Attempt::Failed(vec![mailbox_failure(path, user, &f); n]);
                        }
                    }
                } else {
                    None
                };
                let replies = perform(&rest, ctx);
                if replies.iter().all(|r| *r == busy) {
                    Attempt::Busy(replies)
                } else {
                    Attempt::Done(replies)
                }
            };
            retry(locks, || attempt(ctx)).unwrap_or_else(|replies| replies)
        }
        _ => perform(op, ctx),
    }
}

/// Perform a validated request: a mailbox or Maildir write in the kept process for its ids
/// (`keep`), anything else (or when no process can be kept) in a child of its own.
fn perform(op: &Op, ctx: &mut Ctx) -> Vec<Reply> {
    if matches!(op, Op::Mbox { .. } | Op::Maildir { .. })
        && let Some(replies) = ctx.kept.perform(op)
    {
        return replies;
    }
    run_child(op)
}

/// Run one request in a child process with the request's uid and gid. The helper is
/// single-threaded, so the child is a plain fork (no exec): it drops to the recipient's ids,
/// executes the request and sends its replies (`op.replies()` of them) back through a pipe.
fn run_child(op: &Op) -> Vec<Reply> {
    let n = op.replies();
    let failed = |why: String| vec![helper_failed(why); n];
    let (uid, gid) = op.ids();
    let (mut reader, mut writer) = match io::pipe() {
        Ok(p) => p,
        Err(e) => return failed(format!("cannot create a pipe: {}", e)),
    };
    // SAFETY: the helper process is single-threaded (see the module doc: one request at a
    // time on stdin/stdout, no threads started), so the child holds no lock of a vanished
    // thread.
    let forked = unsafe {
        sys::fork_as(uid, gid, || {
            let replies = execute(op);
            match write_frame(&mut writer, &encode_replies(&replies)) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        })
    };
    let pid = match forked {
        Ok(pid) => pid,
        Err(e) => return failed(format!("cannot start child: {}", e)),
    };
    drop(writer);
    let answer = read_frame(&mut reader);
    let status = sys::wait_pid(pid);
    match answer {
        Ok(Some(buf)) => decode_replies(&buf, n).unwrap_or_else(|e| failed(e.to_string())),
        Ok(None) | Err(_) => failed(match status {
            Ok(code) => format!("child ended without an answer (exit {})", code),
            Err(e) => format!("child: {}", e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert_eq!(helper_main(&["local".into()]), 1);
        assert_eq!(
            helper_main(&["local".into(), "serve".into(), "a".into(), "b".into()]),
            1
        );
    }
}
