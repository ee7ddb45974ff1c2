//! The one table of every main.cf parameter Postern knows, with Postfix's defaults.
//!
//! A parameter in this table is "known": setting it in main.cf never produces the
//! "unused parameter" warning. Each entry says what Postern does with it (`Support`):
//! acts on it (`p`, `t`); does not, and warns when it is set to a value other than its
//! default (`k`, `k_as`); does not, and refuses to start when it is set, because ignoring
//! it would weaken security or lose mail (`f`); or nothing to do because it has no
//! run-time effect in Postfix either (`n`). `crate::config::support` applies the rule;
//! `postconf -d` shows every default. Defaults follow Postfix 2.10 (postconf(5)) except
//! where the README says otherwise: parameters that Postfix 2.10 does not have take Postfix
//! 3.9's default (smtpd_forbid_bare_newline, smtpd_forbid_unauth_pipelining) or, for those
//! Postern only warns about, the default of Postfix 3's compatibility level 0.

/// What Postern does with a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Postern acts on the value.
    Implemented,
    /// Not implemented: a value other than the default (or than `acts_as`, the value whose
    /// behaviour Postern has anyway) gets `warning: NAME is not supported by Postern; ignored`.
    WarnIfSet { acts_as: Option<&'static str> },
    /// Not implemented, and ignoring it would weaken security or lose mail: a value other
    /// than the default is a fatal error for `postfix check` and `postfix start`; `why`
    /// says what would go wrong.
    FatalIfSet { why: &'static str },
    /// No run-time effect in Postfix either as Postern runs: installation paths that only
    /// postfix-install and post-install read, and debugger_command (used only by a
    /// master.cf service with `-D`). Accepting it hides nothing.
    NoEffect,
}

/// One parameter: name, default value (before `$name` expansion), the unit a bare number
/// means for time values, and what Postern does with it.
pub struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub time_unit: char,
    pub support: Support,
}

const fn p(name: &'static str, default: &'static str) -> Param {
    Param {
        name,
        default,
        time_unit: 's',
        support: Support::Implemented,
    }
}

const fn t(name: &'static str, default: &'static str, unit: char) -> Param {
    Param {
        name,
        default,
        time_unit: unit,
        support: Support::Implemented,
    }
}

/// Known, not implemented: warned about when set to a value other than the default.
const fn k(name: &'static str, default: &'static str) -> Param {
    Param {
        name,
        default,
        time_unit: 's',
        support: Support::WarnIfSet { acts_as: None },
    }
}

/// As `k`, for a parameter whose value `acts_as` describes what Postern does anyway
/// (`biff = no`): that value is not warned about either.
const fn k_as(name: &'static str, default: &'static str, acts_as: &'static str) -> Param {
    Param {
        name,
        default,
        time_unit: 's',
        support: Support::WarnIfSet {
            acts_as: Some(acts_as),
        },
    }
}

/// Known, not implemented, and refused when set: `why` is the fatal message's reason.
const fn f(name: &'static str, default: &'static str, why: &'static str) -> Param {
    Param {
        name,
        default,
        time_unit: 's',
        support: Support::FatalIfSet { why },
    }
}

/// Known; no run-time effect in Postfix either (see `Support::NoEffect`).
const fn n(name: &'static str, default: &'static str) -> Param {
    Param {
        name,
        default,
        time_unit: 's',
        support: Support::NoEffect,
    }
}

/// Defaults computed at run time (host name, domain) are filled in by `Config`.
pub const PARAMS: &[Param] = &[
    // Installation paths and accounts. config_directory, queue_directory, command_directory,
    // daemon_directory, mail_owner and setgid_group are read by the programs;
    // data_directory, sendmail_path, newaliases_path and mailq_path are what `make install`
    // does with them (from the Makefile's INSTALL_PARAMS: it creates data_directory for its
    // install manifest and puts sendmail and its two links there) and records in main.cf,
    // as Postfix's post-install does; no program reads them afterwards. manpage_directory
    // is only recorded: Postern installs no manual pages, so it has no effect (`n`).
    p("config_directory", "/etc/postfix"),
    p("queue_directory", "/var/spool/postfix"),
    p("command_directory", "/usr/sbin"),
    p("daemon_directory", "/usr/libexec/postfix"),
    p("data_directory", "/var/lib/postfix"),
    p("mail_owner", "postfix"),
    p("setgid_group", "postdrop"),
    p("sendmail_path", "/usr/sbin/sendmail"),
    p("newaliases_path", "/usr/bin/newaliases"),
    p("mailq_path", "/usr/bin/mailq"),
    n("manpage_directory", "/usr/local/man"),
    n("sample_directory", "/etc/postfix"),
    n("readme_directory", "no"),
    n("html_directory", "no"),
    n("meta_directory", "$config_directory"),
    n("shlib_directory", "no"),
    p("mail_name", "Postfix"),
    p("mail_version", env!("CARGO_PKG_VERSION")),
    p("syslog_name", "postfix"),
    p("syslog_facility", "mail"),
    p("maillog_file", ""),
    p("maillog_file_compressor", "gzip"),
    p("maillog_file_rotate_suffix", "%Y%m%d-%H%M%S"),
    k("maillog_file_prefixes", "/var, /dev/stdout"),
    k(
        "import_environment",
        "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C",
    ),
    // Identity and addressing.
    p("myhostname", ""),
    p("mydomain", ""),
    p("myorigin", "$myhostname"),
    p(
        "mydestination",
        "$myhostname, localhost.$mydomain, localhost",
    ),
    p("inet_interfaces", "all"),
    p("proxy_interfaces", ""),
    p("inet_protocols", "all"),
    p("mynetworks", ""),
    p("mynetworks_style", "subnet"),
    p("relay_domains", "$mydestination"),
    // Standard form of header and automatic BCC addresses (rewrite/context.rs).
    p("append_at_myorigin", "yes"),
    p("append_dot_mydomain", "yes"),
    p("remote_header_rewrite_domain", ""),
    p("recipient_delimiter", ""),
    p("owner_request_special", "yes"),
    p("expand_owner_alias", "no"),
    p("default_privs", "nobody"),
    // SMTP server.
    p("smtpd_banner", "$myhostname ESMTP $mail_name"),
    p("message_size_limit", "10240000"),
    p("smtpd_recipient_limit", "1000"),
    p("line_length_limit", "2048"),
    t("smtpd_timeout", "300s", 's'),
    p("smtpd_soft_error_limit", "10"),
    p("smtpd_hard_error_limit", "20"),
    t("smtpd_error_sleep_time", "1s", 's'),
    p("smtpd_junk_command_limit", "100"),
    p("smtpd_helo_required", "no"),
    p("smtpd_delay_reject", "yes"),
    p("disable_vrfy_command", "no"),
    p(
        "smtpd_relay_restrictions",
        "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
    ),
    p("smtpd_recipient_restrictions", ""),
    p("smtpd_client_restrictions", ""),
    p("smtpd_helo_restrictions", ""),
    p("smtpd_sender_restrictions", ""),
    p("smtpd_data_restrictions", ""),
    p("smtpd_end_of_data_restrictions", ""),
    // Refused: mail would reach the queue without passing through the filter or milters.
    f(
        "smtpd_proxy_filter",
        "",
        "mail would bypass the before-queue content filter",
    ),
    f("smtpd_milters", "", "mail would bypass the milters"),
    f("non_smtpd_milters", "", "mail would bypass the milters"),
    k("milter_default_action", "tempfail"),
    k("milter_protocol", "6"),
    // SMTPUTF8 (issue 12; Postfix 3.x, src/smtputf8.rs): smtputf8_enable's default is
    // Postfix 3's at compatibility level 0; compat.rs makes it yes from level 1.
    p("smtputf8_enable", "no"),
    p("strict_smtputf8", "no"),
    p("smtputf8_autodetect_classes", "sendmail, verify"),
    // CHUNKING (issue 12): the EHLO keywords smtpd does not announce (smtpd/session/ehlo.rs;
    // discarding CHUNKING makes BDAT end the session, as in Postfix 3.4+).
    p("smtpd_discard_ehlo_keywords", ""),
    p("strict_rfc821_envelopes", "no"),
    p("smtpd_client_port_logging", "no"),
    // The sender table test after smtpd_sender_restrictions (smtpd/check.rs).
    p("smtpd_reject_unlisted_sender", "no"),
    p("smtpd_forbid_bare_newline", "normalize"),
    p("smtpd_forbid_bare_newline_exclusions", "$mynetworks"),
    p("smtpd_forbid_bare_newline_reject_code", "550"),
    p("smtpd_forbid_unauth_pipelining", "yes"),
    p(
        "local_recipient_maps",
        "proxy:unix:passwd.byname $alias_maps",
    ),
    p("unknown_local_recipient_reject_code", "550"),
    p("relay_domains_reject_code", "554"),
    p("multi_recipient_bounce_reject_code", "550"),
    p("plaintext_reject_code", "450"),
    // The recipient table of $relay_domains (smtpd/destination.rs).
    p("relay_recipient_maps", ""),
    p("unknown_relay_recipient_reject_code", "550"),
    // Address verification (verify/, smtpd/unverified.rs): the cache's times, the probe
    // sender, smtpd's polling, and the replies of reject_unverified_*.
    t("address_verify_positive_expire_time", "31d", 'd'),
    t("address_verify_positive_refresh_time", "7d", 'd'),
    t("address_verify_negative_expire_time", "3d", 'd'),
    t("address_verify_negative_refresh_time", "3h", 'h'),
    p("address_verify_negative_cache", "yes"),
    t("address_verify_cache_cleanup_interval", "12h", 'h'),
    p("address_verify_sender", "$double_bounce_sender"),
    p("address_verify_poll_count", "${stress?1}${stress:3}"),
    t("address_verify_poll_delay", "3s", 's'),
    p("unverified_recipient_defer_code", "450"),
    p("unverified_recipient_reject_code", "450"),
    p("unverified_recipient_reject_reason", ""),
    p(
        "unverified_recipient_tempfail_action",
        "$reject_tempfail_action",
    ),
    p("unverified_sender_defer_code", "450"),
    p("unverified_sender_reject_code", "450"),
    p("unverified_sender_reject_reason", ""),
    p(
        "unverified_sender_tempfail_action",
        "$reject_tempfail_action",
    ),
    // Where the best MX hosts must be for permit_mx_backup (smtpd/mx_backup.rs).
    p("permit_mx_backup_networks", ""),
    // SMTP server access policy (smtpd/restrict.rs, smtpd/access.rs, smtpd/policy_types.rs).
    p("reject_code", "554"),
    p("maps_rbl_reject_code", "554"),
    // The DNS lists of the obsolete reject_maps_rbl (smtpd/obsolete.rs).
    p("maps_rbl_domains", ""),
    p("unknown_client_reject_code", "450"),
    p("unknown_hostname_reject_code", "450"),
    p(
        "default_rbl_reply",
        "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}",
    ),
    p("rbl_reply_maps", ""),
    p("smtpd_restriction_classes", ""),
    t("smtpd_policy_service_timeout", "100s", 's'),
    t("smtpd_policy_service_max_idle", "300s", 's'),
    t("smtpd_policy_service_max_ttl", "1000s", 's'),
    p("defer_code", "450"),
    p("access_map_reject_code", "554"),
    p("access_map_defer_code", "450"),
    p("non_fqdn_reject_code", "504"),
    p("invalid_hostname_reject_code", "501"),
    p("unknown_address_reject_code", "450"),
    p("allow_untrusted_routing", "no"),
    p("allow_percent_hack", "yes"),
    p("swap_bangpath", "yes"),
    p(
        "parent_domain_matches_subdomains",
        "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps",
    ),
    p("smtpd_null_access_lookup_key", "<>"),
    p("queue_minfree", "0"),
    // Client rate and concurrency limits (smtpd/anvil.rs, Postfix's anvil(8)).
    p("smtpd_client_connection_count_limit", "50"),
    p("smtpd_client_connection_rate_limit", "0"),
    p("smtpd_client_message_rate_limit", "0"),
    p("smtpd_client_recipient_rate_limit", "0"),
    // Counted once the SMTP server has STARTTLS and AUTH; no effect until then.
    p("smtpd_client_new_tls_session_rate_limit", "0"),
    p("smtpd_client_auth_rate_limit", "0"),
    // The name before Postfix 2.9, known to 2.10's postconf; setting it empties the default
    // below (`${name:text}` is text only when name is empty), as in Postfix 2.10.
    p("smtpd_client_connection_limit_exceptions", ""),
    p(
        "smtpd_client_event_limit_exceptions",
        "${smtpd_client_connection_limit_exceptions:$mynetworks}",
    ),
    t("anvil_rate_time_unit", "60s", 's'),
    // Postern logs the statistics at stop only.
    k("anvil_status_update_time", "600s"),
    p("smtpd_sasl_auth_enable", "no"),
    p("smtpd_tls_security_level", ""),
    p("smtpd_use_tls", "no"),
    p("broken_sasl_auth_clients", "no"),
    // Cleanup.
    p("local_header_rewrite_clients", "permit_inet_interfaces"),
    p("hopcount_limit", "50"),
    p("header_size_limit", "102400"),
    p("always_add_missing_headers", "no"),
    // After-queue content filtering (issue 11): smtpd and pickup record the filter,
    // qmgr routes there; receive_override_options for the reinjection listener.
    p("content_filter", ""),
    p("default_filter_nexthop", ""),
    p("receive_override_options", ""),
    // Queue manager and scheduling.
    t("queue_run_delay", "300s", 's'),
    t("minimal_backoff_time", "300s", 's'),
    t("maximal_backoff_time", "4000s", 's'),
    t("maximal_queue_lifetime", "5d", 'd'),
    t("bounce_queue_lifetime", "5d", 'd'),
    t("delay_warning_time", "0h", 'h'),
    p("default_destination_concurrency_limit", "20"),
    p("local_destination_concurrency_limit", "2"),
    p("default_destination_recipient_limit", "50"),
    p("local_destination_recipient_limit", "1"),
    p("default_process_limit", "100"),
    p("qmgr_message_active_limit", "20000"),
    // Hashed queue directories and large queues (issue 13).
    p("hash_queue_depth", "1"),
    p("hash_queue_names", "deferred, defer"),
    p("qmgr_message_recipient_limit", "20000"),
    k("enable_long_queue_ids", "no"),
    p("default_transport", "smtp"),
    p("defer_transports", ""),
    p("relay_transport", "relay"),
    p("local_transport", "local:$myhostname"),
    p("transport_maps", ""),
    p("relayhost", ""),
    // Sender-dependent routing of off-host mail (rewrite/resolve.rs), and the key the null
    // sender is looked up with.
    p("sender_dependent_relayhost_maps", ""),
    p("sender_dependent_default_transport_maps", ""),
    p("empty_address_relayhost_maps_lookup_key", "<>"),
    p("empty_address_default_transport_maps_lookup_key", "<>"),
    k("smtp_fallback_relay", ""),
    k("smtp_generic_maps", ""),
    k("smtp_bind_address", ""),
    k("disable_dns_lookups", "no"),
    // SMTP client (smtp(8)).
    p("smtp_helo_name", "$myhostname"),
    p("smtp_tcp_port", "smtp"),
    t("smtp_connect_timeout", "30s", 's'),
    t("smtp_helo_timeout", "300s", 's'),
    t("smtp_starttls_timeout", "300s", 's'),
    t("smtp_mail_timeout", "300s", 's'),
    t("smtp_rcpt_timeout", "300s", 's'),
    t("smtp_data_init_timeout", "120s", 's'),
    t("smtp_data_xfer_timeout", "180s", 's'),
    t("smtp_data_done_timeout", "600s", 's'),
    t("smtp_quit_timeout", "300s", 's'),
    t("smtp_rset_timeout", "20s", 's'),
    p("smtp_line_length_limit", "998"),
    p("smtp_mx_address_limit", "5"),
    p("smtp_mx_session_limit", "2"),
    p("smtp_tls_security_level", ""),
    p("smtp_tls_CAfile", ""),
    p("smtp_tls_CApath", ""),
    p("smtp_tls_verify_cert_match", "hostname"),
    p("smtp_tls_secure_cert_match", "nexthop, dot-nexthop"),
    p("smtp_tls_protocols", "!SSLv2"),
    p("smtp_tls_mandatory_protocols", "!SSLv2"),
    p("smtp_tls_policy_maps", ""),
    // Client TLS through OpenSSL (issue 10, tlsclient): the trusted roots and chain depth.
    p("tls_append_default_CA", "no"),
    p("smtp_tls_scert_verifydepth", "9"),
    k("smtp_tls_session_cache_database", ""),
    p("smtp_tls_loglevel", "0"),
    k("smtp_tls_ciphers", "medium"),
    k("smtp_tls_mandatory_ciphers", "medium"),
    k("smtp_tls_note_starttls_offer", "no"),
    k("smtp_host_lookup", "dns"),
    p("smtp_sasl_auth_enable", "no"),
    p("smtp_sasl_password_maps", ""),
    p("smtp_sasl_security_options", "noplaintext, noanonymous"),
    p(
        "smtp_sasl_tls_security_options",
        "$smtp_sasl_security_options",
    ),
    p("smtp_sasl_mechanism_filter", ""),
    p("smtp_sasl_auth_soft_bounce", "yes"),
    p("smtp_sender_dependent_authentication", "no"),
    // LMTP client (lmtp(8)); TLS and SASL not implemented: mail defers when they are asked for.
    p("lmtp_lhlo_name", "$myhostname"),
    p("lmtp_tcp_port", "24"),
    t("lmtp_connect_timeout", "0s", 's'),
    t("lmtp_lhlo_timeout", "300s", 's'),
    t("lmtp_mail_timeout", "300s", 's'),
    t("lmtp_rcpt_timeout", "300s", 's'),
    t("lmtp_data_init_timeout", "120s", 's'),
    t("lmtp_data_xfer_timeout", "180s", 's'),
    t("lmtp_data_done_timeout", "600s", 's'),
    t("lmtp_quit_timeout", "300s", 's'),
    p("lmtp_line_length_limit", "990"),
    // Acted on by deferring: a TLS level above none or SASL defers the mail with 4.7.5
    // rather than deliver without them (delivery/lmtp).
    p("lmtp_tls_security_level", ""),
    p("lmtp_sasl_auth_enable", "no"),
    // Local delivery.
    p("alias_maps", "hash:/etc/aliases"),
    p("alias_database", "hash:/etc/aliases"),
    p("mail_spool_directory", "/var/mail"),
    p("home_mailbox", ""),
    p("mailbox_size_limit", "51200000"),
    p("mailbox_delivery_lock", "fcntl, dotlock"),
    p("virtual_mailbox_limit", "51200000"),
    p("virtual_mailbox_lock", "fcntl, dotlock"),
    p("allow_mail_to_commands", "alias, forward"),
    p("allow_mail_to_files", "alias, forward"),
    t("command_time_limit", "1000s", 's'),
    p("deliver_lock_attempts", "20"),
    t("deliver_lock_delay", "1s", 's'),
    t("stale_lock_time", "500s", 's'),
    p("default_database_type", "hash"),
    // Berkeley DB memory pools of hash/btree tables (tables::hash, tables::hash_write).
    p("berkeley_db_create_buffer_size", "16777216"),
    p("berkeley_db_read_buffer_size", "131072"),
    p("mailbox_command", ""),
    p("mailbox_command_maps", ""),
    p(
        "command_expansion_filter",
        "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ),
    p("export_environment", "TZ MAIL_CONFIG LANG"),
    p("local_command_shell", ""),
    p("command_execution_directory", ""),
    p(
        "execution_directory_expansion_filter",
        "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ),
    p("mailbox_transport", ""),
    p("mailbox_transport_maps", ""),
    p("fallback_transport", ""),
    p("fallback_transport_maps", ""),
    p("luser_relay", ""),
    p(
        "forward_path",
        "$home/.forward${recipient_delimiter}${extension}, $home/.forward",
    ),
    p(
        "forward_expansion_filter",
        "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ),
    // Virtual domains (address classes, smtpd's recipient test, cleanup's expansion).
    p("virtual_alias_domains", "$virtual_alias_maps"),
    p("virtual_alias_maps", "$virtual_maps"),
    // Postfix 1.x's name: read through the default of virtual_alias_maps.
    p("virtual_maps", ""),
    p("virtual_mailbox_domains", "$virtual_mailbox_maps"),
    p("virtual_transport", "virtual"),
    p("unknown_virtual_alias_reject_code", "550"),
    p("unknown_virtual_mailbox_reject_code", "550"),
    p("virtual_alias_expansion_limit", "1000"),
    p("virtual_alias_recursion_limit", "1000"),
    p("propagate_unmatched_extensions", "canonical, virtual"),
    p("show_user_unknown_table_name", "yes"),
    p("helpful_warnings", "yes"),
    p("smtpd_reject_unlisted_recipient", "yes"),
    // Bounces.
    k("bounce_notice_recipient", "postmaster"),
    k("notify_classes", "resource, software"),
    p("double_bounce_sender", "double-bounce"),
    p("bounce_size_limit", "50000"),
    // Accepted for compatibility with stock main.cf files; no effect yet.
    k("debug_peer_level", "2"),
    k("debug_peer_list", ""),
    // Used only by a master.cf service with -D, which Postern does not have.
    n("debugger_command", ""),
    // Postern never notifies comsat(8).
    k_as("biff", "yes", "no"),
    p("virtual_mailbox_maps", ""),
    p("virtual_mailbox_base", ""),
    p("virtual_uid_maps", ""),
    p("virtual_gid_maps", ""),
    p("virtual_minimum_uid", "100"),
    // Content inspection (cleanup/checks, cleanup/mime).
    p("header_checks", ""),
    p("mime_header_checks", "$header_checks"),
    p("nested_header_checks", "$header_checks"),
    p("body_checks", ""),
    p("body_checks_size_limit", "51200"),
    p("mime_nesting_limit", "100"),
    p("mime_boundary_length_limit", "2048"),
    p("disable_mime_input_processing", "no"),
    // Canonical mapping and masquerading (cleanup/canonical.rs, cleanup/masquerade.rs).
    p("canonical_maps", ""),
    p("sender_canonical_maps", ""),
    p("recipient_canonical_maps", ""),
    p(
        "canonical_classes",
        "envelope_sender, envelope_recipient, header_sender, header_recipient",
    ),
    p("sender_canonical_classes", "envelope_sender, header_sender"),
    p(
        "recipient_canonical_classes",
        "envelope_recipient, header_recipient",
    ),
    // Automatic BCC (cleanup/bcc.rs).
    p("always_bcc", ""),
    p("sender_bcc_maps", ""),
    p("recipient_bcc_maps", ""),
    p("masquerade_domains", ""),
    p("masquerade_exceptions", ""),
    p(
        "masquerade_classes",
        "envelope_sender, header_sender, header_recipient",
    ),
    // relocated(5): smtpd's recipient test and the resolver (rewrite/resolve.rs).
    p("relocated_maps", ""),
    // Postern's defaults are Postfix 2.10's (level 0) whatever this says: warned about.
    p("compatibility_level", "0"),
    p("smtpd_tls_cert_file", ""),
    p("smtpd_tls_key_file", "$smtpd_tls_cert_file"),
    p("smtpd_sasl_type", "cyrus"),
    p("smtpd_sasl_path", "smtpd"),
    p("smtpd_sasl_security_options", "noanonymous"),
    p("smtpd_sasl_local_domain", ""),
    p("smtpd_tls_auth_only", "no"),
    p("smtpd_tls_wrappermode", "no"),
    // smtpd TLS (smtpd/tls): the legacy switch, logging, the Received: comment, the
    // protocol range, client certificates (trusted roots: CAfile and the hashed CApath;
    // fingerprints for permit_tls_clientcerts, relay_clientcerts and check_ccert_access).
    p("smtpd_enforce_tls", "no"),
    p("smtpd_tls_loglevel", "0"),
    p("smtpd_tls_received_header", "no"),
    p("smtpd_tls_protocols", ">=TLSv1"),
    p("smtpd_tls_mandatory_protocols", ">=TLSv1"),
    p("smtpd_tls_CAfile", ""),
    p("smtpd_tls_CApath", ""),
    p("smtpd_tls_ask_ccert", "no"),
    p("smtpd_tls_req_ccert", "no"),
    p("smtpd_tls_ccert_verifydepth", "9"),
    p("smtpd_tls_fingerprint_digest", "md5"),
    p("relay_clientcerts", ""),
    k("smtpd_tls_session_cache_database", ""),
    // The TLS library's own cipher choice and random source are used.
    k("smtpd_tls_ciphers", "medium"),
    k("smtpd_tls_mandatory_ciphers", "medium"),
    k("smtpd_tls_exclude_ciphers", ""),
    k("smtpd_tls_mandatory_exclude_ciphers", ""),
    k("smtpd_tls_dh1024_param_file", ""),
    k("smtpd_tls_session_cache_timeout", "3600s"),
    k("tls_preempt_cipherlist", "no"),
    k("tls_random_source", "dev:/dev/urandom"),
    // Secret files (preloaded as root, `secrets`); the TLS and SASL work reads them.
    k("smtpd_tls_dcert_file", ""),
    k("smtpd_tls_dkey_file", ""),
    k("smtpd_tls_eccert_file", ""),
    k("smtpd_tls_eckey_file", ""),
    p("smtpd_tls_chain_files", ""),
    k("smtp_tls_cert_file", ""),
    k("smtp_tls_key_file", ""),
    k("smtp_tls_chain_files", ""),
    p("cyrus_sasl_config_path", ""),
    p("alternate_config_directories", ""),
    p("multi_instance_directories", ""),
    // SASL authentication in smtpd (crate::sasl, smtpd::session::auth).
    p("smtpd_sasl_service", "smtp"),
    p(
        "smtpd_sasl_tls_security_options",
        "$smtpd_sasl_security_options",
    ),
    p("smtpd_sasl_authenticated_header", "no"),
    p("smtpd_sasl_exceptions_networks", ""),
    p("smtpd_sasl_response_limit", "12288"),
    p("smtpd_sender_login_maps", ""),
    k("multi_instance_name", ""),
    k("multi_instance_enable", "no"),
];

/// Look a parameter up by name.
pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    /// Names the source reads with `.get("x")` and the like that are not parameters (a test
    /// of the "unused parameter" warning).
    const NOT_PARAMETERS: &[&str] = &["bogus_thing"];

    /// Sources whose `.get("x")` reads the settings of another file (a mysql_table(5) .cf
    /// file, a my.cnf option file), not main.cf.
    const OTHER_FILES: &[&str] = &["tables/mysql/"];

    /// The names read as `.get("x")`, `.has("x")`, `.int("x")`, `.bool("x")`, `.time("x")`
    /// or `.list("x")` in one source text.
    pub(in crate::config) fn names_read(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for call in [
            ".get(\"", ".has(\"", ".int(\"", ".bool(\"", ".time(\"", ".list(\"",
        ] {
            for (at, _) in text.match_indices(call) {
                let rest = &text[at + call.len()..];
                let Some(end) = rest.find("\")") else {
                    continue;
                };
                let name = &rest[..end];
                let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
                if !name.is_empty() && name.bytes().all(ok) {
                    out.push(name.to_string());
                }
            }
        }
        out
    }

    pub(in crate::config) fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_parameter_read_in_the_source_is_in_the_table() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut missing = Vec::new();
        // This file holds the table and the scan's own examples, not parameter reads.
        let other = |f: &std::path::Path| {
            let f = f.to_string_lossy();
            OTHER_FILES.iter().any(|d| f.contains(d))
        };
        for f in files
            .iter()
            .filter(|f| !f.ends_with("config/params.rs") && !other(f))
        {
            let text = std::fs::read_to_string(f).unwrap();
            for name in names_read(&text) {
                if find(&name).is_none() && !NOT_PARAMETERS.contains(&name.as_str()) {
                    missing.push(format!("{}: {}", f.display(), name));
                }
            }
        }
        assert!(files.len() > 50, "the scan found the sources");
        assert!(missing.is_empty(), "not in the table: {:#?}", missing);
    }

    #[test]
    fn the_scan_sees_every_accessor() {
        let text = r#"cfg.get("a") c.int("b_2") x.bool("c") y.time("d") z.list("e") w.has("f")
            m.get("Not_A_Name") m.get(&k)"#;
        assert_eq!(names_read(text), ["a", "f", "b_2", "c", "d", "e"]);
    }

    #[test]
    fn postfix_defaults() {
        assert_eq!(find("message_size_limit").unwrap().default, "10240000");
        assert_eq!(find("maximal_queue_lifetime").unwrap().time_unit, 'd');
        assert!(find("no_such_parameter").is_none());
        assert_eq!(find("proxy_interfaces").unwrap().default, "");
        assert_eq!(
            find("maillog_file_prefixes").unwrap().default,
            "/var, /dev/stdout"
        );
    }
}
