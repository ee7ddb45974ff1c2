//! The privileged local delivery helper: a small root process that writes mail as the
//! recipient while the rest of Postern runs as $mail_owner.
//!
//! Process model. `postfix start` (root) spawns the helper program (`$daemon_directory/local`,
//! else `local` next to the running executable) with `HelperHandle::spawn` *before* dropping
//! privileges: a pool of `POOL` processes, each `local serve CONFIG_DIR`. A helper keeps root
//! and serves requests (`request::Op`, wire format in `request`) on its stdin/stdout pipes,
//! one at a time, until end of input. For each request it validates it and forks a child
//! with `sys::fork_as`; there is no exec: the helper is single-threaded, so the child is a
//! plain copy of it. The child sets its groups to just the target gid, then its gid and uid,
//! runs `request::execute` and writes the reply to a pipe the helper reads; the helper then
//! reaps it. Nothing ever switches uid inside a thread. When Postern does not run as root
//! the delivery agent calls `request::execute` in-process instead, and no helper exists.
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
//! equal the owner's (uid, gid) of the table's file or the include file, or $default_privs'
//! when that owner is root or there is no file; and a uid below `MIN_UID` is refused unless
//! it is $default_privs'. A refused request is answered with a 4.3.0 deferral and logged as
//! `warning: refusing delivery request: REASON`.
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

use std::io::{self, BufReader, BufWriter, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::Status;
use super::command::DEFAULT_PATH;
use super::local::{Target, include_targets, table_owner, target_listed};
use super::lock::Dotlock;
use super::mbox;
pub use super::request::{Op, Reply, Source};
use super::request::{
    decode_op, decode_reply, encode_op, encode_reply, execute, mailbox_failure, read_frame,
    write_frame,
};
use crate::config::Config;
use crate::sys;

/// Number of helper processes in a `HelperHandle` pool.
pub const POOL: usize = 4;

/// Lowest uid a file or command delivery may run as, unless it is $default_privs' uid
/// (below it are system accounts such as bin and daemon).
pub const MIN_UID: u32 = 100;

/// Largest include file the helper reads to verify a request.
pub const MAX_INCLUDE: u64 = 1 << 20;

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

    /// An idle helper if there is one (rotating the starting point), else wait for one.
    fn take_slot(&self) -> MutexGuard<'_, Option<Proc>> {
        let n = self.slots.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for k in 0..n {
            match self.slots[(first + k) % n].try_lock() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.slots[first].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Have a helper perform `op` and wait for the answer.
    pub fn request(&self, op: &Op) -> Reply {
        let mut slot = self.take_slot();
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
/// `local serve CONFIG_DIR` serves requests on stdin/stdout until end of input.
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
    config_dir: PathBuf,
}

fn serve(config_dir: &Path) -> i32 {
    let cfg = Config::load(config_dir).unwrap_or_else(|_| Config::from_pairs(config_dir, &[]));
    crate::log::init(&cfg, false);
    let ctx = Ctx {
        root: sys::is_root(),
        spool: PathBuf::from(cfg.get("mail_spool_directory")),
        config_dir: config_dir.to_path_buf(),
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
        Op::File { path, source, .. } => {
            check_path(path)?;
            if !ctx.root {
                return Ok(());
            }
            if uid == 0 || gid == 0 {
                return Err("file delivery with root privileges".into());
            }
            check_identity(source, &Target::File(path), (uid, gid), &ctx.config())
        }
        Op::Command { source, job, .. } => {
            if !ctx.root {
                return Ok(());
            }
            if uid == 0 || gid == 0 {
                return Err("command delivery with root privileges".into());
            }
            let target = Target::Command(&job.command);
            check_identity(source, &target, (uid, gid), &ctx.config())
        }
    }
}

impl Ctx {
    /// The current configuration ($alias_maps or $default_privs may have changed since the
    /// helper started).
    fn config(&self) -> Config {
        Config::load(&self.config_dir).unwrap_or_else(|_| Config::from_pairs(&self.config_dir, &[]))
    }
}

/// Check that `source` lists `target` and that `ids` are the ones it entitles.
fn check_identity(
    source: &Source,
    target: &Target<'_>,
    ids: (u32, u32),
    cfg: &Config,
) -> Result<(), String> {
    let owner = match source {
        Source::None => None,
        Source::Table { spec, key } => {
            let tables = crate::tables::TableList::open_list(cfg.get("alias_maps"))
                .map_err(|e| e.to_string())?;
            let table = tables
                .tables
                .iter()
                .find(|t| t.spec() == spec)
                .ok_or_else(|| format!("{} is not in alias_maps", spec))?;
            let value = table
                .lookup(key)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} has no alias {}", spec, key))?;
            let targets = crate::tables::aliases::targets(&value);
            if !target_listed(&targets, target) {
                return Err(format!(
                    "alias {} in {} does not list the target",
                    key, spec
                ));
            }
            table_owner(spec)
        }
        Source::Include(path) => {
            let (text, owner) = read_include(path)?;
            if !target_listed(&include_targets(&text), target) {
                return Err(format!("{} does not list the target", path.display()));
            }
            Some(owner)
        }
    };
    let name = cfg.get("default_privs");
    let default = sys::user_by_name(name)
        .ok()
        .flatten()
        .ok_or_else(|| format!("unknown default_privs user: {}", name))?;
    let expected = match owner {
        Some((uid, gid)) if uid != 0 => (uid, gid),
        _ => (default.uid, default.gid),
    };
    if ids != expected {
        return Err(format!(
            "ids {}:{} are not {}:{} as the source entitles",
            ids.0, ids.1, expected.0, expected.1
        ));
    }
    if ids.0 < MIN_UID && ids.0 != default.uid {
        return Err(format!("uid {} is below {}", ids.0, MIN_UID));
    }
    Ok(())
}

/// Read an include file as root for verification: a regular file (never blocking on a FIFO
/// or device), at most `MAX_INCLUDE` bytes; its text and owner.
fn read_include(path: &Path) -> Result<(String, (u32, u32)), String> {
    check_path(path)?;
    let fail = |e: io::Error| format!("cannot read include file {}: {}", path.display(), e);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() || meta.len() > MAX_INCLUDE {
        return Err(format!(
            "{} is not a plausible include file",
            path.display()
        ));
    }
    let mut text = String::new();
    file.take(MAX_INCLUDE)
        .read_to_string(&mut text)
        .map_err(fail)?;
    Ok((text, (meta.uid(), meta.gid())))
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
            config_dir: "/nonexistent-postern-config".into(),
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
            source: Source::None,
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
        let nobody = sys::user_by_name("nobody").unwrap().unwrap();
        assert_eq!(nobody.gid, 65534, "test assumes nobody's gid is 65534");
        assert!(validate(&file(nobody.uid), &c).is_ok());
        // Without a source only $default_privs is acceptable.
        assert!(
            validate(&file(4242), &c)
                .unwrap_err()
                .starts_with("ids 4242:65534 are not")
        );
        let cmd = Op::Command {
            source: Source::None,
            uid: 0,
            gid: 5,
            job: crate::delivery::command::CommandJob {
                command: "id".into(),
                env: Vec::new(),
                dir: "/".into(),
                limit: std::time::Duration::from_secs(1),
                input: Vec::new(),
            },
        };
        assert_eq!(
            validate(&cmd, &c).unwrap_err(),
            "command delivery with root privileges"
        );
        // Not root: in-process semantics, the ids are the caller's own anyway.
        let user = Ctx {
            root: false,
            ..ctx()
        };
        assert!(validate(&file(4242), &user).is_ok());
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

    /// The ids a file owned by the running user entitles.
    fn entitled(path: &Path) -> (u32, u32) {
        let m = std::fs::metadata(path).unwrap();
        if m.uid() == 0 {
            let n = sys::user_by_name("nobody").unwrap().unwrap();
            (n.uid, n.gid)
        } else {
            (m.uid(), m.gid())
        }
    }

    #[test]
    fn identities_come_from_the_source_not_the_request() {
        let dir = std::env::temp_dir().join(format!("postern-ident-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let aliases = dir.join("aliases");
        std::fs::write(&aliases, "prog: \"|/bin/true x\", /var/tmp/copy\n").unwrap();
        crate::tables::aliases::build_file(&aliases).unwrap();
        let include = dir.join("list");
        std::fs::write(&include, "# members\n|/bin/echo hi\n/var/tmp/inc\n").unwrap();
        let spec = format!("hash:{}", aliases.display());
        let cfg = Config::from_pairs(&dir, &[("alias_maps", &spec)]);
        let table = |key: &str| Source::Table {
            spec: spec.clone(),
            key: key.into(),
        };
        let db_ids = entitled(&crate::tables::hash::db_path(&aliases));
        let inc_ids = entitled(&include);
        let cmd = Target::Command("/bin/true x");
        assert_eq!(check_identity(&table("prog"), &cmd, db_ids, &cfg), Ok(()));
        let copy = Target::File(Path::new("/var/tmp/copy"));
        assert_eq!(check_identity(&table("prog"), &copy, db_ids, &cfg), Ok(()));
        let other = (db_ids.0 + 1, db_ids.1);
        let e = check_identity(&table("prog"), &cmd, other, &cfg).unwrap_err();
        assert!(e.contains("as the source entitles"), "{}", e);
        let evil = Target::Command("/bin/sh -c evil");
        let e = check_identity(&table("prog"), &evil, db_ids, &cfg).unwrap_err();
        assert_eq!(
            e,
            format!("alias prog in {} does not list the target", spec)
        );
        let e = check_identity(&table("nokey"), &cmd, db_ids, &cfg).unwrap_err();
        assert_eq!(e, format!("{} has no alias nokey", spec));
        let foreign = Source::Table {
            spec: "hash:/etc/postern-not-an-alias-map".into(),
            key: "prog".into(),
        };
        let e = check_identity(&foreign, &cmd, db_ids, &cfg).unwrap_err();
        assert_eq!(e, "hash:/etc/postern-not-an-alias-map is not in alias_maps");
        // Include files: the target must be listed (comments are not targets).
        let inc = Source::Include(include.clone());
        let echo = Target::Command("/bin/echo hi");
        assert_eq!(check_identity(&inc, &echo, inc_ids, &cfg), Ok(()));
        let f = Target::File(Path::new("/var/tmp/inc"));
        assert_eq!(check_identity(&inc, &f, inc_ids, &cfg), Ok(()));
        let members = Target::Command("members");
        assert!(check_identity(&inc, &members, inc_ids, &cfg).is_err());
        let passwd = Target::File(Path::new("/etc/passwd"));
        let e = check_identity(&inc, &passwd, inc_ids, &cfg).unwrap_err();
        assert_eq!(e, format!("{} does not list the target", include.display()));
        // Devices, FIFOs and relative paths are not read as include files.
        let e = check_identity(&Source::Include("/dev/zero".into()), &f, inc_ids, &cfg);
        assert_eq!(e.unwrap_err(), "/dev/zero is not a plausible include file");
        let e = check_identity(&Source::Include("rel/list".into()), &f, inc_ids, &cfg);
        assert_eq!(e.unwrap_err(), "bad path rel/list");
        // A source owned by a system account (as root we can arrange one) is refused.
        if sys::is_root() {
            let bin = sys::user_by_name("bin").unwrap().unwrap();
            assert!(bin.uid < MIN_UID && bin.uid != 0);
            std::os::unix::fs::chown(&include, Some(bin.uid), Some(bin.gid)).unwrap();
            let e = check_identity(&inc, &echo, (bin.uid, bin.gid), &cfg).unwrap_err();
            assert_eq!(e, format!("uid {} is below {}", bin.uid, MIN_UID));
        }
        std::fs::remove_dir_all(&dir).unwrap();
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
