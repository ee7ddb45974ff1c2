//! Where a recipient goes (Postfix's smtpd_check.c relay and recipient table tests):
//! sender-specified routing resolved as trivial-rewrite does, the relay test
//! (permit_auth_destination / reject_unauth_destination with allow_untrusted_routing) and
//! the recipient table test (reject_unlisted_recipient, Postfix's check_rcpt_maps; also
//! for the sender: reject_unlisted_sender, smtpd_reject_unlisted_sender, whose refusals say
//! `Sender address rejected` with DSN X.1.0).
//! Which domains are ours, relayed or virtual, sender-specified routing and the
//! recipient_delimiter split come from `ctx.rewrite` (crate::rewrite, built once per
//! configuration, with $virtual_alias_maps and $virtual_mailbox_maps opened). Used by
//! `restrict` (the restrictions) and `check` (the implicit test after the lists, VRFY);
//! it imports neither.
//!
//! The recipient table test: an address found in $recipient_canonical_maps, $canonical_maps
//! or $virtual_alias_maps is accepted whatever its class; one in $relocated_maps is
//! rejected (`550 5.1.6 <ADDR>: Recipient address rejected: User has moved to NEW`); otherwise a local address must be in $local_recipient_maps, an address in a
//! virtual alias domain is unknown (unknown_virtual_alias_reject_code, `User unknown in
//! virtual alias table`), and an address in a virtual mailbox domain must be in
//! $virtual_mailbox_maps when that is set (unknown_virtual_mailbox_reject_code, `User
//! unknown in virtual mailbox table`), and an address in $relay_domains must be in
//! $relay_recipient_maps when that is set (unknown_relay_recipient_reject_code, `User
//! unknown in relay recipient table`). Virtual tables are searched as Postfix's
//! mail_addr_find (crate::rewrite::AddrMaps): the address, without its extension, the bare
//! local part for our own domains, `@domain`.
//!
//! Security role: this is the open-relay guard. A recipient outside $mydestination, the
//! virtual domains and $relay_domains is never an authorized destination. An address with
//! sender-specified routing (`user%remote@here`, `user!remote@here`, `"user@remote"@here`)
//! is resolved to where it really goes and, with allow_untrusted_routing = no, is never an
//! authorized destination. A table error (also in a virtual domain list) is never "not
//! found": it answers 451 so the client retries. Follows postconf(5)
//! allow_untrusted_routing, local_recipient_maps, unknown_local_recipient_reject_code,
//! virtual_alias_maps, virtual_mailbox_maps, unknown_virtual_alias_reject_code,
//! unknown_virtual_mailbox_reject_code, relay_recipient_maps,
//! unknown_relay_recipient_reject_code, show_user_unknown_table_name,
//! smtpd_reject_unlisted_sender.
//!
//! Logs: `warning: TABLE is unavailable. REASON`, `warning: TABLE lookup error for "KEY"`
//! (a recipient table failure), `warning: virtual_alias_domains lookup failure` (a domain
//! list failure). The caller logs the `NOQUEUE: reject:` line.

use super::SmtpdContext;
use super::policy_types::{Rcpt, log_table_error, temp_lookup_reply};
use crate::log;
use crate::reply::Reply;
use crate::rewrite::{AddrMaps, AddressClass};

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
/// resolves to $mydestination, a virtual domain or $relay_domains, and with
/// allow_untrusted_routing = no it carries no sender-specified routing. `Err` is the 451
/// reply of a domain list that could not answer.
pub fn auth_destination(ctx: &SmtpdContext, r: &Rcpt<'_>) -> Result<bool, Reply> {
    let route = resolve(ctx, r.qualified);
    if route.routed && !ctx.policy.allow_untrusted_routing {
        return Ok(false);
    }
    if route.domain.is_empty() {
        return Ok(false);
    }
    Ok(class(ctx, &route.domain, r)? != AddressClass::Default)
}

/// The address class of `domain`; a domain list failure is logged and answers 451.
fn class(ctx: &SmtpdContext, domain: &str, r: &Rcpt<'_>) -> Result<AddressClass, Reply> {
    ctx.rewrite.class_of(domain).map_err(|e| {
        log_table_error(&e.error, domain);
        log::warning("smtpd", &e);
        temp_lookup_reply(r.given)
    })
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

/// Whose address a table test is about (Postfix's check_rcpt_maps reply class): a refusal
/// says `Sender address rejected` with DSN X.1.0, or `Recipient address rejected` with
/// X.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sender,
    Recipient,
}

impl Role {
    fn class(self) -> &'static str {
        match self {
            Role::Sender => "Sender address",
            Role::Recipient => "Recipient address",
        }
    }

    /// The DSN after the class digit.
    fn detail(self) -> &'static str {
        match self {
            Role::Sender => "1.0",
            Role::Recipient => "1.1",
        }
    }
}

/// The recipient table test for RCPT TO (Postfix's check_recipient_rcpt_maps): nothing
/// with `receive_override_options = no_unknown_recipient_checks`, else `unlisted_test`.
pub fn recipient_test(ctx: &SmtpdContext, r: &Rcpt<'_>) -> Result<(), Reply> {
    if ctx.receive.no_unknown_recipient_checks {
        return Ok(());
    }
    unlisted_test(ctx, r, Role::Recipient)
}

/// The same test for a sender address (reject_unlisted_sender, smtpd_reject_unlisted_sender;
/// Postfix's check_sender_rcpt_maps): the null sender passes, an unqualified one is
/// qualified with $myorigin as for the envelope.
pub fn sender_test(ctx: &SmtpdContext, given: &str) -> Result<(), Reply> {
    if given.is_empty() || ctx.receive.no_unknown_recipient_checks {
        return Ok(());
    }
    let qualified = super::address::qualify(given, &ctx.myorigin);
    let r = Rcpt {
        given,
        qualified: &qualified,
    };
    unlisted_test(ctx, &r, Role::Sender)
}

/// The table test (reject_unlisted_recipient/_sender, Postfix's check_rcpt_maps; see the
/// module doc). Default class addresses pass unless $virtual_alias_maps fails.
pub fn unlisted_test(ctx: &SmtpdContext, r: &Rcpt<'_>, role: Role) -> Result<(), Reply> {
    let route = resolve(ctx, r.qualified);
    let class = class(ctx, &route.domain, r)?;
    // As Postfix 2.10's check_rcpt_maps: an address that cleanup will map is accepted
    // (sender_canonical_maps counts only from Postfix 3.2 on).
    let maps = ctx.rewrite.maps();
    for m in [
        &maps.recipient_canonical,
        &maps.canonical,
        ctx.rewrite.virtual_alias_maps(),
    ] {
        if find(ctx, m, &route, r)? {
            return Ok(());
        }
    }
    relocated_test(ctx, &route, r, role)?;
    match class {
        // The mail system's own names (bounces come from and go to them), as Postfix.
        AddressClass::Local if system_name(ctx, &route.address) => Ok(()),
        AddressClass::Local => match local_recipient_known(ctx, &route.address) {
            Known::Yes => Ok(()),
            Known::No => Err(unknown_local_reply(ctx, r.given, role)),
            Known::TempFail => Err(temp_lookup_reply(r.given)),
        },
        AddressClass::VirtualAlias => Err(unknown_reply(
            ctx,
            "unknown_virtual_alias_reject_code",
            "virtual alias",
            r.given,
            role,
        )),
        AddressClass::VirtualMailbox => {
            let maps = ctx.rewrite.virtual_mailbox_maps();
            if maps.is_empty() || find(ctx, maps, &route, r)? {
                return Ok(());
            }
            Err(unknown_reply(
                ctx,
                "unknown_virtual_mailbox_reject_code",
                "virtual mailbox",
                r.given,
                role,
            ))
        }
        AddressClass::Relay => {
            let maps = &ctx.rewrite.maps().relay_recipient;
            if maps.is_empty() || find(ctx, maps, &route, r)? {
                return Ok(());
            }
            Err(unknown_reply(
                ctx,
                "unknown_relay_recipient_reject_code",
                "relay recipient",
                r.given,
                role,
            ))
        }
        AddressClass::Default => Ok(()),
    }
}

/// Whether the local part of `address` is postmaster, MAILER-DAEMON or
/// $double_bounce_sender.
fn system_name(ctx: &SmtpdContext, address: &str) -> bool {
    let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
    ctx.rewrite.splitter().is_mail_system_name(local)
}

/// $relocated_maps (Postfix's resolver sends such an address to the error transport, and
/// check_rcpt_maps rejects it): `550 5.1.6 <ADDR>: Recipient address rejected: User has
/// moved to NEW` (`Sender address` for a sender). A table failure answers 451.
fn relocated_test(
    ctx: &SmtpdContext,
    route: &Route,
    r: &Rcpt<'_>,
    role: Role,
) -> Result<(), Reply> {
    let maps = &ctx.rewrite.maps().relocated;
    let ours = ctx.rewrite.local_part_keys(&route.domain);
    match maps.find(&ctx.rewrite, &route.address, ours) {
        Ok(None) => Ok(()),
        Ok(Some(found)) => Err(Reply::with_dsn(
            550,
            "5.1.6",
            &format!(
                "<{}>: {} rejected: {}",
                r.given,
                role.class(),
                crate::rewrite::resolve::relocated_text(&found.value)
            ),
        )),
        Err((e, key)) => {
            log_table_error(&e, &key);
            log::warning("smtpd", "relocated_maps lookup failure");
            Err(temp_lookup_reply(r.given))
        }
    }
}

/// Whether `maps` has the routed address (mail_addr_find keys); a failure is logged and
/// answers 451.
fn find(ctx: &SmtpdContext, maps: &AddrMaps, route: &Route, r: &Rcpt<'_>) -> Result<bool, Reply> {
    let ours = ctx.rewrite.local_part_keys(&route.domain);
    match maps.find(&ctx.rewrite, &route.address, ours) {
        Ok(found) => Ok(found.is_some()),
        Err((e, key)) => {
            log_table_error(&e, &key);
            Err(temp_lookup_reply(r.given))
        }
    }
}

/// `CODE 5.1.1 <ADDR>: Recipient address rejected: User unknown in TABLE table` (5.1.0 and
/// `Sender address` for a sender), the code from parameter `code_param` (550 when out of
/// range).
fn unknown_reply(
    ctx: &SmtpdContext,
    code_param: &str,
    table: &str,
    given: &str,
    role: Role,
) -> Reply {
    let code = ctx.cfg.reply_code(code_param, 550);
    let table = if ctx.cfg.bool("show_user_unknown_table_name") {
        format!(" in {} table", table)
    } else {
        String::new()
    };
    Reply::with_dsn(
        code,
        &format!("{}.{}", code / 100, role.detail()),
        &format!(
            "<{}>: {} rejected: User unknown{}",
            given,
            role.class(),
            table
        ),
    )
}

/// The reply for an unknown local address.
fn unknown_local_reply(ctx: &SmtpdContext, given: &str, role: Role) -> Reply {
    let code = ctx.unknown_local_code;
    Reply::with_dsn(
        code,
        &format!("{}.{}", code / 100, role.detail()),
        &format!(
            "<{}>: {} rejected: User unknown in local recipient table",
            given,
            role.class()
        ),
    )
}
