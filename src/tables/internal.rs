//! `internal:name` (Postfix's dict_ht): an in-memory table, empty when opened. Entries can be
//! added by the code that owns it (`insert`); nothing reads or writes a file. Logs nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Table, TableError};

pub struct InternalTable {
    spec: String,
    map: Mutex<HashMap<String, String>>,
}

impl InternalTable {
    pub fn new(name: &str) -> InternalTable {
        InternalTable {
            spec: format!("internal:{}", name),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Add or replace an entry (keys fold to lower case).
    pub fn insert(&self, key: &str, value: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_lowercase(), value.to_string());
    }
}

impl Table for InternalTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        Ok(self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key.to_lowercase())
            .cloned())
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_empty_and_holds_inserts() {
        let t = InternalTable::new("x");
        assert_eq!(t.lookup("a").unwrap(), None);
        t.insert("A", "1");
        assert_eq!(t.lookup("a").unwrap().as_deref(), Some("1"));
    }
}
