//! Time stamps in the formats mail needs: syslog (`Apr 30 14:19:25`), RFC 5322 Date
//! (`Thu, 30 Apr 2020 14:56:30 +0800 (CST)`), the mbox From_ line (`Thu Apr 30 14:57:55
//! 2020`), and Postfix's delay figures (`delay=0.05`, `delays=105/0.04/0.16/0.49`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sys::local_time;

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `Apr 30 14:19:25` (day padded with a space, as syslog does).
pub fn syslog_stamp(secs: i64) -> String {
    let t = local_time(secs);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[t.month as usize], t.day, t.hour, t.min, t.sec
    )
}

/// `Thu, 30 Apr 2020 14:56:30 +0800 (CST)`, as Postfix's mail_date() writes Date: and
/// Received: headers: strftime's `%e`, so a one-digit day is padded with a space
/// (`Wed,  2 Dec 2026`).
pub fn rfc2822(secs: i64) -> String {
    let t = local_time(secs);
    let off = t.gmtoff;
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    format!(
        "{}, {:>2} {} {} {:02}:{:02}:{:02} {}{:02}{:02} ({})",
        DAYS[t.weekday as usize],
        t.day,
        MONTHS[t.month as usize],
        t.year,
        t.hour,
        t.min,
        t.sec,
        sign,
        off / 3600,
        (off % 3600) / 60,
        t.zone_name()
    )
}

/// `Thu Apr 30 14:57:55 2020`, as in an mbox From_ line (asctime without the newline).
pub fn asctime(secs: i64) -> String {
    let t = local_time(secs);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[t.weekday as usize], MONTHS[t.month as usize], t.day, t.hour, t.min, t.sec, t.year
    )
}

/// Significant digits of a delay figure (Postfix's log_adhoc.c).
const SIG_DIGITS: u32 = 2;
/// Decimals at most: Postfix's delay_logging_resolution_limit default.
const MAX_DECIMALS: u32 = 2;

/// The total `delay=` figure, as Postfix's format_tv(): see `delay_part`.
pub fn delay_total(d: Duration) -> String {
    format_tv(d)
}

/// One `delays=` part, as Postfix's format_tv() with two significant digits and at most
/// two decimals, rounded half up: `0` below 0.005 s, `0.04`, `0.1`, `1.3`, `10` from
/// 9.95 s, whole seconds from there.
pub fn delay_part(d: Duration) -> String {
    format_tv(d)
}

fn format_tv(d: Duration) -> String {
    const MILLION: u64 = 1_000_000;
    let mut sec = d.as_secs();
    let mut usec = u64::from(d.subsec_micros());
    let wid = 10u64.pow(SIG_DIGITS);
    // The resolution in microseconds: finer digits are not shown.
    let mut ures = MILLION / 10u64.pow(MAX_DECIMALS);
    if ures < MILLION {
        if sec > 0 {
            let mut n = 1;
            while sec >= n && n <= wid / 10 {
                n *= 10;
            }
            ures = (MILLION / wid) * n;
        } else {
            while usec >= wid * ures {
                ures *= 10;
            }
        }
    }
    if ures > 1 {
        usec += ures / 2;
        if usec >= MILLION {
            sec += 1;
            usec -= MILLION;
        }
    }
    let mut out = sec.to_string();
    if usec >= ures {
        out.push('.');
        let (mut rem, mut n) = (usec, MILLION / 10);
        while rem >= ures && n > 0 {
            out.push(char::from(b'0' + (rem / n) as u8));
            rem %= n;
            n /= 10;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_formats_match_postfix_examples() {
        // Values worked through Postfix's format_tv(sec, usec, 2, 2) by hand.
        assert_eq!(delay_total(Duration::from_millis(105_290)), "105");
        assert_eq!(delay_total(Duration::from_millis(105_690)), "106");
        assert_eq!(delay_total(Duration::from_millis(4_120)), "4.1");
        assert_eq!(delay_total(Duration::from_millis(50)), "0.05");
        assert_eq!(delay_part(Duration::from_millis(40)), "0.04");
        assert_eq!(delay_part(Duration::from_millis(160)), "0.16");
        assert_eq!(delay_part(Duration::from_millis(100)), "0.1");
        assert_eq!(delay_part(Duration::from_millis(1_300)), "1.3");
        assert_eq!(delay_part(Duration::from_millis(1_000)), "1");
        assert_eq!(delay_part(Duration::from_millis(9_960)), "10");
        assert_eq!(delay_part(Duration::from_millis(61_000)), "61");
        assert_eq!(delay_part(Duration::ZERO), "0");
        assert_eq!(delay_part(Duration::from_micros(4_900)), "0");
        assert_eq!(delay_part(Duration::from_micros(5_000)), "0.01");
        assert_eq!(delay_part(Duration::from_micros(994_999)), "0.99");
        assert_eq!(delay_part(Duration::from_micros(995_000)), "1");
    }

    #[test]
    fn date_shapes() {
        let d = rfc2822(1_588_229_790);
        assert!(d.contains("2020"), "{}", d);
        // 2 December 2026 at noon UTC is the 2nd in every time zone: `%e`.
        let d = rfc2822(1_796_212_800);
        assert!(d.contains(",  2 Dec 2026 "), "{}", d);
        assert!(d.ends_with(')'));
        let a = asctime(1_588_229_790);
        assert_eq!(a.len(), 24, "{}", a);
        assert_eq!(syslog_stamp(1_588_229_790).len(), 15);
    }
}
