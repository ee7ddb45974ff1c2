//! BDAT content (RFC 3030) as Postfix 3.x's smtpd stores it: the chunks of one message are
//! one byte stream cut into lines at LF; a CR right before the LF is dropped (CR LF and a
//! bare LF both end a line, a bare LF being noticed for smtpd_forbid_bare_newline =
//! reject); a line may span chunks, even its CR LF; the last line of the final chunk gets
//! its line end when the client left it out. No other byte is special: a `.` line is
//! content, there is no dot-stuffing and no end-of-data sequence, so `<LF>.<LF>` inside a
//! chunk cannot end a message (no SMTP smuggling).
//!
//! The size is counted as Postfix's act_size: each line with a two-byte line end. Past
//! $message_size_limit the content is dropped and only counted.
//!
//! Security role: bounds the memory a message can take; bytes, never text. Logs nothing.

/// The content of a message received in chunks, with LF line ends.
#[derive(Debug, Default)]
pub struct Content {
    /// The lines so far, each ending in LF, then the unfinished line (empty when
    /// `too_big`).
    pub bytes: Vec<u8>,
    /// Bytes of the unfinished line (in `bytes` unless `too_big`).
    line_len: usize,
    /// The unfinished line ends in CR.
    last_cr: bool,
    /// Finished lines, each counted with CR LF (Postfix's act_size).
    pub size: u64,
    /// A line ended in a bare LF.
    pub bare_lf: bool,
    /// Over the limit: `bytes` is dropped.
    pub too_big: bool,
    /// $message_size_limit; 0: none.
    limit: u64,
}

impl Content {
    pub fn new(limit: u64) -> Content {
        Content {
            limit,
            ..Content::default()
        }
    }

    /// The bytes counted so far, the unfinished line included.
    pub fn received(&self) -> u64 {
        self.size + self.line_len as u64
    }

    /// Add a piece of a chunk.
    pub fn feed(&mut self, mut piece: &[u8]) {
        while let Some(lf) = piece.iter().position(|&b| b == b'\n') {
            self.append(&piece[..lf]);
            self.end_line();
            piece = &piece[lf + 1..];
        }
        self.append(piece);
    }

    /// After the final chunk: an unfinished last line is a line.
    pub fn finish(&mut self) {
        if self.line_len > 0 {
            self.size += self.line_len as u64 + 2;
            self.line_len = 0;
            self.last_cr = false;
            self.check_limit();
            if !self.too_big {
                self.bytes.push(b'\n');
            }
        }
    }

    fn append(&mut self, seg: &[u8]) {
        let Some(&last) = seg.last() else {
            return;
        };
        self.line_len += seg.len();
        self.last_cr = last == b'\r';
        if self.limit > 0 && self.received() > self.limit {
            self.overflow();
        }
        if !self.too_big {
            self.bytes.extend_from_slice(seg);
        }
    }

    fn end_line(&mut self) {
        let mut len = self.line_len;
        if self.last_cr {
            len -= 1;
            if !self.too_big {
                self.bytes.pop();
            }
        } else {
            self.bare_lf = true;
        }
        self.size += len as u64 + 2;
        self.line_len = 0;
        self.last_cr = false;
        self.check_limit();
        if !self.too_big {
            self.bytes.push(b'\n');
        }
    }

    fn check_limit(&mut self) {
        if self.limit > 0 && self.size > self.limit {
            self.overflow();
        }
    }

    fn overflow(&mut self) {
        self.too_big = true;
        self.bytes = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(pieces: &[&[u8]], limit: u64) -> Content {
        let mut c = Content::new(limit);
        for p in pieces {
            c.feed(p);
        }
        c.finish();
        c
    }

    #[test]
    fn crlf_and_bare_lf_end_lines_and_dots_are_content() {
        let c = content(&[b"a\r\n.\r\n..b\n.\nc\r\n"], 0);
        assert_eq!(c.bytes, b"a\n.\n..b\n.\nc\n");
        assert!(c.bare_lf);
        assert_eq!(c.size, 5 * 2 + 1 + 1 + 3 + 1 + 1);
        let c = content(&[b"x\r\n\r\n"], 0);
        assert!(!c.bare_lf);
        assert_eq!(c.bytes, b"x\n\n");
    }

    #[test]
    fn lines_and_crlf_span_pieces() {
        let c = content(&[b"ab", b"c\r", b"\nd\r", b"\r\n"], 0);
        assert_eq!(c.bytes, b"abc\nd\r\n");
        assert!(!c.bare_lf);
        let c = content(&[b"a\r", b"", b"\n"], 0);
        assert_eq!(c.bytes, b"a\n");
    }

    #[test]
    fn the_last_line_gets_its_line_end() {
        let c = content(&[b"a\r\nno end"], 0);
        assert_eq!(c.bytes, b"a\nno end\n");
        assert_eq!(c.size, 3 + 8);
        let c = content(&[b"cr\r"], 0);
        assert_eq!(c.bytes, b"cr\r\n");
        assert!(content(&[], 0).bytes.is_empty());
    }

    #[test]
    fn bare_cr_and_nul_are_kept() {
        let c = content(&[b"a\rb\0c\r\n"], 0);
        assert_eq!(c.bytes, b"a\rb\0c\n");
    }

    #[test]
    fn over_the_limit_is_counted_and_dropped() {
        // Exactly the limit is fine: 4 + 2 bytes.
        let c = content(&[b"abcd\r\n"], 6);
        assert!(!c.too_big);
        let c = content(&[b"abcd\n"], 6);
        assert!(!c.too_big, "a bare LF line counts with CR LF: 6");
        let c = content(&[b"abcde\n"], 6);
        assert!(c.too_big);
        assert!(c.bytes.is_empty());
        assert_eq!(c.size, 7);
        let mut c = Content::new(6);
        c.feed(b"abcdefgh");
        assert!(c.too_big, "an unfinished line counts too");
        assert_eq!(c.received(), 8);
    }
}
