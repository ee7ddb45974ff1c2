//! Sender-dependent routing of off-host mail, as trivial-rewrite's resolve.c in Postfix
//! 2.10: $sender_dependent_default_transport_maps names the transport for mail of the
//! default class (instead of $default_transport) and $sender_dependent_relayhost_maps the
//! next hop for relay and default mail (instead of $relayhost or the recipient's domain).
//! Both are searched by the envelope sender with mail_addr_find's key order (the address,
//! then `@domain`, ...); the null sender is looked up as
//! $empty_address_default_transport_maps_lookup_key /
//! $empty_address_relayhost_maps_lookup_key (`<>`). A result of `DUNNO` (any case) means
//! "no override"; an empty result is ignored with Postfix's warning.
//!
//! Security role: a table that cannot answer is an error (the caller defers the
//! recipient, 4.3.0), never "no override": mail must not leave through another relay than
//! the one configured for its sender. Logs `warning: NAME: ignoring null lookup result for
//! KEY` and `warning: NAME lookup failure`.

use super::Rewrite;
use super::addr_find::AddrMaps;
use super::domain_of;
use crate::config::Config;
use crate::tables::TableError;

/// The override `maps` gives `sender` (`None`: none, or DUNNO); `null_key` names the
/// parameter holding the null sender's key.
fn lookup(
    cfg: &Config,
    rw: &Rewrite,
    maps: &AddrMaps,
    sender: &str,
    null_key: &str,
) -> Result<Option<String>, TableError> {
    if maps.is_empty() {
        return Ok(None);
    }
    let key = match sender {
        "" => cfg.get(null_key).trim().to_string(),
        s => s.to_string(),
    };
    let ours = rw.local_part_keys(&domain_of(&key));
    match maps.find(rw, &key, ours) {
        Ok(None) => Ok(None),
        Ok(Some(found)) => {
            let value = found.value.trim();
            if value.is_empty() {
                crate::log::warning(
                    "trivial-rewrite",
                    format!(
                        "{}: ignoring null lookup result for {}",
                        maps.title(),
                        crate::log::lines::printable(&key)
                    ),
                );
                return Ok(None);
            }
            Ok(Some(value.to_string()).filter(|v| !v.eq_ignore_ascii_case("DUNNO")))
        }
        Err((e, _)) => {
            crate::log::warning("trivial-rewrite", &e);
            crate::log::warning(
                "trivial-rewrite",
                format!("{} lookup failure", maps.title()),
            );
            Err(e)
        }
    }
}

/// $sender_dependent_relayhost_maps for `sender`.
pub fn relayhost(cfg: &Config, rw: &Rewrite, sender: &str) -> Result<Option<String>, TableError> {
    let maps = &rw.maps().sender_relayhost;
    lookup(
        cfg,
        rw,
        maps,
        sender,
        "empty_address_relayhost_maps_lookup_key",
    )
}

/// $sender_dependent_default_transport_maps for `sender`.
pub fn default_transport(
    cfg: &Config,
    rw: &Rewrite,
    sender: &str,
) -> Result<Option<String>, TableError> {
    let maps = &rw.maps().sender_transport;
    lookup(
        cfg,
        rw,
        maps,
        sender,
        "empty_address_default_transport_maps_lookup_key",
    )
}
