//! Recipient access decisions (Postfix's smtpd_check.c in miniature): the relay
//! restrictions, then the recipient restrictions, then the local recipient table test
//! (reject_unlisted_recipient with local_recipient_maps).
//!
//! Security role: this is the open-relay guard. A recipient outside $mydestination and
//! $relay_domains is accepted only through an explicit permit (permit_mynetworks). A table
//! error is never "not found": it answers 451 so the client retries. An unknown restriction
//! name answers 451 4.3.5 rather than permitting. Follows postconf(5)
//! smtpd_relay_restrictions, smtpd_recipient_restrictions, local_recipient_maps.
//!
//! Logs: `warning: TABLE is unavailable. REASON`, `warning: TABLE lookup error for "KEY"`,
//! `warning: unknown smtpd restriction: "NAME"`.

use std::net::IpAddr;

use super::SmtpdContext;
use crate::log;
use crate::tables::TableError;

/// One restriction in a restriction list.
#[derive(Debug, Clone, PartialEq)]
pub enum Restriction {
    Permit,
    Reject,
    Defer,
    PermitMynetworks,
    PermitSaslAuthenticated,
    RejectUnauthDestination,
    DeferUnauthDestination,
    PermitAuthDestination,
    RejectUnlistedRecipient,
    Unknown(String),
}

impl Restriction {
    pub fn parse_list(value: &str) -> Vec<Restriction> {
        crate::config::split_list(value)
            .into_iter()
            .map(|n| match n.to_ascii_lowercase().as_str() {
                "permit" => Restriction::Permit,
                "reject" => Restriction::Reject,
                "defer" => Restriction::Defer,
                "permit_mynetworks" => Restriction::PermitMynetworks,
                "permit_sasl_authenticated" => Restriction::PermitSaslAuthenticated,
                "reject_unauth_destination" => Restriction::RejectUnauthDestination,
                "defer_unauth_destination" => Restriction::DeferUnauthDestination,
                "permit_auth_destination" => Restriction::PermitAuthDestination,
                "reject_unlisted_recipient" | "check_recipient_maps" => {
                    Restriction::RejectUnlistedRecipient
                }
                _ => Restriction::Unknown(n),
            })
            .collect()
    }
}

/// What the client is, for restriction evaluation.
pub struct Who {
    pub addr: IpAddr,
    pub sasl_authenticated: bool,
}

/// A recipient as the client gave it and as qualified with $myorigin.
pub struct Rcpt<'a> {
    pub given: &'a str,
    pub qualified: &'a str,
}

enum Verdict {
    Permit,
    Dunno,
    Refuse(String),
}

/// The reply for a server-side problem.
pub const CONFIG_ERROR: &str = "451 4.3.5 Server configuration error";

fn is_local_domain(ctx: &SmtpdContext, domain: &str) -> bool {
    ctx.mydestination.iter().any(|d| d == domain)
}

/// Whether the recipient's domain is one we accept mail for ($mydestination, $relay_domains).
fn auth_destination(ctx: &SmtpdContext, domain: &str) -> bool {
    is_local_domain(ctx, domain) || ctx.relay_domains.iter().any(|d| d == domain)
}

fn evaluate(ctx: &SmtpdContext, list: &[Restriction], who: &Who, r: &Rcpt<'_>) -> Verdict {
    let domain = super::address::domain_of(r.qualified);
    for x in list {
        match x {
            Restriction::Permit => return Verdict::Permit,
            Restriction::Reject => {
                return Verdict::Refuse(format!(
                    "554 5.7.1 <{}>: Recipient address rejected: Access denied",
                    r.given
                ));
            }
            Restriction::Defer => {
                return Verdict::Refuse(format!(
                    "450 4.7.1 <{}>: Recipient address rejected: Access denied",
                    r.given
                ));
            }
            Restriction::PermitMynetworks => {
                if ctx.mynetworks.contains(who.addr) {
                    return Verdict::Permit;
                }
            }
            Restriction::PermitSaslAuthenticated => {
                if who.sasl_authenticated {
                    return Verdict::Permit;
                }
            }
            Restriction::RejectUnauthDestination => {
                if !auth_destination(ctx, &domain) {
                    let code = ctx.relay_domains_reject_code;
                    return Verdict::Refuse(format!(
                        "{} {}.7.1 <{}>: Relay access denied",
                        code,
                        code / 100,
                        r.given
                    ));
                }
            }
            Restriction::DeferUnauthDestination => {
                if !auth_destination(ctx, &domain) {
                    return Verdict::Refuse(format!(
                        "454 4.7.1 <{}>: Relay access denied",
                        r.given
                    ));
                }
            }
            Restriction::PermitAuthDestination => {
                if auth_destination(ctx, &domain) {
                    return Verdict::Permit;
                }
            }
            Restriction::RejectUnlistedRecipient => {}
            Restriction::Unknown(name) => {
                log::warning(
                    "smtpd",
                    format!(
                        "unknown smtpd restriction: \"{}\"",
                        log::lines::printable(name)
                    ),
                );
                return Verdict::Refuse(CONFIG_ERROR.to_string());
            }
        }
    }
    Verdict::Dunno
}

/// Log a table failure as Postfix does: the table's own warning, then the lookup error.
fn log_table_error(e: &TableError, key: &str) {
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
    if let Some((base, _ext)) = split_extension(local, &ctx.recipient_delimiter) {
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

fn local_test(ctx: &SmtpdContext, r: &Rcpt<'_>) -> Result<(), String> {
    let domain = super::address::domain_of(r.qualified);
    if !is_local_domain(ctx, &domain) {
        return Ok(());
    }
    match local_recipient_known(ctx, r.qualified) {
        Known::Yes => Ok(()),
        Known::No => Err(unknown_local_reply(ctx, r.given)),
        Known::TempFail => Err(temp_lookup_reply(r.given)),
    }
}

fn split_extension<'a>(local: &'a str, delims: &str) -> Option<(&'a str, &'a str)> {
    if delims.is_empty() {
        return None;
    }
    let i = local.find(|c| delims.contains(c))?;
    if i == 0 {
        return None;
    }
    Some((&local[..i], &local[i + 1..]))
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

/// Decide on a RCPT TO. `Ok(())` accepts; `Err(reply)` refuses (the caller logs the
/// NOQUEUE line).
pub fn check_recipient(ctx: &SmtpdContext, who: &Who, r: &Rcpt<'_>) -> Result<(), String> {
    if ctx.stand_alone {
        // A local user may send anywhere, as with plain sendmail.
        return local_test(ctx, r);
    }
    for list in [&ctx.relay_restrictions, &ctx.recipient_restrictions] {
        if let Verdict::Refuse(reply) = evaluate(ctx, list, who, r) {
            return Err(reply);
        }
    }
    local_test(ctx, r)
}

/// VRFY: only the local recipient table test. `Ok(())` means "252".
pub fn check_vrfy(ctx: &SmtpdContext, r: &Rcpt<'_>) -> Result<(), String> {
    local_test(ctx, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_restriction_names() {
        let l = Restriction::parse_list("permit_mynetworks, reject_unauth_destination bogus");
        assert_eq!(
            l,
            vec![
                Restriction::PermitMynetworks,
                Restriction::RejectUnauthDestination,
                Restriction::Unknown("bogus".into())
            ]
        );
    }

    #[test]
    fn extension_split() {
        assert_eq!(split_extension("user+foo", "+"), Some(("user", "foo")));
        assert_eq!(split_extension("user", "+"), None);
        assert_eq!(split_extension("+x", "+"), None);
        assert_eq!(split_extension("user+foo", ""), None);
    }
}
