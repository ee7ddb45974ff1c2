//! Applying the rule for parameters Postern knows but does not implement
//! (`crate::config::support`) for `postfix check`, `postfix start`, the master at start
//! and at reload: each main.cf setting that is ignored gets
//! `warning: /etc/postfix/main.cf: NAME is not supported by Postern; ignored`, and each one
//! that may not be ignored (in main.cf, or a master.cf `-o` of a service Postern runs) one
//! `fatal:` line; the callers then refuse to start (or to reload). Warnings about `-o`
//! overrides that Postern ignores are logged with the services (`super::load_services`).

use crate::config::Config;
use crate::config::master_cf::Service;
use crate::config::support::{self, Finding};
use crate::log;

/// Log the warnings; return the fatal messages (empty: Postern may run this configuration).
pub fn check(cfg: &Config, services: &[Service], component: &str) -> Vec<String> {
    let main_cf = cfg.dir().join("main.cf").display().to_string();
    let master_cf = cfg.dir().join("master.cf").display().to_string();
    let mut fatal = Vec::new();
    for f in support::main_cf(cfg) {
        match f {
            Finding::Warn { .. } => log::warning(component, format!("{}: {}", main_cf, f)),
            Finding::Fatal { .. } => fatal.push(format!("{}: {}", main_cf, f)),
        }
    }
    for name in crate::queue::Hashing::unsupported_names(&cfg.list("hash_queue_names")) {
        log::warning(
            component,
            format!(
                "{}: hash_queue_names: {} is not hashed by Postern; it stays flat",
                main_cf, name
            ),
        );
    }
    for name in crate::smtputf8::unknown_classes(cfg) {
        log::warning(
            component,
            format!(
                "{}: smtputf8_autodetect_classes: unknown class \"{}\"; ignored",
                main_cf, name
            ),
        );
    }
    let depth = cfg.get("hash_queue_depth").trim();
    if depth
        .parse::<i64>()
        .map_or(true, |d| !(1..=16).contains(&d))
    {
        log::warning(
            component,
            format!(
                "{}: hash_queue_depth = {}: not a number from 1 to 16; using {}",
                main_cf,
                depth,
                cfg.int("hash_queue_depth").clamp(1, 16)
            ),
        );
    }
    for s in services {
        if s.unsupported_reason().is_some() || !(s.is_smtpd_listener() || s.is_delivery_agent()) {
            continue;
        }
        for f in support::overrides(cfg, &s.overrides) {
            if f.is_fatal() {
                fatal.push(format!(
                    "{}: line {}: service {}: -o {}",
                    master_cf, s.line, s.name, f
                ));
            }
        }
    }
    fatal
}

/// As `check`, logging each fatal message too; `true` when Postern may run.
pub fn allowed(cfg: &Config, services: &[Service], component: &str) -> bool {
    let fatal = check(cfg, services, component);
    for f in &fatal {
        log::fatal(component, f);
    }
    fatal.is_empty()
}
