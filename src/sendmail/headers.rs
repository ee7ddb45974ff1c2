//! Header handling for `sendmail -t`: recipients from To:, Cc: and Bcc:, and removal of Bcc:.

/// Split the header block off, returning (logical headers with their raw lines, body offset).
fn header_lines(content: &[u8]) -> (Vec<(usize, usize)>, usize) {
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < content.len() {
        let end = content[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .unwrap_or(content.len());
        let line = &content[pos..end];
        if line == b"\n" {
            return (spans, end);
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        let is_header = line
            .iter()
            .take_while(|&&b| b != b':')
            .all(|&b| b > 32 && b < 127)
            && line.contains(&b':');
        match (continuation, spans.last_mut()) {
            (true, Some(span)) => span.1 = end,
            _ if is_header => spans.push((pos, end)),
            _ => return (spans, pos),
        }
        pos = end;
    }
    (spans, content.len())
}

/// Addresses in a header value: `Name <a@b>, c@d, "x, y" <e@f>`.
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut depth = 0;
    for c in value.chars().chain(std::iter::once(',')) {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            ',' if !quoted && depth == 0 => {
                let t = cur.trim();
                let addr = match (t.find('<'), t.rfind('>')) {
                    (Some(a), Some(b)) if a < b => t[a + 1..b].trim().to_string(),
                    (None, None) => t.split_whitespace().next().unwrap_or("").to_string(),
                    // Unbalanced angle brackets: not an address; skipped.
                    _ => String::new(),
                };
                if !addr.is_empty() && !addr.ends_with(':') && !addr.ends_with(";") {
                    out.push(addr);
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        if depth == 0 && c != '(' && c != ')' {
            cur.push(c);
        }
    }
    out
}

/// Recipients from To:, Cc: and Bcc: (also Resent-*), and the content without Bcc: headers.
pub fn extract_recipients(content: &[u8]) -> (Vec<String>, Vec<u8>) {
    let (spans, body) = header_lines(content);
    let mut rcpts = Vec::new();
    let mut out = Vec::with_capacity(content.len());
    let mut last = 0;
    for (start, end) in spans {
        let text = String::from_utf8_lossy(&content[start..end]);
        let (name, value) = text.split_once(':').unwrap_or((&text, ""));
        let name = name.trim().to_ascii_lowercase();
        let unfolded = value.replace(['\n', '\r'], " ");
        if matches!(
            name.as_str(),
            "to" | "cc" | "bcc" | "resent-to" | "resent-cc" | "resent-bcc"
        ) {
            rcpts.extend(addresses(&unfolded));
        }
        out.extend_from_slice(&content[last..start]);
        if name != "bcc" && name != "resent-bcc" {
            out.extend_from_slice(&content[start..end]);
        }
        last = end;
    }
    let _ = body;
    out.extend_from_slice(&content[last..]);
    (rcpts, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_cc_bcc_and_bcc_removed() {
        let msg = b"From: me\nTo: A <a@x.test>, b@x.test\nCc: \"Smith, J\" <c@x.test>\nBcc: d@x.test,\n e@x.test\nSubject: s\n\nTo: not@header\n";
        let (r, out) = extract_recipients(msg);
        assert_eq!(
            r,
            vec!["a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test"]
        );
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("Bcc"));
        assert!(!out.contains("e@x.test"));
        assert!(out.contains("Subject: s\n\nTo: not@header\n"));
    }

    #[test]
    fn malformed_headers_stop_the_header_block() {
        let (r, out) = extract_recipients(b"not a header line\nTo: a@b\n\n");
        assert!(r.is_empty());
        assert_eq!(out, b"not a header line\nTo: a@b\n\n");
        assert_eq!(addresses("undisclosed-recipients:;"), Vec::<String>::new());
        assert_eq!(addresses("x@y (Comment, here)"), vec!["x@y"]);
        assert_eq!(addresses("<unterminated@x, ok@y"), vec!["ok@y"]);
        assert_eq!(addresses("bad> , Name <good@z>"), vec!["good@z"]);
    }
}
