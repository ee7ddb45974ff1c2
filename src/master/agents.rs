//! The delivery agents by transport name, and the privileged local-delivery helper that
//! must be started while the master still runs as root.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::delivery::Agent;
use crate::delivery::error::{Fixed, Kind};
use crate::delivery::local::Local;
use crate::delivery::privileged::{HelperHandle, helper_program};
use crate::delivery::smtp::Smtp;
use std::time::Duration;

/// The privileged helper, when running as root.
pub type Helper = Option<Arc<HelperHandle>>;

/// Start the privileged helper (root only; an ordinary user delivers in-process).
pub fn start_helper(cfg: &Config) -> Result<Helper, String> {
    if !crate::sys::is_root() {
        return Ok(None);
    }
    let program = helper_program(cfg);
    HelperHandle::spawn(&program, cfg.dir())
        .map(|h| Some(Arc::new(h)))
        .map_err(|e| format!("start local delivery helper {}: {}", program.display(), e))
}

/// The resolver from /etc/resolv.conf (re-read at start and on reload); `None`, logged,
/// when it cannot be read, and DNS-based checks then answer "try again later".
pub fn system_resolver() -> Option<Arc<dyn crate::dns::Resolve>> {
    // Test hook (only with the `test-hooks` feature, never in a release build):
    // POSTERN_DNS_SERVER=ip:port points every lookup at one server (a fake DNS server on a
    // loopback port, which resolv.conf cannot express).
    #[cfg(feature = "test-hooks")]
    if let Ok(server) = std::env::var("POSTERN_DNS_SERVER")
        && let Ok(addr) = server.parse()
    {
        return Some(Arc::new(crate::dns::SystemResolver::with_servers(
            vec![addr],
            Duration::from_secs(2),
            2,
        )));
    }
    match crate::dns::SystemResolver::system() {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            crate::log::warning("master", format!("/etc/resolv.conf: {}", e));
            None
        }
    }
}

/// Build the agents this build provides.
pub fn build(cfg: &Arc<Config>, helper: Helper) -> HashMap<String, Arc<dyn Agent>> {
    let mut agents: HashMap<String, Arc<dyn Agent>> = HashMap::new();
    agents.insert(
        "local".to_string(),
        Arc::new(Local::new(cfg.clone(), helper)),
    );
    let resolver: Arc<dyn crate::dns::Resolve> = match system_resolver() {
        Some(r) => r,
        // No usable resolver: every lookup is a temporary failure, so mail waits.
        None => Arc::new(crate::dns::SystemResolver::with_servers(
            Vec::new(),
            Duration::from_secs(1),
            1,
        )),
    };
    for name in ["smtp", "relay"] {
        let port = super::listen::port_of(cfg.get("smtp_tcp_port"))
            .unwrap_or(crate::delivery::smtp::DEFAULT_PORT);
        let agent = Smtp::new(name, cfg.clone(), resolver.clone()).with_port(port);
        agents.insert(name.to_string(), Arc::new(agent));
    }
    for (name, kind) in [
        ("error", Kind::Error),
        ("retry", Kind::Retry),
        ("discard", Kind::Discard),
    ] {
        agents.insert(name.to_string(), Arc::new(Fixed::new(kind, name)));
    }
    agents
}
