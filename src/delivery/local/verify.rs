//! Address verification for local(8) (`sendmail -bv`; `Agent::verify` of `Local`): each
//! recipient is checked read-only, the way `deliver` would deliver it: alias expansion
//! through $alias_maps (each target checked in turn; commands and files are reported, not
//! run or written; `:include:` files are read; an address outside $mydestination reports
//! the transport it would take, `deliverable via smtp`), then $mailbox_transport(_maps)
//! (`deliverable via TRANSPORT`), the account lookup, and for an unknown user
//! $fallback_transport(_maps) and $luser_relay, else 5.1.1 `unknown user: "NAME"`, as
//! local says. A .forward file is not read (the mailbox is reported).
//!
//! Security role: never writes a mailbox, file or command and never asks the privileged
//! helper; only reads tables, include files and the password database. Logs nothing
//! itself; the scheduler's workers log each result with `status=deliverable` or
//! `status=undeliverable`.

use crate::config::Config;
use crate::delivery::targets::{Target, classify, include_targets};
use crate::delivery::{Outcome, Request, dsn_of};
use crate::reply::Dsn;
use crate::rewrite::{AddressClass, Rewrite};
use crate::tables::{TableList, aliases};

/// Deepest alias nesting followed (as local(8)).
const MAX_DEPTH: usize = 100;

/// Verify each recipient of a local delivery request.
pub(super) fn verify(cfg: &Config, rw: &Rewrite, req: &Request<'_>) -> Vec<Outcome> {
    let aliases = TableList::open_list(cfg.get("alias_maps"));
    let mut out = Vec::new();
    for (i, r) in req.recipients.iter().enumerate() {
        let mut v = Walk {
            cfg,
            rw,
            aliases: aliases.as_ref().ok(),
            sender: req.sender,
            rcpt: i,
            queue_addr: &r.address,
            expanded: Vec::new(),
            out: &mut out,
        };
        if aliases.is_err() && !cfg.get("alias_maps").trim().is_empty() {
            v.push(&r.address, dsn_of("4.3.0"), "alias database unavailable");
            continue;
        }
        v.address(&r.address, 0);
    }
    out
}

struct Walk<'a> {
    cfg: &'a Config,
    rw: &'a Rewrite,
    aliases: Option<&'a TableList>,
    /// The envelope sender (sender-dependent routing of a non-local target).
    sender: &'a str,
    rcpt: usize,
    queue_addr: &'a str,
    expanded: Vec<String>,
    out: &'a mut Vec<Outcome>,
}

impl Walk<'_> {
    fn push(&mut self, addr: &str, dsn: Dsn, text: &str) {
        let mut o = Outcome::new(self.rcpt, dsn, text, "local");
        if addr != self.queue_addr {
            o.to = Some(addr.to_string());
        }
        self.out.push(o);
    }

    fn address(&mut self, addr: &str, depth: usize) {
        if depth > MAX_DEPTH {
            let text = format!("mail forwarding loop for {}", addr);
            return self.push(addr, dsn_of("5.4.6"), &text);
        }
        let (local, domain) = addr.rsplit_once('@').unwrap_or((addr, ""));
        if self.rw.class_of(domain) != Ok(AddressClass::Local) {
            return match crate::rewrite::resolve::resolve(self.cfg, self.rw, addr, self.sender) {
                Ok(route) => {
                    let text = format!("deliverable via {}", route.transport);
                    self.push(addr, dsn_of("2.0.0"), &text)
                }
                Err(e) => self.push(addr, dsn_of("4.3.0"), &e.to_string()),
            };
        }
        let local = local.to_lowercase();
        let base = self.rw.split(&local).0.to_string();
        let mut keys = vec![local.clone()];
        if base != local {
            keys.push(base.clone());
        }
        for key in keys {
            if self.expanded.contains(&key) {
                continue;
            }
            let Some(tables) = self.aliases else { break };
            match tables.lookup(&key) {
                Err(_) => {
                    return self.push(addr, dsn_of("4.3.0"), "alias database unavailable");
                }
                Ok(Some(value)) => {
                    self.expanded.push(key);
                    return self.targets(addr, &value, depth);
                }
                Ok(None) => {}
            }
        }
        if self.passed(addr, &base, "mailbox_transport_maps", "mailbox_transport") {
            return;
        }
        match crate::sys::user_by_name(&base) {
            Ok(Some(_)) => self.push(addr, dsn_of("2.0.0"), "delivers to mailbox"),
            Ok(None) => {
                if self.passed(addr, &base, "fallback_transport_maps", "fallback_transport") {
                    return;
                }
                if !self.cfg.raw("luser_relay").trim().is_empty() {
                    return self.push(addr, dsn_of("2.0.0"), "delivers to luser_relay");
                }
                let text = format!("unknown user: \"{}\"", base);
                self.push(addr, dsn_of("5.1.1"), &text)
            }
            Err(e) => {
                let text = format!("cannot look up user {}: {}", base, e);
                self.push(addr, dsn_of("4.3.0"), &text)
            }
        }
    }

    /// Whether `maps` (by `user`) or `param` hands the recipient to another transport
    /// (reported as `deliverable via TRANSPORT`, a table error as 4.3.0).
    fn passed(&mut self, addr: &str, user: &str, maps: &str, param: &str) -> bool {
        let found = match super::pass::lookup(self.cfg.get(maps), user) {
            Ok(Some(v)) => Some(v),
            Ok(None) => Some(self.cfg.get(param).to_string()),
            Err(_) => {
                self.push(addr, dsn_of("4.3.0"), "table lookup failure");
                return true;
            }
        };
        match found.and_then(|v| crate::delivery::Pass::parse(&v, "", addr)) {
            Some(p) => {
                let text = format!("deliverable via {}", p.transport);
                self.push(addr, dsn_of("2.0.0"), &text);
                true
            }
            None => false,
        }
    }

    fn targets(&mut self, addr: &str, value: &str, depth: usize) {
        self.target_list(addr, aliases::targets(value), depth)
    }

    fn target_list(&mut self, addr: &str, list: Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            let text = format!("mail forwarding loop for {}", addr);
            return self.push(addr, dsn_of("5.4.6"), &text);
        }
        for t in list {
            match classify(&t) {
                Target::Command(cmd) => {
                    let text = format!("delivers to command: {}", cmd);
                    self.push(addr, dsn_of("2.0.0"), &text);
                }
                Target::File(path) => {
                    let text = format!("delivers to file: {}", path.display());
                    self.push(addr, dsn_of("2.0.0"), &text);
                }
                Target::Include(path) => match std::fs::read_to_string(path) {
                    Ok(text) => {
                        let list = include_targets(&text);
                        self.target_list(addr, list, depth + 1);
                    }
                    Err(e) => {
                        let text = format!("cannot open include file {}: {}", path.display(), e);
                        self.push(addr, dsn_of("4.3.0"), &text);
                    }
                },
                Target::Address(a) => {
                    let a = a.strip_prefix('\\').unwrap_or(a);
                    let next = if a.contains('@') {
                        a.to_string()
                    } else {
                        format!("{}@{}", a, self.cfg.get("myorigin"))
                    };
                    self.address(&next, depth + 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Status;
    use crate::queue::Recipient;
    use std::path::Path;

    #[test]
    fn local_checks_accounts_and_aliases_without_delivering() {
        let dir = std::env::temp_dir().join(format!("postern-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let aliases = dir.join("aliases");
        std::fs::write(&aliases, "grp-xyz root, /tmp/x, |cat, nobody-xyz-123\n").unwrap();
        let spec = format!("texthash:{}", aliases.display());
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "h.test"),
                ("alias_maps", spec.as_str()),
                ("recipient_delimiter", "+"),
            ],
        );
        let rcpts = vec![
            Recipient::new("root+ext@h.test"),
            Recipient::new("nobody-xyz-123@h.test"),
            Recipient::new("grp-xyz@h.test"),
            Recipient::new("far@remote.test"),
        ];
        let req = Request {
            queue_id: "A",
            sender: "s@h.test",
            arrival: std::time::SystemTime::now(),
            content: b"",
            recipients: &rcpts,
            nexthop: "h.test",
            ret: None,
            envid: None,
            attrs: &[],
        };
        let out = verify(&cfg, &Rewrite::new(&cfg), &req);
        let summary: Vec<(usize, Status, &str)> = out
            .iter()
            .map(|o| (o.rcpt, o.status, o.text.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, Status::Sent, "delivers to mailbox"),
                (1, Status::Bounced, "unknown user: \"nobody-xyz-123\""),
                (2, Status::Sent, "delivers to mailbox"),
                (2, Status::Sent, "delivers to file: /tmp/x"),
                (2, Status::Sent, "delivers to command: cat"),
                (2, Status::Bounced, "unknown user: \"nobody-xyz-123\""),
                (3, Status::Sent, "deliverable via smtp"),
            ]
        );
        assert_eq!(out[5].to.as_deref(), Some("nobody-xyz-123@h.test"));
        // Hand-overs: known users to $mailbox_transport, unknown ones to the fallback.
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "h.test"),
                ("alias_maps", spec.as_str()),
                ("mailbox_transport", "lmtp:unix:/run/dovecot/lmtp"),
                ("fallback_transport", "discard"),
            ],
        );
        let out = verify(&cfg, &Rewrite::new(&cfg), &req);
        assert_eq!(out[0].text, "deliverable via lmtp");
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "h.test"),
                ("alias_maps", spec.as_str()),
                ("recipient_delimiter", "+"),
                ("fallback_transport", "discard"),
            ],
        );
        let out = verify(&cfg, &Rewrite::new(&cfg), &req);
        assert_eq!(
            (out[0].status, out[0].text.as_str()),
            (Status::Sent, "delivers to mailbox")
        );
        assert_eq!(out[1].text, "deliverable via discard");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
