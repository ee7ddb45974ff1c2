//! Header facts for cleanup (the parsing itself is `crate::message`): where the header block
//! ends, which of the headers cleanup may add are present, the Message-ID value, and the hop
//! count (Received: headers); header_size_limit; and the bytes a header line may not carry.
//! The body is never scanned.
//!
//! Security role: reads untrusted message text. Header lines are cut at a NUL and a bare CR
//! becomes a space, as Postfix's cleanup stores them (its header buffer is a C string, and
//! cleanup_replace_stray_cr_lf): a mail reader that takes a bare CR for a line break could
//! otherwise be shown headers the sender injected. Logs nothing.

/// What cleanup needs to know about a message's headers.
#[derive(Debug, Default, PartialEq)]
pub struct HeaderScan {
    /// Offset just past the last header line (the blank separator or the first body line
    /// starts here).
    pub end: usize,
    pub message_id: Option<String>,
    pub has_date: bool,
    pub has_from: bool,
    pub hops: usize,
}

/// Scan the header block of `content` (LF line ends).
pub fn scan(content: &[u8]) -> HeaderScan {
    let (headers, end) = crate::message::headers(content);
    let mut s = HeaderScan {
        end,
        ..Default::default()
    };
    for h in &headers {
        note(&mut s, &content[h.name.clone()], &content[h.value.clone()]);
    }
    s
}

fn note(s: &mut HeaderScan, name: &[u8], value: &[u8]) {
    // Only Received: counts as a hop, as in Postfix's cleanup.
    if name.eq_ignore_ascii_case(b"received") {
        s.hops += 1;
    } else if name.eq_ignore_ascii_case(b"date") {
        s.has_date = true;
    } else if name.eq_ignore_ascii_case(b"from") {
        s.has_from = true;
    } else if name.eq_ignore_ascii_case(b"message-id") && s.message_id.is_none() {
        let v = String::from_utf8_lossy(value);
        let v: String = v.split_whitespace().collect::<Vec<_>>().join(" ");
        s.message_id = Some(v);
    }
}

/// `YYYYMMDDhhmmss` in UTC, as Postfix builds Message-Id values.
pub fn utc_stamp(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        y,
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Cut every logical header (with its continuation lines) in the header block
/// `content[..end]` to at most `limit` bytes, as header_size_limit does: the excess is
/// discarded. Returns `None` when nothing was too long.
pub fn limit_header_sizes(content: &[u8], end: usize, limit: usize) -> Option<Vec<u8>> {
    let (headers, block_end) = crate::message::headers(&content[..end]);
    if limit == 0 || headers.iter().all(|h| h.span.len() <= limit) {
        return None;
    }
    let mut out = Vec::with_capacity(content.len());
    for h in headers {
        if h.span.len() <= limit {
            out.extend_from_slice(&content[h.span]);
        } else {
            out.extend_from_slice(&content[h.span.start..h.span.start + limit.saturating_sub(1)]);
            out.push(b'\n');
        }
    }
    out.extend_from_slice(&content[block_end..]);
    Some(out)
}

/// header_size_limit for the headers of multipart body parts and attached messages, as
/// Postfix's MIME parser cuts every header it collects: each logical header longer than
/// `limit` is cut like a primary one (`limit_header_sizes`). Nothing is walked when the
/// whole content fits in `limit` or MIME processing is off. `None` when nothing was cut.
pub fn limit_part_header_sizes(
    content: &[u8],
    limits: super::mime::Limits,
    limit: usize,
) -> Option<Vec<u8>> {
    use super::mime::{Class, Kind};
    if limit == 0 || limits.disable_mime || content.len() <= limit {
        return None;
    }
    let mut long = Vec::new();
    super::mime::walk(content, limits, &mut |p| {
        let part = matches!(p.kind, Kind::Header(Class::Multipart | Class::Nested));
        if part && p.span.len() > limit {
            long.push(p.span);
        }
        true
    });
    if long.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(content.len());
    let mut at = 0;
    for span in long {
        out.extend_from_slice(&content[at..span.start + limit.saturating_sub(1)]);
        out.push(b'\n');
        at = span.end;
    }
    out.extend_from_slice(&content[at..]);
    Some(out)
}

/// The header block `content[..end]` with every line cut at its first NUL (its line end
/// kept) and every CR not followed by LF replaced by a space. `None` when no line has
/// either, so the common case copies nothing.
pub fn clean_header_bytes(content: &[u8], end: usize) -> Option<Vec<u8>> {
    let end = end.min(content.len());
    let head = content.get(..end)?;
    if !head.iter().any(|&b| b == 0 || b == b'\r') {
        return None;
    }
    let mut out = Vec::with_capacity(content.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        let (text, eol) = match line.strip_suffix(b"\n") {
            Some(t) => (t, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        let text = match text.iter().position(|&b| b == 0) {
            Some(nul) => text.get(..nul).unwrap_or(text),
            None => text,
        };
        let last = text.len().saturating_sub(1);
        for (i, &b) in text.iter().enumerate() {
            // A CR just before the LF is a line end (CR LF), not a stray CR.
            let line_end = i == last && !eol.is_empty();
            out.push(if b == b'\r' && !line_end { b' ' } else { b });
        }
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(content.get(end..).unwrap_or_default());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_headers_are_cut_to_the_limit_too() {
        let limits = super::super::mime::Limits {
            nesting: 100,
            boundary_len: 2048,
            disable_mime: false,
        };
        let long = format!("X-Long: {}\n\tmore {}\n", "a".repeat(60), "b".repeat(60));
        let msg = format!(
            "Subject: s\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n{}Content-Type: text/plain\n\nbody {}\n--zz--\n",
            long,
            "c".repeat(100)
        );
        let out = limit_part_header_sizes(msg.as_bytes(), limits, 50).unwrap();
        let out = String::from_utf8(out).unwrap();
        let want = format!(
            "--zz\nX-Long: {}\nContent-Type: text/plain\n",
            "a".repeat(41)
        );
        assert!(out.contains(&want), "{}", out);
        assert!(!out.contains("more"), "{}", out);
        assert!(
            out.contains(&format!("body {}\n--zz--\n", "c".repeat(100))),
            "{}",
            out
        );
        // A body line is not a header; the primary headers are left to limit_header_sizes.
        assert_eq!(limit_part_header_sizes(msg.as_bytes(), limits, 500), None);
        let off = super::super::mime::Limits {
            disable_mime: true,
            ..limits
        };
        assert_eq!(limit_part_header_sizes(msg.as_bytes(), off, 50), None);
    }

    #[test]
    fn header_lines_are_cut_at_nul_and_bare_cr_becomes_a_space() {
        let m =
            b"Subject: x \x00y\nTo: a\rBcc: evil@x\n\tmore\x00\rz\nX: ok\r\n\nbody \x00 \r kept\n";
        let end = scan(m).end;
        let clean = clean_header_bytes(m, end).unwrap();
        assert_eq!(
            clean,
            b"Subject: x \nTo: a Bcc: evil@x\n\tmore\nX: ok\r\n\nbody \x00 \r kept\n"
        );
        assert_eq!(
            scan(&clean).end,
            clean.len() - b"\nbody \x00 \r kept\n".len()
        );
        assert_eq!(clean_header_bytes(b"Subject: fine\n\nx\x00\n", 14), None);
        assert_eq!(clean_header_bytes(b"A: 1\x00", 6).unwrap(), b"A: 1");
    }

    #[test]
    fn overlong_headers_are_cut() {
        let long = format!("X-Long: {}\n\t{}\n", "a".repeat(50), "b".repeat(50));
        let msg = format!(
            "Subject: s\n{}To: t\n\nbody line that is long enough to pass the limit\n",
            long
        );
        let end = scan(msg.as_bytes()).end;
        let out = String::from_utf8(limit_header_sizes(msg.as_bytes(), end, 40).unwrap()).unwrap();
        assert_eq!(
            out,
            format!(
                "Subject: s\nX-Long: {}\nTo: t\n\nbody line that is long enough to pass the limit\n",
                "a".repeat(31)
            )
        );
        assert!(limit_header_sizes(b"Subject: s\n\nbody\n", 11, 40).is_none());
    }

    #[test]
    fn finds_block_end_and_fields() {
        let m =
            b"Subject: hi\nReceived: a\n\tb\nDelivered-To: u@h\nMessage-ID:  <x@y>\nDATE: now\n\nbody: not a header\n";
        let s = scan(m);
        assert_eq!(&m[s.end..], b"\nbody: not a header\n");
        assert_eq!(s.hops, 1, "only Received: is a hop");
        assert_eq!(s.message_id.as_deref(), Some("<x@y>"));
        assert!(s.has_date);
        assert!(!s.has_from);
    }

    #[test]
    fn block_ended_by_non_header_line() {
        let m = b"Subject:How are you these days?\nAre you gua lema?\n";
        let s = scan(m);
        assert_eq!(&m[s.end..], b"Are you gua lema?\n");
        let s = scan(b"hello\n");
        assert_eq!(s.end, 0);
        assert_eq!(scan(b"").end, 0);
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(1_588_232_548), "20200430074228");
        assert_eq!(utc_stamp(0), "19700101000000");
        assert_eq!(utc_stamp(951_782_400), "20000229000000");
    }
}
