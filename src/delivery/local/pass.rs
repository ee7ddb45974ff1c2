//! Handing a local recipient to another transport, and what happens to users that do not
//! exist, as local(8) does it (Postfix's deliver_mailbox and deliver_unknown):
//! - $mailbox_transport_maps (searched by user name), then $mailbox_transport: mail for a
//!   mailbox goes to that master.cf transport (e.g. `lmtp:unix:private/dovecot-lmtp`)
//!   before the account is even looked up;
//! - for an unknown user: $fallback_transport_maps, then $fallback_transport; else
//!   $luser_relay (with `$user`, `$local`, `$extension`, `$domain`, `$recipient`, `$mailbox`,
//!   `$home`, `$shell` and `${name?text}` / `${name:text}` expansion; a domain-less result
//!   gets `@$myorigin`), delivered as an alias target would be; else postmaster and
//!   MAILER-DAEMON without an alias are discarded with a warning; else the recipient
//!   bounces, `unknown user: "USER"` (5.1.1).
//!
//! A value is `transport` or `transport:nexthop`; without a nexthop the request's own is
//! kept. The outcome is an `Outcome::pass` that the scheduler acts on by delivering the
//! address through that transport, whose agent logs the delivery (`relay=` its own).
//!
//! Security role: routing only; nothing is written here. A table lookup error defers
//! (4.3.0 `table lookup failure`), never falls through to the mailbox or to "unknown".
//! Logs `warning: TYPE:NAME lookup error for "USER"` and `warning: required alias not
//! found: NAME`.

use super::{Local, Rcpt, split_addr};
use crate::delivery::{Outcome, Pass, dsn_of};
use crate::tables::{TableError, TableList};

/// What a transport lookup gave.
enum Route {
    To(Pass),
    Error,
    None,
}

impl Local {
    /// The first of `maps` (searched by `user`) then `param` that names a transport.
    fn transport_for(
        &self,
        r: &Rcpt<'_>,
        addr: &str,
        user: &str,
        maps: &str,
        param: &str,
    ) -> Route {
        match lookup(self.cfg.get(maps), user) {
            Ok(Some(v)) => {
                if let Some(p) = Pass::parse(&v, r.req.nexthop, addr) {
                    return Route::To(p);
                }
            }
            Ok(None) => {}
            Err(e) => {
                crate::log::lines::lookup_error("local", e.table(), user);
                return Route::Error;
            }
        }
        match Pass::parse(self.cfg.get(param), r.req.nexthop, addr) {
            Some(p) => Route::To(p),
            None => Route::None,
        }
    }

    fn take_route(&self, r: &mut Rcpt<'_>, addr: &str, route: Route) -> bool {
        match route {
            Route::To(pass) => {
                let mut o = Outcome::pass(r.idx, pass);
                if addr != r.queue_addr {
                    o.to = Some(addr.to_string());
                }
                r.out.push(o);
                true
            }
            Route::Error => {
                r.outcome(addr, dsn_of("4.3.0"), "table lookup failure");
                true
            }
            Route::None => false,
        }
    }

    /// $mailbox_transport_maps / $mailbox_transport: true when the recipient was handed on
    /// (or deferred for a table error).
    pub(super) fn pass_mailbox(&self, r: &mut Rcpt<'_>, addr: &str, user: &str) -> bool {
        let route =
            self.transport_for(r, addr, user, "mailbox_transport_maps", "mailbox_transport");
        self.take_route(r, addr, route)
    }

    /// A user with neither alias nor account.
    pub(super) fn unknown_user(&self, r: &mut Rcpt<'_>, addr: &str, user: &str, level: usize) {
        if !r.first_time(format!("unknown {}", split_addr(addr).0.to_lowercase())) {
            return;
        }
        let route = self.transport_for(
            r,
            addr,
            user,
            "fallback_transport_maps",
            "fallback_transport",
        );
        if self.take_route(r, addr, route) {
            return;
        }
        let relay = self.cfg.raw("luser_relay");
        if !relay.trim().is_empty() {
            let target = self.expand_luser_relay(relay.trim(), addr, user);
            let qualified = if target.contains('@') {
                target.clone()
            } else {
                format!("{}@{}", target, self.cfg.get("myorigin"))
            };
            if !qualified.eq_ignore_ascii_case(addr) {
                self.to_address(r, addr, &target, level, user);
                return;
            }
        } else if user.eq_ignore_ascii_case("postmaster")
            || user.eq_ignore_ascii_case("mailer-daemon")
        {
            crate::log::warning("local", format!("required alias not found: {}", user));
            r.outcome(addr, dsn_of("2.0.0"), "discarded");
            return;
        }
        r.outcome(
            addr,
            dsn_of("5.1.1"),
            &format!("unknown user: \"{}\"", user),
        );
    }

    /// $luser_relay with local(8)'s `$name` expansion.
    fn expand_luser_relay(&self, relay: &str, addr: &str, user: &str) -> String {
        let (local, domain) = split_addr(addr);
        let local = local.to_lowercase();
        let extension = self.rewrite.split(&local).1.unwrap_or_default().to_string();
        let value = |name: &str| -> Option<String> {
            let v = match name {
                "user" => user.to_string(),
                "local" | "mailbox" => local.clone(),
                "extension" => extension.clone(),
                "domain" => domain.to_string(),
                "recipient" => addr.to_string(),
                "home" | "shell" => String::new(),
                _ => return None,
            };
            // Values are text, never expanded again.
            Some(v.replace('$', "$$"))
        };
        crate::config::parse::expand(relay, &value)
    }
}

/// Look `key` up in a list of tables (an empty list finds nothing).
pub(super) fn lookup(maps: &str, key: &str) -> Result<Option<String>, TableError> {
    if maps.trim().is_empty() {
        return Ok(None);
    }
    let tables = TableList::open_list(maps)?;
    for t in &tables.tables {
        if let Some(v) = t.lookup(key)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}
