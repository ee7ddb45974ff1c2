//! The message as it goes over the wire after DATA (RFC 5321 sections 4.5.2 and 4.5.3.1.6):
//! CR LF line ends, a leading dot doubled, and lines longer than smtp_line_length_limit
//! broken. Postfix breaks a long line by inserting CR LF SPACE, so that a broken header
//! line becomes a header continuation line and MIME structure survives; this encoder
//! does the same: the first piece carries `limit` bytes, every following piece is a
//! space plus at most `limit - 1` bytes, so no transmitted line exceeds `limit` bytes
//! (998 by default, the SMTP limit of 1000 including CR LF).
//!
//! Security role: a message line that is just "." can never end the transmission early,
//! and a bare CR LF . CR LF sequence inside the content cannot be produced. Logs nothing.

/// The transmitted form of `content` (LF or CR LF line ends), ending with the final
/// `.` line. `limit` 0 means no folding.
pub fn encode(content: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 32 + 8);
    if !content.is_empty() {
        let body = content.strip_suffix(b"\n").unwrap_or(content);
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            put_line(&mut out, line, limit);
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn put_line(out: &mut Vec<u8>, line: &[u8], limit: usize) {
    // A leading dot is doubled on the wire, so such a line has one byte less to spare.
    let first_room = if line.first() == Some(&b'.') {
        limit.saturating_sub(1)
    } else {
        limit
    };
    if limit < 2 || line.len() <= first_room {
        stuffed(out, line);
        return;
    }
    let (first, mut rest) = line.split_at(first_room);
    stuffed(out, first);
    while !rest.is_empty() {
        let n = rest.len().min(limit - 1);
        out.push(b' ');
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
}

fn stuffed(out: &mut Vec<u8>, line: &[u8]) {
    if line.first() == Some(&b'.') {
        out.push(b'.');
    }
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
}

/// Whether any byte has the high bit set (BODY=8BITMIME).
pub fn is_8bit(content: &[u8]) -> bool {
    content.iter().any(|&b| b >= 0x80)
}

/// The size announced with SIZE=: the content with CR LF line ends.
pub fn wire_size(content: &[u8]) -> u64 {
    let lf = content.iter().filter(|&&b| b == b'\n').count();
    let crlf = content.windows(2).filter(|w| w == b"\r\n").count();
    (content.len() + lf - crlf) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folded_line_starting_with_a_dot_stays_within_the_limit() {
        let line = format!(".{}\n", "x".repeat(30));
        let out = encode(line.as_bytes(), 10);
        for l in out.split(|&b| b == b'\n') {
            assert!(l.len() <= 11, "{:?}", String::from_utf8_lossy(l)); // 10 + CR
        }
        assert!(
            out.starts_with(b"..xxxxxxxx\r\n xxxxxxxxx\r\n"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn crlf_and_dot_stuffing() {
        assert_eq!(
            encode(b"Subject: x\n\n.\n..a\nb.\n", 998),
            b"Subject: x\r\n\r\n..\r\n...a\r\nb.\r\n.\r\n".to_vec()
        );
        assert_eq!(encode(b"", 998), b".\r\n".to_vec());
        assert_eq!(encode(b"no newline", 998), b"no newline\r\n.\r\n".to_vec());
        assert_eq!(encode(b"a\r\nb\r\n", 998), b"a\r\nb\r\n.\r\n".to_vec());
    }

    #[test]
    fn long_lines_are_broken_with_crlf_space() {
        let line = [b'x'; 25];
        let out = encode(&[&line[..], b"\n"].concat(), 10);
        assert_eq!(
            out,
            b"xxxxxxxxxx\r\n xxxxxxxxx\r\n xxxxxx\r\n.\r\n".to_vec()
        );
        for l in out.split(|&b| b == b'\n') {
            assert!(l.len() <= 11, "{:?}", l);
        }
        // Exactly at the limit: unchanged.
        assert_eq!(encode(&[b'y'; 10], 10), b"yyyyyyyyyy\r\n.\r\n".to_vec());
    }

    #[test]
    fn sizes_and_8bit() {
        assert_eq!(wire_size(b"a\nb\n"), 6);
        assert_eq!(wire_size(b"a\r\nb\n"), 6);
        assert!(is_8bit("é".as_bytes()));
        assert!(!is_8bit(b"plain"));
    }
}
