//! `fail:name` (Postfix's dict_fail): every lookup fails with an error, never "not found".
//! Used to test how callers handle a broken table (4xx replies, deferrals). Logs nothing.

use super::{Table, TableError};

pub struct FailTable {
    spec: String,
}

impl FailTable {
    pub fn new(name: &str) -> FailTable {
        FailTable {
            spec: format!("fail:{}", name),
        }
    }
}

impl Table for FailTable {
    fn lookup(&self, _key: &str) -> Result<Option<String>, TableError> {
        Err(TableError::Failed {
            table: self.spec.clone(),
            reason: "table lookup failed (fail: table)".into(),
        })
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_an_error() {
        let t = FailTable::new("test");
        let e = t.lookup("anything").unwrap_err();
        assert!(matches!(e, TableError::Failed { .. }));
        assert_eq!(e.table(), "fail:test");
        assert_eq!(
            e.to_string(),
            "fail:test: table lookup failed (fail: table)"
        );
    }
}
