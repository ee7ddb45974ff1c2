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

/// `unix:group.byname`: the group database through getgrnam(3); the value is
/// `name:*:gid:` (Postern's sys layer does not report the member list).
pub struct GroupTable;

impl Table for GroupTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        match crate::sys::group_by_name(key) {
            Ok(Some(gid)) => Ok(Some(format!("{}:*:{}:", key, gid))),
            Ok(None) => Ok(None),
            Err(e) => Err(TableError::Failed {
                table: self.spec().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    fn spec(&self) -> &str {
        "unix:group.byname"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group() {
        let p = PasswdTable.lookup("root").unwrap().unwrap();
        assert!(p.starts_with("root:*:0:0::"), "{}", p);
        assert_eq!(PasswdTable.lookup("no-such-user-postern").unwrap(), None);
        assert_eq!(
            GroupTable.lookup("root").unwrap().as_deref(),
            Some("root:*:0:")
        );
        assert_eq!(GroupTable.lookup("no-such-group-postern").unwrap(), None);
    }
}
