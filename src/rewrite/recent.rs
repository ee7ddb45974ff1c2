//! Recent answers of the address class resolver, kept for `TTL` (30 s), as Postfix's
//! resolve client keeps its last answer for 30 seconds (resolve_clnt.c) so that a process
//! asking about the same address again does not query trivial-rewrite, and so its tables,
//! again. Postfix keeps one answer per process, keyed by the address; Postern keeps up to
//! `MAX` answers per configuration, keyed by the domain (the class depends only on the
//! domain), shared by the threads that stand for Postfix's smtpd and qmgr processes.
//!
//! What that means for an admin (said in the README): a domain added to or removed from a
//! virtual domain table is seen within 30 seconds, not at once. A lookup error is never
//! kept: the next question asks the tables again.
//!
//! Also kept: whether the "do not list domain in BOTH" warnings for a domain were logged in
//! the last `TTL`, so they are logged once per 30 s rather than for every recipient (Postfix
//! logs them when trivial-rewrite is asked, which its client's cache also limits).
//!
//! Security role: none (a cache of answers the caller computed). Logs nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::AddressClass;

/// How long an answer is kept (Postfix's resolve client: 30 s).
pub const TTL: Duration = Duration::from_secs(30);
/// Answers kept at most; when full, expired ones go, and if none has expired, all.
pub const MAX: usize = 1024;

#[derive(Debug, Default)]
struct Entries {
    classes: HashMap<String, (Instant, AddressClass)>,
    warned: HashMap<String, Instant>,
}

/// The kept answers; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Recent(Arc<Mutex<Entries>>);

impl Recent {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The class of `domain` if it was found less than `TTL` ago.
    pub fn class(&self, domain: &str) -> Option<AddressClass> {
        let e = self.lock();
        match e.classes.get(domain) {
            Some((at, class)) if at.elapsed() < TTL => Some(*class),
            _ => None,
        }
    }

    /// Keep `class` as `domain`'s answer.
    pub fn keep(&self, domain: &str, class: AddressClass) {
        let mut e = self.lock();
        if e.classes.len() >= MAX {
            e.classes.retain(|_, (at, _)| at.elapsed() < TTL);
            if e.classes.len() >= MAX {
                e.classes.clear();
            }
        }
        e.classes
            .insert(domain.to_string(), (Instant::now(), class));
    }

    /// Whether the overlap warnings for `domain` are due: true at most once per `TTL`.
    pub fn warn_due(&self, domain: &str) -> bool {
        let mut e = self.lock();
        if let Some(at) = e.warned.get(domain)
            && at.elapsed() < TTL
        {
            return false;
        }
        if e.warned.len() >= MAX {
            e.warned.retain(|_, at| at.elapsed() < TTL);
            if e.warned.len() >= MAX {
                e.warned.clear();
            }
        }
        e.warned.insert(domain.to_string(), Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_kept_and_shared_by_clones() {
        let r = Recent::default();
        assert_eq!(r.class("example.com"), None);
        r.keep("example.com", AddressClass::VirtualMailbox);
        let shared = r.clone();
        assert_eq!(
            shared.class("example.com"),
            Some(AddressClass::VirtualMailbox)
        );
        assert_eq!(shared.class("example.org"), None);
    }

    #[test]
    fn a_full_cache_makes_room() {
        let r = Recent::default();
        for i in 0..MAX + 5 {
            r.keep(&format!("d{}.test", i), AddressClass::Default);
        }
        assert!(r.lock().classes.len() <= MAX);
        assert_eq!(
            r.class(&format!("d{}.test", MAX + 4)),
            Some(AddressClass::Default)
        );
    }

    #[test]
    fn warnings_are_due_once_per_ttl() {
        let r = Recent::default();
        assert!(r.warn_due("a.test"));
        assert!(!r.warn_due("a.test"));
        assert!(r.warn_due("b.test"));
    }
}
