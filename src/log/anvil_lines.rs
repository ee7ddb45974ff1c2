//! anvil's statistics lines, as Postfix's anvil(8) writes them when it exits (re-exported
//! by `lines`). Logs the lines below; values are numbers and the service's own identifier.

use super::{info, timefmt};

/// anvil's exit statistics: `statistics: max connection rate 1/60s for (smtp:127.0.0.1)
/// at Dec  2 20:10:11` (also message, recipient, newtls).
pub fn anvil_max_rate(what: &str, value: u32, unit_secs: u64, ident: &str, when: i64) {
    info(
        "anvil",
        format!(
            "statistics: max {} rate {}/{}s for ({}) at {}",
            what,
            value,
            unit_secs,
            ident,
            timefmt::syslog_stamp(when)
        ),
    );
}

/// `statistics: max connection count 1 for (smtp:127.0.0.1) at Dec  2 20:10:11`.
pub fn anvil_max_count(value: u32, ident: &str, when: i64) {
    info(
        "anvil",
        format!(
            "statistics: max connection count {} for ({}) at {}",
            value,
            ident,
            timefmt::syslog_stamp(when)
        ),
    );
}

/// `statistics: max cache size 1 at Dec  2 20:10:11`.
pub fn anvil_max_cache(value: usize, when: i64) {
    info(
        "anvil",
        format!(
            "statistics: max cache size {} at {}",
            value,
            timefmt::syslog_stamp(when)
        ),
    );
}
