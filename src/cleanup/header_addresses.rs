//! Address rewriting in message headers (Postfix's cleanup_rewrite_sender and
//! cleanup_rewrite_recip, with header_opts' classes): the addresses of sender headers
//! (From:, Sender:, Reply-To:, Errors-To:, Return-Path:, Return-Receipt-To:,
//! Disposition-Notification-To:, Mail-Followup-To:, Resent-From:, Resent-Sender:) and of
//! recipient headers (To:, Cc:, Bcc:, Apparently-To:, Resent-To:, Resent-Cc:, Resent-Bcc:,
//! Resent-Reply-To:) are each given to the caller, and the header is rebuilt only when one
//! changed: only the changed addr-specs are replaced (crate::rewrite::address_list), so
//! display names, comments and folding stay as they were.
//!
//! Security role: parses untrusted header text; a header that is not UTF-8 is left as it is.
//! Logs nothing.

use crate::rewrite::address_list;

/// Which kind of addresses a header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    Sender,
    Recipient,
}

const SENDER: &[&str] = &[
    "disposition-notification-to",
    "errors-to",
    "from",
    "mail-followup-to",
    "reply-to",
    "resent-from",
    "resent-sender",
    "return-path",
    "return-receipt-to",
    "sender",
];

const RECIPIENT: &[&str] = &[
    "apparently-to",
    "bcc",
    "cc",
    "resent-bcc",
    "resent-cc",
    "resent-reply-to",
    "resent-to",
    "to",
];

/// The kind of header `name`, if it carries addresses to rewrite.
pub fn kind_of(name: &[u8]) -> Option<HeaderKind> {
    let name = std::str::from_utf8(name).ok()?.trim().to_ascii_lowercase();
    if SENDER.contains(&name.as_str()) {
        Some(HeaderKind::Sender)
    } else if RECIPIENT.contains(&name.as_str()) {
        Some(HeaderKind::Recipient)
    } else {
        None
    }
}

/// Rewrite the address headers of the header block `content[..end]`: `map` gives each
/// address (internal form) its new form. Returns the new content, or `None` when nothing
/// changed.
pub fn rewrite<E>(
    content: &[u8],
    end: usize,
    mut map: impl FnMut(&str, HeaderKind) -> Result<String, E>,
) -> Result<Option<Vec<u8>>, E> {
    let (headers, block_end) = crate::message::headers(content.get(..end).unwrap_or(content));
    let mut out: Vec<u8> = Vec::new();
    let mut changed = false;
    for h in &headers {
        let new = match kind_of(&content[h.name.clone()]) {
            Some(kind) => rewrite_value(&content[h.value.clone()], kind, &mut map)?,
            None => None,
        };
        match new {
            Some(value) => {
                changed = true;
                out.extend_from_slice(&content[h.span.start..h.value.start]);
                out.extend_from_slice(value.as_bytes());
            }
            None => out.extend_from_slice(&content[h.span.clone()]),
        }
    }
    if !changed {
        return Ok(None);
    }
    out.extend_from_slice(&content[block_end..]);
    Ok(Some(out))
}

/// One header value, or `None` when no address in it changed.
fn rewrite_value<E>(
    value: &[u8],
    kind: HeaderKind,
    map: &mut impl FnMut(&str, HeaderKind) -> Result<String, E>,
) -> Result<Option<String>, E> {
    let Ok(value) = std::str::from_utf8(value) else {
        return Ok(None);
    };
    let mut edits = Vec::new();
    for a in address_list::addresses(value) {
        if a.address.is_empty() {
            continue;
        }
        let new = map(&a.address, kind)?;
        if new != a.address {
            edits.push((a.range, address_list::externalize(&new)));
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    Ok(Some(address_list::splice(value, &edits)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_address_headers_and_changed_addresses() {
        let m = b"Received: from a@x.test\nFrom: Joe <joe@x.test>\nTo: a@y.test,\n  \"B\" <b@x.test> (c)\nSubject: joe@x.test\n\nFrom: joe@x.test\n";
        let end = crate::cleanup::headers::scan(m).end;
        let out = rewrite(m, end, |a, k| {
            Ok::<_, ()>(match k {
                HeaderKind::Sender => a.replace("joe", "joseph"),
                HeaderKind::Recipient => a.replace("@x.test", "@z.test"),
            })
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Received: from a@x.test\nFrom: Joe <joseph@x.test>\nTo: a@y.test,\n  \"B\" <b@z.test> (c)\nSubject: joe@x.test\n\nFrom: joe@x.test\n"
        );
        assert_eq!(rewrite(m, end, |a, _| Ok::<_, ()>(a.to_string())), Ok(None));
        assert_eq!(rewrite(m, end, |_, _| Err::<String, _>(7)), Err(7));
    }
}
