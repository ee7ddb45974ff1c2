//! The address-keyed tables of address rewriting, opened once per configuration next to
//! the virtual hosting ones: $canonical_maps, $sender_canonical_maps,
//! $recipient_canonical_maps (cleanup's canonical mapping, canonical(5)), $sender_bcc_maps,
//! $recipient_bcc_maps (cleanup's automatic BCC), $relocated_maps (smtpd's recipient
//! test and local delivery, relocated(5)), $relay_recipient_maps (smtpd's recipient test
//! for $relay_domains), and $sender_dependent_relayhost_maps and
//! $sender_dependent_default_transport_maps (the resolver's sender-dependent routing). Each is an `AddrMaps`: searched with
//! mail_addr_find's key order, a table error is an error and never "not found".
//!
//! Security role: none beyond `AddrMaps`. Logs nothing.

use super::AddrMaps;
use crate::config::Config;

/// The rewriting tables of one configuration.
#[derive(Debug, Clone, Default)]
pub struct AddressMaps {
    pub canonical: AddrMaps,
    pub sender_canonical: AddrMaps,
    pub recipient_canonical: AddrMaps,
    pub sender_bcc: AddrMaps,
    pub recipient_bcc: AddrMaps,
    pub relocated: AddrMaps,
    pub relay_recipient: AddrMaps,
    pub sender_relayhost: AddrMaps,
    pub sender_transport: AddrMaps,
}

impl AddressMaps {
    /// Open every list of `cfg` (an empty parameter opens nothing).
    pub fn open(cfg: &Config) -> AddressMaps {
        let open = |name: &'static str| AddrMaps::open(name, cfg.get(name));
        AddressMaps {
            canonical: open("canonical_maps"),
            sender_canonical: open("sender_canonical_maps"),
            recipient_canonical: open("recipient_canonical_maps"),
            sender_bcc: open("sender_bcc_maps"),
            recipient_bcc: open("recipient_bcc_maps"),
            relocated: open("relocated_maps"),
            relay_recipient: open("relay_recipient_maps"),
            sender_relayhost: open("sender_dependent_relayhost_maps"),
            sender_transport: open("sender_dependent_default_transport_maps"),
        }
    }
}
