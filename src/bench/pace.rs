//! Pacing for `postern-bench --rate`: when each message of each session is due, so that
//! the sessions together offer a fixed number of messages per second (an open-loop load,
//! for latency at a rate below the server's maximum) instead of sending as fast as the
//! server answers.
//!
//! Session `i` of `n` sends its `k`-th message at `start + (k * n + i) / rate`: the sessions
//! take turns, evenly spaced. A session that is behind sends at once (no catching up by
//! bursts beyond what it owes).
//!
//! Security role: none (client-side test tooling). Logs nothing.

use std::time::{Duration, Instant};

/// The schedule of one session.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    start: Instant,
    /// Seconds between two messages of all sessions together.
    step: f64,
    session: usize,
    sessions: usize,
}

impl Pace {
    /// `rate` messages per second over `sessions` sessions, from `start`; `None` when the
    /// rate is not a positive finite number.
    pub fn new(start: Instant, rate: f64, session: usize, sessions: usize) -> Option<Pace> {
        (rate.is_finite() && rate > 0.0 && sessions > 0).then(|| Pace {
            start,
            step: 1.0 / rate,
            session,
            sessions: sessions.max(1),
        })
    }

    /// When this session's `k`-th message is due.
    pub fn due(&self, k: usize) -> Instant {
        let slot = (k * self.sessions + self.session) as f64;
        self.start + Duration::from_secs_f64(slot * self.step)
    }

    /// Sleep until the `k`-th message is due (at once when it is overdue).
    pub fn wait(&self, k: usize) {
        let due = self.due(k);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_take_evenly_spaced_turns() {
        let t0 = Instant::now();
        let a = Pace::new(t0, 100.0, 0, 4).unwrap();
        let b = Pace::new(t0, 100.0, 3, 4).unwrap();
        assert_eq!(a.due(0), t0);
        assert_eq!(b.due(0) - t0, Duration::from_millis(30));
        assert_eq!(a.due(1) - t0, Duration::from_millis(40));
        assert_eq!(b.due(2) - t0, Duration::from_millis(110));
    }

    #[test]
    fn no_pace_without_a_positive_rate() {
        let t0 = Instant::now();
        assert!(Pace::new(t0, 0.0, 0, 1).is_none());
        assert!(Pace::new(t0, -5.0, 0, 1).is_none());
        assert!(Pace::new(t0, f64::NAN, 0, 1).is_none());
        assert!(Pace::new(t0, 10.0, 0, 0).is_none());
    }

    #[test]
    fn an_overdue_message_is_sent_at_once() {
        let t0 = Instant::now() - Duration::from_secs(10);
        let p = Pace::new(t0, 1.0, 0, 1).unwrap();
        let before = Instant::now();
        p.wait(2);
        assert!(before.elapsed() < Duration::from_secs(1));
    }
}
