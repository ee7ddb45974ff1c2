//! The restrictions on names that do not resolve: reject_unknown_client_hostname (also
//! reject_unknown_client), reject_unknown_reverse_client_hostname and
//! reject_unknown_helo_hostname (also reject_unknown_hostname), with Postfix 2.10's replies
//! (postconf(5); smtpd_check.c's reject_unknown_client, reject_unknown_hostname).
//!
//! Security role: refuses clients that hide behind missing or forged DNS names. The
//! client's lookups were made once at connect (`peer`); a lookup that failed only for now
//! is always a 450 (the client retries), never the permanent code. The HELO name is asked
//! for an A, AAAA or MX record; a DNS failure there raises DEFER_IF_PERMIT, never a pass.
//! Logs nothing itself (the session logs the refusal: fail2ban's postfix filter reads
//! `Client host rejected: cannot find your hostname`).

use super::SmtpdContext;
use super::hostname::{self, DomainStatus};
use super::peer::NameStatus;
use super::policy_types::{Class, Decision, Facts, raise_deferral, reply};
use crate::reply::Reply;

/// `CODE X.7.1 Client host rejected: cannot find your WHAT, [ADDR]`.
fn refuse(code_for_permanent: u16, status: NameStatus, what: &str, f: &Facts<'_>) -> Decision {
    if status == NameStatus::Ok {
        return Decision::Dunno;
    }
    let code = match status {
        NameStatus::Temporary => 450,
        _ => code_for_permanent,
    };
    let text = format!(
        "Client host rejected: cannot find your {}, [{}]",
        what, f.client.addr
    );
    Decision::Reject(Reply::with_dsn(code, &format!("{}.7.1", code / 100), &text))
}

/// reject_unknown_client_hostname: no PTR name, or one that does not resolve back.
pub fn client(code: u16, f: &Facts<'_>) -> Decision {
    refuse(code, f.client.name_status, "hostname", f)
}

/// reject_unknown_reverse_client_hostname: no PTR name at all.
pub fn reverse_client(code: u16, f: &Facts<'_>) -> Decision {
    refuse(code, f.client.reverse_name_status, "reverse hostname", f)
}

/// reject_unknown_helo_hostname: `CODE 4.7.1 <NAME>: Helo command rejected: Host not
/// found` (the same text, DEFER_IF_PERMIT with 450, when DNS fails for now). An address
/// literal is not asked about, but refused when it is no address (Postfix's
/// reject_invalid_hostaddr: `invalid ip address`, $invalid_hostname_reject_code).
pub fn helo(ctx: &SmtpdContext, code: u16, f: &Facts<'_>) -> Decision {
    let Some(name) = f.helo else {
        return Decision::Dunno;
    };
    if name.starts_with('[') {
        if hostname::valid_helo(name) {
            return Decision::Dunno;
        }
        let c = ctx.policy.invalid_hostname_code;
        return Decision::Reject(reply(c, "5.2", name, Class::Helo, "invalid ip address"));
    }
    match hostname::domain_status(ctx.resolver.as_deref(), name) {
        DomainStatus::Exists => Decision::Dunno,
        DomainStatus::NotFound => {
            Decision::Reject(reply(code, "7.1", name, Class::Helo, "Host not found"))
        }
        DomainStatus::TempFail => {
            let deferral = reply(450, "7.1", name, Class::Helo, "Host not found");
            raise_deferral(f, deferral, true)
        }
    }
}
