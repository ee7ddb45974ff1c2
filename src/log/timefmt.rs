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

/// `Thu, 30 Apr 2020 14:56:30 +0800 (CST)`, as Postfix's cleanup writes Date: headers.
pub fn rfc2822(secs: i64) -> String {
    let t = local_time(secs);
    let off = t.gmtoff;
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {}{:02}{:02} ({})",
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

/// The total `delay=` figure: whole seconds from one second up, two significant digits below.
pub fn delay_total(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{}", d.as_secs())
    } else {
        small(s)
    }
}

/// One `delays=` part: whole seconds from ten up, one decimal from one, two significant
/// digits below one.
pub fn delay_part(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{}", d.as_secs())
    } else if s >= 1.0 {
        format!("{:.1}", (s * 10.0).trunc() / 10.0)
    } else {
        small(s)
    }
}

fn small(s: f64) -> String {
    if s < 0.000_01 {
        return "0".to_string();
    }
    // Two significant digits, no trailing zeros, no exponent.
    let digits = (-s.log10().floor()) as usize + 1;
    let text = format!("{:.*}", digits, s);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_formats_match_postfix_examples() {
        assert_eq!(delay_total(Duration::from_millis(105_690)), "105");
        assert_eq!(delay_total(Duration::from_millis(4_120)), "4");
        assert_eq!(delay_total(Duration::from_millis(50)), "0.05");
        assert_eq!(delay_part(Duration::from_millis(40)), "0.04");
        assert_eq!(delay_part(Duration::from_millis(160)), "0.16");
        assert_eq!(delay_part(Duration::from_millis(1_300)), "1.3");
        assert_eq!(delay_part(Duration::from_millis(61_000)), "61");
        assert_eq!(delay_part(Duration::ZERO), "0");
        assert_eq!(delay_part(Duration::from_micros(4_900)), "0.0049");
    }

    #[test]
    fn date_shapes() {
        let d = rfc2822(1_588_229_790);
        assert!(d.contains("2020"), "{}", d);
        assert!(d.ends_with(')'));
        let a = asctime(1_588_229_790);
        assert_eq!(a.len(), 24, "{}", a);
        assert_eq!(syslog_stamp(1_588_229_790).len(), 15);
    }
}
