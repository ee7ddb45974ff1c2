//! `unix:passwd.byname`: the system password file through getpwnam(3) (Postfix's
//! dict_unix). The value is the passwd line's fields joined by `:` as Postfix returns them.

use super::{Table, TableError};

pub struct PasswdTable;

impl Table for PasswdTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        match crate::sys::user_by_name(key) {
            Ok(Some(u)) => Ok(Some(format!(
                "{}:*:{}:{}::{}:{}",
                u.name, u.uid, u.gid, u.home, u.shell
            ))),
            Ok(None) => Ok(None),
            Err(e) => Err(TableError::Failed {
                table: self.spec().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    fn spec(&self) -> &str {
        "unix:passwd.byname"
    }
}
