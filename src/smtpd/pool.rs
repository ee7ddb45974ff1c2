//! Session threads kept for the next client: the accept loop hands each connection to an
//! idle thread of its listener when one waits, and starts a new thread only when none
//! does. A thread whose session ended waits up to `IDLE_TIME` for the next one, and at most
//! `keep` threads wait at a time (the others end at once), so a burst of connections
//! leaves no more than `keep` idle threads behind. This saves the per-connection thread
//! start and exit (clone, stack mapping and unmapping, thread-local setup), measured in
//! README's "Benchmark" section. The number of sessions at once is still bounded by the
//! accept loop (the master.cf process limit), not here.
//!
//! Security role: none beyond resource bounds. A session leaves no per-session state in
//! its thread: its thread-locals (log tag, stop registration) are set at its start and
//! cleared by their guards. What a thread keeps across sessions is not the session's: its
//! DNS-list answers (`rbl`, a minute) and its policy-server connections (`policy_client`,
//! within smtpd_policy_service_max_idle/_max_ttl), as a Postfix smtpd process keeps both. A panicking session ends its thread, as before. Logs nothing.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an idle session thread waits for a new client before it ends (Postfix's
/// `max_idle` default for an idle smtpd process).
pub const IDLE_TIME: Duration = Duration::from_secs(100);

/// Most idle threads kept per listener (fewer when the process limit is lower).
pub const KEEP_IDLE: usize = 64;

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct State {
    /// Jobs handed over, not yet taken; never more than `idle`.
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    /// The listener is gone: waiting threads end.
    closed: bool,
}

/// The session threads of one listener.
pub struct Pool {
    name: String,
    keep: usize,
    idle_time: Duration,
    state: Mutex<State>,
    work: Condvar,
}

impl Pool {
    /// A pool whose threads are named `name`, keeping at most `keep` idle threads for up
    /// to `idle_time` each.
    pub fn new(name: &str, keep: usize, idle_time: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            name: name.to_string(),
            keep,
            idle_time,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `job` on an idle thread, or on a new one when none waits. An error means no
    /// thread could be started; the job was not run (and is dropped).
    pub fn execute(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let job: Job = Box::new(job);
        {
            let mut st = self.lock();
            if st.idle > st.jobs.len() {
                st.jobs.push_back(job);
                self.work.notify_one();
                return Ok(());
            }
        }
        let pool = Arc::clone(self);
        std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || pool.worker(job))
            .map(|_| ())
    }

    /// A thread's life: its first job, then others while it is wanted.
    fn worker(&self, first: Job) {
        first();
        while let Some(job) = self.next_job() {
            job();
        }
    }

    /// Wait for the next job; `None` ends the thread (enough idle threads already, the
    /// idle time passed, or the pool was closed).
    fn next_job(&self) -> Option<Job> {
        let mut st = self.lock();
        if st.idle >= self.keep || st.closed {
            return None;
        }
        st.idle += 1;
        let deadline = Instant::now() + self.idle_time;
        loop {
            if let Some(job) = st.jobs.pop_front() {
                st.idle -= 1;
                return Some(job);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if st.closed || left.is_zero() {
                // No job is queued (checked above), so none is left without a thread.
                st.idle -= 1;
                return None;
            }
            st = self
                .work
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The listener is closed: idle threads end now, busy ones after their session.
    pub fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
    }

    /// Threads waiting for a job now.
    pub fn idle(&self) -> usize {
        self.lock().idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn wait_idle(pool: &Pool, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while pool.idle() != n {
            assert!(Instant::now() < deadline, "idle {} != {}", pool.idle(), n);
            std::thread::yield_now();
        }
    }

    fn thread_of(pool: &Arc<Pool>) -> std::thread::ThreadId {
        let (tx, rx) = mpsc::channel();
        pool.execute(move || tx.send(std::thread::current().id()).unwrap())
            .unwrap();
        rx.recv().unwrap()
    }

    /// A finished session's thread runs the next one; no more than `keep` stay idle.
    #[test]
    fn threads_are_reused_and_idle_ones_bounded() {
        let pool = Pool::new("t", 2, Duration::from_secs(60));
        let first = thread_of(&pool);
        wait_idle(&pool, 1);
        assert_eq!(thread_of(&pool), first, "the idle thread took the job");
        wait_idle(&pool, 1);

        // Four jobs at once need four threads; two stay idle afterwards.
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 0..4 {
            let (rx, done) = (release_rx.clone(), done_tx.clone());
            pool.execute(move || {
                rx.lock().unwrap().recv().unwrap();
                done.send(()).unwrap();
            })
            .unwrap();
        }
        for _ in 0..4 {
            release_tx.send(()).unwrap();
        }
        for _ in 0..4 {
            done_rx.recv().unwrap();
        }
        wait_idle(&pool, 2);
        pool.close();
        wait_idle(&pool, 0);
    }

    /// An idle thread ends after the idle time (its thread-locals are dropped, which a
    /// running or waiting thread never does); a later job runs on a new thread.
    #[test]
    fn idle_threads_end_after_the_idle_time() {
        struct Ended(mpsc::Sender<()>);
        impl Drop for Ended {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        thread_local! {
            static ENDED: std::cell::RefCell<Option<Ended>> = const { std::cell::RefCell::new(None) };
        }
        let pool = Pool::new("t", 4, Duration::from_millis(20));
        let (ended_tx, ended_rx) = mpsc::channel();
        let (id_tx, id_rx) = mpsc::channel();
        pool.execute(move || {
            ENDED.with(|e| *e.borrow_mut() = Some(Ended(ended_tx)));
            id_tx.send(std::thread::current().id()).unwrap();
        })
        .unwrap();
        let first = id_rx.recv().unwrap();
        ended_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the idle thread ended");
        assert_eq!(pool.idle(), 0);
        assert_ne!(thread_of(&pool), first);
    }

    /// Many jobs handed over at once all run.
    #[test]
    fn every_job_runs() {
        let pool = Pool::new("t", 3, Duration::from_millis(5));
        let (tx, rx) = mpsc::channel();
        for i in 0..200 {
            let tx = tx.clone();
            pool.execute(move || tx.send(i).unwrap()).unwrap();
            if i % 7 == 0 {
                std::thread::yield_now();
            }
        }
        let mut got: Vec<i32> = (0..200).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }
}
