//! Client network lists: $mynetworks (explicit, or derived from $mynetworks_style) and the
//! "inet interfaces" test used by local_header_rewrite_clients.
//!
//! Security role: `permit_mynetworks` decides who may relay, so parsing is strict: an entry
//! that is not an address, CIDR block, table or (in client lists) host name is skipped with
//! a warning, never widened. Follows postconf(5) mynetworks / mynetworks_style: CIDR
//! blocks, `[ipv6]/n`, host names and domains matched as Postfix's match_hostname (with
//! mynetworks in parent_domain_matches_subdomains, the default, `example.com` also matches
//! its subdomains and `.example.com` matches nothing; otherwise `.example.com` matches the
//! subdomains), `/file/name`, `type:table` (the name and, for non-pattern tables, its
//! parent domains, then the address) and `!pattern`. Names match the client's verified
//! host name only (`lookup_client`), never an `unknown` client (Postfix would match the
//! literal name `unknown`). Lists matched by address only (`parse_list`) skip names with
//! the warning. Logs `warning:` lines for skipped entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::tables::{Table, TableError};

/// One CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub bits: u8,
}

fn mask_v4(a: Ipv4Addr, bits: u8) -> u32 {
    let m = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits as u32)
    };
    u32::from(a) & m
}

fn mask_v6(a: Ipv6Addr, bits: u8) -> u128 {
    let m = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits as u32)
    };
    u128::from(a) & m
}

/// Treat an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as IPv4.
pub fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => a,
        },
        v4 => v4,
    }
}

impl Net {
    /// Build a block, clearing host bits (Postfix warns about them; we just normalise).
    pub fn new(addr: IpAddr, bits: u8) -> Net {
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(mask_v4(a, bits.min(32)))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(mask_v6(a, bits.min(128)))),
        };
        Net { addr, bits }
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, canonical(a)) {
            (IpAddr::V4(n), IpAddr::V4(x)) => mask_v4(x, self.bits) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(x)) => mask_v6(x, self.bits) == u128::from(n),
            _ => false,
        }
    }

    /// Parse `a.b.c.d`, `a.b.c.d/n`, `[v6]`, `[v6]/n`, `v6/n`.
    pub fn parse(s: &str) -> Option<Net> {
        let (host, bits) = match s.rsplit_once('/') {
            Some((h, b)) => (h, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let addr: IpAddr = host.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return None;
        }
        Some(Net::new(addr, bits))
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{}/{}", a, self.bits),
            IpAddr::V6(a) => write!(f, "[{}]/{}", a, self.bits),
        }
    }
}

/// One $mynetworks entry: a block, a host name or domain (lower case), or a table searched
/// with the client name and address.
#[derive(Clone)]
pub enum Entry {
    Net { net: Net, negate: bool },
    Name { pattern: String, negate: bool },
    Table { table: Arc<dyn Table>, negate: bool },
}

/// Whether the host `name` (lower case) matches `pattern`, as Postfix's match_hostname:
/// itself; with `parent` (the list is in parent_domain_matches_subdomains) a subdomain of it
/// too, and a `.domain` pattern then matches nothing else; without, `.domain` matches the
/// subdomains of `domain`.
fn name_matches(pattern: &str, name: &str, parent: bool) -> bool {
    if name == pattern {
        return true;
    }
    match (parent, pattern.starts_with('.')) {
        (true, _) => name
            .strip_suffix(pattern)
            .is_some_and(|h| h.len() > 1 && h.ends_with('.')),
        (false, true) => name.strip_suffix(pattern).is_some_and(|h| !h.is_empty()),
        (false, false) => false,
    }
}

/// A host name or domain pattern: labels of letters, digits, `-` and `_`, optionally with
/// a leading dot, not all digits and dots (that would be an address).
fn name_pattern(pat: &str) -> Option<String> {
    let name = pat.strip_prefix('.').unwrap_or(pat);
    let ok = !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    ok.then(|| pat.to_ascii_lowercase())
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Net { net, negate } => write!(f, "{}{}", if *negate { "!" } else { "" }, net),
            Entry::Name { pattern, negate } => {
                write!(f, "{}{}", if *negate { "!" } else { "" }, pattern)
            }
            Entry::Table { table, negate } => {
                write!(f, "{}{}", if *negate { "!" } else { "" }, table.spec())
            }
        }
    }
}

/// A list of networks, searched in order: the first entry that matches decides (a
/// `!pattern` entry that matches means "not in the list").
#[derive(Debug, Clone, Default)]
pub struct NetList {
    pub entries: Vec<Entry>,
    /// The list is in parent_domain_matches_subdomains (see `name_matches`).
    pub parent: bool,
}

/// Longest chain of `/file` entries that include other files.
const MAX_FILE_DEPTH: usize = 10;

impl NetList {
    /// Whether `a` is in the list; a table that cannot answer counts as "no" here (the
    /// restriction evaluator uses `lookup` and answers 451 instead).
    pub fn contains(&self, a: IpAddr) -> bool {
        self.lookup(a).unwrap_or(false)
    }

    /// Whether `a` is in the list, or the table that failed to answer (name patterns never
    /// match: see `lookup_client`).
    pub fn lookup(&self, a: IpAddr) -> Result<bool, TableError> {
        self.lookup_client("unknown", a)
    }

    /// `contains` for a client with the verified host name `name` (`unknown`: none).
    pub fn contains_client(&self, name: &str, a: IpAddr) -> bool {
        self.lookup_client(name, a).unwrap_or(false)
    }

    /// Whether the client `name` (`unknown`: no verified name) at `a` is in the list, or the
    /// table that failed to answer; a table is asked for the name, then the address.
    pub fn lookup_client(&self, name: &str, a: IpAddr) -> Result<bool, TableError> {
        let a = canonical(a);
        let name = Some(name.trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty() && n != "unknown");
        for e in &self.entries {
            let (hit, negate) = match e {
                Entry::Net { net, negate } => (net.contains(a), *negate),
                Entry::Name { pattern, negate } => (
                    name.as_deref()
                        .is_some_and(|n| name_matches(pattern, n, self.parent)),
                    *negate,
                ),
                Entry::Table { table, negate } => {
                    let by_name = match &name {
                        Some(n) => self.table_has_name(table.as_ref(), n)?,
                        None => false,
                    };
                    (by_name || table.lookup(&a.to_string())?.is_some(), *negate)
                }
            };
            if hit {
                return Ok(!negate);
            }
        }
        Ok(false)
    }

    /// A table entry asked for the name (pattern tables for the whole name only, others
    /// for its parent domains too), as Postfix's match_hostname.
    fn table_has_name(&self, table: &dyn Table, name: &str) -> Result<bool, TableError> {
        let keys = match crate::tables::registry::is_pattern(table.spec()) {
            true => vec![name.to_string()],
            // The name, then its parents (`example.com` in parent style, else `.example.com`).
            false => super::access::domain_keys(name, self.parent),
        };
        for key in keys {
            if table.lookup(&key)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The plain blocks of the list (for tests and diagnostics).
    pub fn nets(&self) -> Vec<Net> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Net { net, negate: false } => Some(*net),
                _ => None,
            })
            .collect()
    }

    /// Parse a list of networks: CIDR blocks, host addresses, `[ipv6]/n`, `/file/name`
    /// (patterns one or more a line, `#` comments) and `type:table` (the address is looked
    /// up). A `!` before a pattern negates it. An entry that is none of these (a host name
    /// too: this list is matched by address only) is skipped with a warning, never widened.
    pub fn parse_list(value: &str) -> NetList {
        let mut entries = Vec::new();
        add_items(&crate::tables::split_specs(value), &mut entries, 0, false);
        NetList {
            entries,
            parent: false,
        }
    }

    /// `parse_list` for a list of clients (mynetworks, the bare-newline exclusions): host
    /// names and domains are taken as well, matched against the client's verified name;
    /// `parent`: the list is in parent_domain_matches_subdomains.
    pub fn parse_clients(value: &str, parent: bool) -> NetList {
        let mut entries = Vec::new();
        add_items(&crate::tables::split_specs(value), &mut entries, 0, true);
        NetList { entries, parent }
    }

    /// Derive $mynetworks from $mynetworks_style and the interface list.
    pub fn from_style(style: &str, interfaces: &[(IpAddr, u8)]) -> NetList {
        let mut nets: Vec<Net> = Vec::new();
        let mut add = |n: Net| {
            if !nets.contains(&n) {
                nets.push(n);
            }
        };
        let style = style.trim().to_ascii_lowercase();
        for &(addr, prefix) in interfaces {
            let addr = canonical(addr);
            let full = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match (style.as_str(), addr) {
                ("host", _) => full,
                ("class", IpAddr::V4(a)) => match a.octets()[0] {
                    0..=127 => 8,
                    128..=191 => 16,
                    192..=223 => 24,
                    _ => 32,
                },
                _ => prefix.min(full),
            };
            add(Net::new(addr, bits));
        }
        if style != "host" {
            add(Net::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8));
        }
        add(Net::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128));
        NetList {
            entries: nets
                .into_iter()
                .map(|net| Entry::Net { net, negate: false })
                .collect(),
            parent: false,
        }
    }

    /// $mynetworks as configured: the explicit list, or derived from the style.
    pub fn mynetworks(value: &str, style: &str, parent: bool) -> NetList {
        if value.trim().is_empty() {
            NetList::from_style(style, &crate::sys::interface_networks())
        } else {
            NetList::parse_clients(value, parent)
        }
    }
}

fn skip(item: &str, why: &str) {
    crate::log::warning(
        "smtpd",
        format!(
            "mynetworks: ignoring entry \"{}\": {}",
            crate::log::lines::printable(item),
            why
        ),
    );
}

fn add_items(items: &[String], out: &mut Vec<Entry>, depth: usize, names: bool) {
    for item in items {
        let (negate, pat) = match item.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, item.as_str()),
        };
        if pat.starts_with('/') {
            if depth >= MAX_FILE_DEPTH {
                skip(item, "files nested too deeply");
                continue;
            }
            match std::fs::read_to_string(pat) {
                Ok(text) => {
                    let mut inner = Vec::new();
                    for line in text.lines() {
                        let line = line.split('#').next().unwrap_or("");
                        inner.extend(crate::tables::split_specs(line));
                    }
                    let mut sub = Vec::new();
                    add_items(&inner, &mut sub, depth + 1, names);
                    if negate {
                        // "!/file": every pattern of the file, negated.
                        for e in &mut sub {
                            match e {
                                Entry::Net { negate, .. }
                                | Entry::Name { negate, .. }
                                | Entry::Table { negate, .. } => *negate = !*negate,
                            }
                        }
                    }
                    out.extend(sub);
                }
                Err(e) => skip(item, &format!("open {}: {}", pat, e)),
            }
        } else if let Some(net) = Net::parse(pat) {
            out.push(Entry::Net { net, negate });
        } else if pat.contains(':') && !pat.starts_with('[') && pat.parse::<IpAddr>().is_err() {
            match crate::tables::open(pat) {
                Ok(t) => out.push(Entry::Table {
                    table: Arc::from(t),
                    negate,
                }),
                Err(e) => skip(item, &e.to_string()),
            }
        } else if let Some(pattern) = name_pattern(pat).filter(|_| names) {
            out.push(Entry::Name { pattern, negate });
        } else if names {
            skip(item, "not a network address, host name or table");
        } else {
            skip(item, "not a network address or table");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_matches_cidr() {
        let l = NetList::parse_list("127.0.0.0/8, 192.168.1.0/24 [2001:db8::]/32 10.1.2.3");
        assert!(l.contains(ip("127.0.0.1")));
        assert!(l.contains(ip("192.168.1.200")));
        assert!(!l.contains(ip("192.168.2.1")));
        assert!(l.contains(ip("2001:db8::5")));
        assert!(l.contains(ip("10.1.2.3")));
        assert!(!l.contains(ip("10.1.2.4")));
        assert!(l.contains(ip("::ffff:127.0.0.1")), "v4-mapped matches v4");
    }

    #[test]
    fn bad_entries_are_skipped_not_widened() {
        let l = NetList::parse_clients("hash:/etc/x 1.2.3.4/33 bad*name 1.2.3 10.0.0.0/8", true);
        assert_eq!(l.nets().len(), 1);
        assert_eq!(l.entries.len(), 2, "{:?}", l.entries);
        assert!(!l.contains(ip("1.2.3.4")));
    }

    #[test]
    fn host_names_match_as_postfix_match_hostname() {
        let a = ip("192.0.2.9");
        // mynetworks in parent_domain_matches_subdomains (the default).
        let l = NetList::parse_clients(
            "relay.example.com, .partner.test, corp.test, !bad.corp.test",
            true,
        );
        assert!(l.contains_client("Relay.Example.COM.", a));
        assert!(!l.contains_client("x.relay.example.com.evil", a));
        assert!(l.contains_client("corp.test", a));
        assert!(l.contains_client("mail.corp.test", a));
        assert!(!l.contains_client("notcorp.test", a));
        // `.partner.test` matches nothing in parent style.
        assert!(!l.contains_client("mx.partner.test", a));
        // The first match decides: corp.test comes before the negation, as in Postfix.
        assert!(l.contains_client("bad.corp.test", a));
        // A client without a verified name, or the address alone, matches no name.
        assert!(!l.contains_client("unknown", a));
        assert!(!l.contains(a));
        let l = NetList::parse_clients("!bad.corp.test, corp.test", true);
        assert!(!l.contains_client("bad.corp.test", a));
        assert!(l.contains_client("good.corp.test", a));
        // Without parent style: a name is itself only, `.domain` its subdomains.
        let l = NetList::parse_clients("corp.test, .partner.test", false);
        assert!(l.contains_client("corp.test", a));
        assert!(!l.contains_client("mail.corp.test", a));
        assert!(l.contains_client("mx.partner.test", a));
        assert!(!l.contains_client("partner.test", a));
        // Lists matched by address only skip names.
        assert!(NetList::parse_list("corp.test").entries.is_empty());
    }

    #[test]
    fn tables_are_asked_for_the_name_and_its_parents() {
        let a = ip("192.0.2.9");
        let l = NetList::parse_clients("inline:{ example.com=ok, .other.test=ok }", true);
        assert!(l.contains_client("mail.example.com", a));
        assert!(!l.contains_client("mail.other.test", a));
        let l = NetList::parse_clients("inline:{ example.com=ok, .other.test=ok }", false);
        assert!(!l.contains_client("mail.example.com", a));
        assert!(l.contains_client("mail.other.test", a));
        // A pattern table sees the whole name only.
        let re = std::env::temp_dir().join(format!("postern-mynets-re-{}", std::process::id()));
        std::fs::write(&re, "/^example\\.com$/ ok\n").unwrap();
        let l = NetList::parse_clients(&format!("regexp:{}", re.display()), true);
        assert!(l.contains_client("example.com", a));
        assert!(!l.contains_client("mail.example.com", a));
        let _ = std::fs::remove_file(&re);
    }

    #[test]
    fn styles() {
        let ifs = [(ip("192.168.7.9"), 24), (ip("127.0.0.1"), 8)];
        let s = NetList::from_style("subnet", &ifs);
        assert!(s.contains(ip("192.168.7.1")));
        assert!(s.contains(ip("127.5.5.5")));
        assert!(s.contains(ip("::1")));
        let h = NetList::from_style("host", &ifs);
        assert!(h.contains(ip("192.168.7.9")));
        assert!(!h.contains(ip("192.168.7.1")));
        let c = NetList::from_style("class", &ifs);
        assert!(c.contains(ip("192.168.7.200")));
        assert!(!c.contains(ip("192.168.8.1")));
    }

    #[test]
    fn files_tables_and_negation() {
        let dir = std::env::temp_dir().join(format!("postern-mynets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inner = dir.join("inner");
        std::fs::write(&inner, "10.0.0.0/8\n").unwrap();
        let file = dir.join("nets");
        std::fs::write(
            &file,
            format!(
                "# comment\n192.0.2.0/24, [2001:db8::]/32 # trailing\n\n{}\n",
                inner.display()
            ),
        )
        .unwrap();
        let l = NetList::parse_list(&format!("!192.0.2.9 {} /nonexistent/nets", file.display()));
        assert!(l.contains(ip("192.0.2.1")));
        assert!(!l.contains(ip("192.0.2.9")), "negated before the file");
        assert!(l.contains(ip("2001:db8::1")));
        assert!(l.contains(ip("10.9.9.9")), "nested file");
        assert!(!l.contains(ip("198.51.100.1")));
        let t = NetList::parse_list("inline:{ 127.0.0.1=ok } 10.0.0.0/8");
        assert!(t.contains(ip("127.0.0.1")));
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(t.contains(ip("10.0.0.1")));
        let broken = NetList::parse_list(&format!("hash:{}", dir.join("missing").display()));
        assert!(
            broken.lookup(ip("127.0.0.1")).is_err(),
            "a table error is not a miss"
        );
        assert!(!broken.contains(ip("127.0.0.1")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
