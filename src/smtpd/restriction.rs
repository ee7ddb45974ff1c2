//! The restriction lists as configured (Postfix's smtpd_check.c, its list parsing and
//! settings): the names of smtpd_{client,helo,sender,relay,recipient,data}_restrictions
//! and of smtpd_restriction_classes parsed into `Restriction`s, with the tables they name
//! opened once per configuration, and the reply codes and switches the evaluator
//! (`restrict`) uses (`Policy`). It imports neither the evaluator nor the checks.
//!
//! Security role: a name this version does not know, a missing argument or a table that
//! cannot be opened becomes `Restriction::Unknown`/`Broken`, which the evaluator answers
//! with `451 4.3.5 Server configuration error`, never a pass; `Policy::relay_safe` is
//! Postfix's check that some restriction can refuse relaying. Follows postconf(5)
//! (smtpd_*_restrictions, smtpd_restriction_classes and the *_reject_code parameters).
//! Logs nothing (the evaluator logs).

use std::sync::Arc;

use super::policy_types::AccessKind;
use super::rbl::{self, Kind as ListKind, Site};
use super::server_access::Servers;
use crate::tables::Table;

/// check_{client,helo,sender,recipient}_{mx,ns}_access: whose name and which servers.
fn server_access_name(lower: &str) -> Option<(AccessKind, Servers)> {
    let rest = lower.strip_prefix("check_")?.strip_suffix("_access")?;
    let (who, servers) = rest.rsplit_once('_')?;
    let servers = match servers {
        "mx" => Servers::Mx,
        "ns" => Servers::Ns,
        _ => return None,
    };
    let kind = match who {
        "client" => AccessKind::Client,
        "reverse_client_hostname" => AccessKind::ReverseClient,
        "helo" => AccessKind::Helo,
        "sender" => AccessKind::Sender,
        "recipient" => AccessKind::Recipient,
        _ => return None,
    };
    Some((kind, servers))
}

/// The restrictions that take a table: what the table is searched for.
enum Tabled {
    Access(AccessKind),
    Servers(AccessKind, Servers),
    Ccert,
}

/// Nesting limit for restriction lists found in access tables and classes.
pub const MAX_DEPTH: usize = 8;

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
    /// reject_unlisted_sender: the sender must be a known address of its class.
    RejectUnlistedSender,
    /// reject_multi_recipient_bounce: the null sender with more than one recipient.
    RejectMultiRecipientBounce,
    /// reject_plaintext_session: the session is not encrypted.
    RejectPlaintextSession,
    /// permit_mx_backup: this host is a backup MX for the recipient's domain.
    PermitMxBackup,
    /// The obsolete reject_maps_rbl, check_relay_domains and permit_naked_ip_address.
    RejectMapsRbl,
    CheckRelayDomains,
    PermitNakedIpAddress,
    /// reject_unverified_recipient / reject_unverified_sender: address verification.
    RejectUnverifiedRecipient,
    RejectUnverifiedSender,
    /// permit_tls_clientcerts: the client certificate's fingerprint is in relay_clientcerts.
    PermitTlsClientcerts,
    /// permit_tls_all_clientcerts: the client certificate verified.
    PermitTlsAllClientcerts,
    /// check_ccert_access TABLE: the client certificate's fingerprints as access keys.
    CcertAccess(TableRef),
    /// sleep SECONDS: pause, then go on with the list.
    Sleep(u64),
    Access(AccessKind, TableRef),
    /// check_{client,helo,sender,recipient}_{mx,ns}_access: the restriction's name, whose
    /// name is looked up, which servers, the table.
    ServerAccess(String, AccessKind, Servers, TableRef),
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
            // check_*_access, check_*_{mx,ns}_access and check_ccert_access: a table each.
            let table_kind = match lower.as_str() {
                "check_client_access" => Some(Tabled::Access(AccessKind::Client)),
                "check_reverse_client_hostname_access" => {
                    Some(Tabled::Access(AccessKind::ReverseClient))
                }
                "check_helo_access" => Some(Tabled::Access(AccessKind::Helo)),
                "check_sender_access" => Some(Tabled::Access(AccessKind::Sender)),
                "check_recipient_access" => Some(Tabled::Access(AccessKind::Recipient)),
                "check_ccert_access" => Some(Tabled::Ccert),
                _ => {
                    server_access_name(&lower).map(|(kind, servers)| Tabled::Servers(kind, servers))
                }
            };
            if let Some(tk) = table_kind {
                let Some(spec) = words.get(i) else {
                    out.push(Restriction::Broken(format!(
                        "restriction {} requires a table argument",
                        n
                    )));
                    continue;
                };
                i += 1;
                out.push(match (open_table(spec), tk) {
                    (Ok(t), Tabled::Access(kind)) => Restriction::Access(kind, t),
                    (Ok(t), Tabled::Servers(kind, servers)) => {
                        Restriction::ServerAccess(n.clone(), kind, servers, t)
                    }
                    (Ok(t), Tabled::Ccert) => Restriction::CcertAccess(t),
                    (Err(e), _) => Restriction::Broken(format!("{} {}: {}", n, spec, e)),
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
            if lower == "sleep" {
                // As Postfix: a word that is not a number is not taken as the argument.
                match words
                    .get(i)
                    .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
                {
                    Some(w) => {
                        i += 1;
                        out.push(match w.parse() {
                            Ok(secs) => Restriction::Sleep(secs),
                            Err(_) => Restriction::Broken(format!("{} {}: too large", n, w)),
                        });
                    }
                    None => out.push(Restriction::Broken(format!(
                        "restriction {} must be followed by number",
                        n
                    ))),
                }
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
                "reject_unlisted_sender" => Restriction::RejectUnlistedSender,
                "permit_mx_backup" => Restriction::PermitMxBackup,
                "reject_maps_rbl" => Restriction::RejectMapsRbl,
                "check_relay_domains" => Restriction::CheckRelayDomains,
                "permit_naked_ip_address" => Restriction::PermitNakedIpAddress,
                "reject_unverified_recipient" => Restriction::RejectUnverifiedRecipient,
                "reject_unverified_sender" => Restriction::RejectUnverifiedSender,
                "permit_tls_clientcerts" => Restriction::PermitTlsClientcerts,
                "permit_tls_all_clientcerts" => Restriction::PermitTlsAllClientcerts,
                "reject_plaintext_session" => Restriction::RejectPlaintextSession,
                "reject_multi_recipient_bounce" => Restriction::RejectMultiRecipientBounce,
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

/// Reply codes and switches of the restriction machinery, read once per configuration.
pub struct Policy {
    pub client: Vec<Restriction>,
    pub helo: Vec<Restriction>,
    pub sender: Vec<Restriction>,
    pub relay: Vec<Restriction>,
    pub recipient: Vec<Restriction>,
    pub data: Vec<Restriction>,
    /// smtpd_end_of_data_restrictions.
    pub eod: Vec<Restriction>,
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
    /// multi_recipient_bounce_reject_code.
    pub multi_rcpt_bounce_code: u16,
    /// plaintext_reject_code.
    pub plaintext_code: u16,
    /// smtpd_reject_unlisted_sender: the sender table test after smtpd_sender_restrictions.
    pub reject_unlisted_sender: bool,
    pub allow_untrusted_routing: bool,
    /// permit_mx_backup_networks, when set: where the best MX hosts must be for
    /// permit_mx_backup.
    pub mx_backup_networks: Option<super::network::NetList>,
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
    /// relay_clientcerts, opened (or why it could not be): the fingerprints
    /// permit_tls_clientcerts permits.
    pub relay_clientcerts: Result<crate::tables::TableList, String>,
    /// reject_unverified_recipient and reject_unverified_sender: codes, reason, action.
    pub unverified_rcpt: super::unverified::Unverified,
    pub unverified_sender: super::unverified::Unverified,
    /// address_verify_poll_count and address_verify_poll_delay.
    pub verify_poll: super::unverified::Poll,
    /// The verification cache's expiry and refresh times.
    pub verify_settings: crate::verify::Settings,
    /// maps_rbl_domains (reject_maps_rbl); a domain that does not parse is left out, with
    /// a warning.
    pub maps_rbl_domains: Vec<Site>,
}

impl Policy {
    /// Whether the relay or recipient restrictions can refuse relaying at all (Postfix's
    /// safety check against an open relay by misconfiguration).
    pub fn relay_safe(&self) -> bool {
        let lists = [&self.relay, &self.recipient];
        lists.iter().any(|l| self.can_refuse_relaying(l, 0))
    }

    /// Whether `list` (or a restriction class it names) has a restriction that refuses
    /// relaying, as Postfix's has_required: one after warn_if_reject only warns, and
    /// nothing after `permit` is reached.
    fn can_refuse_relaying(&self, list: &[Restriction], depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let mut rest = list.iter();
        while let Some(r) = rest.next() {
            match r {
                Restriction::WarnIfReject => {
                    rest.next();
                }
                Restriction::Permit => return false,
                // Postfix's rcpt_required list.
                Restriction::RejectUnauthDestination
                | Restriction::DeferUnauthDestination
                | Restriction::Reject
                | Restriction::Defer
                | Restriction::DeferIfPermit
                | Restriction::CheckRelayDomains => return true,
                Restriction::Unknown(name)
                    if self
                        .classes
                        .get(name.as_str())
                        .is_some_and(|l| self.can_refuse_relaying(l, depth + 1)) =>
                {
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    pub fn from_config(cfg: &crate::config::Config) -> Policy {
        let code = |name: &str, dflt: u16| cfg.reply_code(name, dflt);
        let list = |n: &str| Restriction::parse_list(cfg.get(n));
        Policy {
            client: list("smtpd_client_restrictions"),
            helo: list("smtpd_helo_restrictions"),
            sender: list("smtpd_sender_restrictions"),
            relay: list("smtpd_relay_restrictions"),
            recipient: list("smtpd_recipient_restrictions"),
            data: list("smtpd_data_restrictions"),
            eod: list("smtpd_end_of_data_restrictions"),
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
            multi_rcpt_bounce_code: code("multi_recipient_bounce_reject_code", 550),
            plaintext_code: code("plaintext_reject_code", 450),
            reject_unlisted_sender: cfg.bool("smtpd_reject_unlisted_sender"),
            allow_untrusted_routing: cfg.bool("allow_untrusted_routing"),
            mx_backup_networks: match cfg.get("permit_mx_backup_networks").trim() {
                "" => None,
                value => Some(super::network::NetList::parse_list(value)),
            },
            access_parent_match: cfg.parent_domain_matches("smtpd_access_maps"),
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
            relay_clientcerts: crate::tables::TableList::open_list(cfg.get("relay_clientcerts"))
                .map_err(|e| format!("relay_clientcerts: {}", e)),
            unverified_rcpt: super::unverified::Unverified::from_config(
                cfg,
                &super::unverified::RECIPIENT,
            ),
            unverified_sender: super::unverified::Unverified::from_config(
                cfg,
                &super::unverified::SENDER,
            ),
            verify_poll: super::unverified::Poll {
                count: u32::try_from(cfg.int("address_verify_poll_count").max(1)).unwrap_or(3),
                delay: cfg.time("address_verify_poll_delay"),
            },
            verify_settings: crate::verify::Settings::from_config(cfg),
            maps_rbl_domains: maps_rbl_domains(cfg.get("maps_rbl_domains")),
        }
    }
}

/// The DNS lists of maps_rbl_domains.
fn maps_rbl_domains(value: &str) -> Vec<Site> {
    crate::config::split_list(value)
        .into_iter()
        .filter_map(|d| {
            rbl::parse_site(&d)
                .map_err(|e| crate::log::warning("smtpd", format!("maps_rbl_domains: {}", e)))
                .ok()
        })
        .collect()
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
    fn parses_server_access_checks() {
        let l = Restriction::parse_list(
            "check_sender_mx_access inline:{ a=REJECT }, check_recipient_ns_access hash:/nonexistent/x, check_client_xx_access, check_helo_mx_access",
        );
        assert!(matches!(
            &l[0],
            Restriction::ServerAccess(n, AccessKind::Sender, Servers::Mx, t)
                if n == "check_sender_mx_access" && t.0.spec() == "inline:{ a=REJECT }"
        ));
        assert!(matches!(
            &l[1],
            Restriction::ServerAccess(_, AccessKind::Recipient, Servers::Ns, _)
        ));
        assert_eq!(l[2], Restriction::Unknown("check_client_xx_access".into()));
        assert!(matches!(&l[3], Restriction::Broken(w) if w.contains("requires a table")));
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn parses_sleep_and_the_bounce_and_sender_tests() {
        let l = Restriction::parse_list(
            "sleep 2, reject_unlisted_sender, sleep reject_multi_recipient_bounce, sleep 99999999999999999999999",
        );
        assert_eq!(l[0], Restriction::Sleep(2));
        assert_eq!(l[1], Restriction::RejectUnlistedSender);
        // A word that is no number stays a restriction of its own.
        assert!(
            matches!(&l[2], Restriction::Broken(w) if w == "restriction sleep must be followed by number")
        );
        assert_eq!(l[3], Restriction::RejectMultiRecipientBounce);
        assert!(matches!(&l[4], Restriction::Broken(w) if w.contains("too large")));
        assert_eq!(l.len(), 5);
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
    fn the_open_relay_check_follows_postfix_has_required() {
        let safe = |relay: &str, rcpt: &str| {
            let cfg = crate::config::Config::from_pairs(
                std::path::Path::new("/nonexistent"),
                &[
                    ("smtpd_relay_restrictions", relay),
                    ("smtpd_recipient_restrictions", rcpt),
                    ("smtpd_restriction_classes", "guard"),
                    ("guard", "check_relay_domains"),
                ],
            );
            Policy::from_config(&cfg).relay_safe()
        };
        assert!(safe("permit_mynetworks, reject_unauth_destination", ""));
        assert!(safe("", "defer_if_permit"));
        assert!(safe("", "guard"), "through a class");
        // Nothing after permit is reached; after warn_if_reject a reject only warns.
        assert!(!safe("permit, reject_unauth_destination", ""));
        assert!(!safe(
            "warn_if_reject reject_unauth_destination",
            "permit_mynetworks"
        ));
        assert!(safe("warn_if_reject reject_unauth_destination, reject", ""));
        assert!(!safe("", ""));
    }

    #[test]
    fn parses_client_certificate_restrictions() {
        let l = Restriction::parse_list(
            "permit_tls_clientcerts, Permit_TLS_All_Clientcerts, check_ccert_access inline:{ AA:BB=OK }, check_ccert_access nosuch:x, check_ccert_access",
        );
        assert_eq!(l[0], Restriction::PermitTlsClientcerts);
        assert_eq!(l[1], Restriction::PermitTlsAllClientcerts);
        assert!(
            matches!(&l[2], Restriction::CcertAccess(t) if t.0.spec() == "inline:{ AA:BB=OK }")
        );
        assert!(
            matches!(&l[3], Restriction::Broken(w) if w.starts_with("check_ccert_access nosuch:x"))
        );
        assert!(matches!(&l[4], Restriction::Broken(w) if w.contains("requires a table")));
        assert_eq!(l.len(), 5);
    }
}
