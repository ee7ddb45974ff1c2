//! Address resolution (Postfix's trivial-rewrite(8), the part qmgr needs): which transport
//! and next hop deliver a recipient. Local domains ($mydestination) go to $local_transport;
//! $relay_domains to $relay_transport; everything else to $default_transport.

use crate::config::{Config, split_list};

/// Where a recipient goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub transport: String,
    pub nexthop: String,
}

/// Whether `domain` is one of $mydestination (case-insensitive).
pub fn is_local_domain(cfg: &Config, domain: &str) -> bool {
    let d = domain.trim_end_matches('.');
    d.is_empty()
        || split_list(cfg.get("mydestination"))
            .iter()
            .any(|m| m.eq_ignore_ascii_case(d))
}

fn split_transport(spec: &str, default_nexthop: &str) -> Route {
    match spec.split_once(':') {
        Some((t, n)) if !n.is_empty() => Route {
            transport: t.to_string(),
            nexthop: n.to_string(),
        },
        Some((t, _)) => Route {
            transport: t.to_string(),
            nexthop: default_nexthop.to_string(),
        },
        None => Route {
            transport: spec.to_string(),
            nexthop: default_nexthop.to_string(),
        },
    }
}

/// Resolve a (qualified) recipient address.
pub fn resolve(cfg: &Config, address: &str) -> Route {
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    if is_local_domain(cfg, &domain) {
        let nexthop = if domain.is_empty() {
            cfg.get("myhostname").to_string()
        } else {
            domain
        };
        let mut r = split_transport(cfg.get("local_transport"), &nexthop);
        r.nexthop = nexthop;
        return r;
    }
    if split_list(cfg.get("relay_domains"))
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&domain))
    {
        return split_transport(cfg.get("relay_transport"), &domain);
    }
    split_transport(cfg.get("default_transport"), &domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
}
