//! Ending SMTP sessions promptly at `postfix stop`: a registry of the sessions in
//! progress, each with its socket and whether it is inside a mail transaction past DATA.
//!
//! Sessions are threads blocked in socket reads, so a stop cannot wait for them to notice a
//! flag. At stop the master calls [`Sessions::close_idle`]: every session that is not
//! receiving or committing a message has the read side of its socket shut down, which ends
//! a blocked read at once (the session then answers `421 4.3.2 Service shutting down` and
//! closes). A session inside DATA keeps going; when it has queued its reply to the end of
//! the message it shuts its own read side ([`Busy`]'s drop), so its client gets that reply.
//! Only the read side is shut: a `250 Ok: queued as` after the queue file was committed
//! is still written, so nothing acknowledged is lost. After the master's grace period
//! [`Sessions::shutdown_all`] closes what is left (an unacknowledged message; the client
//! sends it again later).
//!
//! The session thread finds its own entry through a thread-local set by [`Sessions::register`],
//! so the SMTP state machine needs no extra argument. Logs nothing itself.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Entry {
    sock: TcpStream,
    busy: bool,
}

/// The sessions of every listener of one mail system.
#[derive(Default)]
pub struct Sessions {
    accepting_stopped: AtomicBool,
    closing: AtomicBool,
    next: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
    emptied: Condvar,
}

thread_local! {
    static CURRENT: RefCell<Option<(Arc<Sessions>, u64)>> = const { RefCell::new(None) };
}

/// A session's place in the registry; dropping it (the session thread ends) removes it.
pub struct Registration {
    sessions: Arc<Sessions>,
    id: u64,
}

impl Sessions {
    pub fn new() -> Arc<Sessions> {
        Arc::new(Sessions::default())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accept loops stop taking new connections.
    pub fn stop_accepting(&self) {
        self.accepting_stopped.store(true, Ordering::SeqCst);
    }

    pub fn accepting_stopped(&self) -> bool {
        self.accepting_stopped.load(Ordering::SeqCst)
    }

    /// Whether the mail system is stopping and idle sessions are being closed.
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Enter the calling (session) thread with its socket. A session that starts after
    /// `close_idle` is closed at once.
    pub fn register(self: &Arc<Sessions>, stream: &TcpStream) -> Option<Registration> {
        let sock = stream.try_clone().ok()?;
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        {
            let mut map = self.lock();
            if self.closing() {
                let _ = sock.shutdown(Shutdown::Read);
            }
            map.insert(id, Entry { sock, busy: false });
        }
        CURRENT.with(|c| *c.borrow_mut() = Some((self.clone(), id)));
        Some(Registration {
            sessions: self.clone(),
            id,
        })
    }

    /// Stop: shut the read side of every session not inside a transaction past DATA.
    pub fn close_idle(&self) {
        let map = self.lock();
        self.closing.store(true, Ordering::SeqCst);
        for e in map.values().filter(|e| !e.busy) {
            let _ = e.sock.shutdown(Shutdown::Read);
        }
    }

    /// Wait up to `grace` for every session to end; true when none is left.
    pub fn wait_empty(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut map = self.lock();
        while !map.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            map = self
                .emptied
                .wait_timeout(map, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Close every session's socket, in a transaction or not.
    pub fn shutdown_all(&self) {
        for e in self.lock().values() {
            let _ = e.sock.shutdown(Shutdown::Both);
        }
    }

    /// How many sessions are in progress.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn set_busy(&self, id: u64, busy: bool) {
        let map = &mut *self.lock();
        if let Some(e) = map.get_mut(&id) {
            e.busy = busy;
            if !busy && self.closing() {
                let _ = e.sock.shutdown(Shutdown::Read);
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
        let mut map = self.sessions.lock();
        map.remove(&self.id);
        if map.is_empty() {
            self.sessions.emptied.notify_all();
        }
    }
}

/// Whether the calling session thread is being closed for a stop.
pub fn closing() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|(s, _)| s.closing()))
}

/// Marks the calling session as inside a transaction past DATA while it lives; a session
/// without a registration (tests, `sendmail -bs`) is not affected.
pub struct Busy(Option<(Arc<Sessions>, u64)>);

impl Busy {
    pub fn enter() -> Busy {
        let cur = CURRENT.with(|c| c.borrow().clone());
        if let Some((s, id)) = &cur {
            s.set_busy(*id, true);
        }
        Busy(cur)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some((s, id)) = &self.0 {
            s.set_busy(*id, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (l.accept().unwrap().0, c)
    }

    #[test]
    fn idle_read_ends_at_close_busy_one_after_its_transaction() {
        let sessions = Sessions::new();
        let (idle, _c1) = pair();
        let (busy, _c2) = pair();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = sessions.clone();
        let idle_thread = std::thread::spawn(move || {
            let _r = s.register(&idle).unwrap();
            let mut b = [0u8; 1];
            (&idle).read(&mut b).unwrap()
        });
        let s = sessions.clone();
        let busy_thread = std::thread::spawn(move || {
            let _r = s.register(&busy).unwrap();
            let guard = Busy::enter();
            tx.send(()).unwrap();
            // Inside the transaction the socket stays open until the guard goes.
            while !closing() {
                std::thread::yield_now();
            }
            drop(guard);
            let mut b = [0u8; 1];
            (&busy).read(&mut b).unwrap()
        });
        rx.recv().unwrap();
        while sessions.count() < 2 {
            std::thread::yield_now();
        }
        sessions.close_idle();
        assert_eq!(idle_thread.join().unwrap(), 0);
        assert_eq!(busy_thread.join().unwrap(), 0);
        assert!(sessions.wait_empty(Duration::from_secs(30)));
    }

    #[test]
    fn a_session_registered_after_close_is_closed() {
        let sessions = Sessions::new();
        sessions.close_idle();
        let (s, _c) = pair();
        let _r = sessions.register(&s).unwrap();
        let mut b = [0u8; 1];
        assert_eq!((&s).read(&mut b).unwrap(), 0);
        assert!(!sessions.wait_empty(Duration::from_millis(1)));
    }
}
