//! Secret files for the process-wide store (`crate::secrets`): read by the root master at
//! start, before privileges are dropped, and on reload (unprivileged by then) by the root
//! local-delivery helper; without a helper (Postern not started as root) reload reads them
//! directly, as start did. If the helper cannot answer, the old store stays. The request
//! takes a helper of the delivery pool: when all are busy the reload waits for one (a
//! delivery, or a command up to $command_time_limit), then rebuilds the smtpd contexts.
//!
//! Security role: the bridge through which root-only secrets reach the unprivileged master;
//! their contents are never logged. Logs `secret file PATH: N bytes` for each file loaded,
//! `warning: cannot read secret file PATH: REASON` (not fatal: the file's user reports the
//! error at use), and `warning: reload: cannot read secret files through the helper, keeping
//! the previous ones: REASON`.

use crate::config::Config;
use crate::config::master_cf::Service;
use crate::log;
use crate::secrets::{self, Store};

use super::COMPONENT;
use super::agents::Helper;

/// At start (as root when Postern runs as root): read the secret files and install them.
pub fn at_start(cfg: &Config, services: &[Service]) {
    let store = Store::read(&secrets::secret_files(cfg, services));
    report(&store);
    secrets::install(store);
}

/// On reload: have the root helper read the secret files again, or read them directly when
/// there is no helper; install them unless the helper failed.
pub fn on_reload(helper: &Helper, cfg: &Config, services: &[Service]) {
    let store = match helper {
        Some(h) => match h.read_secrets() {
            Ok(store) => store,
            Err(e) => {
                log::warning(
                    COMPONENT,
                    format!(
                        "reload: cannot read secret files through the helper, keeping the previous ones: {}",
                        e
                    ),
                );
                return;
            }
        },
        None => Store::read(&secrets::secret_files(cfg, services)),
    };
    report(&store);
    secrets::install(store);
}

fn report(store: &Store) {
    for (path, outcome) in store.iter() {
        match outcome {
            Ok(bytes) => log::info(
                COMPONENT,
                format!("secret file {}: {} bytes", path.display(), bytes.len()),
            ),
            Err(e) => log::warning(
                COMPONENT,
                format!("cannot read secret file {}: {}", path.display(), e),
            ),
        }
    }
}
