//! Cheap randomness for DNS: query IDs (RFC 5452 asks for unpredictable IDs) and the
//! shuffling of MX hosts with equal preference (RFC 5321 section 5.1).
//!
//! Security role: a random query ID together with the kernel's random source port makes
//! forged replies harder to slip in. Reads /dev/urandom; where that is missing (a chroot
//! without /dev) it falls back to std's randomly keyed SipHash over a counter and the clock.
//! Logs nothing.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random 64-bit number.
pub(crate) fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom")
        && f.read_exact(&mut buf).is_ok()
    {
        return u64::from_ne_bytes(buf);
    }
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.finish()
}

/// A random number below `n` (`n` > 0); the bias is negligible for the small `n` used here.
pub(crate) fn below(n: usize) -> usize {
    (random_u64() % n as u64) as usize
}

/// Fisher-Yates shuffle.
pub(crate) fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_varies() {
        let seen: std::collections::HashSet<usize> = (0..200).map(|_| below(4)).collect();
        assert!(seen.iter().all(|&n| n < 4));
        assert!(seen.len() > 1, "200 draws gave one value: {seen:?}");
    }

    #[test]
    fn shuffle_keeps_elements_and_reaches_other_orders() {
        let mut orders = std::collections::HashSet::new();
        for _ in 0..100 {
            let mut v = [1, 2, 3];
            shuffle(&mut v);
            let mut sorted = v;
            sorted.sort();
            assert_eq!(sorted, [1, 2, 3]);
            orders.insert(v);
        }
        assert!(orders.len() > 1);
    }
}
