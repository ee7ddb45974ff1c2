//! One DNS list restriction in a session (`restrict` calls it): what is asked (the client's
//! address, its verified name, the HELO name, the sender's or the recipient's domain),
//! the verdict, and the reply of a listing (`rbl` builds it from rbl_reply_maps or
//! default_rbl_reply with the session's macros).
//!
//! Security role: a block list's listing refuses (maps_rbl_reject_code); its lookup failure
//! raises DEFER_IF_PERMIT, so a client that would have been accepted gets a 450 and retries,
//! never a pass on an unanswered question. An allow list's listing permits, but at RCPT
//! only a recipient Postern takes anyway (an authorised destination): a DNS answer never
//! opens relaying. Its failure raises DEFER_IF_REJECT. Follows postconf(5)
//! reject_rbl_client and related entries.
//!
//! Logs (via log::lines, Postfix's texts) `rbl_reject_reply: bad rbl reply template for
//! domain D: T`, `rbl response code configuration error: TEXT` and `unknown macro name
//! "NAME" in expansion request`; `rbl` logs lookup errors, the session the refusal.

use super::SmtpdContext;
use super::destination;
use super::policy_types::{Class, Decision, Facts, log_table_error, raise_deferral, reply};
use super::rbl::{self, Kind, Listing, Rejection, Site, TemplateError};
use crate::log::lines;

/// Evaluate `kind` with list `site`.
pub fn check(ctx: &SmtpdContext, kind: Kind, site: &Site, f: &Facts<'_>) -> Decision {
    let addr = f.client.addr.to_canonical();
    let what = match kind {
        Kind::RblClient | Kind::DnswlClient => Some(addr.to_string()),
        Kind::RhsblClient | Kind::RhswlClient => {
            Some(f.client.name.clone()).filter(|n| n != "unknown")
        }
        Kind::RhsblReverseClient => Some(f.client.reverse_name.clone()).filter(|n| n != "unknown"),
        Kind::RhsblSender => f.sender.filter(|s| !s.is_empty()).map(str::to_string),
        Kind::RhsblHelo => f.helo.map(str::to_string),
        Kind::RhsblRecipient => f.rcpt.map(|r| r.given.to_string()),
    };
    let Some(what) = what else {
        return Decision::Dunno;
    };
    // An allow list is not even asked about a recipient this client may not send to
    // (Postfix's rule): it never opens relaying, and its failure then defers nothing.
    if kind.permits()
        && let Some(rc) = f.rcpt
        && destination::auth_destination(ctx, &rc) != Ok(true)
    {
        return Decision::Dunno;
    }
    let query = if kind.by_address() {
        Some(rbl::address_query(addr, &site.domain))
    } else {
        rbl::domain_query(&what, &site.domain)
    };
    let Some(query) = query else {
        return Decision::Dunno;
    };
    match rbl::lookup(ctx.resolver.as_deref(), &query, site) {
        Listing::NotListed => Decision::Dunno,
        Listing::Listed(_) if kind.permits() => Decision::Permit,
        Listing::Listed(reason) => {
            Decision::Reject(listing_reply(ctx, kind, site, &what, &reason, f))
        }
        // As Postfix: DEFER_IF_REJECT `450 4.7.1 <what>: Client host rejected: Service
        // unavailable`.
        Listing::Failed if kind.permits() => {
            let deferral = reply(450, "7.1", &what, Class::Client, "Service unavailable");
            raise_deferral(f, deferral, false)
        }
        // Postern's rule (Postfix passes the client): DEFER_IF_PERMIT, naming what was
        // asked about.
        Listing::Failed => {
            let about = match kind {
                Kind::RhsblSender => Class::Sender,
                Kind::RhsblHelo => Class::Helo,
                Kind::RhsblRecipient => Class::Recipient,
                _ => Class::Client,
            };
            let text = format!("Temporary DNS list lookup failure for {}", site.domain);
            let deferral = reply(450, "7.1", &about.name(f), about, &text);
            raise_deferral(f, deferral, true)
        }
    }
}

/// The refusal for a listing: the list's rbl_reply_maps entry or default_rbl_reply.
fn listing_reply(
    ctx: &SmtpdContext,
    kind: Kind,
    site: &Site,
    what: &str,
    reason: &str,
    f: &Facts<'_>,
) -> crate::reply::Reply {
    let p = &ctx.policy;
    let own = reply_map_entry(&p.rbl_reply_maps, &site.arg);
    let macros = |name: &str| macro_value(name, f);
    let build = |template: &str| {
        rbl::reply(&Rejection {
            code: p.rbl_code,
            template,
            domain: &site.domain,
            what,
            class: kind.class_words(),
            reason,
            macros: &macros,
        })
    };
    // As Postfix: a map template naming an unknown macro falls back to default_rbl_reply;
    // an expansion without a 4xx/5xx code is a configuration error answered with 450.
    let result = match own.as_deref().map(&build) {
        Some(Err(TemplateError::UnknownName(_))) => {
            lines::rbl_bad_template(&site.domain, own.as_deref().unwrap_or(""));
            build(&p.rbl_reply)
        }
        Some(r) => r,
        None => build(&p.rbl_reply),
    };
    result.unwrap_or_else(|e| {
        let text = match e {
            TemplateError::UnknownName(n) => format!("unknown macro name \"{n}\""),
            TemplateError::BadCode(t) => t,
        };
        lines::rbl_code_error(&text);
        crate::reply::Reply::with_dsn(450, "4.7.1", "Service unavailable")
    })
}

/// The rbl_reply_maps entry for a list's domain, if any (a table failure is logged and
/// the default reply used: the client is refused either way).
fn reply_map_entry(maps: &str, domain: &str) -> Option<String> {
    if maps.trim().is_empty() {
        return None;
    }
    let tables = match crate::tables::TableList::open_list(maps) {
        Ok(t) => t,
        Err(e) => {
            log_table_error(&e, domain);
            return None;
        }
    };
    tables.lookup(domain).unwrap_or_else(|e| {
        log_table_error(&e, domain);
        None
    })
}

/// The smtpd macros a reply template may use (Postfix's smtpd_expand_lookup).
fn macro_value(name: &str, f: &Facts<'_>) -> Option<String> {
    // No address yet (before MAIL, before RCPT): empty, as Postfix's.
    let addr_part = |addr: Option<&str>, suffix: &str| -> String {
        let Some(a) = addr else {
            return String::new();
        };
        match suffix {
            "" if a.is_empty() => "<>".to_string(),
            "" => a.to_string(),
            "_name" if a.is_empty() => "<>".to_string(),
            "_name" => a.rsplit_once('@').map_or(a, |(l, _)| l).to_string(),
            _ => a.rsplit_once('@').map_or("", |(_, d)| d).to_string(),
        }
    };
    Some(match name {
        "client" => f.client_log.to_string(),
        "client_address" => f.client.addr.to_string(),
        "client_name" => f.client.name.clone(),
        "client_port" => f.client.port.to_string(),
        "helo_name" => f.helo.unwrap_or("").to_string(),
        "sender" | "sender_name" | "sender_domain" => {
            addr_part(f.sender, name.trim_start_matches("sender"))
        }
        "recipient" | "recipient_name" | "recipient_domain" => addr_part(
            f.rcpt.map(|r| r.given),
            name.trim_start_matches("recipient"),
        ),
        _ => {
            lines::unknown_macro(name);
            return None;
        }
    })
}
