//! RFC 5322 header blocks, parsed in one place for cleanup, sendmail -t, local delivery's
//! loop check and bounce: where the header block ends and where each logical header (a
//! `name:` line with its continuation lines) begins and ends. Content has LF line ends.
//!
//! Security role: reads untrusted message text; only locates, never rewrites. The rules are
//! Postfix's lenient ones: a header name is printable ASCII without `:`, blanks may stand
//! before the colon, a line starting with a space or tab continues the previous header, and
//! the block ends at an empty line or at the first line that is neither.

use std::ops::Range;

/// One logical header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The whole header, continuation lines and final newline included.
    pub span: Range<usize>,
    pub name: Range<usize>,
    /// After the colon, up to the end of the header (newlines included).
    pub value: Range<usize>,
}

impl Header {
    /// Whether the header's name is `name` (ASCII case-insensitive).
    pub fn is(&self, content: &[u8], name: &str) -> bool {
        content[self.name.clone()].eq_ignore_ascii_case(name.as_bytes())
    }

    /// The value unfolded (line breaks and the blanks around them become one space) and
    /// trimmed.
    pub fn value_text(&self, content: &[u8]) -> String {
        let v = String::from_utf8_lossy(&content[self.value.clone()]);
        v.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// The length of the header name if `line` starts a header field.
fn header_name(line: &[u8]) -> Option<usize> {
    let n = line
        .iter()
        .position(|&b| !(33..=126).contains(&b) || b == b':')?;
    if n == 0 {
        return None;
    }
    let mut i = n;
    while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
        i += 1;
    }
    (i < line.len() && line[i] == b':').then_some(n)
}

/// The headers of `content` and the offset where the header block ends (the blank
/// separator line or the first body line starts there).
pub fn headers(content: &[u8]) -> (Vec<Header>, usize) {
    let mut out: Vec<Header> = Vec::new();
    let mut pos = 0;
    while pos < content.len() {
        let end = content[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .unwrap_or(content.len());
        let line = &content[pos..end];
        if matches!(line[0], b' ' | b'\t')
            && let Some(last) = out.last_mut()
        {
            last.span.end = end;
            last.value.end = end;
            pos = end;
            continue;
        }
        let Some(n) = header_name(line) else { break };
        let colon = pos + line.iter().position(|&b| b == b':').unwrap_or(n);
        out.push(Header {
            span: pos..end,
            name: pos..pos + n,
            value: colon + 1..end,
        });
        pos = end;
    }
    (out, pos)
}

/// The header block of `content` (every header line, without the blank separator).
pub fn header_block(content: &[u8]) -> &[u8] {
    &content[..headers(content).1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_headers_and_the_end_of_the_block() {
        let m = b"Subject: hi\nTo: a@b,\n\tc@d\nX-Blank :v\n\nbody: not a header\n";
        let (h, end) = headers(m);
        assert_eq!(h.len(), 3);
        assert!(h[1].is(m, "to"));
        assert_eq!(h[1].value_text(m), "a@b, c@d");
        assert!(h[2].is(m, "X-Blank"));
        assert_eq!(&m[..end], b"Subject: hi\nTo: a@b,\n\tc@d\nX-Blank :v\n");
        assert_eq!(header_block(m), &m[..end]);
    }

    #[test]
    fn a_non_header_line_or_a_leading_blank_ends_the_block() {
        let (h, end) = headers(b"not a header\nTo: x\n\n");
        assert!(h.is_empty());
        assert_eq!(end, 0);
        assert_eq!(header_block(b"\nbody\n"), b"");
        let (h, end) = headers(b"A: 1\nno colon here\nB: 2\n");
        assert_eq!((h.len(), end), (1, 5));
        assert_eq!(headers(b"A: 1").1, 4, "a last line without a newline");
    }
}
