//! Test harness: a real Postern instance (the built `postfix` binary) in a temporary
//! configuration and queue directory, listening on a free loopback port, logging to a
//! maillog file; and a small SMTP client. As root it runs the real privilege drop (it
//! creates the mail system accounts `postfix` and `postdrop` when they are missing, as
//! `.ci/run` does) and delivers to a real test account; as an ordinary user it delivers to
//! that user.
//!
//! Prerequisites: a test that cannot run here (no root, no smtp-sink, ...) calls
//! [`require`]. Under CI (`CI` set) a missing prerequisite is a failure; otherwise the test
//! prints `SKIP: binary::test: reason` on the terminal (not captured by cargo) and to
//! `$POSTERN_SKIP_LOG` (which `make test` lists at the end), and returns without asserting.
//! Tests that need root are also `#[ignore = "needs root..."]`, so cargo lists them as
//! ignored; `make test` as root runs them with `--ignored`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use postern::sys;

pub mod dovecot;
pub mod proxy;
pub mod setgid;

pub const BIN_POSTFIX: &str = env!("CARGO_BIN_EXE_postfix");

/// The directory holding the built binaries.
pub fn bin_dir() -> PathBuf {
    Path::new(BIN_POSTFIX).parent().unwrap().to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The local account mail is delivered to in tests.
pub fn test_user() -> String {
    if sys::is_root() {
        let name = "openstack";
        if sys::user_by_name(name).unwrap().is_none() {
            let st = Command::new("useradd")
                .args(["-m", name])
                .status()
                .expect("run useradd");
            assert!(st.success(), "useradd {} failed", name);
        }
        name.to_string()
    } else {
        sys::user_by_uid(sys::euid()).unwrap().unwrap().name
    }
}

/// The ignore reason of the tests that need root (`#[ignore = ...]` takes a literal, so
/// this constant documents the text they use).
pub const NEEDS_ROOT: &str = "needs root: make test runs it as root (cargo test -- --ignored)";

/// Whether a missing prerequisite must fail the test: `CI` is set (and not `false`/`0`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The running test as `binary::test` (libtest names each test's thread after the test).
fn test_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // Cargo names test binaries NAME-HASH.
    let binary = match exe.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
        _ => exe,
    };
    let thread = std::thread::current();
    format!("{}::{}", binary, thread.name().unwrap_or("?"))
}

/// python3 with ssl and smtplib, else skip (fail under CI).
pub fn have_python_ssl() -> bool {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import ssl, smtplib"])
        .output();
    require(
        probe.is_ok_and(|o| o.status.success()),
        "python3 with ssl is not installed",
    )
}

/// A test's prerequisite: `true` when `ok`. Otherwise, under CI, panics (a missing
/// prerequisite is a failure there); elsewhere reports `SKIP: binary::test: reason` and
/// returns `false`, and the test returns without asserting anything. The line goes straight
/// to standard error (cargo captures only `eprintln!`, and shows nothing of a passing test)
/// and is appended to `$POSTERN_SKIP_LOG` when set (`make test` lists that file at the end).
pub fn require(ok: bool, reason: &str) -> bool {
    if ok {
        return true;
    }
    let name = test_name();
    if under_ci() {
        panic!(
            "{}: missing prerequisite (CI is set, so this fails instead of skipping): {}",
            name, reason
        );
    }
    let line = format!("SKIP: {}: {}\n", name, reason);
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("POSTERN_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        // One write(2) of one short line with O_APPEND: lines from parallel tests do not mix.
        let _ = f.write_all(line.as_bytes());
    }
    false
}

/// `require` for the tests that need root (the privileged helper, set-gid postdrop,
/// ownership checks).
pub fn require_root() -> bool {
    require(
        sys::is_root(),
        "needs root (make test runs the root-only tests as root)",
    )
}

/// As root: the mail system accounts `postfix` (mail_owner) and `postdrop` (setgid_group),
/// created when missing as `.ci/run` and Postfix's INSTALL do. Without them the tests would
/// have to borrow `nobody`, which is then both the mail owner and the "ordinary user" the
/// tests check refusals with.
pub fn mail_accounts() -> (String, String) {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        for (name, id) in [("postfix", "2525"), ("postdrop", "2526")] {
            ensure_account(name, id);
        }
    });
    ("postfix".to_string(), "postdrop".to_string())
}

/// Create group and user NAME (no home, no login shell), preferring id `id`; another test
/// binary (or another user of this machine) may create it at the same time, so a failing
/// groupadd/useradd is an error only when the account still does not exist afterwards.
fn ensure_account(name: &str, id: &str) {
    let run = |prog: &str, args: &[&str]| {
        Command::new(prog).args(args).output().unwrap_or_else(|e| {
            panic!(
                "run {}: {} (the tests as root create the mail system accounts)",
                prog, e
            )
        })
    };
    if sys::group_by_name(name).unwrap().is_none() {
        let o = run("groupadd", &["-g", id, name]);
        if !o.status.success() && sys::group_by_name(name).unwrap().is_none() {
            // The id is taken: let the system choose one.
            run("groupadd", &[name]);
        }
        assert!(
            sys::group_by_name(name).unwrap().is_some(),
            "cannot create group {}: {}",
            name,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    if sys::user_by_name(name).unwrap().is_none() {
        let base = ["-g", name, "-M", "-s", "/usr/sbin/nologin"];
        let mut args = base.to_vec();
        args.extend(["-u", id, name]);
        let o = run("useradd", &args);
        if !o.status.success() && sys::user_by_name(name).unwrap().is_none() {
            let mut args = base.to_vec();
            args.push(name);
            run("useradd", &args);
        }
        assert!(
            sys::user_by_name(name).unwrap().is_some(),
            "cannot create user {}: {}",
            name,
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// A Postern instance under a temporary directory.
pub struct Instance {
    pub dir: PathBuf,
    pub etc: PathBuf,
    pub spool: PathBuf,
    pub mail: PathBuf,
    pub maillog: PathBuf,
    pub port: u16,
    pub user: String,
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Instance {
    /// Write a configuration (not started). `extra` settings are appended to main.cf.
    pub fn new(extra: &[(&str, &str)]) -> Instance {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "postern-it-{}-{}-{}",
            postern::sys::uid(),
            std::process::id(),
            n
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let etc = dir.join("etc");
        let spool = dir.join("spool");
        let mail = dir.join("mail");
        for d in [&dir, &etc, &spool, &mail] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let user = test_user();
        let me = sys::user_by_uid(sys::euid()).unwrap().unwrap().name;
        let (owner, group) = if sys::is_root() {
            mail_accounts()
        } else {
            (me.clone(), me.clone())
        };
        let port = free_port();
        let maillog = dir.join("maillog");
        let mut main = format!(
            "# test instance\n\
             queue_directory = {spool}\n\
             command_directory = {bin}\n\
             daemon_directory = {bin}\n\
             mail_owner = {owner}\n\
             setgid_group = {group}\n\
             myhostname = www.a.org\n\
             maillog_file = {log}\n\
             mail_spool_directory = {mail}\n\
             alias_maps = hash:{etc}/aliases\n\
             alias_database = hash:{etc}/aliases\n\
             mynetworks = 127.0.0.0/8\n",
            spool = spool.display(),
            bin = bin_dir().display(),
            log = maillog.display(),
            mail = mail.display(),
            etc = etc.display(),
        );
        for (k, v) in extra {
            main.push_str(&format!("{} = {}\n", k, v));
        }
        std::fs::write(etc.join("main.cf"), main).unwrap();
        std::fs::write(
            etc.join("master.cf"),
            format!(
                "127.0.0.1:{} inet n - n - - smtpd\npickup fifo n - n 60 1 pickup\nqmgr fifo n - n 300 1 qmgr\nlocal unix - n n - - local\n",
                port
            ),
        )
        .unwrap();
        std::fs::write(
            etc.join("aliases"),
            "postmaster: root\nmailer-daemon: postmaster\nalias-user: USER\nfwd: friend@remote.test\n"
                .replace("USER", &user),
        )
        .unwrap();
        Instance {
            dir,
            etc,
            spool,
            mail,
            maillog,
            port,
            user,
        }
    }

    /// Append settings to main.cf (later settings win).
    pub fn set(&self, name: &str, value: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.etc.join("main.cf"))
            .unwrap();
        writeln!(f, "{} = {}", name, value).unwrap();
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new(bin(program))
            .arg("-c")
            .arg(&self.etc)
            .args(args)
            .output()
            .expect("run command")
    }

    pub fn postfix(&self, args: &[&str]) -> Output {
        self.run("postfix", args)
    }

    /// `postfix start` with extra environment (e.g. POSTERN_DNS_SERVER for a fake DNS).
    pub fn start_env(&self, env: &[(&str, &str)]) {
        let out = Command::new(bin("postfix"))
            .arg("-c")
            .arg(&self.etc)
            .arg("start")
            .envs(env.iter().copied())
            .output()
            .expect("run postfix start");
        assert!(
            out.status.success(),
            "postfix start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn start(&self) {
        let out = self.postfix(&["start"]);
        assert!(
            out.status.success(),
            "postfix start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&self) {
        let out = self.postfix(&["stop"]);
        assert!(
            out.status.success(),
            "postfix stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn newaliases(&self) {
        let out = self.run("newaliases", &[]);
        assert!(
            out.status.success(),
            "newaliases failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The master's pid while it runs.
    pub fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.spool.join("pid/master.pid")).ok()?;
        text.trim().parse().ok()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.maillog).unwrap_or_default()
    }

    pub fn mbox(&self, user: &str) -> String {
        std::fs::read_to_string(self.mail.join(user)).unwrap_or_default()
    }

    /// Wait (30 s at most) for a maillog line containing `what` and return the first one.
    pub fn wait_log(&self, what: &str) -> String {
        assert!(
            wait_for(30, || self.log().contains(what)),
            "no {:?} in log:\n{}",
            what,
            self.log()
        );
        let log = self.log();
        log.lines().find(|l| l.contains(what)).unwrap().to_string()
    }

    /// Wait (20 s at most) until `user`'s mailbox holds `text`; the log if it never does.
    pub fn wait_mbox(&self, user: &str, text: &str) {
        assert!(
            wait_for(20, || self.mbox(user).contains(text)),
            "no {:?} in {}'s mailbox; log:\n{}",
            text,
            user,
            self.log()
        );
    }

    /// Run this instance's `sendmail -C ETC ARGS` with `input` on its standard input.
    pub fn sendmail(&self, args: &[&str], input: &[u8]) -> Output {
        let mut cmd = Command::new(bin("sendmail"));
        cmd.arg("-C").arg(&self.etc).args(args);
        run_with_input(&mut cmd, input)
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// One SMTP session: EHLO, `MAIL FROM:<from>`, one `RCPT TO:` per argument (each must
    /// be accepted; an argument may carry parameters: `<a@b> NOTIFY=NEVER`), the message
    /// `Subject: <subject>` with `body`, QUIT. Returns the queue ID.
    pub fn send(&self, from: &str, rcpts: &[&str], subject: &str, body: &str) -> String {
        let mut c = self.connect();
        c.reply();
        c.cmd("ehlo localhost");
        assert_eq!(c.cmd(&format!("mail from:<{}>", from)), "250 2.1.0 Ok");
        for r in rcpts {
            assert_eq!(c.cmd(&format!("rcpt to:{}", r)), "250 2.1.5 Ok", "{}", r);
        }
        let reply = c.data(&format!("Subject: {}\n\n{}\n", subject, body));
        assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{}", reply);
        c.cmd("quit");
        queued_id(&reply)
    }

    /// The test user's address in the instance's own domain.
    pub fn local_address(&self) -> String {
        format!("{}@www.a.org", self.user)
    }

    /// Files in a queue directory, with those in its one-character hash subdirectories
    /// (hash_queue_names).
    pub fn queue_files(&self, q: &str) -> Vec<String> {
        queue_entries(&self.spool.join(q))
            .into_iter()
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect()
    }

    /// Where file `id` of queue (or log directory) `q` is, hashed or not; the flat path
    /// when there is none.
    pub fn queue_path(&self, q: &str, id: &str) -> PathBuf {
        queue_entries(&self.spool.join(q))
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == id))
            .unwrap_or_else(|| self.spool.join(q).join(id))
    }
}

/// The files of a queue directory and its one-character subdirectories.
pub fn queue_entries(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        if e.file_name().len() == 1 && e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(queue_entries(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(pid) = self.pid()
            && sys::process_exists(pid)
        {
            let _ = self.postfix(&["abort"]);
        }
        if std::env::var_os("POSTERN_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The SQL statements of a file such as etc/extmail-schema.sql: `--` comments dropped,
/// split at `;` ending a line.
pub fn sql_statements(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{}\n", l))
        .collect();
    text.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Poll `cond` every 20 ms until it holds or `secs` pass.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A line-oriented SMTP client.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// Read one full reply (all continuation lines), joined with "\n".
    pub fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read reply");
            if n == 0 {
                break;
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line);
            if !more {
                break;
            }
        }
        lines.join("\n")
    }

    pub fn send_raw(&mut self, data: &[u8]) {
        self.writer.write_all(data).expect("write");
    }

    /// Send one command line and return the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{}\r\n", line).as_bytes());
        self.reply()
    }

    /// Send a message body (already CRLF, dot-stuffed) after DATA's 354, with the final dot.
    pub fn data(&mut self, body: &str) -> String {
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "DATA: {}", r);
        self.send_raw(body.replace('\n', "\r\n").as_bytes());
        self.cmd(".")
    }
}

/// The queue ID from `250 2.0.0 Ok: queued as ID`.
/// Run `cmd` with `input` on its standard input; its output and status.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // A command that stops reading early is not this helper's failure.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait")
}

pub fn queued_id(reply: &str) -> String {
    reply.rsplit(' ').next().unwrap().to_string()
}

/// A program from Debian's postfix package (smtp-sink, smtp-source), extracted by .ci/run
/// into $POSTERN_POSTFIX_TOOLS (default /tmp/postern-postfix-deb); never installed. `None`
/// when it is not there: the test is skipped through [`require`] (a failure under CI).
pub fn postfix_tool(name: &str) -> Option<Command> {
    let root = std::env::var("POSTERN_POSTFIX_TOOLS")
        .unwrap_or_else(|_| "/tmp/postern-postfix-deb".into());
    let prog = Path::new(&root).join("usr/sbin").join(name);
    if !require(
        prog.exists(),
        &format!(
            "{} not found (.ci/run extracts it: apt-get download postfix; dpkg -x postfix_*.deb {})",
            prog.display(),
            root
        ),
    ) {
        return None;
    }
    let mut cmd = Command::new(prog);
    cmd.env("LD_LIBRARY_PATH", Path::new(&root).join("usr/lib/postfix"));
    Some(cmd)
}

static PROCESS_LOG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// One maillog for a whole test binary that runs the library in-process (logging is
/// process-wide): `log::init` once with maillog_file in a temporary directory, removed when
/// the test binary exits.
pub fn process_maillog() -> &'static PathBuf {
    PROCESS_LOG.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "postern-test-log-{}-{}",
            postern::sys::uid(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("maillog");
        let _ = std::fs::remove_file(&path);
        // SAFETY: atexit with a plain `extern "C"` function that neither unwinds (errors are
        // ignored) nor relies on anything but the initialised static.
        unsafe {
            libc::atexit(remove_process_log);
        }
        let cfg = postern::config::Config::from_pairs(
            &dir,
            &[
                ("myhostname", "www.a.org"),
                ("maillog_file", path.to_str().unwrap()),
            ],
        );
        postern::log::init(&cfg, false);
        path
    })
}

extern "C" fn remove_process_log() {
    if let Some(dir) = PROCESS_LOG.get().and_then(|p| p.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The text of `process_maillog`.
pub fn process_log_text() -> String {
    std::fs::read_to_string(process_maillog()).unwrap_or_default()
}

/// The account the privileged-helper tests deliver to.
pub const HELPER_TEST_USER: &str = "postern-test";
/// Its home directory (fixed by useradd when the account is created).
pub const HELPER_TEST_HOME: &str = "/tmp/postern-test-home";

/// The helper tests' account, created when root and absent; `None` means skip (reported by
/// [`require`]; a failure under CI): the privileged helper needs root.
pub fn helper_test_user() -> Option<sys::User> {
    if !require_root() {
        return None;
    }
    static CREATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = CREATE.lock().unwrap_or_else(|e| e.into_inner());
    if sys::user_by_name(HELPER_TEST_USER).ok().flatten().is_none() {
        let out = Command::new("useradd")
            .args([
                "-M",
                "-d",
                HELPER_TEST_HOME,
                "-s",
                "/bin/sh",
                HELPER_TEST_USER,
            ])
            .output();
        // Another test binary may have created it meanwhile.
        let created = sys::user_by_name(HELPER_TEST_USER).ok().flatten().is_some();
        if !require(
            created,
            &format!("cannot create user {}: {:?}", HELPER_TEST_USER, out),
        ) {
            return None;
        }
    }
    sys::user_by_name(HELPER_TEST_USER).ok().flatten()
}

/// A directory for a helper pool test: `spool/` for mailboxes and a `main.cf` naming it as
/// $mail_spool_directory (mode 1777, so a helper's writer as another account can reach
/// it), removed on drop; and the mailbox account: as root `nobody` (the helper then
/// writes as nobody), otherwise the running user.
pub struct HelperDir {
    pub dir: PathBuf,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
}

impl HelperDir {
    pub fn new(tag: &str) -> HelperDir {
        let dir = std::env::temp_dir().join(format!(
            "postern-{}-{}-{}",
            tag,
            postern::sys::uid(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("spool")).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::write(
            dir.join("main.cf"),
            format!("mail_spool_directory = {}/spool\n", dir.display()),
        )
        .unwrap();
        let account = if sys::is_root() {
            sys::user_by_name("nobody").unwrap().unwrap()
        } else {
            sys::user_by_uid(sys::euid()).unwrap().unwrap()
        };
        HelperDir {
            dir,
            user: account.name,
            uid: account.uid,
            gid: account.gid,
        }
    }

    /// The account's mailbox in `spool/`.
    pub fn mbox(&self) -> PathBuf {
        self.dir.join("spool").join(&self.user)
    }
}

impl Drop for HelperDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
