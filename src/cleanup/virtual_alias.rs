//! Virtual alias expansion of every envelope recipient (Postfix's cleanup_map1n.c with
//! mail_addr_map.c): each address is looked up in $virtual_alias_maps (opened once per
//! configuration, crate::rewrite::AddrMaps, with mail_addr_find's keys: the address,
//! without its extension, the bare local part for our own domains, `@domain`); a result is
//! one or more addresses (commas and white space separate), each expanded again.
//!
//! As Postfix: expansion is recursive and one-to-many; an address that maps to itself is
//! kept and not expanded again; a result `@otherdomain` keeps the local part; with
//! `virtual` in $propagate_unmatched_extensions an extension removed to find a match is
//! added to each result (`user+ext@d` -> `other+ext@e`); duplicates are removed by the
//! caller; each result keeps the original recipient (orig_to, X-Original-To) of the
//! address it came from.
//!
//! Security role: a table error must never lose or misroute mail. It refuses the whole
//! message with a temporary error (smtpd answers 451 after DATA, pickup leaves the file for
//! a retry), as do more than $virtual_alias_expansion_limit addresses, nesting deeper than
//! $virtual_alias_recursion_limit or a result longer than $line_length_limit.
//!
//! Logs (Postfix 2.10's texts): `warning: ID: virtual_alias_maps map lookup problem for
//! ADDR -- deferring delivery` (after the table's own warning), `warning: ID: unreasonable
//! virtual_alias_maps map expansion size for ADDR -- deferring delivery`, `warning: ID:
//! unreasonable virtual_alias_maps map nesting for ADDR -- deferring delivery`, `warning: ID:
//! unreasonable virtual_alias_maps result RESULT... -- message not accepted, try again
//! later`.

use std::collections::HashSet;
use std::fmt;

use crate::config::Config;
use crate::log;
use crate::queue::Recipient;
use crate::rewrite::Rewrite;

const COMPONENT: &str = "cleanup";

/// Why expansion could not finish; the message is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasError {
    /// A table could not answer (Postfix's CLEANUP_STAT_WRITE).
    Lookup,
    /// A limit was exceeded (Postfix's CLEANUP_STAT_DEFER, `4.6.0 Alias expansion error`).
    Limit,
}

impl fmt::Display for AliasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AliasError::Lookup => write!(f, "virtual_alias_maps map lookup problem"),
            AliasError::Limit => write!(f, "virtual alias expansion error"),
        }
    }
}

impl std::error::Error for AliasError {}

/// The limits and switches of one configuration.
struct Limits {
    expansion: usize,
    recursion: usize,
    length: usize,
    propagate: bool,
}

impl Limits {
    fn from_config(cfg: &Config) -> Limits {
        let n = |name: &str| cfg.int(name).max(1) as usize;
        Limits {
            expansion: n("virtual_alias_expansion_limit"),
            recursion: n("virtual_alias_recursion_limit"),
            length: n("line_length_limit"),
            propagate: cfg
                .list("propagate_unmatched_extensions")
                .iter()
                .any(|c| c.eq_ignore_ascii_case("virtual")),
        }
    }
}

/// Expand every recipient of queue file `id`. Without $virtual_alias_maps nothing changes.
pub fn expand_all(
    cfg: &Config,
    rw: &Rewrite,
    id: &str,
    recipients: Vec<Recipient>,
) -> Result<Vec<Recipient>, AliasError> {
    if rw.virtual_alias_maps().is_empty() {
        return Ok(recipients);
    }
    let limits = Limits::from_config(cfg);
    let mut out = Vec::with_capacity(recipients.len());
    for r in recipients {
        let expanded = expand(rw, &limits, id, &r.address)?;
        if expanded.len() == 1 && expanded[0] == r.address {
            out.push(r);
            continue;
        }
        let orig = r.orig.clone().or_else(|| Some(r.address.clone()));
        out.extend(expanded.into_iter().map(|address| Recipient {
            address,
            orig: orig.clone(),
            ..r.clone()
        }));
    }
    Ok(out)
}

/// One address to its final addresses (cleanup_map1n).
fn expand(rw: &Rewrite, limits: &Limits, id: &str, addr: &str) -> Result<Vec<String>, AliasError> {
    let title = rw.virtual_alias_maps().title();
    let warn = |what: &str| {
        log::warning(
            COMPONENT,
            format!(
                "{}: unreasonable {} map {} for {} -- deferring delivery",
                id, title, what, addr
            ),
        );
        AliasError::Limit
    };
    let mut list = vec![addr.to_string()];
    // Addresses that expanded into themselves (case-insensitive).
    let mut fixed: HashSet<String> = HashSet::new();
    let mut arg = 0;
    while arg < list.len() {
        if list.len() > limits.expansion {
            return Err(warn("expansion size"));
        }
        let mut count = 0;
        while !fixed.contains(&list[arg].to_lowercase()) {
            if count >= limits.recursion {
                return Err(warn("nesting"));
            }
            let Some(results) = map_one(rw, limits, id, addr, &list[arg])? else {
                break;
            };
            check_lengths(limits, id, title, &results)?;
            let lhs = list[arg].to_lowercase();
            if results.iter().any(|a| a.to_lowercase() == lhs) {
                fixed.insert(lhs);
            }
            let mut results = results.into_iter();
            if let Some(first) = results.next() {
                list[arg] = first;
            }
            list.extend(results);
            count += 1;
        }
        arg += 1;
    }
    Ok(list)
}

/// A result longer than $line_length_limit refuses the message.
fn check_lengths(
    limits: &Limits,
    id: &str,
    title: &str,
    results: &[String],
) -> Result<(), AliasError> {
    match results.iter().find(|a| a.len() > limits.length) {
        None => Ok(()),
        Some(a) => {
            let shown: String = a.chars().take(300).collect();
            log::warning(
                COMPONENT,
                format!(
                    "{}: unreasonable {} result {}... -- message not accepted, try again later",
                    id, title, shown
                ),
            );
            Err(AliasError::Limit)
        }
    }
}

/// One lookup (mail_addr_map): `None` when not found, else the result addresses.
fn map_one(
    rw: &Rewrite,
    limits: &Limits,
    id: &str,
    orig: &str,
    address: &str,
) -> Result<Option<Vec<String>>, AliasError> {
    let maps = rw.virtual_alias_maps();
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let found = match maps.find(rw, address, rw.local_part_keys(domain)) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err((e, key)) => {
            log::warning(COMPONENT, &e);
            log::lines::lookup_error(COMPONENT, e.table(), &key);
            log::warning(
                COMPONENT,
                format!(
                    "{}: {} map lookup problem for {} -- deferring delivery",
                    id,
                    maps.title(),
                    orig
                ),
            );
            return Err(AliasError::Lookup);
        }
    };
    Ok(Some(found.results(address, limits.propagate)))
}

#[cfg(test)]
#[path = "virtual_alias_tests.rs"]
mod tests;
