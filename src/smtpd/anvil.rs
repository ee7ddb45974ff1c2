//! Client connection and rate limits: Postfix's anvil(8) server, in-process. One `Anvil`
//! is shared by every SMTP listener of the mail system (the master creates it); each
//! listener's `Limits` holds that listener's limits from main.cf and `-o` settings.
//!
//! Counters are kept per `service:address` (e.g. `smtp:192.0.2.1`), as anvil does: the
//! number of open connections, and per $anvil_rate_time_unit the connections, MAIL
//! commands, RCPT commands, new TLS sessions and AUTH commands. Rates are counted over a
//! fixed window that restarts when an event comes after the window has passed (anvil's
//! "simply reset the counter" rule). A client is forgotten once it has no connection and its
//! window has passed.
//!
//! Limits (postconf(5)): smtpd_client_connection_count_limit,
//! smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
//! smtpd_client_recipient_rate_limit; clients in smtpd_client_event_limit_exceptions (default
//! $mynetworks) are not counted at all. smtpd_client_new_tls_session_rate_limit and
//! smtpd_client_auth_rate_limit have counters here (`Event::NewTls`, `Event::Auth`): AUTH
//! and TLS handshakes are counted through `Limits::count` by smtpd's AUTH command
//! (session::auth) and its TLS code (session::tls_rate, which also asks `Limits::peek`
//! before a STARTTLS handshake, as Postfix's smtpd asks anvil for the rate).
//!
//! Security role: keeps one client from taking every session thread or flooding the queue.
//!
//! Logs (log::lines): `warning: Connection concurrency limit exceeded: N from host[addr]
//! for service S` (also `Connection rate`, `Message delivery request rate`, `Recipient
//! address rate`), and at stop anvil's `statistics: max connection rate N/60s for
//! (smtp:addr) at TIME`, `max connection count`, `max message rate`, `max recipient rate`,
//! `max newtls rate`, `max cache size`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::network::NetList;
use crate::config::Config;
use crate::log::{lines, timefmt};
use crate::reply::Reply;

/// A rate-limited event other than a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Mail,
    Rcpt,
    NewTls,
    Auth,
}

/// What anvil knows about one `service:address`.
struct Remote {
    count: u32,
    rate: u32,
    mail: u32,
    rcpt: u32,
    ntls: u32,
    auth: u32,
    /// Start of the current rate window.
    start: Instant,
}

impl Remote {
    fn new(now: Instant) -> Remote {
        Remote {
            count: 0,
            rate: 0,
            mail: 0,
            rcpt: 0,
            ntls: 0,
            auth: 0,
            start: now,
        }
    }

    /// Start a new window when the current one has passed.
    fn roll(&mut self, now: Instant, unit: Duration) {
        if self.start + unit < now {
            *self = Remote {
                count: self.count,
                ..Remote::new(now)
            };
        }
    }

    fn counter(&mut self, e: Event) -> &mut u32 {
        match e {
            Event::Mail => &mut self.mail,
            Event::Rcpt => &mut self.rcpt,
            Event::NewTls => &mut self.ntls,
            Event::Auth => &mut self.auth,
        }
    }
}

/// A peak value with the client it belongs to and when it was reached (unix seconds).
#[derive(Default)]
struct Max {
    value: u32,
    ident: String,
    when: i64,
}

impl Max {
    fn update(&mut self, value: u32, ident: &str) {
        if value > self.value {
            *self = Max {
                value,
                ident: ident.to_string(),
                when: timefmt::now_secs(),
            };
        }
    }
}

#[derive(Default)]
struct Peaks {
    conn_rate: Max,
    conn_count: Max,
    mail: Max,
    rcpt: Max,
    ntls: Max,
    auth: Max,
    cache: (usize, i64),
}

struct State {
    remotes: HashMap<String, Remote>,
    last_purge: Instant,
    peaks: Peaks,
}

/// The process-wide counters.
pub struct Anvil {
    state: Mutex<State>,
    /// $anvil_rate_time_unit in milliseconds (a reload may change it).
    unit_ms: AtomicU64,
}

impl Anvil {
    pub fn new(time_unit: Duration) -> Anvil {
        Anvil {
            state: Mutex::new(State {
                remotes: HashMap::new(),
                last_purge: Instant::now(),
                peaks: Peaks::default(),
            }),
            unit_ms: AtomicU64::new(time_unit.as_millis().max(1) as u64),
        }
    }

    /// An `Anvil` with $anvil_rate_time_unit from `cfg`.
    pub fn from_config(cfg: &Config) -> Anvil {
        Anvil::new(cfg.time("anvil_rate_time_unit"))
    }

    pub fn set_time_unit(&self, unit: Duration) {
        self.unit_ms
            .store(unit.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    fn unit(&self) -> Duration {
        Duration::from_millis(self.unit_ms.load(Ordering::Relaxed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection from `ident`: its (connection count, connection rate), this one
    /// included.
    pub fn connect(&self, ident: &str) -> (u32, u32) {
        self.connect_at(ident, Instant::now())
    }

    fn connect_at(&self, ident: &str, now: Instant) -> (u32, u32) {
        let unit = self.unit();
        let mut st = self.lock();
        purge(&mut st, now, unit);
        let State { remotes, peaks, .. } = &mut *st;
        let r = remotes
            .entry(ident.to_string())
            .or_insert_with(|| Remote::new(now));
        r.roll(now, unit);
        r.count = r.count.saturating_add(1);
        r.rate = r.rate.saturating_add(1);
        let (count, rate) = (r.count, r.rate);
        peaks.conn_rate.update(rate, ident);
        peaks.conn_count.update(count, ident);
        if remotes.len() > peaks.cache.0 {
            peaks.cache = (remotes.len(), timefmt::now_secs());
        }
        (count, rate)
    }

    /// A connection from `ident` ended.
    pub fn disconnect(&self, ident: &str) {
        if let Some(r) = self.lock().remotes.get_mut(ident) {
            r.count = r.count.saturating_sub(1);
        }
    }

    /// Count an event from `ident`; its rate in the current window, this one included.
    pub fn event(&self, ident: &str, e: Event) -> u32 {
        self.event_at(ident, e, Instant::now())
    }

    /// The rate of `e` from `ident` in the current window, without counting one (anvil's
    /// "status" requests: Postfix asks this before a STARTTLS handshake).
    pub fn rate(&self, ident: &str, e: Event) -> u32 {
        let (now, unit) = (Instant::now(), self.unit());
        let mut st = self.lock();
        match st.remotes.get_mut(ident) {
            Some(r) => {
                r.roll(now, unit);
                *r.counter(e)
            }
            None => 0,
        }
    }

    fn event_at(&self, ident: &str, e: Event, now: Instant) -> u32 {
        let unit = self.unit();
        let mut st = self.lock();
        let State { remotes, peaks, .. } = &mut *st;
        // After a reload anvil may not know the client yet: it counts from here.
        let r = remotes
            .entry(ident.to_string())
            .or_insert_with(|| Remote::new(now));
        r.roll(now, unit);
        let c = r.counter(e);
        *c = c.saturating_add(1);
        let rate = *c;
        let peak = match e {
            Event::Mail => &mut peaks.mail,
            Event::Rcpt => &mut peaks.rcpt,
            Event::NewTls => &mut peaks.ntls,
            Event::Auth => &mut peaks.auth,
        };
        peak.update(rate, ident);
        rate
    }

    /// Log the peaks since the last report and reset them (anvil does this at exit).
    pub fn log_statistics(&self) {
        let peaks = std::mem::take(&mut self.lock().peaks);
        let unit = self.unit().as_secs();
        let rates = [
            ("connection", &peaks.conn_rate),
            ("message", &peaks.mail),
            ("recipient", &peaks.rcpt),
            ("newtls", &peaks.ntls),
            ("auth", &peaks.auth),
        ];
        for (i, (what, m)) in rates.iter().enumerate() {
            if m.value > 0 {
                lines::anvil_max_rate(what, m.value, unit, &m.ident, m.when);
            }
            // anvil reports the connection count right after the connection rate.
            if i == 0 && peaks.conn_count.value > 0 {
                let c = &peaks.conn_count;
                lines::anvil_max_count(c.value, &c.ident, c.when);
            }
        }
        if peaks.cache.0 > 0 {
            lines::anvil_max_cache(peaks.cache.0, peaks.cache.1);
        }
    }

    /// How many clients anvil remembers (for tests).
    pub fn cache_size(&self) -> usize {
        self.lock().remotes.len()
    }
}

/// Forget clients without connections whose window has passed (at most once per unit).
fn purge(st: &mut State, now: Instant, unit: Duration) {
    if st.last_purge + unit >= now {
        return;
    }
    st.last_purge = now;
    st.remotes
        .retain(|_, r| r.count > 0 || r.start + unit >= now);
}

/// One listener's limits (0 = no limit) and the shared counters.
pub struct Limits {
    pub anvil: Arc<Anvil>,
    /// The master.cf service name, the first half of anvil's key (`smtp`).
    pub service: String,
    pub conn_count: u32,
    pub conn_rate: u32,
    pub mail_rate: u32,
    pub rcpt_rate: u32,
    /// smtpd_client_event_limit_exceptions: clients never counted.
    pub exceptions: NetList,
}

/// A counted connection; the count drops when it goes away.
pub struct Connection {
    anvil: Arc<Anvil>,
    ident: String,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.anvil.disconnect(&self.ident);
    }
}

fn limit(cfg: &Config, name: &str) -> u32 {
    cfg.int(name).clamp(0, i64::from(u32::MAX)) as u32
}

impl Limits {
    /// The limits of a listener, with a fresh `Anvil` of its own (the master replaces it with
    /// the process-wide one). `mynetworks` is the default exception list.
    pub fn from_config(cfg: &Config, mynetworks: &NetList) -> Limits {
        let explicit = cfg.explicit();
        let set = |n: &str| explicit.iter().any(|(k, _)| k == n);
        let exceptions = if set("smtpd_client_event_limit_exceptions")
            || set("smtpd_client_connection_limit_exceptions")
        {
            NetList::parse_list(cfg.get("smtpd_client_event_limit_exceptions"))
        } else {
            mynetworks.clone()
        };
        Limits {
            anvil: Arc::new(Anvil::from_config(cfg)),
            service: "smtp".to_string(),
            conn_count: limit(cfg, "smtpd_client_connection_count_limit"),
            conn_rate: limit(cfg, "smtpd_client_connection_rate_limit"),
            mail_rate: limit(cfg, "smtpd_client_message_rate_limit"),
            rcpt_rate: limit(cfg, "smtpd_client_recipient_rate_limit"),
            exceptions,
        }
    }

    fn ident(&self, addr: std::net::IpAddr) -> String {
        format!("{}:{}", self.service, addr)
    }

    /// Count a new connection. `Err(reply)` (after the warning is logged) when the client
    /// is over its connection count or rate; `Ok(None)` for an excepted client.
    pub fn connect(
        &self,
        addr: std::net::IpAddr,
        client_log: &str,
        myhostname: &str,
    ) -> Result<Option<Connection>, Reply> {
        if self.exceptions.contains(addr) {
            return Ok(None);
        }
        let ident = self.ident(addr);
        let (count, rate) = self.anvil.connect(&ident);
        let conn = Connection {
            anvil: self.anvil.clone(),
            ident,
        };
        let what = if self.conn_count > 0 && count > self.conn_count {
            Some(("Connection concurrency", count))
        } else if self.conn_rate > 0 && rate > self.conn_rate {
            Some(("Connection rate", rate))
        } else {
            None
        };
        match what {
            Some((what, n)) => {
                lines::limit_exceeded(what, n, client_log, &self.service);
                // `conn` drops here: a refused connection stops counting at once.
                Err(Reply::with_dsn(
                    421,
                    "4.7.0",
                    &format!("{} Error: too many connections from {}", myhostname, addr),
                ))
            }
            None => Ok(Some(conn)),
        }
    }

    /// Count a MAIL or RCPT command; `Some(reply)` (after the warning) when over the rate.
    pub fn event(&self, addr: std::net::IpAddr, client_log: &str, e: Event) -> Option<Reply> {
        let (max, what, reply) = match e {
            Event::Mail => (
                self.mail_rate,
                "Message delivery request rate",
                "Error: too much mail from",
            ),
            Event::Rcpt => (
                self.rcpt_rate,
                "Recipient address rate",
                "Error: too many recipients from",
            ),
            Event::NewTls | Event::Auth => return None,
        };
        if max == 0 || self.exceptions.contains(addr) {
            return None;
        }
        let rate = self.anvil.event(&self.ident(addr), e);
        if rate <= max {
            return None;
        }
        lines::limit_exceeded(what, rate, client_log, &self.service);
        Some(Reply::with_dsn(
            450,
            "4.7.1",
            &format!("{} {}", reply, addr),
        ))
    }

    /// The client's current rate of `e` without counting one; `None` for an excepted client.
    pub fn peek(&self, addr: std::net::IpAddr, e: Event) -> Option<u32> {
        if self.exceptions.contains(addr) {
            return None;
        }
        Some(self.anvil.rate(&self.ident(addr), e))
    }

    /// Count an event for a limit kept elsewhere (AUTH: smtpd_client_auth_rate_limit, see
    /// smtpd::sasl): the client's rate in the current window, `None` for an excepted client.
    pub fn count(&self, addr: std::net::IpAddr, e: Event) -> Option<u32> {
        if self.exceptions.contains(addr) {
            return None;
        }
        Some(self.anvil.event(&self.ident(addr), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: Duration = Duration::from_secs(60);

    #[test]
    fn rate_peeks_without_counting() {
        let a = Anvil::new(UNIT);
        assert_eq!(a.rate("smtp:1.2.3.4", Event::NewTls), 0);
        assert_eq!(a.event("smtp:1.2.3.4", Event::NewTls), 1);
        assert_eq!(a.rate("smtp:1.2.3.4", Event::NewTls), 1);
        assert_eq!(a.rate("smtp:1.2.3.4", Event::NewTls), 1);
        assert_eq!(a.rate("smtp:1.2.3.4", Event::Auth), 0);
    }

    #[test]
    fn count_and_rate() {
        let a = Anvil::new(UNIT);
        let t0 = Instant::now();
        assert_eq!(a.connect_at("smtp:1.2.3.4", t0), (1, 1));
        assert_eq!(a.connect_at("smtp:1.2.3.4", t0), (2, 2));
        assert_eq!(a.connect_at("smtp:5.6.7.8", t0), (1, 1));
        a.disconnect("smtp:1.2.3.4");
        // Still within the window: the rate keeps counting, the count went down.
        assert_eq!(a.connect_at("smtp:1.2.3.4", t0 + UNIT), (2, 3));
        // A new window restarts the rate but not the count.
        assert_eq!(a.connect_at("smtp:1.2.3.4", t0 + UNIT * 3), (3, 1));
    }

    #[test]
    fn events_share_the_window() {
        let a = Anvil::new(UNIT);
        let t0 = Instant::now();
        a.connect_at("smtp:1.2.3.4", t0);
        assert_eq!(a.event_at("smtp:1.2.3.4", Event::Mail, t0), 1);
        assert_eq!(a.event_at("smtp:1.2.3.4", Event::Mail, t0), 2);
        assert_eq!(a.event_at("smtp:1.2.3.4", Event::Rcpt, t0), 1);
        assert_eq!(
            a.event_at("smtp:1.2.3.4", Event::Mail, t0 + UNIT * 2),
            1,
            "a new window"
        );
        // An event from a client anvil does not know (after a reload) starts at 1.
        assert_eq!(a.event_at("smtp:9.9.9.9", Event::Rcpt, t0), 1);
    }

    #[test]
    fn idle_clients_are_forgotten() {
        let a = Anvil::new(UNIT);
        let t0 = Instant::now();
        a.connect_at("smtp:1.2.3.4", t0);
        a.connect_at("smtp:5.6.7.8", t0);
        a.disconnect("smtp:1.2.3.4");
        assert_eq!(a.cache_size(), 2);
        a.connect_at("smtp:9.9.9.9", t0 + UNIT * 2);
        // 1.2.3.4 had no connection and its window passed; 5.6.7.8 is still connected.
        assert_eq!(a.cache_size(), 2);
        a.disconnect("smtp:5.6.7.8");
        a.connect_at("smtp:9.9.9.9", t0 + UNIT * 4);
        assert_eq!(a.cache_size(), 1);
    }

    fn limits(pairs: &[(&str, &str)]) -> Limits {
        let cfg = Config::from_pairs(std::path::Path::new("/nonexistent"), pairs);
        Limits::from_config(&cfg, &NetList::parse_list("127.0.0.0/8"))
    }

    #[test]
    fn connection_limits_and_exceptions() {
        let l = limits(&[
            ("smtpd_client_connection_count_limit", "2"),
            ("smtpd_client_connection_rate_limit", "3"),
        ]);
        let remote: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let c1 = l.connect(remote, "x[192.0.2.1]", "mx").unwrap();
        let _c2 = l.connect(remote, "x[192.0.2.1]", "mx").unwrap();
        assert_eq!(
            l.connect(remote, "x[192.0.2.1]", "mx")
                .err()
                .unwrap()
                .to_string(),
            "421 4.7.0 mx Error: too many connections from 192.0.2.1"
        );
        drop(c1);
        // Count 2 again, but the fourth connection in the window is over the rate.
        assert!(l.connect(remote, "x[192.0.2.1]", "mx").is_err());
        // $mynetworks is the default exception.
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert!(l.connect(local, "l[127.0.0.1]", "mx").unwrap().is_none());
        }
    }

    #[test]
    fn explicit_exceptions_replace_mynetworks() {
        let l = limits(&[("smtpd_client_event_limit_exceptions", "")]);
        assert!(l.exceptions.entries.is_empty());
        let l = limits(&[("smtpd_client_event_limit_exceptions", "192.0.2.0/24")]);
        assert!(l.exceptions.contains("192.0.2.7".parse().unwrap()));
        assert!(!l.exceptions.contains("127.0.0.1".parse().unwrap()));
        assert!(
            limits(&[])
                .exceptions
                .contains("127.0.0.1".parse().unwrap())
        );
        // Postfix 2.10: the old name set makes the default `${old:$mynetworks}` empty.
        let l = limits(&[("smtpd_client_connection_limit_exceptions", "10.0.0.0/8")]);
        assert!(l.exceptions.entries.is_empty());
    }

    #[test]
    fn message_and_recipient_rates() {
        let l = limits(&[
            ("smtpd_client_message_rate_limit", "1"),
            ("smtpd_client_recipient_rate_limit", "2"),
        ]);
        let a: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(l.event(a, "c", Event::Mail), None);
        assert_eq!(
            l.event(a, "c", Event::Mail).unwrap().to_string(),
            "450 4.7.1 Error: too much mail from 192.0.2.1"
        );
        assert_eq!(l.event(a, "c", Event::Rcpt), None);
        assert_eq!(l.event(a, "c", Event::Rcpt), None);
        assert_eq!(
            l.event(a, "c", Event::Rcpt).unwrap().to_string(),
            "450 4.7.1 Error: too many recipients from 192.0.2.1"
        );
    }
}
