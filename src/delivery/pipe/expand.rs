//! The `${name}` macros of a pipe(8) `argv=` command (also `$name` and `$(name)`; `$$` is a
//! literal `$`), expanded argument by argument and never re-parsed: an address such as
//! `x;id@host` or `$(id)@host` becomes exactly one argument with those characters. An
//! argument that names a per-recipient macro (`recipient`, `original_recipient`, `user`,
//! `extension`, `mailbox`, `domain`) is repeated once per recipient, as Postfix's
//! pipe(8) does. The other macros: `sender` (the `null_sender=` text for `<>`), `nexthop`,
//! `size`, `queue_id`, `client_address`, `client_hostname`, `client_port`,
//! `client_protocol`, `client_helo`, `sasl_method`, `sasl_username`, `sasl_sender`,
//! `envid`.
//!
//! Flags: `u` folds recipient local parts to lower case, `h` domains and $nexthop, `q`
//! quotes the local parts of $sender and $recipient (RFC 822 quoted-string) when they need
//! it.
//!
//! Security role: the reason the command never sees a shell: expansion is textual, one
//! output element per input element (times the recipients). An unknown macro name is an
//! error (the mail defers), never left for a program to interpret. Logs nothing.

use super::attrs::Flags;

/// The macros whose arguments repeat per recipient.
const PER_RECIPIENT: &[&str] = &[
    "recipient",
    "original_recipient",
    "user",
    "extension",
    "mailbox",
    "domain",
];

/// The macros with one value per message.
const PER_MESSAGE: &[&str] = &[
    "sender",
    "nexthop",
    "size",
    "queue_id",
    "client_address",
    "client_hostname",
    "client_port",
    "client_protocol",
    "client_helo",
    "sasl_method",
    "sasl_username",
    "sasl_sender",
    "envid",
];

/// One recipient: its address and the address as originally given.
pub struct Rcpt<'a> {
    pub address: &'a str,
    pub original: &'a str,
}

/// What the macros expand to.
pub struct Values<'a> {
    /// The per-message macros' values (a missing one is empty).
    pub message: Vec<(&'static str, String)>,
    pub recipients: Vec<Rcpt<'a>>,
    pub flags: Flags,
    /// $recipient_delimiter (each character a delimiter).
    pub delimiter: &'a str,
}

/// A piece of an argument.
enum Piece<'t> {
    Text(&'t str),
    Macro(&'t str),
}

/// Split an argument into text and macro names; `Err(name)` for an unknown name.
fn pieces(arg: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(i) = rest.find('$') {
        out.push(Piece::Text(&rest[..i]));
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(r) = after.strip_prefix('$') {
            out.push(Piece::Text("$"));
            rest = r;
            continue;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').ok_or_else(|| after.to_string())?;
            (&r[..end], &r[end + 1..])
        } else if let Some(r) = after.strip_prefix('(') {
            let end = r.find(')').ok_or_else(|| after.to_string())?;
            (&r[..end], &r[end + 1..])
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if !PER_RECIPIENT.contains(&name) && !PER_MESSAGE.contains(&name) {
            return Err(name.to_string());
        }
        out.push(Piece::Macro(name));
        rest = tail;
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Quote a local part as RFC 822 requires (Postfix's quote_822_local), when it must be.
pub fn quote_local(local: &str) -> String {
    let special = |c: char| "()<>@,;:\\\".[] ".contains(c) || c.is_control();
    let needs = local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || local.chars().any(|c| c != '.' && special(c));
    if !needs {
        return local.to_string();
    }
    let mut out = String::from("\"");
    for c in local.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Split at the rightmost `@`.
fn split_at_right(addr: &str) -> (&str, Option<&str>) {
    match addr.rfind('@') {
        Some(i) => (&addr[..i], Some(&addr[i + 1..])),
        None => (addr, None),
    }
}

/// An address with the flags' folding (and with `quote`, the `q` flag's quoting).
fn morph(addr: &str, flags: Flags, quote: bool) -> String {
    let (local, domain) = split_at_right(addr);
    let mut local = if quote && flags.quote_local {
        quote_local(local)
    } else {
        local.to_string()
    };
    if flags.fold_user {
        local = local.to_lowercase();
    }
    match domain {
        Some(d) if flags.fold_host => format!("{}@{}", local, d.to_lowercase()),
        Some(d) => format!("{}@{}", local, d),
        None => local,
    }
}

impl Values<'_> {
    fn per_recipient(&self, name: &str, r: &Rcpt<'_>) -> String {
        let folded = morph(r.address, self.flags, false);
        let (local, domain) = split_at_right(&folded);
        let split = local
            .find(|c: char| self.delimiter.contains(c))
            .filter(|_| !self.delimiter.is_empty());
        match name {
            "recipient" => morph(r.address, self.flags, true),
            "original_recipient" => morph(r.original, self.flags, true),
            "user" => split.map_or(local, |i| &local[..i]).to_string(),
            "extension" => split.map_or("", |i| &local[i + 1..]).to_string(),
            "mailbox" => local.to_string(),
            _ => domain.unwrap_or("").to_string(),
        }
    }

    fn message_value(&self, name: &str) -> &str {
        self.message
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Expand the command template; `Err(name)` names an unknown macro.
pub fn expand(template: &[String], v: &Values<'_>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for arg in template {
        let ps = pieces(arg)?;
        let render = |r: Option<&Rcpt<'_>>| -> String {
            ps.iter()
                .map(|p| match (p, r) {
                    (Piece::Text(t), _) => t.to_string(),
                    (Piece::Macro(m), Some(r)) if PER_RECIPIENT.contains(m) => {
                        v.per_recipient(m, r)
                    }
                    (Piece::Macro(m), _) => v.message_value(m).to_string(),
                })
                .collect()
        };
        let repeats = ps
            .iter()
            .any(|p| matches!(p, Piece::Macro(m) if PER_RECIPIENT.contains(m)));
        if repeats {
            out.extend(v.recipients.iter().map(|r| render(Some(r))));
        } else {
            out.push(render(None));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn values<'a>(rcpts: &[&'a str], flags: Flags) -> Values<'a> {
        Values {
            message: vec![
                ("sender", "S@x.test".into()),
                ("nexthop", "Dom.Test".into()),
                ("size", "42".into()),
            ],
            recipients: rcpts
                .iter()
                .map(|a| Rcpt {
                    address: a,
                    original: a,
                })
                .collect(),
            flags,
            delimiter: "+",
        }
    }

    #[test]
    fn recipients_repeat_and_parts_split() {
        let v = values(&["Joe+Ext@Dom.Test", "b@c"], Flags::default());
        let got = expand(
            &args("prog -f ${sender} $nexthop $(size) -- ${recipient} ${user}:${extension}:${mailbox}@${domain} $$x"),
            &v,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "prog",
                "-f",
                "S@x.test",
                "Dom.Test",
                "42",
                "--",
                "Joe+Ext@Dom.Test",
                "b@c",
                "Joe:Ext:Joe+Ext@Dom.Test",
                "b::b@c",
                "$x"
            ]
        );
    }

    #[test]
    fn folding_and_quoting() {
        let flags = Flags {
            fold_user: true,
            fold_host: true,
            quote_local: true,
            ..Flags::default()
        };
        let v = values(&["A B@X.Test"], flags);
        let got = expand(&args("${recipient} ${user} ${domain}"), &v).unwrap();
        assert_eq!(got, ["\"a b\"@x.test", "a b", "x.test"]);
    }

    #[test]
    fn hostile_addresses_stay_one_literal_argument() {
        let v = values(&["x;id@host", "$(id)@host", "`id`@h"], Flags::default());
        let got = expand(&args("cmd ${recipient}"), &v).unwrap();
        assert_eq!(got, ["cmd", "x;id@host", "$(id)@host", "`id`@h"]);
    }

    #[test]
    fn unknown_macros_are_errors() {
        let v = values(&["a@b"], Flags::default());
        assert_eq!(expand(&args("cmd ${bogus}"), &v), Err("bogus".into()));
        assert!(expand(&args("cmd ${recipient"), &v).is_err());
    }
}
