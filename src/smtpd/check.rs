//! The SMTP server's policy decisions at each stage (Postfix's smtpd_check.c): which
//! restriction lists run when (smtpd_delay_reject), the open-relay safety check, and the
//! recipient table test (local, virtual alias and virtual mailbox recipients) after the
//! lists (as Postfix does) and for VRFY, and with smtpd_reject_unlisted_sender the same
//! test for the sender after smtpd_sender_restrictions. The relay and recipient table tests themselves are
//! in `destination`, the list evaluator in `restrict`. Each stage starts its deferred
//! decisions afresh (`saved`): DEFER_IF_REJECT turns a later 5xx rejection of the stage
//! into a deferral, DEFER_IF_PERMIT (of this or an earlier stage) an accepted RCPT, and
//! one of the DATA restrictions an accepted DATA. smtpd_end_of_data_restrictions run after
//! the message (`check_eod`), in the DATA stage's deferral slot.
//! Dependency direction: check → restrict → access, check → destination, all →
//! restriction and policy_types; nothing below imports check.
//!
//! Security role: the stage gate of the open-relay guard. Without a restriction that can
//! refuse relaying, every recipient is refused (451) rather than relayed; every recipient
//! passes smtpd_relay_restrictions, then smtpd_recipient_restrictions, then the local
//! recipient test. Follows postconf(5) smtpd_*_restrictions, smtpd_delay_reject.
//!
//! Logs: `warning: in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions,
//! specify at least one working instance of: ...` (Postfix's fatal message);
//! `NOQUEUE: reject_warning:` and table warnings via restrict and destination. The caller
//! logs the `NOQUEUE: reject:` line of a refusal.

use super::SmtpdContext;
use super::destination::{Role, recipient_test, sender_test, unlisted_test};
use super::policy_types::{Class, Decision, Facts, Rcpt, config_error};
use super::restrict::evaluate;
use super::restriction::Restriction;
use super::saved::Stage;
use crate::log;
use crate::reply::Reply;

/// A list's decision as a result; a 5xx rejection becomes the stage's DEFER_IF_REJECT
/// deferral when one was raised before it (Postfix's smtpd_check_reject).
fn refuse(d: Decision, f: &Facts<'_>) -> Result<(), Reply> {
    match d {
        Decision::Reject(reply) => Err(f.saved.borrow_mut().settle_reject(reply)),
        Decision::Permit | Decision::Dunno => Ok(()),
    }
}

/// One stage's list, its deferred decisions started afresh.
fn stage(ctx: &SmtpdContext, list: &[Restriction], class: Class, f: &Facts<'_>) -> Decision {
    let which = match class {
        Class::Client | Class::ReverseClient | Class::Ccert => Stage::Client,
        Class::Helo => Stage::Helo,
        Class::Sender => Stage::Sender,
        Class::Recipient => Stage::Recipient,
        // The end-of-data list shares the DATA stage's deferral slot (Postfix resets it).
        Class::Data | Class::Eod => Stage::Data,
    };
    f.saved.borrow_mut().start_stage(which);
    evaluate(ctx, list, class, f)
}

/// A permit at the end of the RCPT or DATA stage becomes the DEFER_IF_PERMIT deferral
/// raised up to it, if any.
fn unless_deferred(f: &Facts<'_>, at: Stage) -> Result<(), Reply> {
    match f.saved.borrow().permit_deferral(at) {
        Some(reply) => Err(reply),
        None => Ok(()),
    }
}

/// smtpd_client_restrictions (at connect with smtpd_delay_reject = no).
pub fn check_client(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), Reply> {
    refuse(stage(ctx, &ctx.policy.client, Class::Client, f), f)
}

/// smtpd_helo_restrictions (at HELO/EHLO with smtpd_delay_reject = no).
pub fn check_helo(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), Reply> {
    refuse(stage(ctx, &ctx.policy.helo, Class::Helo, f), f)
}

/// smtpd_sender_restrictions (at MAIL with smtpd_delay_reject = no), then
/// (smtpd_reject_unlisted_sender) the sender table test.
pub fn check_sender(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), Reply> {
    refuse(stage(ctx, &ctx.policy.sender, Class::Sender, f), f)?;
    // Not for a message an access table DISCARDs, as Postfix.
    let discard = f.saved.borrow().discard;
    if ctx.policy.reject_unlisted_sender
        && !discard
        && let Some(s) = f.sender
    {
        sender_test(ctx, s).map_err(|e| f.saved.borrow_mut().settle_reject(e))?;
    }
    Ok(())
}

/// Decide on a RCPT TO (`f.rcpt` set). With smtpd_delay_reject = yes the client, HELO and
/// sender lists run first; then smtpd_relay_restrictions, smtpd_recipient_restrictions and
/// (smtpd_reject_unlisted_recipient) the recipient table test. `Ok(())` accepts;
/// `Err(reply)` refuses (the caller logs the NOQUEUE line). A `sendmail -bs` session gets only the recipient table test.
pub fn check_recipient(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), Reply> {
    let Some(r) = f.rcpt else {
        return Ok(());
    };
    if ctx.stand_alone {
        return recipient_test(ctx, &r);
    }
    let p = &ctx.policy;
    if p.delay_reject {
        check_client(ctx, f)?;
        check_helo(ctx, f)?;
        check_sender(ctx, f)?;
    }
    if !p.relay_safe() {
        // As Postfix: without a restriction that can refuse relaying, refuse everything
        // rather than be an open relay.
        log::warning(
            "smtpd",
            "in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least \
             one working instance of: reject_unauth_destination, defer_unauth_destination, reject, \
             defer, defer_if_permit or check_relay_domains",
        );
        return Err(config_error());
    }
    refuse(stage(ctx, &p.relay, Class::Recipient, f), f)?;
    refuse(evaluate(ctx, &p.recipient, Class::Recipient, f), f)?;
    unless_deferred(f, Stage::Recipient)?;
    // smtpd_reject_unlisted_recipient: the implicit recipient table test after the lists
    // (not for a message an access table DISCARDs, as Postfix).
    if ctx.cfg.bool("smtpd_reject_unlisted_recipient") && !f.saved.borrow().discard {
        recipient_test(ctx, &r).map_err(|e| f.saved.borrow_mut().settle_reject(e))?;
    }
    Ok(())
}

/// smtpd_data_restrictions, at DATA.
pub fn check_data(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), Reply> {
    if ctx.stand_alone {
        return Ok(());
    }
    refuse(stage(ctx, &ctx.policy.data, Class::Data, f), f)?;
    unless_deferred(f, Stage::Data)
}

/// smtpd_end_of_data_restrictions, after the final dot (or the last BDAT chunk).
pub fn check_eod(ctx: &SmtpdContext, f: &Facts<'_>) -> Result<(), Reply> {
    if ctx.stand_alone {
        return Ok(());
    }
    refuse(stage(ctx, &ctx.policy.eod, Class::Eod, f), f)?;
    unless_deferred(f, Stage::Data)
}

/// VRFY: only the recipient table test. `Ok(())` means "252".
pub fn check_vrfy(ctx: &SmtpdContext, r: &Rcpt<'_>) -> Result<(), Reply> {
    unlisted_test(ctx, r, Role::Recipient)
}
