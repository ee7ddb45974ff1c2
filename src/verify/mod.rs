//! Address verification, Postfix's verify(8): a cache of what probes found out about
//! addresses, for smtpd's reject_unverified_recipient and reject_unverified_sender. A query
//! for an address without a usable answer says "Address verification in progress" and tells
//! the caller to send a probe (`probe`): a message to the address that the scheduler routes
//! as usual but that each delivery agent only checks (local(8) its aliases and accounts, the
//! SMTP client the remote server's answer to RCPT TO), whose results come back through
//! `update` instead of being delivered or bounced.
//!
//! The rules are verify.c's: an answer is good for address_verify_positive_expire_time
//! (deliverable) or address_verify_negative_expire_time (not), and is refreshed by a new probe
//! after address_verify_positive_refresh_time / address_verify_negative_refresh_time while the
//! old answer is still given; a probe is not repeated within 1000 seconds; a failed probe
//! never overwrites a deliverable answer; with address_verify_negative_cache = no only
//! deliverable answers are kept. Expired entries are swept every
//! address_verify_cache_cleanup_interval (0: never, as Postfix).
//!
//! Security role: what is stored comes only from probes the scheduler ran (the queue-file
//! attribute that marks a probe cannot be set by a local submitter, see `postdrop::stamp`
//! and pickup); the cache is bounded (`MAX_ENTRIES` addresses, each text made printable and
//! cut to `MAX_TEXT`), so a client naming random addresses, or a remote server with long
//! replies, cannot grow it without limit; a full cache evicts, so the one-probe-per-1000-s
//! rule holds for every address asked about. Differences from Postfix: the cache lives in the master's memory (Postfix's
//! address_verify_map, a btree file by default, survives restarts; here a restart forgets,
//! and addresses are probed again). Logs nothing (the probes' deliveries are logged by the
//! scheduler as `status=deliverable` / `status=undeliverable`).

pub mod probe;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::Config;

/// At most this many addresses are remembered; past it, a new address takes the place of
/// an old one (an undeliverable or unanswered one first).
pub const MAX_ENTRIES: usize = 100_000;

/// The longest text kept with an answer (a remote server's reply can be much longer).
pub const MAX_TEXT: usize = 500;

/// How many entries eviction looks at for one that is not deliverable.
const EVICTION_SCAN: usize = 64;

/// How often a full cache is swept, at most (seconds).
const FULL_SWEEP_INTERVAL: u64 = 60;

/// Postfix's PROBE_TTL: a probe without an answer after this long is taken as lost.
const PROBE_TTL: u64 = 1000;

/// What is known of an address (Postfix's DEL_RCPT_STAT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrStatus {
    /// Not known yet: a probe is under way.
    Todo,
    /// Deliverable.
    Ok,
    /// The last probe failed for now.
    Defer,
    /// Undeliverable.
    Bounce,
}

/// The answer to a query: the status and the text to give with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: AddrStatus,
    pub text: String,
}

/// The text of a query without a usable answer.
pub const IN_PROGRESS: &str = "Address verification in progress";

/// The cache's time settings, read from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub positive_expire: u64,
    pub positive_refresh: u64,
    pub negative_expire: u64,
    pub negative_refresh: u64,
    pub negative_cache: bool,
    pub cleanup_interval: u64,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Settings {
        let secs = |name: &str| cfg.time(name).as_secs();
        Settings {
            positive_expire: secs("address_verify_positive_expire_time"),
            positive_refresh: secs("address_verify_positive_refresh_time"),
            negative_expire: secs("address_verify_negative_expire_time"),
            negative_refresh: secs("address_verify_negative_refresh_time"),
            negative_cache: cfg.bool("address_verify_negative_cache"),
            cleanup_interval: secs("address_verify_cache_cleanup_interval"),
        }
    }

    fn expired(&self, e: &Entry, now: u64) -> bool {
        let life = match e.status {
            AddrStatus::Ok => self.positive_expire,
            _ => self.negative_expire,
        };
        e.updated.saturating_add(life) < now
    }

    fn refresh_due(&self, status: AddrStatus, updated: u64, now: u64) -> bool {
        let after = match status {
            AddrStatus::Ok => self.positive_refresh,
            _ => self.negative_refresh,
        };
        updated.saturating_add(after) < now
    }
}

/// One address: its status and text, when it was last probed and when a probe last
/// answered (0: never).
#[derive(Debug, Clone)]
struct Entry {
    status: AddrStatus,
    text: String,
    probed: u64,
    updated: u64,
}

/// The cache, shared by every smtpd listener and the scheduler of one master.
#[derive(Debug, Default)]
pub struct Cache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    swept: u64,
}

/// The key of an address: as given, but `:` (of an IPv6 literal) becomes `_`, as Postfix
/// stores it.
fn key(addr: &str) -> String {
    addr.replace(':', "_")
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    /// What is known of `addr` at `now` (seconds since the epoch), and whether the caller
    /// must send a probe now (verify.c's verify_query_service).
    pub fn query(&self, s: &Settings, addr: &str, now: u64) -> (Answer, bool) {
        let k = key(addr);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.sweep(s, now);
        let found = inner.entries.get(&k).cloned();
        let safe_to_probe = |e: &Entry| now.saturating_sub(e.probed) > PROBE_TTL;
        let usable = found
            .clone()
            .filter(|e| !(safe_to_probe(e) && s.expired(e, now)));
        let entry = usable.unwrap_or_else(|| {
            if found.is_some() && !s.negative_cache {
                inner.entries.remove(&k);
            }
            Entry {
                status: AddrStatus::Todo,
                text: IN_PROGRESS.to_string(),
                probed: 0,
                updated: 0,
            }
        });
        let answer = Answer {
            status: entry.status,
            text: entry.text.clone(),
        };
        let probe = safe_to_probe(&entry) && s.refresh_due(entry.status, entry.updated, now);
        if probe && (entry.updated != 0 || s.negative_cache) {
            let stamped = Entry {
                probed: now,
                ..entry
            };
            inner.insert(k, stamped);
        }
        (answer, probe)
    }

    /// A probe's result for `addr` (verify.c's verify_update_service): a failure never
    /// replaces a deliverable answer, and without the negative cache only deliverable
    /// answers are kept.
    pub fn update(&self, s: &Settings, addr: &str, status: AddrStatus, text: &str, now: u64) {
        if status != AddrStatus::Ok && !s.negative_cache {
            return;
        }
        let k = key(addr);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let keeps_ok = inner
            .entries
            .get(&k)
            .is_some_and(|e| e.status == AddrStatus::Ok);
        if status == AddrStatus::Ok || !keeps_ok {
            let text: String = crate::log::lines::printable(text)
                .chars()
                .take(MAX_TEXT)
                .collect();
            let e = Entry {
                status,
                text,
                probed: 0,
                updated: now,
            };
            inner.insert(k, e);
        }
    }

    /// How many addresses are remembered.
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Store `e`; a full cache first gives up an entry (`evict`).
    fn insert(&mut self, k: String, e: Entry) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&k) {
            self.evict();
        }
        self.entries.insert(k, e);
    }

    /// Drop one entry: among the first `EVICTION_SCAN` looked at, one that is not
    /// deliverable, else the first.
    fn evict(&mut self) {
        let victim = {
            let mut seen = self.entries.iter().take(EVICTION_SCAN);
            let first = seen.clone().next().map(|(k, _)| k.clone());
            seen.find(|(_, e)| e.status != AddrStatus::Ok)
                .map(|(k, _)| k.clone())
                .or(first)
        };
        if let Some(k) = victim {
            self.entries.remove(&k);
        }
    }

    /// Drop expired entries whose probe is not under way, every cleanup interval (never
    /// with an interval of 0, as Postfix), and at most once a minute while the cache is full.
    fn sweep(&mut self, s: &Settings, now: u64) {
        let full = self.entries.len() >= MAX_ENTRIES;
        let interval = match (s.cleanup_interval, full) {
            (0, false) => return,
            (0, true) => FULL_SWEEP_INTERVAL,
            (i, true) => i.min(FULL_SWEEP_INTERVAL),
            (i, false) => i,
        };
        if now.saturating_sub(self.swept) < interval {
            return;
        }
        self.swept = now;
        self.entries
            .retain(|_, e| now.saturating_sub(e.probed) < PROBE_TTL || !s.expired(e, now));
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    u64::try_from(crate::log::timefmt::now_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
