//! Address classes and rewriting (Postfix's trivial-rewrite(8)): the one answer to "is this
//! domain ours, and which class is it?", the sender-specified routing resolver and the
//! recipient_delimiter splitter (`split`), and the transport resolver (`resolve`: which
//! transport and next hop deliver a recipient). smtpd (relay control, the local recipient
//! test), cleanup (routing through our domains), qmgr (the transport of each recipient),
//! local (alias targets, extensions, verification) all ask a `Rewrite` built once per
//! configuration.
//!
//! Classes, tested in this order as trivial-rewrite's resolver does:
//! - local: $mydestination (postconf(5) mydestination), and address literals of this
//!   host's $inet_interfaces/$proxy_interfaces addresses (`user@[192.0.2.1]`, see
//!   `literal`). An address without a domain is local too.
//! - virtual alias ($virtual_alias_domains, default $virtual_alias_maps) and virtual
//!   mailbox ($virtual_mailbox_domains, default $virtual_mailbox_maps), in that order:
//!   Postfix string lists of names, `/file` and `type:table` entries (`virtual_domains`).
//!   Their table lookups can fail: `class_of` returns the error (`ClassError`), and callers
//!   answer 4xx or defer; a failure is never "not ours".
//! - relay: $relay_domains, subdomains too when relay_domains is in
//!   $parent_domain_matches_subdomains.
//! - default: everything else.
//!
//! $mydestination and $relay_domains take domain names only: `type:table` and `/file`
//! entries are left out and `ignored` names them for the caller to log (smtpd logs
//! `warning: domain list: table "NAME" not supported here; ignored`).
//!
//! The address-keyed tables of virtual hosting, $virtual_alias_maps and
//! $virtual_mailbox_maps, are opened here too, once per configuration (`addr_find`), for
//! smtpd's recipient test and cleanup's virtual alias expansion.
//!
//! Security role: relay control depends on this. smtpd accepts a recipient without an
//! explicit permit only when it resolves to the local, a virtual or the relay class, and a
//! virtual list that cannot answer never makes a domain "not ours"; `unroute`
//! decides what `user%remote@here` really addresses. Logs nothing itself (the resolver
//! logs Postfix's `do not list domain ... in BOTH ...` warnings).

mod addr_find;
pub mod address_list;
mod context;
mod domains;
mod literal;
mod maps;
mod recent;
pub mod resolve;
mod sender_routing;
mod split;
mod virtual_domains;

pub use addr_find::{AddrMaps, Found};
pub use context::Context;
pub use domains::{DomainList, domain_listed};
pub use literal::{OwnAddresses, inet_interface_addrs};
pub use maps::AddressMaps;
pub use split::{Splitter, split_delimiter};
pub use virtual_domains::VirtualDomains;

use std::fmt;

use crate::config::Config;
use crate::tables::TableError;

/// The class of a recipient domain (trivial-rewrite's address classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// $mydestination, or no domain: delivered by $local_transport.
    Local,
    /// $virtual_alias_domains: every address must be aliased by $virtual_alias_maps.
    VirtualAlias,
    /// $virtual_mailbox_domains: delivered by $virtual_transport.
    VirtualMailbox,
    /// $relay_domains: delivered by $relay_transport.
    Relay,
    /// Everything else: delivered by $default_transport.
    Default,
}

/// A virtual domain list could not answer for a domain.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassError {
    /// The list parameter, e.g. `virtual_alias_domains`.
    pub list: &'static str,
    pub error: TableError,
}

impl fmt::Display for ClassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lookup failure", self.list)
    }
}

impl std::error::Error for ClassError {}

/// The address classes and rewriting settings of one configuration.
#[derive(Debug, Clone, Default)]
pub struct Rewrite {
    mydestination: DomainList,
    own: OwnAddresses,
    virtual_alias: VirtualDomains,
    virtual_mailbox: VirtualDomains,
    alias_maps: AddrMaps,
    mailbox_maps: AddrMaps,
    rewrite_maps: AddressMaps,
    myorigin: String,
    relay: DomainList,
    percent_hack: bool,
    swap_bangpath: bool,
    splitter: Splitter,
    /// Recent answers of `class_of` (30 s, as Postfix's resolve client).
    recent: recent::Recent,
}

impl Rewrite {
    /// Build the classes from `cfg` (lists split and tables opened once, here).
    pub fn new(cfg: &Config) -> Rewrite {
        Rewrite {
            mydestination: DomainList::parse(cfg.get("mydestination"), false),
            own: OwnAddresses::from_config(cfg),
            virtual_alias: VirtualDomains::parse(
                "virtual_alias_domains",
                cfg.get("virtual_alias_domains"),
            ),
            virtual_mailbox: VirtualDomains::parse(
                "virtual_mailbox_domains",
                cfg.get("virtual_mailbox_domains"),
            ),
            alias_maps: AddrMaps::open("virtual_alias_maps", cfg.get("virtual_alias_maps")),
            mailbox_maps: AddrMaps::open("virtual_mailbox_maps", cfg.get("virtual_mailbox_maps")),
            rewrite_maps: AddressMaps::open(cfg),
            myorigin: cfg.get("myorigin").trim().to_ascii_lowercase(),
            relay: DomainList::parse(
                cfg.get("relay_domains"),
                cfg.parent_domain_matches("relay_domains"),
            ),
            percent_hack: cfg.bool("allow_percent_hack"),
            swap_bangpath: cfg.bool("swap_bangpath"),
            splitter: Splitter::from_config(cfg),
            recent: recent::Recent::default(),
        }
    }

    /// Whether `domain` is one of ours ($mydestination or an address literal of this host),
    /// as Postfix's resolve_local: case does not matter, one trailing dot is removed; an
    /// empty domain is not.
    pub fn is_local(&self, domain: &str) -> bool {
        match domain.strip_suffix('.').unwrap_or(domain) {
            "" => false,
            d if d.ends_with('.') => false,
            d => self.mydestination.matches(d) || self.own.is_own_literal(d),
        }
    }

    /// This host's addresses ($inet_interfaces, $proxy_interfaces).
    pub fn own_addresses(&self) -> &OwnAddresses {
        &self.own
    }

    /// Whether `domain` is in $relay_domains.
    pub fn is_relay(&self, domain: &str) -> bool {
        self.relay
            .matches(domain.strip_suffix('.').unwrap_or(domain))
    }

    /// The class of a recipient domain; an empty domain (an unqualified address) is local.
    /// Tested in trivial-rewrite's order: local, virtual alias, virtual mailbox, relay. A
    /// virtual list that cannot answer is an error (the caller defers), never "not ours".
    /// A non-local answer is kept for 30 s (`recent`); an error is not kept.
    pub fn class_of(&self, domain: &str) -> Result<AddressClass, ClassError> {
        if domain.is_empty() || self.is_local(domain) {
            return Ok(AddressClass::Local);
        }
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let key = domain.to_ascii_lowercase();
        if let Some(class) = self.recent.class(&key) {
            return Ok(class);
        }
        let class = if Self::listed(&self.virtual_alias, domain)? {
            AddressClass::VirtualAlias
        } else if Self::listed(&self.virtual_mailbox, domain)? {
            AddressClass::VirtualMailbox
        } else if self.is_relay(domain) {
            AddressClass::Relay
        } else {
            AddressClass::Default
        };
        self.recent.keep(&key, class);
        Ok(class)
    }

    /// Whether the `overlaps` warnings for `domain` are due (at most once per 30 s, see
    /// `recent`).
    pub fn overlap_warnings_due(&self, domain: &str) -> bool {
        self.recent.warn_due(&domain.to_ascii_lowercase())
    }

    fn listed(list: &VirtualDomains, domain: &str) -> Result<bool, ClassError> {
        list.matches(domain).map_err(|error| ClassError {
            list: list.name(),
            error,
        })
    }

    /// Postfix's helpful warnings for a domain of class `class` that another list names too
    /// (`do not list domain D in BOTH A and B`): the texts, for the caller to log. Lookup
    /// errors here are not reported again.
    pub fn overlaps(&self, domain: &str, class: AddressClass) -> Vec<String> {
        let domain = domain
            .strip_suffix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        let in_alias = || self.virtual_alias.matches(&domain) == Ok(true);
        let in_mailbox = || self.virtual_mailbox.matches(&domain) == Ok(true);
        let in_relay = || self.is_relay(&domain);
        let pairs: Vec<(&str, &str, bool)> = match class {
            AddressClass::Local if !domain.is_empty() => vec![
                ("mydestination", "virtual_alias_domains", in_alias()),
                ("mydestination", "virtual_mailbox_domains", in_mailbox()),
            ],
            AddressClass::VirtualAlias => vec![
                (
                    "virtual_alias_domains",
                    "virtual_mailbox_domains",
                    in_mailbox(),
                ),
                ("virtual_alias_domains", "relay_domains", in_relay()),
            ],
            AddressClass::VirtualMailbox => {
                vec![("virtual_mailbox_domains", "relay_domains", in_relay())]
            }
            _ => Vec::new(),
        };
        pairs
            .into_iter()
            .filter(|(_, _, both)| *both)
            .map(|(a, b, _)| format!("do not list domain {} in BOTH {} and {}", domain, a, b))
            .collect()
    }

    /// $virtual_alias_maps, opened once.
    pub fn virtual_alias_maps(&self) -> &AddrMaps {
        &self.alias_maps
    }

    /// $virtual_mailbox_maps, opened once.
    pub fn virtual_mailbox_maps(&self) -> &AddrMaps {
        &self.mailbox_maps
    }

    /// The canonical, bcc and relocated tables, opened once.
    pub fn maps(&self) -> &AddressMaps {
        &self.rewrite_maps
    }

    /// Whether the bare local part is a lookup key for an address in `domain` (Postfix's
    /// mail_addr_find: the domain is $myorigin or local).
    pub fn local_part_keys(&self, domain: &str) -> bool {
        let d = domain
            .strip_suffix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        d.is_empty() || d == self.myorigin || self.is_local(&d)
    }

    /// The $relay_domains names, lower-cased.
    pub fn relay_domains(&self) -> &[String] {
        self.relay.domains()
    }

    /// Table and file entries left out of the domain lists (for the caller to log).
    pub fn ignored(&self) -> impl Iterator<Item = &String> {
        self.mydestination
            .ignored()
            .iter()
            .chain(self.relay.ignored())
    }

    /// The recipient_delimiter splitter.
    pub fn splitter(&self) -> &Splitter {
        &self.splitter
    }

    /// Split a local part at $recipient_delimiter (see `Splitter::split`).
    pub fn split<'a>(&self, local: &'a str) -> (&'a str, Option<&'a str>) {
        self.splitter.split(local)
    }

    /// Resolve sender-specified routing while the domain is ours (allow_percent_hack,
    /// swap_bangpath): `"user@remote"@here` becomes `user@remote`, `user%remote@here`
    /// `user@remote`, `host!user@here` `user@host`. Returns the address and whether it
    /// carried routing operators (also through a domain that is not ours).
    pub fn unroute(&self, address: &str) -> (String, bool) {
        let mut address = address.to_string();
        let mut routed = false;
        for _ in 0..10 {
            let Some((local, domain)) = address.rsplit_once('@') else {
                break;
            };
            let local = unquote(local);
            if !self.is_local(&domain.trim_end_matches('.').to_ascii_lowercase()) {
                routed |= local.contains(['@', '%', '!']);
                break;
            }
            let Some(next) = self.unroute_once(&local) else {
                break;
            };
            routed = true;
            address = next;
        }
        (address, routed)
    }

    /// One routing step of a local part of ours: the address it routes to, if any.
    fn unroute_once(&self, local: &str) -> Option<String> {
        if local.contains('@') {
            Some(local.to_string())
        } else if self.percent_hack && local.contains('%') {
            local.rsplit_once('%').map(|(u, h)| format!("{}@{}", u, h))
        } else if self.swap_bangpath && local.contains('!') {
            local.split_once('!').map(|(h, u)| format!("{}@{}", u, h))
        } else {
            None
        }
    }
}

/// The (lower-case) domain of an address; empty without one.
pub(crate) fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Remove quoting and backslash escapes from a local part.
pub fn unquote(local: &str) -> String {
    let mut out = String::with_capacity(local.len());
    let mut escaped = false;
    for c in local.chars() {
        match c {
            _ if escaped => {
                out.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
