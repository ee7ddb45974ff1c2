//! The restriction evaluator (Postfix's generic_checks): parsing of the
//! smtpd_{client,helo,sender,relay,recipient,data}_restrictions lists and their evaluation
//! against what is known of the session (`Facts`), with Postfix's reply texts.
//!
//! Security role: decides who may relay and who is refused. Every list is evaluated in
//! order; `permit` ends only the list it is in, a reject in any list refuses. An unknown
//! restriction or an unusable table answers `451 4.3.5 Server configuration error`, a table
//! that cannot answer `451 4.3.0 ... Temporary lookup failure`, never "permit".
//! Follows postconf(5) (smtpd_*_restrictions, warn_if_reject, reject_code, defer_code,
//! non_fqdn_reject_code, invalid_hostname_reject_code, unknown_address_reject_code) and
//! SMTPD_ACCESS_README.
//!
//! Logs: `warning: unknown smtpd restriction: "NAME"`, `NOQUEUE: reject_warning: ...`
//! (warn_if_reject), table warnings via `check::log_table_error`.

use std::sync::Arc;

use super::access::{self, AccessKind};
use super::check;
use super::hostname;
use super::{ClientInfo, SmtpdContext};
use crate::log::{self, lines};
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
    RejectUnauthPipelining,
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
            out.push(match lower.as_str() {
                "permit" => Restriction::Permit,
                "reject" => Restriction::Reject,
                "defer" => Restriction::Defer,
                "warn_if_reject" => Restriction::WarnIfReject,
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
                "reject_unknown_recipient_domain" => Restriction::RejectUnknownRecipientDomain,
                "reject_unauth_pipelining" => Restriction::RejectUnauthPipelining,
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

/// Which list a restriction runs in: it names the object of a plain `reject` / `defer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Client,
    Helo,
    Sender,
    Recipient,
    Data,
}

impl Class {
    /// The words before "rejected" in a reply.
    pub fn words(self) -> &'static str {
        match self {
            Class::Client => "Client host",
            Class::Helo => "Helo command",
            Class::Sender => "Sender address",
            Class::Recipient => "Recipient address",
            Class::Data => "Data command",
        }
    }

    /// The `<...>` in a reply.
    pub fn name(self, f: &Facts<'_>) -> String {
        match self {
            Class::Client => f.client_log.to_string(),
            Class::Helo => f.helo.unwrap_or("").to_string(),
            Class::Sender => f.sender.unwrap_or("").to_string(),
            Class::Recipient => f.rcpt.map(|r| r.given).unwrap_or("").to_string(),
            Class::Data => "DATA".to_string(),
        }
    }
}

/// A recipient as the client gave it and as qualified with $myorigin.
#[derive(Debug, Clone, Copy)]
pub struct Rcpt<'a> {
    pub given: &'a str,
    pub qualified: &'a str,
}

/// What is known of the session when a list is evaluated.
pub struct Facts<'a> {
    pub client: &'a ClientInfo,
    /// `name[addr]`.
    pub client_log: &'a str,
    pub helo: Option<&'a str>,
    /// The sender as given (None before MAIL; "" is the null sender).
    pub sender: Option<&'a str>,
    pub rcpt: Option<Rcpt<'a>>,
    /// Recipients accepted so far (DATA log lines name a single one).
    pub single_rcpt: Option<&'a str>,
    pub sasl_authenticated: bool,
    pub esmtp: bool,
    /// The client pipelined where it may not, now or earlier in the session (sticky).
    pub ill_pipelining: bool,
    /// The SMTP command, for log lines: CONNECT, HELO, MAIL, RCPT, DATA.
    pub stage: &'a str,
}

impl Facts<'_> {
    pub fn proto(&self) -> &'static str {
        if self.esmtp { "ESMTP" } else { "SMTP" }
    }

    /// Log a NOQUEUE line with `action` (reject, reject_warning, warn).
    pub fn log(&self, action: &str, reply: &str) {
        let r = lines::Reject {
            queue_id: None,
            stage: self.stage,
            client: self.client_log,
            reply,
            from: self.sender,
            to: self.rcpt.map(|r| r.given).or(self.single_rcpt),
            proto: self.proto(),
            helo: self.helo,
        };
        if action == "reject" {
            lines::reject(&r);
        } else {
            lines::reject_kind(action, &r);
        }
    }
}

/// The outcome of one restriction or one list.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Permit,
    Dunno,
    Reject(String),
}

/// The reply for a server-side problem.
pub const CONFIG_ERROR: &str = "451 4.3.5 Server configuration error";

/// Nesting limit for restriction lists found in access tables.
const MAX_DEPTH: usize = 8;

/// `CODE X.DSN <NAME>: CLASS rejected: TEXT`; a DSN at the start of `text` whose class
/// matches the code replaces the default.
pub fn reply(code: u32, dsn: &str, name: &str, class: Class, text: &str) -> String {
    let class_digit = (code / 100).to_string();
    let (dsn, text) = match text.split_once(' ') {
        Some((d, rest)) if is_dsn(d) && d.starts_with(&class_digit) => (d.to_string(), rest),
        _ => (format!("{}.{}", class_digit, dsn), text),
    };
    format!(
        "{} {} <{}>: {} rejected: {}",
        code,
        dsn,
        name,
        class.words(),
        text
    )
}

fn is_dsn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Evaluate one list in its class. `warn_if_reject` turns the next restriction's reject
/// into a `reject_warning` log line.
pub fn evaluate(ctx: &SmtpdContext, list: &[Restriction], class: Class, f: &Facts<'_>) -> Decision {
    run(ctx, list, class, f, 0)
}

pub(crate) fn run(
    ctx: &SmtpdContext,
    list: &[Restriction],
    class: Class,
    f: &Facts<'_>,
    depth: usize,
) -> Decision {
    if depth > MAX_DEPTH {
        log::warning("smtpd", "restriction lists nested too deeply");
        return Decision::Reject(CONFIG_ERROR.to_string());
    }
    let mut warn = false;
    for r in list {
        if *r == Restriction::WarnIfReject {
            warn = true;
            continue;
        }
        let d = one(ctx, r, class, f, depth);
        let warned = std::mem::take(&mut warn);
        match d {
            Decision::Dunno => {}
            Decision::Permit => return Decision::Permit,
            Decision::Reject(reply) if warned => f.log("reject_warning", &reply),
            Decision::Reject(reply) => return Decision::Reject(reply),
        }
    }
    Decision::Dunno
}

fn one(ctx: &SmtpdContext, r: &Restriction, class: Class, f: &Facts<'_>, depth: usize) -> Decision {
    let p = &ctx.policy;
    let reject = |code: u32, dsn: &str, c: Class, text: &str| {
        Decision::Reject(reply(code, dsn, &c.name(f), c, text))
    };
    match r {
        Restriction::Permit => Decision::Permit,
        Restriction::Reject => reject(p.reject_code, "7.1", class, "Access denied"),
        Restriction::Defer => reject(p.defer_code, "7.1", class, "Try again later"),
        Restriction::WarnIfReject => Decision::Dunno,
        Restriction::PermitMynetworks => match ctx.mynetworks.lookup(f.client.addr) {
            Ok(true) => Decision::Permit,
            Ok(false) => Decision::Dunno,
            Err(e) => {
                check::log_table_error(&e, &f.client.addr.to_string());
                Decision::Reject(check::temp_lookup_reply(f.client_log))
            }
        },
        Restriction::PermitSaslAuthenticated if f.sasl_authenticated => Decision::Permit,
        Restriction::PermitSaslAuthenticated => Decision::Dunno,
        Restriction::RejectUnauthDestination
        | Restriction::DeferUnauthDestination
        | Restriction::PermitAuthDestination => {
            let Some(rc) = f.rcpt else {
                return Decision::Dunno;
            };
            let ok = check::auth_destination(ctx, rc.qualified);
            match (r, ok) {
                (Restriction::PermitAuthDestination, true) => Decision::Permit,
                (Restriction::RejectUnauthDestination, false) => {
                    let code = p.relay_code;
                    Decision::Reject(format!(
                        "{} {}.7.1 <{}>: Relay access denied",
                        code,
                        code / 100,
                        rc.given
                    ))
                }
                (Restriction::DeferUnauthDestination, false) => Decision::Reject(format!(
                    "{} 4.7.1 <{}>: Relay access denied",
                    p.relay_defer_code, rc.given
                )),
                _ => Decision::Dunno,
            }
        }
        Restriction::RejectUnlistedRecipient => match f.rcpt {
            Some(rc) => match check::local_test(ctx, &rc) {
                Ok(()) => Decision::Dunno,
                Err(reply) => Decision::Reject(reply),
            },
            None => Decision::Dunno,
        },
        Restriction::Access(kind, t) => access::check(ctx, *kind, t.0.as_ref(), f, depth),
        Restriction::BareTable(t) => {
            let kind = match class {
                Class::Client => AccessKind::Client,
                Class::Helo => AccessKind::Helo,
                Class::Sender => AccessKind::Sender,
                Class::Recipient => AccessKind::Recipient,
                Class::Data => return Decision::Dunno,
            };
            access::check(ctx, kind, t.0.as_ref(), f, depth)
        }
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
        // Postfix 3.x: the session's sticky flag (session/pipelining.rs), so a client that
        // talked before the greeting is still refused at RCPT.
        Restriction::RejectUnauthPipelining if f.ill_pipelining => {
            reject(503, "5.0", class, "Improper use of SMTP command pipelining")
        }
        Restriction::RejectUnauthPipelining => Decision::Dunno,
        Restriction::Unknown(name) => {
            log::warning(
                "smtpd",
                format!("unknown smtpd restriction: \"{}\"", lines::printable(name)),
            );
            Decision::Reject(CONFIG_ERROR.to_string())
        }
        Restriction::Broken(why) => {
            log::warning("smtpd", lines::printable(why));
            Decision::Reject(CONFIG_ERROR.to_string())
        }
    }
}

/// reject_unknown_{sender,recipient}_domain: only for domains we are not the final
/// destination for; NXDOMAIN or no MX/address uses unknown_address_reject_code, a DNS
/// failure (or no resolver) 450.
fn unknown_domain(
    ctx: &SmtpdContext,
    addr: &str,
    class: Class,
    dsn: &str,
    f: &Facts<'_>,
) -> Decision {
    let domain = super::address::domain_of(addr);
    if domain.is_empty() || domain.starts_with('[') || ctx.rewrite.is_local(&domain) {
        return Decision::Dunno;
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
    pub reject_code: u32,
    pub defer_code: u32,
    pub access_reject_code: u32,
    pub access_defer_code: u32,
    pub non_fqdn_code: u32,
    pub invalid_hostname_code: u32,
    pub unknown_address_code: u32,
    pub relay_code: u32,
    pub relay_defer_code: u32,
    pub allow_untrusted_routing: bool,
    /// smtpd_access_maps is in parent_domain_matches_subdomains: `example.com` in an access
    /// table also matches its subdomains.
    pub access_parent_match: bool,
    /// smtpd_null_access_lookup_key.
    pub null_key: String,
}

impl Policy {
    /// Whether the relay or recipient restrictions can refuse relaying at all (Postfix's
    /// safety check against an open relay by misconfiguration).
    pub fn relay_safe(&self) -> bool {
        self.relay.iter().chain(self.recipient.iter()).any(|r| {
            matches!(
                r,
                Restriction::RejectUnauthDestination
                    | Restriction::DeferUnauthDestination
                    | Restriction::Reject
                    | Restriction::Defer
            )
        })
    }

    pub fn from_config(cfg: &crate::config::Config) -> Policy {
        let code = |name: &str, dflt: u32| -> u32 {
            let c = cfg.int(name);
            if (400..600).contains(&c) {
                c as u32
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

    #[test]
    fn reply_texts_and_dsn() {
        assert_eq!(
            reply(554, "7.1", "x@y", Class::Recipient, "Access denied"),
            "554 5.7.1 <x@y>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            reply(550, "7.1", "h[1.2.3.4]", Class::Client, "5.7.0 go away"),
            "550 5.7.0 <h[1.2.3.4]>: Client host rejected: go away"
        );
        // A DSN of the wrong class is text, not a DSN.
        assert_eq!(
            reply(450, "7.1", "h", Class::Helo, "5.7.0 no"),
            "450 4.7.1 <h>: Helo command rejected: 5.7.0 no"
        );
    }
}
