//! After-queue content filtering in the scheduler (Postfix 2.10's qmgr_message.c): a message
//! whose queue file names a content filter (`queue::FILTER_ATTR`, from $content_filter of
//! the service that received it, or a FILTER action) sends every recipient to that
//! `transport:nexthop` instead of the resolver's route. An empty next hop is
//! $default_filter_nexthop, else the recipient's domain, else $myhostname. Address
//! verification probes (`sendmail -bv`) are not filtered.
//!
//! Security role: the filter named in the trusted queue file is applied to all recipients
//! so that none bypasses it (pickup drops the record from maildrop files). Logs nothing.

use crate::config::Config;
use crate::queue::{Envelope, FILTER_ATTR};
use crate::rewrite::resolve::Route;

/// The content filter of a message, if any (never for a verification probe).
pub fn of(env: &Envelope, verify: bool) -> Option<String> {
    if verify {
        return None;
    }
    env.attr(FILTER_ATTR)
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
}

/// The route of `recipient` for content filter `filter` (`transport:nexthop`).
pub fn route(cfg: &Config, filter: &str, recipient: &str) -> Route {
    let (transport, nexthop) = filter.split_once(':').unwrap_or((filter, ""));
    let nexthop = if !nexthop.is_empty() {
        nexthop.to_string()
    } else if !cfg.get("default_filter_nexthop").trim().is_empty() {
        cfg.get("default_filter_nexthop").trim().to_string()
    } else {
        match recipient.rsplit_once('@') {
            Some((_, d)) if !d.is_empty() => d.to_string(),
            _ => cfg.get("myhostname").to_string(),
        }
    };
    Route {
        transport: transport.to_string(),
        nexthop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn r(t: &str, n: &str) -> Route {
        Route {
            transport: t.into(),
            nexthop: n.into(),
        }
    }

    #[test]
    fn next_hops_as_postfix() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myhostname", "mx.a.test")]);
        assert_eq!(
            route(&cfg, "smtp:[127.0.0.1]:10025", "u@b.test"),
            r("smtp", "[127.0.0.1]:10025")
        );
        assert_eq!(
            route(&cfg, "filter:dummy", "u@b.test"),
            r("filter", "dummy")
        );
        assert_eq!(route(&cfg, "filter:", "u@b.test"), r("filter", "b.test"));
        assert_eq!(route(&cfg, "filter", "u"), r("filter", "mx.a.test"));
        let cfg = Config::from_pairs(Path::new("/x"), &[("default_filter_nexthop", "hub")]);
        assert_eq!(route(&cfg, "filter", "u@b.test"), r("filter", "hub"));
    }

    #[test]
    fn probes_are_not_filtered() {
        let mut env = Envelope::new("s@a.test");
        assert_eq!(of(&env, false), None);
        env.set_attr(FILTER_ATTR, "filter:dummy");
        assert_eq!(of(&env, false).as_deref(), Some("filter:dummy"));
        assert_eq!(of(&env, true), None);
    }
}
