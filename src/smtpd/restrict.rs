//! The restriction evaluator (Postfix's generic_checks): parsing of the
//! smtpd_{client,helo,sender,relay,recipient,data}_restrictions lists and their evaluation
//! against what is known of the session (`Facts`), with Postfix's reply texts. It uses
//! access (check_*_access, handing it the evaluator for a restriction list found in a
//! table), destination (relay and recipient table tests), hostname and policy_types; none
//! of them imports restrict. `check` calls it.
//!
//! Security role: decides who may relay and who is refused. Every list is evaluated in
//! order; `permit` ends only the list it is in, a reject in any list refuses. An unknown
//! restriction or an unusable table answers `451 4.3.5 Server configuration error`, a table
//! that cannot answer `451 4.3.0 ... Temporary lookup failure`, never "permit".
//! defer_if_permit / defer_if_reject raise the deferrals of `saved` (`450 4.7.0 <NAME>:
//! CLASS rejected: defer_if_permit requested`); once both are raised a list stops, and
//! after warn_if_reject a DEFER_IF_PERMIT refuses at once (logged as a warning).
//! Follows postconf(5) (smtpd_*_restrictions, warn_if_reject, reject_code, defer_code,
//! non_fqdn_reject_code, invalid_hostname_reject_code, unknown_address_reject_code) and
//! SMTPD_ACCESS_README.
//!
//! Logs: `warning: unknown smtpd restriction: "NAME"`, `NOQUEUE: reject_warning: ...`
//! (warn_if_reject), table warnings via `log_table_error`.

use std::sync::Arc;

use super::SmtpdContext;
use super::access;
use super::destination;
use super::hostname;
use super::policy_types::{
    AccessKind, Class, Decision, Facts, config_error, log_table_error, raise_deferral, reply,
    temp_lookup_reply,
};
use super::rbl::{self, Kind as ListKind, Site};
use super::rbl_check;
use super::unknown_names;
use crate::log::{self, lines};
use crate::reply::Reply;
use crate::rewrite::AddressClass;
use crate::tables::Table;

/// A table named in a restriction (`check_client_access hash:/etc/postfix/access`).
#[derive(Clone)]
pub struct TableRef(pub Arc<dyn Table>);

impl std::fmt::Debug for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.spec())
    }
}

impl PartialEq for TableRef {
    fn eq(&self, other: &TableRef) -> bool {
        self.0.spec() == other.0.spec()
    }
}

/// One restriction in a restriction list.
#[derive(Debug, Clone, PartialEq)]
pub enum Restriction {
    Permit,
    Reject,
    Defer,
    /// defer_if_permit / defer_if_reject: raise the deferral (`super::saved`).
    DeferIfPermit,
    DeferIfReject,
    WarnIfReject,
    PermitMynetworks,
    PermitSaslAuthenticated,
    RejectUnauthDestination,
    DeferUnauthDestination,
    PermitAuthDestination,
    RejectUnlistedRecipient,
    Access(AccessKind, TableRef),
    /// A bare `type:table`: an access table for the list's own kind.
    BareTable(TableRef),
    RejectNonFqdnHelo,
    RejectInvalidHelo,
    RejectNonFqdnSender,
    RejectNonFqdnRecipient,
    RejectUnknownSenderDomain,
    RejectUnknownRecipientDomain,
    /// reject_unknown_client_hostname: no verified name for the client address.
    RejectUnknownClient,
    /// reject_unknown_reverse_client_hostname: no PTR name at all.
    RejectUnknownReverseClient,
    /// reject_unknown_helo_hostname: the HELO name has no address or MX record.
    RejectUnknownHelo,
    PermitInetInterfaces,
    RejectUnauthPipelining,
    /// check_policy_service SERVER.
    Policy(super::policy_client::Endpoint),
    /// A DNS list (reject_rbl_client, reject_rhsbl_*, permit_dnswl_client...).
    DnsList(ListKind, Site),
    /// reject_sender_login_mismatch and its authenticated/unauthenticated halves.
    SenderLoginMismatch(super::sasl::LoginCheck),
    /// A restriction name Postern does not know.
    Unknown(String),
    /// A restriction that cannot be used (missing or unusable table): the reason.
    Broken(String),
}

fn open_table(spec: &str) -> Result<TableRef, String> {
    crate::tables::open(spec)
        .map(|t| TableRef(Arc::from(t)))
        .map_err(|e| e.to_string())
}

impl Restriction {
    /// Parse a restriction list value (commas and white space separate; `inline:{ ... }`
    /// stays whole).
    pub fn parse_list(value: &str) -> Vec<Restriction> {
        let words = crate::tables::split_specs(value);
        let mut out = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let n = &words[i];
            i += 1;
            let lower = n.to_ascii_lowercase();
            let kind = match lower.as_str() {
                "check_client_access" => Some(AccessKind::Client),
                "check_helo_access" => Some(AccessKind::Helo),
                "check_sender_access" => Some(AccessKind::Sender),
                "check_recipient_access" => Some(AccessKind::Recipient),
                _ => None,
            };
            if let Some(kind) = kind {
                let Some(spec) = words.get(i) else {
                    out.push(Restriction::Broken(format!(
                        "restriction {} requires a table argument",
                        n
                    )));
                    continue;
                };
                i += 1;
                out.push(match open_table(spec) {
                    Ok(t) => Restriction::Access(kind, t),
                    Err(e) => Restriction::Broken(format!("{} {}: {}", n, spec, e)),
                });
                continue;
            }
            if lower == "check_policy_service" {
                let Some(arg) = words.get(i) else {
                    out.push(Restriction::Broken(format!(
                        "restriction {} requires a server argument",
                        n
                    )));
                    continue;
                };
                i += 1;
                out.push(match super::policy_client::Endpoint::parse(arg) {
                    Ok(ep) => Restriction::Policy(ep),
                    Err(e) => Restriction::Broken(format!("{}: {}", n, e)),
                });
                continue;
            }
            if let Some(kind) = ListKind::from_name(&lower) {
                let Some(arg) = words.get(i) else {
                    out.push(Restriction::Broken(format!(
                        "restriction {} requires a domain name argument",
                        n
                    )));
                    continue;
                };
                i += 1;
                out.push(match rbl::parse_site(arg) {
                    Ok(site) => Restriction::DnsList(kind, site),
                    Err(e) => Restriction::Broken(format!("{}: {}", n, e)),
                });
                continue;
            }
            out.push(match lower.as_str() {
                "permit" => Restriction::Permit,
                "reject" => Restriction::Reject,
                "defer" => Restriction::Defer,
                "warn_if_reject" => Restriction::WarnIfReject,
                "defer_if_permit" => Restriction::DeferIfPermit,
                "defer_if_reject" => Restriction::DeferIfReject,
                "permit_mynetworks" => Restriction::PermitMynetworks,
                "permit_sasl_authenticated" => Restriction::PermitSaslAuthenticated,
                "reject_unauth_destination" => Restriction::RejectUnauthDestination,
                "defer_unauth_destination" => Restriction::DeferUnauthDestination,
                "permit_auth_destination" => Restriction::PermitAuthDestination,
                "reject_unlisted_recipient" | "check_recipient_maps" => {
                    Restriction::RejectUnlistedRecipient
                }
                "reject_non_fqdn_helo_hostname" | "reject_non_fqdn_hostname" => {
                    Restriction::RejectNonFqdnHelo
                }
                "reject_invalid_helo_hostname" | "reject_invalid_hostname" => {
                    Restriction::RejectInvalidHelo
                }
                "reject_non_fqdn_sender" => Restriction::RejectNonFqdnSender,
                "reject_non_fqdn_recipient" => Restriction::RejectNonFqdnRecipient,
                "reject_unknown_sender_domain" => Restriction::RejectUnknownSenderDomain,
                "reject_unknown_client_hostname" | "reject_unknown_client" => {
                    Restriction::RejectUnknownClient
                }
                "reject_unknown_reverse_client_hostname" => Restriction::RejectUnknownReverseClient,
                "reject_unknown_helo_hostname" | "reject_unknown_hostname" => {
                    Restriction::RejectUnknownHelo
                }
                "permit_inet_interfaces" => Restriction::PermitInetInterfaces,
                "reject_unknown_recipient_domain" => Restriction::RejectUnknownRecipientDomain,
                "reject_unauth_pipelining" => Restriction::RejectUnauthPipelining,
                "reject_sender_login_mismatch" => {
                    Restriction::SenderLoginMismatch(super::sasl::LoginCheck::Both)
                }
                "reject_authenticated_sender_login_mismatch" => {
                    Restriction::SenderLoginMismatch(super::sasl::LoginCheck::Authenticated)
                }
                "reject_unauthenticated_sender_login_mismatch" => {
                    Restriction::SenderLoginMismatch(super::sasl::LoginCheck::Unauthenticated)
                }
                _ if n.contains(':') && !n.starts_with('/') => match open_table(n) {
                    Ok(t) => Restriction::BareTable(t),
                    Err(e) => Restriction::Broken(e),
                },
                _ => Restriction::Unknown(n.clone()),
            });
        }
        out
    }
}

/// Nesting limit for restriction lists found in access tables.
const MAX_DEPTH: usize = 8;

/// Evaluate one list in its class. `warn_if_reject` turns the next restriction's reject
/// into a `reject_warning` log line.
pub fn evaluate(ctx: &SmtpdContext, list: &[Restriction], class: Class, f: &Facts<'_>) -> Decision {
    f.saved.borrow_mut().warn_if_reject = false;
    run(ctx, list, class, f, 0)
}

fn run(
    ctx: &SmtpdContext,
    list: &[Restriction],
    class: Class,
    f: &Facts<'_>,
    depth: usize,
) -> Decision {
    if depth > MAX_DEPTH {
        log::warning("smtpd", "restriction lists nested too deeply");
        return Decision::Reject(config_error());
    }
    // A warn_if_reject in front of this nested list (a class, a table's answer) holds for
    // everything in it, as in Postfix.
    let inherited = f.saved.borrow().warn_if_reject;
    let mut warn = false;
    for r in list {
        if *r == Restriction::WarnIfReject {
            warn = true;
            continue;
        }
        let warned = std::mem::take(&mut warn) || inherited;
        f.saved.borrow_mut().warn_if_reject = warned;
        let d = one(ctx, r, class, f, depth);
        match d {
            // As Postfix's generic_checks: with both deferrals raised the list stops.
            Decision::Dunno if f.saved.borrow().both_deferrals() => return Decision::Dunno,
            Decision::Dunno => {}
            Decision::Permit => return Decision::Permit,
            Decision::Reject(reply) if warned => f.log("reject_warning", &reply.to_string()),
            Decision::Reject(reply) => return Decision::Reject(reply),
        }
    }
    Decision::Dunno
}

fn one(ctx: &SmtpdContext, r: &Restriction, class: Class, f: &Facts<'_>, depth: usize) -> Decision {
    let p = &ctx.policy;
    let reject = |code: u16, dsn: &str, c: Class, text: &str| {
        Decision::Reject(reply(code, dsn, &c.name(f), c, text))
    };
    match r {
        Restriction::Permit => Decision::Permit,
        Restriction::Reject => reject(p.reject_code, "7.1", class, "Access denied"),
        Restriction::Defer => reject(p.defer_code, "7.1", class, "Try again later"),
        Restriction::WarnIfReject => Decision::Dunno,
        Restriction::DeferIfPermit | Restriction::DeferIfReject => {
            let (word, permit) = match r {
                Restriction::DeferIfPermit => ("defer_if_permit", true),
                _ => ("defer_if_reject", false),
            };
            let text = format!("{} requested", word);
            let deferral = reply(450, "7.0", &class.name(f), class, &text);
            raise_deferral(f, deferral, permit)
        }
        Restriction::DnsList(kind, site) => rbl_check::check(ctx, *kind, site, f),
        Restriction::Policy(ep) => {
            let nested = |list: &str, class: Class| {
                run(ctx, &Restriction::parse_list(list), class, f, depth + 1)
            };
            super::policy_check::check(ctx, ep, class, f, &nested)
        }
        Restriction::PermitMynetworks => match ctx.mynetworks.lookup(f.client.addr) {
            Ok(true) => Decision::Permit,
            Ok(false) => Decision::Dunno,
            Err(e) => {
                log_table_error(&e, &f.client.addr.to_string());
                Decision::Reject(temp_lookup_reply(f.client_log))
            }
        },
        Restriction::PermitSaslAuthenticated if f.sasl_authenticated => Decision::Permit,
        Restriction::PermitSaslAuthenticated => Decision::Dunno,
        Restriction::SenderLoginMismatch(which) => {
            match super::sasl::login_mismatch(ctx, *which, f.sender, f.sasl_username) {
                Ok(None) => Decision::Dunno,
                Ok(Some(text)) => Decision::Reject(Reply::with_dsn(553, "5.7.1", &text)),
                Err(e) => {
                    log::warning("smtpd", e);
                    Decision::Reject(temp_lookup_reply(f.client_log))
                }
            }
        }
        Restriction::RejectUnauthDestination
        | Restriction::DeferUnauthDestination
        | Restriction::PermitAuthDestination => {
            let Some(rc) = f.rcpt else {
                return Decision::Dunno;
            };
            let ok = match destination::auth_destination(ctx, &rc) {
                Ok(ok) => ok,
                Err(reply) => return Decision::Reject(reply),
            };
            match (r, ok) {
                (Restriction::PermitAuthDestination, true) => Decision::Permit,
                (Restriction::RejectUnauthDestination, false) => {
                    let code = p.relay_code;
                    Decision::Reject(Reply::with_dsn(
                        code,
                        &format!("{}.7.1", code / 100),
                        &format!("<{}>: Relay access denied", rc.given),
                    ))
                }
                (Restriction::DeferUnauthDestination, false) => Decision::Reject(Reply::with_dsn(
                    p.relay_defer_code,
                    "4.7.1",
                    &format!("<{}>: Relay access denied", rc.given),
                )),
                _ => Decision::Dunno,
            }
        }
        Restriction::RejectUnlistedRecipient => match f.rcpt {
            Some(rc) => match destination::recipient_test(ctx, &rc) {
                Ok(()) => Decision::Dunno,
                Err(reply) => Decision::Reject(reply),
            },
            None => Decision::Dunno,
        },
        Restriction::Access(kind, t) => access_check(ctx, *kind, t, f, depth),
        Restriction::BareTable(t) => match AccessKind::of_class(class) {
            Some(kind) => access_check(ctx, kind, t, f, depth),
            None => Decision::Dunno,
        },
        Restriction::RejectInvalidHelo => match f.helo {
            Some(h) if !hostname::valid_helo(h) => {
                reject(p.invalid_hostname_code, "5.2", Class::Helo, "Invalid name")
            }
            _ => Decision::Dunno,
        },
        Restriction::RejectNonFqdnHelo => match f.helo {
            Some(h) if !hostname::fqdn_helo(h) => reject(
                p.non_fqdn_code,
                "5.2",
                Class::Helo,
                "need fully-qualified hostname",
            ),
            _ => Decision::Dunno,
        },
        Restriction::RejectNonFqdnSender => match f.sender {
            Some(s) if !s.is_empty() && !hostname::fqdn_address(s) => reject(
                p.non_fqdn_code,
                "5.2",
                Class::Sender,
                "need fully-qualified address",
            ),
            _ => Decision::Dunno,
        },
        Restriction::RejectNonFqdnRecipient => match f.rcpt {
            Some(rc) if !hostname::fqdn_address(rc.given) => reject(
                p.non_fqdn_code,
                "5.2",
                Class::Recipient,
                "need fully-qualified address",
            ),
            _ => Decision::Dunno,
        },
        Restriction::RejectUnknownSenderDomain => match f.sender {
            Some(s) if !s.is_empty() => unknown_domain(ctx, s, Class::Sender, "1.8", f),
            _ => Decision::Dunno,
        },
        Restriction::RejectUnknownRecipientDomain => match f.rcpt {
            Some(rc) => unknown_domain(ctx, rc.given, Class::Recipient, "1.2", f),
            None => Decision::Dunno,
        },
        Restriction::RejectUnknownClient => unknown_names::client(p.unknown_client_code, f),
        Restriction::RejectUnknownReverseClient => {
            unknown_names::reverse_client(p.unknown_client_code, f)
        }
        Restriction::RejectUnknownHelo => unknown_names::helo(ctx, p.unknown_hostname_code, f),
        Restriction::PermitInetInterfaces => match ctx.interface_addrs.contains(&f.client.addr) {
            true => Decision::Permit,
            false => Decision::Dunno,
        },
        // Postfix 3.x: the session's sticky flag (session/pipelining.rs), so a client that
        // talked before the greeting is still refused at RCPT.
        Restriction::RejectUnauthPipelining if f.ill_pipelining => {
            reject(503, "5.0", class, "Improper use of SMTP command pipelining")
        }
        Restriction::RejectUnauthPipelining => Decision::Dunno,
        Restriction::Unknown(name) if ctx.policy.classes.contains_key(name.as_str()) => {
            let list = &ctx.policy.classes[name.as_str()];
            run(ctx, list, class, f, depth + 1)
        }
        Restriction::Unknown(name) => {
            log::warning(
                "smtpd",
                format!("unknown smtpd restriction: \"{}\"", lines::printable(name)),
            );
            Decision::Reject(config_error())
        }
        Restriction::Broken(why) => {
            log::warning("smtpd", lines::printable(why));
            Decision::Reject(config_error())
        }
    }
}

/// One check_*_access restriction. An answer that is a restriction list is evaluated
/// here, one level deeper, in the class of the access check: access itself does not know
/// the evaluator (restrict → access, never back).
fn access_check(
    ctx: &SmtpdContext,
    kind: AccessKind,
    t: &TableRef,
    f: &Facts<'_>,
    depth: usize,
) -> Decision {
    let nested =
        |list: &str, class: Class| run(ctx, &Restriction::parse_list(list), class, f, depth + 1);
    access::check(ctx, kind, t.0.as_ref(), f, &nested)
}

/// reject_unknown_{sender,recipient}_domain: only for domains we are not the final
/// destination for (local and virtual domains are skipped, as Postfix's
/// RESOLVE_CLASS_FINAL; a virtual list failure answers 451); NXDOMAIN or no MX/address uses
/// unknown_address_reject_code, a DNS failure (or no resolver) 450.
fn unknown_domain(
    ctx: &SmtpdContext,
    addr: &str,
    class: Class,
    dsn: &str,
    f: &Facts<'_>,
) -> Decision {
    let domain = super::address::domain_of(addr);
    if domain.is_empty() || domain.starts_with('[') {
        return Decision::Dunno;
    }
    match ctx.rewrite.class_of(&domain) {
        Ok(AddressClass::Relay | AddressClass::Default) => {}
        Ok(_) => return Decision::Dunno,
        Err(e) => {
            log_table_error(&e.error, &domain);
            log::warning("smtpd", &e);
            return Decision::Reject(temp_lookup_reply(addr));
        }
    }
    let code = match hostname::domain_status(ctx.resolver.as_deref(), &domain) {
        hostname::DomainStatus::Exists => return Decision::Dunno,
        hostname::DomainStatus::NotFound => ctx.policy.unknown_address_code,
        hostname::DomainStatus::TempFail => 450,
    };
    Decision::Reject(reply(code, dsn, &class.name(f), class, "Domain not found"))
}

/// Reply codes and switches of the restriction machinery, read once per configuration.
pub struct Policy {
    pub client: Vec<Restriction>,
    pub helo: Vec<Restriction>,
    pub sender: Vec<Restriction>,
    pub relay: Vec<Restriction>,
    pub recipient: Vec<Restriction>,
    pub data: Vec<Restriction>,
    pub delay_reject: bool,
    pub reject_code: u16,
    pub defer_code: u16,
    pub access_reject_code: u16,
    pub access_defer_code: u16,
    pub non_fqdn_code: u16,
    pub invalid_hostname_code: u16,
    pub unknown_address_code: u16,
    pub relay_code: u16,
    pub relay_defer_code: u16,
    pub allow_untrusted_routing: bool,
    /// smtpd_access_maps is in parent_domain_matches_subdomains: `example.com` in an access
    /// table also matches its subdomains.
    pub access_parent_match: bool,
    /// smtpd_null_access_lookup_key.
    pub null_key: String,
    /// smtpd_restriction_classes: each class name with its list (the parameter of that
    /// name), usable as a restriction and as an access table's answer.
    pub classes: std::collections::HashMap<String, Vec<Restriction>>,
    /// maps_rbl_reject_code, default_rbl_reply, rbl_reply_maps (DNS list refusals).
    pub rbl_code: u16,
    /// unknown_client_reject_code, unknown_hostname_reject_code.
    pub unknown_client_code: u16,
    pub unknown_hostname_code: u16,
    pub rbl_reply: String,
    pub rbl_reply_maps: String,
}

impl Policy {
    /// Whether the relay or recipient restrictions can refuse relaying at all (Postfix's
    /// safety check against an open relay by misconfiguration).
    pub fn relay_safe(&self) -> bool {
        let lists = [&self.relay, &self.recipient];
        lists.iter().any(|l| self.can_refuse_relaying(l, 0))
    }

    /// Whether `list` (or a restriction class it names, as Postfix's has_required
    /// follows them) has a restriction that refuses relaying.
    fn can_refuse_relaying(&self, list: &[Restriction], depth: usize) -> bool {
        depth <= MAX_DEPTH
            && list.iter().any(|r| match r {
                Restriction::RejectUnauthDestination
                | Restriction::DeferUnauthDestination
                | Restriction::Reject
                | Restriction::Defer => true,
                Restriction::Unknown(name) => self
                    .classes
                    .get(name.as_str())
                    .is_some_and(|l| self.can_refuse_relaying(l, depth + 1)),
                _ => false,
            })
    }

    pub fn from_config(cfg: &crate::config::Config) -> Policy {
        let code = |name: &str, dflt: u16| -> u16 {
            let c = cfg.int(name);
            if (400..600).contains(&c) {
                c as u16
            } else {
                dflt
            }
        };
        let parent = cfg.list("parent_domain_matches_subdomains");
        let has = |n: &str| parent.iter().any(|p| p.eq_ignore_ascii_case(n));
        let list = |n: &str| Restriction::parse_list(cfg.get(n));
        Policy {
            client: list("smtpd_client_restrictions"),
            helo: list("smtpd_helo_restrictions"),
            sender: list("smtpd_sender_restrictions"),
            relay: list("smtpd_relay_restrictions"),
            recipient: list("smtpd_recipient_restrictions"),
            data: list("smtpd_data_restrictions"),
            delay_reject: cfg.bool("smtpd_delay_reject"),
            reject_code: code("reject_code", 554),
            defer_code: code("defer_code", 450),
            access_reject_code: code("access_map_reject_code", 554),
            access_defer_code: code("access_map_defer_code", 450),
            non_fqdn_code: code("non_fqdn_reject_code", 504),
            invalid_hostname_code: code("invalid_hostname_reject_code", 501),
            unknown_address_code: code("unknown_address_reject_code", 450),
            relay_code: code("relay_domains_reject_code", 554),
            relay_defer_code: 454,
            allow_untrusted_routing: cfg.bool("allow_untrusted_routing"),
            access_parent_match: has("smtpd_access_maps"),
            classes: cfg
                .list("smtpd_restriction_classes")
                .into_iter()
                .map(|name| {
                    // As Postfix (which refuses to start): a class without a definition is a
                    // configuration error, never an empty list that lets everything pass.
                    let list = match cfg.get(&name).trim() {
                        "" => vec![Restriction::Broken(format!(
                            "restriction class `{}' needs a definition",
                            name
                        ))],
                        value => Restriction::parse_list(value),
                    };
                    (name, list)
                })
                .collect(),
            rbl_code: code("maps_rbl_reject_code", 554),
            unknown_client_code: code("unknown_client_reject_code", 450),
            unknown_hostname_code: code("unknown_hostname_reject_code", 450),
            rbl_reply: cfg.raw("default_rbl_reply"),
            rbl_reply_maps: cfg.get("rbl_reply_maps").to_string(),
            null_key: cfg.get("smtpd_null_access_lookup_key").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_restriction_names() {
        let l = Restriction::parse_list(
            "permit_mynetworks, reject_unauth_destination bogus, warn_if_reject reject_non_fqdn_hostname",
        );
        assert_eq!(
            l,
            vec![
                Restriction::PermitMynetworks,
                Restriction::RejectUnauthDestination,
                Restriction::Unknown("bogus".into()),
                Restriction::WarnIfReject,
                Restriction::RejectNonFqdnHelo,
            ]
        );
    }

    #[test]
    fn parses_access_tables() {
        let l = Restriction::parse_list(
            "check_sender_access inline:{ a@b.test=REJECT, c=OK }, check_client_access nosuch:x, check_helo_access",
        );
        assert!(
            matches!(&l[0], Restriction::Access(AccessKind::Sender, t) if t.0.spec() == "inline:{ a@b.test=REJECT, c=OK }")
        );
        assert!(matches!(&l[1], Restriction::Broken(_)));
        assert!(matches!(&l[2], Restriction::Broken(w) if w.contains("requires a table")));
        assert_eq!(l.len(), 3);
    }
}
