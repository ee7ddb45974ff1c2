//! Client certificates in the restriction lists, as Postfix 2.10's smtpd_check.c has them:
//! permit_tls_all_clientcerts (a certificate that verified against smtpd_tls_CAfile /
//! smtpd_tls_CApath), permit_tls_clientcerts (a certificate whose fingerprint or public-key
//! fingerprint is a key in $relay_clientcerts, trusted or not) and check_ccert_access TABLE
//! (the two fingerprints looked up in turn as access(5) keys; a refusal names the
//! certificate's CommonName: `554 5.7.1 <CN>: Client certificate rejected: ...`).
//! As in Postfix 2.10, permit_tls_all_clientcerts also permits an unverified certificate
//! whose fingerprint relay_clientcerts lists. Fingerprints use smtpd_tls_fingerprint_digest
//! (md5 by default, `crate::tls::fingerprint`).
//!
//! Security role: these permits can allow relaying, so only what the handshake proved
//! counts: the fingerprints of the certificate the client holds the key of, and OpenSSL's
//! verify result. A relay_clientcerts table that fails answers 451 4.3.0 (never "not
//! listed"); one that cannot be opened answers 451 4.3.5, as an unusable restriction.
//! Follows postconf(5) (permit_tls_clientcerts, relay_clientcerts, check_ccert_access) and
//! TLS_README.
//!
//! Logs: the table's warning and `warning: relay_clientcerts: lookup error for
//! fingerprint 'F', pkey fingerprint P` (Postfix's), check_ccert_access's table warnings
//! (`access`), and, in a TLS session without smtpd_tls_ask_ccert (so no certificate can be
//! there), Postfix 3.x's `warning: NAME is requested, but "smtpd_tls_ask_ccert = no"`.
//! `listed` also serves local_header_rewrite_clients.

use super::SmtpdContext;
use super::access::{self, Nested};
use super::policy_types::{Class, Decision, Facts, config_error, temp_lookup_reply};
use super::tls::negotiated::PeerCert;
use crate::log;
use crate::tables::{Table, TableError};

/// The certificate of a TLS session; `None` (with the warning when none was asked for) when
/// the session is plaintext or the client sent none.
fn certificate<'a>(ctx: &SmtpdContext, name: &str, f: &Facts<'a>) -> Option<&'a PeerCert> {
    let tls = f.tls?;
    if tls.peer.is_none() && !ctx.tls.ask_ccert {
        log::warning(
            "smtpd",
            format!("{} is requested, but \"smtpd_tls_ask_ccert = no\"", name),
        );
    }
    tls.peer.as_ref()
}

/// The fingerprints in Postfix's order: the certificate's, then its public key's.
fn prints(cert: &PeerCert) -> impl Iterator<Item = &str> {
    [cert.fingerprint.as_str(), cert.pkey_fingerprint.as_str()]
        .into_iter()
        .filter(|p| !p.is_empty())
}

/// permit_tls_clientcerts (`all` false) and permit_tls_all_clientcerts (`all` true), in a
/// list of `class`.
pub fn permit(ctx: &SmtpdContext, all: bool, class: Class, f: &Facts<'_>) -> Decision {
    let name = if all {
        "permit_tls_all_clientcerts"
    } else {
        "permit_tls_clientcerts"
    };
    let Some(cert) = certificate(ctx, name, f) else {
        return Decision::Dunno;
    };
    if all && cert.trusted {
        return Decision::Permit;
    }
    match listed(ctx, cert) {
        Ok(true) => Decision::Permit,
        Ok(false) => Decision::Dunno,
        Err(Unlisted::Unusable(why)) => {
            log::warning("smtpd", log::lines::printable(why));
            Decision::Reject(config_error())
        }
        Err(Unlisted::Failed(e)) => {
            log::warning("smtpd", &e);
            log::warning(
                "smtpd",
                format!(
                    "relay_clientcerts: lookup error for fingerprint '{}', pkey fingerprint {}",
                    cert.fingerprint, cert.pkey_fingerprint
                ),
            );
            Decision::Reject(temp_lookup_reply(&class.name(f)))
        }
    }
}

/// Why relay_clientcerts could not say.
pub enum Unlisted<'a> {
    /// The tables could not be opened (the reason).
    Unusable(&'a str),
    /// A table failed to answer.
    Failed(TableError),
}

/// Whether relay_clientcerts lists the certificate's fingerprint or its public key's.
pub fn listed<'a>(ctx: &'a SmtpdContext, cert: &PeerCert) -> Result<bool, Unlisted<'a>> {
    let tables = ctx
        .policy
        .relay_clientcerts
        .as_ref()
        .map_err(|why| Unlisted::Unusable(why))?;
    for print in prints(cert) {
        if tables.lookup(print).map_err(Unlisted::Failed)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// check_ccert_access TABLE: each fingerprint in turn, as Postfix (a DUNNO answer for the
/// certificate's goes on to the public key's); `nested` evaluates an answer that is a
/// restriction list.
pub fn check(ctx: &SmtpdContext, table: &dyn Table, f: &Facts<'_>, nested: Nested<'_>) -> Decision {
    let Some(cert) = certificate(ctx, "check_ccert_access", f) else {
        return Decision::Dunno;
    };
    for print in prints(cert) {
        let keys = [print.to_string()];
        match access::search(ctx, table, &keys, Class::Ccert, f, nested) {
            None | Some(Decision::Dunno) => {}
            Some(d) => return d,
        }
    }
    Decision::Dunno
}
