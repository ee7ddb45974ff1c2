//! The restriction evaluator (Postfix's generic_checks): the evaluation of the
//! smtpd_{client,helo,sender,relay,recipient,data}_restrictions lists (parsed by
//! `restriction`) against what is known of the session (`Facts`), with Postfix's reply
//! texts. It uses
//! access (check_*_access, handing it the evaluator for a restriction list found in a
//! table), ccert (client certificates), unverified (address verification), destination (relay and recipient table tests), hostname and policy_types; none
//! of them imports restrict. `check` calls it.
//!
//! Security role: decides who may relay and who is refused. Every list is evaluated in
//! order; `permit` ends only the list it is in, a reject in any list refuses. An unknown
//! restriction or an unusable table answers `451 4.3.5 Server configuration error`, an
//! access table that cannot answer `451 4.3.5 <NAME>: CLASS rejected: Server configuration
//! error` and any other lookup that fails `451 4.3.0 <NAME>: Temporary lookup failure`, as
//! Postfix 2.10; never "permit".
//! defer_if_permit / defer_if_reject raise the deferrals of `saved` (`450 4.7.0 <NAME>:
//! CLASS rejected: defer_if_permit requested`); once both are raised a list stops, and
//! after warn_if_reject a DEFER_IF_PERMIT refuses at once (logged as a warning).
//! Follows postconf(5) (smtpd_*_restrictions, warn_if_reject, reject_code, defer_code,
//! non_fqdn_reject_code, invalid_hostname_reject_code, unknown_address_reject_code,
//! multi_recipient_bounce_reject_code) and SMTPD_ACCESS_README. `sleep N` pauses the
//! session's own thread only.
//!
//! Logs: `warning: unknown smtpd restriction: "NAME"`, `NOQUEUE: reject_warning: ...`
//! (warn_if_reject), table warnings via `log_table_error`.

use super::SmtpdContext;
use super::access;
use super::destination;
use super::hostname;
use super::policy_types::{
    AccessKind, Class, Decision, Facts, config_error, log_table_error, raise_deferral, reply,
    temp_lookup_reply,
};
use super::rbl_check;
use super::restriction::{MAX_DEPTH, Restriction, TableRef};
use super::unknown_names;
use crate::log::{self, lines};
use crate::reply::Reply;
use crate::rewrite::AddressClass;

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
            super::policy_check::check(ctx, ep, class, f, &nested(ctx, f, depth))
        }
        Restriction::PermitMynetworks => {
            match ctx.mynetworks.lookup_client(&f.client.name, f.client.addr) {
                Ok(true) => Decision::Permit,
                Ok(false) => Decision::Dunno,
                Err(e) => {
                    log_table_error(&e, &f.client.addr.to_string());
                    Decision::Reject(temp_lookup_reply(f.client_log))
                }
            }
        }
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
        Restriction::RejectUnlistedSender => match f.sender {
            Some(s) => match destination::sender_test(ctx, s) {
                Ok(()) => Decision::Dunno,
                Err(reply) => Decision::Reject(reply),
            },
            None => Decision::Dunno,
        },
        // As Postfix: at RCPT a recipient was accepted before this one; at DATA (or in an
        // earlier stage) more than one was.
        Restriction::RejectMultiRecipientBounce => {
            let before = if f.stage == "RCPT" { 0 } else { 1 };
            match f.sender {
                Some("") if f.rcpt_count > before => {
                    let code = p.multi_rcpt_bounce_code;
                    reject(code, "5.3", class, "Multi-recipient bounce")
                }
                _ => Decision::Dunno,
            }
        }
        Restriction::PermitMxBackup => super::mx_backup::check(ctx, f),
        Restriction::RejectMapsRbl => super::obsolete::maps_rbl(ctx, f),
        Restriction::CheckRelayDomains => super::obsolete::relay_domains(ctx, f),
        Restriction::PermitNakedIpAddress => super::obsolete::naked_ip_address(ctx, f),
        Restriction::RejectUnverifiedRecipient => {
            super::unverified::check(ctx, Class::Recipient, f)
        }
        Restriction::RejectUnverifiedSender => super::unverified::check(ctx, Class::Sender, f),
        Restriction::PermitTlsClientcerts => super::ccert::permit(ctx, false, class, f),
        Restriction::PermitTlsAllClientcerts => super::ccert::permit(ctx, true, class, f),
        Restriction::CcertAccess(t) => {
            super::ccert::check(ctx, t.0.as_ref(), f, &nested(ctx, f, depth))
        }
        Restriction::RejectPlaintextSession if f.tls.is_none() => {
            let code = p.plaintext_code;
            let dsn = format!("{}.7.1", code / 100);
            Decision::Reject(Reply::with_dsn(
                code,
                &dsn,
                "Session encryption is required",
            ))
        }
        Restriction::RejectPlaintextSession => Decision::Dunno,
        Restriction::Sleep(secs) => {
            std::thread::sleep(std::time::Duration::from_secs(*secs));
            Decision::Dunno
        }
        Restriction::Access(AccessKind::ReverseClient, t) => {
            let d = access_check(ctx, AccessKind::ReverseClient, t, f, depth);
            let name = "check_reverse_client_hostname_access";
            super::server_access::forbid_allowlist(name, &f.client.reverse_name, d, f)
        }
        Restriction::Access(kind, t) => access_check(ctx, *kind, t, f, depth),
        Restriction::ServerAccess(name, kind, servers, t) => {
            let nested = nested(ctx, f, depth);
            super::server_access::check(ctx, name, *kind, *servers, t.0.as_ref(), f, &nested)
        }
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
    access::check(ctx, kind, t.0.as_ref(), f, &nested(ctx, f, depth))
}

/// The evaluator of a restriction list found as an answer (an access table's, a policy
/// server's), one level deeper than `depth`.
fn nested<'a>(
    ctx: &'a SmtpdContext,
    f: &'a Facts<'a>,
    depth: usize,
) -> impl Fn(&str, Class) -> Decision + 'a {
    move |list: &str, class: Class| run(ctx, &Restriction::parse_list(list), class, f, depth + 1)
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
