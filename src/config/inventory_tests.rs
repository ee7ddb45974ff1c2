//! Tests of the generated inventory (`inventory.rs`) together with `params`.

use super::*;
use crate::config::support::{Finding, judge};
use crate::config::{all_params, known, params};

#[test]
fn no_name_is_in_both_tables_and_the_inventory_is_sorted() {
    for p in INVENTORY {
        assert!(
            params::find(p.name).is_none(),
            "{} is in params too",
            p.name
        );
    }
    let names: Vec<&str> = INVENTORY.iter().map(|p| p.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
}

#[test]
fn postfix_2_10_parameters_of_every_daemon_are_known_with_their_defaults() {
    for (name, default) in [
        ("soft_bounce", "no"),
        ("2bounce_notice_recipient", "postmaster"),
        ("address_verify_map", "btree:$data_directory/verify_cache"),
        ("postscreen_greet_wait", "${stress?2}${stress:6}s"),
        ("qmgr_message_recipient_limit", "20000"),
        (
            "tls_high_cipherlist",
            "ALL:!EXPORT:!LOW:!MEDIUM:+RC4:@STRENGTH",
        ),
        ("lmtp_tls_key_file", "$lmtp_tls_cert_file"),
        ("relay_recipient_maps", ""),
        ("fallback_relay", ""),
        (
            "smtpd_expansion_filter",
            "\\t\\40!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
        ),
    ] {
        assert_eq!(known(name).map(|p| p.default), Some(default), "{}", name);
    }
    assert_eq!(known("fast_flush_purge_time").unwrap().time_unit, 'd');
    // Postfix 2.10's built-in tables hold 708 parameters, plus 2 legacy names.
    assert!(all_params().count() >= 710, "{}", all_params().count());
    for p in INVENTORY {
        assert!(
            matches!(
                p.support,
                params::Support::WarnIfSet { .. } | params::Support::FatalIfSet { .. }
            ),
            "{}",
            p.name
        );
    }
}

#[test]
fn a_setting_is_warned_about_or_refused() {
    assert_eq!(judge("soft_bounce", "no", "no"), None);
    let f = judge("soft_bounce", "yes", "no").unwrap();
    assert!(f.is_fatal());
    assert_eq!(
        f.to_string(),
        "soft_bounce = yes is not supported by Postern: mail that should be kept in the \
         queue would be bounced"
    );
    assert_eq!(
        judge("tls_high_cipherlist", "HIGH", "ALL"),
        Some(Finding::Warn {
            name: "tls_high_cipherlist".into()
        })
    );
}
