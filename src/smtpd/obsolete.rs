//! The restrictions Postfix 2.10 still accepts but calls obsolete, each with Postfix's
//! warning: reject_maps_rbl (reject_rbl_client for each domain of $maps_rbl_domains;
//! `warning: support for restriction "reject_maps_rbl" will be removed from Postfix; use
//! "reject_rbl_client domain-name" instead`, once), check_relay_domains (permit a client
//! whose name is in $relay_domains or a recipient this server may receive mail for, else
//! `554 5.7.1 <ADDR>: Recipient address rejected: Relay access denied` with
//! relay_domains_reject_code; its warning names reject_unauth_destination, once) and
//! permit_naked_ip_address (permit a HELO name that is a bare IP address; `warning:
//! restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or
//! permit_sasl_authenticated instead`, each time). Follows Postfix 2.10's smtpd_check.c.
//!
//! Security role: permit_naked_ip_address lets any client that says `HELO 1.2.3.4` past
//! the list it is in, as in Postfix (hence its warning); a malformed bare address (any
//! bare IPv6 address too, as Postfix's valid_mailhost_addr) is refused (`501 5.5.2
//! <NAME>: Helo command rejected: invalid ip address`). Logs the
//! warnings above.

use std::sync::atomic::{AtomicBool, Ordering};

use super::SmtpdContext;
use super::destination;
use super::policy_types::{Class, Decision, Facts, reply};
use super::rbl::Kind;
use crate::log;

static MAPS_RBL_WARNED: AtomicBool = AtomicBool::new(false);
static RELAY_DOMAINS_WARNED: AtomicBool = AtomicBool::new(false);

/// Postfix's once-per-process warning that `old` goes, with what to use instead.
fn warn_once(flag: &AtomicBool, ctx: &SmtpdContext, old: &str, instead: &str) {
    if !flag.swap(true, Ordering::SeqCst) {
        log::warning(
            "smtpd",
            format!(
                "support for restriction \"{}\" will be removed from {}; use \"{}\" instead",
                old, ctx.mail_name, instead
            ),
        );
    }
}

/// reject_maps_rbl: the client address against each domain of $maps_rbl_domains.
pub fn maps_rbl(ctx: &SmtpdContext, f: &Facts<'_>) -> Decision {
    let flag = &MAPS_RBL_WARNED;
    warn_once(
        flag,
        ctx,
        "reject_maps_rbl",
        "reject_rbl_client domain-name",
    );
    for site in &ctx.policy.maps_rbl_domains {
        match super::rbl_check::check(ctx, Kind::RblClient, site, f) {
            Decision::Dunno => {}
            d => return d,
        }
    }
    Decision::Dunno
}

/// check_relay_domains, for a recipient.
pub fn relay_domains(ctx: &SmtpdContext, f: &Facts<'_>) -> Decision {
    let flag = &RELAY_DOMAINS_WARNED;
    warn_once(
        flag,
        ctx,
        "check_relay_domains",
        "reject_unauth_destination",
    );
    let Some(rc) = f.rcpt else {
        return Decision::Dunno;
    };
    let name = &f.client.name;
    if name != "unknown" && ctx.rewrite.is_relay(name) {
        return Decision::Permit;
    }
    match destination::auth_destination(ctx, &rc) {
        Ok(true) => Decision::Permit,
        Ok(false) => {
            let code = ctx.policy.relay_code;
            let text = "Relay access denied";
            Decision::Reject(reply(code, "7.1", rc.given, Class::Recipient, text))
        }
        Err(r) => Decision::Reject(r),
    }
}

/// permit_naked_ip_address: the HELO name is a bare IP address.
pub fn naked_ip_address(ctx: &SmtpdContext, f: &Facts<'_>) -> Decision {
    log::warning(
        "smtpd",
        "restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or permit_sasl_authenticated instead",
    );
    let Some(helo) = f.helo else {
        return Decision::Dunno;
    };
    if helo.is_empty()
        || !helo
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b':')
    {
        return Decision::Dunno;
    }
    if super::hostname::valid_ipv4_hostaddr(helo) {
        return Decision::Permit;
    }
    let code = ctx.policy.invalid_hostname_code;
    Decision::Reject(reply(code, "5.2", helo, Class::Helo, "invalid ip address"))
}
