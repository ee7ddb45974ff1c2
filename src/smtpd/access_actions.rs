//! The access(5) actions that do not decide a restriction by themselves (Postfix's
//! check_table_result in smtpd_check.c): INFO and WARN log and go on; FILTER, HOLD,
//! DISCARD, REDIRECT, BCC (Postfix 3.0) and PREPEND are remembered for the transaction in
//! `Facts::saved` and carried out by cleanup (session hands them over at the end of DATA):
//! HOLD puts the whole message in hold/, DISCARD accepts it and drops it (and permits, as
//! Postfix), REDIRECT sends it to one address instead of all recipients, BCC adds a
//! recipient, PREPEND adds a header line above smtpd's Received: header. DEFER_IF_REJECT
//! and DEFER_IF_PERMIT record a deferral (`super::saved`): a later 5xx rejection in the
//! same stage, or a permit of the RCPT or DATA command, becomes
//! `450 4.7.1 <NAME>: CLASS rejected: TEXT` (text `Service unavailable` by default; the
//! code $access_map_defer_code).
//!
//! As Postfix, the delegated actions are skipped with a warning when there is no
//! transaction yet (client and HELO restrictions with smtpd_delay_reject = no), a
//! REDIRECT or BCC target needs `user@domain`, a FILTER `transport:destination`, and a
//! PREPEND text must be a header (`name: value`), and is ignored with Postfix's warning in
//! smtpd_end_of_data_restrictions.
//!
//! Security role: the texts come from the administrator's tables; only the looked-up key
//! (client data) appears in warnings, made printable. Logs (log::lines::reject_kind):
//! `NOQUEUE: info|warn|filter|hold|discard|redirect|bcc: STAGE from host[addr]: TEXT;
//! from=<...> to=<...> proto=... helo=<...>`; warnings `access table TABLE entry "KEY"
//! requires user@domain target` (and the FILTER and PREPEND ones).

use super::policy_types::{Class, Decision, Facts, reply};
use crate::log::{self, lines};

/// An access table's answer being acted on.
pub struct Found<'a> {
    /// The table's `type:name` (or the policy server) for warnings.
    pub source: &'a str,
    /// The key that matched (Postfix's "datum" in warnings).
    pub key: &'a str,
    /// The text after the action word.
    pub text: &'a str,
    /// The `<...>` of log lines and replies.
    pub name: &'a str,
    pub class: Class,
    /// $access_map_defer_code.
    pub defer_code: u16,
}

/// Act on `word` (upper case) if it is one of this module's actions; `None` otherwise.
pub fn act(word: &str, a: &Found<'_>, f: &Facts<'_>) -> Option<Decision> {
    match word {
        "INFO" => f.log("info", a.text),
        "WARN" => f.log("warn", a.text),
        "FILTER" => filter(a, f),
        "HOLD" => hold(a, f),
        "DISCARD" => return Some(discard(a, f)),
        "REDIRECT" | "BCC" => redirect_or_bcc(word, a, f),
        // After warn_if_reject Postfix refuses at once, so it is logged as a warning.
        "DEFER_IF_PERMIT" if f.saved.borrow().warn_if_reject => {
            return Some(Decision::Reject(deferral(a)));
        }
        "DEFER_IF_PERMIT" => {
            let r = deferral(a);
            f.saved.borrow_mut().defer_if_permit(r);
        }
        "DEFER_IF_REJECT" => {
            let r = deferral(a);
            f.saved.borrow_mut().defer_if_reject(r);
        }
        "PREPEND" => prepend(a, f),
        _ => return None,
    }
    Some(Decision::Dunno)
}

fn warn(m: String) {
    log::warning("smtpd", m);
}

/// Whether a transaction exists to delegate `action` to (Postfix's not_in_client_helo).
fn in_transaction(action: &str, a: &Found<'_>, f: &Facts<'_>) -> bool {
    if f.sender.is_none() {
        warn(format!(
            "access table {}: with smtpd_delay_reject=no, action {} is always skipped in client or helo restrictions",
            a.source, action
        ));
        return false;
    }
    true
}

/// `<NAME>: CLASS TEXT`, or `<NAME>: CLASS triggers ACTION action` without a text.
fn triggers(action: &str, a: &Found<'_>) -> String {
    let text = match a.text {
        "" => format!("triggers {} action", action),
        t => t.to_string(),
    };
    format!("<{}>: {} {}", a.name, a.class.words(), text)
}

fn filter(a: &Found<'_>, f: &Facts<'_>) {
    if !in_transaction("FILTER", a, f) {
        return;
    }
    let key = lines::printable(a.key);
    if a.text.is_empty() {
        warn(format!(
            "access table {} entry \"{}\" has FILTER entry without value",
            a.source, key
        ));
    } else if !a.text.contains(':') {
        warn(format!(
            "access table {} entry \"{}\" requires transport:destination",
            a.source, key
        ));
    } else {
        let what = format!(
            "<{}>: {} triggers FILTER {}",
            a.name,
            a.class.words(),
            a.text
        );
        f.log("filter", &what);
        f.saved.borrow_mut().filter = Some(a.text.to_string());
    }
}

/// HOLD: logged once per transaction (a second HOLD is silent, as Postfix).
fn hold(a: &Found<'_>, f: &Facts<'_>) {
    if !in_transaction("HOLD", a, f) || f.saved.borrow().hold {
        return;
    }
    f.log("hold", &triggers("HOLD", a));
    f.saved.borrow_mut().hold = true;
}

/// DISCARD: the message is accepted and dropped; the restriction permits.
fn discard(a: &Found<'_>, f: &Facts<'_>) -> Decision {
    if !in_transaction("DISCARD", a, f) {
        return Decision::Dunno;
    }
    f.log("discard", &triggers("DISCARD", a));
    f.saved.borrow_mut().discard = true;
    Decision::Permit
}

fn redirect_or_bcc(word: &str, a: &Found<'_>, f: &Facts<'_>) {
    if !in_transaction(word, a, f) {
        return;
    }
    if !a.text.contains('@') {
        warn(format!(
            "access table {} entry \"{}\" requires user@domain target",
            a.source,
            lines::printable(a.key)
        ));
        return;
    }
    let what = format!(
        "<{}>: {} triggers {} {}",
        a.name,
        a.class.words(),
        word,
        a.text
    );
    f.log(&word.to_ascii_lowercase(), &what);
    let mut saved = f.saved.borrow_mut();
    match word {
        "BCC" => saved.bcc.push(a.text.to_string()),
        _ => saved.redirect = Some(a.text.to_string()),
    }
}

/// The reply a DEFER_IF_* action keeps.
fn deferral(a: &Found<'_>) -> crate::reply::Reply {
    let text = match a.text {
        "" => "Service unavailable",
        t => t,
    };
    reply(a.defer_code, "7.1", a.name, a.class, text)
}

fn prepend(a: &Found<'_>, f: &Facts<'_>) {
    if !in_transaction("PREPEND", a, f) {
        return;
    }
    // As Postfix: the headers are being written by then.
    if f.stage == "END-OF-MESSAGE" {
        warn(format!(
            "access table {}: action PREPEND must be used before smtpd_end_of_data_restrictions",
            a.source
        ));
        return;
    }
    if !is_header(a.text) {
        warn(format!(
            "access table {} entry \"{}\" requires header: text",
            a.source,
            lines::printable(a.key)
        ));
        return;
    }
    f.saved.borrow_mut().prepend.push(a.text.to_string());
}

/// Postfix's is_header(): a name of printable characters other than `:`, optional
/// blanks, then `:`.
pub fn is_header(text: &str) -> bool {
    let b = text.as_bytes();
    let name = b
        .iter()
        .take_while(|&&c| c.is_ascii_graphic() && c != b':')
        .count();
    if name == 0 {
        return false;
    }
    let rest = &b[name..];
    let blanks = rest
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    rest.get(blanks) == Some(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_shapes() {
        assert!(is_header("X-Tag: yes"));
        assert!(is_header("X-Tag :yes"));
        assert!(is_header("X:"));
        assert!(!is_header(": no name"));
        assert!(!is_header("X Tag: two words"));
        assert!(!is_header("no colon"));
        assert!(!is_header(""));
    }
}
