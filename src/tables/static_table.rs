//! `static:value`: every lookup finds `value` (Postfix's dict_static).

use super::{Table, TableError};

pub struct StaticTable {
    spec: String,
    value: String,
}

impl StaticTable {
    pub fn new(value: &str) -> StaticTable {
        let v = value
            .strip_prefix('{')
            .and_then(|v| v.strip_suffix('}'))
            .unwrap_or(value);
        StaticTable {
            spec: format!("static:{}", value),
            value: v.trim().to_string(),
        }
    }
}

impl Table for StaticTable {
    fn lookup(&self, _key: &str) -> Result<Option<String>, TableError> {
        Ok(Some(self.value.clone()))
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}
