//! The delivery agents by transport name, and the privileged local-delivery helper that
//! must be started while the master still runs as root.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::delivery::Agent;

/// The privileged helper, when running as root. (Filled in when the local agent lands.)
pub type Helper = Option<Arc<()>>;

/// Start the privileged helper (root only).
pub fn start_helper(cfg: &Config) -> Result<Helper, String> {
    let _ = cfg;
    Ok(None)
}

/// Build the agents this build provides. (Filled in when the local agent lands.)
pub fn build(cfg: &Arc<Config>, helper: Helper) -> HashMap<String, Arc<dyn Agent>> {
    let _ = (cfg, helper);
    HashMap::new()
}
