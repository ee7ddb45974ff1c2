//! reject_unverified_recipient and reject_unverified_sender (Postfix 2.10's
//! reject_unverified_address in smtpd_check.c): the address is looked up in the address
//! verification cache (`crate::verify`); an address it knows nothing of gets a probe (queued
//! here, the scheduler woken), and the cache is asked again every
//! address_verify_poll_delay, address_verify_poll_count times in all, so a probe that is
//! answered at once (a local address) is seen in the same RCPT. Then:
//! deliverable passes; undeliverable refuses with unverified_{recipient,sender}_reject_code,
//! not known yet or failing for now with unverified_*_defer_code (both 450 in Postfix 2.10).
//! A 4xx is `<ADDR>: Recipient address rejected: unverified address: WHY` (WHY cut to 250
//! characters), given as a DEFER_IF_PERMIT (unverified_*_tempfail_action =
//! defer_if_permit, the default: a later reject wins) or at once (`defer`); a 5xx is
//! `... undeliverable address: WHY`, at once. unverified_*_reject_reason replaces WHY. The null sender is never verified. Without a cache (the stand-alone server) the
//! answer is `450 4.1.1 <ADDR>: Recipient address rejected: address verification problem`
//! with `warning: verify service failure`.
//!
//! Security role: a probe is a queued message: the cache's probe rules (one per address per
//! 1000 s, with the negative cache) bound what a client can make the server send. WHY comes
//! from a remote server's reply or a delivery agent; the cache keeps it printable and
//! short. Logs the warning above
//! and `warning: cannot queue address verification probe for ADDR: ...`.

use std::time::Duration;

use super::SmtpdContext;
use super::policy_types::{Class, Decision, Facts, raise_deferral, reply};
use crate::log::{self, lines};
use crate::qmgr::Wake;
use crate::verify::{AddrStatus, Answer, Cache};

/// The settings of one of the two restrictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub defer_code: u16,
    pub reject_code: u16,
    /// unverified_*_reject_reason (empty: the cache's text).
    pub reason: String,
    /// unverified_*_tempfail_action is defer_if_permit (else `defer`: at once).
    pub defer_if_permit: bool,
}

/// The parameter names of one restriction's settings.
pub struct Names {
    pub defer_code: &'static str,
    pub reject_code: &'static str,
    pub reason: &'static str,
    pub action: &'static str,
}

/// reject_unverified_recipient's parameters.
pub const RECIPIENT: Names = Names {
    defer_code: "unverified_recipient_defer_code",
    reject_code: "unverified_recipient_reject_code",
    reason: "unverified_recipient_reject_reason",
    action: "unverified_recipient_tempfail_action",
};

/// reject_unverified_sender's parameters.
pub const SENDER: Names = Names {
    defer_code: "unverified_sender_defer_code",
    reject_code: "unverified_sender_reject_code",
    reason: "unverified_sender_reject_reason",
    action: "unverified_sender_tempfail_action",
};

impl Unverified {
    /// The settings named `n` in `cfg`.
    pub fn from_config(cfg: &crate::config::Config, n: &Names) -> Unverified {
        let action = cfg.get(n.action).trim().to_ascii_lowercase();
        if action != "defer" && action != "defer_if_permit" {
            log::warning(
                "smtpd",
                format!(
                    "{}: unknown value \"{}\"; using defer_if_permit",
                    n.action,
                    lines::printable(&action)
                ),
            );
        }
        Unverified {
            defer_code: cfg.reply_code(n.defer_code, 450),
            reject_code: cfg.reply_code(n.reject_code, 450),
            reason: cfg.get(n.reason).trim().to_string(),
            defer_if_permit: action != "defer",
        }
    }
}

/// How often and how far apart the cache is asked while a probe is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    pub count: u32,
    pub delay: Duration,
}

/// reject_unverified_sender (`class` Sender) or reject_unverified_recipient (Recipient).
pub fn check(ctx: &SmtpdContext, class: Class, f: &Facts<'_>) -> Decision {
    let (addr, settings, dsn) = match class {
        Class::Sender => match f.sender {
            Some(s) if !s.is_empty() => (s, &ctx.policy.unverified_sender, "1.7"),
            _ => return Decision::Dunno,
        },
        _ => match f.rcpt {
            Some(r) if !r.given.is_empty() => (r.given, &ctx.policy.unverified_rcpt, "1.1"),
            _ => return Decision::Dunno,
        },
    };
    let Some(cache) = ctx.verify.as_deref() else {
        log::warning("smtpd", "verify service failure");
        let r = reply(450, dsn, addr, class, "address verification problem");
        return defer(f, r, settings.defer_if_permit);
    };
    let answer = ask(ctx, cache, addr);
    let code = match answer.status {
        AddrStatus::Ok => return Decision::Dunno,
        AddrStatus::Bounce => settings.reject_code,
        AddrStatus::Todo | AddrStatus::Defer => settings.defer_code,
    };
    let why = match settings.reason.as_str() {
        "" => answer.text,
        given => given.to_string(),
    };
    if code / 100 == 4 {
        let why: String = why.chars().take(250).collect();
        let text = format!("unverified address: {}", why);
        defer(
            f,
            reply(code, dsn, addr, class, &text),
            settings.defer_if_permit,
        )
    } else {
        let text = format!("undeliverable address: {}", why);
        Decision::Reject(reply(code, dsn, addr, class, &text))
    }
}

/// A temporary refusal: raised as DEFER_IF_PERMIT, or at once.
fn defer(f: &Facts<'_>, r: crate::reply::Reply, if_permit: bool) -> Decision {
    match if_permit {
        true => raise_deferral(f, r, true),
        false => Decision::Reject(r),
    }
}

/// Ask the cache, probing when it says so, until it has an answer or the polls run out.
fn ask(ctx: &SmtpdContext, cache: &Cache, addr: &str) -> Answer {
    let poll = ctx.policy.verify_poll;
    let settings = &ctx.policy.verify_settings;
    let mut count = 0;
    loop {
        let (answer, probe) = cache.query(settings, addr, crate::verify::now());
        if probe {
            send_probe(ctx, addr);
        }
        count += 1;
        if answer.status != AddrStatus::Todo || count >= poll.count.max(1) {
            return answer;
        }
        std::thread::sleep(poll.delay);
    }
}

fn send_probe(ctx: &SmtpdContext, addr: &str) {
    match crate::verify::probe::submit(&ctx.cfg, &ctx.queue, addr) {
        Ok(id) => {
            let _ = ctx.wake.send(Wake::New(id));
        }
        Err(e) => log::warning(
            "smtpd",
            format!(
                "cannot queue address verification probe for {}: {}",
                lines::printable(addr),
                e
            ),
        ),
    }
}
