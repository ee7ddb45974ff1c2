//! Lookup tables behind one trait (Postfix's dict(3) layer): `type:name` specs such as
//! `hash:/etc/aliases`, `unix:passwd.byname`, `proxy:unix:passwd.byname`, `static:value`.
//!
//! A lookup has three outcomes: found, not found, or an error. An error is never "not
//! found": callers turn it into a 4xx reply or a deferral. Follows Postfix's DATABASE_README
//! and postmap(1). Logs nothing itself; `TableError`'s Display is Postfix's warning text.

use std::fmt;

/// Why a table could not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum TableError {
    /// The table cannot be used at all: `hash:/etc/aliases is unavailable. open database
    /// /etc/aliases.db: No such file or directory`.
    Unavailable { table: String, reason: String },
    /// An unsupported `type:` in a spec.
    UnsupportedType { spec: String },
    /// Any other failure while looking up.
    Failed { table: String, reason: String },
}

impl TableError {
    /// The `type:name` of the table concerned.
    pub fn table(&self) -> &str {
        match self {
            TableError::Unavailable { table, .. } | TableError::Failed { table, .. } => table,
            TableError::UnsupportedType { spec } => spec,
        }
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Unavailable { table, reason } => write!(f, "{} is unavailable. {}", table, reason),
            TableError::UnsupportedType { spec } => write!(f, "unsupported dictionary type: {}", spec),
            TableError::Failed { table, reason } => write!(f, "{}: {}", table, reason),
        }
    }
}

impl std::error::Error for TableError {}

/// One lookup table.
pub trait Table: Send + Sync {
    /// Look `key` up. `Ok(None)` is "not found".
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError>;
    /// The `type:name` this table was opened as (for log lines).
    fn spec(&self) -> &str;
}

/// Open a table from its `type:name` spec.
pub fn open(spec: &str) -> Result<Box<dyn Table>, TableError> {
    let _ = spec;
    todo!("tables::open")
}

/// Several tables searched in order (a list parameter such as local_recipient_maps).
pub struct TableList {
    pub tables: Vec<Box<dyn Table>>,
}

impl TableList {
    /// Open every spec in a list parameter value (commas and white space separate).
    pub fn open_list(value: &str) -> Result<TableList, TableError> {
        let _ = value;
        todo!("TableList::open_list")
    }

    /// First table that finds `key` wins; an error in a table searched before any match is
    /// returned as the result.
    pub fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        let _ = key;
        todo!("TableList::lookup")
    }
}
