//! check_policy_service in a restriction list (`restrict` calls it): the request's
//! attributes from the session (Postfix 2.10's set: request, protocol_state, protocol_name,
//! helo_name, queue_id, sender, recipient, recipient_count, client_address, client_name,
//! reverse_client_name, instance, sasl_*, size, ccert_*, encryption_*, etrn_domain,
//! stress; queue_id is set at END-OF-MESSAGE only, etrn_domain and stress are empty), and
//! the server's action applied exactly as an access table's answer
//! (`access::answer`: OK, DUNNO, REJECT, DEFER_IF_PERMIT, PREPEND, a restriction list or
//! class name, never one naming a table or another server...).
//!
//! Security role: a server that cannot be reached or breaks the protocol refuses with
//! `451 4.3.5 Server configuration problem` (Postfix's reply), never a pass. The session's
//! values, client data included, are sent as they are (line breaks made spaces by
//! `policy_client`).
//!
//! Logs `warning: problem talking to server SERVER: WHY` (Postfix's), via log::lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::SmtpdContext;
use super::access::{self, Nested};
use super::policy_client::{self, Endpoint, Limits};
use super::policy_types::{Class, Decision, Facts};
use crate::log::lines;
use crate::reply::Reply;
/// Postfix's reply when the policy server fails.
fn problem() -> Reply {
    Reply::with_dsn(451, "4.3.5", "Server configuration problem")
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

/// Ask the policy server `ep` and apply its action in list `class`.
pub fn check(
    ctx: &SmtpdContext,
    ep: &Endpoint,
    class: Class,
    f: &Facts<'_>,
    nested: Nested<'_>,
) -> Decision {
    // Postfix requires at least 1 s of each.
    let at_least_1s = |n: &str| ctx.cfg.time(n).max(Duration::from_secs(1));
    let limits = Limits {
        timeout: at_least_1s("smtpd_policy_service_timeout"),
        max_idle: at_least_1s("smtpd_policy_service_max_idle"),
        max_ttl: at_least_1s("smtpd_policy_service_max_ttl"),
    };
    match policy_client::query(ep, ctx.queue.root(), &attributes(f), limits) {
        Ok(action) => access::answer(ctx, &ep.spec, "policy query", &action, class, f, nested),
        Err(e) => {
            lines::policy_problem(&ep.name, &e.to_string());
            Decision::Reject(problem())
        }
    }
}

/// The request's attributes.
fn attributes(f: &Facts<'_>) -> Vec<(&'static str, String)> {
    // As Postfix: an instance only once MAIL was accepted (one per transaction, reset at
    // the next MAIL).
    let in_transaction = !matches!(f.stage, "CONNECT" | "HELO" | "EHLO" | "MAIL");
    let instance = match (in_transaction, f.sender) {
        (true, Some(_)) => f
            .saved
            .borrow_mut()
            .instance
            .get_or_insert_with(|| {
                let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
                format!(
                    "{:x}.{:x}.{}",
                    std::process::id(),
                    crate::sys::thread_id(),
                    n
                )
            })
            .clone(),
        _ => String::new(),
    };
    let s = |v: Option<&str>| v.unwrap_or("").to_string();
    let xtext = |v: Option<&str>| crate::xtext::encode(v.unwrap_or(""));
    let recipient_count = match f.stage {
        "DATA" | "END-OF-MESSAGE" => f.rcpt_count,
        _ => 0,
    };
    let peer = f.tls.and_then(|t| t.peer.as_ref());
    let trusted = peer.filter(|c| c.trusted);
    let stage = match f.stage {
        "HELO" if f.esmtp => "EHLO",
        other => other,
    };
    vec![
        ("request", "smtpd_access_policy".into()),
        ("protocol_state", stage.into()),
        ("protocol_name", f.proto().into()),
        ("helo_name", s(f.helo)),
        ("queue_id", s(f.queue_id)),
        ("sender", s(f.sender)),
        // At DATA and END-OF-MESSAGE, the one recipient when there is exactly one.
        ("recipient", s(f.rcpt.map(|r| r.given).or(f.single_rcpt))),
        // Postfix: non-zero only at DATA and END-OF-MESSAGE.
        ("recipient_count", recipient_count.to_string()),
        ("client_address", f.client.addr.to_canonical().to_string()),
        ("client_name", f.client.name.clone()),
        ("reverse_client_name", f.client.reverse_name.clone()),
        ("instance", instance),
        ("sasl_method", s(f.sasl_method)),
        ("sasl_username", s(f.sasl_username)),
        ("sasl_sender", s(f.sasl_sender)),
        ("size", f.size.unwrap_or(0).to_string()),
        // The names from a verified client certificate only, as Postfix, in xtext
        // (`ccert_issuer=Wietse+20Venema`); the fingerprints of any certificate.
        ("ccert_subject", xtext(trusted.map(|c| c.cn.as_str()))),
        ("ccert_issuer", xtext(trusted.map(|c| c.issuer.as_str()))),
        ("ccert_fingerprint", s(peer.map(|c| c.fingerprint.as_str()))),
        (
            "ccert_pubkey_fingerprint",
            s(peer.map(|c| c.pkey_fingerprint.as_str())),
        ),
        ("encryption_protocol", s(f.tls.map(|t| t.protocol.as_str()))),
        ("encryption_cipher", s(f.tls.map(|t| t.cipher.as_str()))),
        (
            "encryption_keysize",
            f.tls.map_or(0, |t| t.bits.0).to_string(),
        ),
        ("etrn_domain", String::new()),
        ("stress", String::new()),
    ]
}
