//! A transport's delivery threads: a queue of batches and up to `limit` worker threads
//! that take them, started on demand and woken most-recently-idle first.
//!
//! Like Postfix's master(8), which starts another delivery process only when none of the
//! running ones is free (maxproc is the ceiling, not a count to start with), a thread is
//! started only when a batch arrives and no thread waits. A waiting thread sleeps on a
//! condition variable of its own, and the one that went idle last is woken first, so a
//! stream of short deliveries (discard, a local mbox) keeps one or two threads busy
//! instead of waking all of them in turn, and a waiting thread never spins: on a loaded
//! 2-core machine every extra wake-up is CPU taken from the SMTP sessions.
//!
//! Closing the pool (or dropping it) lets the threads finish the queued batches, then they
//! exit. Security role: none of its own (the threads run the agents as the scheduler's
//! user). Logs `warning: cannot start another delivery thread: REASON` when the system
//! refuses a thread (the batch then waits for a running one); the workers log deliveries.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// What the threads share.
struct State<T> {
    queue: VecDeque<T>,
    /// Threads waiting for work, by index into `wakers`; the last one went idle last.
    idle: Vec<usize>,
    wakers: Vec<Arc<Condvar>>,
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pool of threads that each run `work` on one item at a time.
pub struct Pool<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    limit: usize,
    name: String,
    work: Arc<dyn Fn(T) + Send + Sync>,
    threads: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool of at most `limit` (at least 1) threads named `NAME-0`, `NAME-1`, ...; none is
    /// started before the first item.
    pub fn new(name: &str, limit: usize, work: impl Fn(T) + Send + Sync + 'static) -> Pool<T> {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    idle: Vec::new(),
                    wakers: Vec::new(),
                    closed: false,
                }),
            }),
            limit: limit.max(1),
            name: name.to_string(),
            work: Arc::new(work),
            threads: Vec::new(),
        }
    }

    /// Queue an item: wake the thread that went idle last, or start one if none waits and
    /// fewer than the limit run. Otherwise a busy thread takes it when it is done.
    pub fn submit(&mut self, item: T) {
        let mut st = self.shared.lock();
        st.queue.push_back(item);
        if let Some(i) = st.idle.pop() {
            st.wakers[i].notify_one();
            return;
        }
        if st.wakers.len() >= self.limit {
            return;
        }
        let me = st.wakers.len();
        st.wakers.push(Arc::new(Condvar::new()));
        drop(st);
        if let Err(e) = self.spawn(me) {
            // A running thread takes the item when it is done; the first thread's start
            // must succeed (as when every thread was started at once).
            assert!(me > 0, "cannot start a delivery thread: {}", e);
            self.shared.lock().wakers.pop();
            crate::log::warning(
                "qmgr",
                format!("cannot start another delivery thread: {}", e),
            );
        }
    }

    fn spawn(&mut self, me: usize) -> std::io::Result<()> {
        let shared = Arc::clone(&self.shared);
        let work = Arc::clone(&self.work);
        let handle = std::thread::Builder::new()
            .name(format!("{}-{}", self.name, me))
            .spawn(move || run(&shared, me, &*work))?;
        self.threads.push(handle);
        Ok(())
    }

    /// How many threads have been started.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.threads.len()
    }

    /// How many threads wait for work.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.shared.lock().idle.len()
    }

    /// Let the threads finish what is queued and exit; returns them to be joined.
    pub fn close(mut self) -> Vec<JoinHandle<()>> {
        self.shut();
        std::mem::take(&mut self.threads)
    }

    fn shut(&self) {
        let mut st = self.shared.lock();
        st.closed = true;
        for w in &st.wakers {
            w.notify_one();
        }
    }
}

/// A pool dropped without `close` (the scheduler unwinding) still lets its threads end.
impl<T: Send + 'static> Drop for Pool<T> {
    fn drop(&mut self) {
        self.shut();
    }
}

/// A worker thread: take items until the pool is closed and its queue empty.
fn run<T>(shared: &Shared<T>, me: usize, work: &dyn Fn(T)) {
    let waker = Arc::clone(&shared.lock().wakers[me]);
    let mut st = shared.lock();
    loop {
        if let Some(item) = st.queue.pop_front() {
            // A spurious wake-up leaves a thread on the idle list: a busy one must not be
            // woken for the next item in place of starting or waking another.
            st.idle.retain(|&i| i != me);
            drop(st);
            work(item);
            st = shared.lock();
            continue;
        }
        if st.closed {
            return;
        }
        // Woken by submit (which took us off the list), by close, or spuriously (still on it).
        if !st.idle.contains(&me) {
            st.idle.push(me);
        }
        st = waker.wait(st).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_stream_of_short_items_keeps_one_thread() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let mut pool = Pool::new("t", 8, move |n: u32| {
            tx.lock().unwrap().send(n).unwrap();
        });
        for n in 0..50 {
            pool.submit(n);
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), n);
            // The thread waits again before the next item comes.
            while pool.idle() == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(pool.threads(), 1);
        for h in pool.close() {
            h.join().unwrap();
        }
    }

    #[test]
    fn the_thread_that_went_idle_last_is_woken_first() {
        // Each item is an ID and a gate to wait at; the work records who ran which ID.
        let ran = Arc::new(Mutex::new(Vec::<(u32, String)>::new()));
        let r = Arc::clone(&ran);
        let mut pool = Pool::new("t", 2, move |(id, gate): (u32, mpsc::Receiver<()>)| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            r.lock().unwrap().push((id, name));
            let _ = gate.recv();
        });
        let owner = |id: u32| {
            let ran = ran.lock().unwrap();
            ran.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone())
        };
        let (open0, gate0) = mpsc::channel();
        let (open1, gate1) = mpsc::channel();
        pool.submit((0, gate0));
        pool.submit((1, gate1));
        assert_eq!(pool.threads(), 2);
        while owner(0).is_none() || owner(1).is_none() {
            std::thread::yield_now();
        }
        // Item 0's thread goes idle first, item 1's last.
        open0.send(()).unwrap();
        while pool.idle() < 1 {
            std::thread::yield_now();
        }
        open1.send(()).unwrap();
        while pool.idle() < 2 {
            std::thread::yield_now();
        }
        let (open2, gate2) = mpsc::channel();
        pool.submit((2, gate2));
        while owner(2).is_none() {
            std::thread::yield_now();
        }
        assert_eq!(owner(2), owner(1));
        assert_ne!(owner(0), owner(1));
        open2.send(()).unwrap();
        for h in pool.close() {
            h.join().unwrap();
        }
    }

    #[test]
    fn a_spurious_wake_up_does_not_leave_a_busy_thread_on_the_idle_list() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = Arc::clone(&gate);
        let mut pool = Pool::new("t", 2, move |_: u32| {
            let mut open = g.0.lock().unwrap();
            while !*open {
                open = g.1.wait(open).unwrap();
            }
        });
        *gate.0.lock().unwrap() = true;
        pool.submit(0);
        while pool.idle() == 0 {
            std::thread::yield_now();
        }
        *gate.0.lock().unwrap() = false;
        // Queue an item without submit's wake-up, then wake the thread as a spurious
        // wake-up would: it takes the item while still listed as idle.
        {
            let mut st = pool.shared.lock();
            st.queue.push_back(1);
            st.wakers[0].notify_one();
        }
        while !pool.shared.lock().queue.is_empty() {
            std::thread::yield_now();
        }
        // The busy thread is off the list, so the next item starts a second thread.
        pool.submit(2);
        assert_eq!(pool.threads(), 2);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        for h in pool.close() {
            h.join().unwrap();
        }
    }

    #[test]
    fn busy_threads_bring_more_up_to_the_limit_and_every_item_runs() {
        // Items block until released, so each new item finds every thread busy.
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let done = Arc::new(AtomicUsize::new(0));
        let (g, d) = (Arc::clone(&gate), Arc::clone(&done));
        let mut pool = Pool::new("t", 3, move |_: u32| {
            let mut open = g.0.lock().unwrap();
            while !*open {
                open = g.1.wait(open).unwrap();
            }
            d.fetch_add(1, Ordering::SeqCst);
        });
        for n in 0..10 {
            pool.submit(n);
        }
        assert_eq!(pool.threads(), 3);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        // Closing lets the queued items run before the threads exit.
        for h in pool.close() {
            h.join().unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 10);
    }

    #[test]
    fn an_idle_pool_closes() {
        let mut pool = Pool::new("t", 4, |_: u32| {});
        pool.submit(1);
        // The thread waits before the pool closes, so only close's wake-up ends it.
        while pool.idle() == 0 {
            std::thread::yield_now();
        }
        let handles = pool.close();
        assert_eq!(handles.len(), 1);
        for h in handles {
            h.join().unwrap();
        }
    }
}
