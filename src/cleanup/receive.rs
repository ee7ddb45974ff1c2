//! `receive_override_options` (Postfix's input_transp.c): what a receiving service (smtpd,
//! pickup) leaves out for the mail it receives, usually on the listener that takes mail
//! back from an after-queue content filter, so that mail is not inspected, mapped or
//! checked twice. The four names of Postfix 2.10 (and 3.x): `no_unknown_recipient_checks`
//! (smtpd's recipient table test), `no_address_mappings` (canonical mapping, masquerading,
//! virtual alias expansion, automatic BCC), `no_header_body_checks` (header_checks,
//! mime_header_checks, nested_header_checks, body_checks) and `no_milters` (Postern runs no
//! milters, so it changes nothing).
//!
//! Security role: read only from the trusted configuration. An unknown name is reported
//! by the caller (`warning: unknown receive_override_options value "X" ignored`; Postfix
//! stops with a fatal error) and changes nothing, so an unknown word never turns a check off.

use crate::config::{Config, split_list};

/// The parsed setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveOverrides {
    pub no_unknown_recipient_checks: bool,
    pub no_address_mappings: bool,
    pub no_header_body_checks: bool,
    pub no_milters: bool,
}

impl ReceiveOverrides {
    /// The setting of `cfg` and the names in it that are not known.
    pub fn of(cfg: &Config) -> (ReceiveOverrides, Vec<String>) {
        let mut o = ReceiveOverrides::default();
        let mut unknown = Vec::new();
        for name in split_list(cfg.get("receive_override_options")) {
            match name.to_ascii_lowercase().as_str() {
                "no_unknown_recipient_checks" => o.no_unknown_recipient_checks = true,
                "no_address_mappings" => o.no_address_mappings = true,
                "no_header_body_checks" => o.no_header_body_checks = true,
                "no_milters" => o.no_milters = true,
                _ => unknown.push(name),
            }
        }
        (o, unknown)
    }

    /// `of`, logging the unknown names as warnings of `component`.
    pub fn of_logged(cfg: &Config, component: &str) -> ReceiveOverrides {
        let (o, unknown) = ReceiveOverrides::of(cfg);
        for name in unknown {
            crate::log::warning(
                component,
                format!(
                    "unknown receive_override_options value \"{}\" ignored",
                    crate::log::lines::printable(&name)
                ),
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn names_are_parsed_and_unknown_ones_reported() {
        let cfg = Config::from_pairs(
            Path::new("/x"),
            &[(
                "receive_override_options",
                "no_unknown_recipient_checks, NO_HEADER_BODY_CHECKS,no_milters frob",
            )],
        );
        let (o, unknown) = ReceiveOverrides::of(&cfg);
        assert!(o.no_unknown_recipient_checks && o.no_header_body_checks && o.no_milters);
        assert!(!o.no_address_mappings);
        assert_eq!(unknown, vec!["frob".to_string()]);
        let cfg = Config::from_pairs(Path::new("/x"), &[]);
        assert_eq!(ReceiveOverrides::of(&cfg).0, ReceiveOverrides::default());
    }
}
