//! check_client_access, check_helo_access, check_sender_access and check_recipient_access:
//! the lookup keys of access(5) and the meaning of a table's answer.
//!
//! Keys, in order: a client by host name and its parent domains, then by address and its
//! network prefixes (`1.2.3`, `1.2`, `1`; IPv6 by dropping `:`-groups); a HELO name and its
//! parent domains; an address as `user+ext@domain`, `user@domain`, the domain and its
//! parents, `user+ext@`, `user@`; the null sender as $smtpd_null_access_lookup_key.
//! Parent domains are looked up as `example.com` when smtpd_access_maps is in
//! $parent_domain_matches_subdomains (the default), as `.example.com` otherwise. Pattern
//! tables (regexp, pcre, cidr) see only whole strings (the name, the address).
//!
//! Answers: OK (or a number) permits, DUNNO stops the search for this restriction,
//! REJECT/DEFER [text], `4NN text` / `5NN text` refuse with $access_map_reject_code /
//! $access_map_defer_code or the given code; INFO, WARN, FILTER, HOLD, DISCARD,
//! REDIRECT, BCC, PREPEND, DEFER_IF_REJECT and DEFER_IF_PERMIT are `access_actions`; and
//! anything else is a
//! restriction list evaluated in place (`permit_mynetworks, reject`) by the evaluator the
//! caller passes in (restrict's, which bounds the nesting): access imports only
//! policy_types and access_actions, never restrict, so the recursion runs through a
//! callback, not through a module cycle.
//!
//! Security role: a table failure refuses with 451 4.3.5 (never "not found"); client text used as
//! a key is length-limited by the SMTP line limit and made printable in logs.
//! Logs: the table's warning and `warning: TABLE: table lookup problem`,
//! `warning: access table TABLE: bad reply code in "..."`; the
//! actions' lines are `access_actions`'.

use super::SmtpdContext;
use super::access_actions::{self, Found};
use super::policy_types::{AccessKind, Class, Decision, Facts, config_error, reply};
use crate::log::{self, lines};
use crate::rewrite::Splitter;
use crate::tables::Table;

/// Whether a table matches patterns against whole strings (no partial keys): its type's
/// entry in the table registry says so.
pub fn pattern_table(t: &dyn Table) -> bool {
    crate::tables::registry::is_pattern(t.spec())
}

/// The parent-domain keys of `domain` (without the domain itself).
fn parents(domain: &str, plain: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = domain;
    while let Some((_, parent)) = rest.split_once('.') {
        if parent.is_empty() {
            break;
        }
        out.push(if plain {
            parent.to_string()
        } else {
            format!(".{}", parent)
        });
        rest = parent;
    }
    out
}

/// A domain and its parents, as access(5) looks them up.
pub fn domain_keys(domain: &str, plain_parents: bool) -> Vec<String> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut keys = vec![d.clone()];
    if !d.starts_with('[') {
        keys.extend(parents(&d, plain_parents));
    }
    keys
}

/// Keys for a client: name (and parents) when known, then the address and its prefixes.
pub fn client_keys(name: &str, addr: &str, plain_parents: bool, pattern: bool) -> Vec<String> {
    let mut keys = Vec::new();
    if name != "unknown" && !name.is_empty() {
        if pattern {
            keys.push(name.to_ascii_lowercase());
        } else {
            keys.extend(domain_keys(name, plain_parents));
        }
    }
    keys.push(addr.to_string());
    if !pattern {
        let sep = if addr.contains(':') { ':' } else { '.' };
        let mut rest = addr;
        while let Some((head, _)) = rest.rsplit_once(sep) {
            if head.is_empty() || head.ends_with(sep) {
                break;
            }
            keys.push(head.to_string());
            rest = head;
        }
    }
    keys
}

/// Keys for an envelope address.
pub fn address_keys(
    addr: &str,
    splitter: &Splitter,
    plain_parents: bool,
    pattern: bool,
    null_key: &str,
) -> Vec<String> {
    if addr.is_empty() {
        return vec![null_key.to_string()];
    }
    let lower = addr.to_ascii_lowercase();
    if pattern {
        return vec![lower];
    }
    let (local, domain) = match lower.rsplit_once('@') {
        Some((l, d)) => (l.to_string(), Some(d.to_string())),
        None => (lower.clone(), None),
    };
    let base = match splitter.split(&local) {
        (base, Some(_)) => Some(base.to_string()),
        _ => None,
    };
    let mut keys = Vec::new();
    match &domain {
        Some(d) => {
            keys.push(lower.clone());
            if let Some(b) = &base {
                keys.push(format!("{}@{}", b, d));
            }
            keys.extend(domain_keys(d, plain_parents));
        }
        None => keys.push(lower.clone()),
    }
    keys.push(format!("{}@", local));
    if let Some(b) = &base {
        keys.push(format!("{}@", b));
    }
    keys
}

/// A restriction list found as an access table's answer: its text and the class to
/// evaluate it in. The caller (restrict) supplies it, so access needs no evaluator of its
/// own and restrict stays the only module that runs lists.
pub type Nested<'a> = &'a dyn Fn(&str, Class) -> Decision;

/// Run one check_*_access restriction; `nested` evaluates an answer that is a restriction
/// list.
pub fn check(
    ctx: &SmtpdContext,
    kind: AccessKind,
    table: &dyn Table,
    f: &Facts<'_>,
    nested: Nested<'_>,
) -> Decision {
    let p = &ctx.policy;
    let pattern = pattern_table(table);
    let keys = match kind {
        AccessKind::Client => client_keys(
            &f.client.name,
            &f.client.addr.to_string(),
            p.access_parent_match,
            pattern,
        ),
        AccessKind::ReverseClient => client_keys(
            &f.client.reverse_name,
            &f.client.addr.to_string(),
            p.access_parent_match,
            pattern,
        ),
        AccessKind::Helo => match f.helo {
            Some(h) if pattern => vec![h.to_string()],
            Some(h) => domain_keys(h, p.access_parent_match),
            None => return Decision::Dunno,
        },
        AccessKind::Sender => match f.sender {
            Some(s) => address_keys(
                s,
                ctx.rewrite.splitter(),
                p.access_parent_match,
                pattern,
                &p.null_key,
            ),
            None => return Decision::Dunno,
        },
        AccessKind::Recipient => match f.rcpt {
            Some(r) => address_keys(
                r.given,
                ctx.rewrite.splitter(),
                p.access_parent_match,
                pattern,
                &p.null_key,
            ),
            None => return Decision::Dunno,
        },
    };
    search(ctx, table, &keys, kind.class(), f, nested).unwrap_or(Decision::Dunno)
}

/// Look `keys` up in order: the first answer's meaning (`answer`), a 451 when the table
/// fails (`451 4.3.5 <NAME>: CLASS rejected: Server configuration error`, as Postfix 2.10),
/// `None` when no key is found.
pub fn search(
    ctx: &SmtpdContext,
    table: &dyn Table,
    keys: &[String],
    class: Class,
    f: &Facts<'_>,
    nested: Nested<'_>,
) -> Option<Decision> {
    for key in keys {
        match table.lookup(key) {
            Ok(None) => {}
            Ok(Some(value)) => {
                return Some(answer(ctx, table.spec(), key, &value, class, f, nested));
            }
            // As Postfix's check_access: the table's warning, `TABLE: table lookup problem`,
            // and a 451 in the restriction's class.
            Err(e) => {
                log::warning("smtpd", &e);
                log::warning("smtpd", format!("{}: table lookup problem", table.spec()));
                let name = class.name(f);
                let text = "Server configuration error";
                return Some(Decision::Reject(reply(451, "3.5", &name, class, text)));
            }
        }
    }
    None
}

/// What an access table's answer means (also a policy server's action: `policy_check`);
/// `source` names the table or server in warnings.
pub fn answer(
    ctx: &SmtpdContext,
    source: &str,
    key: &str,
    value: &str,
    class: Class,
    f: &Facts<'_>,
    nested: Nested<'_>,
) -> Decision {
    let p = &ctx.policy;
    let value = value.trim();
    let (word, text) = match value.split_once(char::is_whitespace) {
        Some((w, t)) => (w, t.trim()),
        None => (value, ""),
    };
    let upper = word.to_ascii_uppercase();
    let name = class.name(f);
    let or_default = |t: &str| {
        if t.is_empty() {
            "Access denied".to_string()
        } else {
            t.to_string()
        }
    };
    let found = Found {
        source,
        key,
        text,
        name: &name,
        class,
        defer_code: p.access_defer_code,
    };
    if let Some(d) = access_actions::act(&upper, &found, f) {
        return d;
    }
    match upper.as_str() {
        "OK" | "RELAY" => return Decision::Permit,
        _ if word.bytes().all(|b| b.is_ascii_digit()) && word.len() != 3 => {
            return Decision::Permit;
        }
        "DUNNO" => return Decision::Dunno,
        "REJECT" => {
            return Decision::Reject(reply(
                p.access_reject_code,
                "7.1",
                &name,
                class,
                &or_default(text),
            ));
        }
        "DEFER" => {
            return Decision::Reject(reply(
                p.access_defer_code,
                "7.1",
                &name,
                class,
                &or_default(text),
            ));
        }
        _ => {}
    }
    if word.len() == 3
        && let Ok(code) = word.parse::<u16>()
    {
        if (400..600).contains(&code) {
            return Decision::Reject(reply(code, "7.1", &name, class, &or_default(text)));
        }
        log::warning(
            "smtpd",
            format!(
                "access table {}: bad reply code in \"{}\"",
                source,
                lines::printable(value)
            ),
        );
        return Decision::Reject(config_error());
    }
    // A restriction list as the answer, evaluated in the class of the access check; never
    // one that names a table (or a policy server): as Postfix, a table's answer (or a
    // policy server's) must not make smtpd open other tables or connect elsewhere.
    if value.contains(':') {
        lines::table_answer_has_table(source, value);
        return Decision::Reject(config_error());
    }
    nested(value, class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_key_order() {
        assert_eq!(
            client_keys("mail.ex.test", "192.0.2.7", true, false),
            vec![
                "mail.ex.test",
                "ex.test",
                "test",
                "192.0.2.7",
                "192.0.2",
                "192.0",
                "192"
            ]
        );
        assert_eq!(
            client_keys("unknown", "2001:db8:1::5", false, false),
            vec!["2001:db8:1::5"]
        );
        assert_eq!(
            client_keys("Mail.Ex.Test", "192.0.2.7", false, true),
            vec!["mail.ex.test", "192.0.2.7"]
        );
    }

    #[test]
    fn ipv6_prefixes() {
        assert_eq!(
            client_keys("unknown", "2001:db8:0:1:2:3:4:5", true, false),
            vec![
                "2001:db8:0:1:2:3:4:5",
                "2001:db8:0:1:2:3:4",
                "2001:db8:0:1:2:3",
                "2001:db8:0:1:2",
                "2001:db8:0:1",
                "2001:db8:0",
                "2001:db8",
                "2001"
            ]
        );
    }

    #[test]
    fn address_key_order() {
        let none = Splitter::new("");
        assert_eq!(
            address_keys(
                "User+Ext@Sub.Ex.Test",
                &Splitter::new("+"),
                false,
                false,
                "<>"
            ),
            vec![
                "user+ext@sub.ex.test",
                "user@sub.ex.test",
                "sub.ex.test",
                ".ex.test",
                ".test",
                "user+ext@",
                "user@"
            ]
        );
        assert_eq!(
            address_keys("a@b.test", &none, true, false, "<>"),
            vec!["a@b.test", "b.test", "test", "a@"]
        );
        assert_eq!(address_keys("", &none, true, false, "<>"), vec!["<>"]);
        assert_eq!(
            address_keys("root", &none, true, false, "<>"),
            vec!["root", "root@"]
        );
        assert_eq!(
            address_keys("A@B.test", &none, true, true, "<>"),
            vec!["a@b.test"]
        );
    }

    #[test]
    fn pattern_tables_are_the_registry_ones() {
        for t in crate::tables::registry::TYPES {
            let spec = match t.name {
                "proxy" => continue,
                "unix" => "unix:passwd.byname".to_string(),
                n => format!("{}:/nonexistent/postern-access", n),
            };
            let table = crate::tables::open(&spec).unwrap();
            assert_eq!(pattern_table(table.as_ref()), t.pattern, "{}", spec);
            let proxied = crate::tables::open(&format!("proxy:{}", spec)).unwrap();
            assert_eq!(pattern_table(proxied.as_ref()), t.pattern, "proxy:{}", spec);
        }
    }
}
