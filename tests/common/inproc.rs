//! An smtpd served in-process on 127.0.0.1:0 (`smtpd::serve` with a temporary spool and
//! configuration), for tests that need real sockets but not the whole mail system. Logs go
//! to the test binary's one maillog (`common::process_maillog`). Include it with
//! `#[path = "common/inproc.rs"] mod inproc;` next to `mod common;`.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use postern::config::Config;
use postern::smtpd::{self, SmtpdContext};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A running in-process smtpd.
pub struct Server {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    /// Serve with `extra` main.cf settings on top of a small base (myhostname www.a.org,
    /// mynetworks 127.0.0.0/8, no error sleep, no local recipient table). `service` names
    /// the listener as master.cf would (anvil's key and its log lines), so that tests
    /// running side by side can tell their lines apart.
    pub fn start(service: &str, extra: &[(&str, &str)], maxproc: usize) -> Server {
        Server::start_with(service, extra, maxproc, |_| {})
    }

    /// As `start`, with `setup` applied to the context first (e.g. a stand-in resolver).
    pub fn start_with(
        service: &str,
        extra: &[(&str, &str)],
        maxproc: usize,
        setup: impl FnOnce(&mut SmtpdContext),
    ) -> Server {
        crate::common::process_maillog();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("postern-inproc-{}-{}", std::process::id(), n));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("myhostname", "www.a.org"),
            ("mynetworks", "127.0.0.0/8"),
            ("smtpd_error_sleep_time", "0"),
            ("local_recipient_maps", ""),
        ];
        pairs.extend_from_slice(extra);
        let cfg = Arc::new(Config::from_pairs(&dir, &pairs));
        let queue = postern::queue::Queue::new(&dir.join("spool"));
        queue.create_dirs().unwrap();
        let (tx, _rx) = crossbeam_channel::unbounded();
        let mut ctx = SmtpdContext::new(cfg, queue, tx).unwrap();
        ctx.limits.service = service.to_string();
        setup(&mut ctx);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(RwLock::new(Arc::new(ctx)));
        let handle = smtpd::serve(listener, shared, maxproc, stop.clone());
        Server {
            dir,
            addr,
            stop,
            handle: Some(handle),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
