//! `cidr:/file` tables (cidr_table(5)): `network/prefix result` or `address result` lines,
//! IPv4 and IPv6 (`2001:db8::/32` or `[2001:db8::]/32`), `!network/prefix` negation and
//! nestable `if network/prefix` ... `endif` blocks. Rules are tried in file order; the first
//! match wins. A network with host bits set (`10.1.2.3/8`) is a load error that suggests the
//! right network, as Postfix does; every syntax error names the file and line, and the table
//! then answers each lookup with that error. A key that is not an IP address is not found.
//! Reloaded when the file changes (filecache.rs). Logs nothing.

use std::net::IpAddr;

use super::filecache::{FileCache, logical_lines};
use super::{Table, TableError};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Net {
    addr: u128,
    prefix: u32,
    v6: bool,
}

impl Net {
    fn mask(&self) -> u128 {
        let bits = if self.v6 { 128 } else { 32 };
        if self.prefix == 0 {
            0
        } else {
            (!0u128 << (bits - self.prefix)) & if self.v6 { !0 } else { 0xffff_ffff }
        }
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        let (v, v6) = bits(ip);
        v6 == self.v6 && v & self.mask() == self.addr
    }
}

fn bits(ip: &IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u32::from(*a) as u128, false),
        IpAddr::V6(a) => (u128::from(*a), true),
    }
}

#[derive(Debug)]
enum Rule {
    Match {
        net: Net,
        negate: bool,
        value: String,
    },
    If {
        net: Net,
        negate: bool,
        end: usize,
    },
    Endif,
}

/// A parsed cidr file.
#[derive(Debug)]
pub struct CidrRules {
    rules: Vec<Rule>,
}

/// Parse `[!]network[/prefix]` (IPv6 optionally in brackets).
fn parse_net(text: &str) -> Result<(Net, bool), String> {
    let (negate, t) = match text.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, text),
    };
    let (addr, prefix) = match t.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (t, None),
    };
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("bad net/mask pattern: \"{}\"", text))?;
    let (value, v6) = bits(&ip);
    let max = if v6 { 128 } else { 32 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n <= max && p.chars().all(|c| c.is_ascii_digit()) => n,
            _ => return Err(format!("bad net/mask pattern: \"{}\"", text)),
        },
    };
    let net = Net {
        addr: value,
        prefix,
        v6,
    };
    if value & net.mask() != value {
        let fixed = Net {
            addr: value & net.mask(),
            ..net
        };
        return Err(format!(
            "non-null host address bits in \"{}\", perhaps you should use \"{}/{}\" instead",
            t,
            show(&fixed),
            prefix
        ));
    }
    Ok((net, negate))
}

fn show(n: &Net) -> String {
    if n.v6 {
        format!("[{}]", std::net::Ipv6Addr::from(n.addr))
    } else {
        std::net::Ipv4Addr::from(n.addr as u32).to_string()
    }
}

impl CidrRules {
    pub fn parse(text: &str, file: &str) -> Result<CidrRules, String> {
        let mut rules = Vec::new();
        let mut open_ifs: Vec<(usize, usize)> = Vec::new();
        for (line, t) in logical_lines(text) {
            let err = |m: String| format!("cidr map {}, line {}: {}", file, line, m);
            let mut words = t.splitn(2, char::is_whitespace);
            let first = words.next().unwrap_or("");
            let rest = words.next().unwrap_or("").trim();
            if first.eq_ignore_ascii_case("endif") {
                if !rest.is_empty() {
                    return Err(err("extra text after \"endif\"".into()));
                }
                let Some((idx, _)) = open_ifs.pop() else {
                    return Err(err("\"endif\" without a matching \"if\"".into()));
                };
                let here = rules.len();
                if let Rule::If { end, .. } = &mut rules[idx] {
                    *end = here;
                }
                rules.push(Rule::Endif);
            } else if first.eq_ignore_ascii_case("if") {
                let (net, negate) = parse_net(rest).map_err(err)?;
                open_ifs.push((rules.len(), line));
                rules.push(Rule::If {
                    net,
                    negate,
                    end: usize::MAX,
                });
            } else {
                let (net, negate) = parse_net(first).map_err(err)?;
                if rest.is_empty() {
                    return Err(err(format!("no result text after \"{}\"", first)));
                }
                rules.push(Rule::Match {
                    net,
                    negate,
                    value: rest.to_string(),
                });
            }
        }
        if let Some((_, line)) = open_ifs.pop() {
            return Err(format!(
                "cidr map {}, line {}: \"if\" without a matching \"endif\"",
                file, line
            ));
        }
        Ok(CidrRules { rules })
    }

    /// The first matching rule's result for an address key.
    pub fn lookup(&self, key: &str) -> Option<String> {
        let k = key.trim();
        let k = k
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(k);
        let ip: IpAddr = k.parse().ok()?;
        let mut i = 0;
        while i < self.rules.len() {
            match &self.rules[i] {
                Rule::If { net, negate, end } => {
                    if net.contains(&ip) == *negate {
                        i = *end;
                    }
                }
                Rule::Endif => {}
                Rule::Match { net, negate, value } => {
                    if net.contains(&ip) != *negate {
                        return Some(value.clone());
                    }
                }
            }
            i += 1;
        }
        None
    }
}

/// A `cidr:` table, reloaded when its file changes.
pub struct CidrTable {
    cache: FileCache<CidrRules>,
}

impl CidrTable {
    pub fn open(file: &str) -> CidrTable {
        CidrTable {
            cache: FileCache::new(format!("cidr:{}", file), file, CidrRules::parse),
        }
    }
}

impl Table for CidrTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        Ok(self.cache.get()?.lookup(key))
    }

    fn spec(&self) -> &str {
        self.cache.spec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(t: &str) -> CidrRules {
        CidrRules::parse(t, "/etc/postfix/c").unwrap()
    }

    #[test]
    fn ipv4_first_match_wins() {
        let r = rules("192.168.1.1 host\n192.168.0.0/16 REJECT lan\n0.0.0.0/0 any4\n");
        assert_eq!(r.lookup("192.168.1.1").as_deref(), Some("host"));
        assert_eq!(r.lookup("192.168.7.9").as_deref(), Some("REJECT lan"));
        assert_eq!(r.lookup("8.8.8.8").as_deref(), Some("any4"));
        assert_eq!(r.lookup("::1"), None, "IPv4 rules never match IPv6");
        assert_eq!(r.lookup("not-an-address"), None);
    }

    #[test]
    fn ipv6_forms() {
        let r = rules("[2001:db8::]/32 doc\n2001:db9::1 one\n[::1] lo\n::/0 any6\n");
        assert_eq!(r.lookup("2001:db8:1::5").as_deref(), Some("doc"));
        assert_eq!(r.lookup("2001:DB9::1").as_deref(), Some("one"));
        assert_eq!(r.lookup("::1").as_deref(), Some("lo"));
        assert_eq!(r.lookup("[fe80::1]").as_deref(), Some("any6"));
        assert_eq!(r.lookup("10.0.0.1"), None);
    }

    #[test]
    fn negation_and_if_blocks() {
        let r = rules(
            "if 10.0.0.0/8\nif !10.1.0.0/16\n0.0.0.0/0 ten-not-one\nendif\n10.0.0.0/8 ten\nendif\n!127.0.0.0/8 remote\n",
        );
        assert_eq!(r.lookup("10.2.3.4").as_deref(), Some("ten-not-one"));
        assert_eq!(r.lookup("10.1.3.4").as_deref(), Some("ten"));
        assert_eq!(r.lookup("8.8.8.8").as_deref(), Some("remote"));
        assert_eq!(r.lookup("127.0.0.1"), None);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = |t: &str| CidrRules::parse(t, "/etc/postfix/c").unwrap_err();
        assert_eq!(
            e("10.0.0.0/8 ok\n10.1.2.3/8 x\n"),
            "cidr map /etc/postfix/c, line 2: non-null host address bits in \"10.1.2.3/8\", perhaps you should use \"10.0.0.0/8\" instead"
        );
        assert_eq!(
            e("1.2.3.4/33 x\n"),
            "cidr map /etc/postfix/c, line 1: bad net/mask pattern: \"1.2.3.4/33\""
        );
        assert!(e("example.com x\n").contains("line 1: bad net/mask"));
        assert!(e("1.2.3.4\n").contains("no result text"));
        assert!(e("if 1.2.3.4\n").contains("without a matching \"endif\""));
        assert!(e("endif\n").contains("without a matching \"if\""));
        assert!(e("2001:db8::1/32 x\n").contains("\"[2001:db8::]/32\""));
    }

    #[test]
    fn table_reloads_on_change() {
        let dir = std::env::temp_dir().join(format!("postern-cidr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("clients");
        std::fs::write(&p, "10.0.0.0/8 OK\n").unwrap();
        let t = CidrTable::open(p.to_str().unwrap());
        assert_eq!(t.lookup("10.9.9.9").unwrap().as_deref(), Some("OK"));
        std::fs::write(&p, "10.0.0.0/8 REJECT\n10.0.0.1/8 x\n").unwrap();
        assert!(matches!(
            t.lookup("10.9.9.9"),
            Err(TableError::Unavailable { .. })
        ));
        std::fs::write(&p, "10.0.0.0/8 REJECT\n").unwrap();
        assert_eq!(t.lookup("10.9.9.9").unwrap().as_deref(), Some("REJECT"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
