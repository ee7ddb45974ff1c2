//! Address resolution (Postfix's trivial-rewrite(8) resolver): which transport and next hop
//! deliver a recipient. The scheduler (qmgr) routes every recipient with `resolve_with`;
//! local's address verification (`sendmail -bv`) names the transport of a non-local alias
//! target with `resolve`. Logs Postfix's helpful warnings
//! (`warning: do not list domain D in BOTH mydestination and virtual_alias_domains`, ...)
//! as trivial-rewrite.
//!
//! Order, as transport(5) and trivial-rewrite(8): $transport_maps first (keys: the full
//! address, then the domain, then each parent domain as `.parent`, then `*`); otherwise local
//! domains go to $local_transport, virtual alias domains to the error transport
//! (`5.1.1 User unknown in virtual alias table`: an address still in such a domain after
//! cleanup's virtual alias expansion has no alias), virtual mailbox domains to
//! $virtual_transport with the domain as next hop, $relay_domains to $relay_transport and
//! everything else to $default_transport, by the address class crate::rewrite gives (one
//! `Rewrite` per configuration, held by the scheduler). For relay and default deliveries
//! the next hop is the sender's relay host ($sender_dependent_relayhost_maps), else
//! $relayhost, else the domain, and default deliveries take the sender's transport
//! ($sender_dependent_default_transport_maps) when it has one (`sender_routing`). A table
//! result `transport:nexthop` as Postfix's update_entry: `:nexthop` keeps the transport, a
//! transport alone goes to the recipient's domain, `:` alone changes nothing.
//! Then, whatever the class, a recipient in $relocated_maps goes to the error transport
//! (`5.1.6 User has moved to NEW`, relocated(5); keys as mail_addr_find).
//! A transport_maps, relocated_maps, sender-dependent or virtual domain list lookup error is
//! returned as an error: the caller defers (4.3.0).

use std::fmt;

use super::{AddressClass, ClassError, Rewrite, domain_of, sender_routing};
use crate::config::Config;
use crate::tables::{TableError, TableList};

/// Why a recipient could not be resolved now (the caller defers it).
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveError {
    /// $transport_maps failed.
    Transport(TableError),
    /// A virtual domain list failed.
    Class(ClassError),
    /// $relocated_maps failed.
    Relocated(TableError),
    /// $sender_dependent_relayhost_maps or $sender_dependent_default_transport_maps failed.
    SenderDependent(TableError),
}

impl ResolveError {
    /// The table concerned.
    pub fn table(&self) -> &str {
        match self {
            ResolveError::Transport(e) => e.table(),
            ResolveError::Class(c) => c.error.table(),
            ResolveError::Relocated(e) => e.table(),
            ResolveError::SenderDependent(e) => e.table(),
        }
    }

    /// The deferral reason (DSN status and text).
    pub fn reason(&self) -> String {
        match self {
            ResolveError::Transport(_) => "4.3.0 transport table lookup failure".to_string(),
            ResolveError::Class(c) => format!("4.3.0 {}", c),
            ResolveError::Relocated(_) => "4.3.0 relocated_maps lookup failure".to_string(),
            // As Postfix's qmgr: the table's path stays out of the notice to the sender.
            ResolveError::SenderDependent(_) => "4.3.0 address resolver failure".to_string(),
        }
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Transport(e) => write!(f, "{}", e),
            ResolveError::Class(c) => write!(f, "{}: {}", c, c.error),
            ResolveError::Relocated(e) | ResolveError::SenderDependent(e) => write!(f, "{}", e),
        }
    }
}

impl std::error::Error for ResolveError {}

impl From<TableError> for ResolveError {
    fn from(e: TableError) -> ResolveError {
        ResolveError::Transport(e)
    }
}

/// Where a recipient goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub transport: String,
    pub nexthop: String,
}

fn split_transport(spec: &str, default_nexthop: &str) -> Route {
    let (t, n) = spec.split_once(':').unwrap_or((spec, ""));
    Route {
        transport: t.to_string(),
        nexthop: if n.is_empty() { default_nexthop } else { n }.to_string(),
    }
}

/// Resolve a (qualified) recipient address of mail from `sender` without $transport_maps.
pub fn resolve(
    cfg: &Config,
    rw: &Rewrite,
    address: &str,
    sender: &str,
) -> Result<Route, ResolveError> {
    let route = default_route(cfg, rw, &domain_of(address), sender)?;
    relocated(rw, address, route)
}

/// The text of a $relocated_maps result (the DSN status is 5.1.6).
pub fn relocated_text(value: &str) -> String {
    format!("User has moved to {}", value.trim())
}

/// A recipient in $relocated_maps goes to the error transport whatever its class
/// (`5.1.6 User has moved to NEW`), after $transport_maps as in trivial-rewrite.
fn relocated(rw: &Rewrite, address: &str, route: Route) -> Result<Route, ResolveError> {
    let maps = &rw.maps().relocated;
    if maps.is_empty() {
        return Ok(route);
    }
    let ours = rw.local_part_keys(&domain_of(address));
    match maps.find(rw, address, ours) {
        Ok(None) => Ok(route),
        Ok(Some(found)) => Ok(Route {
            transport: "error".to_string(),
            nexthop: format!("5.1.6 {}", relocated_text(&found.value)),
        }),
        Err((e, _)) => {
            crate::log::warning("trivial-rewrite", &e);
            crate::log::warning("trivial-rewrite", "relocated_maps lookup failure");
            Err(ResolveError::Relocated(e))
        }
    }
}

/// The route by address class (and, off-host, by sender) alone.
fn default_route(
    cfg: &Config,
    rw: &Rewrite,
    domain: &str,
    sender: &str,
) -> Result<Route, ResolveError> {
    let class = rw.class_of(domain).map_err(|e| {
        crate::log::warning("trivial-rewrite", &e);
        ResolveError::Class(e)
    })?;
    if cfg.bool("helpful_warnings") && rw.overlap_warnings_due(domain) {
        for w in rw.overlaps(domain, class) {
            crate::log::warning("trivial-rewrite", w);
        }
    }
    match class {
        AddressClass::Relay | AddressClass::Default => {
            offhost_route(cfg, rw, class, domain, sender)
        }
        _ => Ok(class_route(cfg, class, domain)),
    }
}

/// Local, virtual alias and virtual mailbox routes.
fn class_route(cfg: &Config, class: AddressClass, domain: &str) -> Route {
    match class {
        AddressClass::VirtualAlias => {
            let text = if cfg.bool("show_user_unknown_table_name") {
                "5.1.1 User unknown in virtual alias table"
            } else {
                "5.1.1 User unknown"
            };
            Route {
                transport: "error".to_string(),
                nexthop: text.to_string(),
            }
        }
        AddressClass::VirtualMailbox => split_transport(cfg.get("virtual_transport"), domain),
        _ => {
            let nexthop = if domain.is_empty() {
                cfg.get("myhostname").to_string()
            } else {
                domain.to_string()
            };
            let mut r = split_transport(cfg.get("local_transport"), &nexthop);
            r.nexthop = nexthop;
            r
        }
    }
}

/// Relay and default routes: the sender-dependent transport (default class) and relay
/// host, else $relay_transport / $default_transport and $relayhost, else the domain; a
/// transport's own next hop (`smtp:[gw]`) wins over all of them.
fn offhost_route(
    cfg: &Config,
    rw: &Rewrite,
    class: AddressClass,
    domain: &str,
    sender: &str,
) -> Result<Route, ResolveError> {
    let failed = ResolveError::SenderDependent;
    let transport = match class {
        AddressClass::Relay => cfg.get("relay_transport").to_string(),
        _ => sender_routing::default_transport(cfg, rw, sender)
            .map_err(failed)?
            .unwrap_or_else(|| cfg.get("default_transport").to_string()),
    };
    let relayhost = cfg.get("relayhost").trim();
    let nexthop = match sender_routing::relayhost(cfg, rw, sender).map_err(failed)? {
        Some(relay) => relay,
        None if !relayhost.is_empty() => relayhost.to_string(),
        None => domain.to_string(),
    };
    Ok(split_transport(&transport, &nexthop))
}

/// The keys $transport_maps is searched with, in order.
fn transport_keys(address: &str, domain: &str) -> Vec<String> {
    let mut keys = vec![address.to_ascii_lowercase()];
    if !domain.is_empty() {
        keys.push(domain.to_string());
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            keys.push(format!(".{}", parent));
            rest = parent;
        }
    }
    keys.push("*".to_string());
    keys
}

/// Resolve the recipient `address` of mail from `sender` with $transport_maps (`maps`,
/// already opened) consulted first, then $relocated_maps.
pub fn resolve_with(
    cfg: &Config,
    rw: &Rewrite,
    maps: Option<&TableList>,
    address: &str,
    sender: &str,
) -> Result<Route, ResolveError> {
    let route = transport_route(cfg, rw, maps, address, sender)?;
    relocated(rw, address, route)
}

fn transport_route(
    cfg: &Config,
    rw: &Rewrite,
    maps: Option<&TableList>,
    address: &str,
    sender: &str,
) -> Result<Route, ResolveError> {
    let domain = domain_of(address);
    let default = default_route(cfg, rw, &domain, sender)?;
    let Some(maps) = maps.filter(|m| !m.is_empty()) else {
        return Ok(default);
    };
    for key in transport_keys(address, &domain) {
        if let Some(value) = maps.lookup(&key)? {
            let value = value.trim();
            let (t, n) = value.split_once(':').unwrap_or((value, ""));
            return Ok(table_route(cfg, t, n, &domain, default));
        }
    }
    Ok(default)
}

/// A transport_maps result `t:n` over the class route `default`, as Postfix's
/// update_entry: `:nexthop` keeps the transport; `:` alone changes nothing; a transport
/// without a next hop goes to the recipient's domain (not to $relayhost or the sender's
/// relay host; `error` gets `Address is undeliverable`, as in Postfix 2.10).
fn table_route(cfg: &Config, t: &str, n: &str, domain: &str, default: Route) -> Route {
    if t.is_empty() {
        return match n {
            "" => default,
            n => Route {
                nexthop: n.to_string(),
                ..default
            },
        };
    }
    let nexthop = match (n, t) {
        ("", "error") => "Address is undeliverable".to_string(),
        ("", _) if domain.is_empty() => cfg.get("myhostname").to_string(),
        ("", _) => domain.to_string(),
        (n, _) => n.to_string(),
    };
    Route {
        transport: t.to_string(),
        nexthop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn resolve(cfg: &Config, address: &str) -> Route {
        super::resolve(cfg, &Rewrite::new(cfg), address, "s@sender.test").unwrap()
    }

    fn resolve_with(
        cfg: &Config,
        maps: Option<&TableList>,
        address: &str,
    ) -> Result<Route, ResolveError> {
        super::resolve_with(cfg, &Rewrite::new(cfg), maps, address, "s@sender.test")
    }

    #[test]
    fn sender_dependent_relayhost_and_default_transport() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("relay_domains", "r.test"),
                ("relayhost", "[gw.test]"),
                (
                    "sender_dependent_relayhost_maps",
                    "inline:{ a@one.test=[relay1.test]:587, @two.test=[relay2.test], d@one.test=DUNNO, <>=[bounces.test] }",
                ),
                (
                    "sender_dependent_default_transport_maps",
                    "inline:{ @two.test=slow, t@one.test=smtp:[pinned.test] }",
                ),
                (
                    "transport_maps",
                    "inline:{ fixed.test=smtp:[fixed-hop.test], bare.test=smtp, noop.test=:, hop.test=:[hop], gone.test=error }",
                ),
            ],
        );
        let rw = Rewrite::new(&cfg);
        let maps = TableList::open_list(cfg.get("transport_maps")).unwrap();
        let r = |to: &str, from: &str| {
            let route = super::resolve_with(&cfg, &rw, Some(&maps), to, from).unwrap();
            (route.transport, route.nexthop)
        };
        let pair = |t: &str, n: &str| (t.to_string(), n.to_string());
        assert_eq!(
            r("x@far.test", "a@one.test"),
            pair("smtp", "[relay1.test]:587")
        );
        assert_eq!(r("x@far.test", "b@two.test"), pair("slow", "[relay2.test]"));
        // DUNNO and no entry: $relayhost.
        assert_eq!(r("x@far.test", "d@one.test"), pair("smtp", "[gw.test]"));
        assert_eq!(r("x@far.test", "e@one.test"), pair("smtp", "[gw.test]"));
        // The null sender by its lookup key.
        assert_eq!(r("x@far.test", ""), pair("smtp", "[bounces.test]"));
        // Relay domains: the sender's relay host, never the default transport map.
        assert_eq!(r("x@r.test", "b@two.test"), pair("relay", "[relay2.test]"));
        // A transport's own next hop wins; transport_maps wins over everything.
        assert_eq!(r("x@far.test", "t@one.test"), pair("smtp", "[pinned.test]"));
        assert_eq!(
            r("x@fixed.test", "a@one.test"),
            pair("smtp", "[fixed-hop.test]")
        );
        // Local mail is not routed by sender.
        assert_eq!(r("u@www.a.org", "a@one.test"), pair("local", "www.a.org"));
        // Postfix's update_entry: a bare transport goes to the domain (no relay host),
        // `:` changes nothing, `:nexthop` keeps the transport, error has its own text.
        assert_eq!(r("x@bare.test", "a@one.test"), pair("smtp", "bare.test"));
        assert_eq!(r("x@bare.test", "e@one.test"), pair("smtp", "bare.test"));
        assert_eq!(
            r("x@noop.test", "a@one.test"),
            pair("smtp", "[relay1.test]:587")
        );
        assert_eq!(r("x@hop.test", "b@two.test"), pair("slow", "[hop]"));
        assert_eq!(
            r("x@gone.test", "a@one.test"),
            pair("error", "Address is undeliverable")
        );
    }

    #[test]
    fn a_sender_dependent_map_that_fails_is_an_error() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                (
                    "sender_dependent_relayhost_maps",
                    "hash:/nonexistent/relays",
                ),
            ],
        );
        let e = super::resolve(&cfg, &Rewrite::new(&cfg), "x@far.test", "a@one.test").unwrap_err();
        assert_eq!(e.reason(), "4.3.0 address resolver failure");
        // Local mail does not ask it.
        assert!(super::resolve(&cfg, &Rewrite::new(&cfg), "u@www.a.org", "a@one.test").is_ok());
    }

    #[test]
    fn local_relay_and_default() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("relay_domains", "$mydestination, r.test"),
            ],
        );
        let r = resolve(&cfg, "openstack@WWW.A.ORG");
        assert_eq!(
            r,
            Route {
                transport: "local".into(),
                nexthop: "www.a.org".into()
            }
        );
        assert_eq!(resolve(&cfg, "u@localhost").transport, "local");
        assert_eq!(resolve(&cfg, "u@r.test").transport, "relay");
        assert_eq!(
            resolve(&cfg, "jerry@qq.com"),
            Route {
                transport: "smtp".into(),
                nexthop: "qq.com".into()
            }
        );
    }

    #[test]
    fn a_transport_value_with_a_next_hop_keeps_its_colons() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("virtual_mailbox_domains", "v.test"),
                ("virtual_transport", "lmtp:unix:private/dovecot-lmtp"),
            ],
        );
        assert_eq!(
            resolve(&cfg, "u@v.test"),
            Route {
                transport: "lmtp".into(),
                nexthop: "unix:private/dovecot-lmtp".into()
            }
        );
        let inet = Config::from_pairs(
            Path::new("/x"),
            &[
                ("virtual_mailbox_domains", "v.test"),
                ("virtual_transport", "lmtp:inet:127.0.0.1:24"),
            ],
        );
        assert_eq!(resolve(&inet, "u@v.test").nexthop, "inet:127.0.0.1:24");
    }

    #[test]
    fn relayhost_is_the_next_hop_for_remote_mail() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("relayhost", "[10.0.0.1]:2525"),
            ],
        );
        assert_eq!(resolve(&cfg, "jerry@qq.com").nexthop, "[10.0.0.1]:2525");
        assert_eq!(resolve(&cfg, "u@www.a.org").nexthop, "www.a.org");
    }

    #[test]
    fn transport_maps_first_with_parent_domains_and_wildcard() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myhostname", "www.a.org")]);
        let maps = TableList::open_list(
            "inline:{ special@qq.com=error:no mail for you, qq.com=smtp:[127.0.0.1]:2526, .example.net=relay:, www.a.org=discard:, *=:[smarthost]}",
        )
        .unwrap();
        let r = |a: &str| resolve_with(&cfg, Some(&maps), a).unwrap();
        assert_eq!(
            r("special@qq.com"),
            Route {
                transport: "error".into(),
                nexthop: "no mail for you".into()
            }
        );
        assert_eq!(
            r("jerry@qq.com"),
            Route {
                transport: "smtp".into(),
                nexthop: "[127.0.0.1]:2526".into()
            }
        );
        assert_eq!(
            r("x@mx.example.net"),
            Route {
                transport: "relay".into(),
                nexthop: "mx.example.net".into()
            }
        );
        assert_eq!(
            r("x@example.net").nexthop,
            "[smarthost]",
            "`.example.net` is for subdomains only"
        );
        assert_eq!(
            r("u@www.a.org"),
            Route {
                transport: "discard".into(),
                nexthop: "www.a.org".into()
            }
        );
        assert_eq!(
            r("y@other.test"),
            Route {
                transport: "smtp".into(),
                nexthop: "[smarthost]".into()
            }
        );
    }

    #[test]
    fn relay_domains_cover_subdomains_as_smtpd_does() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[("myhostname", "www.a.org"), ("relay_domains", "r.test")],
        );
        assert_eq!(resolve(&cfg, "u@mx.r.test").transport, "relay");
        assert_eq!(resolve(&cfg, "u@notr.test").transport, "smtp");
    }

    #[test]
    fn lookup_errors_are_errors() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myhostname", "www.a.org")]);
        let maps = TableList::open_list("fail:broken").unwrap();
        assert!(resolve_with(&cfg, Some(&maps), "a@b.test").is_err());
    }

    #[test]
    fn virtual_classes_route_as_postfix() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("virtual_alias_domains", "va.test"),
                ("virtual_mailbox_domains", "vm.test"),
                ("relayhost", "[10.0.0.1]"),
            ],
        );
        assert_eq!(
            resolve(&cfg, "x@va.test"),
            Route {
                transport: "error".into(),
                nexthop: "5.1.1 User unknown in virtual alias table".into()
            }
        );
        assert_eq!(
            resolve(&cfg, "x@VM.test"),
            Route {
                transport: "virtual".into(),
                nexthop: "vm.test".into()
            }
        );
        let maps = TableList::open_list("inline:{ vm.test=discard: }").unwrap();
        let r = resolve_with(&cfg, Some(&maps), "x@vm.test").unwrap();
        assert_eq!(r.transport, "discard", "transport_maps first");
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("virtual_alias_domains", "fail:x"),
            ],
        );
        let e = resolve_with(&cfg, None, "x@other.test").unwrap_err();
        assert_eq!(e.reason(), "4.3.0 virtual_alias_domains lookup failure");
        assert!(resolve_with(&cfg, None, "x@www.a.org").is_ok());
    }

    #[test]
    fn relocated_recipients_go_to_the_error_transport() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("recipient_delimiter", "+"),
                (
                    "relocated_maps",
                    "inline:{ gone@www.a.org=new@e.test, @old.test=new.test }",
                ),
            ],
        );
        let moved = |to: &str| Route {
            transport: "error".into(),
            nexthop: format!("5.1.6 User has moved to {}", to),
        };
        assert_eq!(resolve(&cfg, "gone+x@www.a.org"), moved("new@e.test"));
        assert_eq!(resolve(&cfg, "u@old.test"), moved("new.test"));
        assert_eq!(
            resolve_with(&cfg, None, "gone@www.a.org"),
            Ok(moved("new@e.test"))
        );
        assert_eq!(resolve(&cfg, "here@www.a.org").transport, "local");
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[("myhostname", "www.a.org"), ("relocated_maps", "fail:x")],
        );
        let e = resolve_with(&cfg, None, "u@www.a.org").unwrap_err();
        assert_eq!(e.reason(), "4.3.0 relocated_maps lookup failure");
    }
}
