//! Queue file system space at MAIL (Postfix's smtpd_check_queue in smtpd_check.c): a new
//! mail transaction is refused with `452 4.3.1 Insufficient system storage` when the free
//! space on the queue file system is at most $queue_minfree bytes, or at most 1.5 times
//! $message_size_limit (so that a message of the largest size still fits with room left).
//!
//! Security role: keeps a client from filling the spool, which would make cleanup fail
//! after DATA and stall the queue manager and local deliveries (postconf(5) queue_minfree).
//!
//! Logs `warning: not enough free space in mail queue: N bytes < 1.5*message size limit`
//! (log::lines::queue_space_low).

use std::path::Path;

use crate::reply::Reply;

/// The reply for too little queue space.
pub fn reply() -> Reply {
    Reply::with_dsn(452, "4.3.1", "Insufficient system storage")
}

/// Whether a file system with `available` free bytes has room for a new message:
/// Postfix refuses when `queue_minfree >= available` or `1.5 * message_size_limit >=
/// available`.
pub fn enough(available: u64, queue_minfree: u64, message_size_limit: u64) -> bool {
    let available = u128::from(available);
    let twice_limit_and_half = u128::from(message_size_limit) * 3;
    u128::from(queue_minfree) < available && twice_limit_and_half < available * 2
}

/// Check the file system holding `queue_dir`; `Some(available bytes)` when it is too full.
/// A file system that cannot be asked (statvfs failed) is not refused, as Postfix's
/// fsspace would have exited instead: the later queue file write reports the real error.
pub fn check(queue_dir: &Path, queue_minfree: u64, message_size_limit: u64) -> Option<u64> {
    let available = fs2::available_space(queue_dir).ok()?;
    (!enough(available, queue_minfree, message_size_limit)).then_some(available)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_rule() {
        // 1.5 x 10 MB = 15 MB: 15 MB free is not enough, one byte more is.
        assert!(!enough(15_000_000, 0, 10_000_000));
        assert!(enough(15_000_001, 0, 10_000_000));
        // queue_minfree alone.
        assert!(!enough(1000, 1000, 0));
        assert!(enough(1001, 1000, 0));
        // No size limit and no minimum: only a full file system is refused.
        assert!(!enough(0, 0, 0));
        assert!(enough(1, 0, 0));
        // No overflow with huge settings.
        assert!(!enough(u64::MAX, 0, u64::MAX));
    }

    #[test]
    fn real_file_system() {
        let dir = std::env::temp_dir();
        assert_eq!(check(&dir, 0, 0), None);
        assert!(check(&dir, u64::MAX, 0).is_some());
    }
}
