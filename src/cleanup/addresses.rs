//! Address rewriting of one message in cleanup, in Postfix's order: the envelope sender
//! and each envelope recipient through canonical mapping and masquerading (`canonical`);
//! the address headers (`header_addresses`) through the same, for the header classes. A
//! recipient whose address changes keeps the form the client gave as its original
//! recipient (orig_to, X-Original-To:).
//!
//! Security role: a table that cannot answer refuses the message with a temporary error
//! (`canonical::LookupError`); nothing is queued half-rewritten. Logs through `canonical`.

use crate::config::Config;
use crate::queue::Envelope;
use crate::rewrite::Rewrite;

use super::canonical::{self, LookupError, Mapper};
use super::header_addresses::{self, HeaderKind};

/// Rewrite the envelope of message `id` and the address headers in `content[..header_end]`
/// (replaced when one changed).
pub fn rewrite(
    cfg: &Config,
    rw: &Rewrite,
    id: &str,
    envelope: &mut Envelope,
    content: &mut Vec<u8>,
    header_end: usize,
) -> Result<(), LookupError> {
    let mapper = Mapper::new(cfg, rw, id);
    if !mapper.is_active() {
        return Ok(());
    }
    envelope.sender = mapper.sender(&envelope.sender, canonical::ENVELOPE_SENDER)?;
    for r in envelope.recipients.iter_mut() {
        let new = mapper.recipient(&r.address, canonical::ENVELOPE_RECIPIENT)?;
        if new != r.address {
            if r.orig.is_none() {
                r.orig = Some(std::mem::replace(&mut r.address, new));
            } else {
                r.address = new;
            }
        }
    }
    let rewritten = header_addresses::rewrite(content, header_end, |a, kind| match kind {
        HeaderKind::Sender => mapper.sender(a, canonical::HEADER_SENDER),
        HeaderKind::Recipient => mapper.recipient(a, canonical::HEADER_RECIPIENT),
    })?;
    if let Some(new) = rewritten {
        *content = new;
    }
    Ok(())
}
