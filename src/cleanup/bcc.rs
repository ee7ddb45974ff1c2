//! Automatic BCC recipients (Postfix's cleanup_addr.c and cleanup_extracted.c, postconf(5)
//! always_bcc, sender_bcc_maps, recipient_bcc_maps): the (canonical-mapped) envelope
//! sender is looked up in $sender_bcc_maps and each recipient in $recipient_bcc_maps
//! (mail_addr_find keys, the extension not propagated); $always_bcc is added to every
//! message that has a recipient. A BCC address is put in standard form in the local
//! context, mapped as an envelope recipient, and added with NOTIFY=NEVER (no delivery
//! status notification); virtual alias expansion and duplicate removal follow.
//!
//! As Postfix, only new mail gets BCC recipients: mail that Postern generates (bounces) or
//! forwards internally (local's .forward and aliases) does not, which avoids mail loops.
//!
//! Security role: a table that cannot answer refuses the message with a temporary error,
//! never "no BCC" (the copy an administrator relies on is never silently skipped).
//!
//! Logs (Postfix 2.10's text): `warning: ID: TITLE map lookup problem -- message not
//! accepted, try again later` (after the table's own warning).

use crate::log;
use crate::rewrite::{AddrMaps, Rewrite};

use super::canonical::LookupError;

const COMPONENT: &str = "cleanup";

/// The BCC address for `address` in `maps`, if any.
pub fn lookup(
    rw: &Rewrite,
    id: &str,
    maps: &AddrMaps,
    address: &str,
) -> Result<Option<String>, LookupError> {
    if maps.is_empty() || address.is_empty() {
        return Ok(None);
    }
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    match maps.find(rw, address, rw.local_part_keys(domain)) {
        Ok(found) => Ok(found
            .map(|f| f.value.trim().to_string())
            .filter(|v| !v.is_empty())),
        Err((e, key)) => {
            log::warning(COMPONENT, &e);
            log::lines::lookup_error(COMPONENT, e.table(), &key);
            log::warning(
                COMPONENT,
                format!(
                    "{}: {} map lookup problem -- message not accepted, try again later",
                    id,
                    maps.title()
                ),
            );
            Err(LookupError {
                title: maps.title(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn found_not_found_and_errors() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[
                ("myhostname", "www.a.org"),
                ("recipient_delimiter", "+"),
                (
                    "recipient_bcc_maps",
                    "inline:{ joe@www.a.org=archive@x.test }",
                ),
                ("sender_bcc_maps", "fail:x"),
            ],
        );
        let rw = Rewrite::new(&cfg);
        let m = &rw.maps().recipient_bcc;
        assert_eq!(
            lookup(&rw, "ID", m, "joe+ext@www.a.org")
                .unwrap()
                .as_deref(),
            Some("archive@x.test")
        );
        assert_eq!(lookup(&rw, "ID", m, "amy@www.a.org").unwrap(), None);
        assert_eq!(lookup(&rw, "ID", m, "").unwrap(), None);
        let e = lookup(&rw, "ID", &rw.maps().sender_bcc, "a@b.test").unwrap_err();
        assert_eq!(e.title, "sender_bcc_maps");
    }
}
