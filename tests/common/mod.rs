//! Test harness: a real Postern instance (the built `postfix` binary) in a temporary
//! configuration and queue directory, listening on a free loopback port, logging to a
//! maillog file; and a small SMTP client. As root it runs the real privilege drop
//! (mail_owner `postfix` when that account exists, else `nobody`) and delivers to a real
//! test account; as an ordinary user it delivers to that user.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use postern::sys;

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

fn account_or(name: &str, fallback: &str) -> String {
    if sys::user_by_name(name).unwrap().is_some() {
        name.to_string()
    } else {
        fallback.to_string()
    }
}

fn group_or(name: &str, fallback: &str) -> String {
    if sys::group_by_name(name).unwrap().is_some() {
        name.to_string()
    } else {
        fallback.to_string()
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
        let dir = std::env::temp_dir().join(format!("postern-it-{}-{}", std::process::id(), n));
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
            (
                account_or("postfix", "nobody"),
                group_or("postdrop", "nogroup"),
            )
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

    /// Files in a queue directory.
    pub fn queue_files(&self, q: &str) -> Vec<String> {
        std::fs::read_dir(self.spool.join(q))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
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
pub fn queued_id(reply: &str) -> String {
    reply.rsplit(' ').next().unwrap().to_string()
}

/// A program from Debian's postfix package (smtp-sink, smtp-source), extracted by .ci/run
/// into $POSTERN_POSTFIX_TOOLS (default /tmp/postern-postfix-deb); never installed. `None`
/// (with the reason printed) when it is not there; under CI its absence is a failure.
pub fn postfix_tool(name: &str) -> Option<Command> {
    let root = std::env::var("POSTERN_POSTFIX_TOOLS")
        .unwrap_or_else(|_| "/tmp/postern-postfix-deb".into());
    let prog = Path::new(&root).join("usr/sbin").join(name);
    if !prog.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} missing: .ci/run extracts Debian's postfix package into {}",
            prog.display(),
            root
        );
        eprintln!(
            "skipped: {} not found (apt-get download postfix; dpkg -x postfix_*.deb {})",
            prog.display(),
            root
        );
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
        let dir = std::env::temp_dir().join(format!("postern-test-log-{}", std::process::id()));
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

/// The helper tests' account, created when root and absent; `None` (with the reason
/// printed) means skip: the privileged helper needs root.
pub fn helper_test_user() -> Option<sys::User> {
    if !sys::is_root() {
        eprintln!("skipping: the privileged helper tests need root");
        return None;
    }
    static CREATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = CREATE.lock().unwrap_or_else(|e| e.into_inner());
    if sys::user_by_name(HELPER_TEST_USER).ok().flatten().is_none() {
        let st = Command::new("useradd")
            .args([
                "-M",
                "-d",
                HELPER_TEST_HOME,
                "-s",
                "/bin/sh",
                HELPER_TEST_USER,
            ])
            .status();
        if !st.is_ok_and(|s| s.success()) {
            eprintln!("skipping: cannot create user {}", HELPER_TEST_USER);
            return None;
        }
    }
    sys::user_by_name(HELPER_TEST_USER).ok().flatten()
}
