//! Where a recipient goes (Postfix's smtpd_check.c relay and local recipient tests):
//! sender-specified routing resolved as trivial-rewrite does, the relay test
//! (permit_auth_destination / reject_unauth_destination with allow_untrusted_routing) and
//! the local recipient table test (reject_unlisted_recipient with local_recipient_maps).
//! Which domains are ours or relayed, sender-specified routing and the recipient_delimiter
//! split come from `ctx.rewrite` (crate::rewrite, built once per configuration). Used by
//! `restrict` (the restrictions) and `check` (the implicit test after the lists, VRFY);
//! it imports neither.
//!
//! Security role: this is the open-relay guard. A recipient outside $mydestination and
//! $relay_domains is never an authorized destination. An address with sender-specified
//! routing (`user%remote@here`, `user!remote@here`, `"user@remote"@here`) is resolved to
//! where it really goes and, with allow_untrusted_routing = no, is never an authorized
//! destination. A table error is never "not found": it answers 451 so the client retries.
//! Follows postconf(5) allow_untrusted_routing, local_recipient_maps,
//! unknown_local_recipient_reject_code.
//!
//! Logs: `warning: TABLE is unavailable. REASON`, `warning: TABLE lookup error for "KEY"`
//! (a local_recipient_maps failure). The caller logs the `NOQUEUE: reject:` line.

use super::SmtpdContext;
use super::policy_types::{Rcpt, log_table_error, temp_lookup_reply};

/// Where an address really goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The address after removing our own domain from routed forms.
    pub address: String,
    /// Its lower-cased domain.
    pub domain: String,
    /// The client specified routing (`%`, `!` or `@` in the local part).
    pub routed: bool,
}

/// Resolve sender-specified routing as trivial-rewrite does (`Rewrite::unroute`): while
/// the domain is ours, `"user@remote"@here` becomes `user@remote`, `user%remote@here`
/// (allow_percent_hack) `user@remote`, and `host!user@here` (swap_bangpath) `user@host`.
pub fn resolve(ctx: &SmtpdContext, qualified: &str) -> Route {
    let (address, routed) = ctx.rewrite.unroute(qualified);
    Route {
        domain: super::address::domain_of(&address),
        address,
        routed,
    }
}

/// Whether the recipient may be accepted without a permit (permit_auth_destination): it
/// resolves to $mydestination or $relay_domains, and with allow_untrusted_routing = no it
/// carries no sender-specified routing.
pub fn auth_destination(ctx: &SmtpdContext, qualified: &str) -> bool {
    let route = resolve(ctx, qualified);
    if route.routed && !ctx.policy.allow_untrusted_routing {
        return false;
    }
    ctx.rewrite.is_local(&route.domain) || ctx.rewrite.is_relay(&route.domain)
}

/// Look a local recipient up in local_recipient_maps: the full address first across all
/// tables, then the local part (with and without its `+extension`).
/// A table failure is logged here.
pub fn local_recipient_known(ctx: &SmtpdContext, qualified: &str) -> Known {
    let Some(maps) = ctx.local_recipient_maps.as_ref() else {
        return Known::Yes;
    };
    let lower = qualified.to_ascii_lowercase();
    let local = lower.rsplit_once('@').map(|(l, _)| l).unwrap_or(&lower);
    let mut keys: Vec<String> = vec![lower.clone()];
    if let (base, Some(_ext)) = ctx.rewrite.split(local) {
        let domain = super::address::domain_of(&lower);
        keys.push(format!("{}@{}", base, domain));
        keys.push(local.to_string());
        keys.push(base.to_string());
    } else {
        keys.push(local.to_string());
    }
    for key in &keys {
        match maps.lookup(key) {
            Ok(Some(_)) => return Known::Yes,
            Ok(None) => {}
            Err(e) => {
                log_table_error(&e, key);
                return Known::TempFail;
            }
        }
    }
    Known::No
}

/// Result of a local recipient table search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Found, or no table configured.
    Yes,
    No,
    /// A table could not answer.
    TempFail,
}

/// The local recipient table test (reject_unlisted_recipient): only for an address that
/// resolves to one of our domains.
pub fn local_test(ctx: &SmtpdContext, r: &Rcpt<'_>) -> Result<(), String> {
    let route = resolve(ctx, r.qualified);
    if !ctx.rewrite.is_local(&route.domain) {
        return Ok(());
    }
    match local_recipient_known(ctx, &route.address) {
        Known::Yes => Ok(()),
        Known::No => Err(unknown_local_reply(ctx, r.given)),
        Known::TempFail => Err(temp_lookup_reply(r.given)),
    }
}

/// The reply for an unknown local recipient.
pub fn unknown_local_reply(ctx: &SmtpdContext, given: &str) -> String {
    let code = ctx.unknown_local_code;
    format!(
        "{} {}.1.1 <{}>: Recipient address rejected: User unknown in local recipient table",
        code,
        code / 100,
        given
    )
}
