//! permit_mx_backup (Postfix's smtpd_check.c permit_mx_backup, i_am_mx, has_my_addr and
//! permit_mx_primary): accept mail for a domain this host is a backup MX for.
//!
//! A recipient is permitted when its domain is one of ours (local, virtual or
//! $relay_domains: as permit_auth_destination) or when this host is among the domain's MX
//! hosts of a higher preference value than the best ones, and not among the best ones (a
//! host that is the primary MX must list the domain itself); with $permit_mx_backup_networks
//! set, every address of every best MX host must also be in those networks (addresses,
//! CIDR blocks, files and tables as in $mynetworks; an entry that cannot be read, such as a
//! host name, matches nothing). An MX host is
//! this host when its name is one of ours ($mydestination) or one of its addresses is in
//! $inet_interfaces or $proxy_interfaces.
//!
//! Security role: it widens relaying, so it says "no opinion" whenever it is not sure:
//! sender-specified routing (with allow_untrusted_routing = no), address literals, a
//! domain without MX records. A DNS failure raises DEFER_IF_REJECT (`450 4.4.4 <ADDR>:
//! Recipient address rejected: Unable to look up mail exchanger information`, Postfix
//! 2.10's texts), so a later reject becomes a deferral, as in Postfix; a table failure
//! answers 451. Note (as in Postfix): an MX host named `localhost`, or one resolving to a
//! loopback address with inet_interfaces = all, makes this host "backup MX" for anyone who
//! publishes it; permit_mx_backup_networks guards against that. Logs
//! nothing itself.

use std::net::IpAddr;

use super::SmtpdContext;
use super::destination;
use super::policy_types::{Class, Decision, Facts, log_table_error, raise_deferral, reply};
use crate::dns::{DnsError, MxHost, Resolve};
use crate::log;
use crate::rewrite::AddressClass;

/// The permit_mx_backup decision for the recipient in `f` (none: no opinion).
pub fn check(ctx: &SmtpdContext, f: &Facts<'_>) -> Decision {
    let Some(rc) = f.rcpt else {
        return Decision::Dunno;
    };
    let route = destination::resolve(ctx, rc.qualified);
    if (route.routed && !ctx.policy.allow_untrusted_routing) || route.domain.is_empty() {
        return Decision::Dunno;
    }
    match ctx.rewrite.class_of(&route.domain) {
        Ok(AddressClass::Default) => {}
        Ok(_) => return Decision::Permit,
        Err(e) => {
            log_table_error(&e.error, &route.domain);
            log::warning("smtpd", &e);
            return Decision::Reject(super::policy_types::temp_lookup_reply(rc.given));
        }
    }
    if route.domain.starts_with('[') {
        return Decision::Dunno;
    }
    let defer = |text: String| {
        let r = reply(450, "4.4", rc.given, Class::Recipient, &text);
        raise_deferral(f, r, false)
    };
    let Some(dns) = ctx.resolver.as_deref() else {
        return defer("Unable to look up mail exchanger information".into());
    };
    let mut mx = match dns.mx(&route.domain) {
        Ok(mx) if !mx.is_empty() => mx,
        Ok(_) | Err(DnsError::NotFound(_)) => return Decision::Dunno,
        Err(DnsError::TempFail(_)) => {
            return defer("Unable to look up mail exchanger information".into());
        }
    };
    mx.sort_by_key(|m| m.preference);
    // At most 100 hosts, the best first (Postfix's dns_rr_list_limit).
    mx.truncate(100);
    let best = mx[0].preference;
    let (primary, backup): (Vec<MxHost>, Vec<MxHost>) =
        mx.into_iter().partition(|m| m.preference == best);
    let mut lookup_failed = None;
    let mine = |hosts: &[MxHost], failed: &mut Option<String>| i_am_mx(ctx, dns, hosts, failed);
    let permitted = !mine(&primary, &mut lookup_failed)
        && mine(&backup, &mut lookup_failed)
        && primaries_allowed(ctx, dns, &primary, &mut lookup_failed);
    match (permitted, lookup_failed) {
        (true, _) => Decision::Permit,
        (false, Some(text)) => defer(text),
        (false, None) => Decision::Dunno,
    }
}

/// Whether one of `hosts` is this host: by name first, then by address. A host whose
/// addresses cannot be looked up is not this host, and the failure is noted in `failed`.
fn i_am_mx(
    ctx: &SmtpdContext,
    dns: &dyn Resolve,
    hosts: &[MxHost],
    failed: &mut Option<String>,
) -> bool {
    if hosts.iter().any(|h| ctx.rewrite.is_local(&h.name)) {
        return true;
    }
    let own = ctx.rewrite.own_addresses().addrs();
    hosts.iter().any(|h| match dns.addrs(&h.name) {
        Ok(addrs) => addrs.iter().any(|a| own.contains(&a.to_canonical())),
        Err(e) => {
            failed.get_or_insert(format!(
                "Unable to look up mail exchanger host {}: {}",
                h.name, e
            ));
            false
        }
    })
}

/// With $permit_mx_backup_networks set: whether every address of every best MX host is
/// in it. A lookup that fails is noted in `failed`; a table that fails is logged.
fn primaries_allowed(
    ctx: &SmtpdContext,
    dns: &dyn Resolve,
    primary: &[MxHost],
    failed: &mut Option<String>,
) -> bool {
    // Once set, an entry that could not be read matches nothing: it never lets every
    // primary pass.
    let Some(nets) = &ctx.policy.mx_backup_networks else {
        return true;
    };
    primary.iter().all(|h| match dns.addrs(&h.name) {
        Ok(addrs) => !addrs.is_empty() && addrs.iter().all(|a| in_nets(nets, &h.name, *a, failed)),
        Err(_) => {
            failed.get_or_insert(format!(
                "Unable to look up host {} as mail exchanger",
                h.name
            ));
            false
        }
    })
}

/// Whether `a` (of MX host `host`) is in `nets`; a table that cannot answer is logged and
/// noted in `failed` (Postfix's `Unable to verify host HOST as mail exchanger`).
fn in_nets(
    nets: &super::network::NetList,
    host: &str,
    a: IpAddr,
    failed: &mut Option<String>,
) -> bool {
    match nets.lookup(a) {
        Ok(hit) => hit,
        Err(e) => {
            log_table_error(&e, &a.to_string());
            failed.get_or_insert(format!("Unable to verify host {} as mail exchanger", host));
            false
        }
    }
}
