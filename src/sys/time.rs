//! strftime(3) for formats an administrator configures (`maillog_file_rotate_suffix`).

use std::ffi::CString;

/// `format` applied to local time `secs` by strftime(3); `None` for a format with a NUL
/// byte or a result longer than 1 KiB (or empty).
pub fn strftime(format: &str, secs: i64) -> Option<String> {
    let fmt = CString::new(format).ok()?;
    let t: libc::time_t = secs as libc::time_t;
    let mut buf = [0u8; 1024];
    // SAFETY: tm is plain data filled by localtime_r; strftime writes at most buf.len()
    // bytes into buf (a local array) and reads the NUL-terminated fmt.
    let n = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm)
    };
    if n == 0 {
        return None;
    }
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_default_rotate_suffix() {
        let s = strftime("%Y%m%d-%H%M%S", 1_588_229_790).unwrap();
        assert_eq!(s.len(), 15, "{}", s);
        assert!(s.starts_with("2020"), "{}", s);
        assert_eq!(strftime("a\0b", 0), None);
    }
}
