//! `owner-` aliases for local(8) (owner_request_special, expand_owner_alias), as Postfix's
//! deliver_alias and deliver_switch: when an alias NAME is expanded and $alias_maps also
//! has `owner-NAME`, the list has an owner: `owner-NAME@$myorigin` (with
//! expand_owner_alias = yes, the value of the owner alias instead). Every user the list
//! reaches (after any further alias expansion) and every remote address in it then gets
//! the message as a new message through cleanup whose envelope sender is the owner, so
//! bounces for list members go to the list owner, not to the original sender. Nested lists
//! without an owner keep the outer one. With owner_request_special = no there are no owners.
//!
//! Security role: only changes the envelope sender of forwarded copies; nothing is
//! written here. A table error while looking up the owner defers the recipient (4.3.0
//! `alias database unavailable`). Logs nothing.

use super::forward::Forward;
use super::{Local, Rcpt};
use crate::tables::TableError;

/// The owner of a list being expanded.
#[derive(Clone)]
pub(super) struct ListOwner {
    /// The envelope sender of the copies.
    pub sender: String,
    /// The list's address (the copies' `Delivered-To:`).
    pub list: String,
}

impl Local {
    /// The owner address of the alias `name`, when `owner-NAME` exists.
    pub(super) fn list_owner(&self, name: &str) -> Result<Option<String>, TableError> {
        if !self.cfg.bool("owner_request_special") {
            return Ok(None);
        }
        let key = format!("owner-{}", name);
        let Some((value, _)) = self.lookup_alias(&key)? else {
            return Ok(None);
        };
        let owner = if self.cfg.bool("expand_owner_alias") {
            value.trim().to_string()
        } else {
            key
        };
        if owner.is_empty() {
            return Ok(None);
        }
        Ok(Some(if owner.contains('@') {
            owner
        } else {
            format!("{}@{}", owner, self.cfg.get("myorigin"))
        }))
    }

    /// A user reached through a list with an owner: forwarded as a new message from the
    /// owner (true), instead of delivered in place.
    pub(super) fn owner_indirect(&self, r: &mut Rcpt<'_>, addr: &str) -> bool {
        let Some(owner) = r.owner.clone() else {
            return false;
        };
        if r.first_time(format!("forward {}", addr.to_lowercase())) {
            r.forwards.push(Forward {
                delivered_to: owner.list,
                target: addr.to_string(),
                sender: Some(owner.sender),
            });
        }
        true
    }
}
