//! The privileged local delivery helper: a small root process that writes mail as the
//! recipient while the rest of Postern runs as $mail_owner.
//!
//! Process model. `postfix start` (root) spawns the helper program (`$daemon_directory/local`,
//! else `local` next to the running executable) with `HelperHandle::spawn` *before* dropping
//! privileges: `local serve CONFIG_DIR`. The helper keeps root and serves requests
//! (`request::Op`, wire format in `request`) on its stdin/stdout pipes, one at a time, until
//! end of input. For each request it validates it and forks a child (the helper is
//! single-threaded, so no exec is needed) that drops to the target uid and gid
//! (supplementary groups: just the gid), performs the request with `request::execute` and
//! sends the reply back through a pipe. Nothing ever switches uid inside a thread. When Postern does not run as root the
//! delivery agent calls `request::execute` in-process instead.
//!
//! Work done as root in the helper itself is limited to a spool mailbox
//! ($mail_spool_directory/USER, which users usually cannot create or dot-lock): creating a
//! missing mailbox (O_EXCL, O_NOFOLLOW, 0600, chown to the user) and holding the dot-lock
//! while the child takes the fcntl lock and appends.
//!
//! Validation (the helper trusts nothing from $mail_owner): absolute paths without `..`;
//! uid 0 only for the mailbox or Maildir of the user `root`, never for files or commands;
//! mailbox and Maildir requests must name an existing account with that uid and gid and a
//! path in the spool directory named after the user, or under the account's home directory.
//! A refused request is answered with a 4.3.0 deferral and logged as a warning.
//!
//! Concurrency: `HelperHandle` keeps a pool of `POOL` helper processes, each behind a mutex;
//! worker threads take them round-robin. A helper that died is restarted on next use (after
//! the master dropped privileges a restarted helper is no longer root, so its children fail
//! and deliveries are deferred until Postern is restarted). A request whose answer was lost
//! is deferred, never repeated.

use std::io::{self, BufReader, BufWriter};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Status;
use super::command::DEFAULT_PATH;
use super::lock::Dotlock;
use super::mbox;
pub use super::request::{Op, Reply};
use super::request::{
    decode_op, decode_reply, encode_op, encode_reply, execute, mailbox_failure, read_frame,
    write_frame,
};
use crate::config::Config;
use crate::sys;

/// Number of helper processes in a `HelperHandle` pool.
pub const POOL: usize = 2;

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Proc {
    fn start(program: &Path, config_dir: &Path) -> io::Result<Proc> {
        let mut child = Command::new(program)
            .arg("serve")
            .arg(config_dir)
            .env_clear()
            .env("PATH", DEFAULT_PATH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        Ok(Proc {
            child,
            stdin,
            stdout,
        })
    }

    fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The delivery agent's handle on the helper processes. `Send + Sync`.
pub struct HelperHandle {
    program: PathBuf,
    config_dir: PathBuf,
    slots: Vec<Mutex<Option<Proc>>>,
    next: AtomicUsize,
}

fn helper_failed(why: String) -> Reply {
    Reply::new(
        Status::Deferred,
        "4.3.0",
        format!("local delivery helper failed: {}", why),
    )
}

impl HelperHandle {
    /// Start the pool (call as root, before dropping privileges).
    pub fn spawn(program: &Path, config_dir: &Path) -> io::Result<HelperHandle> {
        let slots = (0..POOL)
            .map(|_| Proc::start(program, config_dir).map(|p| Mutex::new(Some(p))))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(HelperHandle {
            program: program.to_path_buf(),
            config_dir: config_dir.to_path_buf(),
            slots,
            next: AtomicUsize::new(0),
        })
    }

    /// Have a helper perform `op` and wait for the answer.
    pub fn request(&self, op: &Op) -> Reply {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().unwrap_or_else(|e| e.into_inner());
        let payload = encode_op(op);
        for attempt in 0..2 {
            if slot.is_none() {
                match Proc::start(&self.program, &self.config_dir) {
                    Ok(p) => *slot = Some(p),
                    Err(e) => return helper_failed(format!("cannot start: {}", e)),
                }
            }
            let Some(p) = slot.as_mut() else {
                continue;
            };
            if let Err(e) = write_frame(&mut p.stdin, &payload) {
                // Nothing was performed: the helper never read a whole request.
                if let Some(p) = slot.take() {
                    p.stop();
                }
                if attempt == 0 {
                    continue;
                }
                return helper_failed(e.to_string());
            }
            let answer = read_frame(&mut p.stdout);
            return match answer {
                Ok(Some(buf)) => {
                    decode_reply(&buf).unwrap_or_else(|e| helper_failed(e.to_string()))
                }
                Ok(None) | Err(_) => {
                    if let Some(p) = slot.take() {
                        p.stop();
                    }
                    helper_failed("no answer".into())
                }
            };
        }
        helper_failed("cannot send request".into())
    }
}

impl Drop for HelperHandle {
    fn drop(&mut self) {
        for s in &self.slots {
            let mut slot = s.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut p) = slot.take() {
                drop(p.stdin);
                let _ = p.child.wait();
            }
        }
    }
}

/// The helper program: `$daemon_directory/local` when it exists, else `local` next to the
/// running executable.
pub fn helper_program(cfg: &Config) -> PathBuf {
    let installed = Path::new(cfg.get("daemon_directory")).join("local");
    if installed.is_file() {
        return installed;
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("local")))
        .unwrap_or(installed)
}

/// Entry point of the `local` program (`args` includes argv[0]):
/// `local serve CONFIG_DIR` serves requests on stdin/stdout until end of input;
pub fn helper_main(args: &[String]) -> i32 {
    match args.get(1).map(String::as_str) {
        Some("serve") if args.len() == 3 => serve(Path::new(&args[2])),
        _ => usage(),
    }
}

fn usage() -> i32 {
    eprintln!("local: fatal: usage: local serve CONFIG_DIR (started by the Postern master)");
    1
}

struct Ctx {
    root: bool,
    spool: PathBuf,
}

fn serve(config_dir: &Path) -> i32 {
    let cfg = Config::load(config_dir).unwrap_or_else(|_| Config::from_pairs(config_dir, &[]));
    crate::log::init(&cfg, false);
    let ctx = Ctx {
        root: sys::is_root(),
        spool: PathBuf::from(cfg.get("mail_spool_directory")),
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
        let reply = match decode_op(&buf) {
            Ok(op) => handle(&op, &ctx),
            Err(e) => helper_failed(e.to_string()),
        };
        if write_frame(&mut output, &encode_reply(&reply)).is_err() {
            return 1;
        }
    }
}

fn handle(op: &Op, ctx: &Ctx) -> Reply {
    if let Err(why) = validate(op, ctx) {
        crate::log::warning("local", format!("refusing delivery request: {}", why));
        return Reply::new(
            Status::Deferred,
            "4.3.0",
            format!("local delivery helper refused request: {}", why),
        );
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
            if let Err(f) = mbox::create_owned(path, *uid, *gid) {
                return mailbox_failure(path, user, &f);
            }
            let _dot = if locks.dotlock {
                match Dotlock::acquire(path, locks) {
                    Ok(d) => Some(d),
                    Err(e) => return mailbox_failure(path, user, &mbox::lock_failure(e)),
                }
            } else {
                None
            };
            let mut rest = op.clone();
            if let Op::Mbox { create, locks, .. } = &mut rest {
                *create = false;
                locks.dotlock = false;
            }
            run_child(&rest)
        }
        _ => run_child(op),
    }
}

fn in_spool(path: &Path, user: &str, spool: &Path) -> bool {
    path.parent() == Some(spool) && path.file_name().and_then(|n| n.to_str()) == Some(user)
}

fn check_path(p: &Path) -> Result<(), String> {
    if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("bad path {}", p.display()));
    }
    Ok(())
}

fn validate(op: &Op, ctx: &Ctx) -> Result<(), String> {
    let (uid, gid) = op.ids();
    match op {
        Op::Mbox { path, user, .. }
        | Op::Maildir {
            dir: path, user, ..
        } => {
            check_path(path)?;
            if !ctx.root {
                return Ok(());
            }
            let acct = sys::user_by_name(user)
                .ok()
                .flatten()
                .ok_or_else(|| format!("unknown user {}", user))?;
            if acct.uid != uid || acct.gid != gid || (uid == 0 && user != "root") {
                return Err(format!("ids {}:{} do not belong to {}", uid, gid, user));
            }
            let home = Path::new(&acct.home);
            let under_home = home != Path::new("/") && home.is_absolute() && path.starts_with(home);
            let spool_ok = matches!(op, Op::Mbox { .. }) && in_spool(path, user, &ctx.spool);
            if under_home || spool_ok {
                Ok(())
            } else {
                Err(format!("{} is not a mailbox of {}", path.display(), user))
            }
        }
        Op::File { path, .. } => {
            check_path(path)?;
            if ctx.root && (uid == 0 || gid == 0) {
                return Err("file delivery with root privileges".into());
            }
            Ok(())
        }
        Op::Command { .. } => {
            if ctx.root && (uid == 0 || gid == 0) {
                return Err("command delivery with root privileges".into());
            }
            Ok(())
        }
    }
}

/// Run one request in a child process with the request's uid and gid. The helper is
/// single-threaded, so the child is a plain fork (no exec): it drops to the recipient's ids,
/// executes the request and sends its reply back through a pipe.
fn run_child(op: &Op) -> Reply {
    let (uid, gid) = op.ids();
    let (mut reader, mut writer) = match io::pipe() {
        Ok(p) => p,
        Err(e) => return helper_failed(format!("cannot create a pipe: {}", e)),
    };
    let pid = match sys::fork_as(uid, gid, || {
        let reply = execute(op);
        match write_frame(&mut writer, &encode_reply(&reply)) {
            Ok(()) => 0,
            Err(_) => 1,
        }
    }) {
        Ok(pid) => pid,
        Err(e) => return helper_failed(format!("cannot start child: {}", e)),
    };
    drop(writer);
    let answer = read_frame(&mut reader);
    let status = sys::wait_pid(pid);
    match answer {
        Ok(Some(buf)) => decode_reply(&buf).unwrap_or_else(|e| helper_failed(e.to_string())),
        Ok(None) | Err(_) => helper_failed(match status {
            Ok(code) => format!("child ended without an answer (exit {})", code),
            Err(e) => format!("child: {}", e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::lock::LockPolicy;

    fn ctx() -> Ctx {
        Ctx {
            root: true,
            spool: "/var/mail".into(),
        }
    }

    fn mbox(path: &str, user: &str, uid: u32) -> Op {
        Op::Mbox {
            path: path.into(),
            user: user.into(),
            uid,
            gid: 0,
            limit: 0,
            locks: LockPolicy::default(),
            create: true,
            record: Vec::new(),
        }
    }

    #[test]
    fn validation_as_root() {
        let c = ctx();
        assert!(validate(&mbox("/var/mail/root", "root", 0), &c).is_ok());
        assert!(validate(&mbox("/root/Mailbox", "root", 0), &c).is_ok());
        assert!(validate(&mbox("/etc/shadow", "root", 0), &c).is_err());
        assert!(validate(&mbox("/var/mail/../../etc/shadow", "root", 0), &c).is_err());
        assert!(validate(&mbox("/var/mail/root", "root", 5), &c).is_err());
        assert!(validate(&mbox("var/mail/root", "root", 0), &c).is_err());
        assert!(validate(&mbox("/var/mail/x", "no-such-user-pst", 1234), &c).is_err());
        let file = |uid| Op::File {
            path: "/tmp/f".into(),
            uid,
            gid: 65534,
            limit: 0,
            locks: LockPolicy::default(),
            record: Vec::new(),
        };
        assert_eq!(
            validate(&file(0), &c).unwrap_err(),
            "file delivery with root privileges"
        );
        assert!(validate(&file(65534), &c).is_ok());
        assert!(in_spool(
            Path::new("/var/mail/u"),
            "u",
            Path::new("/var/mail")
        ));
        assert!(!in_spool(
            Path::new("/var/mail/v"),
            "u",
            Path::new("/var/mail")
        ));
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert_eq!(helper_main(&["local".into()]), 1);
        assert_eq!(
            helper_main(&["local".into(), "serve".into(), "a".into(), "b".into()]),
            1
        );
    }
}
