//! Address rewriting of one message in cleanup, in Postfix's order: the envelope sender
//! and each envelope recipient in standard form (crate::rewrite::Context, the local
//! context: `user@host` gets `.$mydomain`, `MAILER-DAEMON@$myorigin` as sender becomes
//! `<>`), then through canonical mapping and masquerading (`canonical`),
//! with automatic BCC recipients (`bcc`) from the mapped addresses and $always_bcc; the
//! address headers (`header_addresses`) put in standard form (crate::rewrite::Context: the
//! local context for local clients, the remote context when $remote_header_rewrite_domain
//! is set) and mapped for the header classes. A recipient whose address changes keeps the
//! form the client gave as its original recipient (orig_to, X-Original-To:).
//!
//! Security role: a table that cannot answer refuses the message with a temporary error
//! (`canonical::LookupError`); nothing is queued half-rewritten. Logs through `canonical`
//! and `bcc`.

use crate::config::Config;
use crate::queue::{Envelope, Recipient};
use crate::rewrite::{Context, Rewrite};

use super::bcc;
use super::canonical::{self, LookupError, Mapper};
use super::header_addresses::{self, HeaderKind};

/// How a message came in.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// From a local client or local submission (headers in the local context).
    pub local: bool,
    /// New mail (not generated or forwarded by Postern): BCC recipients are added.
    pub bcc_ok: bool,
    /// Canonical mapping, masquerading and automatic BCC apply (not with
    /// `receive_override_options = no_address_mappings`); standard form always does.
    pub map: bool,
}

/// Rewrite the envelope of message `id` and the address headers in `content[..header_end]`
/// (replaced when one changed).
pub fn rewrite(
    cfg: &Config,
    rw: &Rewrite,
    id: &str,
    envelope: &mut Envelope,
    content: &mut Vec<u8>,
    header_end: usize,
    origin: Origin,
) -> Result<(), LookupError> {
    let mapper = Mapper::new(cfg, rw, id);
    let active = origin.map && mapper.is_active();
    let bcc_ok = origin.map && origin.bcc_ok;
    let maps = rw.maps();
    let local = Context::local(cfg);
    standard_form(&local, envelope);
    let mut bccs = Vec::new();
    if active {
        envelope.sender = mapper.sender(&envelope.sender, canonical::ENVELOPE_SENDER)?;
    }
    if bcc_ok {
        bccs.extend(bcc::lookup(rw, id, &maps.sender_bcc, &envelope.sender)?);
    }
    for r in envelope.recipients.iter_mut() {
        if active {
            let new = mapper.recipient(&r.address, canonical::ENVELOPE_RECIPIENT)?;
            if new != r.address {
                let old = std::mem::replace(&mut r.address, new);
                r.orig.get_or_insert(old);
            }
        }
        if bcc_ok {
            bccs.extend(bcc::lookup(rw, id, &maps.recipient_bcc, &r.address)?);
        }
    }
    let always = cfg.get("always_bcc").trim();
    if bcc_ok && !always.is_empty() && !envelope.recipients.is_empty() {
        bccs.push(always.to_string());
    }
    for b in bccs {
        let address = mapper.recipient(&local.rewrite(&b), canonical::ENVELOPE_RECIPIENT)?;
        envelope.recipients.push(Recipient {
            address,
            notify: Some("NEVER".to_string()),
            ..Default::default()
        });
    }
    let context = if origin.local {
        Some(local)
    } else {
        Context::remote(cfg)
    };
    if !active && context.is_none() {
        return Ok(());
    }
    let rewritten = header_addresses::rewrite(content, header_end, |a, kind| {
        let a = match &context {
            Some(c) => c.rewrite(a),
            None => a.to_string(),
        };
        if !origin.map {
            return Ok(a);
        }
        match kind {
            HeaderKind::Sender => mapper.sender(&a, canonical::HEADER_SENDER),
            HeaderKind::Recipient => mapper.recipient(&a, canonical::HEADER_RECIPIENT),
        }
    })?;
    if let Some(new) = rewritten {
        *content = new;
    }
    Ok(())
}

/// The envelope in standard form (the local context, as Postfix's cleanup rewrites every
/// envelope address); `MAILER-DAEMON@$myorigin` as sender becomes the null sender. A
/// recipient that changes keeps the form given as its original recipient.
fn standard_form(local: &Context, envelope: &mut Envelope) {
    let sender = local.rewrite(&envelope.sender);
    let daemon = local.rewrite("MAILER-DAEMON");
    envelope.sender = if sender.eq_ignore_ascii_case(&daemon) {
        String::new()
    } else {
        sender
    };
    for r in envelope.recipients.iter_mut() {
        let new = local.rewrite(&r.address);
        if new != r.address {
            let old = std::mem::replace(&mut r.address, new);
            r.orig.get_or_insert(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(bcc_ok: bool, local: bool, content: &str) -> (Envelope, String) {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("sender_canonical_maps", "inline:{ joe=joseph@b.test }"),
                ("recipient_bcc_maps", "inline:{ amy@c.test=copy }"),
                ("always_bcc", "all@d.test"),
            ],
        );
        let rw = Rewrite::new(&cfg);
        let mut env = Envelope::new("joe@www.a.org");
        env.recipients.push(Recipient::new("amy@c.test"));
        let mut content = content.as_bytes().to_vec();
        let end = super::super::headers::scan(&content).end;
        let origin = Origin {
            local,
            bcc_ok,
            map: true,
        };
        rewrite(&cfg, &rw, "ID", &mut env, &mut content, end, origin).unwrap();
        (env, String::from_utf8(content).unwrap())
    }

    #[test]
    fn bcc_recipients_for_new_mail_only() {
        let (env, _) = run(true, true, "");
        assert_eq!(env.sender, "joseph@b.test");
        let rcpts: Vec<(&str, Option<&str>)> = env
            .recipients
            .iter()
            .map(|r| (r.address.as_str(), r.notify.as_deref()))
            .collect();
        assert_eq!(
            rcpts,
            [
                ("amy@c.test", None),
                ("copy@www.a.org", Some("NEVER")),
                ("all@d.test", Some("NEVER"))
            ]
        );
        let (env, _) = run(false, true, "");
        assert_eq!(env.recipients.len(), 1, "no BCC for internal mail");
    }

    #[test]
    fn envelope_in_standard_form() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myhostname", "www.a.org")]);
        let local = Context::local(&cfg);
        let mut env = Envelope::new("mailer-daemon@www.a.org");
        env.recipients.push(Recipient::new("amy@host"));
        env.recipients.push(Recipient::new("bob@x.test"));
        standard_form(&local, &mut env);
        assert_eq!(env.sender, "");
        assert_eq!(env.recipients[0].address, "amy@host.a.org");
        assert_eq!(env.recipients[0].orig.as_deref(), Some("amy@host"));
        assert_eq!(env.recipients[1].orig, None);
        let mut env = Envelope::new("joe@host");
        standard_form(&local, &mut env);
        assert_eq!(env.sender, "joe@host.a.org");
    }

    #[test]
    fn headers_in_the_local_context_only_for_local_clients() {
        let msg = "From: joe\nTo: amy@host\n\nFrom: joe\n";
        let (_, c) = run(false, true, msg);
        assert_eq!(c, "From: joseph@b.test\nTo: amy@host.a.org\n\nFrom: joe\n");
        let (_, c) = run(false, false, msg);
        assert_eq!(c, "From: joseph@b.test\nTo: amy@host\n\nFrom: joe\n");
    }
}
