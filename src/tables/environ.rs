//! `environ:name` (Postfix's dict_env): looks the key up as a variable in this process's
//! environment; the table name is ignored. Read-only. Logs nothing.

use super::{Table, TableError};

pub struct EnvironTable {
    spec: String,
}

impl EnvironTable {
    pub fn new(name: &str) -> EnvironTable {
        EnvironTable {
            spec: format!("environ:{}", name),
        }
    }
}

impl Table for EnvironTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Ok(None);
        }
        Ok(std::env::var_os(key).map(|v| v.to_string_lossy().into_owned()))
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_environment() {
        let t = EnvironTable::new("x");
        let path = std::env::var("PATH").unwrap();
        assert_eq!(t.lookup("PATH").unwrap(), Some(path));
        assert_eq!(t.lookup("POSTERN_SURELY_UNSET_VARIABLE").unwrap(), None);
        assert_eq!(t.lookup("A=B").unwrap(), None);
        assert_eq!(t.spec(), "environ:x");
    }
}
