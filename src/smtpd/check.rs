//! The SMTP server's policy decisions at each stage (Postfix's smtpd_check.c): which
//! restriction lists run when (smtpd_delay_reject), the relay test with
//! allow_untrusted_routing, and the local recipient table test (reject_unlisted_recipient
//! with local_recipient_maps, also applied after the lists as Postfix does). Which domains
//! are ours or relayed, sender-specified routing and the recipient_delimiter split come
//! from `ctx.rewrite` (crate::rewrite, built once per configuration).
//!
//! Security role: this is the open-relay guard. A recipient outside $mydestination and
//! $relay_domains is accepted only through an explicit permit (permit_mynetworks, ...). An
//! address with sender-specified routing (`user%remote@here`, `user!remote@here`,
//! `"user@remote"@here`) is resolved to where it really goes and, with
//! allow_untrusted_routing = no, is never an authorized destination. A table error is never
//! "not found": it answers 451 so the client retries. Follows postconf(5)
//! smtpd_*_restrictions, smtpd_delay_reject, allow_untrusted_routing, local_recipient_maps.
//!
//! Logs: `NOQUEUE: reject_warning:` (via restrict), `warning: TABLE is unavailable.
//! REASON`, `warning: TABLE lookup error for "KEY"`, `warning: unknown smtpd restriction`.
//! The caller logs the `NOQUEUE: reject:` line of a refusal.

use super::SmtpdContext;
use super::restrict::{Class, Decision, evaluate};
pub use super::restrict::{Facts, Rcpt};
use crate::log;
use crate::tables::TableError;

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

/// Log a table failure as Postfix does: the table's own warning, then the lookup error.
pub fn log_table_error(e: &TableError, key: &str) {
    log::warning("smtpd", e);
    log::lines::lookup_error("smtpd", e.table(), key);
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

/// The reply for a table failure.
pub fn temp_lookup_reply(given: &str) -> String {
    format!("451 4.3.0 <{}>: Temporary lookup failure", given)
}

fn refuse(d: Decision) -> Result<(), String> {
    match d {
        Decision::Reject(reply) => Err(reply),
        Decision::Permit | Decision::Dunno => Ok(()),
    }
}

/// smtpd_client_restrictions (at connect with smtpd_delay_reject = no).
pub fn check_client(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), String> {
    refuse(evaluate(ctx, &ctx.policy.client, Class::Client, f))
}

/// smtpd_helo_restrictions (at HELO/EHLO with smtpd_delay_reject = no).
pub fn check_helo(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), String> {
    refuse(evaluate(ctx, &ctx.policy.helo, Class::Helo, f))
}

/// smtpd_sender_restrictions (at MAIL with smtpd_delay_reject = no).
pub fn check_sender(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), String> {
    refuse(evaluate(ctx, &ctx.policy.sender, Class::Sender, f))
}

/// Decide on a RCPT TO (`f.rcpt` set). With smtpd_delay_reject = yes the client, HELO and
/// sender lists run first; then smtpd_relay_restrictions, smtpd_recipient_restrictions and
/// the local recipient test. `Ok(())` accepts; `Err(reply)` refuses (the caller logs the
/// NOQUEUE line). A `sendmail -bs` session gets only the local recipient test.
pub fn check_recipient(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), String> {
    let Some(r) = f.rcpt else {
        return Ok(());
    };
    if ctx.stand_alone {
        return local_test(ctx, &r);
    }
    let p = &ctx.policy;
    if p.delay_reject {
        check_client(ctx, f)?;
        check_helo(ctx, f)?;
        check_sender(ctx, f)?;
    }
    if !p.relay_safe() {
        // As Postfix: without a restriction that can refuse relaying, refuse everything
        // rather than be an open relay.
        log::warning(
            "smtpd",
            "RCPT from a client: specify at least one working instance of: reject_unauth_destination, \
             defer_unauth_destination, reject or defer in smtpd_relay_restrictions or smtpd_recipient_restrictions",
        );
        return Err("451 4.3.5 Server configuration error".to_string());
    }
    refuse(evaluate(ctx, &p.relay, Class::Recipient, f))?;
    refuse(evaluate(ctx, &p.recipient, Class::Recipient, f))?;
    local_test(ctx, &r)
}

/// smtpd_data_restrictions, at DATA.
pub fn check_data(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), String> {
    if ctx.stand_alone {
        return Ok(());
    }
    refuse(evaluate(ctx, &ctx.policy.data, Class::Data, f))
}

/// VRFY: only the local recipient table test. `Ok(())` means "252".
pub fn check_vrfy(ctx: &SmtpdContext, r: &Rcpt<'_>) -> Result<(), String> {
    local_test(ctx, r)
}
