//! Header handling for `sendmail -t`: recipients from To:, Cc: and Bcc:, and removal of Bcc:.

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
    let (headers, _) = crate::message::headers(content);
    let mut rcpts = Vec::new();
    let mut out = Vec::with_capacity(content.len());
    let mut last = 0;
    for h in headers {
        let name = String::from_utf8_lossy(&content[h.name.clone()]).to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "to" | "cc" | "bcc" | "resent-to" | "resent-cc" | "resent-bcc"
        ) {
            rcpts.extend(addresses(&h.value_text(content)));
        }
        out.extend_from_slice(&content[last..h.span.start]);
        if name != "bcc" && name != "resent-bcc" {
            out.extend_from_slice(&content[h.span.clone()]);
        }
        last = h.span.end;
    }
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
