//! The result of a header_checks/body_checks lookup, parsed into an action (Postfix's
//! header_checks(5): the first word, case-insensitive, and the optional text after it).
//! Postfix 2.10's actions, plus BCC, INFO, PASS and STRIP from Postfix 3.x. Security role:
//! the text comes from the administrator's table (with `$n` substitutions of message text);
//! a REJECT reason is checked to carry a 4.x.x or 5.x.x status. Logs nothing itself: the
//! caller logs `warning: bad DSN action in TEXT -- need 4.x.x or 5.x.x` from `dsn_warning`.

use crate::reply::Dsn;

/// One action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The reason with its status, e.g. `5.7.1 message content rejected`.
    Reject(String),
    Warn(String),
    Info(String),
    Discard(String),
    Hold(String),
    Redirect(String),
    Bcc(String),
    Filter(String),
    Prepend(String),
    Replace(String),
    Ignore,
    Strip(String),
    Pass(String),
    /// DUNNO and OK: nothing happens.
    Dunno,
    /// A first word Postfix does not know.
    Unknown(String),
}

/// Postfix's default REJECT reason (cleanup's CLEANUP_STAT_CONT text).
pub const DEFAULT_REJECT: &str = "5.7.1 message content rejected";

/// Parse a table result. A REJECT text without a status gets 5.7.1; a status that is not
/// 4.x.x or 5.x.x becomes 4.x.x (the second value is then true: warn about it).
pub fn parse(value: &str) -> (Action, bool) {
    let value = value.trim_start();
    let (word, text) = match value.find([' ', '\t']) {
        Some(i) => (&value[..i], value[i..].trim_start()),
        None => (value, ""),
    };
    let text = text.to_string();
    let action = match word.to_ascii_uppercase().as_str() {
        "REJECT" => return reject(&text),
        "WARN" => Action::Warn(text),
        "INFO" => Action::Info(text),
        "DISCARD" => Action::Discard(text),
        "HOLD" => Action::Hold(text),
        "REDIRECT" => Action::Redirect(text),
        "BCC" => Action::Bcc(text),
        "FILTER" => Action::Filter(text),
        "PREPEND" => Action::Prepend(text),
        "REPLACE" => Action::Replace(text),
        "IGNORE" => Action::Ignore,
        "STRIP" => Action::Strip(text),
        "PASS" => Action::Pass(text),
        "DUNNO" | "OK" => Action::Dunno,
        _ => Action::Unknown(value.to_string()),
    };
    (action, false)
}

fn reject(text: &str) -> (Action, bool) {
    if text.is_empty() {
        return (Action::Reject(DEFAULT_REJECT.to_string()), false);
    }
    let first = text.split([' ', '\t']).next().unwrap_or("");
    let mut reason = match Dsn::parse(first) {
        Some(_) => text.to_string(),
        None => format!("5.7.1 {}", text),
    };
    let bad = !reason.starts_with('4') && !reason.starts_with('5');
    if bad {
        reason.replace_range(..1, "4");
    }
    (Action::Reject(reason), bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_texts() {
        assert_eq!(
            parse("REJECT"),
            (Action::Reject(DEFAULT_REJECT.into()), false)
        );
        assert_eq!(
            parse("reject  go away"),
            (Action::Reject("5.7.1 go away".into()), false)
        );
        assert_eq!(
            parse("REJECT 4.7.0 later"),
            (Action::Reject("4.7.0 later".into()), false)
        );
        assert_eq!(
            parse("REJECT 2.0.0 odd"),
            (Action::Reject("4.0.0 odd".into()), true)
        );
        assert_eq!(parse("WARN spam?").0, Action::Warn("spam?".into()));
        assert_eq!(parse("HOLD").0, Action::Hold(String::new()));
        assert_eq!(parse("DISCARD x").0, Action::Discard("x".into()));
        assert_eq!(
            parse("REDIRECT a@b.test").0,
            Action::Redirect("a@b.test".into())
        );
        assert_eq!(parse("BCC a@b.test").0, Action::Bcc("a@b.test".into()));
        assert_eq!(
            parse("PREPEND X-Tag: 1").0,
            Action::Prepend("X-Tag: 1".into())
        );
        assert_eq!(
            parse("REPLACE Subject: new").0,
            Action::Replace("Subject: new".into())
        );
        assert_eq!(parse("IGNORE whatever").0, Action::Ignore);
        assert_eq!(parse("dunno").0, Action::Dunno);
        assert_eq!(parse("OK").0, Action::Dunno);
        assert_eq!(
            parse("FILTER smtp:[127.0.0.1]:10025").0,
            Action::Filter("smtp:[127.0.0.1]:10025".into())
        );
        assert_eq!(parse("FROB x").0, Action::Unknown("FROB x".into()));
    }
}
