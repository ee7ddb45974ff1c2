//! check_{client,helo,sender,recipient}_{mx,ns}_access (Postfix's smtpd_check.c
//! check_server_access): an access(5) table searched for the MX or NS hosts of a name's
//! domain, by host name (and parent domains) first, then by each of the host's addresses
//! (and their network prefixes).
//!
//! The name is the client's verified host name or its unverified PTR name
//! (check_reverse_client_hostname_{mx,ns}_access; not `unknown`), the HELO name, or the
//! domain of the sender or recipient (not the null sender). A domain without MX records is
//! its own MX host, an address literal (`[192.0.2.1]`) its own MX address; a name without
//! NS records takes its parent domain's; a name that does not exist, or a null MX, is no
//! opinion (Postfix 2.10). A table's answer means what it means in
//! check_*_access (`access::answer`), except that OK is refused: as in Postfix, a name
//! chosen by whoever runs the domain's DNS must not allow anything, so an OK answers `451
//! 4.3.5 Server configuration error` with Postfix's three warnings (use DUNNO for an
//! exception).
//!
//! Security role: block lists by where a domain's mail or DNS is hosted. A DNS failure is
//! no opinion (with Postfix's warning), as in Postfix; a table failure answers 451. At
//! most 100 server addresses are looked up (Postfix's dns_rr_list_limit). Logs `warning:
//! Unable to look up MX host for DOMAIN: ...`, `warning: Unable to look up MX host HOST for
//! Sender address ADDR: ...` and the OK refusal's warnings.

use std::net::IpAddr;

use super::SmtpdContext;
use super::access::{self, Nested};
use super::policy_types::{AccessKind, Decision, Facts, config_error};
use crate::dns::{DnsError, Resolve};
use crate::log;
use crate::tables::Table;

/// Which servers of the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Servers {
    Mx,
    Ns,
}

impl Servers {
    fn word(self) -> &'static str {
        match self {
            Servers::Mx => "MX",
            Servers::Ns => "NS",
        }
    }
}

/// Most server addresses looked up for one check, and most MX or NS hosts taken from one
/// answer (Postfix's dns_rr_list_limit): a domain cannot make one RCPT ask DNS without end.
const ADDRESS_LIMIT: usize = 100;
const HOST_LIMIT: usize = 100;

/// Run one check_*_{mx,ns}_access restriction named `restriction`.
pub fn check(
    ctx: &SmtpdContext,
    restriction: &str,
    kind: AccessKind,
    servers: Servers,
    table: &dyn Table,
    f: &Facts<'_>,
    nested: Nested<'_>,
) -> Decision {
    let name = match kind {
        AccessKind::Client if !f.client.name.eq_ignore_ascii_case("unknown") => {
            f.client.name.as_str()
        }
        AccessKind::ReverseClient if !f.client.reverse_name.eq_ignore_ascii_case("unknown") => {
            f.client.reverse_name.as_str()
        }
        AccessKind::Helo => match f.helo {
            Some(h) => h,
            None => return Decision::Dunno,
        },
        AccessKind::Sender => match f.sender {
            Some(s) if !s.is_empty() => s,
            _ => return Decision::Dunno,
        },
        AccessKind::Recipient => match f.rcpt {
            Some(r) => r.given,
            None => return Decision::Dunno,
        },
        AccessKind::Client | AccessKind::ReverseClient => return Decision::Dunno,
    };
    let d = search(ctx, kind, servers, table, name, f, nested);
    forbid_allowlist(restriction, name, d, f)
}

/// A table whose keys someone else chooses (DNS names, an unverified PTR name) may not
/// allow: an OK answers 451 4.3.5 with Postfix's three warnings (not for a message being
/// discarded, as Postfix's forbid_allowlist).
pub fn forbid_allowlist(restriction: &str, name: &str, d: Decision, f: &Facts<'_>) -> Decision {
    if d != Decision::Permit || f.saved.borrow().discard {
        return d;
    }
    log::warning(
        "smtpd",
        format!(
            "restriction {} returns OK for {}",
            restriction,
            log::lines::printable(name)
        ),
    );
    log::warning("smtpd", "this is not allowed for security reasons");
    log::warning(
        "smtpd",
        "use DUNNO instead of OK if you want to make an exception",
    );
    Decision::Reject(config_error())
}

fn search(
    ctx: &SmtpdContext,
    kind: AccessKind,
    servers: Servers,
    table: &dyn Table,
    name: &str,
    f: &Facts<'_>,
    nested: Nested<'_>,
) -> Decision {
    let class = kind.class();
    let pattern = access::pattern_table(table);
    let parent = ctx.policy.access_parent_match;
    let by_addr = |a: &str| access::client_keys("unknown", a, parent, pattern);
    let domain = name.rsplit_once('@').map_or(name, |(_, d)| d);
    if let Some(inner) = domain.strip_prefix('[') {
        let Some(addr) = inner.strip_suffix(']') else {
            return Decision::Dunno;
        };
        let bare = addr
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("ipv6:"))
            .map_or(addr, |_| &addr[5..]);
        return match (servers, bare.parse::<IpAddr>()) {
            (Servers::Mx, Ok(ip)) => {
                let keys = by_addr(&ip.to_string());
                access::search(ctx, table, &keys, class, f, nested).unwrap_or(Decision::Dunno)
            }
            _ => Decision::Dunno,
        };
    }
    let Some(dns) = ctx.resolver.as_deref() else {
        log::warning(
            "smtpd",
            format!(
                "Unable to look up {} host for {}: no resolver",
                servers.word(),
                log::lines::printable(domain)
            ),
        );
        return Decision::Dunno;
    };
    let hosts = match hosts_of(dns, servers, domain) {
        Ok(hosts) => hosts,
        Err((looked_up, e)) => {
            log::warning(
                "smtpd",
                format!(
                    "Unable to look up {} host for {}: {}",
                    servers.word(),
                    log::lines::printable(&looked_up),
                    e
                ),
            );
            return Decision::Dunno;
        }
    };
    // A null MX (RFC 7505): the domain sends and receives no mail; no opinion.
    if hosts.iter().any(|h| h.is_empty() || h == ".") {
        return Decision::Dunno;
    }
    let mut addresses = 0;
    for host in &hosts {
        if let Ok(ip) = host.parse::<IpAddr>() {
            let keys = by_addr(&ip.to_string());
            if let Some(d) = access::search(ctx, table, &keys, class, f, nested) {
                return d;
            }
            continue;
        }
        let keys = match pattern {
            true => vec![host.to_ascii_lowercase()],
            false => access::domain_keys(host, parent),
        };
        if let Some(d) = access::search(ctx, table, &keys, class, f, nested) {
            return d;
        }
        let addrs = match dns.addrs(host) {
            Ok(addrs) => addrs,
            Err(e) => {
                log::warning(
                    "smtpd",
                    format!(
                        "Unable to look up {} host {} for {} {}: {}",
                        servers.word(),
                        log::lines::printable(host),
                        class.words(),
                        log::lines::printable(name),
                        e
                    ),
                );
                continue;
            }
        };
        for a in addrs {
            addresses += 1;
            if addresses > ADDRESS_LIMIT {
                log::warning(
                    "smtpd",
                    format!(
                        "check_server_access: {} server address count limit ({}) exceeded for {} {} -- ignoring the remainder",
                        servers.word(),
                        ADDRESS_LIMIT,
                        class.words(),
                        log::lines::printable(name)
                    ),
                );
                return Decision::Dunno;
            }
            let keys = by_addr(&a.to_canonical().to_string());
            if let Some(d) = access::search(ctx, table, &keys, class, f, nested) {
                return d;
            }
        }
    }
    Decision::Dunno
}

/// The MX or NS host names of `domain`, at most `HOST_LIMIT` (the best MX hosts first): a
/// domain without MX records is its own MX host; a name without NS records takes the
/// nearest parent's. As Postfix 2.10, only "no such record" counts as none: a name that
/// does not exist (NXDOMAIN) is an error (no opinion). `Err` names what was looked up.
fn hosts_of(
    dns: &dyn Resolve,
    servers: Servers,
    domain: &str,
) -> Result<Vec<String>, (String, DnsError)> {
    let mut hosts = match servers {
        Servers::Mx => match dns.mx(domain) {
            Ok(mx) if !mx.is_empty() => {
                let mut mx = mx;
                mx.sort_by_key(|m| m.preference);
                mx.into_iter().map(|m| m.name).collect()
            }
            Ok(_) => vec![domain.to_string()],
            Err(e) => return Err((domain.to_string(), e)),
        },
        Servers::Ns => {
            let mut name = domain;
            loop {
                match dns.ns(name) {
                    Ok(ns) if !ns.is_empty() => break ns,
                    Ok(_) => {}
                    Err(e) => return Err((name.to_string(), e)),
                }
                match name.split_once('.') {
                    Some((_, parent)) if !parent.is_empty() => name = parent,
                    _ => return Err((domain.to_string(), not_found())),
                }
            }
        }
    };
    hosts.truncate(HOST_LIMIT);
    Ok(hosts)
}

fn not_found() -> DnsError {
    DnsError::NotFound("no NS records".to_string())
}
