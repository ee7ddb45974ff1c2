//! DNS lists: Postfix's reject_rbl_client, reject_rhsbl_client, reject_rhsbl_reverse_client
//! (the PTR name, verified or not), reject_rhsbl_sender,
//! reject_rhsbl_helo, reject_rhsbl_recipient, permit_dnswl_client and permit_rhswl_client
//! (postconf(5), RFC 5782). The query name is the client's IPv4 octets (or IPv6 nibbles)
//! reversed, or a domain, in front of the list's domain; any A record lists it, or with
//! `domain=d.d.d.d` one that matches (each part a number or `[n;n..m]`, Postfix 2.8). A
//! listed name's TXT record is the reason. The reply comes from rbl_reply_maps (keyed by
//! the list's domain) or default_rbl_reply, with maps_rbl_reject_code as `$rbl_code`.
//!
//! Security role: DNS answers and client-given names are untrusted. They reach a reply only
//! as text: a `$` in them is never expanded, anything but printable ASCII becomes `_` (no
//! CR LF reaches the client), and a reason is cut at 512 bytes. A lookup that fails is never
//! taken as "not listed": `rbl_check` turns it into DEFER_IF_PERMIT for a block list
//! (Postern's rule; Postfix gives the client the benefit of the doubt, see README
//! "Differences from Postfix") and DEFER_IF_REJECT for an allow list (as Postfix). Results
//! (not failures) are kept a minute from when they were asked, per thread, as Postfix's
//! smtpd caches them per process. A reply is cut at 510 bytes, as Postfix cuts it.
//!
//! Logs `warning: QUERY: RBL lookup error: WHY` (Postfix's text), via log::lines.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::dns::{DnsError, Resolve};
use crate::log::lines;
use crate::reply::{Dsn, Reply};

/// Which list restriction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RblClient,
    RhsblClient,
    RhsblReverseClient,
    RhsblSender,
    RhsblHelo,
    RhsblRecipient,
    DnswlClient,
    RhswlClient,
}

impl Kind {
    /// The restriction of this name (lower case).
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "reject_rbl_client" | "reject_rbl" => Kind::RblClient,
            "reject_rhsbl_client" => Kind::RhsblClient,
            "reject_rhsbl_reverse_client" => Kind::RhsblReverseClient,
            "reject_rhsbl_sender" => Kind::RhsblSender,
            "reject_rhsbl_helo" => Kind::RhsblHelo,
            "reject_rhsbl_recipient" => Kind::RhsblRecipient,
            "permit_dnswl_client" => Kind::DnswlClient,
            "permit_rhswl_client" => Kind::RhswlClient,
            _ => return None,
        })
    }

    /// An allow list (a listing permits) rather than a block list.
    pub fn permits(self) -> bool {
        matches!(self, Kind::DnswlClient | Kind::RhswlClient)
    }

    /// Postfix's `$rbl_class`.
    pub fn class_words(self) -> &'static str {
        match self {
            Kind::RhsblSender => "Sender address",
            Kind::RhsblHelo => "Helo command",
            Kind::RhsblRecipient => "Recipient address",
            Kind::RhsblReverseClient => "Unverified Client host",
            _ => "Client host",
        }
    }

    /// Whether the list is asked for an address (else for a domain name).
    pub fn by_address(self) -> bool {
        matches!(self, Kind::RblClient | Kind::DnswlClient)
    }
}

/// One octet's accepted values: inclusive ranges.
type OctetSet = Vec<(u8, u8)>;

/// A list: its domain and the A records that count (all when no filter).
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub domain: String,
    /// The argument as given (`domain=filter`): rbl_reply_maps' key, as Postfix's.
    pub arg: String,
    filter: Option<[OctetSet; 4]>,
}

/// Parse `domain` or `domain=d.d.d.d`.
pub fn parse_site(arg: &str) -> Result<Site, String> {
    let (domain, filter) = match arg.split_once('=') {
        Some((d, f)) => (d, Some(parse_filter(f).ok_or_else(|| bad_filter(arg))?)),
        None => (arg, None),
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if !crate::smtpd::hostname::valid_hostname(&domain) {
        return Err(format!(
            "bad DNS list domain name: {}",
            lines::printable(arg)
        ));
    }
    Ok(Site {
        domain,
        arg: arg.to_ascii_lowercase(),
        filter,
    })
}

fn bad_filter(arg: &str) -> String {
    format!("bad DNS list result filter: {}", lines::printable(arg))
}

/// `d.d.d.d`, each `d` a number or `[n;n..m;...]`; brackets around the whole pattern
/// (`[127.0.0.2]`) are allowed, as Postfix allows them.
fn parse_filter(text: &str) -> Option<[OctetSet; 4]> {
    let text = match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) if !inner.contains(['[', ']']) => inner,
        _ => text,
    };
    // Split at the dots outside brackets (`[2..4]` holds dots of its own).
    let mut parts = Vec::new();
    let (mut start, mut depth) = (0, 0u32);
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.checked_sub(1)?,
            b'.' if depth == 0 => {
                parts.push(text.get(start..i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text.get(start..)?);
    if parts.len() != 4 || depth != 0 {
        return None;
    }
    let mut sets: [OctetSet; 4] = Default::default();
    for (set, part) in sets.iter_mut().zip(parts) {
        let items = match part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            Some(inner) => inner.split(';').collect(),
            None => vec![part],
        };
        for item in items {
            let (lo, hi) = item.split_once("..").unwrap_or((item, item));
            let lo: u8 = number(lo)?;
            let hi: u8 = number(hi)?;
            if lo > hi {
                return None;
            }
            set.push((lo, hi));
        }
    }
    Some(sets)
}

fn number(text: &str) -> Option<u8> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Site {
    fn accepts(&self, a: Ipv4Addr) -> bool {
        match &self.filter {
            None => true,
            Some(sets) => sets
                .iter()
                .zip(a.octets())
                .all(|(set, o)| set.iter().any(|&(lo, hi)| (lo..=hi).contains(&o))),
        }
    }
}

/// The name to ask about an address: `4.3.2.1.DOMAIN`, or 32 reversed nibbles for IPv6.
pub fn address_query(addr: IpAddr, domain: &str) -> String {
    let mut labels: Vec<String> = match addr {
        IpAddr::V4(a) => a.octets().iter().rev().map(|o| o.to_string()).collect(),
        IpAddr::V6(a) => a
            .octets()
            .iter()
            .rev()
            .flat_map(|b| [b & 0xf, b >> 4])
            .map(|n| format!("{n:x}"))
            .collect(),
    };
    labels.push(domain.to_string());
    labels.join(".")
}

/// The name to ask about a domain, or about the domain of an address (`user@domain`):
/// None when there is nothing to ask (no domain, an address literal, not a name).
pub fn domain_query(what: &str, domain: &str) -> Option<String> {
    let name = what.rsplit_once('@').map_or(what, |(_, d)| d);
    let name = name.trim_end_matches('.');
    // As Postfix asks: a valid host name whose last label is not all digits (never an
    // address, a literal, or a name with escapes that would leave the list's zone).
    let last = name.rsplit('.').next().unwrap_or("");
    if !crate::smtpd::hostname::valid_hostname(name) || last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{}.{}", name.to_ascii_lowercase(), domain))
}

/// What a list says of a query name.
#[derive(Debug, Clone, PartialEq)]
pub enum Listing {
    /// Listed, with the reason (the TXT record, or empty).
    Listed(String),
    NotListed,
    /// The lookup failed (logged): neither listed nor not listed.
    Failed,
}

/// How long a result is kept, and at most how many per thread.
const CACHE_TIME: Duration = Duration::from_secs(60);
const CACHE_SIZE: usize = 512;

/// One remembered answer: when, the A records (empty: not listed), the TXT reason once
/// asked.
type Answer = (Instant, Vec<Ipv4Addr>, Option<String>);

thread_local! {
    /// Query name → its answer.
    static CACHE: RefCell<HashMap<String, Answer>> = RefCell::new(HashMap::new());
}

/// Ask the list about `query` (A, then TXT for a name listed).
pub fn lookup(resolver: Option<&dyn Resolve>, query: &str, site: &Site) -> Listing {
    let Some(r) = resolver else {
        lines::rbl_lookup_error(query, "no DNS resolver configured");
        return Listing::Failed;
    };
    let cached = CACHE.with(|c| {
        let c = c.borrow();
        c.get(query)
            .filter(|(at, _, _)| at.elapsed() < CACHE_TIME)
            .map(|(_, a, t)| (a.clone(), t.clone()))
    });
    let (addrs, reason) = match cached {
        Some(hit) => hit,
        None => match r.ipv4(query) {
            Ok(a) => {
                remember(query, a.clone());
                (a, None)
            }
            Err(DnsError::NotFound(_)) => {
                remember(query, Vec::new());
                (Vec::new(), None)
            }
            Err(DnsError::TempFail(why)) => {
                lines::rbl_lookup_error(query, &why);
                return Listing::Failed;
            }
        },
    };
    if !addrs.iter().any(|a| site.accepts(*a)) {
        return Listing::NotListed;
    }
    let reason = reason.unwrap_or_else(|| {
        // Every TXT record, joined as Postfix joins them, at most 500 bytes.
        let texts = r.txt(query).unwrap_or_default();
        let reason = printable(&texts.join(" / "), 500);
        CACHE.with(|c| {
            if let Some(e) = c.borrow_mut().get_mut(query) {
                e.2 = Some(reason.clone());
            }
        });
        reason
    });
    Listing::Listed(reason)
}

/// Remember a fresh answer (its time is when it was asked, never refreshed by a use).
fn remember(query: &str, addrs: Vec<Ipv4Addr>) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_SIZE {
            c.retain(|_, (at, _, _)| at.elapsed() < CACHE_TIME);
            if c.len() >= CACHE_SIZE {
                c.clear();
            }
        }
        c.insert(query.to_string(), (Instant::now(), addrs, None));
    });
}

/// Untrusted text for a reply: printable ASCII only (others become `_`), at most `max`
/// bytes.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '_' })
        .take(max)
        .collect()
}

/// What a listing's reply is made of.
pub struct Rejection<'a> {
    /// maps_rbl_reject_code.
    pub code: u16,
    /// The rbl_reply_maps entry for the list, or default_rbl_reply.
    pub template: &'a str,
    pub domain: &'a str,
    /// `$rbl_what`: the address or name the list was asked about.
    pub what: &'a str,
    pub class: &'a str,
    pub reason: &'a str,
    /// The smtpd macros (`$client`, `$client_address`, `$helo_name`, `$sender`...).
    pub macros: &'a dyn Fn(&str) -> Option<String>,
}

/// Why a template gave no reply.
#[derive(Debug, PartialEq)]
pub enum TemplateError {
    /// It names a macro that does not exist (Postfix then uses default_rbl_reply).
    UnknownName(String),
    /// Its expansion does not start with a 4xx or 5xx code: the expansion.
    BadCode(String),
}

/// The longest reply text, as Postfix cuts it (RFC 5321's 512-octet reply line).
const REPLY_MAX: usize = 510;

/// The reply of a listing: the template expanded, with its code and a DSN whose first
/// digit is the code's (default X.7.1), cut at 510 bytes.
pub fn reply(r: &Rejection<'_>) -> Result<Reply, TemplateError> {
    let unknown = RefCell::new(None);
    let lookup = |name: &str| -> Option<String> {
        let value = match name {
            "rbl_code" => r.code.to_string(),
            "rbl_domain" => r.domain.to_string(),
            "rbl_reason" | "rbl_txt" => r.reason.to_string(),
            "rbl_what" => r.what.to_string(),
            "rbl_class" => r.class.to_string(),
            _ => match (r.macros)(name) {
                Some(v) => v,
                None => {
                    unknown.borrow_mut().get_or_insert_with(|| name.to_string());
                    return None;
                }
            },
        };
        // A value is text: its `$` must not be expanded again.
        Some(printable(&value, 1024).replace('$', "$$"))
    };
    let text = crate::config::parse::expand(r.template, &lookup);
    if let Some(name) = unknown.into_inner() {
        return Err(TemplateError::UnknownName(name));
    }
    let text = text.trim();
    let parsed = match Reply::parse(text) {
        Some(p) if p.code() >= 400 => p,
        _ => {
            return Err(TemplateError::BadCode(
                text.chars().take(REPLY_MAX).collect(),
            ));
        }
    };
    let first = parsed.code() / 100;
    let dsn = match parsed.dsn() {
        Some(d) => Dsn::parse(&format!(
            "{first}{}",
            d.to_string().get(1..).unwrap_or(".7.1")
        )),
        None => Dsn::parse(&format!("{first}.7.1")),
    };
    let words = match parsed.text().trim() {
        "" => "Service unavailable",
        t => t,
    };
    // "CODE X.Y.Z " comes first; the whole line is at most REPLY_MAX bytes (the text is
    // printable ASCII by now, except what a table's template brought: cut by characters).
    let room = REPLY_MAX.saturating_sub(4 + dsn.map_or(0, |d| d.to_string().len() + 1));
    let mut cut = String::new();
    for c in words.chars() {
        if cut.len() + c.len_utf8() > room {
            break;
        }
        cut.push(c);
    }
    Ok(Reply::new(parsed.code(), dsn, cut))
}

#[cfg(test)]
#[path = "rbl_tests.rs"]
mod tests;
