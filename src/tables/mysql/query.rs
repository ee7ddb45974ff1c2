//! Query and result templates of a mysql table (Postfix's db_common: `%s %u %d %[1-9] %S
//! %U %D %%`) and the quoting of text put into a query (`mysql_real_escape_string`).
//!
//! Security role: every piece of a lookup key that reaches the SQL text goes through
//! `escape`, so a key (`x'or'1'='1@example.com`, a backslash, a NUL) is always data inside
//! the quotes the administrator wrote around `%s` in `query`, never SQL. A key that lacks a
//! part the query needs (`%u`, `%d`, `%N`) is not looked up at all, as Postfix does.
//! Follows mysql_table(5) and Postfix's db_common.c. Logs nothing.

use std::fmt;

/// What the templates of one table use: which key/value parts they need, and the highest
/// `%N` domain label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    key_user: bool,
    key_domain: bool,
    value_user: bool,
    value_domain: bool,
    nparts: usize,
}

/// A template with an unknown `%` sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct BadTemplate {
    pub template: String,
    pub query: bool,
}

impl fmt::Display for BadTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.query { "query" } else { "result" };
        write!(f, "invalid {} template: {}", what, self.template)
    }
}

impl Needs {
    /// Record what `template` (the `query` when `query`, else `result_format`) uses.
    pub fn parse(&mut self, template: &str, query: bool) -> Result<(), BadTemplate> {
        let bad = || BadTemplate {
            template: template.to_string(),
            query,
        };
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                continue;
            }
            match chars.next().ok_or_else(bad)? {
                '%' | 's' | 'S' => {}
                'u' if query => self.key_user = true,
                'u' => self.value_user = true,
                'd' if query => self.key_domain = true,
                'd' => self.value_domain = true,
                'U' => self.key_user = true,
                'D' => self.key_domain = true,
                n @ '1'..='9' => {
                    self.nparts = self.nparts.max(n as usize - '0' as usize);
                    self.key_domain = true;
                }
                _ => return Err(bad()),
            }
        }
        Ok(())
    }
}

/// The local part and domain of `s` split at its last `@` (no `@`: no domain).
fn split(s: &str) -> (&str, Option<&str>) {
    match s.rfind('@') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Whether `s` lacks a part that `user`/`domain` say is needed: no or an empty domain, or
/// an empty local part.
fn lacks(s: &str, user: bool, domain: bool) -> bool {
    let (local, dom) = split(s);
    (domain && dom.is_none_or(str::is_empty)) || (user && dom.is_some() && local.is_empty())
}

/// Expand `template` for `value` and append it to `out` (after a comma when `out` is not
/// empty). `key` is `None` for the query (`value` is the key) and the lookup key for a
/// result (`value` is one column). Text from `value`/`key` goes through `quote`. `false`
/// (and nothing appended): the value lacks a part the templates need, so there is nothing
/// to look up or to return.
pub fn expand(
    needs: &Needs,
    template: &str,
    value: &str,
    key: Option<&str>,
    out: &mut String,
    quote: &dyn Fn(&str, &mut String),
) -> bool {
    if value.is_empty() {
        return false;
    }
    if let Some(key) = key {
        if lacks(value, needs.value_user, needs.value_domain)
            || lacks(key, needs.key_user, needs.key_domain)
        {
            return false;
        }
    } else if lacks(value, needs.key_user, needs.key_domain) {
        return false;
    }
    let (vuser, vdomain) = split(value);
    let (kuser, kdomain) = match key {
        Some(k) => split(k),
        None => (vuser, vdomain),
    };
    let labels: Vec<&str> = kdomain.map(|d| d.split('.').collect()).unwrap_or_default();
    if needs.nparts > 0 && !enough_labels(&labels, needs.nparts) {
        return false;
    }
    let mut text = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => text.push('%'),
            Some('s') => quote(value, &mut text),
            Some('u') => quote(vuser, &mut text),
            Some('d') => quote(vdomain.unwrap_or_default(), &mut text),
            Some('S') => quote(key.unwrap_or(value), &mut text),
            Some('U') => quote(kuser, &mut text),
            Some('D') => quote(kdomain.unwrap_or_default(), &mut text),
            Some(n @ '1'..='9') => {
                let n = n as usize - '0' as usize;
                quote(labels[labels.len() - n], &mut text);
            }
            // Rejected by `Needs::parse` when the table was opened.
            _ => return false,
        }
    }
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(&text);
    true
}

/// Whether a domain has at least `n` labels, the last `n` of them non-empty.
fn enough_labels(labels: &[&str], n: usize) -> bool {
    labels.len() >= n && labels[labels.len() - n..].iter().all(|l| !l.is_empty())
}

/// No quoting (the first, connection-less expansion that only decides whether to query).
pub fn verbatim(s: &str, out: &mut String) {
    out.push_str(s);
}

/// Append `s` quoted for use inside a `'...'` or `"..."` SQL string literal, exactly as
/// `mysql_real_escape_string` does for a utf8/utf8mb4 connection. With the server's
/// `NO_BACKSLASH_ESCAPES` sql_mode a backslash is an ordinary character, so quotes are
/// doubled instead and nothing else changes (mysql_real_escape_string_quote).
pub fn escape(s: &str, no_backslash_escapes: bool, out: &mut String) {
    for c in s.chars() {
        if no_backslash_escapes {
            match c {
                '\'' => out.push_str("''"),
                '"' => out.push_str("\"\""),
                c => out.push(c),
            }
            continue;
        }
        match c {
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(query: &str, result: &str) -> Needs {
        let mut n = Needs::default();
        n.parse(query, true).unwrap();
        n.parse(result, false).unwrap();
        n
    }

    fn q(query: &str, key: &str) -> Option<String> {
        let n = needs(query, "%s");
        let mut out = String::new();
        expand(&n, query, key, None, &mut out, &verbatim).then_some(out)
    }

    #[test]
    fn every_query_expansion() {
        let key = "alice@mail.example.com";
        for (t, want) in [
            ("%s", "alice@mail.example.com"),
            ("%u", "alice"),
            ("%d", "mail.example.com"),
            ("%S|%U|%D", "alice@mail.example.com|alice|mail.example.com"),
            ("%1.%2.%3", "com.example.mail"),
            ("100%% %s", "100% alice@mail.example.com"),
        ] {
            assert_eq!(q(t, key).as_deref(), Some(want), "{}", t);
        }
        // The last `@` separates the domain.
        assert_eq!(q("%u|%d", "a@b@c.d").as_deref(), Some("a@b|c.d"));
    }

    #[test]
    fn keys_lacking_a_needed_part_are_not_looked_up() {
        assert_eq!(q("%d", "alice"), None);
        assert_eq!(q("%d", "alice@"), None);
        assert_eq!(q("%u", "@example.com"), None);
        assert_eq!(q("%U", "@example.com"), None);
        assert_eq!(q("%u", "alice").as_deref(), Some("alice"));
        assert_eq!(q("%s", ""), None);
        assert_eq!(q("%2", "a@com"), None);
        assert_eq!(q("%2", "a@.com"), None);
        assert_eq!(q("%2", "a@x..com"), None);
        assert_eq!(q("%1", "a@x..com").as_deref(), Some("com"));
    }

    #[test]
    fn result_templates_use_value_and_key() {
        let n = needs("%s", "%u+%D (%S)");
        let mut out = String::from("first");
        assert!(expand(
            &n,
            "%u+%D (%S)",
            "bob@other.org",
            Some("k@example.com"),
            &mut out,
            &verbatim
        ));
        assert_eq!(out, "first,bob+example.com (k@example.com)");
        // A value without a domain gives nothing for %d.
        let n = needs("%s", "%d");
        let mut out = String::new();
        assert!(!expand(&n, "%d", "bob", Some("k@x"), &mut out, &verbatim));
        assert!(out.is_empty());
    }

    #[test]
    fn bad_templates_are_refused() {
        for t in ["%x", "abc%", "%0"] {
            let err = Needs::default().parse(t, true).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid query template: {}", t));
        }
        assert!(Needs::default().parse("%u %d %9 %%", false).is_ok());
    }

    #[test]
    fn escaping_as_mysql_real_escape_string() {
        let esc = |s: &str, nb: bool| {
            let mut o = String::new();
            escape(s, nb, &mut o);
            o
        };
        assert_eq!(
            esc("x'or'1'='1@example.com", false),
            r"x\'or\'1\'=\'1@example.com"
        );
        assert_eq!(esc("a\\b\"c", false), r#"a\\b\"c"#);
        assert_eq!(esc("a\0b\nc\rd\x1ae", false), r"a\0b\nc\rd\Ze");
        assert_eq!(esc("ünï'cödé", false), r"ünï\'cödé");
        assert_eq!(esc("x'or'1'='1", true), "x''or''1''=''1");
        assert_eq!(esc("a\\b\"c\0", true), "a\\b\"\"c\0");
    }
}
