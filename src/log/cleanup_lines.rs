//! cleanup's content-inspection lines (header_checks, body_checks, MIME errors, map
//! problems), as Postfix's cleanup(8) writes them (re-exported by `lines`). Message text
//! is client input: it is cut and made printable here.

use super::{info, printable, warning};

/// What cleanup's content inspection names in its log lines.
pub struct CleanupAct<'a> {
    pub queue_id: &'a str,
    /// `reject`, `warning`, `hold`, `discard`, `redirect`, `bcc`, `prepend`, `replace`, ...
    pub action: &'a str,
    /// `header` or `body`.
    pub class: &'a str,
    /// The header or body line (the first 200 characters are logged).
    pub content: &'a str,
    /// `host[addr]`, or `local`.
    pub origin: &'a str,
    pub from: &'a str,
    pub to: Option<&'a str>,
    pub proto: Option<&'a str>,
    pub helo: Option<&'a str>,
    /// The action's text (the reject reason, the WARN text, ...); empty for none.
    pub text: &'a str,
}

/// `ID: reject: header Subject: xxx from host[addr]; from=<s> to=<r> proto=ESMTP
/// helo=<h>: 5.7.1 text` (cleanup; other actions in place of `reject`, `body` lines too).
pub fn cleanup_act(a: &CleanupAct<'_>) {
    let content: String = a.content.chars().take(200).collect();
    let mut line = format!(
        "{}: {}: {} {} from {};",
        a.queue_id,
        a.action,
        a.class,
        printable(&content),
        a.origin
    );
    line.push_str(&format!(" from=<{}>", printable(a.from)));
    if let Some(t) = a.to {
        line.push_str(&format!(" to=<{}>", printable(t)));
    }
    if let Some(p) = a.proto {
        line.push_str(&format!(" proto={}", p));
    }
    if let Some(h) = a.helo {
        line.push_str(&format!(" helo=<{}>", printable(h)));
    }
    if !a.text.is_empty() {
        line.push_str(&format!(": {}", printable(a.text)));
    }
    info("cleanup", line);
}

/// `ID: reject: mime-error MIME nesting exceeds safety limit: TEXT from host[addr];
/// from=<s> to=<r>` (cleanup; the first 100 characters of the offending header).
pub fn cleanup_mime_error(a: &CleanupAct<'_>, error: &str) {
    let content: String = a.content.chars().take(100).collect();
    info(
        "cleanup",
        format!(
            "{}: reject: mime-error {}: {} from {}; from=<{}> to=<{}>",
            a.queue_id,
            error,
            printable(&content),
            a.origin,
            printable(a.from),
            printable(a.to.unwrap_or("unknown"))
        ),
    );
}

/// `warning: ID: header_checks map lookup problem -- message not accepted, try again later`.
pub fn cleanup_map_problem(queue_id: &str, title: &str) {
    warning(
        "cleanup",
        format!(
            "{}: {} map lookup problem -- message not accepted, try again later",
            queue_id, title
        ),
    );
}
