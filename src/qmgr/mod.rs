//! qmgr: the scheduler (Postfix's qmgr(8)).

/// Messages to the scheduler thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Wake {
    /// A new message was committed to incoming/ with this queue ID.
    New(String),
    /// Scan incoming/ and deferred/ now, ignoring retry times (postqueue -f, ETRN).
    Flush,
}
