//! RFC 5322 address lists in header values (From:, To:, Cc:, Reply-To:, Resent-*, ...), as
//! Postfix's tok822 parses them for cleanup's header address rewriting: the value is split
//! into tokens (atoms, quoted strings, nested comments, domain literals, specials) and each
//! mailbox's addr-spec is located, inside `<...>` (a source route `@a,@b:` is skipped) or
//! bare; group names (`team: a, b;`) and display names are not addresses.
//!
//! Unlike Postfix, which re-externalizes the whole header from its token tree, a rewrite here
//! replaces only the text of the addr-specs that changed (`splice`): display names, comments,
//! folding and spacing stay exactly as the sender wrote them.
//!
//! Addresses are given to the caller in internal form (quotes and backslash escapes of the
//! local part removed, comments dropped) and put back in external form (`externalize`
//! quotes a local part that needs it), as Postfix's MA_FORM_INTERNAL/EXTERNAL.
//!
//! Security role: parses untrusted header text. It works on characters of a validated
//! `&str` (offsets come from `char_indices`, so every cut is on a character boundary), never
//! fails, and an unterminated quote, comment or `<` ends at the end of the value. Logs
//! nothing.

use std::ops::Range;

/// One addr-spec found in a header value: where its text is, and the address in internal
/// form (empty for `<>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpan {
    pub range: Range<usize>,
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Atom,
    Quoted,
    Comment,
    Literal,
    Special(char),
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    range: Range<usize>,
}

const SPECIALS: &str = "()<>@,;:\"[]";

/// Split `value` into tokens; white space separates tokens and is dropped.
fn tokenize(value: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut it = value.char_indices().peekable();
    while let Some((start, c)) = it.next() {
        let kind = match c {
            c if c.is_whitespace() => continue,
            '(' => {
                let mut depth = 1;
                let mut escaped = false;
                for (_, c) in it.by_ref() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                }
                Kind::Comment
            }
            '"' | '[' => {
                let close = if c == '"' { '"' } else { ']' };
                let mut escaped = false;
                for (_, c) in it.by_ref() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        c if c == close => break,
                        _ => {}
                    }
                }
                if c == '"' {
                    Kind::Quoted
                } else {
                    Kind::Literal
                }
            }
            c if SPECIALS.contains(c) => Kind::Special(c),
            _ => {
                while let Some(&(_, n)) = it.peek() {
                    if n.is_whitespace() || SPECIALS.contains(n) {
                        break;
                    }
                    it.next();
                }
                Kind::Atom
            }
        };
        let end = it.peek().map(|&(i, _)| i).unwrap_or(value.len());
        toks.push(Tok {
            kind,
            range: start..end,
        });
    }
    toks
}

/// Every addr-spec of the address list `value`, in order.
pub fn addresses(value: &str) -> Vec<AddrSpan> {
    let toks = tokenize(value);
    let mut out = Vec::new();
    // The non-comment tokens of the mailbox being read, and its <addr-spec> if any.
    let mut cur: Vec<&Tok> = Vec::new();
    let mut angle: Option<Vec<&Tok>> = None;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        match t.kind {
            Kind::Comment => {}
            Kind::Special('<') => {
                let mut inner = Vec::new();
                i += 1;
                while i < toks.len() && toks[i].kind != Kind::Special('>') {
                    if toks[i].kind != Kind::Comment {
                        inner.push(&toks[i]);
                    }
                    i += 1;
                }
                angle = Some(strip_route(inner));
            }
            // A group name ends at its colon.
            Kind::Special(':') if angle.is_none() => cur.clear(),
            Kind::Special(',') | Kind::Special(';') => {
                flush(value, &mut cur, &mut angle, &mut out);
            }
            _ => cur.push(t),
        }
        i += 1;
    }
    flush(value, &mut cur, &mut angle, &mut out);
    out
}

/// `@a,@b:user@d` without its source route.
fn strip_route(inner: Vec<&Tok>) -> Vec<&Tok> {
    if inner.first().map(|t| t.kind) != Some(Kind::Special('@')) {
        return inner;
    }
    match inner.iter().position(|t| t.kind == Kind::Special(':')) {
        Some(colon) => inner[colon + 1..].to_vec(),
        None => inner,
    }
}

fn flush(value: &str, cur: &mut Vec<&Tok>, angle: &mut Option<Vec<&Tok>>, out: &mut Vec<AddrSpan>) {
    let toks = angle.take().unwrap_or_else(|| std::mem::take(cur));
    cur.clear();
    let (Some(first), Some(last)) = (toks.first(), toks.last()) else {
        return;
    };
    let text: String = toks
        .iter()
        .filter_map(|t| value.get(t.range.clone()))
        .collect();
    out.push(AddrSpan {
        range: first.range.start..last.range.end,
        address: internalize(&text),
    });
}

/// An addr-spec's text to internal form: the local part unquoted.
pub fn internalize(text: &str) -> String {
    match split_at_domain(text) {
        Some((local, domain)) => format!("{}@{}", super::unquote(local), domain),
        None => super::unquote(text),
    }
}

/// Split at the last `@` outside quotes.
fn split_at_domain(text: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut escaped = false;
    let mut at = None;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '@' if !quoted => at = Some(i),
            _ => {}
        }
    }
    let at = at?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// An address in internal form to external form: a local part that is not a dot-atom is
/// quoted.
pub fn externalize(address: &str) -> String {
    let (local, domain) = match address.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (address, None),
    };
    let atom_ok = |c: char| !c.is_whitespace() && !c.is_control() && !SPECIALS.contains(c);
    let dot_atom = !local.is_empty()
        && local
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(atom_ok) && !p.contains('\\'));
    let local = if dot_atom {
        local.to_string()
    } else {
        let mut q = String::from("\"");
        for c in local.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    };
    match domain {
        Some(d) => format!("{}@{}", local, d),
        None => local,
    }
}

/// `value` with each range replaced by its text (ranges in order, not overlapping, as
/// `addresses` returns them).
pub fn splice(value: &str, edits: &[(Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(value.len() + 32);
    let mut pos = 0;
    for (range, text) in edits {
        out.push_str(value.get(pos..range.start).unwrap_or_default());
        out.push_str(text);
        pos = range.end;
    }
    out.push_str(value.get(pos..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(v: &str) -> Vec<String> {
        addresses(v).into_iter().map(|a| a.address).collect()
    }

    #[test]
    fn finds_addresses_in_lists_groups_and_angles() {
        assert_eq!(
            addrs(
                " \"Doe, John\" <john@a.test>, jane@b.test (Jane (the) Doe),\n\t<@r1,@r2:x@c.test>"
            ),
            ["john@a.test", "jane@b.test", "x@c.test"]
        );
        assert_eq!(
            addrs(" team: a@x.test, B <b@y.test>; c@z.test"),
            ["a@x.test", "b@y.test", "c@z.test"]
        );
        assert_eq!(addrs(" undisclosed-recipients:;"), Vec::<String>::new());
        assert_eq!(addrs(" <>"), Vec::<String>::new());
        assert_eq!(addrs(" \"john doe\"@a.test"), ["john doe@a.test"]);
        assert_eq!(addrs(" user"), ["user"]);
        assert_eq!(addrs(" Name <unterminated@x"), ["unterminated@x"]);
        assert_eq!(addrs(" \"open quote <a@b>"), ["open quote <a@b>"]);
        assert_eq!(addrs(" Ünïcødé <ü@ñ.test>"), ["ü@ñ.test"]);
    }

    #[test]
    fn splicing_keeps_names_comments_and_folding() {
        let v = " \"Doe, John\" <john@a.test> (boss),\n\tjane@b.test\n";
        let edits: Vec<_> = addresses(v)
            .into_iter()
            .map(|a| {
                (
                    a.range,
                    externalize(&a.address.replace("a.test", "c.test").replace("jane", "j d")),
                )
            })
            .collect();
        assert_eq!(
            splice(v, &edits),
            " \"Doe, John\" <john@c.test> (boss),\n\t\"j d\"@b.test\n"
        );
    }

    #[test]
    fn external_form_quotes_when_needed() {
        assert_eq!(externalize("a.b@x"), "a.b@x");
        assert_eq!(externalize("a b@x"), "\"a b\"@x");
        assert_eq!(externalize("a\"b@x"), "\"a\\\"b\"@x");
        assert_eq!(externalize(".a@x"), "\".a\"@x");
        assert_eq!(externalize("user"), "user");
        assert_eq!(internalize("\"a\\\"b\"@x"), "a\"b@x");
    }
}
