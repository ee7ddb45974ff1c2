//! An smtpd served in-process on 127.0.0.1:0 (`smtpd::serve` with a temporary spool and
//! configuration), for tests that need real sockets but not the whole mail system, and a
//! strict SMTP client for it. Logs go to the test binary's one maillog
//! (`common::process_maillog`). Include it with `#[path = "common/inproc.rs"] mod inproc;`
//! next to `mod common;`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use postern::config::Config;
use postern::qmgr::Wake;
use postern::queue::{Queue, QueueName};
use postern::smtpd::{self, SmtpdContext};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty temporary directory (after `common::process_maillog`), for a server's
/// spool and configuration or for table files made before the server so settings can
/// name them. Its name holds the uid as well as the pid: a directory a root run left
/// behind cannot be taken over by an ordinary user's run that got the same pid.
pub fn scratch() -> PathBuf {
    crate::common::process_maillog();
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "postern-inproc-{}-{}-{}",
        postern::sys::uid(),
        std::process::id(),
        n
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Assert that the test binary's maillog holds `line`.
pub fn assert_logged(line: &str) {
    let text = crate::common::process_log_text();
    assert!(
        text.contains(line),
        "missing log line:\n{line}\nin:\n{text}"
    );
}

/// The loopback client as smtpd logs it (`name[127.0.0.1]`, as this host names it).
pub fn cl() -> String {
    postern::smtpd::ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).log_name()
}

/// The name of the user running the tests.
pub fn me() -> String {
    postern::sys::user_by_uid(postern::sys::euid())
        .unwrap()
        .unwrap()
        .name
}

type Setup = Box<dyn FnOnce(&mut SmtpdContext)>;

/// How to start a [`Server`]: main.cf settings on top of a small base (myhostname
/// www.a.org, mynetworks 127.0.0.0/8, no error sleep), later settings winning.
pub struct Builder {
    settings: Vec<(String, String)>,
    service: Option<String>,
    maxproc: usize,
    aliases: Option<bool>,
    dir: Option<PathBuf>,
    setup: Vec<Setup>,
}

impl Builder {
    /// Add main.cf settings (they override the base and earlier ones).
    pub fn set(mut self, pairs: &[(&str, &str)]) -> Builder {
        self.settings
            .extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Name the listener as master.cf would (anvil's key and its log lines), so that tests
    /// running side by side can tell their lines apart. Default: smtpd's own ("smtp").
    pub fn service(mut self, name: &str) -> Builder {
        self.service = Some(name.to_string());
        self
    }

    /// At most this many sessions at once (default 10).
    pub fn maxproc(mut self, n: usize) -> Builder {
        self.maxproc = n;
        self
    }

    /// An alias table `aliases` in the directory ("postmaster: root") as alias_maps
    /// `hash:…`; its database is built only when `build` (else lookups fail until
    /// `postern::tables::aliases::build_file(&server.aliases())`).
    pub fn aliases(mut self, build: bool) -> Builder {
        self.aliases = Some(build);
        self
    }

    /// Use this (existing) directory instead of a fresh [`scratch`] one; it is removed
    /// when the server is dropped.
    pub fn in_dir(mut self, dir: PathBuf) -> Builder {
        self.dir = Some(dir);
        self
    }

    /// Change the context before serving (e.g. a stand-in resolver or peer lookup).
    pub fn setup(mut self, f: impl FnOnce(&mut SmtpdContext) + 'static) -> Builder {
        self.setup.push(Box::new(f));
        self
    }

    pub fn start(self) -> Server {
        crate::common::process_maillog();
        let dir = self.dir.unwrap_or_else(scratch);
        let mut pairs: Vec<(String, String)> = [
            ("myhostname", "www.a.org"),
            ("mynetworks", "127.0.0.0/8"),
            ("smtpd_error_sleep_time", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(build) = self.aliases {
            let aliases = dir.join("aliases");
            std::fs::write(&aliases, "postmaster: root\n").unwrap();
            if build {
                postern::tables::aliases::build_file(&aliases).unwrap();
            }
            pairs.push((
                "alias_maps".to_string(),
                format!("hash:{}", aliases.display()),
            ));
        }
        pairs.extend(self.settings);
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let cfg = Arc::new(Config::from_pairs(&dir, &pairs));
        let queue = Queue::new(&dir.join("spool"));
        queue.create_dirs().unwrap();
        let (tx, wake) = crossbeam_channel::unbounded();
        let mut ctx = SmtpdContext::new(cfg, queue.clone(), tx).unwrap();
        if let Some(service) = self.service {
            ctx.limits.service = service;
        }
        for f in self.setup {
            f(&mut ctx);
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = smtpd::stopping::Sessions::new();
        let shared = Arc::new(RwLock::new(Arc::new(ctx)));
        let handle = smtpd::serve(listener, shared, self.maxproc, stop.clone());
        Server {
            dir,
            addr,
            queue,
            wake,
            stop,
            handle: Some(handle),
        }
    }
}

/// A running in-process smtpd.
pub struct Server {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub queue: Queue,
    /// What smtpd tells the queue manager (e.g. `Wake::New(id)` for each queued message).
    pub wake: crossbeam_channel::Receiver<Wake>,
    stop: Arc<smtpd::stopping::Sessions>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub fn builder() -> Builder {
        Builder {
            settings: Vec::new(),
            service: None,
            maxproc: 10,
            aliases: None,
            dir: None,
            setup: Vec::new(),
        }
    }

    /// Serve with `extra` main.cf settings on top of the base and no local recipient table
    /// (local_recipient_maps empty), listening as `service` (see [`Builder::service`]).
    pub fn start(service: &str, extra: &[(&str, &str)], maxproc: usize) -> Server {
        Server::start_with(service, extra, maxproc, |_| {})
    }

    /// As `start`, with `setup` applied to the context first (e.g. a stand-in resolver).
    pub fn start_with(
        service: &str,
        extra: &[(&str, &str)],
        maxproc: usize,
        setup: impl FnOnce(&mut SmtpdContext) + 'static,
    ) -> Server {
        Server::builder()
            .service(service)
            .set(&[("local_recipient_maps", "")])
            .set(extra)
            .maxproc(maxproc)
            .setup(setup)
            .start()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The alias table's source (see [`Builder::aliases`]).
    pub fn aliases(&self) -> PathBuf {
        self.dir.join("aliases")
    }

    /// How many files are in the incoming queue.
    pub fn incoming_entries(&self) -> usize {
        std::fs::read_dir(self.queue.dir(QueueName::Incoming))
            .unwrap()
            .count()
    }

    /// Run a conversation: the greeting, then one reply per command; QUIT is sent last
    /// and the close awaited (so every log line of the session is written).
    pub fn talk(&self, cmds: &[&str]) -> Vec<String> {
        let mut c = Client::connect(self);
        let mut out = vec![c.reply()];
        for cmd in cmds.iter().chain(std::iter::once(&"QUIT")) {
            out.push(c.cmd(cmd));
        }
        let mut rest = Vec::new();
        let _ = c.r.read_to_end(&mut rest);
        out
    }

    /// Stop accepting and wait for the sessions in flight to end; the listener is closed
    /// afterwards. A panic of the accept loop is passed on.
    pub fn stop(&mut self) {
        self.stop.stop_accepting();
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take()
            && h.join().is_err()
            && !std::thread::panicking()
        {
            panic!("the smtpd accept loop panicked");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A strict SMTP client for a [`Server`]: a connection that closes in the middle of a
/// reply fails the test (`common::Client` instead answers "" there).
pub struct Client {
    pub w: TcpStream,
    pub r: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(s: &Server) -> Client {
        Client::connect_to(s.addr)
    }

    /// Connect to a server's address (from a thread that does not hold the `Server`).
    pub fn connect_to(addr: SocketAddr) -> Client {
        let w = TcpStream::connect(addr).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Client { w, r }
    }

    /// Read one (possibly multi-line) reply; lines joined with '\n'.
    pub fn reply(&mut self) -> String {
        let mut all = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed; got {all:?}");
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            all.push(line);
            if last {
                return all.join("\n");
            }
        }
    }

    pub fn send(&mut self, text: &str) {
        self.w.write_all(text.as_bytes()).unwrap();
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    /// Wait for the server to close (its log lines are written before it closes).
    pub fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        let _ = self.r.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "unexpected: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}
